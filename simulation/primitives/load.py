"""Load profiles: a piecewise-constant Poisson arrival rate over time, shared by labs.

A profile is written in YAML as a list of steps, each holding its rate from its `at` until the
next step's `at` (the last one until the end of the run):

    load:
      - {at: "0 s", rate: "50/s"}
      - {at: "10 min", rate: "120/s"}

Before the first step the rate is zero. Arrivals are a non-homogeneous Poisson process drawn
exactly: within a step the gaps are exponential; a gap that would cross into the next step is
discarded and redrawn from the boundary at the new rate (the exponential is memoryless, so this
is exact, not an approximation).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import simpy
from pydantic import AfterValidator, Field
from simpy.events import URGENT

from simulation.core.config import SectionConfig
from simulation.core.env import call_in
from simulation.core.units import Duration, Rate, format_duration


class LoadStep(SectionConfig):
    """One step of a load profile: from `at` on, arrivals come at `rate` (Poisson)."""

    at: Duration = Field(
        "0 s", description="When this rate starts, counted from the scenario start."
    )
    rate: Rate = Field("10/s", description="Mean arrival rate from `at` until the next step.")

    def __repr__(self) -> str:
        return f"{{at: '{format_duration(self.at)}', rate: '{self.rate:g}/s'}}"


def _check_steps(steps: tuple[LoadStep, ...]) -> tuple[LoadStep, ...]:
    if not steps:
        raise ValueError("a load profile needs at least one step, e.g. [{at: '0 s', rate: '10/s'}]")
    for prev, step in itertools.pairwise(steps):
        if step.at <= prev.at:
            raise ValueError(
                f"load steps must be in increasing order of 'at' "
                f"(a step at {step.at:g} s follows one at {prev.at:g} s)"
            )
    return steps


LoadSteps = Annotated[tuple[LoadStep, ...], AfterValidator(_check_steps)]
"""A validated, ordered list of load steps (the YAML form of a profile)."""


def steps(*pairs: tuple[Any, Any]) -> tuple[LoadStep, ...]:
    """Shorthand for code and tests: `steps(("0 s", "50/s"), ("10 min", "120/s"))`."""
    return _check_steps(tuple(LoadStep(at=at, rate=rate) for at, rate in pairs))


class LoadProfile:
    """The runtime form of a profile: rate lookups, integrals and exact Poisson arrivals."""

    __slots__ = ("rates", "starts")

    def __init__(self, load: Sequence[LoadStep]) -> None:
        _check_steps(tuple(load))
        self.starts = [s.at for s in load]
        self.rates = [s.rate for s in load]

    def rate_at(self, t: float) -> float:
        """The arrival rate holding at time `t` (0 before the first step)."""
        i = bisect.bisect_right(self.starts, t) - 1
        return self.rates[i] if i >= 0 else 0.0

    def expected(self, t0: float, t1: float) -> float:
        """Expected number of arrivals in [t0, t1): the integral of the rate."""
        total = 0.0
        starts, rates = self.starts, self.rates
        for i, (s, r) in enumerate(zip(starts, rates, strict=True)):
            e = starts[i + 1] if i + 1 < len(starts) else math.inf
            lo, hi = max(s, t0), min(e, t1)
            if hi > lo:
                total += (hi - lo) * r
        return total

    def next_arrival(self, t: float, rng: random.Random) -> float:
        """The first arrival after `t` (math.inf if the rate stays zero from here on)."""
        starts, rates = self.starts, self.rates
        n = len(starts)
        i = bisect.bisect_right(starts, t) - 1
        if i < 0:
            t, i = starts[0], 0
        while True:
            end = starts[i + 1] if i + 1 < n else math.inf
            r = rates[i]
            if r > 0.0:
                candidate = t + rng.expovariate(r)
                if candidate < end:
                    return candidate
            if end == math.inf:
                return math.inf
            t, i = end, i + 1

    def arrivals(self, t0: float, t1: float, rng: random.Random) -> Iterator[float]:
        """Arrival times in [t0, t1), without simpy (for analysis and tests)."""
        t = self.next_arrival(t0, rng)
        while t < t1:
            yield t
            t = self.next_arrival(t, rng)


class PoissonArrivals:
    """Calls `emit()` at each arrival of `profile` from now on (stops when the rate stays 0),
    as callbacks: what a process looping on `yield env.timeout(...)` did, without the process.

    It schedules the same events at the same points (an urgent event where the process's
    Initialize was, then a timer per arrival where the process's timeout was) and draws the
    same numbers in the same order (`emit()` runs before the next arrival is drawn, as there);
    only the process's end event, which nobody waits on, is gone.
    """

    __slots__ = ("_end", "_i", "_rate", "_t", "emit", "env", "expovariate", "profile")

    def __init__(
        self,
        env: simpy.Environment,
        profile: LoadProfile,
        rng: random.Random,
        emit: Callable[[], None],
    ) -> None:
        self.env = env
        self.profile = profile
        self.expovariate = rng.expovariate
        self.emit = emit
        self._i = -1
        self._t = 0.0
        self._end = 0.0
        self._rate = 0.0
        call_in(env, 0.0, self._start, None, URGENT)  # where the process started

    def _start(self, _call: Any) -> None:
        self._t = self.env.now
        self._next_step()

    def _next_step(self) -> None:
        """Walk to the next step with arrivals before its end and schedule the first."""
        starts, rates = self.profile.starts, self.profile.rates
        n = len(starts)
        while True:
            self._i = i = self._i + 1
            if i >= n:
                return  # the rate stays 0: the process ended here
            end = starts[i + 1] if i + 1 < n else math.inf
            if end <= self._t:
                continue
            self._t = max(self._t, starts[i])
            rate = rates[i]
            if rate > 0.0:
                self._end, self._rate = end, rate
                if self._schedule():
                    return
            self._t = end

    def _schedule(self) -> bool:
        t = self._t = self._t + self.expovariate(self._rate)
        if t >= self._end:
            return False
        delay = t - self.env.now
        call_in(self.env, delay if delay > 0.0 else 0.0, self._arrive)
        return True

    def _arrive(self, _call: Any) -> None:
        self.emit()
        if not self._schedule():
            self._t = self._end
            self._next_step()
