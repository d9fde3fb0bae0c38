"""`outage-sim sweep FILE --seeds N [--vary k=v1,v2]... --out DIR`: a grid times many seeds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import UserInputError
from .common import EXIT_DEVIATED, EXIT_OK, FORMATTER

EXIT_INTERRUPTED = 130

EPILOG = """\
examples:
  outage-sim sweep scenarios/labs/dns-race.yaml --seeds 200 --out sweeps/race
  outage-sim sweep scenarios/labs/dns-race.yaml --seeds 100 --out sweeps/slow \\
      --vary dynamodb_dns.slowness.0.duration="3 min,6 min,10 min,15 min"
  outage-sim sweep scenarios/labs/dns-race.yaml --seeds 100 --out sweeps/slow --resume
  outage-sim sweep scenarios/labs/dns-race.yaml --seeds 1000 --out sweeps/big \\
      --scheduler tcp://10.0.0.5:8786           # on a running Dask cluster

DIR gets runs/ (a Parquet part per finished chunk), runs.parquet (a row per run: parameters,
seed, status, milestones in seconds and ISO, expectations, impact and statistics as dotted
columns), summary.json/.csv/.md (per grid point: P(milestone), median/p5/p95, the race
probability) and plots/<key>.png per varied key. See docs/sweeps.md.
exit codes: 0 every run done, 1 some run failed (a model error) or a chunk broke, 2 bad input,
130 interrupted (finish with --resume).
"""


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of values times many seeds (local processes or Dask)",
        description="Run FILE for every combination of the --vary values, each with seeds "
        "S .. S+N-1. Every point is validated and built before any run starts. Runs go to "
        "local worker processes (default) or to a Dask cluster (--scheduler); each finished "
        "chunk of runs is written at once, so an interrupted sweep loses only runs in flight "
        "and --resume runs only the missing ones.",
        epilog=EPILOG,
        formatter_class=FORMATTER,
    )
    s.add_argument("file", metavar="FILE", type=Path)
    s.add_argument("--seeds", type=int, required=True, metavar="N", help="seeds per grid point")
    s.add_argument("--seed-start", type=int, default=1, metavar="S", help="first seed (default 1)")
    s.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values of one key (dotted path; each value in YAML syntax, as --set); repeatable: "
        "the grid is every combination",
    )
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a key for every run (as in `outage-sim run`)",
    )
    s.add_argument("--out", required=True, type=Path, metavar="DIR", help="the sweep directory")
    s.add_argument("--resume", action="store_true", help="finish the sweep in --out (same options)")
    s.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="K",
        help="local worker processes (default: one per CPU)",
    )
    s.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run on this Dask scheduler's workers (they need outage-sim installed)",
    )
    s.add_argument(
        "--chunk",
        type=int,
        default=None,
        metavar="R",
        help="runs per task (default: about 4 tasks per worker, at most 32 runs)",
    )
    s.add_argument(
        "--keep-outputs",
        action="store_true",
        help="also write each run's files (as `outage-sim run`) under DIR/outputs/ (slow)",
    )
    s.add_argument(
        "--progress",
        choices=["auto", "bar", "log", "none"],
        default="auto",
        help="a bar on a terminal, log lines otherwise (auto)",
    )
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.sweep import DaskBackend, LocalBackend, plan_sweep, run_sweep

    if args.scheduler is not None and args.workers is not None:
        raise UserInputError(
            "--workers and --scheduler do not go together: the cluster's workers run the sweep"
        )
    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers: expected a positive integer, got {args.workers}")
    if args.chunk is not None and args.chunk < 1:
        raise UserInputError(f"--chunk: expected a positive integer, got {args.chunk}")
    if args.scheduler is not None and "://" not in args.scheduler:
        raise UserInputError(
            f"--scheduler {args.scheduler}: expected an address such as tcp://10.0.0.5:8786"
        )
    plan = plan_sweep(args.file, args.overrides, args.vary, args.seeds, args.seed_start)

    def backend():
        if args.scheduler is not None:
            return DaskBackend(args.scheduler)
        return LocalBackend(args.workers)

    outcome = run_sweep(
        plan,
        args.out,
        backend,
        resume=args.resume,
        chunk=args.chunk,
        keep_outputs=args.keep_outputs,
        progress_mode=args.progress,
    )
    _report(plan, outcome, args.out)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if outcome.chunk_errors or outcome.failed_runs:
        return EXIT_DEVIATED
    return EXIT_OK


def _report(plan, outcome, out: Path) -> None:
    done = outcome.already_done + outcome.ran
    where = f"{outcome.ran} runs ran in {outcome.wall_s:.1f} s" if outcome.ran else "none to run"
    print(
        f"{plan.title}: {len(plan.points)} grid point(s) x {len(plan.seeds)} seeds = "
        f"{plan.total} runs; {outcome.already_done} were done, {where}"
    )
    if outcome.interrupted:
        print(
            f"  interrupted: {done} of {plan.total} runs are in {out}/runs/; finish with the "
            "same command and --resume",
            file=sys.stderr,
        )
    for err in outcome.chunk_errors:
        print(f"  chunk failed: {err}", file=sys.stderr)
    if outcome.chunk_errors:
        print("  (their runs are missing: --resume runs them again)", file=sys.stderr)
    if outcome.failed_runs:
        print(f"  {outcome.failed_runs} run(s) failed (status failed in runs.parquet)")
    for e in outcome.summary:
        label = ", ".join(f"{k}={v}" for k, v in e["params"].items()) or "as is"
        text = f"  point {e['point']} ({label}): {e['runs']} runs"
        if "race_probability" in e:
            r = e["race_probability"]
            text += (
                f", race fired in {100 * r['p']:.0f}% "
                f"[{100 * r['ci95'][0]:.0f}%, {100 * r['ci95'][1]:.0f}%]"
            )
        print(text)
    if outcome.written:
        names = sorted({str(p.relative_to(out)) for p in outcome.written})
        print(f"  outputs: {out}/ ({', '.join(names)})")
