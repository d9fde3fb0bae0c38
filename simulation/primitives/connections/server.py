"""The server end of connections: keep-alive, idle timeout, staged or immediate close, shutdown.

A `Server` accepts connections from client pools and processes the requests that arrive on them.
Processing is pluggable: a service time (`ServiceTime`, as in the server patterns), served at once
for every request (an infinite server) or by a `WorkerPool` of `workers` threads; or a `handler`
generator for servers that do more than wait (an NLB node forwarding to a target).

Closing a connection (RFC 9112 9.6):
- *staged* (a lingering close, what real servers do): shut the write side (FIN) and keep reading
  and discarding until the client's FIN comes back (one round trip) or `linger` runs out. Requests
  the client sent before it saw the FIN are discarded quietly; the client fails them on the FIN.
- *immediate*: close the socket at once. Client data arriving afterwards makes the server's TCP
  stack answer with an RST, and the RST destroys any response the client has not yet read.

`shutdown(strategy, drain)` stops accepting and tells clients to go, by strategy:
- `abrupt`: nothing is said; at the end of the drain every connection is closed at once (requests
  in processing are lost), as when a process is killed after its load balancer's drain delay.
- `connection_close` (HTTP/1.1): every later response carries `Connection: close` and the
  connection is closed after it; idle connections cannot be told and wait for the idle timeout or
  the end of the drain.
- `goaway` (HTTP/2, RFC 9113 6.8): one GOAWAY carrying the highest stream id received so far;
  streams the client sent meanwhile (on the wire) are above it and are refused.
- `double_goaway`: GOAWAY(2^31-1) first (no new streams, nothing refused), then after
  `goaway_wait` (at least one round trip) GOAWAY with the real last id: nothing is on the wire.
HTTP/1.1 connections have no GOAWAY: both GOAWAY strategies use `Connection: close` on them, and
`connection_close` uses a single GOAWAY on HTTP/2 connections (HTTP/2 forbids the header).
At the end of the drain, connections still open are closed (immediately for `abrupt`, else by
`close`). `TargetGroup` deregisters a server from new connections and starts its drain, as a
load balancer does (ELB's deregistration delay defaults to 300 s).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Sequence
from typing import Any, Literal

import simpy
from pydantic import Field

from simulation.core.component import Action, Component
from simulation.core.config import SectionConfig
from simulation.core.env import call_in
from simulation.core.units import Duration
from simulation.primitives.resilience.admission import SERVED, AdmissionConfig, WorkItem
from simulation.primitives.servers.service import ServiceTime, ServiceTimeConfig
from simulation.primitives.servers.worker import WorkerPool

from .connection import (
    ATTEMPT_ERROR_RESPONSE,
    H2,
    MAX_STREAM_ID,
    S_CLOSED,
    S_HALF_CLOSED,
    S_OPEN,
    Connection,
    Stream,
)

ShutdownStrategy = Literal["abrupt", "connection_close", "goaway", "double_goaway"]
STRATEGIES: tuple[str, ...] = ("abrupt", "connection_close", "goaway", "double_goaway")
CloseMode = Literal["staged", "immediate"]
_EPS = 1e-9

Handler = Callable[[Any], Generator[simpy.Event, Any, Any]]
"""`handler(payload)`: a generator run as a process per request; its end sends the response."""


class ServerConfig(SectionConfig):
    """A server's connection handling: keep-alive, close, GOAWAY timing, processing."""

    keepalive_timeout: Duration | None = Field(
        "75 s",
        description="Idle time after which the server closes a keep-alive connection (nginx 75 s, "
        "Node.js 5 s, ALB 60 s, NLB 350 s). It must exceed the idle timeout of whatever calls "
        "the server, or the two race. null = never.",
    )
    close: CloseMode = Field(
        "staged",
        description="How the server closes a connection: staged (FIN, then read and discard "
        "until the client's FIN or `linger`) or immediate (close at once: late client data "
        "draws an RST that can destroy a response the client has not read).",
    )
    linger: Duration = Field(
        "5 s",
        description="Longest the staged close keeps reading after its FIN (nginx "
        "lingering_timeout 5 s); it ends earlier when the client's FIN arrives (one round trip).",
    )
    goaway_wait: Duration | None = Field(
        None,
        description="double_goaway: time between the first GOAWAY (2^31-1) and the second (real "
        "last id). At least one round trip; null = one round trip of each connection.",
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Threads processing requests (a worker pool with one shared queue); null = "
        "every request is processed at once (no queueing).",
    )
    admission: AdmissionConfig = Field(
        default_factory=AdmissionConfig,
        description="The worker pool's queue (discipline, max waiting, deadlines); a request it "
        "rejects or drops is answered with an error status. Used only with `workers`.",
    )
    service: ServiceTimeConfig = Field(
        default_factory=ServiceTimeConfig,
        description="Service time of one request, when the owner plugs in no cost model.",
    )


class ShutdownParams(SectionConfig):
    """Parameters of the `shutdown` action."""

    strategy: ShutdownStrategy = Field("double_goaway", description="How clients are told to go.")
    drain: Duration = Field(
        "300 s", description="Time before the connections still open are closed (ELB default)."
    )


class Server(Component):
    """A server holding client connections (see module docstring)."""

    def __init__(
        self,
        parent: Component,
        name: str,
        config: ServerConfig | None = None,
        service: ServiceTime | None = None,
        handler: Handler | None = None,
        index: int | str | None = None,
    ) -> None:
        super().__init__(parent, name, index)
        self.config = config = config or ServerConfig()
        self.service: ServiceTime = service or config.service.build()
        self.handler = handler
        self.pool: WorkerPool | None = None
        if config.workers is not None and handler is None:
            inner = self.service
            self.pool = WorkerPool(
                self,
                "workers",
                config.workers,
                lambda server, st, rng: inner(server, st.payload, rng),
                config.admission,
            )
        self.accepting = True
        self.strategy: str | None = None
        """The shutdown strategy in force (None while the server runs normally)."""
        self.conns: dict[Connection, None] = {}
        """Open connections (server view), in accept order."""
        self.in_service = 0
        self.accepted = 0
        self.processed = 0
        """Requests the server started processing."""
        self.responses = 0
        self.aborted = 0
        """Requests whose processing was cut off by a close (no response sent)."""
        self.not_processed = 0
        """Streams above GOAWAY's last-stream-id (ignored, safe for the client to retry)."""
        self.discarded = 0
        """Requests read and discarded during a staged close's linger."""
        self.rst_sent = 0
        self.idle_closes = 0
        self.forced_closes = 0
        """Connections closed at the end of a drain."""
        self.goaways = 0
        self._epoch = 0
        self._drained_at: float | None = None
        self._conn_level = self.level("connections", "connections", initial=0)

    # -- ServerView, for service-time models -------------------------------------------------
    @property
    def waiting(self) -> int:
        return 0 if self.pool is None else len(self.pool.queue.entries)

    # -- accepting and processing ----------------------------------------------------------
    def accept(self, conn: Connection) -> bool:
        """The client's SYN arrives: accept (True) or refuse (False, RST) the connection."""
        if not self.accepting:
            conn.s_state = S_CLOSED
            return False
        self.accepted += 1
        self.conns[conn] = None
        self._conn_level.set(len(self.conns))
        self._idle(conn)
        return True

    def on_request(self, ev: simpy.Event) -> None:
        """A request reaches the server (timeout callback; `ev.value` is the Stream)."""
        st: Stream = ev.value
        conn = st.conn
        state = conn.s_state
        if state == S_CLOSED:
            self._send_rst(conn)
            return
        if state == S_HALF_CLOSED:
            self.discarded += 1
            return
        if conn.s_goaway is not None and st.id > conn.s_goaway:
            self.not_processed += 1
            return
        if st.id > conn.s_last_id:
            conn.s_last_id = st.id
        conn.s_active += 1
        self.in_service += 1
        self.processed += 1
        if self.handler is not None:
            self.env.process(self._handle(st))
        elif self.pool is not None:
            self.pool.submit(st, callback=self._on_item)
        else:
            delay = self.service(self, st.payload, self.rng)
            call_in(self.env, delay, self._on_served, st)

    def _handle(self, st: Stream) -> Generator[simpy.Event, Any, None]:
        assert self.handler is not None
        yield from self.handler(st.payload)
        self._respond(st, True)

    def _on_served(self, ev: simpy.Event) -> None:
        self._respond(ev.value, True)

    def _on_item(self, item: WorkItem) -> None:
        self._respond(item.payload, item.outcome in SERVED)

    def _respond(self, st: Stream, served: bool) -> None:
        """Processing ended: send the response if the connection is still open."""
        self.in_service -= 1
        conn = st.conn
        if conn.s_state != S_OPEN:
            return  # closed meanwhile: counted as aborted by _close
        conn.s_active -= 1
        self.responses += 1
        if not served:
            st.status = ATTEMPT_ERROR_RESPONSE
        close = conn.s_close_next
        st.close_after = close
        st.responded = True
        pool = conn.pool
        call_in(self.env, conn.delay + pool.read_time, pool.on_response, st)
        if close:
            self._close(conn, self.config.close)
        elif conn.s_active == 0:
            if conn.s_goaway_final:
                self._close(conn, self.config.close)
            else:
                self._idle(conn)

    # -- idle timeout ------------------------------------------------------------------------
    def _idle(self, conn: Connection) -> None:
        conn.s_idle_since = self.env.now
        k = self.config.keepalive_timeout
        if k is not None and not conn.s_timer:
            conn.s_timer = True
            call_in(self.env, k, self._on_idle_timer, conn)

    def _on_idle_timer(self, ev: simpy.Event) -> None:
        conn: Connection = ev.value
        conn.s_timer = False
        if conn.s_state != S_OPEN or conn.s_active:
            return
        due = conn.s_idle_since + self.config.keepalive_timeout  # type: ignore[operator]
        now = self.env.now
        if now >= due - _EPS:
            self.idle_closes += 1
            self._close(conn, self.config.close)
        else:
            conn.s_timer = True
            call_in(self.env, due - now, self._on_idle_timer, conn)

    # -- closing -----------------------------------------------------------------------------
    def _close(self, conn: Connection, mode: CloseMode) -> None:
        """Close `conn` from the server side, staged or immediate (see module docstring)."""
        state = conn.s_state
        if state != S_OPEN:
            if state == S_HALF_CLOSED and mode == "immediate":
                conn.s_state = S_CLOSED
            return
        self._forget(conn)
        env = self.env
        call_in(env, conn.delay, conn.pool.on_fin, conn)
        if mode == "immediate":
            conn.s_state = S_CLOSED
        else:
            conn.s_state = S_HALF_CLOSED
            linger = min(self.config.linger, 2.0 * conn.delay)
            call_in(env, linger, self._on_linger_end, conn)

    def _forget(self, conn: Connection) -> None:
        """Drop `conn` from the open connections (its requests in processing are aborted)."""
        if conn.s_active:
            self.aborted += conn.s_active
            conn.s_active = 0
        if self.conns.pop(conn, 0) is None:
            self._conn_level.set(len(self.conns))
            if self.strategy is not None and not self.conns and self._drained_at is None:
                self._drained_at = self.env.now
                self.event("drained", f"strategy={self.strategy}")

    def _on_linger_end(self, ev: simpy.Event) -> None:
        conn: Connection = ev.value
        if conn.s_state == S_HALF_CLOSED:
            conn.s_state = S_CLOSED

    def on_client_close(self, ev: simpy.Event) -> None:
        """The client's FIN arrives (it closed an idle connection): close our side too."""
        conn: Connection = ev.value
        if conn.s_state == S_OPEN:
            self._forget(conn)
        conn.s_state = S_CLOSED

    def _send_rst(self, conn: Connection) -> None:
        if conn.s_rst:
            return
        conn.s_rst = True
        self.rst_sent += 1
        call_in(self.env, conn.delay, conn.pool.on_rst, conn)

    # -- GOAWAY ----------------------------------------------------------------------------------
    def _goaway(self, conn: Connection, last_id: int, final: bool) -> None:
        if conn.s_state != S_OPEN:
            return
        self.goaways += 1
        conn.s_goaway = last_id
        call_in(self.env, conn.delay, conn.pool.on_goaway, (conn, last_id))
        if final:
            conn.s_goaway_final = True
            if conn.s_active == 0:
                self._close(conn, self.config.close)

    def _second_goaway(self, ev: simpy.Event) -> None:
        conn: Connection = ev.value
        self._goaway(conn, conn.s_last_id, True)

    # -- shutdown and restart ----------------------------------------------------------------
    def shutdown(self, strategy: str = "double_goaway", drain: float = 300.0) -> None:
        """Stop accepting, tell clients to go by `strategy`, close what is left after `drain`."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown shutdown strategy {strategy!r} (known: {STRATEGIES})")
        if self.strategy is not None:
            return
        self.accepting = False
        self.strategy = strategy
        self._drained_at = None
        self._epoch += 1
        self.event("shutdown", f"strategy={strategy} drain={drain:g}s connections={len(self)}")
        env = self.env
        if strategy != "abrupt":
            for conn in list(self.conns):
                if conn.protocol != H2:
                    conn.s_close_next = True
                elif strategy == "double_goaway":
                    self._goaway(conn, MAX_STREAM_ID, False)
                    wait = self.config.goaway_wait
                    wait = 2.0 * conn.delay if wait is None else wait
                    call_in(env, wait, self._second_goaway, conn)
                else:
                    self._goaway(conn, conn.s_last_id, True)
        if not self.conns and self._drained_at is None:
            self._drained_at = env.now
            self.event("drained", f"strategy={strategy}")
        call_in(env, drain, self._on_drain_end, self._epoch)

    def _on_drain_end(self, ev: simpy.Event) -> None:
        if ev.value != self._epoch or self.strategy is None:
            return
        mode: CloseMode = "immediate" if self.strategy == "abrupt" else self.config.close
        left = list(self.conns)
        self.forced_closes += len(left)
        self.event("drain_end", f"strategy={self.strategy} closed={len(left)}")
        for conn in left:
            self._close(conn, mode)

    def start(self) -> None:
        """Accept connections again (a restarted process); a pending drain end is cancelled."""
        self.accepting = True
        self.strategy = None
        self._epoch += 1
        self.event("start")

    def __len__(self) -> int:
        return len(self.conns)

    # -- hooks -----------------------------------------------------------------------------------
    def actions(self) -> list[Action]:
        def run(params: ShutdownParams) -> None:
            self.shutdown(params.strategy, params.drain)

        return [
            Action("shutdown", run, ShutdownParams, "Stop accepting and drain this server."),
            Action("start", lambda _p: self.start(), doc="Accept connections again."),
        ]

    def counters(self) -> dict[str, int]:
        """The server's counters; its owner reports them (a primitive reports nothing itself)."""
        return {
            "accepted": self.accepted,
            "processed": self.processed,
            "responses": self.responses,
            "aborted": self.aborted,
            "not_processed": self.not_processed,
            "discarded": self.discarded,
            "rst_sent": self.rst_sent,
            "idle_closes": self.idle_closes,
            "forced_closes": self.forced_closes,
            "goaways": self.goaways,
        }


class TargetGroup:
    """Servers in service behind one name: new connections go to one of them, chosen at random.

    `deregister` takes a server out of service for new connections and starts its drain; the
    connections it holds stay on it until the drain closes them (a load balancer's
    deregistration delay, 300 s by default on ELB).
    """

    def __init__(self, rng: random.Random, servers: Sequence[Server] = ()) -> None:
        self.rng = rng
        self.in_service: list[Server] = list(servers)

    def resolve(self, _host: str = "") -> Server | None:
        servers = self.in_service
        if not servers:
            return None
        return servers[int(self.rng.random() * len(servers))]

    def register(self, server: Server) -> None:
        if server not in self.in_service:
            self.in_service.append(server)

    def deregister(
        self, server: Server, strategy: str = "double_goaway", drain: float = 300.0
    ) -> None:
        if server in self.in_service:
            self.in_service.remove(server)
        server.shutdown(strategy, drain)
