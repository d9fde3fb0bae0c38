"""How likely is the DynamoDB DNS race, as a function of how long an Enactor is delayed?

For each slowness duration, runs the `dynamodb_dns` section of a scenario (default: the dns-race
lab) over many seeds with the delayed Enactor's window set to that duration, and counts the runs
in which the regional record went empty (the `dns_record_empty` milestone). Prints one row per
duration: the share of racing seeds with a 95% Wilson interval, and when the race fired relative
to the end of the delay. Only `build()` is used (no runner): clients are left out for speed.

    .venv/bin/python scripts/race_probability.py                     # 0..20 min, 40 seeds
    .venv/bin/python scripts/race_probability.py --seeds 100 --levels 0 4 6 8 12
    .venv/bin/python scripts/race_probability.py --fixed             # the fix: always 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from simulation.analysis.sweep.summary import wilson
from simulation.core import Component, Results, SimEnv
from simulation.core.units import parse_timestamp
from simulation.subsystems.dynamodb_dns import Config, build

LAB = Path(__file__).resolve().parents[1] / "scenarios" / "labs" / "dns-race.yaml"


def one_run(section: dict, seed: int, start, minutes: float, after: float) -> float | None:
    """Seconds from the end of the delay to the empty record, or None if no race."""
    section = dict(section, clients={"count": 0})
    faults = [dict(f) for f in section.get("slowness", [])]
    if not faults:
        raise SystemExit("the scenario's dynamodb_dns section has no `slowness` entry to vary")
    window_start = Config(**section).slowness[0].start
    if minutes > 0:
        faults[0]["duration"] = f"{minutes} min"
        section["slowness"] = faults
    else:
        section["slowness"] = []
    end = window_start + minutes * 60
    env = SimEnv(start, seed)
    comp = build(Component(env, "region"), Config(**section))
    horizon = end + after
    env.run(horizon)
    t = comp.detectors()["dns_record_empty"](Results(env, horizon))
    return None if t is None else t - end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=LAB, help="scenario file (dns-race lab)")
    parser.add_argument("--seeds", type=int, default=40, help="seeds per level (default 40)")
    parser.add_argument(
        "--levels",
        type=float,
        nargs="+",
        default=[0, 2, 4, 5, 6, 8, 10, 15, 20],
        help="slowness durations in minutes (default 0 2 4 5 6 8 10 15 20)",
    )
    parser.add_argument(
        "--after", type=float, default=10, help="minutes simulated after the delay (default 10)"
    )
    parser.add_argument("--fixed", action="store_true", help="turn both fix switches on")
    args = parser.parse_args()

    doc = yaml.safe_load(args.scenario.read_text())
    section = dict(doc["dynamodb_dns"])
    if args.fixed:
        section.update(apply_version_check=True, cleanup_protects_active=True)
    start = parse_timestamp(doc["start"])
    cfg = Config(**section)
    print(
        f"{args.scenario.name}: planner every {cfg.planner.interval:g} s, "
        f"clean-up threshold {cfg.enactors.cleanup_threshold}, "
        f"transactions {cfg.enactors.transaction_time:g} s, fix {'on' if args.fixed else 'off'}"
    )
    print(f"{'slowness':>9} {'races':>7} {'P(race)':>8} {'95% CI':>15} {'delay after end (s)':>22}")
    t0 = time.perf_counter()
    for minutes in args.levels:
        delays = [
            d
            for seed in range(1, args.seeds + 1)
            if (d := one_run(section, seed, start, minutes, args.after * 60)) is not None
        ]
        lo, hi = wilson(len(delays), args.seeds)
        median = sorted(delays)[len(delays) // 2] if delays else 0.0
        spread = f"{min(delays):.0f} .. {max(delays):.0f} (median {median:.0f})" if delays else "-"
        print(
            f"{minutes:>5g} min {len(delays):>3}/{args.seeds:<3} {len(delays) / args.seeds:>8.2f} "
            f"   [{lo:.2f}, {hi:.2f}] {spread:>22}"
        )
    print(f"{len(args.levels) * args.seeds} runs in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
