"""`dns_break_endpoint`: the DynamoDB DNS outage at a chosen time, without relying on the race.

It deletes the regional endpoint's active plan records, as the race's clean-up does, so the
name resolves to no addresses, every later Enactor apply is refused, and only the manual repair
brings it back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from simulation.core import Component, Results, SimEnv
from simulation.primitives.dns import name
from simulation.subsystems.dynamodb_dns import Config, DynamoDbDns, RepairParams, build

START = datetime(2025, 10, 20, 6, 0, tzinfo=UTC)
REGIONAL = name("dynamodb.us-east-1.amazonaws.com")


def action(comp: DynamoDbDns, which: str):
    return next(a for a in comp.actions() if a.name == which)


def run(until: float, schedule: list[tuple[float, str]], **cfg):
    env = SimEnv(START, 3)
    comp = build(Component(env, "region"), Config(**{"clients": {"count": 20}, **cfg}))
    resolver = comp.resolver()
    answers: list[tuple[float, bool]] = []

    def probe():
        while True:
            answers.append((env.now, resolver.refresh(REGIONAL).ok))
            yield env.timeout(30)

    env.process(probe())
    for t, which in schedule:
        params = RepairParams() if which == "dns_manual_repair" else None
        env.timeout(t).callbacks.append(lambda _e, w=which, p=params: action(comp, w).run(p))
    env.run(until)
    results = Results(env, until)
    return comp, env, {k: fn(results) for k, fn in comp.detectors().items()}, answers


def test_the_record_empties_at_the_chosen_time_and_stays_empty_until_the_repair():
    _comp, env, m, answers = run(
        3 * 3600, [(1800, "dns_break_endpoint"), (7200, "dns_manual_repair")]
    )
    assert m["dns_record_empty"] == 1800
    assert m["dns_restored"] == 7200
    served = 15.0  # name servers lag the change API by propagation_delay
    assert all(ok for t, ok in answers if t < 1800 + served)
    assert not any(ok for t, ok in answers if 1800 + served < t < 7200 + served)
    assert all(ok for t, ok in answers if t > 7200 + served)
    failed = [t for t, _s, k, _d in env.recorder.events if k == "enactor_run_failed"]
    assert failed and all(1800 < t < 7200 + 60 for t in failed)
    # clients fail as their cached answers expire and recover as negative answers expire
    assert 1800 <= m["dns_client_failures_start"] <= 1800 + served + 60
    assert 7200 < m["dns_clients_recovered"] <= 7200 + served + 900


def test_breaking_twice_is_harmless_and_moving_it_moves_the_outage():
    _c, env, m, _a = run(2 * 3600, [(2400, "dns_break_endpoint"), (2500, "dns_break_endpoint")])
    assert m["dns_record_empty"] == 2400 and m["dns_restored"] is None
    details = [d for _t, _s, k, d in env.recorder.events if k == "dns_break_endpoint"]
    assert len(details) == 2 and "has no records already" in details[1]


def test_the_action_is_offered_without_parameters():
    env = SimEnv(START, 1)
    comp = build(Component(env, "region"), Config())
    act = action(comp, "dns_break_endpoint")
    assert act.params.model_fields == {}
    assert "until `dns_manual_repair`" in act.doc
