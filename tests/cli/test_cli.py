"""The command line: run outputs (contract), determinism, interruption, list, report, help."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from simulation import runner
from simulation.cli import main

pytestmark = pytest.mark.usefixtures("toy_registry")

SCENARIO = """\
title: Toy <script>alert(1)</script>
description: A ticking counter
seed: 3
start: "2025-10-19T23:00:00-07:00"
duration: "2 h"
toy: {count: 2, interval: "1 min"}
operators:
  - {action: bump, at: "+30 min", params: {by: 100}, note: "by hand"}
expect:
  - {name: reached, milestone: counter_reached, at: "+6 min", tolerance: "3 min"}
"""
OUTPUTS = {
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


@pytest.fixture
def scen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    return tmp_path


def test_run_writes_every_output(scen, capsys):
    assert main(["run", "s.yaml", "--out", "out", "--progress", "none"]) == 0
    files = {p.name for p in (scen / "out").iterdir()}
    assert files == OUTPUTS
    s = json.loads((scen / "out/summary.json").read_text())
    for key in (
        "scenario",
        "seed",
        "status",
        "sim_start",
        "sim_end",
        "milestones",
        "expectations",
        "impact",
    ):
        assert key in s
    assert s["status"] == "ok" and s["seed"] == 3
    assert s["sim_start"] == "2025-10-19T23:00:00-07:00"
    assert s["sim_end"] == "2025-10-20T01:00:00-07:00"
    assert s["milestones"]["counter_reached"].endswith("-07:00")
    run = json.loads((scen / "out/run.json").read_text())
    assert {"version", "python", "platform", "wall_start", "wall_end", "runtime_s"} <= set(run)
    timeline = pd.read_csv(scen / "out/timeline.csv")
    assert list(timeline.columns) == ["time", "sim_seconds", "scope", "kind", "detail"]
    assert timeline["sim_seconds"].is_monotonic_increasing
    assert "milestone" in set(timeline["kind"]) and "operator_action" in set(timeline["kind"])
    metrics = pd.read_parquet(scen / "out/metrics.parquet")
    assert {"time", "scope", "metric", "kind", "value"} <= set(metrics.columns)
    out = capsys.readouterr().out
    assert "Toy <script>alert(1)</script>: ok (seed 3" in out


def test_same_seed_gives_byte_identical_outputs_and_another_seed_does_not(scen):
    for d in ("a", "b"):
        assert main(["run", "s.yaml", "--out", d, "--progress", "none"]) == 0
    assert main(["run", "s.yaml", "--out", "c", "--seed", "4", "--progress", "none"]) == 0
    for name in ("summary.json", "timeline.csv", "metrics.parquet", "report.md", "report.html"):
        assert (scen / "a" / name).read_bytes() == (scen / "b" / name).read_bytes(), name
    assert (scen / "a/timeline.csv").read_bytes() != (scen / "c/timeline.csv").read_bytes()


def test_deviated_run_exits_1(scen):
    code = main(
        ["run", "s.yaml", "--out", "o", "--progress", "none", "--set", "expect.reached.at=+90 min"]
    )
    assert code == 1
    assert json.loads((scen / "o/summary.json").read_text())["status"] == "deviated"


def test_interrupted_run_writes_complete_files_with_status_failed(scen, monkeypatch):
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if done >= total / 2:
            raise KeyboardInterrupt

    real = runner.simulate
    monkeypatch.setattr(
        "simulation.runner.simulate",
        lambda loaded, seed=None, progress=None: real(loaded, seed, interrupt),
    )
    assert main(["run", "s.yaml", "--out", "o", "--progress", "none"]) == 1
    s = json.loads((scen / "o/summary.json").read_text())
    assert s["status"] == "failed" and s["interrupted"] is True
    assert s["failure"].startswith("interrupted at sim time 3600 s")
    assert s["sim_end"] == "2025-10-20T00:00:00-07:00"
    assert {p.name for p in (scen / "o").iterdir()} == OUTPUTS  # no temp files left behind
    pd.read_parquet(scen / "o/metrics.parquet")


def test_model_error_is_a_failed_run_not_a_traceback(scen, monkeypatch, capsys):
    from tests.scenario import toy_section

    def broken(self):
        yield self.env.timeout(600)
        raise RuntimeError("boom")

    monkeypatch.setattr(toy_section.Counter, "_tick", broken)
    assert main(["run", "s.yaml", "--out", "o", "--progress", "none"]) == 1
    s = json.loads((scen / "o/summary.json").read_text())
    assert s["status"] == "failed"
    assert s["failure"] == "model error at sim time 600 s: RuntimeError: boom"
    assert "Traceback" in json.loads((scen / "o/run.json").read_text())["failure_detail"]
    assert "Traceback" not in capsys.readouterr().err


def test_report_rebuilds_from_run_dir_and_escapes(scen):
    assert main(["run", "s.yaml", "--out", "o", "--progress", "none"]) == 0
    before = (scen / "o/report.html").read_bytes()
    (scen / "o/report.html").unlink()
    assert main(["report", "o"]) == 0
    page = (scen / "o/report.html").read_bytes()
    assert page == before
    assert b"<script>alert(1)" not in page and b"&lt;script&gt;alert(1)" in page


def test_report_on_a_non_run_dir(scen, capsys):
    (scen / "empty").mkdir()
    assert main(["report", "empty"]) == 2
    assert (
        capsys.readouterr().err.strip() == "empty/summary.json: missing; is empty a run directory?"
    )


def test_list_shows_descriptions(scen, capsys):
    (scen / "scenarios").mkdir()
    (scen / "scenarios/a.yaml").write_text(SCENARIO)
    (scen / "scenarios/b.yaml").write_text("title: [oops\n")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(None, 1) == ["scenarios/a.yaml", "A ticking counter"]
    assert lines[1].startswith("scenarios/b.yaml") and "(invalid: YAML syntax error" in lines[1]


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for word in ("validate", "run", "list", "report", "examples:", "exit codes"):
        assert word in text


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("outage-sim ")


def test_bad_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run"])
    assert exit_.value.code == 2
    assert "the following arguments are required: FILE, --out" in capsys.readouterr().err


def test_validate_ok(scen, capsys):
    assert main(["validate", "s.yaml"]) == 0
    assert capsys.readouterr().out.strip() == "s.yaml: ok (Toy <script>alert(1)</script>)"
