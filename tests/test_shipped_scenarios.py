"""Every shipped scenario validates, is listed with a description, and is run by some test."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
TESTS = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 6


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_validates(path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate", str(path.relative_to(ROOT))]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_is_run_by_a_test(path):
    assert path.name in TESTS, f"no test runs {path.relative_to(ROOT)}"


def test_list_describes_every_scenario(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SCENARIOS)
    for line in lines:
        _, desc = line.split(None, 1)
        assert desc.strip() and not desc.startswith("(invalid"), line


def test_dns_race_lab_is_byte_identical_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    for d in ("a", "b"):
        args = ["run", "scenarios/labs/dns-race.yaml", "--out", str(tmp_path / d)]
        assert main([*args, "--progress", "none"]) == 0
    for name in ("summary.json", "timeline.csv", "metrics.parquet", "report.md", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
