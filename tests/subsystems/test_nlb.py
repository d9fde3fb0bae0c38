"""NLB mechanisms on small fleets: flapping from propagation delay, the checker's capacity, AZ DNS
failover through the DNS primitive and client TTLs, velocity control, fail-open, the instance feed
contract, configuration errors and determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from simulation.cli import main
from simulation.core import Component, Results, SimEnv
from simulation.core.errors import UserInputError
from simulation.core.units import parse_timestamp
from simulation.primitives.dns import A
from simulation.runner import simulate
from simulation.scenario.load import load_scenario
from simulation.subsystems.instances import Instance, InstanceFeed
from simulation.subsystems.nlb import Config, Nlb, build
from simulation.subsystems.nlb.checker import HEALTHY, UNHEALTHY

START = parse_timestamp("2025-10-20T05:00:00-07:00")


def small(**over: Any) -> dict[str, Any]:
    """Two NLBs, 3 AZs, 4 targets per AZ; a lightly loaded checker; no sampled connections."""
    cfg: dict[str, Any] = dict(
        load_balancers=[dict(name="api", count=2, targets_per_az=4, demand="900/s")],
        checker=dict(check_time=dict(distribution="deterministic", mean="100 ms")),
        clients=dict(sampled=10, connections="0/s"),
    )
    cfg.update(over)
    return cfg


def launcher(delay: str, rate: str = "2/min") -> dict[str, Any]:
    return dict(rate=[dict(at="0 s", rate=rate)], propagation=[dict(delay=delay)], spread=0.0)


def make(cfg: dict[str, Any], seed: int = 1, parent: Any = None) -> tuple[SimEnv, Nlb]:
    env = SimEnv(START, seed)
    root = parent(env) if parent else Component(env, "region")
    return env, build(root, Config(**cfg))


def record_transitions(nlb: Nlb) -> list[tuple[float, Any, int, int, bool]]:
    """(time, subject, old, new, network ready) of every verdict change."""
    seen: list[tuple[float, Any, int, int, bool]] = []
    for lb in nlb.balancers:
        original = lb.on_transition

        def spy(subject, old, new, original=original):
            ready = subject.instance is None or subject.instance.network_ready
            seen.append((nlb.env.now, subject, old, new, ready))
            original(subject, old, new)

        lb.on_transition = spy  # type: ignore[method-assign]
    return seen


def milestones(nlb: Nlb, env: SimEnv, end: float) -> dict[str, float | None]:
    results = Results(env, end)
    return {name: detect(results) for name, detect in nlb.detectors().items()}


# -- flapping emerges from the propagation delay ---------------------------------------------


def test_targets_not_yet_propagated_flap_out_and_back_in():
    """New targets are in service at once; their checks fail until their network is ready (3 min),
    so each is taken out after two failed checks and put back after five passes. Nothing else
    flaps: the checker is never late."""
    end = 3600.0
    cfg = small(
        load_balancers=[dict(name="api", count=2, targets_per_az=8, demand="900/s")],
        launcher=launcher("3 min", rate="1/min"),
    )
    env, nlb = make(cfg)
    launched: list[Instance] = []
    nlb.feed.subscribe(on_launch=launched.append)
    seen = record_transitions(nlb)
    env.run(end)
    outs = {s.instance for (_, s, old, new, _) in seen if old == HEALTHY and new == UNHEALTHY}
    backs = {s.instance for (_, s, old, new, _) in seen if old == UNHEALTHY and new == HEALTHY}
    assert len(launched) >= 40
    # every removal is of a running target whose network had not propagated; every return after
    assert all(not ready for (_, s, old, new, ready) in seen if new == UNHEALTHY)
    assert all(ready for (_, s, old, new, ready) in seen if new == HEALTHY)
    # every launched target failed its first two checks (within 60 s, before it was ready): out
    assert {i for i in launched if i.launched_at < end - 60.0} <= outs <= set(launched)
    # and came back after five passes once ready (3 min, then at most 30 s + 4 x 30 s)
    assert {i for i in launched if i.launched_at < end - 180.0 - 150.0} <= backs <= outs
    checks = [c.figures() for c in nlb.checkers.values()]
    assert sum(c["failed_late"] for c in checks) == 0
    assert sum(c["failed_unanswered"] for c in checks) >= 2 * len(outs)
    t = milestones(nlb, env, end)["nlb_hc_failures_start"]
    assert t is not None and t == min(time for (time, *_rest) in seen)


def test_every_target_in_or_out_of_service_asks_one_network_change_per_node():
    """A target's verdict change reconfigures every node of its NLB (one per AZ): the NLB asks
    its instance feed for that many network changes; switched off, none."""
    cfg = small(
        load_balancers=[dict(name="api", count=2, targets_per_az=8, demand="900/s")],
        launcher=launcher("3 min", rate="1/min"),
    )
    env, nlb = make(cfg)
    asked: list[int] = []
    nlb.feed.serve_network_changes(asked.append)
    seen = record_transitions(nlb)
    env.run(3600.0)
    service = [t for t in seen if t[1].instance is not None and HEALTHY in (t[2], t[3])]
    assert len(service) >= 40
    assert asked == [3] * len(service)  # 3 AZs: 3 nodes per NLB
    assert nlb.statistics(Results(env, 3600.0))["node_changes"] == 3 * len(service)

    off = small(
        load_balancers=[dict(name="api", count=2, targets_per_az=8, demand="900/s")],
        launcher=launcher("3 min", rate="1/min"),
        targets=dict(verdicts_reconfigure_nodes=False),
    )
    env, nlb = make(off)
    nlb.feed.serve_network_changes(asked.append)
    seen = record_transitions(nlb)
    env.run(3600.0)
    assert len(seen) >= 40 and len(asked) == len(service)  # flaps as before, asks nothing
    assert nlb.feed.unserved_network_changes == 0


def test_with_failover_off_verdicts_move_no_target_and_switching_moves_the_ones_out():
    """Failover off puts every target taken out back in service (a network change per node
    each) and verdicts then move nothing; failover on again takes out the targets whose
    verdict is not healthy. Flapping goes on underneath: only the nodes stop following it."""
    cfg = small(
        load_balancers=[dict(name="api", count=2, targets_per_az=8, demand="900/s")],
        launcher=launcher("3 min", rate="1/min"),
    )
    env, nlb = make(cfg)
    asked: list[tuple[float, int]] = []
    nlb.feed.serve_network_changes(lambda n: asked.append((env.now, n)))
    seen = record_transitions(nlb)
    out_at_switch: list[int] = []

    def switch(enabled: bool) -> None:
        targets = [t for t in nlb.targets.values() if t.active]
        if enabled:
            out_at_switch.append(sum(t.state != HEALTHY for t in targets))
        else:
            out_at_switch.append(sum(not t.in_service for t in targets))
        nlb.set_failover(enabled)

    env.call_in(1800.0, lambda _c: switch(False))
    env.call_in(2700.0, lambda _c: switch(True))
    env.run(3600.0)
    before = [t for t in seen if t[0] < 1800.0 and t[1].instance is not None]
    during = [t for t in seen if 1800.0 < t[0] < 2700.0 and t[1].instance is not None]
    assert out_at_switch[0] > 0 and out_at_switch[1] > 0
    assert len([t for t in during if HEALTHY in (t[2], t[3])]) >= 10  # flapping goes on
    assert [n for (t, n) in asked if t == 1800.0] == [3] * out_at_switch[0]
    assert not [t for (t, _n) in asked if 1800.0 < t < 2700.0]  # verdicts move nothing
    assert [n for (t, n) in asked if t == 2700.0] == [3] * out_at_switch[1]
    service = [t for t in before if HEALTHY in (t[2], t[3])]
    assert [n for (t, n) in asked if t < 1800.0] == [3] * len(service)
    assert all(t.in_service for t in nlb.targets.values() if t.state == HEALTHY)


def test_failover_off_can_leave_targets_to_their_verdicts():
    """`failover.off_returns_targets: false`: switching failover off only stops the AZs' DNS
    failover; targets keep going out and back in with their verdicts, each a network change
    per node, and the switch itself moves none."""
    cfg = small(
        load_balancers=[dict(name="api", count=2, targets_per_az=8, demand="900/s")],
        launcher=launcher("3 min", rate="1/min"),
        failover=dict(off_returns_targets=False),
    )
    env, nlb = make(cfg)
    asked: list[tuple[float, int]] = []
    nlb.feed.serve_network_changes(lambda n: asked.append((env.now, n)))
    seen = record_transitions(nlb)
    env.call_in(1800.0, lambda _c: nlb.set_failover(False))
    env.run(3600.0)
    assert not nlb.failover_enabled
    assert not [t for (t, _n) in asked if t == 1800.0]
    service = [t for t in seen if t[1].instance is not None and HEALTHY in (t[2], t[3])]
    assert len([t for t in service if t[0] > 1800.0]) >= 10
    assert asked == [(t[0], 3) for t in service]


def test_network_changes_nobody_serves_are_counted():
    feed = InstanceFeed()
    feed.request_network_changes(3)
    feed.request_network_changes(0)
    assert feed.unserved_network_changes == 3
    got: list[int] = []
    feed.serve_network_changes(got.append)
    feed.request_network_changes(2)
    assert got == [2] and feed.unserved_network_changes == 3


def test_without_a_propagation_backlog_nothing_flaps():
    """Same launches with a 2 s propagation: a check may catch a target once before it is ready,
    never twice in a row: no target is ever taken out."""
    env, nlb = make(small(launcher=launcher("2 s")))
    seen = record_transitions(nlb)
    env.run(3600.0)
    assert nlb.launcher.launched >= 80 and seen == []
    assert milestones(nlb, env, 3600.0)["nlb_hc_failures_start"] is None


def test_new_targets_waiting_for_their_checks_never_flap_out():
    """The fix switch: a new target starts `initial` and enters service after five passes, so a
    slow propagation delays it but never takes it out (one change per target, none false)."""
    env, nlb = make(small(launcher=launcher("3 min"), targets=dict(new_targets_in_service=False)))
    seen = record_transitions(nlb)
    env.run(3600.0)
    assert seen and all(new == HEALTHY and ready for (_, _s, _old, new, ready) in seen)
    assert milestones(nlb, env, 3600.0)["nlb_hc_failures_start"] is None


# -- the checker: late only past its capacity ------------------------------------------------


def checker_run(check: str, on_expired: str = "drop") -> tuple[float, float]:
    """12 NLBs x (4 targets + node) = 60 subjects per AZ cell, checked every 30 s; failover off
    and no re-checks, so the load is exactly the periodic checks. Returns (late share over the
    second hour, utilisation)."""
    cfg = small(
        load_balancers=[dict(name="api", count=12, targets_per_az=4, demand="900/s")],
        checker=dict(
            check_time=dict(distribution="deterministic", mean=check),
            rechecks_on_change=0,
            queue=dict(on_expired=on_expired),
        ),
        failover=dict(enabled=False),
        clients=dict(sampled=1, connections="0/s"),
    )
    env, nlb = make(cfg)
    cell = nlb.checkers["az1"]
    env.run(3600.0)
    before = (cell.checks, cell.failed_late)
    env.run(7200.0)
    checks, late = cell.checks - before[0], cell.failed_late - before[1]
    return late / checks, cell.figures()["utilisation"]


def test_the_checker_is_never_late_below_its_capacity():
    late, utilisation = checker_run("400 ms")  # 2 checks/s x 0.4 s = 80% busy
    assert late == 0.0 and utilisation == pytest.approx(0.8, abs=0.01)


def test_past_its_capacity_the_checker_is_late_on_more_than_the_excess():
    """Offered 125% of its capacity, the checker works all the time; the excess (1 - 1/1.25 =
    20% of checks) is skipped as past its timeout, and as the queue stays about a timeout long,
    many of the checks it does serve finish late too."""
    late, utilisation = checker_run("625 ms")
    assert 0.2 < late < 1.0 and utilisation == pytest.approx(1.0, abs=0.01)


def test_serving_stale_checks_makes_every_check_late():
    """The same overload with stale checks still served (`on_expired: complete`): the queue
    grows without bound and soon every check finishes past its timeout."""
    late, _ = checker_run("625 ms", on_expired="complete")
    assert late == 1.0


# -- AZ DNS failover through DNS, TTLs and connections ---------------------------------------


def one_nlb(**over: Any) -> dict[str, Any]:
    """One NLB at 83% of its capacity (1500/s over 18 x 100/s): it fails with one AZ out."""
    cfg = small(
        load_balancers=[dict(name="api", targets_per_az=6, demand="1500/s")],
        health_check=dict(healthy_threshold=1000),  # a node taken out stays out
        clients=dict(sampled=40, connections="5/s"),
    )
    cfg.update(over)
    return cfg


def fail_node(nlb: Nlb, az: str, lb_index: int = 0) -> None:
    """Two failed checks of the node: its verdict turns unhealthy (a DNS update is queued)."""
    lb = nlb.balancers[lb_index]
    zone = lb.zones[az]
    for _ in range(nlb.config.health_check.unhealthy_threshold):
        zone.checker.verdict(zone.node, False)
    assert zone.node.state == UNHEALTHY


def served_addresses(nlb: Nlb) -> set[str]:
    lb = nlb.balancers[0]
    return nlb.route53.addresses(lb.qname, A)


def test_an_az_failed_over_leaves_dns_and_its_demand_moves_within_a_ttl():
    """The node's DNS update is committed by the checker, reaches the name servers 30 s later,
    and each client moves at its cached answer's expiry (60 s TTL): the error rate climbs over a
    TTL to its fluid value, 1 - 1200/1500 = 20%, which sampled connections confirm."""
    env, nlb = make(one_nlb())
    lb = nlb.balancers[0]
    env.run(60.0)
    fail_node(nlb, "az1")
    env.run(61.9)
    assert len(lb.published()) == 3  # the DNS update takes 2 s of checker work
    env.run(62.5)
    assert lb.published() == (lb.zones["az2"].address, lb.zones["az3"].address)
    assert len(served_addresses(nlb)) == 3 and lb.error_rate == 0.0  # not yet served
    env.run(62.5 + 30.0)
    assert len(served_addresses(nlb)) == 2
    env.run(62.5 + 30.0 + 40.0)
    assert 0.0 < lb.error_rate < 0.2  # clients move one by one, at their expiry
    env.run(62.5 + 30.0 + 60.0)
    assert lb.error_rate == pytest.approx(0.2)
    ok0, failed0 = lb.sampled_ok, lb.sampled_failed
    env.run(1800.0)
    ok, failed = lb.sampled_ok - ok0, lb.sampled_failed - failed0
    assert ok + failed > 7000
    assert failed / (ok + failed) == pytest.approx(0.2, abs=0.02)
    queries = sum(c.resolver.queries for c in lb.clients)
    assert queries == len(lb.clients)  # one query each, after the only change of the record
    t = milestones(nlb, env, 1800.0)
    assert t["nlb_first_az_failover"] == pytest.approx(62.0, abs=1.0)
    assert 92.0 < t["nlb_connection_errors_start"] < 153.0


def test_disabling_failover_puts_every_az_back_and_ends_the_errors():
    env, nlb = make(one_nlb())
    lb = nlb.balancers[0]
    env.run(60.0)
    fail_node(nlb, "az1")
    env.run(600.0)
    assert lb.error_rate == pytest.approx(0.2)
    nlb.actions()[0].run(None)  # nlb_failover_disable
    assert len(lb.published()) == 3  # committed at once by the operator action
    env.run(600.0 + 30.0 + 60.0 + 0.1)
    assert lb.error_rate == 0.0
    assert milestones(nlb, env, 1500.0)["nlb_errors_resolved"] is None  # 15 min without errors
    env.run(1800.0)
    assert 630.0 < milestones(nlb, env, 1800.0)["nlb_errors_resolved"] <= 690.0
    kinds = [e[2] for e in env.recorder.events]
    assert "failover_disabled" in kinds and kinds.count("az_restored") == 1
    nlb.actions()[1].run(None)  # nlb_failover_enable: the node is still unhealthy, out again
    assert len(lb.published()) == 2


def test_every_az_unhealthy_publishes_them_all():
    """Route 53's rule: when every record of a name is unhealthy, all are returned."""
    env, nlb = make(one_nlb())
    lb = nlb.balancers[0]
    env.run(60.0)
    fail_node(nlb, "az1")
    fail_node(nlb, "az2")
    env.run(70.0)
    assert lb.published() == (lb.zones["az3"].address,)
    fail_node(nlb, "az3")
    env.run(80.0)
    assert len(lb.published()) == 3 and lb.fail_opens == 1
    assert any(e[2] == "dns_fail_open" for e in env.recorder.events)


def test_velocity_control_caps_the_capacity_an_nlb_removes_per_interval():
    """Two AZs fail at once; with at most 40% of the capacity per hour, one (a third) goes, the
    other waits until the bucket holds a third again: 0.4/h refills 0.267 in 40 min."""
    cfg = one_nlb(velocity_control=dict(enabled=True, max_fraction=0.4, interval="1 h"))
    env, nlb = make(cfg)
    lb = nlb.balancers[0]
    env.run(60.0)
    fail_node(nlb, "az1")
    fail_node(nlb, "az2")
    env.run(120.0)
    assert len(lb.published()) == 2 and lb.deferred >= 1
    assert [e[3] for e in env.recorder.events if e[2] == "failover_deferred"] == [
        "api-0 az2: velocity control"
    ]
    env.run(60.0 + 2390.0)
    assert len(lb.published()) == 2
    env.run(60.0 + 2420.0)
    assert lb.published() == (lb.zones["az3"].address,)
    # without the cap both go at once
    env2, nlb2 = make(one_nlb())
    env2.run(60.0)
    fail_node(nlb2, "az1")
    fail_node(nlb2, "az2")
    env2.run(70.0)
    assert len(nlb2.balancers[0].published()) == 1


# -- the instance feed contract ----------------------------------------------------------------


class FakeEc2(Component):
    """Stands for the EC2 subsystem: a component `region.ec2` with an `instance_feed`."""

    def __init__(self, parent: Component) -> None:
        super().__init__(parent, "ec2")
        self.instance_feed = InstanceFeed()


def with_ec2(env: SimEnv) -> Component:
    root = Component(env, "region")
    FakeEc2(root)
    return root


def test_ec2_instances_join_the_nlb_short_of_targets_and_leave_when_terminated():
    cfg = small(
        load_balancers=[
            dict(name="a", targets_per_az=4, demand="100/s"),
            dict(name="b", targets_per_az=4, demand="100/s"),
        ]
    )
    _env, nlb = make(cfg, parent=with_ec2)
    feed = nlb.feed
    assert feed is not None and nlb.launcher is None
    a, b = nlb.balancers
    victim = b.zones["az2"].targets[0]
    feed.terminated(victim.instance, 0.0)
    assert b.zones["az2"].registered == 3 and not victim.active
    new = Instance(1, "az2", 0.0)
    feed.launched(new)
    assert nlb.targets[new].lb is b  # b is short of a target in az2
    assert b.zones["az2"].registered == 4 and b.zones["az2"].ready == 3
    feed.network_ready(new, 1.0)
    assert b.zones["az2"].ready == 4 and b.zones["az2"].registered == 4  # nobody retired
    extra = Instance(2, "az2", 1.0)
    feed.launched(extra)
    feed.network_ready(extra, 2.0)
    assert nlb.targets[extra].lb is a and a.zones["az2"].registered == 4  # the oldest retired


def test_a_launcher_beside_ec2_is_refused():
    with pytest.raises(UserInputError) as err:
        make(small(launcher=launcher("2 s")), parent=with_ec2)
    assert str(err.value) == (
        "nlb.launcher: this scenario has EC2 (region.ec2), whose instances drive the NLB "
        "targets; remove nlb.launcher"
    )


# -- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (dict(azs=["az1", "az1"]), "azs: duplicate names in ['az1', 'az1']"),
        (
            dict(load_balancers=[dict(name="a", azs=["az9"])]),
            "load_balancers[0].azs: unknown AZ 'az9' (azs: az1, az2, az3)",
        ),
        (
            dict(load_balancers=[dict(name="a"), dict(name="a")]),
            "load_balancers: name 'a' is used twice",
        ),
        (
            dict(load_balancers=[dict(name="Web_1")]),
            "name 'Web_1' must be a DNS label: a-z, 0-9 and '-', at most 42",
        ),
        (
            dict(checker=dict(queue=dict(deadline="5 s"))),
            "checker.queue.deadline: a check's deadline is health_check.timeout; leave it null",
        ),
        (
            dict(launcher=dict(az_weights=dict(az7=1.0))),
            "launcher.az_weights: unknown AZ 'az7' (azs: az1, az2, az3)",
        ),
        (
            dict(launcher=dict(az_weights=dict(az1=0.0))),
            "launcher.az_weights: at least one weight must be positive",
        ),
        (
            dict(launcher=dict(propagation=[dict(at="1 h"), dict(at="30 min")])),
            "propagation points must be in increasing order of 'at' (a point at 1800 s follows "
            "one at 3600 s)",
        ),
    ],
)
def test_bad_configuration_is_refused_with_its_reason(cfg, message):
    with pytest.raises(ValidationError) as err:
        Config(**cfg)
    assert message in str(err.value)


HEAD = 'title: t\nstart: "2025-10-20T05:00:00-07:00"\nduration: "10 min"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "nlb:\n  velocity_control: {enabled: true, max_fracton: 0.4}\n",
            "x.yaml:5:37: nlb.velocity_control: unknown key 'max_fracton' "
            "(did you mean 'max_fraction'?)",
        ),
        (
            "nlb:\n  load_balancers:\n    - {name: api, azs: [az4]}\n",
            "x.yaml:5:3: nlb: load_balancers[0].azs: unknown AZ 'az4' (azs: az1, az2, az3)",
        ),
        (
            "nlb:\n  targets: {replace_unhealthy: true}\n  launcher: {}\n",
            "x.yaml:5:3: nlb: targets.replace_unhealthy: Auto Scaling replacements are EC2 "
            "launches; this scenario's targets come from the scripted `launcher` (add an "
            "`ec2:` section or set it to false)",
        ),
        (
            "nlb:\n  targets: {health_check_grace: -5 s}\n",
            "x.yaml:5:33: nlb.targets.health_check_grace: expected a non-negative duration, "
            "got '-5 s'",
        ),
        (
            "nlb:\n  clients: {connections: 5}\n",
            "x.yaml:5:26: nlb.clients.connections: expected a rate such as '100/s' or '5/min', "
            "got 5",
        ),
    ],
)
def test_bad_scenario_keys_get_located_errors(tmp_path, monkeypatch, capsys, body, message):
    monkeypatch.chdir(tmp_path)
    Path("x.yaml").write_text(HEAD + body)
    assert main(["validate", "x.yaml"]) == 2
    assert capsys.readouterr().err.strip() == message


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_same_bytes_another_seed_other_draws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("s.yaml").write_text(
        HEAD.replace("10 min", "40 min")
        + "nlb:\n"
        + "  load_balancers: [{name: api, count: 2, targets_per_az: 4, demand: '900/s'}]\n"
        + "  clients: {sampled: 10, connections: '30/min'}\n"
        + "  launcher:\n    rate: [{at: '0 s', rate: '4/min'}]\n"
        + "    propagation: [{at: '0 s', delay: '2 min'}]\n"
    )
    for d in ("a", "b"):
        assert main(["run", "s.yaml", "--out", d, "--progress", "none"]) == 0
    for name in ("summary.json", "timeline.csv", "metrics.parquet"):
        assert Path("a", name).read_bytes() == Path("b", name).read_bytes(), name
    other = simulate(load_scenario("s.yaml"), seed=2)
    assert other.env.recorder.events != simulate(load_scenario("s.yaml")).env.recorder.events
    summary = json.loads(Path("a", "summary.json").read_text())
    assert summary["milestones"]["nlb_hc_failures_start"] is not None


def _replacing(nlb: Nlb) -> list[tuple[float, Instance, Any, Any]]:
    """Serve replacements on the scripted feed as EC2 would: the instance terminated at once,
    one launched for the group (its network never ready here). Returns (time, instance, group
    asked for, NLB the instance was a target of)."""
    asked: list[tuple[float, Instance, Any, Any]] = []
    feed = nlb.feed

    def replace(instance: Instance, group: Any) -> bool:
        now = nlb.env.now
        asked.append((now, instance, group, nlb.targets[instance].lb))
        feed.terminated(instance, now)
        feed.launched(Instance(10_000 + len(asked), instance.az, now, group=group))
        return True

    feed.serve_replacements(replace)
    return asked


@pytest.mark.parametrize("failover", [True, False])
def test_auto_scaling_replaces_targets_still_unhealthy_after_the_grace_period(failover: bool):
    """With `targets.replace_unhealthy` a launched target whose verdict is unhealthy when its
    grace period ends is replaced (failover on or off: the verdict is what the group reads);
    the replacement joins the same NLB."""
    grace = 300.0
    cfg = small(
        launcher=launcher("10 min", rate="1/min"),
        targets=dict(health_check_grace=f"{grace:g} s"),
        failover=dict(enabled=failover),
    )
    env, nlb = make(cfg)
    nlb.replace_unhealthy = True  # as with EC2 (the option itself refuses a scripted launcher)
    asked = _replacing(nlb)
    env.run(1800.0)
    assert len(asked) >= 10
    for t, instance, group, lb in asked:
        assert group is lb
        assert t == pytest.approx(instance.launched_at + grace)
        assert instance.terminated_at == t  # the launcher's network landed later
        assert instance.network_ready_at is None or instance.network_ready_at > t
        assert instance not in nlb.targets
    replacements = [(i, s) for i, s in nlb.targets.items() if i.group is not None]
    assert replacements and all(s.lb is i.group for i, s in replacements)
    assert nlb.replacements == len(asked)


def test_targets_healthy_within_the_grace_period_and_groups_without_the_option_are_left():
    """Ready at 100 s, healthy again after 5 passes 30 s apart (<= 250 s): within 300 s of
    grace, nothing is replaced; without the option, nothing either."""
    quick = small(launcher=launcher("100 s", rate="1/min"))
    env, nlb = make(quick)
    nlb.replace_unhealthy = True
    asked = _replacing(nlb)
    env.run(1800.0)
    assert nlb.unhealthy_targets.values and max(nlb.unhealthy_targets.values) > 0  # they flapped
    assert asked == []
    env, nlb = make(small(launcher=launcher("10 min", rate="1/min")))
    asked = _replacing(nlb)
    env.run(1800.0)
    assert asked == [] and max(nlb.unhealthy_targets.values) > 0
