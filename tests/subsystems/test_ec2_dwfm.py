"""DWFM in simulated time: leases, state checks through DNS, collapse, and the ways out.

A small region (one DWFM host, 40 batches of 100 droplets, the section's other defaults) keeps
each run to a fraction of a second. Its collapse ratio (establishment demand / capacity after an
outage) is about 2.9, so the lease work collapses when DynamoDB comes back. Times: the regional
record is deleted at 30 min and repaired at 2 h; operators act at 3 h.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from simulation.core import Component, Results, SimEnv
from simulation.primitives.memory import GIB
from simulation.primitives.resilience.admission import WorkItem
from simulation.subsystems import dynamodb_dns
from simulation.subsystems.ec2 import Config, Ec2, build
from simulation.subsystems.ec2.dwfm import AdmissionParams, RestartParams, ThrottleParams
from simulation.subsystems.ec2.hosts import DeadlineWatch, LeaseOp

START = datetime(2025, 10, 20, 6, 0, tzinfo=UTC)
H = 3600.0
BREAK, REPAIR, ACT = 0.5 * H, 2 * H, 3 * H

SMALL: dict[str, Any] = {
    "fleet": {"droplets": 4000},
    "dwfm": {"hosts": 1},
    "launches": {"load": [{"at": "0 s", "rate": "0.05/s"}]},
    "network_manager": {"background": "0.1/s"},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def region(
    until: float,
    acts: tuple[tuple[float, str, Any], ...] = (),
    seed: int = 1,
    dns: dict[str, Any] | None = None,
    before: Any = None,
    **ec2: Any,
) -> SimpleNamespace:
    """Build DNS + EC2, call `before(ec2)`, perform `acts` (time, action name, params) and run
    to `until`."""
    env = SimEnv(START, seed)
    root = Component(env, "region")
    dns_cfg = dynamodb_dns.Config(**merge({"clients": {"count": 0}}, dns or {}))
    dns_comp = dynamodb_dns.build(root, dns_cfg)
    comp = build(root, Config(**merge(SMALL, ec2)))
    if before is not None:
        before(comp)
    offered = {a.name: a for c in root.walk() for a in c.actions()}
    for t, act, params in acts:
        model = offered[act].params
        p = params if isinstance(params, model) else model.model_validate(params or {})
        env.timeout(t).callbacks.append(lambda _e, a=offered[act], p=p: a.run(p))
    env.run(until)
    results = Results(env, until)
    milestones = {n: fn(results) for c in root.walk() for n, fn in c.detectors().items()}
    return SimpleNamespace(env=env, dns=dns_comp, ec2=comp, results=results, m=milestones)


QUIET = {"load": [{"at": "0 s", "rate": "0.0001/s"}]}  # launches' state changes negligible

OUTAGE = (
    (BREAK, "dns_break_endpoint", None),
    (BREAK, "dns_automation_disable", None),
    (REPAIR, "dns_manual_repair", None),
)
RESCUE = (
    (ACT, "dwfm_throttle", {"rate": "0.02/s"}),
    (ACT, "dwfm_restart_hosts", {"hosts": "all"}),
)


def level(run: SimpleNamespace, name: str, scope: str = "region.ec2.dwfm"):
    return run.results.level(scope, name)


def first(run: SimpleNamespace, name: str, pred, after: float = 0.0) -> float | None:
    return level(run, name).first_time(pred, after=after)


def test_steady_state_renews_every_lease_by_state_checks():
    r = region(2 * H)
    stats = r.ec2.dwfm.statistics(r.results)
    assert stats["lost_peak"] == 0 and stats["leased_at_end"] == 4000
    checks = stats["state_checks"]
    # one check per batch every 5 min, spread over the period
    assert abs(checks["ok"] - 40 * 2 * H / 300) <= 40
    assert checks["timeouts"] == checks["dns_failed"] == checks["exhausted"] == 0
    assert stats["establishment"]["attempts"] == 0
    assert r.m["dwfm_state_checks_failing"] is None and r.m["dwfm_congestive_collapse"] is None
    assert r.ec2.dwfm.leases.count_held == 40


def test_checks_fail_as_the_hosts_cached_answer_expires_and_leases_run_out():
    r = region(1.5 * H, OUTAGE[:2])
    t = r.m["dwfm_state_checks_failing"]
    assert BREAK < t <= BREAK + 60 + 15 + 30  # record TTL, DNS lag, a check's retries
    lost = level(r, "lost")
    # each lease expires 15 min after its last renewal, which was 0-5 min before the record
    # vanished (or up to one TTL after): none before BREAK + 10 min, all by BREAK + 16 min + 1 s
    assert lost.first_time(lambda v: v > 0) >= BREAK + 10 * 60
    assert lost.first_time(lambda v: v == 4000) <= BREAK + 16 * 60 + 1
    # while DynamoDB does not resolve, re-establishment fails fast: no timeouts, no queue
    est = r.ec2.dwfm.counts["establish"]
    assert est["dns_failed"] > 40 and est["ok"] == 0 and est["timeouts"] == 0
    assert r.m["dwfm_congestive_collapse"] is None


@pytest.mark.parametrize(("lease", "later"), [("10 min", 0.0), ("20 min", 600.0)])
def test_a_longer_lease_timeout_loses_leases_later(lease, later):
    r = region(1.5 * H, OUTAGE[:2], dwfm={"lease": {"duration": lease}})
    half = first(r, "lost", lambda v: v >= 2000)
    # half the batches were renewed within 2.5 min of the break (checks every 5 min)
    assert half == pytest.approx(BREAK + 10 * 60 - 150 + later, abs=90)


def test_without_action_the_collapse_outlives_its_trigger():
    r = region(8 * H, OUTAGE)
    d = r.ec2.dwfm
    collapse = r.m["dwfm_congestive_collapse"]
    # after the repair, the host sees DynamoDB once its cached negative answer (15 min) expires
    assert REPAIR < collapse < REPAIR + 30 * 60
    assert r.m["dwfm_leases_all_restored"] is None
    share = level(r, "timeout_share")
    assert share.time_weighted_mean(REPAIR + H, 8 * H) > 0.97
    goodput = level(r, "goodput")
    assert goodput.time_weighted_mean(REPAIR + H, 8 * H) < 0.02 * 4000 / 300
    # the queue keeps growing: the requesters retry faster than the host serves
    depth = level(r, "queue_depth")
    assert depth.value_at(5 * H) > depth.value_at(4 * H) > depth.value_at(3 * H) > 100
    # and the host swaps: a second effect that keeps it there
    stats = d.statistics(r.results)
    assert stats["working_set_peak_gib"] > 4.0 and stats["host_swapping_minutes"] > 60
    # what the host still serves is served for nobody: only the first few attempts succeeded
    assert stats["items_wasted"] > 10 and stats["establishment"]["ok"] < 10
    assert d.hosts[0].queue.balanced()


def test_restart_alone_collapses_again_throttle_alone_never_drains():
    restart = region(6 * H, (*OUTAGE, (ACT, "dwfm_restart_hosts", {"hosts": "all"})))
    throttle = region(6 * H, (*OUTAGE, (ACT, "dwfm_throttle", {"rate": "0.02/s"})))
    for r in (restart, throttle):
        assert r.m["dwfm_leases_all_restored"] is None
        assert level(r, "lost").value_at(6 * H) > 3000
    # the restart emptied the queue, the retry flood filled it again
    waiting = level(restart, "waiting", "region.ec2.dwfm.host[0].pool")
    assert waiting.value_at(ACT) == 0 and waiting.value_at(6 * H) > 500
    assert first(restart, "timeout_share", lambda v: v > 0.9, after=ACT + 600) is not None


def test_throttle_plus_restart_recovers_at_the_throttled_pace():
    rate = 0.02
    # launches are DWFM work too (state changes); kept negligible to see the lease pace alone
    r = region(6 * H, (*OUTAGE, *RESCUE), dwfm={"throttle": None}, launches=QUIET)
    restored = r.m["dwfm_leases_all_restored"]
    assert restored is not None
    # 40 batches (minus the few that came back before the collapse) at 0.02/s ~ 33 min
    assert ACT + 0.6 * 40 / rate < restored < ACT + 1.3 * 40 / rate + 180
    assert first(r, "timeout_share", lambda v: v > 0.5, after=ACT + 300) is None
    assert r.ec2.dwfm.statistics(r.results)["restarts"] == 1


def test_admission_by_waiting_queue_size_prevents_the_collapse():
    r = region(5 * H, OUTAGE, dwfm={"queue": {"max_waiting": 0}})
    assert r.m["dwfm_congestive_collapse"] is None
    restored = r.m["dwfm_leases_all_restored"]
    # 40 batches x 30 s on 2 workers = 10 min of work, after the negative cache expires
    assert REPAIR < restored < REPAIR + 15 * 60 + 25 * 60
    est = r.ec2.dwfm.counts["establish"]
    assert est["rejected"] > 40 and est["timeouts"] == 0 and est["ok"] >= 40
    assert r.ec2.switches()[0].on


def test_a_limit_that_lets_the_wait_pass_the_deadline_does_not_prevent_it():
    r = region(5 * H, OUTAGE, dwfm={"queue": {"max_waiting": 20}})
    assert r.m["dwfm_congestive_collapse"] is not None
    assert r.m["dwfm_leases_all_restored"] is None


def test_admission_action_auto_limit_and_unlimited():
    r = region(1.0, ())
    d = r.ec2.dwfm
    # a 30 s establishment waiting one round (all workers busy) ends at 60 s: not before the
    # 1 min deadline, so only an idle worker may take one
    assert d.admission_limit() == 0
    d.set_admission(AdmissionParams())
    assert d.hosts[0].queue.max_waiting == 0
    d.set_admission(AdmissionParams(max_waiting=7))
    assert d.hosts[0].queue.max_waiting == 7
    d.set_admission(AdmissionParams(max_waiting="unlimited"))
    assert d.hosts[0].queue.max_waiting is None


def test_admission_switched_on_during_the_collapse_ends_it_after_a_restart():
    acts = (
        *OUTAGE,
        (ACT, "dwfm_admission", {"max_waiting": "auto"}),
        (ACT, "dwfm_restart_hosts", {"hosts": "all"}),
    )
    r = region(5 * H, acts)
    assert r.m["dwfm_leases_all_restored"] is not None
    assert r.m["dwfm_leases_all_restored"] < ACT + H


def test_auto_limit_grows_with_the_slack_under_the_deadline():
    r = region(1.0, (), dwfm={"establish_retry": {"attempt_timeout": "2 min"}})
    # (rounds + 1) x 30 s < 120 s: rounds <= 2 -> 2 rounds of 2 workers
    assert r.ec2.dwfm.admission_limit() == 4


def test_halving_the_fleet_recovers_sooner():
    full = region(6 * H, (*OUTAGE, *RESCUE), fleet={"droplets": 8000}, launches=QUIET)
    half = region(6 * H, (*OUTAGE, *RESCUE), fleet={"droplets": 4000}, launches=QUIET)
    t_full, t_half = full.m["dwfm_leases_all_restored"], half.m["dwfm_leases_all_restored"]
    assert t_half is not None and t_full is not None
    assert full.m["dwfm_congestive_collapse"] and half.m["dwfm_congestive_collapse"]
    # at the throttled pace recovery time is proportional to the batches to re-lease
    assert ACT < t_half < t_full
    assert (t_half - ACT) == pytest.approx((t_full - ACT) / 2, rel=0.25)


def test_moving_the_outage_and_the_rescue_moves_the_milestones():
    shift = 1800.0
    base = region(6 * H, (*OUTAGE, *RESCUE))
    moved = region(
        6 * H,
        tuple((t + shift, a, p) for t, a, p in (*OUTAGE, *RESCUE)),
    )
    for name in ("dwfm_state_checks_failing", "dwfm_congestive_collapse"):
        assert moved.m[name] == pytest.approx(base.m[name] + shift, abs=120), name
    later_rescue = region(6 * H, (*OUTAGE, *((t + shift, a, p) for t, a, p in RESCUE)))
    assert later_rescue.m["dwfm_leases_all_restored"] == pytest.approx(
        base.m["dwfm_leases_all_restored"] + shift, abs=600
    )


@pytest.mark.parametrize(("soa_ttl", "bound"), [("900 s", 900.0), ("120 s", 120.0)])
def test_dwfm_sees_dynamodb_again_when_its_negative_answer_expires(soa_ttl, bound):
    fix = {"dwfm": {"queue": {"max_waiting": 0}}}  # no collapse: measure the DNS delay only
    delays = []
    for offset in (0.0, 300.0, 600.0):
        repair = REPAIR + offset
        outage = (*OUTAGE[:2], (repair, "dns_manual_repair", None))
        r = region(repair + 1500, outage, dns={"soa_ttl": soa_ttl}, **fix)
        ok = r.ec2.dwfm.counts["establish"]["ok"]
        assert ok > 0
        back = first(r, "goodput", lambda v: v > 0, after=repair)
        delays.append(back - repair)
    # served 15 s after the repair; the host asks again when its negative answer expires; the
    # first success ends one establishment (30 s) later, counted at the next 1 min sample
    assert all(0 < d <= 15 + bound + 30 + 60 + 30 for d in delays), delays
    if bound > 300:  # the delay depends on the phase of the host's negative answer
        assert max(delays) > bound / 2, delays


def test_a_restart_clears_the_queue_and_the_working_set():
    r = region(ACT + 10 * 60, (*OUTAGE, (ACT, "dwfm_restart_hosts", {"hosts": [0]})))
    ws = level(r, "working_set_max")
    assert ws.value_at(ACT - 1) > 4 * GIB
    assert ws.value_at(ACT + 60) < 1.2 * GIB
    events = [d for _t, s, k, d in r.env.recorder.events if k == "host_restarted"]
    assert len(events) == 1 and "dropped=" in events[0]


def test_restart_selection_fraction_list_and_stagger():
    r = region(1.0, (), dwfm={"hosts": 4}, fleet={"droplets": 8000})
    d = r.ec2.dwfm
    for i, h in enumerate(d.hosts):
        for _ in range(20 * i):
            h.queue.put(WorkItem(None, 0.0))
    assert [h.index for h in d.select_hosts(0.5)] == [3, 2]
    assert [h.index for h in d.select_hosts([1])] == [1]
    assert len(d.select_hosts("all")) == 4
    assert d._check_restart(RestartParams(hosts=[0, 4])) == "hosts: no DWFM host 4 (hosts are 0..3)"
    for h in d.hosts:
        h.queue.clear()  # the stand-in items are not lease work
    d.restart_hosts(RestartParams(hosts="all", stagger="60 s"))
    r.env.run(1.0 + 200)
    times = [t for t, _s, k, _d in r.env.recorder.events if k == "host_restarted"]
    assert times == [1.0, 61.0, 121.0, 181.0]


def test_throttle_action_sets_and_lifts_the_bucket():
    r = region(1.0, ())
    d = r.ec2.dwfm
    d.set_throttle(ThrottleParams(rate="0.5/s"))
    assert d.throttle is not None and d.throttle.rate == 0.5
    d.set_throttle(ThrottleParams(rate="2/s", burst=3))
    assert d.throttle.rate == 2.0 and d.throttle.burst == 3
    d.set_throttle(ThrottleParams(rate=None))
    assert d.throttle is None


def test_deadline_watch_gives_up_exactly_at_the_deadline_and_only_on_the_unsettled():
    env = SimEnv(START, 1)
    gave_up: list[tuple[float, int]] = []
    watch = DeadlineWatch(env, lambda op, item: gave_up.append((env.now, item.payload)))
    ops = []

    def submit(i: int) -> None:
        op = LeaseOp(None, "check", None, env.now)  # type: ignore[arg-type]
        op.item = WorkItem(i, env.now, env.now + 10.0)
        ops.append(op)
        watch.add(op, op.item)

    for i in range(5):
        env.timeout(i * 3.0).callbacks.append(lambda _e, i=i: submit(i))
    env.timeout(4.0).callbacks.append(lambda _e: setattr(ops[0], "item", None))  # settled
    env.timeout(11.0).callbacks.append(lambda _e: setattr(ops[2], "item", None))
    env.run(60)
    assert gave_up == [(13.0, 1), (19.0, 3), (22.0, 4)]
    # and it sleeps when nothing is pending: a later attempt is still watched
    env.timeout(0).callbacks.append(lambda _e: submit(9))
    env.run(100)
    assert gave_up[-1] == (70.0, 9)


def test_collapse_ratio_statistic_matches_the_documented_condition():
    r = region(1.0, ())
    costs = r.ec2.dwfm.idle_costs()
    assert costs["establish_s"] == pytest.approx(40 * costs["check_s"])
    assert 25.0 < costs["establish_s"] < 35.0
    demand = 40 / (60 + 300 / 2)
    capacity = 2 / costs["establish_s"]
    assert r.ec2.dwfm.collapse_ratio() == pytest.approx(demand / capacity)
    assert math.isclose(r.ec2.dwfm.collapse_ratio(), 2.9, rel_tol=0.1)


def test_same_seed_same_records_other_seed_other_records():
    runs = [region(4 * H, (*OUTAGE, *RESCUE), seed=s) for s in (5, 5, 6)]
    rec = [r.env.recorder for r in runs]
    assert rec[0].events == rec[1].events
    key = ("region.ec2.dwfm", "leased")
    assert rec[0].levels[key].times == rec[1].levels[key].times
    assert rec[0].levels[key].times != rec[2].levels[key].times
    assert isinstance(runs[0].ec2, Ec2)
