"""`outage-sim run FILE --out DIR`: simulate a scenario and write its outputs and report."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..core.errors import UserInputError
from .common import EXIT_DEVIATED, EXIT_OK, FORMATTER


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "run",
        help="run a scenario and write its outputs and report",
        description="Run FILE and write summary.json, run.json, timeline.csv, metrics.parquet, "
        "scenario.json, views.json, report.md and report.html into --out. Exit 0 when every "
        "expectation holds, 1 when one deviates or the run failed, 2 on bad input.",
        epilog="examples:\n  outage-sim run scenarios/labs/dns-race.yaml --out runs/race --seed 3\n"
        "  outage-sim run scenarios/labs/dns-race.yaml --out runs/late \\\n"
        "      --set operators.dns_manual_repair.at='+5 h' --set duration='8 h'",
        formatter_class=FORMATTER,
    )
    r.add_argument("file", metavar="FILE", type=Path)
    r.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory for the outputs (created; files in it are replaced)",
    )
    r.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="seed for every random stream (default: the scenario's `seed`)",
    )
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a key (dotted path, value in YAML syntax); repeatable, e.g. "
        "--set seed=7 --set operators.dns_manual_repair.at='+3 h'",
    )
    r.add_argument(
        "--no-compare",
        action="store_true",
        help="for a variant (a scenario with `extends`): do not also run its base scenario for "
        "the report's comparison (by default the base runs with the same seed and the --set "
        "overrides whose keys it has)",
    )
    r.add_argument(
        "--progress",
        choices=["auto", "bar", "log", "none"],
        default="auto",
        help="progress display: a bar on a terminal, log lines otherwise (auto)",
    )
    r.set_defaults(func=run)


def progress_display(mode: str):
    """A (callback, close) pair showing sim-time progress on stderr."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "log"
    if mode == "none":
        return None, lambda: None
    if mode == "bar":
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}% of sim time"),
            TimeElapsedColumn(),
            transient=True,
        )
        bar.start()
        task = bar.add_task("run", total=1.0)
        return (lambda done, total: bar.update(task, completed=done / total)), bar.stop

    last = [-1]

    def log(done: float, total: float) -> None:
        tenth = int(10 * done / total)
        if tenth != last[0]:
            last[0] = tenth
            print(f"outage-sim: simulated {100 * done / total:5.1f}%", file=sys.stderr, flush=True)

    return log, lambda: None


def run(args: argparse.Namespace) -> int:
    from ..outputs import write_outputs
    from ..runner import simulate
    from ..scenario.load import load_scenario

    if args.out.exists() and not args.out.is_dir():
        raise UserInputError(f"--out {args.out}: exists and is not a directory")
    loaded = load_scenario(args.file, args.overrides)
    wall_start = datetime.now(UTC)
    callback, close = progress_display(args.progress)
    try:
        result = simulate(loaded, seed=args.seed, progress=callback)
    finally:
        close()
    if len(loaded.chain) > 1:
        _compare(result, args)
    written = write_outputs(result, args.out, wall_start, datetime.now(UTC))
    _print_outcome(result, args.out, written)
    return EXIT_OK if result.status == "ok" else EXIT_DEVIATED


def _compare(result, args: argparse.Namespace) -> None:
    """Run the variant's base for the summary's `comparison` block (or say why it was not)."""
    from ..runner import compare_with_base
    from ..scenario.load import display_path

    base = display_path(result.loaded.chain[1])
    if args.no_compare:
        result.comparison = {"base": base, "skipped": "--no-compare was given"}
    elif result.failure:
        result.comparison = {"base": base, "skipped": "this run failed"}
    else:
        print(
            f"outage-sim: running the base {base} for the comparison (skip: --no-compare)",
            file=sys.stderr,
        )
        try:
            compare_with_base(result, args.overrides)
        except KeyboardInterrupt:
            result.comparison = {"base": base, "skipped": "interrupted"}


def _print_outcome(result, out: Path, written: list[Path]) -> None:
    s = result.summary
    print(f"{s['scenario']}: {s['status']} (seed {s['seed']}, {s['sim_start']} -> {s['sim_end']})")
    if result.failure:
        print(f"  {result.failure}", file=sys.stderr)
        if result.failure_detail:
            print("  (a model error: the traceback is in run.json)", file=sys.stderr)
    happened = [(t, k) for k, t in s["milestones"].items() if t]
    for t, k in sorted(happened):
        print(f"  {t}  {k}")
    for e in s["expectations"]:
        mark = "ok " if e["ok"] else "DEVIATED"
        extra = f" ({e['problem']})" if e.get("problem") else ""
        print(f"  expect {e['name']}: {mark} expected {e['expected']}, got {e['actual']}{extra}")
    print(f"  outputs: {out}/ ({', '.join(str(p.relative_to(out)) for p in written)})")
