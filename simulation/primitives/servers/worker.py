"""Worker threads and worker pools: the part of every server pattern that does the work.

A `Worker` is one thread. It serves items from a `WorkQueue` (its own, or one shared with other
workers), and may also accept connections from a listening socket. When it finds nothing to do it
sleeps, registered as a waiter on its work sources; a source wakes it when work arrives, and each
wake-up of a sleeping thread costs `wakeup_cost` of CPU (a context switch).

With an accept source the worker is an *event loop*: each iteration it serves the requests that
were ready when the iteration began, then accepts up to `accept_batch` pending connections
(nginx's order: one accept per loop unless multi_accept; the connection's request is read on
the next iteration). Without one it serves until its queue is empty.

A `WorkerPool` is `c` workers on one shared queue, usable on its own by any subsystem:
`pool.submit(payload, deadline, callback)` or `outcome = yield pool.call(payload)`.
`restart(downtime)` drops the waiting work and the work in service, as a process restart does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol

import simpy

from simulation.core.component import Component
from simulation.primitives.resilience.admission import (
    AdmissionConfig,
    Outcome,
    WorkItem,
    WorkQueue,
)

from .service import ServiceTime


class AcceptSource(Protocol):
    """A listening socket as a worker sees it (see `sockets.AcceptQueue`)."""

    entries: deque[Any]
    """The queued connections (read directly in the hot loop)."""

    def pop(self) -> Any: ...

    def add_waiter(self, waiter: Any) -> None: ...

    def remove_waiter(self, waiter: Any) -> None: ...


class Worker(Component):
    """One thread serving a work queue, optionally accepting connections too (event loop)."""

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
        on_accept: Callable[[Worker, Any], None] | None = None,
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


class WorkerPool(Component):
    """`workers` threads serving one shared work queue: submit work, get outcomes."""

    def __init__(
        self,
        parent: Component,
        name: str,
        workers: int,
        service: ServiceTime,
        admission: AdmissionConfig | None = None,
        *,
        wakeup_cost: float = 0.0,
        index: int | str | None = None,
    ) -> None:
        super().__init__(parent, name, index)
        if workers < 1:
            raise ValueError(f"{self.scope}: a pool needs at least one worker, got {workers}")
        self.queue = WorkQueue(self, admission)
        self.workers = [
            Worker(self, i, self.queue, service, wakeup_cost=wakeup_cost) for i in range(workers)
        ]

    def submit(
        self,
        payload: Any,
        deadline: float | None = None,
        callback: Callable[[WorkItem], None] | None = None,
    ) -> WorkItem:
        """Offer work (absolute `deadline` or the queue's default); the item tells its fate."""
        return self.queue.submit(payload, deadline, callback)

    def call(self, payload: Any, deadline: float | None = None) -> simpy.Event:
        """Submit and return an event that succeeds with the item's `Outcome`."""
        return self.queue.outcome_event(self.queue.submit(payload, deadline))

    def restart(self, downtime: float = 0.0) -> int:
        """Drop all waiting and in-service work (cleared); workers down for `downtime`."""
        in_service = self.queue.in_service
        dropped = self.queue.clear()
        for w in self.workers:
            w.restart(downtime)
        return dropped + in_service

    def busy_times(self) -> list[float]:
        return [w.busy_time() for w in self.workers]

    def outcome_counts(self) -> dict[str, int]:
        return self.queue.counts()


__all__ = ["AcceptSource", "Outcome", "Worker", "WorkerPool"]
