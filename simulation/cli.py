"""The `outage-sim` command line: the parser and the error policy; each command is a module of
`simulation.commands`.

Exit codes: 0 ok, 1 a run deviated from its expectations or failed, 2 bad input (a located
message on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__
from .commands import COMMANDS
from .commands.common import EXIT_BAD_INPUT, EXIT_DEVIATED, EXIT_OK, FORMATTER, Parser
from .core.errors import SimulationError, UserInputError

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
      --set dynamodb_dns.clients.count=500             change one key for this run
  outage-sim report runs/race                       rebuild report.md/html from a run directory

exit codes: 0 ok, 1 deviated from expectations or failed, 2 bad input.
Scenario keys: docs/scenario-reference.md. Run `outage-sim COMMAND --help` for each command.
"""


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="outage-sim", description=DESCRIPTION, epilog=EPILOG, formatter_class=FORMATTER)
    p.add_argument("--version", action="version", version=f"outage-sim {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
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
