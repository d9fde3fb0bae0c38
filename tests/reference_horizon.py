"""Shared by the reference-scenario and variant tests: shortening the reference's horizon."""

from __future__ import annotations

from pathlib import Path

from simulation.scenario.load import load_scenario

REFERENCE = Path(__file__).resolve().parents[1] / "scenarios" / "aws-us-east-1-2025-10-20.yaml"


def horizon(minutes: int) -> list[str]:
    """Overrides that end the run `minutes` after its start: later operator entries are switched
    off and expectations dropped."""
    plain = load_scenario(REFERENCE)
    out = [f"duration={minutes} min", "expect=[]"]
    for entry in plain.model.operators:
        if entry.at is not None and plain.instant(entry.at) > minutes * 60:
            out.append(f"operators.{entry.key}.enabled=false")
    return out
