"""Retry policies: back-off with and without jitter, attempt limits, timeouts, retry budgets.

The delay before retry n (n = 1 for the first retry) follows the policy:

- `none`: retry at once (delay 0). To make no retry at all, set `max_attempts: 1`.
- `fixed`: `base` every time.
- `exponential`: `min(cap, base * multiplier**(n-1))`, the same for every client.
- `full_jitter`: uniform in `[0, ceiling]` where ceiling is the exponential delay.
- `equal_jitter`: `ceiling/2 + uniform[0, ceiling/2]`.
- `decorrelated_jitter`: `min(cap, uniform[base, 3 * previous])`, previous starting at `base`.

The jitter policies are those of M. Brooker, "Exponential Backoff And Jitter" (AWS Architecture
Blog, 2015). A `Backoff` is the state of one operation's retries; it draws from the caller's RNG
stream and needs no simpy process. A `RetryBudget` is shared by many operations: each first
attempt deposits `ratio` tokens and each retry spends one, so retries stay a bounded fraction of
traffic (the retry-storm brake of Finagle's RetryBudget and gRPC's retry throttling).
`call_with_retry` runs an attempt generator with per-attempt timeouts and back-off.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

import simpy
from pydantic import Field

from simulation.core.config import SectionConfig
from simulation.core.units import Duration

RetryPolicy = Literal[
    "none", "fixed", "exponential", "full_jitter", "equal_jitter", "decorrelated_jitter"
]
POLICIES: tuple[str, ...] = (
    "none",
    "fixed",
    "exponential",
    "full_jitter",
    "equal_jitter",
    "decorrelated_jitter",
)

# Reasons an operation stopped retrying (Outcome.reason, Backoff.exhausted).
OK = "ok"
ATTEMPTS_EXHAUSTED = "attempts_exhausted"
BUDGET_EXHAUSTED = "budget_exhausted"
NOT_RETRYABLE = "not_retryable"


class RetryBudgetConfig(SectionConfig):
    """A retry budget shared by many operations: retries as a ratio of first attempts."""

    ratio: float = Field(
        0.1,
        ge=0.0,
        description="Retries allowed per first attempt: each first attempt deposits this many "
        "tokens, each retry spends one token (0.1 = retries at most 10% of first attempts).",
    )
    max_tokens: float = Field(
        10.0,
        ge=0.0,
        description="Most tokens the budget holds, and what it starts with: the retries allowed "
        "in a burst before first attempts have refilled it.",
    )

    def build(self) -> RetryBudget:
        return RetryBudget(self.ratio, self.max_tokens)


class RetryConfig(SectionConfig):
    """How one kind of operation retries: back-off policy, limits, per-attempt timeout, budget."""

    policy: RetryPolicy = Field(
        "full_jitter",
        description="Back-off between attempts: none (retry at once), fixed (base), exponential "
        "(base * multiplier^(n-1), capped), full_jitter (uniform 0..exponential), equal_jitter "
        "(half exponential + uniform 0..half), decorrelated_jitter (uniform base..3 x previous, "
        "capped).",
    )
    base: Duration = Field(
        "100 ms",
        description="Delay before the first retry (exponential policies), the fixed delay "
        "(fixed), the lower bound (decorrelated_jitter).",
    )
    cap: Duration = Field("20 s", description="Longest delay between two attempts.")
    multiplier: float = Field(
        2.0, ge=1.0, description="Growth of the exponential ceiling from one retry to the next."
    )
    max_attempts: int | None = Field(
        3,
        ge=1,
        description="Attempts in total, the first included (1 = never retry); null = unlimited.",
    )
    attempt_timeout: Duration | None = Field(
        None,
        description="An attempt not finished after this long counts as failed and the caller "
        "moves on (the abandoned work may go on elsewhere); null = wait for every attempt.",
    )
    budget: RetryBudgetConfig | None = Field(
        None,
        description="Optional retry budget shared by all operations of the owner; null = none.",
    )

    def backoff(self, budget: RetryBudget | None = None) -> Backoff:
        """The retry state of one operation (its first attempt is counted against `budget`)."""
        return Backoff(self, budget)

    def make_budget(self) -> RetryBudget | None:
        """A fresh budget from `budget`, to be shared by the owner's operations (None if unset)."""
        return None if self.budget is None else self.budget.build()


class RetryBudget:
    """Token-bucket retry budget: first attempts deposit `ratio` tokens, a retry spends one."""

    __slots__ = ("denied", "first_attempts", "max_tokens", "ratio", "retries", "tokens")

    def __init__(self, ratio: float, max_tokens: float) -> None:
        self.ratio = ratio
        self.max_tokens = max_tokens
        self.tokens = max_tokens
        self.first_attempts = 0
        self.retries = 0
        self.denied = 0

    def deposit(self) -> None:
        """Count one first attempt."""
        self.first_attempts += 1
        t = self.tokens + self.ratio
        self.tokens = t if t < self.max_tokens else self.max_tokens

    def try_spend(self) -> bool:
        """Take one token for a retry; False (and counted as denied) if none is left."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.retries += 1
            return True
        self.denied += 1
        return False


class Backoff:
    """The retry state of one operation: attempts made and the next delay, per the policy.

    Call `next_delay(rng)` after each failed attempt: it returns the seconds to wait before the
    next attempt, or None when the operation must give up (`exhausted` says why).
    """

    __slots__ = ("_ceiling", "_sleep", "attempts", "budget", "config", "exhausted")

    def __init__(self, config: RetryConfig, budget: RetryBudget | None = None) -> None:
        self.config = config
        self.budget = budget
        self.attempts = 1
        self.exhausted: str | None = None
        self._ceiling = min(config.cap, config.base)
        self._sleep = config.base
        if budget is not None:
            budget.deposit()

    def next_delay(self, rng: random.Random) -> float | None:
        """Seconds before the next attempt, or None to give up (attempts or budget exhausted)."""
        config = self.config
        if config.max_attempts is not None and self.attempts >= config.max_attempts:
            self.exhausted = ATTEMPTS_EXHAUSTED
            return None
        if self.budget is not None and not self.budget.try_spend():
            self.exhausted = BUDGET_EXHAUSTED
            return None
        self.attempts += 1
        policy = config.policy
        if policy == "decorrelated_jitter":
            base = config.base
            hi = self._sleep * 3.0
            sleep = base + (hi - base) * rng.random()
            self._sleep = sleep if sleep < config.cap else config.cap
            return self._sleep
        if policy == "none":
            return 0.0
        if policy == "fixed":
            return config.base
        ceiling = self._ceiling
        grown = ceiling * config.multiplier
        self._ceiling = grown if grown < config.cap else config.cap
        if policy == "exponential":
            return ceiling
        if policy == "full_jitter":
            return ceiling * rng.random()
        half = ceiling * 0.5  # equal_jitter
        return half + half * rng.random()


class AttemptTimeout(Exception):
    """An attempt did not finish within the configured `attempt_timeout`."""


@dataclass(slots=True)
class Outcome:
    """What a retried operation came to."""

    ok: bool
    attempts: int
    elapsed: float
    value: Any = None
    error: BaseException | None = None
    timeouts: int = 0
    reason: str = OK
    """`ok`, `attempts_exhausted`, `budget_exhausted` or `not_retryable`."""


def _defuse(event: simpy.Event) -> None:
    """Callback that keeps a failed, abandoned attempt from crashing the simulation."""
    event.defused = True


def call_with_retry(
    env: simpy.Environment,
    attempt: Callable[[], Generator[simpy.Event, Any, Any]],
    config: RetryConfig,
    rng: random.Random,
    budget: RetryBudget | None = None,
    *,
    retryable: Callable[[BaseException], bool] | None = None,
    cancel_on_timeout: bool = False,
) -> Generator[simpy.Event, Any, Outcome]:
    """Run `attempt()` until it succeeds or the policy gives up; returns an `Outcome`.

    `attempt()` returns a fresh generator per attempt; it succeeds by returning a truthy value
    and fails by returning a falsy one or raising an Exception (`retryable(error)` False stops
    at once). With `attempt_timeout`, each attempt runs as its own process and the caller moves
    on when the timeout fires; the abandoned attempt keeps running (as work does on a server
    that never hears the client left) unless `cancel_on_timeout`, which interrupts it.
    Use as `outcome = yield from call_with_retry(...)` inside a process.
    """
    start = env.now
    backoff = Backoff(config, budget)
    timeout = config.attempt_timeout
    timeouts = 0
    while True:
        value: Any = None
        error: BaseException | None = None
        if timeout is None:
            try:
                value = yield from attempt()
            except simpy.Interrupt:
                raise
            except Exception as exc:
                error = exc
        else:
            proc = env.process(attempt())
            try:
                yield proc | env.timeout(timeout)
            except simpy.Interrupt:
                _abandon(proc, cancel_on_timeout)
                raise
            except Exception as exc:
                error = exc
            else:
                if proc.triggered:
                    if proc.ok:
                        value = proc.value
                    else:
                        proc.defused = True
                        error = proc.value
                else:
                    timeouts += 1
                    error = AttemptTimeout(f"attempt {backoff.attempts} timed out after {timeout}s")
                    _abandon(proc, cancel_on_timeout)
        if error is None and value:
            return Outcome(True, backoff.attempts, env.now - start, value, None, timeouts)
        if error is not None and retryable is not None and not retryable(error):
            return Outcome(
                False, backoff.attempts, env.now - start, value, error, timeouts, NOT_RETRYABLE
            )
        delay = backoff.next_delay(rng)
        if delay is None:
            reason = backoff.exhausted or ATTEMPTS_EXHAUSTED
            return Outcome(False, backoff.attempts, env.now - start, value, error, timeouts, reason)
        if delay > 0.0:
            yield env.timeout(delay)


def _abandon(proc: simpy.Process, cancel: bool) -> None:
    """Leave an attempt behind: interrupt it if asked, and never let its failure crash the run."""
    if proc.callbacks is not None and not proc.triggered:
        if cancel and proc.is_alive:
            proc.interrupt("attempt timeout")
        proc.callbacks.append(_defuse)
    elif proc.triggered and not proc.ok:
        proc.defused = True
