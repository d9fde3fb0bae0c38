"""The DNS automation in simulated time: the race emerges from injected slowness, the fix prevents
it, clients fail and recover as their positive and negative TTLs say, operators repair it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pydantic
import pytest
import yaml

from simulation.core import Component, Results, SimEnv
from simulation.subsystems.dynamodb_dns import Config, DynamoDbDns, RepairParams, build

START = datetime(2025, 10, 19, 23, 0, tzinfo=timezone(timedelta(hours=-7)))
REGIONAL = "dynamodb.us-east-1.amazonaws.com"
YAML = Path(__file__).parents[2] / "scenarios" / "labs" / "dns-race.yaml"


def slow(start_min: float, minutes: float = 15, **more) -> dict:
    return {
        "enactor": "az1",
        "start": f"{start_min} min",
        "duration": f"{minutes} min",
        "endpoints": [REGIONAL],
        **more,
    }


RACY = {"enactors": {"transaction_time": "10 s"}}
"""Enactors busy enough that one of them is usually between its regional apply and clean-up."""


def simulate(seconds: float, seed: int = 1, repair_at: float | None = None, **cfg):
    env = SimEnv(START, seed)
    comp = build(Component(env, "region"), Config(**cfg))
    if repair_at is not None:

        def repair():
            yield env.timeout(repair_at)
            comp.actions()[0].run(RepairParams())

        env.process(repair())
    env.run(seconds)
    results = Results(env, seconds)
    milestones = {name: fn(results) for name, fn in comp.detectors().items()}
    return comp, env, results, milestones


def test_the_scenario_file_validates():
    doc = yaml.safe_load(YAML.read_text())
    config = Config(**doc["dynamodb_dns"])
    assert config.slowness[0].enactor == "az1"
    assert [o["action"] for o in doc["operators"]] == ["dns_manual_repair"]


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"regional_endpoint": "ddb.example.com"}, "regional_endpoint: 'ddb.example.com' is not"),
        ({"endpoints": ["dynamodb.example.com"]}, "'dynamodb.example.com' is not in the zone"),
        ({"slowness": [{"enactor": "az9"}]}, "slowness[0].enactor: unknown Enactor 'az9'"),
        ({"slowness": [{"endpoints": ["x.us-east-1.amazonaws.com"]}]}, "slowness[0].endpoints"),
        ({"clients": {"count": 10, "colour": "red"}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_configuration_is_refused_with_its_reason(cfg, message):
    with pytest.raises(pydantic.ValidationError) as err:
        Config(**cfg)
    assert message in str(err.value)


def test_no_slowness_no_empty_record_in_24_hours():
    comp, _env, results, milestones = simulate(24 * 3600, seed=2)
    assert milestones == dict.fromkeys(milestones)  # every milestone None
    stats = comp.statistics(results)
    assert stats["plans_generated"] > 1300
    assert stats["enactor_runs_failed"] == 0 and stats["active_plans_deleted"] == 0
    assert stats["client_failure_s"] == 0
    assert min(comp.regional_addresses.values) == 8  # 4 load balancers x 2 addresses


@pytest.mark.parametrize("window_start", [30, 75])
def test_the_race_follows_the_slowness_window(window_start):
    """Move the window and the empty record moves with it; remove it and there is none."""
    end = (window_start + 15) * 60
    empties = []
    for seed in range(1, 11):
        _c, _e, _r, m = simulate(end + 600, seed, slowness=[slow(window_start)], **RACY)
        if m["dns_record_empty"] is not None:
            empties.append(m["dns_record_empty"])
        _c, _e, _r, control = simulate(end + 600, seed, **RACY)
        assert control["dns_record_empty"] is None
    assert len(empties) >= 4
    # the delayed Enactor gets through when the window ends (within one back-off cap and a
    # transaction); the race needs another Enactor's clean-up in the next moments
    assert all(end < t < end + 180 for t in empties), [t - end for t in empties]


def test_slowness_shorter_than_the_cleanup_threshold_never_races():
    # 5 generations at ~1 plan/min: a 3-minute delay leaves the stale plan too young to delete
    for seed in range(1, 11):
        _c, _e, _r, m = simulate(50 * 60, seed, slowness=[slow(30, 3)], **RACY)
        assert m["dns_record_empty"] is None


def test_the_fix_switches_prevent_the_race_in_every_seed():
    fixed = {"apply_version_check": True, "cleanup_protects_active": True}
    superseded = 0
    for seed in range(1, 16):
        comp, _e, results, m = simulate(
            70 * 60, seed, slowness=[slow(30, 20), slow(30, 20, enactor="az2")], **RACY, **fixed
        )
        assert m["dns_record_empty"] is None
        assert comp.statistics(results)["stale_applies"] == 0
        superseded += sum(e.counts["superseded"] for e in comp.enactors)
    assert superseded > 0  # the delayed Enactors did come back with stale plans, and skipped


def racing_seed() -> int:
    for seed in range(1, 20):
        _c, _e, _r, m = simulate(50 * 60, seed, slowness=[slow(30)], clients={"count": 0}, **RACY)
        if m["dns_record_empty"] is not None:
            return seed
    raise AssertionError("no seed races")


def test_every_later_run_fails_until_the_manual_repair():
    seed, repair = racing_seed(), 90 * 60
    comp, env, _results, m = simulate(2 * 3600, seed, repair, slowness=[slow(30)], **RACY)
    empty = m["dns_record_empty"]
    assert empty is not None and m["dns_restored"] == repair
    failed = [t for t, s, k, _ in env.recorder.events if k == "enactor_run_failed"]
    assert failed and all(empty < t < repair + 30 for t in failed)
    # every Enactor keeps trying and failing while the record is empty
    runs_between = [
        t
        for t, s, k, d in env.recorder.events
        if k == "enactor_run_failed" and empty + 600 < t < repair
    ]
    assert len(runs_between) >= 3 * 60 * 0.5  # 3 Enactors, ~1 plan/min, for 60 minutes
    # after the repair the automation works again (not disabled here): the record stays
    level = comp.regional_addresses
    assert level.first_time(lambda v: v == 0, after=repair) is None
    assert comp.regional_generation.current > comp.regional_generation.value_at(repair)


@pytest.mark.parametrize("ttl", [60, 150])
def test_client_failures_start_as_positive_answers_expire(ttl):
    seed = racing_seed()
    cfg = dict(RACY, record_ttl=f"{ttl} s", clients={"count": 200, "request_rate": None})
    comp, _env, _r, m = simulate(50 * 60, seed, slowness=[slow(30)], **cfg)
    empty = m["dns_record_empty"]
    served = empty + 15  # propagation delay
    level = comp.clients.failing
    first = m["dns_client_failures_start"]
    everyone = level.first_time(lambda v: v == 200)
    assert served <= first < served + ttl / 20  # 200 clients spread over one TTL
    assert served + ttl * 0.9 < everyone <= served + ttl


@pytest.mark.parametrize(("soa_ttl", "minimum", "negative"), [(900, 86400, 900), (900, 240, 240)])
def test_recovery_after_repair_follows_the_negative_ttl(soa_ttl, minimum, negative):
    seed, repair = racing_seed(), 100 * 60
    cfg = dict(
        RACY,
        soa_ttl=f"{soa_ttl} s",
        soa_minimum=f"{minimum} s",
        clients={"count": 200, "request_rate": None},
    )
    comp, _e, _r, m = simulate(repair + 1200, seed, repair, slowness=[slow(30)], **cfg)
    served = repair + 15
    recovered = m["dns_clients_recovered"]
    assert served < recovered <= served + negative
    # every failing client re-asks once per negative TTL, so the failing count falls to zero
    # within one negative TTL of the repair, and not before the repair is served
    level = comp.clients.failing
    assert level.value_at(served - 1) == 200
    assert m["dns_restored"] == repair


def test_disable_and_enable_the_automation():
    env = SimEnv(START, 4)
    comp: DynamoDbDns = build(Component(env, "region"), Config(clients={"count": 0}))
    actions = {a.name: a for a in comp.actions()}
    assert set(actions) == {
        "dns_manual_repair",
        "dns_automation_disable",
        "dns_automation_enable",
        "dns_break_endpoint",
    }
    env.run(600)
    actions["dns_automation_disable"].run(actions["dns_automation_disable"].params())
    generation, commits = comp.planner.latest, comp.route53.commits
    env.run(1800)
    assert comp.planner.latest == generation
    assert comp.route53.commits <= commits + 3  # transactions in flight still commit
    actions["dns_automation_enable"].run(actions["dns_automation_enable"].params())
    env.run(2400)
    assert comp.planner.latest > generation + 5
    assert comp.regional_generation.current > generation


def test_a_resolver_for_other_subsystems():
    env = SimEnv(START, 1)
    comp = build(Component(env, "region"), Config(clients={"count": 0}))
    resolver = comp.resolver()
    answer = resolver.resolve(REGIONAL)
    assert answer.ok and len(answer.addresses) == 2 and answer.expires == 60
    assert answer.response.question[0].name.to_text() == REGIONAL + "."


def test_same_seed_same_run():
    def events(seed):
        _c, env, _r, _m = simulate(3600, seed, slowness=[slow(20)], **RACY)
        return env.recorder.events, env.recorder.levels[
            ("region.dynamodb_dns", "regional_generation")
        ].values

    assert events(3) == events(3)
    assert events(3) != events(4)


def test_the_lab_scenario_runs_through_the_runner():
    from simulation.runner import simulate as run_scenario
    from simulation.scenario.load import load_scenario

    result = run_scenario(load_scenario(YAML))
    assert result.status == "ok", result.expectations
    m = result.milestones
    assert m["dns_record_empty"] < m["dns_client_failures_start"] < m["dns_restored"]
    assert m["dns_restored"] < m["dns_clients_recovered"] <= m["dns_restored"] + 15 + 900
    # the shorter negative TTL moves the recovery edge with it
    short = run_scenario(load_scenario(YAML, ['dynamodb_dns.soa_ttl="300 s"'])).milestones
    assert short["dns_restored"] < short["dns_clients_recovered"] <= short["dns_restored"] + 315


def test_planner_bursts_and_history():
    burst = {"start": "20 min", "duration": "10 min", "interval": "10 s"}
    comp, _env, _r, m = simulate(
        40 * 60, 2, planner={"bursts": [burst]}, clients={"count": 0}, **RACY
    )
    level = comp.planner.generation
    in_burst = level.value_at(30 * 60) - level.value_at(20 * 60)
    outside = level.value_at(20 * 60) - level.value_at(10 * 60)
    assert 45 <= in_burst <= 75 and 7 <= outside <= 13  # 600 s / 10 s vs 600 s / 60 s
    assert sorted(comp.planner.history) == list(range(1, comp.planner.latest + 1))
    assert m["dns_record_empty"] is None  # a burst alone: Enactors just skip generations
