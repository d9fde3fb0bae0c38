"""The `drill:` section: alerts follow the levels they watch, hints follow difficulty and what the
trainee typed, bad input is a located error."""

from __future__ import annotations

import pytest

from simulation.core import ScenarioError
from simulation.runner import prepare, simulate
from simulation.scenario.load import load_scenario
from simulation.training.engine import DrillSetup, Engine

from .conftest import DRILL, drive, minutes


def _alerts(events, kind="alert"):
    return [
        (t, d.split(" ")[1] if kind == "alert" else d.split(" ")[0])
        for t, _, k, d in events
        if k == kind
    ]


def test_alerts_fire_after_the_watched_level_crosses_and_resolve_after_recovery():
    r = simulate(load_scenario(DRILL))
    events = r.env.recorder.events
    fired = dict((name, t) for t, name in reversed(_alerts(events)))
    resolved = dict((name, t) for t, name in reversed(_alerts(events, "alert_resolved")))
    failing = r.milestones["dns_client_failures_start"]
    # sustained 1 min, checked every 30 s: fires at the first check >= 60 s after the crossing
    # (200 clients fail within one 60 s TTL, so >10 fail well within that)
    assert failing + 60 <= fired["dynamodb_client_errors"] <= failing + 60 + 60 + 30
    assert r.milestones["dns_clients_recovered"] <= resolved["dynamodb_client_errors"]
    assert resolved["dynamodb_client_errors"] <= r.milestones["dns_clients_recovered"] + 30
    # the ticket needs 2 min of errors; STS resolves at the 01:15 pin, sign-in with it
    assert fired["signin_errors"] >= fired["sts_errors"] + 30
    assert resolved["sts_errors"] == pytest.approx(minutes(135), abs=30)
    stats = r.statistics["region.drill"]["alerts"]
    assert stats["dynamodb_client_errors"]["times_fired"] == 1
    assert stats["lambda_errors"]["first_fired"] == "2025-10-19T23:50:00-07:00"
    assert r.env.recorder.events_of("hint") == [], "hints are off by default (difficulty none)"


def test_moving_the_repair_moves_the_resolution_of_the_page():
    def resolved_at(repair: str) -> float:
        r = simulate(load_scenario(DRILL, [f"operators.dns_manual_repair.at={repair}"]))
        return next(
            t for t, n in _alerts(r.env.recorder.events, "alert_resolved") if n == "lambda_errors"
        )

    shift = resolved_at("+265 min") - resolved_at("+205 min")
    assert shift == pytest.approx(3600, abs=15 * 60 + 30)  # within a negative TTL + one check


def _hints(engine):
    return [d for _, _, k, d in engine.env.recorder.events if k == "hint"]


@pytest.mark.parametrize(
    ("hints", "levels"), [("none", set()), ("nudges", {"nudge"}), ("guided", {"nudge", "guide"})]
)
def test_hints_are_recorded_at_the_difficulty_asked(hints, levels):
    engine = drive([], hints=hints)
    engine.advance_to(minutes(150))
    shown = {d.split("]")[0].strip("[") for d in _hints(engine)}
    assert shown == levels
    if hints == "guided":
        assert len(_hints(engine)) == 6


def test_a_hint_is_not_shown_when_the_trainee_already_did_what_it_suggests():
    # the guide "resolve the endpoint" is due 5 min after the first page (23:55): resolving at
    # 23:52 removes it, and the nudge "they never get an address" (due 00:15) too
    engine = drive([(minutes(52), "resolve dynamodb.us-east-1.amazonaws.com")], hints="guided")
    engine.advance_to(minutes(150))
    texts = " ".join(_hints(engine))
    assert "Resolve the endpoint" not in texts and "never get an address" not in texts
    assert "Who writes it?" in texts
    late = drive([(minutes(56), "resolve dynamodb.us-east-1.amazonaws.com")], hints="guided")
    late.advance_to(minutes(150))
    assert "Resolve the endpoint" in " ".join(_hints(late))


def _problem(tmp_path, drill_yaml: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: {DRILL}\n{drill_yaml}")
    with pytest.raises(ScenarioError) as err:
        Engine(DrillSetup(path).load()[0])
    return str(err.value)


def test_an_alert_on_an_unknown_component_or_level_is_a_located_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = _problem(
        tmp_path,
        "drill:\n  alerts:\n    - {name: a, level: 'region.servics.lambda:error_rate', above: 1}\n"
        "    - {name: b, level: 'region.services.lambda:eror_rate', above: 1}\n",
    )
    # the drill's alerts merge with the base's four by name: these are the 5th and 6th
    assert msg.splitlines() == [
        "bad.yaml:4:24: drill.alerts[4].level: no component 'region.servics.lambda' in this "
        "scenario (top-level components: region.dynamodb_dns, region.services)",
        "bad.yaml:5:24: drill.alerts[5].level: component 'region.services.lambda' records no "
        "level 'eror_rate' (its levels: error_rate, health)",
    ]


def test_the_same_problem_through_a_plain_run_names_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: {DRILL}\ndrill:\n  root_cause: region.dns\n")
    with pytest.raises(ScenarioError) as err:
        prepare(load_scenario(path))
    assert str(err.value) == (
        "bad.yaml:3:15: drill.root_cause: no component 'region.dns' in this scenario "
        "(top-level components: "
        "region.dynamodb_dns, region.services)"
    )


@pytest.mark.parametrize(
    ("drill_yaml", "message"),
    [
        (
            "drill:\n  alerts: [{name: a, level: 'region.services.lambda:error_rate'}]\n",
            "bad.yaml:3:12: drill.alerts[4]: an alert needs exactly one of 'above' or 'below'",
        ),
        (
            "drill:\n  alerts: [{name: a, level: region.services.lambda, above: 1}]\n",
            "bad.yaml:3:29: drill.alerts[4].level: level 'region.services.lambda' must be "
            "written as 'scope:metric'",
        ),
        (
            "drill:\n  hints: [{text: hi, after_alert: pager}]\n",
            "bad.yaml:3:3: drill: hint after unknown alert 'pager' (alerts: "
            "dynamodb_client_errors, lambda_errors, sts_errors, signin_errors)",
        ),
        (
            "drill:\n  difficulty: hard\n",
            "bad.yaml:3:15: drill.difficulty: expected one of 'none', 'nudges' or 'guided', "
            "got 'hard'",
        ),
        ("drill:\n  step: 0 s\n", "bad.yaml:3:3: drill: step must be positive"),
    ],
)
def test_bad_drill_keys_are_located(tmp_path, monkeypatch, drill_yaml, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: {DRILL}\n{drill_yaml}")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value) == message
