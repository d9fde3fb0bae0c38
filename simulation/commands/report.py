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
        "timeline.csv, scenario.json, run.json, ...) without re-running.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.files import atomic_write_text
    from ..report import render_html, render_markdown

    d = args.run_dir
    if not d.is_dir():
        raise UserInputError(f"{d}: not a directory (give a run directory written by `run`)")
    try:
        md, page = render_markdown(d), render_html(d)
    except FileNotFoundError as exc:
        raise UserInputError(str(exc)) from None
    atomic_write_text(d / "report.md", md)
    atomic_write_text(d / "report.html", page)
    print(f"wrote {d / 'report.md'} and {d / 'report.html'}")
    return EXIT_OK
