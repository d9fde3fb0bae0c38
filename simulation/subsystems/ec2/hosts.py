"""DWFM hosts and the lease work they serve: operations, attempts, deadlines.

A lease operation (`LeaseOp`) is one state check or one re-establishment of a batch's lease,
across its attempts. Each attempt is a work item (payload `Attempt`) on the batch's host with the
retry policy's attempt timeout as its deadline; the requester gives up at the deadline
(`DeadlineWatch`) whatever the host does with the item. A `DwfmHost` is a worker pool whose
service time resolves DynamoDB through the host's caching resolver and, if it answers, costs
`units` state checks at the memory model's price for the work the host holds.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from simpy.events import URGENT

from simulation.core.component import Component
from simulation.core.env import SimEnv
from simulation.primitives.dns import CachingResolver
from simulation.primitives.memory import MemoryServiceTime
from simulation.primitives.resilience.admission import WorkItem
from simulation.primitives.resilience.retry import Backoff
from simulation.primitives.servers import ServerView, WorkerPool

from .config import DwfmConfig
from .fleet import Batch

if TYPE_CHECKING:
    from .dwfm import Dwfm


class LeaseOp:
    """One lease operation of a batch (a state check or a re-establishment) across attempts."""

    __slots__ = ("backoff", "batch", "item", "kind", "started")

    def __init__(self, batch: Batch, kind: str, backoff: Backoff, now: float) -> None:
        self.batch = batch
        self.kind = kind
        self.backoff = backoff
        self.started = now
        self.item: WorkItem | None = None
        """The attempt the requester is waiting for (None between attempts)."""


class Attempt:
    """The payload of one work item: whose attempt, its cost in state checks, its result."""

    __slots__ = ("ok", "op", "units")

    def __init__(self, op: LeaseOp, units: float) -> None:
        self.op = op
        self.units = units
        self.ok = False


class Awaiting(Protocol):
    """A requester waiting for one work item at a time (a `LeaseOp`, a launch's call)."""

    item: WorkItem | None


class Work(Protocol):
    """The payload of a DWFM work item: its cost in state checks and its result (`Attempt`, a
    launch's `StateChange`)."""

    units: float
    ok: bool


Op = TypeVar("Op", bound=Awaiting)


class DeadlineWatch(Generic[Op]):
    """Gives up on attempts at their deadline, with one timer for all of them.

    Every attempt of a kind has the same timeout, so deadlines arrive in order; the watch sleeps
    until the oldest unsettled attempt's deadline and skips those settled meanwhile. In normal
    operation it wakes about once per timeout, not once per attempt.
    """

    def __init__(self, env: SimEnv, on_timeout: Callable[[Op, WorkItem], None]) -> None:
        self.env = env
        self.on_timeout = on_timeout
        self.entries: deque[tuple[Op, WorkItem]] = deque()
        self._sleeping = False
        # callbacks on bare events, scheduled where the process this was used its events
        env.call_in(0.0, self._run, None, URGENT)  # the process's start

    def add(self, op: Op, item: WorkItem) -> None:
        self.entries.append((op, item))
        if self._sleeping:
            self._sleeping = False
            self.env.call_in(0.0, self._run)  # the wake-up event's succeed()

    def _run(self, _call: Any) -> None:
        env, entries = self.env, self.entries
        popleft = entries.popleft
        while entries:
            op, item = entries[0]
            if op.item is not item:
                popleft()  # settled before its deadline
                continue
            wait = item.deadline - env.now
            if wait > 0.0:
                env.call_in(wait, self._run)
                return
            popleft()
            self.on_timeout(op, item)
        self._sleeping = True


class DwfmHost(Component):
    """One DWFM host: a worker pool whose service time is the memory model's."""

    def __init__(
        self, parent: Dwfm, index: int, config: DwfmConfig, resolver: CachingResolver
    ) -> None:
        super().__init__(parent, "host", index)
        self.resolver = resolver
        self.qname = parent.qname
        self.cost: MemoryServiceTime = parent.cost
        self.failed_cost = config.failed_call_time
        self.pool = WorkerPool(self, "pool", config.workers, self._service, config.queue)
        self.queue = self.pool.queue
        self.restarts = 0

    def _service(self, server: ServerView, payload: Work, _rng: random.Random) -> float:
        """Resolve DynamoDB; if it answers, `units` state checks at the current memory cost."""
        if not self.resolver.resolve(self.qname).ok:
            payload.ok = False
            return self.failed_cost
        payload.ok = True
        return self.cost(server.waiting + server.in_service) * payload.units

    def working_set(self) -> int:
        return self.cost.working_set(self.queue.in_flight)

    def restart(self, downtime: float) -> int:
        """Drop all held work (working set back to base) and stay down for `downtime` plus the
        first-touch faults of the base working set; returns the items dropped."""
        down = downtime + self.cost.model.first_touch_cost(self.cost.base, "first_write")
        dropped = self.pool.restart(down)
        self.restarts += 1
        self.event("host_restarted", f"dropped={dropped} downtime={down:.1f}s")
        return dropped
