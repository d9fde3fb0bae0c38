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
from collections.abc import Callable
from typing import Any, Protocol

import simpy
from simpy.events import URGENT

from simulation.core.component import Component
from simulation.core.env import Call
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
    """One thread serving a work queue, optionally accepting connections too (event loop).

    The thread is a callback-driven state machine rather than a simpy process: each wait is a
    bare simpy event whose callback carries on where the thread stopped. It schedules the same
    events in the same order as the generator loop it replaced (an urgent start event where
    simpy put the process's Initialize event, an urgent event where `restart` put the
    Interruption), so results are the same, at a fraction of the Python per event.
    """

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
        self._sleeping = False
        self._down = 0.0
        self._interrupting = False
        # the state machine: where a wait resumes, and what it needs there
        self._waiting = queue.entries if queue is not None else None
        self._pending = accept.entries if accept is not None else None
        self._rng = self.rng
        self._n = -1
        """Items still to serve in this iteration (-1: until the queue is empty)."""
        self._k = 0
        """Accepts still allowed in this iteration."""
        self._cost = 0.0
        """The cost of the current accept or wake-up stretch."""
        self._conn: Any = None
        self._target: Call | None = None
        """The service timeout the thread waits for (what `restart` cancels)."""
        self._served_cb = self._served
        self._looping = False
        self._again = False
        self.env.call_in(0.0, self._started, None, URGENT)  # where simpy started the process

    # -- the state a service-time model sees (ServerView) ----------------------------------
    @property
    def waiting(self) -> int:
        return 0 if self.queue is None else len(self.queue.entries)

    @property
    def in_service(self) -> int:
        return 0 if self.queue is None else self.queue.in_service

    @property
    def sleeping(self) -> bool:
        return self._sleeping

    def busy_time(self) -> float:
        """CPU seconds spent so far (service, accepts, wake-ups), the current stretch included."""
        since = self._busy_since
        return self._busy + (0.0 if since is None else self.env.now - since)

    # -- control -----------------------------------------------------------------------------
    def wake(self, source: object) -> None:
        """Wake the sleeping thread (called by a work source, which already dropped it)."""
        if not self._sleeping:
            return
        self._sleeping = False
        queue, accept = self.queue, self.accept
        if queue is not None and queue is not source:
            queue.remove_waiter(self)
        if accept is not None and accept is not source:
            accept.remove_waiter(self)
        self.env.call_in(0.0, self._woken, source)  # where an event's succeed() would be

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
                self.env.call_in(0.0, self._interrupted, None, URGENT)  # as an Interruption
        else:
            self.wake(None)

    # -- the thread ------------------------------------------------------------------------------
    # One iteration: down time if any; serve the queue (with an accept source, only the items
    # that were ready when the iteration began); accept up to `accept_batch` connections; sleep
    # if it found nothing to do, registered with its work sources until one wakes it.
    def _started(self, _ev: Any) -> None:
        self._iterate()

    def _iterate(self) -> None:
        """Iterations from the start (after down time, if any) until the thread waits.

        An iteration that worked ends by asking for another (`_end`, always the last call of
        its chain): that call only sets `_again` and this loop starts it, so zero-cost work
        does not recurse.
        """
        if self._looping:
            self._again = True
            return
        self._looping = True
        while True:
            self._again = False
            if self._down > 0.0:
                down, self._down = self._down, 0.0
                self.env.call_in(down, self._after_down)
                break
            self._begin_serving()
            if not self._again:
                break
        self._looping = False

    def _after_down(self, _ev: Any) -> None:
        self._looping = True
        self._again = False
        self._begin_serving()
        self._looping = False
        if self._again:
            self._iterate()

    def _begin_serving(self) -> None:
        if self._waiting is not None:
            self._n = len(self._waiting) if self._pending is not None else -1
            self._serve(False)
        else:
            self._accept_phase(False)

    def _serve(self, worked: bool) -> None:
        """Serve waiting items until `_n` are done, the queue is empty, or the thread must stop;
        returns early while an item is in service (`_served` carries on)."""
        queue, waiting = self.queue, self._waiting
        n = self._n
        while n != 0 and waiting:
            item = queue.pop()  # type: ignore[union-attr]
            if item is None:
                break
            n -= 1
            worked = True
            cost = self.service(self, item.payload, self._rng)  # type: ignore[misc]
            item.service = cost
            if cost > 0.0:
                env = self.env
                self._n = n
                self._busy_since = env.now
                self._item = item
                self._cost = cost
                self._target = env.call_in(cost, self._served_cb)
                return
            self.served += 1
            queue.finish(item)  # type: ignore[union-attr]
            if self._down > 0.0:
                break
        if self._pending is None and not waiting and self._down <= 0.0:
            # Nothing to accept, nothing waiting, not going down: the iteration `_end` would
            # start finds nothing and sleeps, so sleep now (the same state, ~6 calls fewer).
            self._sleeping = True
            queue.add_waiter(self)  # type: ignore[union-attr]
            return
        self._accept_phase(worked)

    def _served(self, _ev: Any) -> None:
        item = self._item
        self._item = self._busy_since = self._target = None
        self._busy += self._cost
        self.served += 1
        self.queue.finish(item)  # type: ignore[union-attr, arg-type]
        if self._down > 0.0:
            self._accept_phase(True)
        else:
            self._serve(True)

    def _interrupted(self, _ev: Any) -> None:
        """A restart drops the item in service at this instant (it is settled as cleared)."""
        self._interrupting = False
        self._target.callbacks.remove(self._served_cb)  # type: ignore[union-attr]
        item = self._item
        self._item = self._target = None
        self._busy += self.env.now - self._busy_since  # type: ignore[operator]
        self._busy_since = None
        self.queue.abort(item)  # type: ignore[union-attr, arg-type]
        self._accept_phase(True)

    def _accept_phase(self, worked: bool) -> None:
        if self._pending and self._down <= 0.0:
            self._k = self.accept_batch
            self._accept(worked)
        else:
            self._end(worked)

    def _accept(self, worked: bool) -> None:
        pending, accept = self._pending, self.accept
        k = self._k
        while k > 0 and pending:
            conn = accept.pop()  # type: ignore[union-attr]
            k -= 1
            worked = True
            self.accepted += 1
            cost = self.accept_cost
            if cost > 0.0:
                env = self.env
                self._k = k
                self._cost = cost
                self._conn = self.accepting = conn
                self._busy_since = env.now
                env.call_in(cost, self._accepted)
                return
            self.on_accept(self, conn)  # type: ignore[misc]
        self._end(worked)

    def _accepted(self, _ev: Any) -> None:
        self._busy_since = None
        self._busy += self._cost
        self.accepting = None
        conn, self._conn = self._conn, None
        self.on_accept(self, conn)  # type: ignore[misc]
        self._accept(True)

    def _end(self, worked: bool) -> None:
        """The end of an iteration: another one if it worked (or must go down), else sleep."""
        if worked or self._down > 0.0:
            self._iterate()
            return
        self._sleeping = True
        if self.queue is not None:
            self.queue.add_waiter(self)
        if self.accept is not None:
            self.accept.add_waiter(self)

    def _woken(self, ev: Any) -> None:
        if ev.value is None:
            self._iterate()  # woken by a stall or restart, not by work
            return
        self.wakeups += 1
        cost = self.wakeup_cost
        if cost > 0.0:
            env = self.env
            self._cost = cost
            self._busy_since = env.now
            env.call_in(cost, self._woke)
            return
        self._after_wake()

    def _woke(self, _ev: Any) -> None:
        self._busy_since = None
        self._busy += self._cost
        self._after_wake()

    def _after_wake(self) -> None:
        if not self._waiting and not self._pending:
            self.idle_wakeups += 1
        self._iterate()


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
