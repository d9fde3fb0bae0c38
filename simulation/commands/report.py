"""`outage-sim report RUN_DIR`: rebuild report.md and report.html without re-running."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import UserInputError
from .common import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild report.md and report.html from a run directory",
        description="Re-render the report of a finished run from its files (summary.json, "
        "timeline.csv, metrics.parquet, views.json, scenario.json, run.json, ...) without "
        "re-running: report.md with its pictures in plots/, and the self-contained report.html.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import write_report

    d = args.run_dir
    if not d.is_dir():
        raise UserInputError(f"{d}: not a directory (give a run directory written by `run`)")
    try:
        written = write_report(d)
    except FileNotFoundError as exc:
        raise UserInputError(str(exc)) from None
    print(f"wrote {', '.join(str(p) for p in written)}")
    return EXIT_OK
