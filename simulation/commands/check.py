"""`outage-sim check dns-race [--fixed]`: every interleaving of the DNS automation's steps."""

from __future__ import annotations

import argparse

from ..core.errors import UserInputError
from .common import EXIT_DEVIATED, EXIT_OK, FORMATTER, Parser


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "check",
        help="exhaustive model checks (e.g. the DNS Planner/Enactor race)",
        description="Explore every interleaving of a protocol's steps.",
        formatter_class=FORMATTER,
    )
    csub = c.add_subparsers(dest="check", metavar="CHECK", parser_class=Parser, required=True)
    d = csub.add_parser(
        "dns-race",
        help="every interleaving of the Planner and Enactors: can the active plan be deleted?",
        description="Breadth-first search over every interleaving of Planner and Enactor steps, "
        "using the simulation's own protocol rules. Prints whether a property is violated, the "
        "states and transitions explored, and the shortest counterexample. Exit 1 on a "
        "violation, 0 when clean.",
        epilog="examples:\n  outage-sim check dns-race            # finds the race\n"
        "  outage-sim check dns-race --fixed    # the fix: clean",
        formatter_class=FORMATTER,
    )
    d.add_argument("--enactors", type=int, default=2, help="number of Enactors (default 2)")
    d.add_argument("--generations", type=int, default=5, help="plans the Planner makes (default 5)")
    d.add_argument(
        "--threshold",
        type=int,
        default=2,
        help="clean-up deletes plans this many generations older (default 2)",
    )
    d.add_argument("--endpoints", type=int, default=1, help="endpoints per plan (default 1)")
    d.add_argument(
        "--fixed",
        action="store_true",
        help="turn on the fix: apply-time version check and safe clean-up",
    )
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.dns_race_check import check

    for name in ("enactors", "generations", "endpoints"):
        if getattr(args, name) < 1:
            raise UserInputError(
                f"--{name}: expected a positive integer, got {getattr(args, name)}"
            )
    if args.threshold < 0:
        raise UserInputError(f"--threshold: expected a non-negative integer, got {args.threshold}")
    result = check(
        enactors=args.enactors,
        generations=args.generations,
        threshold=args.threshold,
        endpoints=args.endpoints,
        fixed=args.fixed,
    )
    print(result.format())
    return EXIT_DEVIATED if result.violation else EXIT_OK
