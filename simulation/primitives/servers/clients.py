"""Client connections: they arrive, connect (retrying SYNs), send requests one at a time, close.

Connections arrive as a Poisson process following a `LoadProfile`. Each draws how many requests
it will send, connects (a full accept queue drops the handshake: the SYN is retransmitted after
1 s, 2 s, 4 s ... until `syn_retries` are spent), then sends one request, waits for the response,
pauses for an exponential think time and sends the next (HTTP/1.1 keep-alive), and closes after
the last. The request is sent as soon as the handshake completes, so its latency includes its
wait in the accept queue.

The client side is driven by callbacks on simpy events rather than a process per connection,
which keeps the hot loop lean. The arrival stream (times, request counts, flow hashes) draws from
its own RNG, so several servers given equal arrival streams see exactly the same load.
"""

from __future__ import annotations

import math
import random
from typing import Protocol

from simulation.core.component import Component
from simulation.core.env import call_in
from simulation.primitives.load import LoadProfile, PoissonArrivals
from simulation.primitives.resilience.admission import COMPLETED, LATE, WorkItem

from .sockets import Connection, ConnectionConfig, Request

CLIENT_COUNTERS = (
    "connections",
    "connected",
    "syn_drops",
    "connect_failed",
    "connections_reset",
    "closed",
    "sent",
    "ok",
    "late",
    "rejected",
    "expired",
    "cleared",
    "reset",
    "wait_sum",
    "waited",
)


class FrontEnd(Protocol):
    """What clients need from a server: connect, send, close."""

    def connect(self, conn: Connection) -> bool | None:
        """True: queued for accept; False: dropped (retry the SYN); None: refused (give up)."""
        ...

    def send(self, request: Request) -> None: ...

    def close(self, conn: Connection) -> None: ...


class Clients(Component):
    """A population of client connections driving one server (see module docstring)."""

    def __init__(
        self,
        parent: Component,
        server: FrontEnd,
        load: LoadProfile,
        config: ConnectionConfig,
        arrivals: random.Random,
        *,
        record_requests: bool = False,
        name: str = "clients",
    ) -> None:
        super().__init__(parent, name)
        self.server = server
        self.config = config
        self.arrivals = arrivals
        self.record_requests = record_requests
        self.latency = self.tally("latency", "s")
        """Response time of every served request (sent -> response), at its response."""
        for counter in CLIENT_COUNTERS:
            setattr(self, counter, 0)
        self.wait_sum = 0.0
        self._think_rate = 1.0 / config.think_time if config.think_time > 0.0 else 0.0
        self._geometric = config.requests_distribution == "geometric" and config.requests > 1
        self._log_q = math.log(1.0 - 1.0 / config.requests) if self._geometric else 0.0
        PoissonArrivals(self.env, load, arrivals, self._arrive)

    def counters(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in CLIENT_COUNTERS}

    @property
    def answered(self) -> int:
        """Requests whose outcome the client has received."""
        return self.ok + self.late + self.rejected + self.expired + self.cleared + self.reset

    @property
    def in_flight(self) -> int:
        return self.sent - self.answered

    # -- connection life -------------------------------------------------------------------
    def _arrive(self) -> None:
        rng = self.arrivals
        if self._geometric:
            n = 1 + int(math.log(1.0 - rng.random()) / self._log_q)
        else:
            n = self.config.requests
        conn = Connection(self.connections, n, rng.getrandbits(32))
        self.connections += 1
        self._connect(conn)

    def _connect(self, conn: Connection) -> None:
        conn.attempts += 1
        placed = self.server.connect(conn)
        if placed:
            self.connected += 1
            self._send(conn)
            return
        if placed is None:
            self.connect_failed += 1
            return
        self.syn_drops += 1
        retries = conn.attempts - 1
        if retries >= self.config.syn_retries:
            self.connect_failed += 1
            return
        rto = self.config.syn_timeout * (2.0**retries)
        call_in(self.env, rto, lambda _ev: self._connect(conn))

    def _send(self, conn: Connection) -> None:
        self.sent += 1
        self.server.send(Request(conn, self.env.now))

    def settled(self, item: WorkItem) -> None:
        """The server settled a request (`item.payload`): record it, then send the next or close.

        Used directly as the callback of the work item that carries the request.
        """
        now = self.env.now
        request: Request = item.payload
        outcome = item.outcome
        conn = request.conn
        if outcome is COMPLETED or outcome is LATE:
            if outcome is COMPLETED:
                self.ok += 1
            else:
                self.late += 1
            latency = now - request.sent
            self.latency.observe(latency)
            wait = item.started - request.sent
            if wait > 0.0:
                self.wait_sum += wait
                self.waited += 1
        else:
            name = outcome.value  # type: ignore[union-attr]
            setattr(self, name, getattr(self, name) + 1)
        if self.record_requests:
            self.event(
                "request",
                f"conn={conn.id} worker={conn.worker} sent={request.sent:.6f} "
                f"latency={now - request.sent:.6f} outcome={outcome}",
            )
        conn.requests_left -= 1
        if conn.requests_left <= 0:
            self.closed += 1
            self.server.close(conn)
        elif self._think_rate > 0.0:
            delay = self.rng.expovariate(self._think_rate)
            call_in(self.env, delay, lambda _ev: self._send(conn))
        elif outcome is COMPLETED or outcome is LATE:
            self._send(conn)
        else:
            # A refusal settles synchronously; send the next request from a fresh event so a
            # connection refused over and over does not recurse.
            call_in(self.env, 0.0, lambda _ev: self._send(conn))

    def reset_connection(self, conn: Connection) -> None:
        """The listener holding `conn` in its accept queue closed: the connection is reset."""
        self.connections_reset += 1
        if conn.pending is not None:
            conn.pending = None
            self.reset += 1
