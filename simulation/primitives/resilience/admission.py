"""Work queues with admission, discipline and deadlines: the queue every server pattern serves.

A `WorkQueue` holds work items waiting for a worker. It is the one place where these policies live
(servers, the EC2 DWFM hosts and the Network Manager all use it):

- *discipline*: FIFO serves the oldest waiting item first; LIFO the newest. Under overload LIFO
  keeps serving fresh work, whose client is still waiting, and lets stale work sink.
- *admission by waiting-queue size*: with `max_waiting` set, an item arriving while that many
  items wait is rejected at once (a fast failure the caller can retry elsewhere or later), so the
  wait of admitted work stays bounded. This is the fix AWS named for DWFM: limit incoming work by
  the size of the waiting queue.
- *deadlines*: each item may carry an absolute deadline (by default `deadline` after it arrives).
  Work past its deadline is either dropped when a worker dequeues it (`on_expired: drop`, cheap
  shedding when the server knows the caller's deadline) or served anyway and counted as *wasted*
  (`on_expired: complete`, the server does not know its caller has given up). Work that starts in
  time but finishes past its deadline is wasted in both modes.

Accounting is exact at every instant:
`arrivals == completed + rejected + expired + cleared + waiting + in_service`, where `completed`
counts every served item and `wasted` (a subset of completed) those served past their deadline;
goodput is `completed - wasted`. `clear()` (a restart) drops the waiting items as `cleared`;
`abort()` does the same for an item in service.

Workers are anything with a `wake(source)` method: an idle worker registers with `add_waiter`,
and `put` wakes the longest-idle waiter. Each item's outcome is delivered once, through its
`callback(item)` and/or an event from `outcome_event(item)` for use inside simpy processes.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

import simpy
from pydantic import Field

from simulation.core.config import SectionConfig
from simulation.core.units import Duration

if TYPE_CHECKING:
    from simulation.core.component import Component


class Outcome(StrEnum):
    """How a work item left the queue (or the worker serving it)."""

    COMPLETED = "completed"
    """Served by its deadline (or it had none)."""
    LATE = "late"
    """Served, but finished past its deadline: wasted work."""
    REJECTED = "rejected"
    """Refused at arrival: the waiting queue was at `max_waiting`."""
    EXPIRED = "expired"
    """Dropped at dequeue: its deadline had passed (`on_expired: drop`)."""
    CLEARED = "cleared"
    """Dropped by `clear()` or `abort()` (a restart)."""


COMPLETED = Outcome.COMPLETED
LATE = Outcome.LATE
REJECTED = Outcome.REJECTED
EXPIRED = Outcome.EXPIRED
CLEARED = Outcome.CLEARED
SERVED = frozenset({COMPLETED, LATE})
"""Outcomes of items a worker served (late ones included)."""

Discipline = Literal["fifo", "lifo"]


class AdmissionConfig(SectionConfig):
    """A work queue's policies: order of service, admission limit and deadlines."""

    discipline: Discipline = Field(
        "fifo",
        description="Which waiting item a worker takes next: fifo (oldest) or lifo (newest).",
    )
    max_waiting: int | None = Field(
        None,
        ge=0,
        description="Admission by waiting-queue size: an item arriving while this many wait is "
        "rejected at once. null = no limit.",
    )
    deadline: Duration | None = Field(
        None,
        description="Default deadline of an item, counted from its arrival (a submitter may set "
        "its own). null = no deadline.",
    )
    on_expired: Literal["drop", "complete"] = Field(
        "drop",
        description="Work found past its deadline when dequeued: drop (skipped, counted expired) "
        "or complete (served anyway, counted wasted).",
    )


class Waiter(Protocol):
    """An idle worker that a queue (or another work source) can wake."""

    def wake(self, source: object) -> None: ...


class WorkItem:
    """One unit of work: its payload, arrival time, absolute deadline and eventual outcome."""

    __slots__ = (
        "_event",
        "arrived",
        "callback",
        "deadline",
        "outcome",
        "payload",
        "service",
        "started",
    )

    def __init__(
        self,
        payload: Any,
        arrived: float,
        deadline: float = math.inf,
        callback: Callable[[WorkItem], None] | None = None,
    ) -> None:
        self.payload = payload
        self.arrived = arrived
        self.deadline = deadline
        self.callback = callback
        self.outcome: Outcome | None = None
        self.started = math.nan
        """When a worker took it (set by `pop`)."""
        self.service = 0.0
        """Service time the worker spent on it (set by the worker)."""
        self._event: simpy.Event | None = None

    def __repr__(self) -> str:
        return f"<WorkItem {self.payload!r} arrived={self.arrived:g} outcome={self.outcome}>"


class WorkQueue:
    """Items waiting for workers, with discipline, admission, deadlines and exact accounting."""

    def __init__(
        self,
        owner: Component,
        config: AdmissionConfig | None = None,
        name: str = "waiting",
        *,
        record: bool = True,
    ) -> None:
        """A queue owned by `owner`, recording its depth as the level `name` (if `record`)."""
        config = config or AdmissionConfig()
        self.env = owner.env
        self.owner = owner
        self._lifo = config.discipline == "lifo"
        self.max_waiting = config.max_waiting
        self.default_deadline = config.deadline
        self.drop_expired = config.on_expired == "drop"
        self.entries: deque[WorkItem] = deque()
        """The waiting items, oldest first (workers read it directly; do not modify it)."""
        self.waiters: deque[Waiter] = deque()
        self._handoffs = 0
        """Waiting items already promised to a woken worker (they will not wait)."""
        self._level = owner.level(name, "items", initial=0) if record else None
        self.arrivals = 0
        self.rejected = 0
        self.expired = 0
        self.completed = 0
        self.wasted = 0
        self.cleared = 0
        self.in_service = 0
        self.started = 0
        self.wait_sum = 0.0
        self.waited = 0
        """Items that waited a positive time before a worker took them."""

    # -- policy, changeable at run time (operator actions) ---------------------------------
    @property
    def discipline(self) -> Discipline:
        return "lifo" if self._lifo else "fifo"

    @discipline.setter
    def discipline(self, value: Discipline) -> None:
        self._lifo = value == "lifo"

    # -- state -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    @property
    def waiting(self) -> int:
        return len(self.entries)

    @property
    def in_flight(self) -> int:
        """Items admitted and not yet settled: waiting plus in service."""
        return len(self.entries) + self.in_service

    def items(self) -> list[WorkItem]:
        """The waiting items, oldest first (a copy)."""
        return list(self.entries)

    def counts(self) -> dict[str, int]:
        """The counters, for statistics and for snapshots at the end of a warm-up."""
        return {
            "arrivals": self.arrivals,
            "completed": self.completed,
            "wasted": self.wasted,
            "rejected": self.rejected,
            "expired": self.expired,
            "cleared": self.cleared,
            "waiting": len(self.entries),
            "in_service": self.in_service,
            "started": self.started,
            "waited": self.waited,
        }

    def balanced(self) -> bool:
        """The accounting identity (arrivals = settled + in flight), checked on demand."""
        settled = self.completed + self.rejected + self.expired + self.cleared
        return self.arrivals == settled + self.in_flight

    # -- submitter side ----------------------------------------------------------------------
    def submit(
        self,
        payload: Any,
        deadline: float | None = None,
        callback: Callable[[WorkItem], None] | None = None,
    ) -> WorkItem:
        """Offer new work (absolute `deadline`, or the default one); the item tells its fate."""
        now = self.env.now
        if deadline is None:
            deadline = math.inf if self.default_deadline is None else now + self.default_deadline
        item = WorkItem(payload, now, deadline, callback)
        self.put(item)
        return item

    def put(self, item: WorkItem) -> bool:
        """Admit `item` (True) or reject it at once (False) when the waiting queue is full.

        An item an idle worker is about to take does not count as waiting: with
        `max_waiting: 0` work is served only when a worker is free (a loss system).
        """
        self.arrivals += 1
        items = self.entries
        limit = self.max_waiting
        waiters = self.waiters
        if limit is not None and not waiters and len(items) - self._handoffs >= limit:
            self.rejected += 1
            self._settle(item, REJECTED)
            return False
        items.append(item)
        level = self._level
        if level is not None:
            level.set(len(items))
        if waiters:
            self._handoffs += 1
            waiters.popleft().wake(self)
        return True

    def outcome_event(self, item: WorkItem) -> simpy.Event:
        """An event that succeeds with the item's Outcome (at once if it is already settled)."""
        ev = self.env.event()
        if item.outcome is not None:
            ev.succeed(item.outcome)
        else:
            item._event = ev
        return ev

    # -- worker side ---------------------------------------------------------------------------
    def pop(self) -> WorkItem | None:
        """The next item to serve (now counted in service), or None if none is waiting.

        With `on_expired: drop`, items found past their deadline are settled as expired and
        skipped.
        """
        items = self.entries
        if not items:
            self._handoffs = 0
            return None
        if self._handoffs:
            self._handoffs -= 1
        now = self.env.now
        lifo = self._lifo
        item = items.pop() if lifo else items.popleft()
        if self.drop_expired:
            while now > item.deadline:
                self.expired += 1
                self._settle(item, EXPIRED)
                if not items:
                    if self._level is not None:
                        self._level.set(0)
                    self._handoffs = 0
                    return None
                item = items.pop() if lifo else items.popleft()
        level = self._level
        if level is not None:
            level.set(len(items))
        self.in_service += 1
        self.started += 1
        item.started = now
        wait = now - item.arrived
        if wait > 0.0:
            self.wait_sum += wait
            self.waited += 1
        return item

    def finish(self, item: WorkItem) -> Outcome:
        """A worker finished `item`: completed, or late (wasted) if past its deadline."""
        self.in_service -= 1
        self.completed += 1
        if self.env.now > item.deadline:
            self.wasted += 1
            outcome = LATE
        else:
            outcome = COMPLETED
        self._settle(item, outcome)
        return outcome

    def abort(self, item: WorkItem) -> None:
        """An item in service is dropped (its worker restarted): settled as cleared."""
        self.in_service -= 1
        self.cleared += 1
        self._settle(item, CLEARED)

    def clear(self) -> int:
        """Drop every waiting item (a restart); returns how many. Items in service stay."""
        dropped = list(self.entries)
        self.entries.clear()
        self._handoffs = 0
        if self._level is not None:
            self._level.set(0)
        self.cleared += len(dropped)
        for item in dropped:
            self._settle(item, CLEARED)
        return len(dropped)

    def add_waiter(self, waiter: Waiter) -> None:
        self.waiters.append(waiter)

    def remove_waiter(self, waiter: Waiter) -> None:
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)

    # -- internals -------------------------------------------------------------------------------
    @staticmethod
    def _settle(item: WorkItem, outcome: Outcome) -> None:
        item.outcome = outcome
        ev = item._event
        if ev is not None:
            item._event = None
            ev.succeed(outcome)
        cb = item.callback
        if cb is not None:
            cb(item)
