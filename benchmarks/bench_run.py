"""Benchmark: whole runs of each scenario beside raw simpy timeouts, in the same process.

For each scenario (the reference scenario when it exists, then the labs), in a fresh child
process: wall time of each phase (load, build, simulate, evaluate, summary, timeline.csv and
metrics.parquet; the one-off imports of the package, pandas and pyarrow are counted apart),
simpy events scheduled, events per wall second over the simulate phase and over the whole run,
and the ratio of the whole run's events/s to raw simpy's measured in that child (processes
yielding exponential timeouts, nothing else). Peak memory is the child's max RSS.
Targets (2 cores): the reference scenario <= 20 s (moonshot 5 s), whole-run ratio >= 0.5.

    .venv/bin/python benchmarks/bench_run.py                      # every scenario
    .venv/bin/python benchmarks/bench_run.py scenarios/labs/dns-race.yaml --repeat 3
    .venv/bin/python benchmarks/bench_run.py --profile scenarios/labs/server-patterns.yaml
    .venv/bin/python benchmarks/bench_run.py --fleet              # 10^4, 10^5, 10^6 droplets

`--fleet` runs the fleet-scaling series (time and peak memory per size, each in its own
process) on the reference scenario, or on the scenario given, setting `--fleet-key` (default
`ec2.fleet.droplets`); it says so and skips when there is no such scenario or key yet.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "aws-us-east-1-2025-10-20.yaml"
FLEET_SIZES = (10_000, 100_000, 1_000_000)


def events_scheduled(env: simpy.Environment) -> int:
    """Events scheduled so far (simpy numbers every scheduled event; no public count)."""
    return next(env._eid) - 1


def raw_simpy_rate(n_events: int = 300_000) -> tuple[float, float]:
    """Events per wall second and per CPU second of 16 processes that only yield exponential
    timeouts."""
    env = simpy.Environment()
    rng = random.Random(1)

    def loop():
        timeout, draw = env.timeout, rng.expovariate
        while True:
            yield timeout(draw(1.0))

    for _ in range(16):
        env.process(loop())
    t, cpu = time.perf_counter(), time.process_time()
    env.run(n_events / 16)
    n = events_scheduled(env)
    return n / (time.perf_counter() - t), n / (time.process_time() - cpu)


def one(path: Path, overrides: list[str], seed: int | None, profile: bool) -> dict:
    """Run `path` once in this process, phase by phase; figures as a dict."""
    t = time.perf_counter()
    import pandas  # noqa: F401 - imports are paid once per process, not per run
    import pyarrow.parquet  # noqa: F401

    from simulation.core.gc_policy import run_gc_policy
    from simulation.outputs import build_summary, metrics_parquet, timeline_csv
    from simulation.runner import evaluate, prepare
    from simulation.scenario.load import load_scenario
    from simulation.scenario.model import scenario_model

    scenario_model()
    imports = time.perf_counter() - t
    raw, raw_cpu = raw_simpy_rate()
    phases: dict[str, float] = {}
    cpu0 = time.process_time()
    t = time.perf_counter()
    loaded = load_scenario(path, overrides)
    phases["load"] = time.perf_counter() - t
    t = time.perf_counter()
    prep = prepare(loaded, seed)
    phases["build"] = time.perf_counter() - t
    end = loaded.model.duration
    prof = cProfile.Profile() if profile else None
    t = time.perf_counter()
    if prof:
        prof.enable()
    with run_gc_policy():  # as runner.simulate does
        prep.env.run(until=end)
    if prof:
        prof.disable()
    phases["simulate"] = time.perf_counter() - t
    events = events_scheduled(prep.env)
    t = time.perf_counter()
    result = evaluate(prep, end)
    phases["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    summary = build_summary(result)
    phases["summary"] = time.perf_counter() - t
    t = time.perf_counter()
    timeline = timeline_csv(result)
    phases["timeline"] = time.perf_counter() - t
    t = time.perf_counter()
    metrics = metrics_parquet(result)
    phases["metrics"] = time.perf_counter() - t
    cpu = time.process_time() - cpu0
    whole = sum(phases.values())
    out = {
        "scenario": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "overrides": overrides,
        "status": summary["status"],
        "events": events,
        "phases_s": {k: round(v, 4) for k, v in phases.items()},
        "whole_s": round(whole, 4),
        "imports_s": round(imports, 3),
        "cpu_s": round(cpu, 4),
        "events_per_s_simulate": round(events / phases["simulate"]),
        "events_per_s_whole": round(events / whole),
        "raw_simpy_events_per_s": round(raw),
        "ratio_whole": round(events / whole / raw, 3),
        "ratio_simulate": round(events / phases["simulate"] / raw, 3),
        "raw_simpy_events_per_cpu_s": round(raw_cpu),
        "ratio_whole_cpu": round(events / cpu / raw_cpu, 3),
        "timeline_rows": timeline.count("\n") - 1,
        "metrics_bytes": len(metrics),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        out["profile"] = buf.getvalue()
    return out


def child(path: Path, overrides: list[str], seed: int | None, profile: bool) -> dict:
    """`one()` in a fresh interpreter, so each peak RSS is that run's alone."""
    cmd = [sys.executable, __file__, "--child", str(path), "--json"]
    cmd += [a for o in overrides for a in ("--set", o)]
    cmd += ["--seed", str(seed)] if seed is not None else []
    cmd += ["--profile"] if profile else []
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"scenario": str(path), "overrides": overrides, "error": proc.stderr.strip()[-600:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}, simpy {simpy.__version__}, load average {load:.2f}"
    )


def print_row(r: dict) -> None:
    if "error" in r:
        print(f"{r['scenario']:<48} FAILED: {r['error'].splitlines()[-1]}")
        return
    p = r["phases_s"]
    print(
        f"{r['scenario']:<48} {r['whole_s']:>7.2f} {r['cpu_s']:>7.2f} {p['build']:>6.2f} "
        f"{p['simulate']:>7.2f} "
        f"{p['evaluate'] + p['summary']:>6.2f} {p['timeline'] + p['metrics']:>6.2f} "
        f"{r['events']:>9,} {r['events_per_s_whole']:>9,} {r['ratio_whole']:>6.3f} "
        f"{r['ratio_simulate']:>6.3f} {r['ratio_whole_cpu']:>6.3f} {r['peak_rss_mib']:>7.0f} "
        f"{r['metrics_bytes'] / 2**20:>6.1f}"
    )


HEADER = (
    f"{'scenario':<48} {'whole s':>7} {'cpu s':>7} {'build':>6} {'simul.':>7} {'eval':>6} "
    f"{'files':>6} "
    f"{'events':>9} {'ev/s':>9} {'ratio':>6} {'r.sim':>6} {'r.cpu':>6} {'RSS MiB':>7} {'met MB':>6}"
)


def scenarios(given: list[Path]) -> list[Path]:
    if given:
        return given
    found = [REFERENCE] if REFERENCE.exists() else []
    if not found:
        print(f"(reference scenario {REFERENCE.relative_to(ROOT)} not there yet: labs only)")
    return found + sorted((ROOT / "scenarios" / "labs").glob("*.yaml"))


def fleet(args: argparse.Namespace) -> int:
    path = args.scenarios[0] if args.scenarios else REFERENCE
    if not path.exists():
        print(f"fleet scaling: SKIPPED, no scenario {path} yet (the reference scenario, issue 7)")
        return 0
    from simulation.core.errors import UserInputError
    from simulation.scenario.load import load_scenario

    try:
        load_scenario(path, [*args.set, f"{args.fleet_key}={FLEET_SIZES[0]}"])
    except UserInputError as exc:
        print(f"fleet scaling: SKIPPED, {path.name} has no {args.fleet_key} yet (EC2, issue 5):")
        print(f"  {str(exc).splitlines()[0]}")
        return 0
    print(f"fleet scaling of {path.name} ({args.fleet_key}); each size in its own process")
    print(f"{'droplets':>10} {'whole s':>8} {'simulate s':>10} {'events':>11} {'peak RSS MiB':>12}")
    base = None
    for n in args.fleet_sizes:
        r = child(path, [*args.set, f"{args.fleet_key}={n}"], args.seed, False)
        if "error" in r:
            print(f"{n:>10,} FAILED: {r['error'].splitlines()[-1]}")
            continue
        base = base or (n, r["whole_s"], r["peak_rss_mib"])
        scale = n / base[0]
        print(
            f"{n:>10,} {r['whole_s']:>8.2f} {r['phases_s']['simulate']:>10.2f} "
            f"{r['events']:>11,} {r['peak_rss_mib']:>12.0f}   time x{r['whole_s'] / base[1]:.1f}, "
            f"memory x{r['peak_rss_mib'] / base[2]:.1f} for size x{scale:g}"
        )
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", type=Path)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--repeat", type=int, default=1, help="runs per scenario; the best is shown")
    p.add_argument("--profile", action="store_true", help="cProfile the simulate phase")
    p.add_argument("--fleet", action="store_true", help="the fleet-scaling series")
    p.add_argument("--fleet-key", default="ec2.fleet.droplets")
    p.add_argument("--fleet-sizes", type=int, nargs="+", default=list(FLEET_SIZES))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON line per scenario")
    args = p.parse_args()
    if args.child:
        print(json.dumps(one(args.scenarios[0], args.set, args.seed, args.profile)))
        return 0
    if args.fleet:
        print(machine())
        return fleet(args)
    if not args.json:
        print(machine())
        print(HEADER)
    for path in scenarios(args.scenarios):
        runs = [child(path, args.set, args.seed, args.profile) for _ in range(args.repeat)]
        good = [r for r in runs if "error" not in r]
        best = min(good, key=lambda r: r["whole_s"]) if good else runs[0]
        if args.json:
            print(json.dumps({k: v for k, v in best.items() if k != "profile"}))
        else:
            print_row(best)
            if args.profile and "profile" in best:
                print(best["profile"])
    if not args.json:
        print("whole s = wall of load+build+simulate+evaluate+summary+files (cpu s: CPU time of")
        print("the same; imports apart); ratio = whole-run events/s over raw simpy events/s in the")
        print("same process; r.sim = the same over simulate alone; r.cpu = whole-run events per")
        print("CPU second over raw simpy's per CPU second (robust on a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
