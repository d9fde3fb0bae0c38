#!/usr/bin/env python3
"""Project tasks that work on a fresh machine with only Python 3.11+ and pip.

    python3 tasks.py demo     # set up .venv if needed, run the reference scenario, write its report
    python3 tasks.py test     # set up .venv if needed, lint (ruff) and run the whole test suite
    python3 tasks.py setup    # only (re)create .venv and install the package with its dev extra
    python3 tasks.py bench    # run the benchmark scripts and print their figures
    python3 tasks.py reports  # regenerate the committed example reports in reports/examples/

Setup is idempotent: `.venv` is created on first use and the package is re-installed only when
pyproject.toml changed (a hash of it is kept in .venv/.outage-sim-stamp).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".outage-sim-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")

# The reference scenario once it exists; until then the most complete one shipped.
MAIN_SCENARIOS = [
    "scenarios/aws-us-east-1-2025-10-20.yaml",
    "scenarios/labs/dns-race.yaml",
    "scenarios/labs/server-patterns.yaml",
]


def say(msg: str) -> None:
    print(f"[tasks] {msg}", file=sys.stderr, flush=True)


def run(*cmd: str | os.PathLike[str]) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def setup() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not PY.exists():
        say(f"creating {VENV.relative_to(ROOT)} ...")
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    say("installing outage-sim and its dev tools into .venv (first run only) ...")
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if run(*pip, "-e", ".[dev]") != 0:
        sys.exit("[tasks] pip install failed (see above); nothing else was changed")
    STAMP.write_text(want + "\n")


def main_scenario() -> str:
    for s in MAIN_SCENARIOS:
        if (ROOT / s).exists():
            return s
    sys.exit("[tasks] no scenario to run")


def demo(args: list[str]) -> int:
    setup()
    scenario = main_scenario()
    out = ROOT / "reports" / Path(scenario).stem
    say(f"running {scenario} -> {out.relative_to(ROOT)}/ (report.md, report.html, ...)")
    code = run(PY, "-m", "simulation", "run", scenario, "--out", out, *args)
    summary = out / "summary.json"
    if code not in (0, 1) or not summary.exists():
        return code or 1
    status = json.loads(summary.read_text())["status"]
    say(f"report: {(out / 'report.html').relative_to(ROOT)} (also report.md)")
    if status == "failed":
        say("the run failed (see above and run.json)")
        return 1
    if status == "deviated":
        say(
            "status 'deviated': some milestones differ from the published timeline beyond "
            "their tolerance; the report's Expectations and docs/calibration.md say which and why"
        )
    return 0


def test(args: list[str]) -> int:
    setup()
    say("ruff check ...")
    if run(PY, "-m", "ruff", "check", ".") != 0:
        say("ruff check failed")
        return 1
    # two workers (this project's machines have 2 cores); loadfile keeps each test file's
    # module-scoped runs (the reference scenario) in one worker
    code = run(PY, "-m", "pytest", "-n", "2", "--dist", "loadfile", *args)
    if code == 5:
        say("pytest collected no tests: that is a failure here")
        return 1
    return code


def bench(args: list[str]) -> int:
    setup()
    code = 0
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        say(f"{script.relative_to(ROOT)}")
        code |= run(PY, script, *args)
    return code


def reports(args: list[str]) -> int:
    """Regenerate reports/examples/ (tests/report/test_examples.py checks they are current)."""
    setup()
    say("regenerating reports/examples/ (see simulation/report/examples.py) ...")
    return run(PY, "-m", "simulation.report.examples", *args)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - tasks.py may be started by an older python3
        print(f"outage-sim needs Python 3.11 or newer; this is {sys.version.split()[0]}")
        return 2
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    task, rest = argv[0], argv[1:]
    if task == "setup":
        setup()
        return 0
    tasks = {"demo": demo, "test": test, "bench": bench, "reports": reports}
    if task not in tasks:
        print(f"unknown task {task!r}; choose one of: setup, {', '.join(tasks)}", file=sys.stderr)
        return 2
    return tasks[task](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
