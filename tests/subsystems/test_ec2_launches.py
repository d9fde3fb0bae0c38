"""Launches, the instance feed, Network Manager's held work and backlog, milestone detectors."""

from __future__ import annotations

import pytest

from simulation.core.recorder import FixedClock, Level
from simulation.subsystems.ec2.detectors import episodes, first_return, sustained
from simulation.subsystems.ec2.launches import RelaxParams, ThrottleParams
from simulation.subsystems.ec2.network_manager import BACKGROUND, Propagation, ReduceLoadParams
from simulation.subsystems.instances import Instance

from .test_ec2_dwfm import ACT, BREAK, OUTAGE, REPAIR, RESCUE, H, region

LA, NM = "region.ec2.launches", "region.ec2.network_manager"
FIX = {"dwfm": {"queue": {"max_waiting": 0}}}  # admission: DWFM recovers without operators


def test_the_feed_publishes_every_instance_in_order():
    seen: dict[int, list[tuple[str, float]]] = {}

    def note(kind: str):
        def cb(inst: Instance) -> None:
            seen.setdefault(inst.id, []).append((kind, inst.network_ready_at or inst.launched_at))

        return cb

    r = region(
        2 * H,
        before=lambda ec2: ec2.instance_feed.subscribe(
            note("launched"), note("ready"), note("terminated")
        ),
        launches={"load": [{"at": "0 s", "rate": "0.5/s"}], "lifetime": "20 min"},
    )
    launches = r.ec2.launches
    initial = launches.counts["initial"]
    assert initial == round(0.5 * 1200)  # steady state: rate x mean lifetime
    first_ids = range(1, initial + 1)
    assert all(seen[i][:2] == [("launched", 0.0), ("ready", 0.0)] for i in first_ids)
    later = [v for i, v in seen.items() if i > initial]
    assert len(later) == launches.counts["ok"] > 2 * H * 0.5 * 0.9
    for events in later:
        kinds = [k for k, _ in events]
        # launched first; ready unless terminated before its configuration landed
        assert kinds[0] == "launched" and kinds in (
            ["launched"],
            ["launched", "ready"],
            ["launched", "ready", "terminated"],
            ["launched", "terminated"],
        )
    ready = sum(1 for v in later if "ready" in [k for k, _ in v])
    assert 0.9 * len(later) < ready <= launches.counts["ready"]
    assert r.ec2.launch_error_rate() == 0.0


def test_without_leases_no_launch_lands_and_customers_give_up():
    r = region(3 * H, OUTAGE, **FIX)
    c = r.ec2.launches.counts
    assert c["insufficient_capacity"] > 0 and c["request_limit_exceeded"] == 0
    assert c["gave_up"] > 0
    share = r.results.level(LA, "success_share")
    assert share.time_weighted_mean(BREAK + 20 * 60, REPAIR) == 0.0
    assert r.results.level(LA, "normal").value_at(REPAIR) == 0.0
    # after DWFM recovers (admission) most launches land again; admission by queue size (0
    # waiting) is a loss system for their state changes too: rejected while both workers are busy
    assert r.m["dwfm_leases_all_restored"] < REPAIR + H
    assert share.time_weighted_mean(REPAIR + 0.5 * H, 3 * H) > 0.5
    assert c["state_change_failed"] > 0 and c["state_change_timeout"] == 0


def test_during_the_collapse_launches_time_out_even_on_leased_droplets():
    r = region(6 * H, (*OUTAGE, *RESCUE))
    collapse = r.m["dwfm_congestive_collapse"]
    assert collapse is not None and collapse < ACT
    leased = r.results.level("region.ec2.dwfm", "leased")
    share = r.results.level(LA, "success_share")
    timeouts = r.results.level(LA, "state_change_timeout")
    # some batches were re-leased before the collapse: placement finds room ...
    assert leased.time_weighted_mean(collapse + 600, ACT) > 0
    assert timeouts.time_weighted_mean(collapse + 600, ACT) > 0.01
    # ... but the state change waits behind the collapsed queue and times out
    assert share.time_weighted_mean(collapse + 600, ACT) < 0.05
    assert r.ec2.launches.counts["state_change_timeout"] > 50
    # after the restarts the same work goes through
    normal = r.m["ec2_launches_normal"]
    assert normal is not None and ACT < normal < r.m["dwfm_leases_all_restored"] + H
    assert share.time_weighted_mean(5 * H, 6 * H) > 0.95
    assert timeouts.time_weighted_mean(5 * H, 6 * H) == 0.0


def test_a_launch_s_latency_includes_its_state_change_on_a_healthy_dwfm():
    def run(work: float, timeout: str = "1 min"):
        launches = {"state_change_work": work, "state_change_timeout": timeout}
        return region(H, launches=launches).ec2

    per_check = run(0.0).dwfm.idle_costs()["check_s"] / 100  # one droplet's state check
    base = run(0.0).launches.statistics(None)["time_to_ready_mean_s"]
    slow = run(400.0).launches.statistics(None)["time_to_ready_mean_s"]
    assert slow - base == pytest.approx(400 * per_check, rel=0.2, abs=0.2)
    # a deadline shorter than the work: every call times out, DWFM serves it anyway (wasted)
    ec2 = run(400.0, "1 s")
    c = ec2.launches.counts
    assert c["ok"] == 0 and c["state_change_timeout"] > 0.9 * c["calls"]
    assert sum(h.queue.wasted for h in ec2.dwfm.hosts) > 0.9 * c["state_change_timeout"]


def test_the_request_throttle_limits_successful_calls_to_its_rate():
    rate = 0.02
    r = region(
        3 * H,
        ((H, "ec2_throttle_launches", {"rate": f"{rate}/s", "burst": 1}),),
        launches={"load": [{"at": "0 s", "rate": "0.1/s"}]},
    )
    ok = r.results.level(LA, "ok")
    assert ok.time_weighted_mean(H + 600, 3 * H) == pytest.approx(rate, rel=0.15)
    assert r.ec2.launches.counts["request_limit_exceeded"] > 0
    assert r.ec2.launch_error_rate() > 0.5
    assert r.m["ec2_launches_normal"] is None  # not normal again while throttled


def test_relaxation_is_a_policy_it_steps_up_then_removes_the_throttle():
    acts = (
        (H, "ec2_throttle_launches", {"rate": "0.02/s"}),
        (2 * H, "ec2_relax_throttles", {"factor": 2.0, "interval": "10 min"}),
    )
    r = region(5 * H, acts, launches={"load": [{"at": "0 s", "rate": "0.1/s"}]})
    events = [(t, d) for t, _s, k, d in r.env.recorder.events if k == "launch_throttle"]
    rates = [d.rsplit(" ", 1)[1] for _t, d in events]
    # doubled every 10 min while it still rejected calls, then lifted
    assert rates[:4] == ["0.02/s", "0.04/s", "0.08/s", "0.16/s"]
    assert rates[-1] == "none" and r.ec2.launches.throttle is None
    assert [t for t, _d in events[1:4]] == [2 * H + 600, 2 * H + 1200, 2 * H + 1800]
    normal = r.m["ec2_launches_normal"]
    assert normal is not None and 2 * H + 1200 < normal < 4 * H


def test_relaxation_holds_while_other_errors_are_high_and_a_new_throttle_stops_it():
    d = region(0.0001).ec2.launches
    d.set_throttle(ThrottleParams(rate="0.05/s"))
    d.relax(RelaxParams(factor=2.0, interval="10 min", max_error_rate=0.05))
    env = d.env
    env.run(300)
    d.counts["calls"] += 100
    d.counts["insufficient_capacity"] += 50  # half the calls fail for capacity
    env.run(601)
    held = [k for _t, _s, k, _d in env.recorder.events if k == "launch_throttle_held"]
    assert held == ["launch_throttle_held"] and d.throttle.rate == 0.05
    d.set_throttle(ThrottleParams(rate="0.01/s"))
    env.run(3 * H)
    assert d.throttle is not None and d.throttle.rate == 0.01


def test_work_for_droplets_without_a_lease_is_held_and_lands_when_they_are_leased():
    r = region(3.5 * H, OUTAGE, **FIX)
    held = r.results.level(NM, "held")
    assert held.value_at(REPAIR) > 0.05 * 0.1 * (REPAIR - BREAK)  # background changes held
    assert held.value_at(3.5 * H) == 0
    nm = r.ec2.network_manager
    # nothing is lost: what was handed to Network Manager is done, queued or deferred
    total = sum(nm.submitted.values())
    assert total == sum(nm.completed.values()) + nm.queue.in_flight + len(nm.deferred)
    backlog = r.results.level(NM, "backlog")
    assert max(backlog.values) > 20  # the held work arrives at once


def test_appliance_changes_asked_on_the_feed_are_propagated_at_once_even_without_leases():
    """An NLB's nodes are not on droplets: their changes reach Network Manager while the fleet
    has no lease (nothing held), and wait behind launches when its load is reduced."""
    asked_at = REPAIR - 600  # leases lapsed, DynamoDB still unreachable

    def ask(ec2) -> None:
        ec2.env.timeout(asked_at).callbacks.append(
            lambda _e: ec2.instance_feed.request_network_changes(30)
        )

    r = region(asked_at + 1200, OUTAGE, before=ask, **FIX)
    nm = r.ec2.network_manager
    assert r.results.level(NM, "held").value_at(asked_at) > 0  # background held, as before
    assert nm.submitted["appliance"] == 30 == nm.completed["appliance"]
    assert r.ec2.instance_feed.unserved_network_changes == 0

    reduced = region(
        asked_at + 1,
        (*OUTAGE, (asked_at - 1, "nm_reduce_load", {"max_waiting": 5, "shed_queued": False})),
        before=ask,
        **FIX,
    )
    nm = reduced.ec2.network_manager
    assert nm.submitted["appliance"] == 30
    deferred = [p.kind for p in nm.deferred]
    assert deferred.count("appliance") >= 10 and "launch" not in deferred  # non-urgent


def test_a_network_manager_backlog_delays_new_instances_until_load_is_reduced():
    slow = {"network_manager": {"workers": 1, "background": "0.55/s"}, **FIX}
    base = region(6 * H, OUTAGE, **slow)
    reduced = region(6 * H, (*OUTAGE, (4 * H, "nm_reduce_load", {"max_waiting": 5})), **slow)
    assert base.m["nm_backlog_start"] is not None
    assert base.m["nm_backlog_start"] == reduced.m["nm_backlog_start"]
    cleared = reduced.m["nm_backlog_cleared"]
    assert cleared is not None and 4 * H < cleared < 4 * H + 30 * 60
    assert base.m["nm_backlog_cleared"] is None or base.m["nm_backlog_cleared"] > cleared
    lat = reduced.results.level(NM, "propagation_latency")
    assert lat.value_at(4 * H - 60) > 300 > lat.value_at(4 * H + 20 * 60)
    nm = reduced.ec2.network_manager
    assert nm.set_aside > 0 and max(reduced.results.level(NM, "deferred").values) > 0


def test_lifting_reduced_load_queues_what_was_deferred():
    r = region(0.0001)
    nm = r.ec2.network_manager
    nm.reduce_load(ReduceLoadParams(max_waiting=0, shed_queued=False))
    for _ in range(5):
        nm.submit(Propagation(BACKGROUND))
    assert len(nm.deferred) == 5 and nm.queue.in_flight == 0
    nm.reduce_load(ReduceLoadParams(max_waiting=None))
    assert not nm.deferred and nm.queue.in_flight == 5
    r.env.run(H)
    assert nm.completed[BACKGROUND] >= 5


def test_a_stalled_queue_does_not_look_healthy():
    r = region(0.0001, network_manager={"background": "0/s"})
    nm = r.ec2.network_manager
    for w in nm.pool.workers:
        w.stall(2 * H)
    r.env.run(0.5 * H)  # launches queue behind stalled workers; none completes
    lat = r.results.level(NM, "propagation_latency").current
    assert lat > 0.4 * H


# -- detectors --------------------------------------------------------------------------------


def series(points: list[tuple[float, float]]) -> Level:
    clock = FixedClock()
    lvl = Level("s", "m", clock)
    for t, v in points:
        clock.now = t
        lvl.set(v)
    return lvl


def test_sustained_needs_the_whole_hold_and_counts_a_stretch_running_at_the_end():
    lvl = series([(0, 0), (10, 1), (15, 0), (20, 1), (40, 0)])
    assert sustained(lvl, lambda v: v == 1, 10, 100) == 20
    assert sustained(lvl, lambda v: v == 1, 21, 100) is None
    assert sustained(series([(0, 0), (90, 1)]), lambda v: v == 1, 10, 100) == 90
    assert sustained(series([(0, 0), (95, 1)]), lambda v: v == 1, 10, 100) is None
    assert sustained(lvl, lambda v: v == 1, 1, 100, after=12) == 20
    assert sustained(None, lambda v: True, 1, 10) is None


def test_episodes_span_short_dips_and_a_new_rise_makes_a_new_episode():
    high = lambda v: v > 5  # noqa: E731
    # above from 10; a 5 s dip at 30 (shorter than the 10 s clear hold) does not end it; under
    # from 50 for good
    one = series([(0, 0), (10, 9), (30, 1), (35, 9), (50, 1)])
    assert episodes(one, high, 10, 10, 100) == [(10, 50)]
    # under for 15 s at 30 ends the first; above again from 45 for 20 s is a second, still
    # going at the end when it has not been under for the clear hold
    two = series([(0, 0), (10, 9), (30, 1), (45, 9), (65, 1)])
    assert episodes(two, high, 10, 10, 100) == [(10, 30), (45, 65)]
    assert episodes(two, high, 10, 10, 70) == [(10, 30), (45, None)]
    # a rise shorter than the start hold is no episode
    assert episodes(series([(0, 0), (10, 9), (15, 0)]), high, 10, 10, 100) == []
    assert episodes(None, high, 10, 10, 100) == []


def test_the_backlog_milestones_are_the_first_backlog_s_start_and_the_last_one_s_end():
    """Latency over 5 min from 1 h, under it for 20 min from 1:30 (the 15 min clear hold passes),
    over again from 1:50 until 5 h: Network Manager is back to normal at 5 h, not at 1:30."""
    nm = region(0.0001).ec2.network_manager

    class Stub:
        end = 8 * H

        def level(self, scope: str, metric: str) -> Level | None:
            assert (scope, metric) == (NM, "propagation_latency")
            return series([(0, 2), (H, 400), (1.5 * H, 60), (1.5 * H + 1200, 900), (5 * H, 2)])

    found = {name: detect(Stub()) for name, detect in nm.detectors().items()}  # type: ignore[arg-type]
    assert found == {"nm_backlog_start": H, "nm_backlog_cleared": 5 * H}


def test_first_return_needs_a_departure():
    assert first_return(series([(0, 5), (10, 3), (20, 5)]), lambda v: v >= 5, 100) == 20
    assert first_return(series([(0, 5), (10, 3)]), lambda v: v >= 5, 100) is None
    assert first_return(series([(0, 5)]), lambda v: v >= 5, 100) is None


def test_milestone_names_match_the_reference_timeline():
    r = region(0.0001)
    names = {n for c in r.ec2.walk() for n in c.detectors()}
    assert names == {
        "dwfm_state_checks_failing",
        "dwfm_congestive_collapse",
        "dwfm_leases_all_restored",
        "nm_backlog_start",
        "nm_backlog_cleared",
        "ec2_launches_normal",
    }


# -- terminations are state changes; DWFM's intake as a queue -----------------------------------


def test_terminations_wait_for_the_lease_and_happen_when_it_is_back():
    short = {"load": [{"at": "0 s", "rate": "0.05/s"}], "lifetime": "30 min"}
    r = region(3.5 * H, OUTAGE, launches=short, **FIX)
    c = r.ec2.launches.counts
    assert c["terminations_held"] > 0  # instances due to end while their droplet had no lease
    # nothing is left held once every batch is leased again, and none was lost
    assert all(not b.terminations for b in r.ec2.fleet.batches)
    assert r.m["dwfm_leases_all_restored"] is not None
    off = region(3.5 * H, OUTAGE, launches={**short, "terminations_need_lease": False}, **FIX)
    assert off.ec2.launches.counts["terminations_held"] == 0
    assert off.ec2.launches.counts["terminated"] > c["terminated"] - c["terminations_held"]


def test_a_queued_dwfm_throttle_holds_launches_until_the_lease_work_is_through():
    """Throttle as a FIFO intake (mode queue, state_changes): every unleased batch is released
    at the rate; launches wait behind them with their 1 min call deadline, so they fail until
    the intake is short; the lease work succeeds without retries piling up."""
    rate = 0.05  # 40 batches -> ~13 min of intake after the restart
    queued = (
        *OUTAGE,
        (ACT, "dwfm_throttle", {"rate": f"{rate}/s", "mode": "queue", "state_changes": True}),
        (ACT, "dwfm_restart_hosts", {"hosts": "all"}),
    )
    launches = {"load": [{"at": "0 s", "rate": "0.05/s"}]}
    r = region(5 * H, queued, launches=launches)
    restored = r.m["dwfm_leases_all_restored"]
    assert restored is not None and ACT < restored < ACT + 40 * 60
    ok = r.results.level(LA, "ok")
    # no launch lands between the restart and (nearly) the last lease
    landed = [t for t, v in zip(ok.times, ok.values, strict=True) if t > ACT + 120 and v > 0]
    assert landed and landed[0] > restored - 5 * 60
    assert r.ec2.dwfm.intake is not None and r.ec2.dwfm.intake.skipped > 0  # launches gave up
    # the same throttle rejecting instead lets launches through on re-leased droplets early
    reject = (*OUTAGE, (ACT, "dwfm_throttle", {"rate": f"{rate}/s"}), RESCUE[-1])
    e = region(5 * H, reject, launches=launches)
    ok_e = e.results.level(LA, "ok")
    early = [t for t, v in zip(ok_e.times, ok_e.values, strict=True) if t > ACT + 120 and v > 0]
    assert early and early[0] < landed[0]


def test_relaxing_the_launch_throttle_relaxes_the_dwfm_intake_with_it():
    from simulation.subsystems.ec2.dwfm import ThrottleParams as DwfmThrottle

    r = region(0.0001, launches={"load": [{"at": "0 s", "rate": "1/s"}]})
    d, la = r.ec2.dwfm, r.ec2.launches
    d.set_throttle(DwfmThrottle(rate="0.1/s", mode="queue", state_changes=True))
    la.set_throttle(ThrottleParams(rate="0.1/s"))
    la.relax(RelaxParams(factor=2.0, interval="60 s"))
    r.env.run(61.0)  # one step: the launch throttle rejected most calls
    assert la.throttle is not None and la.throttle.rate == pytest.approx(0.2)
    assert d.intake is not None and d.intake.bucket is not None
    assert d.intake.bucket.rate == pytest.approx(0.2)
    la.set_throttle(ThrottleParams(rate=None))  # lifted by hand: the relaxation ends
    d.scale_intake(None)
    assert d.intake.bucket is None


def test_a_replacement_terminates_the_instance_once_and_launches_one_for_the_group():
    """An Auto Scaling group's replacement (asked on the feed): the instance is terminated now
    (its lifetime's end later changes nothing), and a launch request made for the group, whose
    instance carries the group; an instance EC2 does not know, or one already ending, is not
    replaced."""
    at = 1800.0
    ended: list[int] = []
    asked: list[bool] = []
    chosen: list[Instance] = []
    running: dict[int, Instance] = {}

    def wire(ec2) -> None:
        feed = ec2.instance_feed
        feed.subscribe(lambda i: running.__setitem__(i.id, i), None, lambda i: ended.append(i.id))

        def replace(_e) -> None:
            victim = next(i for i in running.values() if i.running and not i.preexisting)
            chosen.append(victim)
            asked.append(feed.request_replacement(victim, "group-a"))
            asked.append(feed.request_replacement(victim, "group-a"))
            asked.append(feed.request_replacement(Instance(-7, "az1", 0.0), "group-a"))

        ec2.env.timeout(at).callbacks.append(replace)

    r = region(
        2 * H,
        before=wire,
        launches={"load": [{"at": "0 s", "rate": "0.5/s"}], "lifetime": "20 min"},
    )
    victim = chosen[0]
    assert asked == [True, False, False]
    assert victim.terminated_at == at and ended.count(victim.id) == 1
    mine = [i for i in running.values() if i.group == "group-a"]
    assert len(mine) == 1 and mine[0].launched_at >= at
    c = r.ec2.launches.counts
    assert c["replacements"] == 1
    assert all(i.group is None for i in running.values() if i is not mine[0])
