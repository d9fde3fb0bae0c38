"""One transport connection seen from both ends, and one request (stream) on it.

A `Connection` joins a client pool (`client.ClientPool`) to a server (`server.Server`). Both ends
keep their own view of it, because they learn of each other's actions one network delay later
(`delay`, half the round trip): the server may have closed a connection the client still thinks
open, which is where the idle-timeout race and the GOAWAY race come from. Messages between the
ends (request, response, FIN, RST, GOAWAY) are simpy timeouts of `delay` whose callbacks run the
receiving end's handler; equal delays keep TCP's in-order delivery (simpy breaks ties by
scheduling order).

A `Stream` is one request/response exchange: an HTTP/2 stream (odd ids 1, 3, 5 ...) or an
HTTP/1.1 request (ids 1, 2, 3 ..., one at a time per connection, no pipelining).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import simpy

    from .client import ClientPool
    from .server import Server

Protocol = Literal["http1", "h2"]
HTTP1: Protocol = "http1"
H2: Protocol = "h2"

MAX_STREAM_ID = 2**31 - 1
"""The largest HTTP/2 stream id: a GOAWAY carrying it refuses nothing (RFC 9113 6.8)."""

# What one attempt on a connection came to (the value of `Stream.done`).
ATTEMPT_OK = "ok"
ATTEMPT_RESET = "reset"
"""The connection was reset, or closed before this request's response arrived."""
ATTEMPT_REFUSED = "refused"
"""Not processed by the server (stream above GOAWAY's last-stream-id, or connect refused)."""
ATTEMPT_ERROR_RESPONSE = "error_response"
"""The server answered with an error status (its work queue rejected or dropped the request)."""

# Client view of a connection.
C_CONNECTING = 0
C_READY = 1
"""Open, and new requests may be sent on it."""
C_DRAINING = 2
"""Open, but no new requests: `Connection: close` or GOAWAY received."""
C_CLOSED = 3

# Server view of a connection.
S_OPEN = 0
S_HALF_CLOSED = 1
"""FIN sent (write side shut), still reading and discarding: the staged close's linger."""
S_CLOSED = 2
"""Fully closed: data arriving now makes the server's TCP stack answer with an RST."""


class Stream:
    """One request on a connection; `done` succeeds with an ATTEMPT_* code."""

    __slots__ = (
        "close_after",
        "conn",
        "done",
        "id",
        "idempotent",
        "payload",
        "responded",
        "sent_at",
        "status",
    )

    def __init__(
        self,
        conn: Connection,
        stream_id: int,
        done: simpy.Event,
        payload: Any,
        idempotent: bool,
        sent_at: float,
    ) -> None:
        self.conn = conn
        self.id = stream_id
        self.done = done
        self.payload = payload
        self.idempotent = idempotent
        self.sent_at = sent_at
        self.responded = False
        """The server sent the response: it reaches the client before anything sent later."""
        self.close_after = False
        """The response carried `Connection: close` (HTTP/1.1)."""
        self.status = ATTEMPT_OK
        """What the response says: ATTEMPT_OK, or ATTEMPT_ERROR_RESPONSE (an error status)."""


class Connection:
    """Client and server state of one connection (fields `c_*` client side, `s_*` server side)."""

    __slots__ = (
        "c_goaway",
        "c_idle_since",
        "c_last_send",
        "c_reset",
        "c_state",
        "c_timer",
        "delay",
        "host",
        "id",
        "next_id",
        "pending",
        "pool",
        "protocol",
        "requests",
        "s_active",
        "s_close_next",
        "s_goaway",
        "s_goaway_final",
        "s_idle_since",
        "s_last_id",
        "s_rst",
        "s_state",
        "s_timer",
        "server",
    )

    def __init__(
        self,
        conn_id: int,
        host: str,
        pool: ClientPool,
        server: Server,
        protocol: Protocol,
        delay: float,
    ) -> None:
        self.id = conn_id
        self.host = host
        self.pool = pool
        self.server = server
        self.protocol = protocol
        self.delay = delay
        """One-way network delay (half the round trip), seconds."""
        self.next_id = 1
        self.requests = 0
        """Requests the client sent on this connection."""
        # client side
        self.c_state = C_CONNECTING
        self.pending: dict[int, Stream] = {}
        """Streams sent and not yet settled at the client, by id."""
        self.c_goaway: int | None = None
        """Last-stream-id of the latest GOAWAY the client received."""
        self.c_reset = False
        self.c_idle_since = 0.0
        self.c_timer = False
        self.c_last_send = -1.0
        # server side
        self.s_state = S_OPEN
        self.s_active = 0
        """Requests the server is processing on this connection."""
        self.s_last_id = 0
        """Highest stream id the server has received (and processed)."""
        self.s_goaway: int | None = None
        """Last-stream-id the server announced: streams above it are not processed."""
        self.s_goaway_final = False
        """The GOAWAY carrying the real last id was sent: close once the streams finish."""
        self.s_close_next = False
        """HTTP/1.1 drain: the next response carries `Connection: close`."""
        self.s_rst = False
        self.s_idle_since = 0.0
        self.s_timer = False

    @property
    def step(self) -> int:
        """Stream ids grow by 2 in HTTP/2 (client-initiated ids are odd), by 1 in HTTP/1.1."""
        return 2 if self.protocol == H2 else 1

    def __repr__(self) -> str:
        return (
            f"<Connection {self.id} {self.protocol} {self.host} -> {self.server.scope} "
            f"client={self.c_state} server={self.s_state}>"
        )
