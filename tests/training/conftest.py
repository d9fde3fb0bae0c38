"""Shared helpers: the shipped DNS drill, engines driven by (sim time, command) lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.training.engine import DrillSetup, Engine

ROOT = Path(__file__).resolve().parents[2]
DRILL = ROOT / "scenarios/drills/dns-race-drill.yaml"
HISTORICAL_SCRIPT = ROOT / "scenarios/drills/dns-race-historical.script.yml"
EARLY_SCRIPT = ROOT / "scenarios/drills/dns-race-early-repair.script.yml"
START_ISO = "2025-10-19T23:00:00-07:00"


def minutes(m: float) -> float:
    return 60.0 * m


def drive(commands: list[tuple[float, str]], hints: str | None = None, **setup_kw) -> Engine:
    """An engine on the DNS drill that carries out `commands` at their sim times (not finished)."""
    drilled, _ = DrillSetup(DRILL, hints=hints, **setup_kw).load()
    engine = Engine(drilled)
    for t, text in commands:
        engine.advance_to(t)
        reply = engine.execute(text)
        assert not reply.error, (text, reply.body)
    return engine


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    return ROOT
