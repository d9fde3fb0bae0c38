"""Shared fixtures: a scenario registry that includes the test-only `toy` section."""

from __future__ import annotations

import pytest

from simulation.scenario import model as scenario_model_module


@pytest.fixture
def toy_registry(monkeypatch):
    """Register the `toy` section (tests/scenario/toy_section.py) for one test."""
    sections = {"toy": "tests.scenario.toy_section", **scenario_model_module.SECTIONS}
    monkeypatch.setattr(scenario_model_module, "SECTIONS", sections)
    scenario_model_module.scenario_model.cache_clear()
    yield
    scenario_model_module.scenario_model.cache_clear()
