"""Listening sockets and connections: the kernel accept queue and what waits in it.

A listening socket's *accept queue* holds connections whose handshake completed, until a thread
calls `accept()`. Its length is min(backlog, somaxconn) (somaxconn: 4096 since Linux 5.4, 128
before; nginx asks for 511). When it is full the kernel drops the handshake's final ACK; the
client, seeing no answer, retransmits its SYN after 1 s, then 2 s, 4 s ... (`ConnectionConfig`).

Threads blocked waiting for a connection are woken in one of three orders (`WakeOrder`):
- `lifo`: epoll with EPOLLEXCLUSIVE (nginx's default on Linux): exclusive waiters are added at the
  head of the wait queue, so the thread that went idle last is woken first. At moderate load a
  few threads take most connections.
- `fifo`: threads blocked in accept(): exclusive waiters are added at the tail and woken from the
  head, round-robin among idle threads.
- `all`: epoll without EPOLLEXCLUSIVE: every waiting thread is woken (the thundering herd); one
  wins the connection, the others pay the wake-up and go back to sleep.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from simulation.core.config import SectionConfig
from simulation.core.units import Duration

if TYPE_CHECKING:
    from simulation.core.component import Component
    from simulation.primitives.resilience.admission import WorkQueue

WakeOrder = Literal["lifo", "fifo", "all"]


class ListenerConfig(SectionConfig):
    """A listening socket and how threads accept from it."""

    backlog: int = Field(511, ge=1, description="listen() backlog the server asks for (nginx 511).")
    somaxconn: int = Field(
        4096, ge=1, description="Kernel cap on the accept queue (4096 since Linux 5.4, 128 before)."
    )
    accept_cost: Duration = Field(
        "2 us", description="CPU time of one accept() on the accepting thread."
    )
    accept_batch: int = Field(
        1,
        ge=1,
        description="Connections an event-loop thread accepts per loop iteration (nginx "
        "multi_accept off = 1).",
    )
    wakeup_order: WakeOrder = Field(
        "lifo",
        description="Which sleeping thread a new connection wakes: lifo (epoll exclusive, the "
        "last idle first), fifo (blocking accept, round-robin), all (no EPOLLEXCLUSIVE: herd).",
    )

    @property
    def capacity(self) -> int:
        """The accept queue's length: min(backlog, somaxconn)."""
        return min(self.backlog, self.somaxconn)


class ConnectionConfig(SectionConfig):
    """Client connections: how many requests each sends, the pause between them, SYN retries."""

    requests: int = Field(1, ge=1, description="Mean number of requests a connection sends.")
    requests_distribution: Literal["fixed", "geometric"] = Field(
        "fixed",
        description="fixed: every connection sends `requests`; geometric: a random count with "
        "that mean (a few long-lived connections carry much of the traffic).",
    )
    think_time: Duration = Field(
        0.0,
        description="Mean pause (exponential) between a response and the connection's next "
        "request; 0 = send at once (HTTP/1.1 keep-alive, one request at a time).",
    )
    syn_retries: int = Field(
        6, ge=0, description="SYN retransmissions before connect() fails (Linux tcp_syn_retries)."
    )
    syn_timeout: Duration = Field(
        "1 s",
        description="First SYN retransmission timeout; doubles at each retry (1, 2, 4 s ...).",
    )


class Connection:
    """One client connection: its hash, requests left, and where the server placed it."""

    __slots__ = ("attempts", "hash", "id", "pending", "queue", "requests_left", "worker")

    def __init__(self, conn_id: int, requests: int, hash_: int) -> None:
        self.id = conn_id
        self.requests_left = requests
        self.hash = hash_
        """32-bit flow hash of the 4-tuple (the same for every SYN of this connection)."""
        self.attempts = 0
        self.queue: WorkQueue | None = None
        """The work queue the server reads this connection's requests into (None until accepted)."""
        self.pending: Request | None = None
        """A request sent before the connection was accepted (waiting in the socket buffer)."""
        self.worker: int | str | None = None


class Request:
    """One request on a connection, stamped with the time the client sent it."""

    __slots__ = ("conn", "sent")

    def __init__(self, conn: Connection, sent: float) -> None:
        self.conn = conn
        self.sent = sent


class AcceptQueue:
    """A listening socket's accept queue: bounded, FIFO, waking sleeping threads on arrival."""

    def __init__(
        self,
        owner: Component,
        capacity: int,
        wakeup_order: WakeOrder = "lifo",
        name: str = "accept_queue",
    ) -> None:
        self.capacity = capacity
        self.wakeup_order = wakeup_order
        self.open = True
        self.entries: deque[Connection] = deque()
        """The queued connections, oldest first (workers read it directly; do not modify it)."""
        self.waiters: list[Any] = []
        self._level = owner.level(name, "connections", initial=0)
        self.offered = 0
        self.dropped = 0
        """Handshakes whose final ACK was dropped because the queue was full."""
        self.accepted = 0
        self.reset = 0
        """Queued connections reset when the listener closed."""

    def __len__(self) -> int:
        return len(self.entries)

    def connections(self) -> list[Connection]:
        return list(self.entries)

    def offer(self, conn: Connection) -> bool:
        """A handshake completes: queue the connection (True) or drop its final ACK (False)."""
        self.offered += 1
        conns = self.entries
        if len(conns) >= self.capacity:
            self.dropped += 1
            return False
        conns.append(conn)
        self._level.set(len(conns))
        waiters = self.waiters
        if waiters:
            order = self.wakeup_order
            if order == "lifo":
                waiters.pop().wake(self)
            elif order == "fifo":
                waiters.pop(0).wake(self)
            else:
                woken = waiters[:]
                waiters.clear()
                for w in woken:
                    w.wake(self)
        return True

    def pop(self) -> Connection:
        """accept(): the oldest queued connection."""
        conn = self.entries.popleft()
        self.accepted += 1
        self._level.set(len(self.entries))
        return conn

    def close(self) -> list[Connection]:
        """Close the listener: every queued connection is reset; returns them."""
        self.open = False
        reset = list(self.entries)
        self.entries.clear()
        self._level.set(0)
        self.reset += len(reset)
        return reset

    def reopen(self) -> None:
        self.open = True

    def add_waiter(self, waiter: Any) -> None:
        self.waiters.append(waiter)

    def remove_waiter(self, waiter: Any) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
