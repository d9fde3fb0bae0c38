"""The debrief: historical actions at historical times score like the historical run; acting
earlier scores better; each action is judged by re-running without it."""

from __future__ import annotations

import json
import shlex

import pytest

from simulation.runner import simulate
from simulation.training.debrief import build_debrief, markdown, replay
from simulation.training.engine import DrillSetup
from simulation.training.impact import matching, stopped_growing

from .conftest import DRILL, ROOT, drive, minutes

REFERENCE = ROOT / "scenarios/aws-us-east-1-2025-10-20.yaml"
PIN = "do pin_endpoint services=[sts]"
REPAIR = "do dns_manual_repair disable_automation=true"
HISTORICAL = [(minutes(135), PIN), (minutes(205), REPAIR)]


def debrief(commands, counterfactuals=6, **kw):
    engine = drive(commands, **kw)
    result = engine.finish()
    _, historical = DrillSetup(DRILL).load()
    return build_debrief(engine, result, historical, counterfactuals=counterfactuals)


def test_historical_actions_at_historical_times_score_like_the_historical_run():
    d = debrief(HISTORICAL)
    s = d["score"]
    assert s["impact"]["you"] == s["impact"]["historical"] == pytest.approx(504.3)
    assert s["impact"]["ratio_to_historical"] == 1.0
    assert all(f["you"] == f["historical"] for f in d["figures"])
    assert all(m["you"] == m["historical"] for m in d["milestones"])
    assert [a["effect"] for a in d["actions"]] == ["helped", "helped"]
    assert s["you"]["mitigating_action"] == REPAIR
    assert s["you"]["time_to_mitigate"] == s["historical"]["time_to_mitigate"] == "2 h 35 min"
    assert s["you"]["impact_stopped_growing"] == s["historical"]["impact_stopped_growing"]
    assert "the same as the historical run (504.3)" in markdown(d)


def test_repairing_earlier_scores_better_and_the_debrief_times_each_phase():
    d = debrief(
        [
            (minutes(55), "ack all"),
            (minutes(55), "deps lambda"),  # a look, but not at the root cause
            (minutes(60), "resolve dynamodb.us-east-1.amazonaws.com"),
            (minutes(75), PIN),
            (minutes(85), REPAIR),
        ]
    )
    s = d["score"]
    assert s["first_alert"] == "2025-10-19T23:50:00-07:00"
    assert s["you"]["time_to_detect"] == "5 min"
    assert s["you"]["time_to_diagnose"] == "10 min"  # the resolve asks region.dynamodb_dns.route53
    assert s["you"]["time_to_mitigate"] == "35 min"
    assert s["you"]["mitigating_action"] == REPAIR
    # clients recover as cached negative answers (15 min) expire after the repair
    stop = s["you"]["impact_stopped_growing"]
    assert "2025-10-20T00:25:00-07:00" < stop <= "2025-10-20T00:41:00-07:00"
    assert s["impact"]["you"] < s["impact"]["historical"] / 3
    assert s["impact"]["historical"] < s["impact"]["nobody_acting"]
    repair = next(a for a in d["actions"] if a["command"] == REPAIR)
    # two hours earlier than history: the saving is about 2 h of errors of 4 series
    assert repair["effect"] == "helped" and repair["saved"] > 300


def test_each_action_is_judged_helped_hurt_or_no_effect_within_the_bound():
    d = debrief(
        [
            (minutes(20), "do dns_automation_enable"),  # already on: nothing happens
            (minutes(75), PIN),
            (minutes(95), "do pin_endpoint services=[sts] pinned=false"),  # undoes the pin
            (minutes(205), REPAIR),
        ],
        counterfactuals=3,
    )
    effects = [(a["command"].split()[1], a["effect"]) for a in d["actions"]]
    assert effects == [
        ("dns_automation_enable", "no effect"),
        ("pin_endpoint", "helped"),
        ("pin_endpoint", "hurt"),
        ("dns_manual_repair", "not judged (bound)"),
    ]
    unpin = d["actions"][2]
    # STS and sign-in fail again from the unpin (00:35) to their recovery after the repair (02:35)
    assert unpin["saved"] == pytest.approx(-2 * 120, abs=2)
    # with no counterfactual for the repair, the last action before the impact stopped counts
    assert d["score"]["you"]["mitigating_action"] == REPAIR


def test_the_debrief_is_deterministic():
    a = json.dumps(debrief(HISTORICAL[:1], counterfactuals=1), sort_keys=True)
    b = json.dumps(debrief(HISTORICAL[:1], counterfactuals=1), sort_keys=True)
    assert a == b


def test_impact_stops_growing_at_the_first_flat_point():
    times = [60.0, 120.0, 180.0, 240.0]
    assert stopped_growing(times, [1, 2, 3, 3], 0.05) == 180.0
    assert stopped_growing(times, [1, 2, 3, 4], 0.05) is None  # still growing at the end
    assert stopped_growing(times, [0, 0, 0, 0], 0.05) is None  # never grew
    assert stopped_growing(times, [5, 5, 5, 5], 0.05) == 60.0


# -- the reference scenario (written by others; these run once it exists) ----------------------


def _timed_entries(loaded):
    return [(i, e) for i, e in enumerate(loaded.model.operators) if e.enabled and e.at is not None]


def _typed(entry) -> str:
    words = ["do", entry.action]
    if entry.target is not None:
        words.append("@" + entry.target)
    words += [shlex.quote(f"{k}={json.dumps(v)}") for k, v in entry.params.items()]
    return " ".join(words)


def _drill_reference(shift: dict[int, float] | None = None):
    """The reference scenario drilled: its timed operator actions typed by the trainee (moved by
    `shift` seconds per entry index), its conditional ones kept as other teams'."""
    from simulation.scenario.load import load_scenario

    plain = load_scenario(REFERENCE)
    inputs = DrillSetup(REFERENCE).kept(plain)  # the fault's own entries stay scenario inputs
    timed = [(i, e) for i, e in _timed_entries(plain) if e.key not in inputs]
    off = tuple(f"operators.{i}.enabled=false" for i, _ in timed)
    drilled, _ = DrillSetup(REFERENCE, keep_operators=True, overrides=off).load()
    commands = sorted(  # by time; entries at the same time keep their order in the file
        ((plain.instant(e.at) + (shift or {}).get(i, 0.0), _typed(e)) for i, e in timed),
        key=lambda c: c[0],
    )
    return replay(drilled, None, commands), plain, drilled


def _patterns(loaded) -> list[str]:
    drill = getattr(loaded.model, "drill", None)
    return (
        list(drill.impact) if drill is not None else ["*.error_minutes", "*.client_error_minutes"]
    )


@pytest.mark.skipif(
    not REFERENCE.exists(), reason="scenarios/aws-us-east-1-2025-10-20.yaml does not exist yet"
)
def test_reference_historical_actions_score_like_the_historical_run():
    trainee, historical, drilled = _drill_reference()
    hist = simulate(historical)
    patterns = _patterns(drilled)
    assert matching(trainee.impact, patterns) == matching(hist.impact, patterns)
    assert trainee.milestones == hist.milestones


@pytest.mark.skipif(
    not REFERENCE.exists(), reason="scenarios/aws-us-east-1-2025-10-20.yaml does not exist yet"
)
def test_reference_restarting_dwfm_an_hour_earlier_shows_less_ec2_impact():
    from simulation.scenario.load import load_scenario

    plain = load_scenario(REFERENCE)
    entries = _timed_entries(plain)
    restarts = [
        e.at
        for _, e in entries
        if "dwfm" in f"{e.key} {e.action}".lower() and "restart" in f"{e.key} {e.action}".lower()
    ]
    if not restarts:
        pytest.skip("the reference scenario has no timed DWFM restart action")
    # the restart and what goes with it (the DWFM throttle at the same time), an hour earlier
    moved = [i for i, e in entries if e.at in restarts and "dwfm" in f"{e.key} {e.action}".lower()]
    base, _, _ = _drill_reference()
    early, _, _ = _drill_reference({i: -3600.0 for i in moved})
    # the restart governs the leases; launch errors last until the throttles are relaxed, an
    # input of its own (11:23), so they do not move with it
    assert _lease_hours(early) < _lease_hours(base) - 50_000  # ~10^5 droplets x ~1 h
    assert _launch_minutes(early) <= _launch_minutes(base)


def _lease_hours(result) -> float:
    """Droplet-hours without a DWFM lease (EC2's impact)."""
    return sum(matching(result.impact, ["ec2.lease_lost_droplet_hours"]).values())


def _launch_minutes(result) -> float:
    """EC2's launch error minutes."""
    return sum(matching(result.impact, ["ec2.*error_minutes"]).values())
