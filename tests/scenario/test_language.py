"""extends, --set, named-entry merging, conditional actions, the scenario as run."""

from __future__ import annotations

import pytest

from simulation.runner import simulate
from simulation.scenario.load import display_path, load_scenario

pytestmark = pytest.mark.usefixtures("toy_registry")

BASE = """\
title: Base
seed: 3
start: "2025-10-19T23:00:00-07:00"
duration: "1 h"
toy:
  count: 2
  interval: "1 min"
operators:
  - name: big_bump
    action: bump
    at: "+30 min"
    params: {by: 100}
  - name: small_bump
    action: bump
    at: "+10 min"
expect:
  - name: reached
    milestone: counter_reached
    at: "+6 min"
    tolerance: "3 min"
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    return tmp_path


def test_extends_overrides_keys_and_merges_named_entries(files):
    (files / "variant.yaml").write_text(
        "extends: base.yaml\ntitle: Variant\ntoy: {count: 5}\n"
        "operators:\n  - name: big_bump\n    at: '+45 min'\n  - name: small_bump\n    enabled: false\n"
        "  - name: extra\n    action: bump\n    at: '+50 min'\n"
    )
    s = load_scenario("variant.yaml")
    m = s.model
    assert m.title == "Variant" and m.seed == 3
    assert m.toy.count == 5 and m.toy.interval == 60.0  # inherited
    assert [(a.key, a.at, a.enabled) for a in m.operators] == [
        ("big_bump", "+45 min", True),
        ("small_bump", "+10 min", False),
        ("extra", "+50 min", True),
    ]
    assert m.operators[0].params == {"by": 100}
    assert [display_path(p) for p in s.chain] == ["variant.yaml", "base.yaml"]
    assert "extends" not in s.document


def test_extends_error_is_located_in_the_file_that_wrote_the_key(files):
    (files / "variant.yaml").write_text("extends: base.yaml\ntoy:\n  count: -1\n")
    with pytest.raises(Exception) as err:
        load_scenario("variant.yaml")
    assert str(err.value) == "variant.yaml:3:10: toy.count: expected a positive integer, got -1"


def test_set_overrides_use_yaml_scalars_and_named_entries(files):
    s = load_scenario(
        "base.yaml",
        ["seed=9", "toy.interval=30 s", "operators.big_bump.at=+20 min", "operators.1.params.by=7"],
    )
    m = s.model
    assert m.seed == 9 and m.toy.interval == 30.0
    assert m.operators[0].at == "+20 min"
    assert m.operators[1].params == {"by": 7}


def test_moving_an_action_moves_its_effect(files):
    early = simulate(load_scenario("base.yaml", ["operators.big_bump.at=+5 min"]))
    late = simulate(load_scenario("base.yaml"))
    assert early.statistics["region.toy"]["final"] == late.statistics["region.toy"]["final"]
    # ticks alone reach ~60 in 30 min: the counter first passes 100 at the bump, wherever it is
    a = early.env.recorder.levels[("region.toy", "value")].first_time(lambda v: v >= 100)
    b = late.env.recorder.levels[("region.toy", "value")].first_time(lambda v: v >= 100)
    assert a == 300 and b == 1800


def test_removing_an_action_removes_its_effect(files):
    with_it = simulate(load_scenario("base.yaml"))
    without = simulate(load_scenario("base.yaml", ["operators.big_bump.enabled=false"]))
    assert (
        with_it.statistics["region.toy"]["final"] - without.statistics["region.toy"]["final"] == 100
    )
    assert [a["name"] for a in without.operator_actions] == ["small_bump"]


def test_conditional_action_on_a_level(files):
    s = load_scenario(
        "base.yaml",
        [
            "operators.big_bump.at=null",
            "operators.big_bump.when={level: 'region.toy:value', above: 20, check_every: '10 s'}",
        ],
    )
    r = simulate(s)
    big = [a for a in r.operator_actions if a["name"] == "big_bump"]
    crossing = r.env.recorder.levels[("region.toy", "value")].first_time(lambda v: v > 20)
    assert len(big) == 1
    performed = r.env.clock.to_sim(__import__("datetime").datetime.fromisoformat(big[0]["time"]))
    assert crossing <= performed < crossing + 10 + 1


def test_conditional_action_on_an_event(files):
    s = load_scenario(
        "base.yaml",
        [
            "operators.big_bump.at=null",
            "operators.big_bump.when={event: 'region.toy:tick', delay: '2 min', check_every: '1 s'}",
        ],
    )
    r = simulate(s)
    first_tick = next(e[0] for e in r.env.recorder.events if e[2] == "tick")
    big = [e for e in r.env.recorder.events if e[2] == "operator_action" and "big_bump" in e[3]]
    assert first_tick + 120 <= big[0][0] <= first_tick + 121


def test_expectations_ok_and_deviated(files):
    ok = simulate(load_scenario("base.yaml"))
    assert ok.status == "ok"
    bad = simulate(load_scenario("base.yaml", ["expect.reached.at=+50 min"]))
    assert bad.status == "deviated"
    row = bad.expectations[0]
    assert row["ok"] is False and row["expected"] == "2025-10-19T23:50:00-07:00"


def test_statistic_expectation_missing_key_is_reported(files):
    s = load_scenario("base.yaml", ["expect=[{name: s, statistic: region.toy.nope, min: 1}]"])
    r = simulate(s)
    assert r.status == "deviated"
    assert r.expectations[0]["problem"] == "no statistic 'region.toy.nope' in this run"


def test_keys_are_names_even_when_yaml_1_1_would_read_a_boolean(tmp_path):
    from simulation.scenario.yamlsource import parse_yaml

    data = parse_yaml("on: yes\nno: 1\n2: off\n", "x.yaml")
    assert data == {"on": True, "no": 1, "2": False}


def test_condition_defaults_with_units_are_parsed(files):
    s = load_scenario(
        "base.yaml",
        [
            "operators.big_bump.at=null",
            "operators.big_bump.when={level: 'region.toy:value', above: 20}",
        ],
    )
    assert s.model.operators[0].when.check_every == 60.0
    r = simulate(s)
    assert [a["name"] for a in r.operator_actions].count("big_bump") == 1


def test_note_records_a_published_input_that_changes_nothing(files):
    with_note = simulate(
        load_scenario(
            "base.yaml",
            ["operators.diagnosed={name: diagnosed, action: note, at: '+20 min', note: 'DNS'}"],
        )
    )
    without = simulate(load_scenario("base.yaml"))
    assert with_note.statistics == without.statistics
    assert with_note.milestones == without.milestones
    row = next(a for a in with_note.operator_actions if a["name"] == "diagnosed")
    assert row == {
        "name": "diagnosed",
        "action": "note",
        "target": "",
        "note": "DNS",
        "time": "2025-10-19T23:20:00-07:00",
    }
    assert any(
        e[2] == "operator_action" and e[3] == "diagnosed: note (DNS)"
        for e in with_note.env.recorder.events
    )


def test_a_disabled_action_outside_the_window_is_not_an_error(files):
    s = load_scenario("base.yaml", ["duration=20 min", "operators.big_bump.enabled=false"])
    assert [a.enabled for a in s.model.operators] == [False, True]
