"""TimerHeap: many due times in one heap, fired by one process.

A pending simpy timeout per timer makes every operation on simpy's event heap pay for all of
them (the reference scenario starts with 216,000 instance lifetimes, most ending after the run).
Here the timers live in a heap of their own and one process sleeps until the earliest; a push
earlier than that wakes it. Ties fire in `key` order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Generator
from typing import Any

import simpy


class TimerHeap:
    """`push(t, key, item)`: at time `t`, `fire(item)` (see module docstring)."""

    __slots__ = ("_due", "_heap", "_wake", "env", "fire")

    def __init__(self, env: simpy.Environment, fire: Callable[[Any], None]) -> None:
        self.env = env
        self.fire = fire
        self._heap: list[tuple[float, Any, Any]] = []
        self._wake: simpy.Event | None = None
        self._due = math.inf
        env.process(self._run())

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, t: float, key: Any, item: Any) -> None:
        """Fire `item` at `t` (keys must be unique among entries due at the same time)."""
        heapq.heappush(self._heap, (t, key, item))
        wake = self._wake
        if wake is not None and t < self._due and not wake.triggered:
            wake.succeed()

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env, heap, fire = self.env, self._heap, self.fire
        while True:
            now = env.now
            while heap and heap[0][0] <= now:
                fire(heapq.heappop(heap)[2])
            self._wake = env.event()
            if heap:
                self._due = heap[0][0]
                yield env.timeout(self._due - now) | self._wake
            else:
                self._due = math.inf
                yield self._wake
            self._wake = None
