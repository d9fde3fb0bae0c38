"""`outage-sim list [DIR]`: the shipped scenarios with one-line descriptions."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import UserInputError
from .common import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "list",
        help="list shipped scenarios with one-line descriptions",
        description="List scenario files under DIR (default: ./scenarios, or the scenarios "
        "shipped beside the package).",
    )
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR")
    p.set_defaults(func=run)


def _scenario_dirs(given: Path | None) -> list[Path]:
    if given is not None:
        return [given]
    here = Path("scenarios")
    shipped = Path(__file__).resolve().parents[2] / "scenarios"
    return [d for d in (here, shipped) if d.is_dir()][:1]


def run(args: argparse.Namespace) -> int:
    from ..scenario.load import display_path
    from ..scenario.yamlsource import load_yaml_file

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
