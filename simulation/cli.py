"""The `outage-sim` command line.

Exit codes: 0 ok, 1 a run deviated from its expectations or failed, 2 bad input (a located
message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .core.errors import SimulationError, UserInputError

EXIT_OK, EXIT_DEVIATED, EXIT_BAD_INPUT = 0, 1, 2

DESCRIPTION = """\
Simulate distributed outages - first the AWS us-east-1 outage of 19-20 October 2025 - from
scenario files: replay one, change one thing, see what follows.
"""

EPILOG = """\
examples:
  outage-sim list                                   shipped scenarios, one line each
  outage-sim validate scenarios/labs/*.yaml         check files without running them
  outage-sim run scenarios/labs/dns-race.yaml --out runs/race
  outage-sim run scenarios/labs/dns-race.yaml --out runs/race7 --seed 7 \\
      --set dynamodb_dns.clients=500               change one key for this run
  outage-sim report runs/race                       rebuild report.md/html from a run directory

exit codes: 0 ok, 1 deviated from expectations or failed, 2 bad input.
Scenario keys: docs/scenario-reference.md. Run `outage-sim COMMAND --help` for each command.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line of usage and the problem (as it does), never more."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="outage-sim", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"outage-sim {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    v = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Load, merge (extends) and validate each FILE. Exit 0 if all are valid, "
        "2 if any is not; every problem is printed as file:line:col: key: message.",
        formatter_class=fmt,
    )
    v.add_argument("files", nargs="+", metavar="FILE", type=Path)
    v.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a key (dotted path, value in YAML syntax); repeatable",
    )

    r = sub.add_parser(
        "run",
        help="run a scenario and write its outputs and report",
        description="Run FILE and write summary.json, run.json, timeline.csv, metrics.parquet, "
        "scenario.json, report.md and report.html into --out.",
        epilog="example:\n  outage-sim run scenarios/labs/dns-race.yaml --out runs/race --seed 3"
        " \\\n      --set duration='6 h'",
        formatter_class=fmt,
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
        "--progress",
        choices=["auto", "bar", "log", "none"],
        default="auto",
        help="progress display: a bar on a terminal, log lines otherwise (auto)",
    )

    ls = sub.add_parser(
        "list",
        help="list shipped scenarios with one-line descriptions",
        description="List scenario files under DIR (default: ./scenarios, or "
        "the scenarios shipped beside the package).",
    )
    ls.add_argument("dir", nargs="?", type=Path, metavar="DIR")

    rep = sub.add_parser(
        "report",
        help="rebuild report.md and report.html from a run directory",
        description="Re-render the report of a finished run from its files "
        "(summary.json, timeline.csv, scenario.json, run.json) without re-running.",
    )
    rep.add_argument("run_dir", type=Path, metavar="RUN_DIR")

    _add_check(sub, fmt)
    return p


def _add_check(sub: argparse._SubParsersAction, fmt: type) -> None:
    """`check dns-race`, when the DynamoDB DNS subsystem is present in this tree."""
    try:
        from .analysis import dns_race_check  # noqa: F401
    except ImportError:
        return
    c = sub.add_parser(
        "check",
        help="exhaustive model checks (e.g. the DNS Planner/Enactor race)",
        description="Explore every interleaving of a protocol's steps.",
        formatter_class=fmt,
    )
    csub = c.add_subparsers(dest="check", metavar="CHECK", parser_class=_Parser, required=True)
    d = csub.add_parser(
        "dns-race",
        help="every interleaving of the Planner and Enactors: can the active plan be deleted?",
        description="Breadth-first search over every interleaving of Planner and Enactor steps, "
        "using the simulation's own protocol rules. Prints whether a property is violated, the "
        "states and transitions explored, and the shortest counterexample. Exit 1 on a "
        "violation, 0 when clean.",
        epilog="examples:\n  outage-sim check dns-race            # finds the race\n"
        "  outage-sim check dns-race --fixed    # the fix: clean",
        formatter_class=fmt,
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


# -- commands -----------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from .runner import prepare
    from .scenario.load import display_path, load_scenario

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


def _progress(mode: str):
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


def _cmd_run(args: argparse.Namespace) -> int:
    from .outputs import write_outputs
    from .runner import simulate
    from .scenario.load import load_scenario

    if args.out.exists() and not args.out.is_dir():
        raise UserInputError(f"--out {args.out}: exists and is not a directory")
    loaded = load_scenario(args.file, args.overrides)
    wall_start = datetime.now(UTC)
    callback, close = _progress(args.progress)
    try:
        result = simulate(loaded, seed=args.seed, progress=callback)
    finally:
        close()
    written = write_outputs(result, args.out, wall_start, datetime.now(UTC))
    _print_outcome(result, args.out, written)
    return EXIT_OK if result.status == "ok" else EXIT_DEVIATED


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
    print(f"  outputs: {out}/ ({', '.join(p.name for p in written)})")


def _scenario_dirs(given: Path | None) -> list[Path]:
    if given is not None:
        return [given]
    here = Path("scenarios")
    shipped = Path(__file__).resolve().parent.parent / "scenarios"
    return [d for d in (here, shipped) if d.is_dir()][:1]


def _cmd_list(args: argparse.Namespace) -> int:
    from .scenario.load import display_path
    from .scenario.yamlsource import load_yaml_file

    dirs = _scenario_dirs(args.dir)
    if not dirs:
        raise UserInputError("no scenarios directory here; give one: outage-sim list DIR")
    if not dirs[0].is_dir():
        raise UserInputError(f"{dirs[0]}: not a directory")
    files = sorted(dirs[0].rglob("*.yaml"))
    if not files:
        print(f"no scenario files under {dirs[0]}")
        return EXIT_OK
    rows = []
    for f in files:
        try:
            tree = load_yaml_file(f)
            desc = str(tree.get("description") or tree.get("title") or "")
        except UserInputError as exc:
            desc = f"(invalid: {exc.problems[0].message})"
        rows.append((display_path(f), desc))
    width = max(len(r[0]) for r in rows)
    for path, desc in rows:
        print(f"{path:<{width}}  {desc}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from .core.files import atomic_write_text
    from .report import render_html, render_markdown

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


def _cmd_check(args: argparse.Namespace) -> int:
    from .analysis.dns_race_check import check

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


COMMANDS = {
    "validate": _cmd_validate,
    "run": _cmd_run,
    "list": _cmd_list,
    "report": _cmd_report,
    "check": _cmd_check,
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except UserInputError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SimulationError as exc:
        print(f"outage-sim: error: {exc}", file=sys.stderr)
        return EXIT_DEVIATED
    except KeyboardInterrupt:
        print("outage-sim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
