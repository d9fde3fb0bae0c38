"""The callback-driven Worker schedules the events its generator process did, in the same order.

`_ProcessWorker` is the worker as it was (a simpy process); both serve the same submissions,
stalls and restarts on a shared queue, and must settle the same items at the same instants with
the same accounting and the same number of simpy events.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any

import pytest
import simpy

from simulation.core import Component, SimEnv
from simulation.primitives.resilience.admission import (
    AdmissionConfig,
    WorkItem,
    WorkQueue,
)
from simulation.primitives.servers import Worker
from simulation.primitives.servers.service import ServiceTime
from simulation.primitives.servers.worker import AcceptSource

START = datetime(2025, 10, 20, 0, 0, tzinfo=UTC)


class _ProcessWorker(Component):
    """The worker as it was: a simpy process running a generator loop (the reference)."""

    def __init__(
        self,
        parent: Component,
        index: int | str | None,
        queue: WorkQueue | AdmissionConfig | None,
        service: ServiceTime | None,
        *,
        name: str = "worker",
        wakeup_cost: float = 0.0,
        accept: AcceptSource | None = None,
        on_accept: Callable[[Any, Any], None] | None = None,
        accept_cost: float = 0.0,
        accept_batch: int = 1,
    ) -> None:
        super().__init__(parent, name, index)
        if isinstance(queue, AdmissionConfig):
            queue = WorkQueue(self, queue)
        if queue is not None and service is None:
            raise ValueError(f"{self.scope}: a worker with a queue needs a service time")
        if accept is not None and on_accept is None:
            raise ValueError(f"{self.scope}: a worker that accepts needs an on_accept handler")
        self.queue = queue
        self.service = service
        self.accept = accept
        self.on_accept = on_accept
        self.accept_cost = accept_cost
        self.accept_batch = accept_batch
        self.wakeup_cost = wakeup_cost
        self.served = 0
        self.accepted = 0
        self.wakeups = 0
        self.accepting: Any = None
        """The connection this thread is accepting right now (during `accept_cost`)."""
        self.idle_wakeups = 0
        """Wake-ups after which the thread found nothing to do (lost a race, or a herd)."""
        self._busy = 0.0
        self._busy_since: float | None = None
        self._item: WorkItem | None = None
        self._wake: simpy.Event | None = None
        self._down = 0.0
        self._interrupting = False
        self.process = self.env.process(self._run())

    # -- the state a service-time model sees (ServerView) ----------------------------------
    @property
    def waiting(self) -> int:
        return 0 if self.queue is None else len(self.queue.entries)

    @property
    def in_service(self) -> int:
        return 0 if self.queue is None else self.queue.in_service

    @property
    def sleeping(self) -> bool:
        return self._wake is not None

    def busy_time(self) -> float:
        """CPU seconds spent so far (service, accepts, wake-ups), the current stretch included."""
        since = self._busy_since
        return self._busy + (0.0 if since is None else self.env.now - since)

    # -- control -----------------------------------------------------------------------------
    def wake(self, source: object) -> None:
        """Wake the sleeping thread (called by a work source, which already dropped it)."""
        ev = self._wake
        if ev is None:
            return
        self._wake = None
        queue, accept = self.queue, self.accept
        if queue is not None and queue is not source:
            queue.remove_waiter(self)
        if accept is not None and accept is not source:
            accept.remove_waiter(self)
        ev.succeed(source)

    def stall(self, duration: float) -> None:
        """Stop taking work for `duration` after the current item (a GC pause, a slow syscall)."""
        self._down = max(self._down, duration)
        self.wake(None)

    def restart(self, downtime: float = 0.0) -> None:
        """Drop the item in service (settled as cleared) and stay down for `downtime`."""
        self._down = max(self._down, downtime)
        if self._item is not None:
            if not self._interrupting:
                self._interrupting = True
                self.process.interrupt("restart")
        else:
            self.wake(None)

    # -- the thread ------------------------------------------------------------------------------
    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        timeout = env.timeout
        queue, accept = self.queue, self.accept
        waiting = queue.entries if queue is not None else None
        pending = accept.entries if accept is not None else None
        service, rng = self.service, self.rng
        while True:
            if self._down > 0.0:
                down, self._down = self._down, 0.0
                yield timeout(down)
            worked = False
            if waiting is not None:
                n = len(waiting) if pending is not None else -1
                while n != 0 and waiting:
                    item = queue.pop()  # type: ignore[union-attr]
                    if item is None:
                        break
                    n -= 1
                    worked = True
                    cost = service(self, item.payload, rng)  # type: ignore[misc]
                    item.service = cost
                    if cost > 0.0:
                        t0 = self._busy_since = env.now
                        self._item = item
                        try:
                            yield timeout(cost)
                        except simpy.Interrupt:
                            self._interrupting = False
                            self._item = self._busy_since = None
                            self._busy += env.now - t0
                            queue.abort(item)  # type: ignore[union-attr]
                            break
                        self._item = self._busy_since = None
                        self._busy += cost
                    self.served += 1
                    queue.finish(item)  # type: ignore[union-attr]
                    if self._down > 0.0:
                        break
            if pending and self._down <= 0.0:
                k = self.accept_batch
                while k > 0 and pending:
                    conn = accept.pop()  # type: ignore[union-attr]
                    k -= 1
                    worked = True
                    self.accepted += 1
                    cost = self.accept_cost
                    if cost > 0.0:
                        self.accepting = conn
                        self._busy_since = env.now
                        yield timeout(cost)
                        self._busy_since = None
                        self._busy += cost
                        self.accepting = None
                    self.on_accept(self, conn)  # type: ignore[misc]
            if worked or self._down > 0.0:
                continue
            ev = self._wake = env.event()
            if queue is not None:
                queue.add_waiter(self)
            if accept is not None:
                accept.add_waiter(self)
            source = yield ev
            if source is None:
                continue  # woken by a stall or restart, not by work
            self.wakeups += 1
            cost = self.wakeup_cost
            if cost > 0.0:
                self._busy_since = env.now
                yield timeout(cost)
                self._busy_since = None
                self._busy += cost
            if not waiting and not pending:
                self.idle_wakeups += 1


def _trace(cls: Any, seed: int, wakeup_cost: float) -> tuple[Any, ...]:
    env = SimEnv(START, seed)
    root = Component(env, "root")
    queue = WorkQueue(root, AdmissionConfig(max_waiting=6, deadline="3 s"))
    rng = random.Random(seed)
    settled: list[tuple[float, int, str]] = []

    def submit(n: int) -> None:
        queue.submit(n, None, lambda item: settled.append((env.now, item.payload, item.outcome)))

    def service(_server: Any, payload: Any, r: random.Random) -> float:
        return 0.0 if payload % 7 == 0 else r.choice([0.4, 0.8, r.expovariate(1.0)])

    # work already due when the workers start, and controls at the instants of other events
    env.timeout(0.0).callbacks.append(lambda _e: submit(-1))
    workers: list[Any] = []
    for k in range(12):  # restarts (in service or idle) and stalls
        at = rng.randrange(1, 300) * 0.4
        env.timeout(at).callbacks.append(
            lambda _e, k=k: workers[k % 3].restart(rng.choice([0.0, 1.5]))
        )
        env.timeout(rng.randrange(1, 300) * 0.4).callbacks.append(
            lambda _e, k=k: workers[k % 3].stall(0.8)
        )
    workers.extend(cls(root, i, queue, service, wakeup_cost=wakeup_cost) for i in range(3))
    for n in range(300):
        t = rng.choice([n * 0.4, rng.random() * 120.0])
        env.timeout(t).callbacks.append(lambda _e, n=n: submit(n))
    env.run(until=200)
    counters = [
        (w.served, w.wakeups, w.idle_wakeups, round(w.busy_time(), 9), w.sleeping) for w in workers
    ]
    level = queue._level
    assert level is not None
    series = (tuple(level.times), tuple(level.values))  # the queue depth, as recorded
    return tuple(settled), tuple(counters), queue.counts(), next(env._eid), series


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("wakeup_cost", [0.0, 0.05])
def test_worker_matches_the_process_it_replaced(seed: int, wakeup_cost: float) -> None:
    new = _trace(Worker, seed, wakeup_cost)
    assert new == _trace(_ProcessWorker, seed, wakeup_cost)
    assert len(new[0]) == 301 and new[2]["cleared"] > 0  # restarts did drop work
