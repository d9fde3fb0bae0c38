"""Services: health follows dependencies through their mechanisms; milestones over groups."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from simulation.core import Component, ScenarioError, SimEnv
from simulation.runner import simulate
from simulation.scenario.load import load_scenario
from simulation.subsystems.services import Config, Dependency, Services

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scenarios/labs/dns-race.yaml"

SERVICES = f"""\
extends: {LAB}
services:
  evaluate_every: "30 s"
  services:
    - name: lambda
      depends_on: [{{on: dynamodb, via: name_resolution, clients: 30}}]
    - name: sts
      depends_on: [{{on: dynamodb, via: name_resolution, clients: 30}}]
    - name: console_signin
      attempts: 2
      depends_on: [{{on: sts, via: calls}}]
  milestones:
    - {{name: lambda_sts_iam_errors_start, first_errors_of: [lambda, sts, console_signin]}}
    - {{name: services_recovered, all_recovered: all}}
"""


@pytest.fixture
def scenario(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SERVICES)
    return tmp_path / "s.yaml"


def run(path, *overrides):
    return simulate(load_scenario(path, list(overrides)))


def test_name_resolution_errors_follow_the_dns_outage_and_its_ttls(scenario):
    r = run(scenario)
    m = r.milestones
    # errors start once the first client's cached answer expires (<= one 60 s TTL after the
    # record empties) and are seen at the next 30 s sample
    assert m["dns_record_empty"] < m["lambda_sts_iam_errors_start"]
    assert m["lambda_sts_iam_errors_start"] <= m["dns_record_empty"] + 60 + 30 + 15
    # recovery after the repair: bounded by the negative TTL (900 s) plus one sample
    assert m["dns_restored"] < m["services_recovered"] <= m["dns_restored"] + 900 + 30 + 15
    impact = r.impact["services"]
    assert impact["lambda"]["peak_error_rate"] == 1.0
    assert impact["console_signin"]["windows"], "a caller of a failed service fails too"


def test_moving_the_repair_moves_recovery(scenario):
    early = run(scenario, "duration=6 h")
    late = run(scenario, "duration=6 h", "operators.dns_manual_repair.at=2025-10-20T02:55:00-07:00")
    shift = late.milestones["services_recovered"] - early.milestones["services_recovered"]
    assert 30 * 60 - 15 * 60 <= shift <= 30 * 60 + 15 * 60
    assert (
        late.impact["services"]["lambda"]["error_minutes"]
        > early.impact["services"]["lambda"]["error_minutes"]
    )


def test_pinning_an_endpoint_recovers_only_the_pinned_service(scenario):
    r = run(
        scenario,
        "operators=[{action: pin_endpoint, at: '2025-10-20T01:15:00-07:00', "
        "params: {services: [sts]}}, {name: dns_manual_repair, action: dns_manual_repair, "
        "at: '2025-10-20T02:25:00-07:00', params: {disable_automation: true}}]",
    )
    sts = r.impact["services"]["sts"]["windows"]
    lam = r.impact["services"]["lambda"]["windows"]
    assert sts[0][1] <= "2025-10-20T01:15:30-07:00"
    assert lam[0][1] > "2025-10-20T02:25:00-07:00"


def test_pinning_an_unknown_service_is_a_located_error(scenario):
    with pytest.raises(ScenarioError) as err:
        from simulation.runner import prepare

        prepare(
            load_scenario(
                scenario,
                ["operators=[{action: pin_endpoint, at: '+2 h', params: {services: [stss]}}]"],
            )
        )
    assert str(err.value) == (
        "--set operators=[{action: pin_endpoint, at: '+2 h', params: {services: [stss]}}]:1:45: "
        "operators[0].params: unknown service 'stss' (services: lambda, sts, console_signin)"
    )


def _bare(config: Config) -> Services:
    env = SimEnv(datetime.fromisoformat("2025-10-19T23:00:00-07:00"))
    return Services(Component(env, "region"), config)


def test_retries_reduce_independent_failures_and_soft_dependencies_weigh():
    svc = _bare(Config(services=[{"name": "a", "attempts": 3}, {"name": "b"}, {"name": "c"}]))
    a, b, c = svc.nodes["a"], svc.nodes["b"], svc.nodes["c"]
    a.inputs.append((Dependency(on="nlb:x", via="connections"), lambda: 0.5))
    b.inputs.append((Dependency(on="nlb:x", via="connections", share=0.5), lambda: 0.4))
    b.inputs.append((Dependency(on="ec2", via="launches", hard=False, weight=0.25), lambda: 1.0))
    c.inputs.append((Dependency(on="a", via="calls"), lambda: 0.0))
    rates = {"a": a.evaluate({}, 0.01, 0.5)}
    assert rates["a"] == pytest.approx(0.125)  # 0.5 ** 3 attempts
    assert b.evaluate(rates, 0.01, 0.5) == pytest.approx(0.2 + 0.25)  # hard 0.4x0.5 + soft
    assert c.evaluate(rates, 0.01, 0.5) == pytest.approx(0.125)
    assert (a.health.current, b.health.current) == (1, 1)


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("[{name: a, depends_on: [{on: b, via: calls}]}]", "service 'a' depends on unknown 'b'"),
        (
            "[{name: a, depends_on: [{on: b, via: calls}]}, {name: b, depends_on: [{on: a, via: calls}]}]",
            "dependency cycle a -> b -> a; declare an edge with cycle_ok: true",
        ),
        (
            "[{name: a, depends_on: [{on: ec2, via: calls}]}]",
            "'a' -> 'ec2': 'calls' is for another service",
        ),
        (
            "[{name: a}, {name: b, depends_on: [{on: a, via: connections}]}]",
            "'b' -> 'a': a service is reached via 'calls'",
        ),
        ("[{name: a}, {name: a}]", "service 'a' is defined twice"),
    ],
)
def test_graph_errors_are_located(tmp_path, monkeypatch, services, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(f"extends: {LAB}\nservices:\n  services: {services}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario("s.yaml")
    assert str(err.value) == f"s.yaml:3:3: services: {message}"


def test_declared_cycle_is_allowed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(
        f"extends: {LAB}\nservices:\n  services: [{{name: a, depends_on: [{{on: b, via: calls}}]}}, "
        "{name: b, depends_on: [{on: a, via: calls, cycle_ok: true}]}]\n"
    )
    assert load_scenario("s.yaml").model.services.services[1].depends_on[0].cycle_ok


def test_blast_radius_names_every_dependent_with_its_first_error(scenario):
    r = run(scenario)
    radius = r.statistics["region.services"]["blast_radius"]["dynamodb"]
    assert set(radius) == {"lambda", "sts", "console_signin"}
    assert all(t is not None for t in radius.values())


def test_a_backlog_keeps_the_service_degraded_until_it_drains_in_proportion():
    """Kept work accumulates while the service fails and drains at `headroom` x its normal pace
    once it works: the lag after recovery is (retained x error x outage) / headroom."""
    svc = _bare(
        Config(
            services=[{"name": "a", "backlog": {"retained": 1.0, "headroom": 4.0}}, {"name": "b"}]
        )
    )
    a = svc.nodes["a"]
    failing = {"p": 0.5}
    a.inputs.append((Dependency(on="ec2", via="launches"), lambda: failing["p"]))
    dt = 30.0
    a.evaluate({}, 0.01, 0.5, 0.0)  # t=0: the first sample
    for _ in range(240):  # 2 h at 50% errors: 3,600 s of work kept
        a.evaluate({}, 0.01, 0.5, dt)
    failing["p"] = 0.0
    assert a.backlog_s == pytest.approx(0.5 * 7200)
    a.evaluate({}, 0.01, 0.5, dt)  # 30 s on: that interval still ran at the old rate
    assert a.backlog_s == pytest.approx(0.5 * 7200 + 0.5 * dt)
    steps = 0
    while a.health.current != 0:
        a.evaluate({}, 0.01, 0.5, dt)
        steps += 1
    # 3,615 s of work at 4x: ~15 min, within one interval (the last 1 min counts as done)
    assert (3615 - 60) / 4 - dt <= steps * dt <= 3615 / 4 + dt
    assert svc.nodes["b"].backlog is None  # no backlog: healthy as soon as the dependency is
