"""Token bucket and concurrency limit: theory, run-time changes, and the admission bound."""

from __future__ import annotations

import random

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulation.primitives.resilience.throttle import (
    ConcurrencyLimit,
    ConcurrencyLimitConfig,
    TokenBucket,
    TokenBucketConfig,
)


class Clock:
    """A settable clock: the bucket only reads `now`."""

    def __init__(self) -> None:
        self.now = 0.0


def test_config_parses_units_and_builds() -> None:
    env = simpy.Environment()
    bucket = TokenBucketConfig(rate="5/min", burst=3).build(env)
    assert bucket.rate == pytest.approx(5 / 60) and bucket.burst == 3 and bucket.tokens == 3
    assert ConcurrencyLimitConfig(limit=7).build().limit == 7
    with pytest.raises(ValidationError, match="rate"):
        TokenBucketConfig(rate=5)
    with pytest.raises(ValidationError, match="burst"):
        TokenBucketConfig(burst=-1)
    for model in (TokenBucketConfig, ConcurrencyLimitConfig):
        assert all(f.description for f in model.model_fields.values())


def test_burst_then_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(clock, rate=10, burst=5)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    clock.now = 0.25  # 2.5 tokens earned
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]
    assert bucket.tokens == pytest.approx(0.5)
    assert bucket.wait_time() == pytest.approx(0.05)
    assert bucket.wait_time(6) == float("inf")  # more than the burst: never
    clock.now = 100.0  # refill stops at the burst
    assert bucket.tokens == 5
    assert (bucket.admitted, bucket.rejected) == (7, 2)


def test_overload_admits_rate_plus_burst() -> None:
    """Offered 3x the rate for 100 s: admitted = burst + rate x time, within one token."""
    env = simpy.Environment()
    bucket = TokenBucket(env, rate=50, burst=20)
    admitted = []

    def offered():
        rng = random.Random(5)
        while True:
            yield env.timeout(rng.expovariate(150))
            if bucket.try_take():
                admitted.append(env.now)

    env.process(offered())
    env.run(until=100)
    assert 20 + 50 * 100 - 1 <= len(admitted) <= 20 + 50 * 100


def test_light_load_passes_everything() -> None:
    """Poisson arrivals at 10% of the rate with a burst of 20: losses are vanishingly rare."""
    env = simpy.Environment()
    bucket = TokenBucket(env, rate=100, burst=20)
    seen = [0]

    def offered():
        rng = random.Random(9)
        while True:
            yield env.timeout(rng.expovariate(10))
            seen[0] += 1
            bucket.try_take()

    env.process(offered())
    env.run(until=200)
    assert bucket.rejected == 0 and bucket.admitted == seen[0] > 1800


def test_take_waits_for_tokens() -> None:
    env = simpy.Environment()
    bucket = TokenBucket(env, rate=2, burst=1)
    done = []

    def worker(i):
        yield from bucket.take(env)
        done.append((i, env.now))

    for i in range(4):
        env.process(worker(i))
    env.run()
    times = sorted(t for _, t in done)
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_take_at_large_times_terminates() -> None:
    env = simpy.Environment(initial_time=1e9)
    bucket = TokenBucket(env, rate=1e7, burst=1, initial=0)
    got = []

    def worker():
        for _ in range(3):
            yield from bucket.take(env)
            got.append(env.now)

    env.process(worker())
    env.run()
    assert len(got) == 3


def test_set_rate_applies_from_now() -> None:
    clock = Clock()
    bucket = TokenBucket(clock, rate=10, burst=100, initial=0)
    clock.now = 1.0  # 10 tokens at the old rate
    bucket.set_rate(1)
    clock.now = 3.0  # + 2 at the new rate
    assert bucket.tokens == pytest.approx(12)
    bucket.set_rate(1, burst=5)
    assert bucket.tokens == 5


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(0.1, 100),
    burst=st.floats(0, 20),
    steps=st.lists(
        st.tuples(st.floats(0, 2), st.sampled_from([0.5, 1.0, 1.0, 3.0])), min_size=1, max_size=80
    ),
)
def test_never_admits_more_than_rate_times_window_plus_burst(
    rate: float, burst: float, steps: list[tuple[float, float]]
) -> None:
    clock = Clock()
    bucket = TokenBucket(clock, rate, burst)
    admitted: list[tuple[float, float]] = []
    for gap, n in steps:
        clock.now += gap
        if bucket.try_take(n):
            admitted.append((clock.now, n))
    for i, (t0, _) in enumerate(admitted):
        total = 0.0
        for t1, n in admitted[i:]:
            total += n
            assert total <= rate * (t1 - t0) + burst + 1e-6


def test_concurrency_limit() -> None:
    limit = ConcurrencyLimit(2)
    assert [limit.try_acquire() for _ in range(3)] == [True, True, False]
    limit.release()
    assert limit.available == 1
    limit.set_limit(0)  # lowered below what is in flight: nothing new, nothing pre-empted
    assert not limit.try_acquire() and limit.in_use == 1
    limit.release()
    with pytest.raises(RuntimeError):
        limit.release()
    limit.set_limit(1)
    with limit.permit() as ok:
        assert ok and limit.in_use == 1
        with limit.permit() as ok2:
            assert not ok2
    assert limit.in_use == 0
    assert (limit.admitted, limit.rejected) == (3, 3)


def test_concurrency_limit_as_a_loss_system() -> None:
    """Poisson arrivals, exponential holding, c servers, no queue: blocking is Erlang B."""
    env = simpy.Environment()
    c, lam, mu = 5, 4.0, 1.0
    limit = ConcurrencyLimit(c)
    rng = random.Random(2)

    def job():
        with limit.permit() as ok:
            if ok:
                yield env.timeout(rng.expovariate(mu))

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(lam))
            env.process(job())

    env.process(arrivals())
    env.run(until=20000)
    a = lam / mu
    inv = 1.0
    for k in range(1, c + 1):  # Erlang B recursion
        inv = 1 + inv * k / a
    erlang_b = 1 / inv
    blocked = limit.rejected / (limit.admitted + limit.rejected)
    assert blocked == pytest.approx(erlang_b, abs=0.01)  # ~80k arrivals


@settings(max_examples=50, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["acquire", "release", "set_limit"]), st.integers(0, 4)),
        max_size=60,
    )
)
def test_concurrency_never_admits_above_the_limit(ops: list[tuple[str, int]]) -> None:
    limit = ConcurrencyLimit(3)
    held = released = 0
    for op, value in ops:
        if op == "acquire":
            was_below = limit.in_use < limit.limit
            assert limit.try_acquire() == was_below
            held += was_below
        elif op == "release" and held:
            limit.release()
            held -= 1
            released += 1
        elif op == "set_limit":
            limit.set_limit(value)
        assert limit.in_use == held
        assert limit.admitted - released == limit.in_use


# -- ShapedIntake: a FIFO drained at a token bucket's rate -------------------------------------


def _intake(rate: float | None, burst: float = 1.0, stale=lambda _p: False):
    import simpy

    from simulation.primitives.resilience.throttle import ShapedIntake, TokenBucket

    env = simpy.Environment()
    out: list[tuple[float, object]] = []
    bucket = None if rate is None else TokenBucket(env, rate, burst, 0.0)
    intake = ShapedIntake(env, bucket, lambda p: out.append((env.now, p)), stale)
    return env, intake, out


def test_intake_releases_in_order_at_the_rate() -> None:
    env, intake, out = _intake(0.5)
    for i in range(5):
        intake.submit(i)
    env.run(until=100)
    assert [p for _t, p in out] == [0, 1, 2, 3, 4]
    assert [t for t, _p in out] == pytest.approx([2.0, 4.0, 6.0, 8.0, 10.0])


def test_intake_skips_stale_work_without_a_token() -> None:
    dead = {1, 2}
    env, intake, out = _intake(0.5, stale=lambda p: p in dead)
    for i in range(4):
        intake.submit(i)
    env.run(until=100)
    assert out == [(2.0, 0), (4.0, 3)]
    assert intake.skipped == 2 and intake.released == 2


def test_intake_lifted_releases_everything_waiting() -> None:
    env, intake, out = _intake(0.1)
    for i in range(3):
        intake.submit(i)
    env.run(until=15)
    assert [p for _t, p in out] == [0]
    intake.set_rate(None)
    env.run(until=16)
    assert [p for _t, p in out] == [0, 1, 2]
    intake.submit(9)  # unshaped: straight through
    assert out[-1] == (16.0, 9)


def test_intake_rate_change_takes_effect_while_waiting() -> None:
    env, intake, out = _intake(0.01)  # one per 100 s
    intake.submit("a")
    intake.submit("b")
    env.run(until=1)
    intake.set_rate(1.0)
    env.run(until=10)
    assert [p for _t, p in out] == ["a", "b"]
    assert out[-1][0] < 3.0


def test_intake_long_run_rate_matches_bucket() -> None:
    env, intake, out = _intake(0.25, burst=1.0)
    for i in range(1000):
        intake.submit(i)
    env.run(until=2000)
    assert len(out) == pytest.approx(0.25 * 2000, abs=2)
