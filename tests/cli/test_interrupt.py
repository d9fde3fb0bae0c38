"""Ctrl-C on a real run in a real process: complete outputs, status failed (interrupted)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_sigint_mid_run_leaves_complete_outputs(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulation",
            "run",
            "scenarios/labs/memory-pressure.yaml",
            "--out",
            str(out),
            "--progress",
            "log",
            "--set",
            "duration=6 h",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the simulation is visibly under way
        if "simulated" in line and "0.5%" not in line:
            break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["interrupted"] is True
    assert summary["failure"].startswith("interrupted at sim time")
    assert summary["sim_end"] < summary["planned_end"]
    names = {p.name for p in out.iterdir()}
    assert names == {
        "summary.json",
        "run.json",
        "timeline.csv",
        "metrics.parquet",
        "scenario.json",
        "views.json",
        "report.md",
        "report.html",
        "plots",  # the report's pictures, beside report.md
    }
    pd.read_parquet(out / "metrics.parquet")
    pd.read_csv(out / "timeline.csv")
    assert "interrupted" in (out / "report.md").read_text()
