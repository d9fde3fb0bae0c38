"""TimerHeap: many due times in one heap, fired by one timer.

A pending simpy timeout per timer makes every operation on simpy's event heap pay for all of
them (the reference scenario starts with 216,000 instance lifetimes, most ending after the run).
Here the timers live in a heap of their own and one timer sleeps until the earliest; a push
earlier than that wakes it. Ties fire in `key` order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import URGENT

from .env import Call, call_in


class Sleeper:
    """A sleep that a wake-up ends early, as callbacks: what a process did with
    `self._wake = env.event(); yield env.timeout(delay) | self._wake` (or `yield self._wake`
    without a delay) and `if wake is not None and not wake.triggered: wake.succeed()`.

    It schedules the same events at the same points: the timeout when the sleep starts, the
    wake-up when `wake()` succeeds it, the condition when either of them fires first, so the
    events around it keep their order; `resume()` runs where the process resumed (the
    condition's processing, or the wake-up's when there is no timeout). The event that lost the
    race still fires, with nothing to do, as the process's did.
    """

    __slots__ = ("_fired", "_timer", "_waiting", "_wcall", "armed", "env", "resume")

    def __init__(self, env: simpy.Environment, resume: Callable[[], None], armed: bool = False):
        self.env = env
        self.resume = resume
        self.armed = armed
        """A wake-up event exists and has not been succeeded (`wake()` would schedule it). True
        at the start for an owner that made its first wake-up event before its process ran:
        that one is scheduled with no one waiting on it."""
        self._waiting = False
        self._timer: Call | None = None
        self._wcall: Call | None = None
        self._fired = False

    def sleep(self, delay: float | None) -> None:
        """Sleep until `delay` from now (None: until woken)."""
        self.armed = self._waiting = True
        self._fired = False
        self._wcall = None
        self._timer = None if delay is None else call_in(self.env, delay, self._on_timer)

    def wake(self) -> None:
        """Succeed the wake-up event, if there is one not yet succeeded."""
        if self.armed:
            self.armed = False
            if self._waiting:
                self._wcall = call_in(self.env, 0.0, self._on_wake)
            else:
                call_in(self.env, 0.0, None)  # made before the process ran: nobody waits

    def _on_timer(self, _call: Any) -> None:
        if not self._fired:
            self._fired = True
            call_in(self.env, 0.0, self._on_condition)

    def _on_wake(self, _call: Any) -> None:
        if self._timer is None:  # slept on the wake-up alone
            self._end()
        elif not self._fired:
            self._fired = True
            call_in(self.env, 0.0, self._on_condition)

    def _on_condition(self, _call: Any) -> None:
        # the condition drops its check from the event that did not fire yet
        timer, wake = self._timer, self._wcall
        if timer is not None and timer.callbacks:
            timer.callbacks.remove(self._on_timer)
        if wake is not None and wake.callbacks:
            wake.callbacks.remove(self._on_wake)
        self._end()

    def _end(self) -> None:
        self.armed = self._waiting = False
        self._timer = self._wcall = None
        self.resume()


class TimerHeap:
    """`push(t, key, item)`: at time `t`, `fire(item)` (see module docstring)."""

    __slots__ = ("_due", "_heap", "_sleep", "env", "fire")

    def __init__(self, env: simpy.Environment, fire: Callable[[Any], None]) -> None:
        self.env = env
        self.fire = fire
        self._heap: list[tuple[float, Any, Any]] = []
        self._due = math.inf
        self._sleep = Sleeper(env, self._run)
        call_in(env, 0.0, lambda _call: self._run(), None, URGENT)  # where a process started

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, t: float, key: Any, item: Any) -> None:
        """Fire `item` at `t` (keys must be unique among entries due at the same time)."""
        heapq.heappush(self._heap, (t, key, item))
        if t < self._due:
            self._sleep.wake()

    def _run(self) -> None:
        env, heap, fire = self.env, self._heap, self.fire
        now = env.now
        while heap and heap[0][0] <= now:
            fire(heapq.heappop(heap)[2])
        if heap:
            self._due = heap[0][0]
            self._sleep.sleep(self._due - now)
        else:
            self._due = math.inf
            self._sleep.sleep(None)
