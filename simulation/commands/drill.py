"""`outage-sim drill SCENARIO`: an on-call drill on a live model (simulation.training)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import FORMATTER


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "drill",
        help="on-call training: drive a scenario step by step, investigate, act, get a debrief",
        description="You are on call. The scenario advances a step at a time (Enter); you see its "
        "alerts and dashboard, investigate (resolve, show, logs, deps) and act (the operator "
        "actions the scenario offers). The scenario's own operator actions are off unless "
        "--keep-operators. At the end the run directory holds the usual outputs plus "
        "debrief.md (you against the historical run) and drill-script.yaml (your session as a "
        "script). With --script the drill runs without a terminal and gives the same bytes.",
        epilog="examples:\n"
        "  outage-sim drill scenarios/drills/dns-race-drill.yaml --hints nudges\n"
        "  outage-sim drill scenarios/drills/dns-race-drill.yaml \\\n"
        "      --script scenarios/drills/dns-race-historical.script.yml --out runs/hist\n"
        "  outage-sim drill --script runs/hist/drill-script.yaml --out runs/replay\n"
        "See docs/drills.md.",
        formatter_class=FORMATTER,
    )
    p.add_argument("scenario", nargs="?", type=Path, metavar="SCENARIO")
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="run directory (default: reports/drills/NAME)"
    )
    p.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help="timed commands to carry out, no terminal needed",
    )
    p.add_argument(
        "--record", type=Path, metavar="FILE", help="also write the session as a script to FILE"
    )
    p.add_argument(
        "--seed", type=int, default=None, metavar="N", help="seed (default: the scenario's)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a scenario key, as for `run`; repeatable",
    )
    p.add_argument(
        "--hints",
        choices=["none", "nudges", "guided"],
        default=None,
        help="which of the scenario's hints you get (default: the scenario's drill.difficulty)",
    )
    p.add_argument(
        "--keep-operators",
        action="store_true",
        help="keep the scenario's own operator actions (as other teams acting)",
    )
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="NAME",
        help="keep this operator entry on (a fault input, not a responder's action); repeatable",
    )
    p.add_argument(
        "--game-master", action="store_true", help="show the truth alongside (the `truth` command)"
    )
    p.add_argument(
        "--counterfactuals",
        type=int,
        default=6,
        metavar="N",
        help="judge at most N of your actions by re-running without each (default 6; 0: none)",
    )
    p.add_argument(
        "--step",
        default=None,
        metavar="DURATION",
        help="sim time per step (default: the scenario's drill.step, else 5 min)",
    )
    p.add_argument(
        "--ascii", action="store_true", help="ASCII sparklines (for terminals without UTF-8)"
    )
    p.add_argument("--quiet", action="store_true", help="with --script: no transcript")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.errors import UserInputError
    from ..training.session import DrillOptions, run_drill

    if args.counterfactuals < 0:
        raise UserInputError("--counterfactuals: expected 0 or more")
    opts = DrillOptions(
        scenario=args.scenario,
        out=args.out,
        script=args.script,
        record=args.record,
        seed=args.seed,
        overrides=list(args.overrides),
        hints=args.hints,
        keep_operators=args.keep_operators,
        keep=list(args.keep),
        game_master=args.game_master,
        counterfactuals=args.counterfactuals,
        step=args.step,
        ascii_only=args.ascii,
        quiet=args.quiet,
    )
    return run_drill(opts)
