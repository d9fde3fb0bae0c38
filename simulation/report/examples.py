"""The committed example reports in `reports/examples/`: which scenarios, and how to regenerate.

    python3 tasks.py reports                 # the documented command (sets up .venv first)
    python -m simulation.report.examples     # the same, from an environment with the package

Each example is a full run (`outage-sim run SCENARIO --out reports/examples/<stem>`); only the
report (report.md, report.html, plots/) and summary.json are committed (see .gitignore), the rest
of the run directory stays local. `tests/report/test_examples.py` regenerates them into a
temporary directory and compares, so the committed reports are what the code produces now.
Until the reference scenario exists, the examples are the DNS race lab and two variants of it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

EXAMPLES = (
    "scenarios/aws-us-east-1-2025-10-20.yaml",
    "scenarios/variants/early-dwfm-restart.yaml",
    "scenarios/variants/nlb-velocity-control.yaml",
    "scenarios/labs/dns-race.yaml",
    "scenarios/labs/dns-race-fixed.yaml",
    "scenarios/labs/dns-race-short-negative-ttl.yaml",
)
COMMITTED = ("report.md", "report.html", "summary.json")
"""Files of each example run that are committed, besides `plots/*.svg`."""
VERSIONS = "versions.json"
"""Library versions the pictures were drawn with (SVG bytes depend on matplotlib's version)."""
_PROVENANCE = re.compile(r"<!-- provenance -->.*?<!-- /provenance -->", re.S)


def without_provenance(text: str) -> str:
    """A report without its provenance block (python, platform: they differ between machines)."""
    return _PROVENANCE.sub("<!-- provenance -->", text)


def library_versions() -> dict[str, str]:
    import matplotlib

    return {"matplotlib": matplotlib.__version__}


def regenerate(root: Path, out: Path) -> int:
    """Run every example scenario (paths relative to `root`, the repository) into `out/<stem>`;
    return the worst exit code: 0 when every run completed (ok, or deviated: an example may
    deviate from its expectations, as the reference scenario honestly does), 1 a run failed,
    2 bad input."""
    import os

    from ..cli import main

    worst = 0
    here = Path.cwd()
    os.chdir(root)  # paths in summaries are shown relative to the working directory
    try:
        for scenario in EXAMPLES:
            target = out / Path(scenario).stem
            code = main(["run", scenario, "--out", str(target), "--progress", "none"])
            if code == 1 and _status(target) == "deviated":
                code = 0
            worst = max(worst, code)
    finally:
        os.chdir(here)
    out.mkdir(parents=True, exist_ok=True)
    (out / VERSIONS).write_text(json.dumps(library_versions(), indent=2) + "\n")
    return worst


def _status(run_dir: Path) -> str | None:
    path = run_dir / "summary.json"
    return json.loads(path.read_text())["status"] if path.exists() else None


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2]
    out = Path(argv[0]).resolve() if argv else root / "reports" / "examples"
    code = regenerate(root, out)
    print(f"example reports in {out} (exit {code})", file=sys.stderr)
    return 2 if code == 2 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
