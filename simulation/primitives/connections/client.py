"""The client end: per-host connection pools, keep-alive reuse, transparent retries, outcomes.

`ClientPool.request(host, idempotent)` is a generator for `yield from` inside a process; it
returns a `RequestResult`. `ClientPool.submit(host, idempotent, payload, on_result)` does the
same without a process (callbacks scheduling the same events) and calls `on_result(result)`.
A result's `kind` is one of:

- `ok`: answered on the first attempt; `retried_ok`: answered after transparent retries;
- `reset`: the connection was reset or closed before the response, and the request could not be
  retried (not idempotent, or attempts exhausted): a client-visible error;
- `refused`: not processed (stream above GOAWAY's last-stream-id, or connection refused) and not
  retried; `unavailable`: no server to connect to; `error_response`: the server answered with an
  error status (its queue rejected the request).

Rules followed (RFC 9112 9.3.1 and 9.6, RFC 9110 9.2.2, RFC 9113 6.8):
- HTTP/1.1: one request at a time per connection (no pipelining), at most `max_per_host`
  connections per host (browsers: 6), idle connections reused LIFO (Go, urllib3) or FIFO. After a
  response carrying `Connection: close` nothing more is sent on that connection.
- HTTP/2: streams multiplexed on a connection up to `max_concurrent_streams`; after a GOAWAY no
  new stream is opened on it; streams above its last-stream-id were not processed and are retried
  on a new connection even when not idempotent.
- A request that lost its connection before its response may have been processed: it is retried
  automatically only when idempotent.
- The pool closes connections idle for `idle_timeout` (the caller's idle timeout).
Retries follow `retry` (a `RetryConfig` of the resilience primitive: attempts, back-off, budget).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

import simpy
from pydantic import Field, model_validator

from simulation.core.component import Component
from simulation.core.config import SectionConfig
from simulation.core.env import call_in
from simulation.core.units import Duration
from simulation.primitives.resilience.retry import Backoff, RetryConfig

from .connection import (
    ATTEMPT_ERROR_RESPONSE,
    ATTEMPT_OK,
    ATTEMPT_REFUSED,
    ATTEMPT_RESET,
    C_CLOSED,
    C_DRAINING,
    C_READY,
    H2,
    Connection,
    Protocol,
    Stream,
)
from .server import Server

OK = "ok"
RETRIED_OK = "retried_ok"
RESET = "reset"
REFUSED = "refused"
UNAVAILABLE = "unavailable"
ERROR_RESPONSE = "error_response"
OUTCOMES: tuple[str, ...] = (OK, RETRIED_OK, RESET, REFUSED, UNAVAILABLE, ERROR_RESPONSE)
CLIENT_ERRORS: tuple[str, ...] = (RESET, REFUSED, UNAVAILABLE, ERROR_RESPONSE)
"""Outcomes the caller sees as errors (transparent retries that succeeded are not)."""

_CONNECT_REFUSED = "connect_refused"
_UNAVAILABLE = "unavailable"
_EPS = 1e-9

Resolver = Callable[[str], Server | None]
"""`resolve(host)`: the server a new connection to `host` goes to (None: none available)."""


def _default_retry() -> RetryConfig:
    return RetryConfig(policy="none", max_attempts=3)


class ClientConfig(SectionConfig):
    """A client's connection pool: protocol, limits, network, idle timeout, retries."""

    protocol: Protocol = Field(
        "http1", description="http1 (one request at a time per connection) or h2 (multiplexed)."
    )
    max_per_host: int = Field(
        6,
        ge=1,
        description="Most connections open to one host at once (browsers: 6 for HTTP/1.1); "
        "requests beyond wait in the pool for a free connection.",
    )
    max_concurrent_streams: int = Field(
        100, ge=1, description="HTTP/2: most streams open at once on one connection."
    )
    rtt: Duration = Field("1 ms", description="Network round-trip time between client and server.")
    response_read: Duration = Field(
        "1 ms",
        description="Time from a response's first byte reaching the client to the client having "
        "read all of it (transfer and parsing); an RST arriving meanwhile destroys it.",
    )
    idle_timeout: Duration | None = Field(
        "60 s",
        description="The client closes a connection idle this long (ALB 60 s, NLB 350 s). It "
        "must be shorter than the server's keep-alive timeout. null = never.",
    )
    reuse: Literal["lifo", "fifo"] = Field(
        "lifo",
        description="HTTP/1.1: which idle connection a request takes: lifo (most recently used, "
        "as Go and urllib3) or fifo (least recently used, spreading use over all of them).",
    )
    retry: RetryConfig = Field(
        default_factory=_default_retry,
        description="Transparent retries (attempts and back-off) of requests that failed without "
        "a response and may be retried; `max_attempts: 1` never retries (a proxy returning 502).",
    )
    retry_refused: bool = Field(
        True,
        description="Retry requests the server did not process (above GOAWAY's last-stream-id, "
        "connection refused) on a new connection, idempotent or not (RFC 9113 6.8).",
    )
    retry_idempotent: bool = Field(
        True,
        description="Retry idempotent requests whose connection was reset or closed before the "
        "response (RFC 9110 9.2.2); non-idempotent ones are never retried after a reset.",
    )

    @model_validator(mode="after")
    def _no_attempt_timeout(self) -> ClientConfig:
        if self.retry.attempt_timeout is not None:
            raise ValueError(
                "retry.attempt_timeout is not supported by connection pools (attempts end by a "
                "response, a reset or a refusal); leave it null"
            )
        return self


@dataclass(slots=True)
class RequestResult:
    """What one request came to, after any transparent retries."""

    kind: str
    attempts: int
    latency: float

    @property
    def ok(self) -> bool:
        return self.kind == OK or self.kind == RETRIED_OK


class _Host:
    """The pool of one host: its connections, idle HTTP/1.1 connections, waiting requests."""

    __slots__ = ("connecting", "conns", "idle", "name", "waiters")

    def __init__(self, name: str) -> None:
        self.name = name
        self.conns: list[Connection] = []
        self.idle: deque[Connection] = deque()
        self.waiters: deque[simpy.Event] = deque()
        self.connecting = 0


class ClientPool:
    """Connections to any number of hosts, one pool per host (see module docstring).

    Figures are counters on the pool; with an `owner` component, the pool also records a
    `client_connections` level, a `latency` tally of answered requests (or, with
    `latency="retried"`, a `retried_latency` tally of those answered after a transparent retry
    only: far fewer samples) and a `client_errors` tally (one sample per client-visible error)
    under the owner's scope. Many pools may share an owner.
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: ClientConfig,
        rng: random.Random,
        resolve: Resolver,
        owner: Component | None = None,
        latency: Literal["all", "retried"] = "all",
    ) -> None:
        self.env = env
        self.config = config
        self.rng = rng
        self.resolve = resolve
        self._h2 = config.protocol == H2
        self._lifo = config.reuse == "lifo"
        self._delay = config.rtt / 2.0
        self.read_time = config.response_read
        """Time to read a response once its first byte arrived (the server schedules the read)."""
        self._hosts: dict[str, _Host] = {}
        self._next_conn = 0
        self.budget = config.retry.make_budget()
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.requests = 0
        self.attempts = 0
        self.retries = 0
        """Transparent retries (attempts after the first)."""
        self.attempt_resets = 0
        """Attempts that lost their connection before the response (retried or not)."""
        self.attempt_refused = 0
        """Attempts refused by GOAWAY (streams above last-stream-id)."""
        self.connect_refused = 0
        self.failed_non_idempotent = 0
        """Non-idempotent requests that ended in a reset (not retried: they may have run)."""
        self.responses_erased = 0
        """Responses destroyed by an RST while the client was still reading them."""
        self.connections_opened = 0
        self.idle_closes = 0
        """Connections the client closed for idleness."""
        self.server_closes = 0
        """Connections the server closed (FIN seen by the client)."""
        self.goaways_received = 0
        self._all_latencies = latency == "all"
        if owner is not None:
            self._conn_level = owner.level("client_connections", "connections", initial=0)
            self._latency = owner.tally("latency" if latency == "all" else "retried_latency", "s")
            self._errors = owner.tally("client_errors", "errors")
        else:
            self._conn_level = self._latency = self._errors = None

    # -- the public generator ------------------------------------------------------------------
    def request(
        self, host: str, idempotent: bool = True, payload: Any = None
    ) -> Generator[simpy.Event, Any, RequestResult]:
        """Send one request to `host`, retrying transparently where allowed; return its result."""
        env = self.env
        start = env.now
        self.requests += 1
        attempts = 0
        backoff = self._backoff()
        while True:
            attempts += 1
            self.attempts += 1
            got = yield from self._acquire(host)
            if isinstance(got, Connection):
                result = yield self._send(got, idempotent, payload).done
                self._release(got)
            else:
                result = got
            kind, may_retry = self._classify(result, attempts, idempotent)
            if not may_retry:
                break
            if backoff is None:
                backoff = Backoff(self.config.retry)
            delay = backoff.next_delay(self.rng)
            if delay is None:
                break
            self.retries += 1
            if delay > 0.0:
                yield env.timeout(delay)
        return self._result(kind, start, attempts, idempotent)

    # -- the same as callbacks -------------------------------------------------------------------
    def submit(
        self,
        host: str,
        idempotent: bool = True,
        payload: Any = None,
        on_result: Callable[[RequestResult], None] | None = None,
    ) -> None:
        """`request()` without a process: it starts now and calls `on_result(result)` where the
        generator would have returned, having scheduled the same events at the same points (a
        timeout where it waited on one, a callback on the stream's `done` and on a pool waiter
        where it yielded them). A process that only did `yield from pool.request(...)` becomes
        `env.call_in(0.0, start, ..., URGENT)` (its Initialize event) calling `submit`."""
        self.requests += 1
        _Request(self, host, idempotent, payload, on_result).attempt()

    # -- shared by both forms --------------------------------------------------------------------
    def _backoff(self) -> Backoff | None:
        budget = self.budget
        return None if budget is None else Backoff(self.config.retry, budget)

    def _classify(self, result: str, attempts: int, idempotent: bool) -> tuple[str, bool]:
        """An attempt's result as the request's outcome so far, and whether it may be retried."""
        if result == ATTEMPT_OK:
            return (OK if attempts == 1 else RETRIED_OK), False
        if result == ATTEMPT_ERROR_RESPONSE:
            return ERROR_RESPONSE, False
        config = self.config
        if result == ATTEMPT_RESET:
            self.attempt_resets += 1
            return RESET, idempotent and config.retry_idempotent
        if result == ATTEMPT_REFUSED:
            self.attempt_refused += 1
            return REFUSED, config.retry_refused
        if result == _CONNECT_REFUSED:
            self.connect_refused += 1
            return REFUSED, config.retry_refused
        return UNAVAILABLE, True

    def _result(self, kind: str, start: float, attempts: int, idempotent: bool) -> RequestResult:
        """Count the request's outcome and record its latency or error."""
        self.counts[kind] += 1
        latency = self.env.now - start
        if kind == OK:
            if self._all_latencies and self._latency is not None:
                self._latency.observe(latency)
        elif kind == RETRIED_OK:
            if self._latency is not None:
                self._latency.observe(latency)
        else:
            if kind == RESET and not idempotent:
                self.failed_non_idempotent += 1
            if self._errors is not None:
                self._errors.observe(1.0)
        return RequestResult(kind, attempts, latency)

    # -- figures ---------------------------------------------------------------------------------
    @property
    def errors(self) -> int:
        """Requests that ended in a client-visible error."""
        c = self.counts
        return c[RESET] + c[REFUSED] + c[UNAVAILABLE] + c[ERROR_RESPONSE]

    @property
    def in_flight(self) -> int:
        """Requests started and not yet settled."""
        return self.requests - sum(self.counts.values())

    def counters(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            **self.counts,
            "errors": self.errors,
            "retries": self.retries,
            "attempt_resets": self.attempt_resets,
            "attempt_refused": self.attempt_refused,
            "connect_refused": self.connect_refused,
            "failed_non_idempotent": self.failed_non_idempotent,
            "responses_erased": self.responses_erased,
            "connections_opened": self.connections_opened,
            "idle_closes": self.idle_closes,
            "server_closes": self.server_closes,
            "goaways_received": self.goaways_received,
        }

    def connections(self, host: str) -> list[Connection]:
        """The connections to `host` the client holds (connecting, ready or draining)."""
        hp = self._hosts.get(host)
        return [] if hp is None else list(hp.conns)

    # -- pool ------------------------------------------------------------------------------------
    def _host(self, host: str) -> _Host:
        hp = self._hosts.get(host)
        if hp is None:
            hp = self._hosts[host] = _Host(host)
        return hp

    def _acquire(self, host: str) -> Generator[simpy.Event, Any, Connection | str]:
        """A connection to send on: idle or with a free stream, a new one, or wait for one."""
        hp = self._host(host)
        front = False
        while True:
            got = self._pick(hp)
            if got is True:
                return (yield from self._connect(hp))
            if got is not False:
                return got  # type: ignore[return-value]
            yield self._waiter(hp, front)
            front = True

    def _pick(self, hp: _Host) -> Connection | bool:
        """A connection to send on now; True: open a new one; False: wait for one."""
        limit = self.config.max_per_host
        if self._h2:
            streams = self.config.max_concurrent_streams
            for conn in hp.conns:
                if conn.c_state == C_READY and len(conn.pending) < streams:
                    return conn
            return hp.connecting == 0 and self._open(hp) < limit
        idle = hp.idle
        while idle:
            conn = idle.pop() if self._lifo else idle.popleft()
            if conn.c_state == C_READY:
                return conn
        return self._open(hp) < limit

    def _waiter(self, hp: _Host, front: bool) -> simpy.Event:
        """An event succeeded when a connection may be free (a request that waited already
        goes back to the front of the line)."""
        ev = self.env.event()
        if front:
            hp.waiters.appendleft(ev)
        else:
            hp.waiters.append(ev)
        return ev

    @staticmethod
    def _open(hp: _Host) -> int:
        """Connections counted against the per-host limit: connecting or ready."""
        n = 0
        for conn in hp.conns:
            if conn.c_state <= C_READY:
                n += 1
        return n

    def _connect(self, hp: _Host) -> Generator[simpy.Event, Any, Connection | str]:
        """TCP handshake: SYN reaches the server after `delay`, its answer comes back after
        another. The connection is usable one round trip after the client started it."""
        conn = self._new_connection(hp)
        if conn is None:
            return _UNAVAILABLE
        yield self.env.timeout(self._delay)
        accepted = conn.server.accept(conn)
        yield self.env.timeout(self._delay)
        return self._handshake_done(hp, conn, accepted)

    def _new_connection(self, hp: _Host) -> Connection | None:
        """A connection to the server `hp`'s name resolves to, connecting (None: no server)."""
        server = self.resolve(hp.name)
        if server is None:
            return None
        self._next_conn += 1
        conn = Connection(self._next_conn, hp.name, self, server, self.config.protocol, self._delay)
        hp.conns.append(conn)
        hp.connecting += 1
        self.connections_opened += 1
        if self._conn_level is not None:
            self._conn_level.add(1)
        return conn

    def _handshake_done(self, hp: _Host, conn: Connection, accepted: bool) -> Connection | str:
        """The server's answer to the SYN is back: the connection is ready, or refused."""
        hp.connecting -= 1
        if conn.c_state == C_CLOSED:
            return _CONNECT_REFUSED  # closed by the server during the handshake, already forgotten
        if not accepted:
            conn.c_state = C_CLOSED
            self._forget(conn)
            return _CONNECT_REFUSED
        conn.c_state = C_READY
        if self._h2:
            while hp.waiters:
                self._wake(hp)
        return conn

    def _send(self, conn: Connection, idempotent: bool, payload: Any) -> Stream:
        env = self.env
        sid = conn.next_id
        conn.next_id = sid + (2 if self._h2 else 1)
        st = Stream(conn, sid, env.event(), payload, idempotent, env.now)
        conn.pending[sid] = st
        conn.requests += 1
        conn.c_last_send = env.now
        call_in(env, conn.delay, conn.server.on_request, st)
        return st

    def _release(self, conn: Connection) -> None:
        """The attempt on `conn` is settled: the connection goes back to the pool if usable."""
        if conn.c_state != C_READY:
            return
        hp = self._hosts[conn.host]
        if not conn.pending:
            conn.c_idle_since = self.env.now
            timeout = self.config.idle_timeout
            if timeout is not None and not conn.c_timer:
                conn.c_timer = True
                call_in(self.env, timeout, self._on_idle_timer, conn)
        if not self._h2:
            hp.idle.append(conn)
        self._wake(hp)

    @staticmethod
    def _wake(hp: _Host) -> None:
        waiters = hp.waiters
        while waiters:
            ev = waiters.popleft()
            if not ev.triggered:
                ev.succeed()
                return

    def _forget(self, conn: Connection) -> None:
        """Drop a closed connection from its host's pool; a waiting request may open another."""
        hp = self._hosts[conn.host]
        hp.conns.remove(conn)
        if not self._h2 and conn in hp.idle:
            hp.idle.remove(conn)
        if self._conn_level is not None:
            self._conn_level.add(-1)
        self._wake(hp)

    def _on_idle_timer(self, ev: simpy.Event) -> None:
        conn: Connection = ev.value
        conn.c_timer = False
        if conn.c_state != C_READY or conn.pending:
            return
        timeout = self.config.idle_timeout
        if timeout is None:
            return
        due = conn.c_idle_since + timeout
        now = self.env.now
        if now >= due - _EPS:
            conn.c_state = C_CLOSED
            self.idle_closes += 1
            self._forget(conn)
            call_in(self.env, conn.delay, conn.server.on_client_close, conn)
        else:
            conn.c_timer = True
            call_in(self.env, due - now, self._on_idle_timer, conn)

    # -- what arrives from the server ----------------------------------------------------------
    def on_response(self, ev: simpy.Event) -> None:
        """A response has been read (its first byte arrived `response_read` earlier)."""
        st: Stream = ev.value
        if st.done.triggered:
            return  # destroyed by an RST while being read
        conn = st.conn
        if st.close_after and conn.c_state == C_READY:
            conn.c_state = C_DRAINING  # Connection: close: send nothing more on it
        del conn.pending[st.id]
        st.done.succeed(st.status)

    def on_fin(self, ev: simpy.Event) -> None:
        """The server's FIN arrives: requests with no response before it will never get one."""
        conn: Connection = ev.value
        if conn.c_state == C_CLOSED:
            return
        pending = conn.pending
        for sid in [sid for sid, st in pending.items() if not st.responded]:
            pending.pop(sid).done.succeed(ATTEMPT_RESET)
        conn.c_state = C_CLOSED  # (a connection still connecting: _connect sees it and gives up)
        self.server_closes += 1
        self._forget(conn)

    def on_rst(self, ev: simpy.Event) -> None:
        """An RST arrives: every request not yet fully read on the connection fails."""
        conn: Connection = ev.value
        if conn.c_reset:
            return
        conn.c_reset = True
        for st in conn.pending.values():
            if st.responded:
                self.responses_erased += 1
            st.done.succeed(ATTEMPT_RESET)
        conn.pending.clear()
        if conn.c_state != C_CLOSED:
            conn.c_state = C_CLOSED
            self._forget(conn)

    def on_goaway(self, ev: simpy.Event) -> None:
        """A GOAWAY arrives: no new streams here; streams above last-stream-id were refused."""
        conn, last_id = ev.value
        if conn.c_state == C_CLOSED:
            return
        self.goaways_received += 1
        conn.c_goaway = last_id
        pending = conn.pending
        for sid in [sid for sid in pending if sid > last_id]:
            pending.pop(sid).done.succeed(ATTEMPT_REFUSED)
        if conn.c_state == C_READY:
            conn.c_state = C_DRAINING
            self._wake(self._hosts[conn.host])  # a waiting request may open a new connection


class _Request:
    """One request of `ClientPool.submit`: the loop of `ClientPool.request` as callbacks, each
    method a place where the generator resumed."""

    __slots__ = (
        "accepted",
        "attempts",
        "backoff",
        "conn",
        "front",
        "host",
        "hp",
        "idempotent",
        "on_result",
        "payload",
        "pool",
        "start",
    )

    def __init__(
        self,
        pool: ClientPool,
        host: str,
        idempotent: bool,
        payload: Any,
        on_result: Callable[[RequestResult], None] | None,
    ) -> None:
        self.pool = pool
        self.host = host
        self.idempotent = idempotent
        self.payload = payload
        self.on_result = on_result
        self.start = pool.env.now
        self.attempts = 0
        self.backoff = pool._backoff()
        self.hp: _Host | None = None
        self.front = False
        self.conn: Connection | None = None
        self.accepted = False

    def attempt(self, _call: Any = None) -> None:
        pool = self.pool
        self.attempts += 1
        pool.attempts += 1
        self.hp = pool._host(self.host)
        self.front = False
        self._acquire()

    def _acquire(self) -> None:
        pool, hp = self.pool, self.hp
        got = pool._pick(hp)  # type: ignore[arg-type]
        if got is True:
            conn = pool._new_connection(hp)  # type: ignore[arg-type]
            if conn is None:
                self._outcome(_UNAVAILABLE)
                return
            self.conn = conn
            call_in(pool.env, pool._delay, self._syn_arrives)
        elif got is False:
            pool._waiter(hp, self.front).callbacks.append(self._woken)  # type: ignore[arg-type, union-attr]
        else:
            self._send(got)  # type: ignore[arg-type]

    def _woken(self, _ev: Any) -> None:
        self.front = True
        self._acquire()

    def _syn_arrives(self, _call: Any) -> None:
        conn = self.conn
        self.accepted = conn.server.accept(conn)  # type: ignore[union-attr]
        call_in(self.pool.env, self.pool._delay, self._answer_arrives)

    def _answer_arrives(self, _call: Any) -> None:
        got = self.pool._handshake_done(self.hp, self.conn, self.accepted)  # type: ignore[arg-type]
        self.conn = None
        if isinstance(got, Connection):
            self._send(got)
        else:
            self._outcome(got)

    def _send(self, conn: Connection) -> None:
        done = self.pool._send(conn, self.idempotent, self.payload).done
        self.conn = conn
        if done.callbacks is None:  # processed already (as a process resumes at once)
            self._answered(done)
        else:
            done.callbacks.append(self._answered)

    def _answered(self, ev: Any) -> None:
        conn, self.conn = self.conn, None
        self.pool._release(conn)  # type: ignore[arg-type]
        self._outcome(ev._value)

    def _outcome(self, result: str) -> None:
        pool = self.pool
        kind, may_retry = pool._classify(result, self.attempts, self.idempotent)
        if may_retry:
            backoff = self.backoff
            if backoff is None:
                backoff = self.backoff = Backoff(pool.config.retry)
            delay = backoff.next_delay(pool.rng)
            if delay is not None:
                pool.retries += 1
                if delay > 0.0:
                    call_in(pool.env, delay, self.attempt)
                else:
                    self.attempt()
                return
        result = pool._result(kind, self.start, self.attempts, self.idempotent)
        if self.on_result is not None:
            self.on_result(result)
