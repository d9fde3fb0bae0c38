"""One module per `outage-sim` command.

Each module has `register(subparsers) -> None` (adds its parser, with a `--help` that teaches,
and sets `func` to its handler) and the handler `run(args) -> int` (an exit code). A
`UserInputError` raised by a handler is printed as one line and exits 2 (see cli.py).
Add a command by adding its module to `COMMANDS`.
"""

COMMANDS = ["validate", "run", "list", "report", "check", "serve_dns", "sweep", "drill"]
