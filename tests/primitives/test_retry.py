"""Retry policies, budgets and call_with_retry: exact sequences, distributions, simpy behaviour."""

from __future__ import annotations

import math
import random
import statistics

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulation.primitives.resilience.retry import (
    ATTEMPTS_EXHAUSTED,
    BUDGET_EXHAUSTED,
    NOT_RETRYABLE,
    POLICIES,
    AttemptTimeout,
    RetryBudget,
    RetryConfig,
    call_with_retry,
)


def cfg(**kw: object) -> RetryConfig:
    base = {"base": "100 ms", "cap": "1 s", "max_attempts": None}
    return RetryConfig(**(base | kw))


def delays(config: RetryConfig, n: int, seed: int = 1) -> list[float | None]:
    rng = random.Random(seed)
    b = config.backoff()
    return [b.next_delay(rng) for _ in range(n)]


# -- configuration ------------------------------------------------------------------------
def test_config_parses_units_and_defaults() -> None:
    c = RetryConfig(policy="exponential", base="250 ms", cap="30 s", attempt_timeout="2 s")
    assert (c.base, c.cap, c.attempt_timeout, c.max_attempts) == (0.25, 30.0, 2.0, 3)
    assert RetryConfig().policy == "full_jitter"
    assert RetryConfig(max_attempts=None).max_attempts is None
    b = RetryConfig(budget={"ratio": 0.2, "max_tokens": 5}).budget
    assert b is not None and (b.ratio, b.max_tokens) == (0.2, 5.0)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="policy"):
        RetryConfig(policy="linear")
    with pytest.raises(ValidationError, match="max_attempts"):
        RetryConfig(max_attempts=0)
    with pytest.raises(ValidationError, match="unit"):
        RetryConfig(base=5)
    with pytest.raises(ValidationError, match="Extra inputs"):
        RetryConfig(jitter=True)


def test_every_field_is_documented() -> None:
    for model in (RetryConfig, RetryConfig.model_fields["budget"].annotation.__args__[0]):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


# -- delays per policy ----------------------------------------------------------------------
def test_deterministic_policies_exact_sequences() -> None:
    assert delays(cfg(policy="none"), 3) == [0.0, 0.0, 0.0]
    assert delays(cfg(policy="fixed"), 3) == [0.1, 0.1, 0.1]
    assert delays(cfg(policy="exponential"), 6) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    triple = delays(cfg(policy="exponential", multiplier=3.0), 4)
    assert triple == pytest.approx([0.1, 0.3, 0.9, 1.0])


def test_exponential_never_overflows() -> None:
    d = delays(cfg(policy="exponential", cap="1 h"), 5000)
    assert d[-1] == 3600.0


def test_full_jitter_uniform_below_the_exponential_ceiling() -> None:
    rng = random.Random(7)
    samples: dict[int, list[float]] = {k: [] for k in range(5)}
    config = cfg(policy="full_jitter")
    for _ in range(4000):
        b = config.backoff()
        for k in range(5):
            samples[k].append(b.next_delay(rng))
    for k, xs in samples.items():
        ceiling = min(1.0, 0.1 * 2**k)
        assert min(xs) >= 0.0 and max(xs) <= ceiling
        # uniform[0, c]: mean c/2, sd c/sqrt(12); 4000 samples -> 5 standard errors
        assert statistics.fmean(xs) == pytest.approx(ceiling / 2, abs=5 * ceiling / 219)
        assert statistics.pstdev(xs) == pytest.approx(ceiling / math.sqrt(12), rel=0.05)


def test_equal_jitter_keeps_half_the_ceiling() -> None:
    rng = random.Random(3)
    config = cfg(policy="equal_jitter")
    xs = [config.backoff().next_delay(rng) for _ in range(4000)]  # first retry: ceiling 0.1
    assert min(xs) >= 0.05 and max(xs) <= 0.1
    assert statistics.fmean(xs) == pytest.approx(0.075, abs=5 * 0.05 / 219)


def test_decorrelated_jitter_follows_brooker() -> None:
    rng = random.Random(11)
    config = cfg(policy="decorrelated_jitter")
    firsts = []
    for _ in range(3000):
        b = config.backoff()
        prev = 0.1
        for i in range(12):
            d = b.next_delay(rng)
            assert 0.1 <= d <= min(1.0, 3 * prev) + 1e-12
            if i == 0:
                firsts.append(d)
            prev = d
    # first sleep uniform[base, 3 base]: mean 2 base
    assert statistics.fmean(firsts) == pytest.approx(0.2, abs=5 * 0.2 / math.sqrt(12) / 55)


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    base=st.floats(0.001, 10.0),
    cap=st.floats(0.001, 100.0),
    max_attempts=st.integers(1, 12),
    seed=st.integers(0, 2**32),
)
def test_delays_bounded_and_attempts_capped(
    policy: str, base: float, cap: float, max_attempts: int, seed: int
) -> None:
    config = RetryConfig(policy=policy, max_attempts=max_attempts).model_copy(
        update={"base": base, "cap": cap}
    )
    rng = random.Random(seed)
    b = config.backoff()
    got = []
    while (d := b.next_delay(rng)) is not None:
        got.append(d)
        assert len(got) < 100
    assert len(got) == max_attempts - 1
    assert b.attempts == max_attempts and b.exhausted == ATTEMPTS_EXHAUSTED
    hi = max(base, cap) if policy in ("fixed", "decorrelated_jitter") else cap
    assert all(0.0 <= d <= hi * (1 + 1e-12) for d in got)


# -- retry budget ---------------------------------------------------------------------------
def test_budget_allows_ratio_of_first_attempts() -> None:
    budget = RetryBudget(ratio=0.1, max_tokens=5)
    config = cfg(policy="none", max_attempts=None)
    rng = random.Random(1)
    retries = 0
    for _ in range(1000):  # each operation would retry forever; the budget stops it
        b = config.backoff(budget)
        while b.next_delay(rng) is not None:
            retries += 1
        assert b.exhausted == BUDGET_EXHAUSTED
    # 5 initial tokens + 0.1 per first attempt; the last fraction may be below one token
    assert retries == 5 + 100 - 1 or retries == 5 + 100
    assert budget.first_attempts == 1000 and budget.retries == retries
    assert budget.denied == 1000


def test_budget_caps_tokens() -> None:
    budget = RetryBudget(ratio=1.0, max_tokens=3)
    for _ in range(10):
        budget.deposit()
    assert budget.tokens == 3
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


# -- call_with_retry ----------------------------------------------------------------------
def run_call(attempt, config, **kw):
    env = simpy.Environment()
    box = {}

    def proc():
        box["outcome"] = yield from call_with_retry(
            env, attempt(env), config, random.Random(1), **kw
        )

    env.process(proc())
    env.run()
    return box["outcome"]


def test_succeeds_on_third_attempt_with_exact_elapsed() -> None:
    def attempt(env):
        n = {"i": 0}

        def one():
            n["i"] += 1
            yield env.timeout(0.5)
            return "done" if n["i"] == 3 else False

        return one

    out = run_call(attempt, cfg(policy="exponential"))
    assert out.ok and out.value == "done" and out.attempts == 3
    assert out.elapsed == pytest.approx(3 * 0.5 + 0.1 + 0.2)
    assert out.reason == "ok" and out.error is None


def test_gives_up_after_max_attempts_keeping_last_error() -> None:
    def attempt(env):
        def one():
            yield env.timeout(1)
            raise ConnectionError("refused")

        return one

    out = run_call(attempt, cfg(policy="fixed", max_attempts=4))
    assert not out.ok and out.attempts == 4 and out.reason == ATTEMPTS_EXHAUSTED
    assert isinstance(out.error, ConnectionError)
    assert out.elapsed == pytest.approx(4 * 1 + 3 * 0.1)


def test_not_retryable_error_stops_at_once() -> None:
    def attempt(env):
        def one():
            yield env.timeout(1)
            raise PermissionError("denied")

        return one

    out = run_call(
        attempt, cfg(max_attempts=5), retryable=lambda e: not isinstance(e, PermissionError)
    )
    assert out.attempts == 1 and out.reason == NOT_RETRYABLE


def test_attempt_timeout_abandons_slow_attempts_which_keep_running() -> None:
    finished = []

    def attempt(env):
        def one():
            yield env.timeout(5)  # always slower than the timeout
            finished.append(env.now)
            raise RuntimeError("late failure must not crash the run")

        return one

    config = cfg(policy="fixed", max_attempts=3, attempt_timeout="2 s")
    out = run_call(attempt, config)
    assert not out.ok and out.timeouts == 3 and isinstance(out.error, AttemptTimeout)
    assert out.elapsed == pytest.approx(3 * 2 + 2 * 0.1)
    # abandoned attempts went on at the server: started at 0, 2.1, 4.2
    assert finished == pytest.approx([5.0, 7.1, 9.2])


def test_attempt_timeout_cancel_interrupts_the_attempt() -> None:
    interrupted = []

    def attempt(env):
        def one():
            try:
                yield env.timeout(5)
            except simpy.Interrupt as i:
                interrupted.append((env.now, i.cause))
                raise
            return True

        return one

    config = cfg(policy="fixed", max_attempts=2, attempt_timeout="1 s")
    out = run_call(attempt, config, cancel_on_timeout=True)
    assert not out.ok and out.timeouts == 2
    assert interrupted == [(1.0, "attempt timeout"), (2.1, "attempt timeout")]
    assert out.elapsed == pytest.approx(2.1)


def test_attempt_within_timeout_returns_its_value() -> None:
    def attempt(env):
        def one():
            yield env.timeout(0.5)
            return 42

        return one

    out = run_call(attempt, cfg(attempt_timeout="1 s"))
    assert out.ok and out.value == 42 and out.timeouts == 0 and out.elapsed == 0.5


def test_failing_attempt_under_timeout_is_a_failure_not_a_crash() -> None:
    def attempt(env):
        def one():
            yield env.timeout(0.5)
            raise ValueError("bad")

        return one

    out = run_call(attempt, cfg(policy="none", max_attempts=2, attempt_timeout="1 s"))
    assert not out.ok and isinstance(out.error, ValueError) and out.attempts == 2


def test_interrupting_the_caller_propagates() -> None:
    env = simpy.Environment()

    def one():
        yield env.timeout(10)
        return True

    def caller():
        try:
            yield from call_with_retry(env, one, cfg(attempt_timeout="20 s"), random.Random(1))
        except simpy.Interrupt:
            caught.append(env.now)

    caught: list[float] = []
    p = env.process(caller())

    def killer():
        yield env.timeout(3)
        p.interrupt()

    env.process(killer())
    env.run()
    assert caught == [3]


def test_budget_stops_a_retry_storm() -> None:
    """Many callers failing at once: retries stay within the budget's ratio of first calls."""
    env = simpy.Environment()
    budget = RetryBudget(ratio=0.2, max_tokens=10)
    config = cfg(policy="full_jitter", max_attempts=10)
    outcomes = []

    def one():
        yield env.timeout(0.01)
        return False

    def caller(i):
        yield env.timeout(i * 0.01)
        outcomes.append((yield from call_with_retry(env, one, config, random.Random(i), budget)))

    for i in range(500):
        env.process(caller(i))
    env.run()
    attempts = sum(o.attempts for o in outcomes)
    assert attempts - 500 <= 10 + 0.2 * 500
    assert attempts - 500 >= 0.2 * 500  # the budget is actually used, not just refused
    assert any(o.reason == BUDGET_EXHAUSTED for o in outcomes)
