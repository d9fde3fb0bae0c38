"""`outage-sim validate FILE...`: load, merge and check scenario files without running them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import UserInputError
from .common import EXIT_BAD_INPUT, EXIT_OK, FORMATTER


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Load, merge (extends) and validate each FILE, and build its model to check "
        "actions, targets and milestones. Exit 0 if all are valid, 2 if any is not; every "
        "problem is printed as file:line:col: key: message.",
        epilog="example:\n  outage-sim validate scenarios/labs/*.yaml",
        formatter_class=FORMATTER,
    )
    p.add_argument("files", nargs="+", metavar="FILE", type=Path)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a key (dotted path, value in YAML syntax); repeatable",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runner import prepare
    from ..scenario.load import display_path, load_scenario

    bad = 0
    for f in args.files:
        try:
            loaded = load_scenario(f, args.overrides)
            prepare(loaded)  # also checks actions, targets and milestones against the model
            print(f"{display_path(f)}: ok ({loaded.model.title})")
        except UserInputError as exc:
            bad += 1
            print(str(exc), file=sys.stderr)
    return EXIT_BAD_INPUT if bad else EXIT_OK
