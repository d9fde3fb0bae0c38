"""SimEnv's event loop, call_in and Sleeper: the same events, in the same order, as simpy's."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Generator
from datetime import datetime
from typing import Any

import pytest
import simpy

from simulation.core import SimEnv
from simulation.core.env import call_in
from simulation.core.timers import TimerHeap

START = datetime.fromisoformat("2025-10-19T23:00:00-07:00")


def _workload(env: simpy.Environment, trace: list[tuple[float, str]]) -> None:
    """Processes, timeouts, same-time ties, conditions and an interrupt."""
    rng = random.Random(7)

    def worker(name: str) -> Generator[simpy.Event, Any, None]:
        for _ in range(20):
            try:
                yield env.timeout(rng.choice([0.0, 0.5, 1.0, rng.random()]))
                trace.append((env.now, name))
                wake = env.event()
                env.timeout(0.5).callbacks.append(lambda _e, w=wake: w.succeed())
                yield wake | env.timeout(0.5)
            except simpy.Interrupt:
                trace.append((env.now, f"{name} interrupted"))

    procs = [env.process(worker(f"w{i}")) for i in range(3)]
    env.timeout(2.25).callbacks.append(lambda _e: procs[1].interrupt("now"))
    for i in range(10):
        env.timeout(i * 0.5).callbacks.append(lambda _e, i=i: trace.append((env.now, f"t{i}")))


def test_run_processes_events_as_simpy_does_with_now_set_in_callbacks():
    plain, sim = simpy.Environment(), SimEnv(START)
    a: list[tuple[float, str]] = []
    b: list[tuple[float, str]] = []
    _workload(plain, a)
    _workload(sim, b)
    for t in (7.5, 15, 30):  # in chunks, as the runner does
        plain.run(until=t)
        sim.run(until=t)
    assert a == b and len(a) > 60
    assert next(plain._eid) == next(sim._eid)  # the same number of events scheduled


def test_step_sets_now_before_the_callbacks_run():
    env = SimEnv(START)
    seen: list[tuple[float, float]] = []
    for t in (1.0, 2.5):
        env.timeout(t).callbacks.append(lambda _e, t=t: seen.append((t, env.now)))
    env.step()
    env.step()
    assert seen == [(1.0, 1.0), (2.5, 2.5)] and env.now == env._now == 2.5
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()


def test_run_until_and_failures_behave_as_in_simpy():
    env = SimEnv(START)
    env.run(until=5)
    with pytest.raises(ValueError, match="must be greater"):
        env.run(until=5)
    done = env.timeout(3, "value")
    assert env.run(until=done) == "value" and env.now == 8
    env.event().fail(KeyError("boom"))
    with pytest.raises(KeyError, match="boom"):
        env.run()
    assert env.run() is None  # nothing left


def test_call_in_takes_the_place_of_a_timeout_with_a_callback():
    plain, sim = simpy.Environment(), SimEnv(START)
    a: list[Any] = []
    b: list[Any] = []
    for i, d in enumerate([1.0, 0.0, 1.0, 0.5, 0.0]):
        plain.timeout(d, i).callbacks.append(lambda e: a.append((plain.now, e.value)))
        sim.call_in(d, lambda c: b.append((sim.now, c.value)), i)
    plain.run()
    sim.run()
    assert a == b == [(0.0, 1), (0.0, 4), (0.5, 3), (1.0, 0), (1.0, 2)]
    with pytest.raises(ValueError, match="Negative delay"):
        call_in(sim, -1.0, print)


class _ProcessTimerHeap:
    """TimerHeap as it was, a process sleeping on `timeout | wake`: the reference."""

    def __init__(self, env: simpy.Environment, fire: Callable[[Any], None]) -> None:
        self.env, self.fire = env, fire
        self._heap: list[tuple[float, Any, Any]] = []
        self._wake: simpy.Event | None = None
        self._due = math.inf
        env.process(self._run())

    def push(self, t: float, key: Any, item: Any) -> None:
        heapq.heappush(self._heap, (t, key, item))
        wake = self._wake
        if wake is not None and t < self._due and not wake.triggered:
            wake.succeed()

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env, heap = self.env, self._heap
        while True:
            now = env.now
            while heap and heap[0][0] <= now:
                self.fire(heapq.heappop(heap)[2])
            self._wake = env.event()
            if heap:
                self._due = heap[0][0]
                yield env.timeout(self._due - now) | self._wake
            else:
                self._due = math.inf
                yield self._wake
            self._wake = None


@pytest.mark.parametrize("seed", range(5))
def test_timer_heap_schedules_the_events_its_process_did(seed: int):
    def trace(cls: Any) -> tuple[list[tuple[float, str]], int]:
        env = simpy.Environment()
        rng = random.Random(seed)
        out: list[tuple[float, str]] = []
        heap = cls(env, lambda item: out.append((env.now, item)))
        n = 0

        def push(_e: Any) -> None:
            nonlocal n
            for _ in range(rng.randint(1, 3)):
                n += 1
                heap.push(env.now + rng.choice([0.0, 0.25, 1.0, rng.random() * 3]), n, f"p{n}")

        for i in range(60):  # pushes at random instants, ties included, and other events
            t = rng.choice([i * 0.25, rng.random() * 15])
            env.timeout(t).callbacks.append(push)
            env.timeout(t).callbacks.append(lambda _e, i=i: out.append((env.now, f"e{i}")))
        env.run()
        return out, next(env._eid)

    assert trace(TimerHeap) == trace(_ProcessTimerHeap)
