"""Shared fixtures: the example runs (DNS race lab and its two variants), made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.report.examples import regenerate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def examples(tmp_path_factory) -> Path:
    """`reports/examples` as the code produces it now, in a temporary directory."""
    out = tmp_path_factory.mktemp("examples")
    assert regenerate(ROOT, out) == 0
    return out
