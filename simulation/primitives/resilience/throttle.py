"""Throttles: a token bucket (rate with burst), a concurrency limit (work in flight), and a
shaped intake (a FIFO released at a token bucket's rate).

The first two are admission checks that answer at once: `try_take` / `try_acquire` return False
instead of queueing, so the caller decides what a rejection means (drop, fail fast, back off).
`ShapedIntake` queues instead: work waits in arrival order and leaves at the bucket's rate (a
traffic shaper); work whose requester stopped waiting is skipped at no cost when it reaches the
head. The token
bucket refills lazily from `env.now` at each call: no background process, O(1) per check. In any
window of length w it admits at most `rate * w + burst` tokens. Operators change either limit at
run time with `set_rate` / `set_limit` (the "throttle incoming work" of an incident).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import simpy
from pydantic import Field
from simpy.events import URGENT

from simulation.core.config import SectionConfig
from simulation.core.env import call_in
from simulation.core.timers import Sleeper
from simulation.core.units import Rate


class HasNow(Protocol):
    """Anything with a current time in seconds (a simpy Environment)."""

    @property
    def now(self) -> float: ...


class TokenBucketConfig(SectionConfig):
    """A token bucket: sustained rate plus a burst allowance."""

    rate: Rate = Field("100/s", description="Tokens added per second: the sustained admit rate.")
    burst: float = Field(
        100.0,
        ge=0.0,
        description="Bucket capacity in tokens: the most admitted at once after a quiet "
        "period. The bucket starts full.",
    )

    def build(self, env: HasNow) -> TokenBucket:
        return TokenBucket(env, self.rate, self.burst)


class ConcurrencyLimitConfig(SectionConfig):
    """A cap on work in flight."""

    limit: int = Field(
        100, ge=0, description="Most operations admitted at once; further ones are refused."
    )

    def build(self) -> ConcurrencyLimit:
        return ConcurrencyLimit(self.limit)


class TokenBucket:
    """Admits up to `burst` tokens at once and `rate` tokens per second on average.

    `admitted` and `rejected` count calls (not tokens) for statistics.
    """

    __slots__ = ("_last", "_tokens", "admitted", "burst", "env", "rate", "rejected")

    def __init__(
        self, env: HasNow, rate: float, burst: float, initial: float | None = None
    ) -> None:
        if rate < 0 or burst < 0:
            raise ValueError(f"token bucket needs rate >= 0 and burst >= 0, got {rate}, {burst}")
        self.env = env
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst if initial is None else min(float(initial), self.burst)
        self._last = env.now
        self.admitted = 0
        self.rejected = 0

    def _refill(self) -> float:
        now = self.env.now
        if now > self._last:
            t = self._tokens + (now - self._last) * self.rate
            self._tokens = t if t < self.burst else self.burst
            self._last = now
        return self._tokens

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        return self._refill()

    def try_take(self, n: float = 1.0) -> bool:
        """Take `n` tokens if available now; False (nothing taken) otherwise."""
        if self._refill() >= n:
            self._tokens -= n
            self.admitted += 1
            return True
        self.rejected += 1
        return False

    def spend(self, n: float = 1.0) -> None:
        """Take `n` tokens now, after `wait_time(n)` said 0 (a float shortfall may dip below 0)."""
        self._refill()
        self._tokens -= n
        self.admitted += 1

    def wait_time(self, n: float = 1.0) -> float:
        """Seconds until `n` tokens are available (0 if now; inf if never)."""
        missing = n - self._refill()
        if missing <= 0:
            return 0.0
        if n > self.burst or self.rate <= 0:
            return math.inf
        return missing / self.rate

    def take(self, env: simpy.Environment, n: float = 1.0) -> Generator[simpy.Event, Any, None]:
        """Wait until `n` tokens can be taken, then take them (`yield from bucket.take(env)`)."""
        while self._refill() < n:
            wait = self.wait_time(n)
            if math.isinf(wait):
                raise ValueError(f"{n} tokens can never be available (burst {self.burst})")
            if env.now + wait == env.now:
                break  # a float shortfall too small to wait out: forgiven (tokens dip below 0)
            yield env.timeout(wait)
        self._tokens -= n
        self.admitted += 1

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change the rate (and burst) from now on; tokens earned so far are kept (up to burst)."""
        self._refill()
        self.rate = float(rate)
        if burst is not None:
            self.burst = float(burst)
            self._tokens = min(self._tokens, self.burst)


class ShapedIntake:
    """A FIFO intake drained at a token bucket's rate: work waits in arrival order instead of
    being rejected ("throttle incoming work" as a queue).

    `submit(payload)` queues; one releaser releases the head whenever a token is available and
    calls `release(payload)`. Before releasing, `stale(payload)` is asked: stale work (its
    requester gave up, e.g. a call past its deadline) is dropped without using a token. So a
    caller with a deadline behind a long intake fails, while work that waits patiently (an
    internal workflow) is released in order at the rate. `set_rate(None)` lifts the shaping:
    everything waiting is released at once, and later work passes straight through.
    """

    __slots__ = (
        "_sleep",
        "bucket",
        "env",
        "queue",
        "release",
        "released",
        "skipped",
        "stale",
        "submitted",
    )

    def __init__(
        self,
        env: simpy.Environment,
        bucket: TokenBucket | None,
        release: Callable[[Any], None],
        stale: Callable[[Any], bool] = lambda _p: False,
    ) -> None:
        self.env = env
        self.bucket = bucket
        self.release = release
        self.stale = stale
        self.queue: deque[Any] = deque()
        self.submitted = 0
        self.released = 0
        self.skipped = 0
        # the releaser: callbacks scheduling the events its process did
        self._sleep = Sleeper(env, self._run)
        call_in(env, 0.0, lambda _call: self._run(), None, URGENT)  # the process's start

    @property
    def waiting(self) -> int:
        """Work in the intake (stale work not yet skipped included)."""
        return len(self.queue)

    def submit(self, payload: Any) -> None:
        self.submitted += 1
        if self.bucket is None and not self.queue:
            self.released += 1
            self.release(payload)
            return
        self.queue.append(payload)
        self._sleep.wake()

    def set_rate(self, rate: float | None, burst: float | None = None) -> None:
        """Change the shaping rate; None lifts it (what waits is released now)."""
        if rate is None:
            self.bucket = None
        elif self.bucket is None:
            self.bucket = TokenBucket(self.env, rate, 1.0 if burst is None else burst, 0.0)
        else:
            self.bucket.set_rate(rate, burst)
        self._sleep.wake()

    def _run(self) -> None:
        queue, env = self.queue, self.env
        while True:
            while queue and self.stale(queue[0]):
                queue.popleft()
                self.skipped += 1
            if not queue:
                self._sleep.sleep(None)
                return
            bucket = self.bucket
            if bucket is not None:
                wait = bucket.wait_time()
                if wait > 0.0 and env.now + wait > env.now:  # else a float shortfall: forgiven
                    self._sleep.sleep(wait)
                    return
                bucket.spend()
            payload = queue.popleft()
            self.released += 1
            self.release(payload)


class ConcurrencyLimit:
    """Admits at most `limit` operations in flight; each admitted one must `release()`."""

    __slots__ = ("admitted", "in_use", "limit", "rejected")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"concurrency limit must be >= 0, got {limit}")
        self.limit = limit
        self.in_use = 0
        self.admitted = 0
        self.rejected = 0

    @property
    def available(self) -> int:
        return max(self.limit - self.in_use, 0)

    def try_acquire(self) -> bool:
        """Admit one operation if under the limit; False otherwise."""
        if self.in_use < self.limit:
            self.in_use += 1
            self.admitted += 1
            return True
        self.rejected += 1
        return False

    def release(self) -> None:
        """End one admitted operation."""
        if self.in_use <= 0:
            raise RuntimeError("release() without a matching successful try_acquire()")
        self.in_use -= 1

    def set_limit(self, limit: int) -> None:
        """Change the limit; work already in flight above a lowered limit finishes normally."""
        if limit < 0:
            raise ValueError(f"concurrency limit must be >= 0, got {limit}")
        self.limit = limit

    @contextmanager
    def permit(self) -> Iterator[bool]:
        """`with limit.permit() as ok:` admits if possible and releases on exit when admitted."""
        ok = self.try_acquire()
        try:
            yield ok
        finally:
            if ok:
                self.release()
