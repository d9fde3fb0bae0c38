"""The run's GC policy is undone on exit (a sweep worker frees each run) and changes no result."""

from __future__ import annotations

import gc
from pathlib import Path

from simulation.core.gc_policy import RUN_THRESHOLDS, run_gc_policy
from simulation.outputs import build_summary
from simulation.runner import evaluate, prepare
from simulation.scenario.load import load_scenario

LAB = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "dns-race.yaml"


def test_policy_is_undone_even_on_error():
    before = gc.get_threshold()
    try:
        with run_gc_policy():
            assert gc.get_threshold() == RUN_THRESHOLDS
            assert gc.get_freeze_count() > 0
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_same_summary_with_and_without_the_policy():
    loaded = load_scenario(LAB, ["duration=70 min", "operators.dns_manual_repair.at=+60 min",
                                 "expect=[]"])  # fmt: skip
    summaries = []
    for policy in (True, False):
        prep = prepare(loaded, 3)
        if policy:
            with run_gc_policy():
                prep.env.run(until=loaded.model.duration)
        else:
            prep.env.run(until=loaded.model.duration)
        summaries.append(build_summary(evaluate(prep, loaded.model.duration)))
    assert summaries[0] == summaries[1]
    assert summaries[0]["milestones"]["dns_record_empty"] is not None
