"""Lease table: one holder per key, exact deadlines, lazy expiry by one watcher, records."""

from __future__ import annotations

import math
import random
from datetime import datetime

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulation.core import Results, SimEnv
from simulation.primitives.resilience.lease import LeaseConfig, LeaseTable

START = datetime.fromisoformat("2025-10-19T23:00:00-07:00")


def at(env: simpy.Environment, t: float, fn) -> None:
    """Run `fn()` at sim time t."""

    def proc():
        yield env.timeout(t - env.now)
        fn()

    env.process(proc())


def test_config_parses_and_builds() -> None:
    env = SimEnv(START)
    table = LeaseConfig(duration="2 min", resolution="1 s").build(env, scope="region.leases")
    assert (table.duration, table.resolution) == (120.0, 1.0)
    assert all(f.description for f in LeaseConfig.model_fields.values())
    with pytest.raises(ValidationError, match="unit"):
        LeaseConfig(duration=30)


def test_lifecycle_records_level_events_and_callback() -> None:
    env = SimEnv(START)
    expired: list[tuple[float, object, object]] = []
    table = LeaseTable(
        env,
        10.0,
        scope="region.dwfm.leases",
        on_expire=lambda k, h: expired.append((env.now, k, h)),
    )
    assert table.grant("d1", "host0") and table.grant("d2", "host0") and table.grant("d3", "h1")
    assert not table.grant("d1", "host1")  # held by another
    at(env, 4, lambda: table.release("d3", "h1"))
    at(env, 6, lambda: table.renew("d1", "host0"))
    env.run(until=30)
    assert expired == [(10.0, "d2", "host0"), (16.0, "d1", "host0")]
    held = Results(env, 30).level("region.dwfm.leases", "held")
    assert list(zip(held.times, held.values, strict=True)) == [
        (0.0, 3.0),
        (4.0, 2.0),
        (10.0, 1.0),
        (16.0, 0.0),
    ]
    rows = env.recorder.events_of("lease_expired", "region.dwfm.leases")
    assert [(t, d) for t, _, _, d in rows] == [(10.0, "d2 holder=host0"), (16.0, "d1 holder=host0")]
    assert (table.granted, table.renewed, table.released, table.expired) == (3, 1, 1, 2)


def test_queries_are_exact_between_watcher_ticks() -> None:
    env = simpy.Environment()
    table = LeaseTable(env, 1.0, resolution=10.0)  # the watcher looks only every 10 s
    table.grant("k", "a")
    seen = {}

    def probe():
        yield env.timeout(0.999)
        seen["before"] = (table.holder("k"), table.is_held("k", "a"), table.deadline_of("k"))
        yield env.timeout(0.002)
        seen["after"] = (table.holder("k"), table.is_held("k"), table.count_held)
        assert table.grant("k", "b")  # past its deadline: free for another holder
        seen["regrant"] = table.holder("k")

    env.process(probe())
    env.run(until=20)
    assert seen["before"] == ("a", True, 1.0)
    assert seen["after"] == (None, False, 1)  # the watcher has not run yet
    assert seen["regrant"] == "b"
    assert table.expired == 2 and table.count_held == 0


def test_expiry_is_late_by_less_than_the_resolution() -> None:
    env = simpy.Environment()
    times = []
    table = LeaseTable(env, 1.0, resolution=0.25, on_expire=lambda k, h: times.append(env.now))
    at(env, 0.3, lambda: table.grant("k", 1))  # deadline 1.3 -> processed at 1.5
    env.run()
    assert times == [pytest.approx(1.5)]


def test_an_earlier_deadline_wakes_the_watcher() -> None:
    env = simpy.Environment()
    times = {}
    table = LeaseTable(env, 100.0, on_expire=lambda k, h: times.setdefault(k, env.now))
    table.grant("long", 1)
    at(env, 5, lambda: table.grant("short", 1, duration=2))
    env.run()
    assert times == {"short": pytest.approx(7.0), "long": pytest.approx(100.0)}


def test_shortened_renewal_and_slot_reuse() -> None:
    env = simpy.Environment()
    log = []
    table = LeaseTable(env, 10.0, on_expire=lambda k, h: log.append((round(env.now, 6), k, h)))
    table.grant("a", 1)
    at(env, 1, lambda: table.renew("a", 1, duration=2))  # deadline moves earlier: 3
    at(env, 4, lambda: table.grant("b", 2))  # reuses a's slot; a's old entry (10) is stale
    at(env, 12, lambda: table.renew("b", 2))  # b: 22
    env.run()
    assert log == [(3.0, "a", 1), (22.0, "b", 2)]
    assert len(table._heap) == 0 and len(table._keys) == 1


def test_callback_may_regrant() -> None:
    env = simpy.Environment()
    owners = []

    def failover(key, holder):
        owners.append((env.now, holder))
        if holder == "primary":
            table.grant(key, "standby")

    table = LeaseTable(env, 5.0, on_expire=failover)
    table.grant("lock", "primary")
    env.run()
    assert owners == [(5.0, "primary"), (10.0, "standby")]


# -- against a reference model --------------------------------------------------------------
OPS = st.lists(
    st.tuples(
        st.sampled_from(["grant", "renew", "release", "wait"]),
        st.integers(0, 3),  # key
        st.integers(0, 2),  # holder
        st.sampled_from([0.5, 1.0, 2.5]),  # duration, or time to wait
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(ops=OPS)
def test_one_holder_at_a_time_matches_a_reference(ops) -> None:
    env = simpy.Environment()
    res = 0.25
    expiries: list[tuple[float, int, int]] = []
    table = LeaseTable(
        env, 1.0, resolution=res, on_expire=lambda k, h: expiries.append((env.now, k, h))
    )
    ref: dict[int, tuple[int, float]] = {}  # key -> (holder, deadline)
    expected: list[tuple[int, int, float]] = []  # (key, holder, deadline) of expired leases

    def check() -> None:
        now = env.now
        for key in range(4):
            live = ref.get(key)
            want = live[0] if live and live[1] > now else None
            assert table.holder(key) == want
            assert table.is_held(key) == (want is not None)
            others = [h for h in range(3) if table.is_held(key, h)]
            assert len(others) <= 1  # never two holders

    def driver():
        for op, key, holder, x in ops:
            now = env.now
            live = ref.get(key)
            if live and live[1] <= now:  # past its deadline: the reference expires it too
                expected.append((key, live[0], live[1]))
                del ref[key]
                live = None
            if op == "grant":
                ok = table.grant(key, holder, duration=x)
                assert ok == (live is None or live[0] == holder)
                if ok:
                    ref[key] = (holder, now + x)
            elif op == "renew":
                ok = table.renew(key, holder, duration=x)
                assert ok == (live is not None and live[0] == holder)
                if ok:
                    ref[key] = (holder, now + x)
            elif op == "release":
                ok = table.release(key, holder)
                assert ok == (live is not None and live[0] == holder)
                if ok:
                    del ref[key]
            else:
                yield env.timeout(x)
            check()

    env.process(driver())
    env.run()  # the watcher expires everything left
    expected.extend((k, h, d) for k, (h, d) in ref.items())
    got = sorted((k, h, t) for t, k, h in expiries)
    want = sorted(expected)
    assert [(k, h) for k, h, _ in got] == [(k, h) for k, h, _ in want]
    for (_, _, t), (_, _, deadline) in zip(got, want, strict=True):
        assert deadline <= t + 1e-9 and t < deadline + res + 1e-9
    assert table.count_held == 0 and not table._slot_of


def test_many_leases_renewed_by_hosts_expire_exactly_when_renewals_stop() -> None:
    """20 000 droplets, 4 hosts renewing every 60 s with 300 s leases; host 2 stops at 1000 s."""
    env = SimEnv(START, seed=3)
    expired: dict[int, float] = {}
    table = LeaseTable(
        env,
        300.0,
        resolution=1.0,
        scope="region.dwfm.leases",
        record_expiry=False,
        on_expire=lambda k, h: expired.__setitem__(k, env.now),
    )
    rng = random.Random(1)
    last_renewal: dict[int, float] = {}

    def host(h: int, droplets: list[int], stop: float):
        yield env.timeout(rng.uniform(0, 60))
        for d in droplets:
            table.grant(d, h)
            last_renewal[d] = env.now
        while env.now + 60 < stop:
            yield env.timeout(60)
            for d in droplets:
                assert table.renew(d, h)
                last_renewal[d] = env.now

    ids = list(range(20_000))
    for h in range(4):
        env.process(host(h, ids[h::4], 1000.0 if h == 2 else math.inf))
    env.run(until=3000)
    assert set(expired) == set(ids[2::4])
    for d, t in expired.items():
        assert last_renewal[d] + 300 <= t < last_renewal[d] + 301
    assert table.count_held == 15_000
    assert Results(env, 3000).level("region.dwfm.leases", "held").current == 15_000
    assert len(table._heap) <= 15_000 + 100  # about one heap entry per lease
