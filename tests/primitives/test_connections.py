"""Connections primitive: one test per rule of mechanisms.md section 2, each with its assertion.

Most scenarios are deterministic (fixed send times, deterministic service, send times offset
from round numbers so that no two messages tie); the idle-timeout race is also checked against
its closed form (`connections.theory`).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import pytest
import simpy
from pydantic import ValidationError

from simulation.core import Component, SimEnv
from simulation.core.units import parse_timestamp
from simulation.primitives.connections import (
    OK,
    RESET,
    RETRIED_OK,
    ClientConfig,
    ClientPool,
    Connection,
    RequestResult,
    Server,
    ServerConfig,
    TargetGroup,
)
from simulation.primitives.connections.connection import C_CLOSED, S_CLOSED
from simulation.primitives.connections.theory import (
    BROWSER_CONNECTIONS_PER_HOST,
    ELB_DEREGISTRATION_DELAY,
    IDLE_TIMEOUTS,
    goaway_refused_expected,
    idle_race_probability,
    idle_race_safe,
)
from simulation.primitives.resilience.admission import AdmissionConfig

START = parse_timestamp("2025-10-19T23:00:00-07:00")
MS = 1e-3


class Work:
    """A request's payload: how long it takes, and how many times a server ran it."""

    __slots__ = ("runs", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0


def run_work(_server: Any, work: Work, _rng: Any) -> float:
    work.runs += 1
    return work.seconds


class Bench:
    """Servers behind a target group and one client pool, for deterministic scenarios."""

    def __init__(
        self,
        protocol: str = "h2",
        servers: int = 2,
        seed: int = 1,
        server: dict[str, Any] | None = None,
        **client: Any,
    ) -> None:
        self.env = SimEnv(START, seed)
        self.root = Component(self.env, "region")
        config = ServerConfig(**(server or {}))
        self.servers = [
            Server(self.root, "server", config, service=run_work, index=i) for i in range(servers)
        ]
        self.group = TargetGroup(self.env.rng("region", "lb"), self.servers)
        client.setdefault("response_read", 0)
        self.pool = ClientPool(
            self.env,
            ClientConfig(protocol=protocol, **client),
            self.env.rng("region", "client"),
            self.group.resolve,
            owner=self.root,
        )
        self.results: list[tuple[float, bool, Work, RequestResult]] = []

    def send_at(self, t: float, work: Work, idempotent: bool = True, host: str = "api") -> None:
        """Issue one request at time `t`; its result is appended to `results`."""

        def go() -> Generator[simpy.Event, Any, None]:
            yield self.env.timeout(t - self.env.now)
            result = yield from self.pool.request(host, idempotent, work)
            self.results.append((t, idempotent, work, result))

        self.env.process(go())

    def at(self, t: float, fn: Any) -> None:
        self.env.timeout(t).callbacks.append(lambda _ev: fn())

    def only_connection(self, host: str = "api") -> Connection:
        conns = self.pool.connections(host)
        assert len(conns) == 1, conns
        return conns[0]


# -- RFC 9112 9.6: Connection: close ------------------------------------------------------------
def test_connection_close_server_closes_after_response_and_client_sends_nothing_more() -> None:
    """RFC 9112 9.6: after a response carrying `Connection: close` the server closes and
    processes nothing more on that connection; the client sends nothing more on it."""
    b = Bench("http1", servers=2, rtt="10 ms", max_per_host=1)
    for k in range(400):  # a request every 20 ms, each on the single keep-alive connection
        b.send_at(k * 20 * MS + 0.25 * MS, Work(1 * MS))
    snapshot: dict[str, Any] = {}

    def drain() -> None:
        conn = b.only_connection()
        snapshot.update(conn=conn, sent=conn.requests, processed=conn.server.processed)
        b.group.deregister(conn.server, "connection_close", drain=ELB_DEREGISTRATION_DELAY)

    b.at(1.0 + 0.1 * MS, drain)
    b.env.run(10.0)
    conn: Connection = snapshot["conn"]
    old = conn.server
    # the request in flight at the drain got the close; nothing was sent after it
    assert conn.requests - snapshot["sent"] <= 1
    assert old.processed - snapshot["processed"] <= 1
    assert old.discarded == 0 and old.rst_sent == 0  # nothing arrived after the close
    assert conn.c_state == C_CLOSED and conn.s_state == S_CLOSED
    assert old.conns == {}  # drained long before the 300 s deadline
    assert b.pool.errors == 0 and b.pool.counts[OK] == 400


# -- Staged close vs immediate close: the RST that destroys an unread response --------------------
def goaway_race(close: str, strategy: str = "goaway") -> Bench:
    """h2, RTT 20 ms, a non-idempotent stream every 1 ms, 5.5 ms of work, responses read in
    3 ms; the server is drained by GOAWAY at t = 100 ms."""
    b = Bench("h2", server={"close": close}, rtt="20 ms", response_read="3 ms")
    for k in range(150):
        b.send_at(k * MS + 0.25 * MS, Work(5.5 * MS), idempotent=False)
    b.at(0.1, lambda: b.group.deregister(b.only_connection().server, strategy, drain=60.0))
    b.env.run(1.0)
    return b


def test_immediate_close_rst_destroys_responses_the_client_has_not_read() -> None:
    """RFC 9112 9.6: closing at once can make the server's TCP stack send an RST (late client
    data arriving on the closed socket) that destroys a response the client has not yet read;
    servers therefore close in stages (FIN, read and discard, then close)."""
    immediate = goaway_race("immediate")
    staged = goaway_race("staged")
    # The last stream under last-stream-id is answered at 104.75 ms and the connection closed;
    # a straggler sent at 95.25 ms arrives at 105.25 ms -> RST, at the client at 115.25 ms.
    # Responses sent after 102.25 ms (streams sent at 87.25, 88.25, 89.25 ms) are still being
    # read then: destroyed, though the server ran them.
    assert immediate.pool.responses_erased == 3
    destroyed = [w for t, _, w, r in immediate.results if r.kind == RESET]
    assert [round(t * 1e3, 2) for t, _, _, r in immediate.results if r.kind == RESET] == [
        87.25,
        88.25,
        89.25,
    ]
    assert all(w.runs == 1 for w in destroyed)  # processed, yet the client sees an error
    assert immediate.pool.failed_non_idempotent == 3
    assert staged.pool.responses_erased == 0 and staged.pool.errors == 0
    assert staged.servers[0].rst_sent + staged.servers[1].rst_sent == 0


# -- RFC 9113 6.8: GOAWAY ------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["goaway", "double_goaway"])
def test_goaway_last_stream_id(strategy: str) -> None:
    """RFC 9113 6.8: streams up to last-stream-id may complete; streams above it were not
    processed and are retried on a new connection, even non-idempotent ones; no new streams
    after GOAWAY. A single GOAWAY with the current last id refuses the streams on the wire
    (sent within one round trip around it); GOAWAY(2^31-1), one round trip, then the real
    last id refuses none."""
    b = goaway_race("staged", strategy)
    refused = [(t, w, r) for t, _, w, r in b.results if r.kind == RETRIED_OK]
    old = next(s for s in b.servers if s.strategy is not None)
    assert old.conns == {}  # drained
    if strategy == "goaway":
        # sent in (T - d, T + d) = (90 ms, 110 ms): 20 streams, each retried once, run once
        assert [round(t * 1e3, 2) for t, _, _ in refused] == [k + 0.25 for k in range(90, 110)]
        assert all(r.attempts == 2 and w.runs == 1 for _, w, r in refused)
        # ignored while the connection was open, or discarded by the lingering close
        assert old.not_processed + old.discarded == 20 and old.processed == 90
        assert b.pool.attempt_refused == 20
    else:
        assert refused == [] and old.not_processed == 0 and b.pool.attempt_refused == 0
        assert old.processed == 110  # every stream sent before the first GOAWAY arrived
    # no request lost, none run twice (all are non-idempotent)
    assert b.pool.errors == 0 and len(b.results) == 150
    assert all(w.runs == 1 for _, _, w, _ in b.results)
    # no new stream on the old connection after the GOAWAY reached the client (110 ms)
    assert old.accepted == 1
    assert b.env.recorder.tallies[("region", "latency")].count == 150  # the owner's records


def fleet_refusals(strategy: str, rate: float, rtt: float, clients: int) -> tuple[int, int, int]:
    """Poisson h2 clients on two servers; server 0 drained at t = 1 s by `strategy`.
    Returns (streams refused, connections server 0 held, client-visible errors)."""
    env = SimEnv(START, 7)
    root = Component(env, "region")
    servers = [Server(root, "server", index=i) for i in range(2)]
    group = TargetGroup(env.rng("region", "lb"), servers)
    config = ClientConfig(protocol="h2", rtt=f"{rtt * 1e3:g} ms", response_read=0)
    pools = [
        ClientPool(env, config, env.rng("region", f"c{i}"), group.resolve) for i in range(clients)
    ]

    def load(pool: ClientPool, rng: Any) -> Generator[Any, Any, None]:
        while env.now < 2.0:
            yield env.timeout(rng.expovariate(rate))
            env.process(pool.request("api", False))

    for i, pool in enumerate(pools):
        env.process(load(pool, env.rng("load", str(i))))
    env.timeout(1.0).callbacks.append(lambda _e: group.deregister(servers[0], strategy, 30.0))
    env.run(3.0)
    return (
        sum(p.attempt_refused for p in pools),
        servers[0].accepted,
        sum(p.errors for p in pools),
    )


def test_goaway_refusals_match_rate_times_rtt() -> None:
    """RFC 9113 6.8 (graceful pattern), statistically: with Poisson streams at rate r per
    connection, a single GOAWAY refuses r x RTT streams per connection on average (all retried,
    none lost); GOAWAY(2^31-1) then the real last id one round trip later refuses none."""
    rate, rtt = 400.0, 0.05
    refused, conns, errors = fleet_refusals("goaway", rate, rtt, clients=60)
    expected = conns * goaway_refused_expected(rate, rtt)
    assert expected > 400
    assert abs(refused - expected) < 4 * math.sqrt(expected), (refused, expected)
    assert errors == 0
    refused, conns, errors = fleet_refusals("double_goaway", rate, rtt, clients=60)
    assert refused == 0 and errors == 0 and conns > 20
    assert goaway_refused_expected(rate, rtt, wait=rtt) == 0.0


# -- Idle-timeout race ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("send_at", "kind", "connections"),
    [(5.08, OK, 1), (5.12, RESET, 1), (5.19, RESET, 1), (5.25, OK, 2)],
)
def test_idle_timeout_race_window(send_at: float, kind: str, connections: int) -> None:
    """Idle-timeout race: the server closes an idle keep-alive connection as the client sends a
    request on it -> reset. Server keep-alive 5 s after its response at 0.15 s: closes at
    5.15 s, FIN at the client at 5.2 s; a request sent in (5.1 s, 5.2 s) reaches the closed
    connection. Earlier it arrives in time; later the client knows and reconnects."""
    b = Bench(
        "http1",
        servers=1,
        server={"keepalive_timeout": "5 s"},
        rtt="100 ms",
        retry={"max_attempts": 1},
    )
    b.send_at(0.0, Work(0.0))
    b.send_at(send_at, Work(0.0), idempotent=False)
    b.env.run(10.0)
    assert [r.kind for _, _, _, r in b.results] == [OK, kind]
    assert b.pool.connections_opened == connections


def closed_loop_race(
    caller_idle: float | None, keepalive: float | None, think: float, rtt: float, until: float
) -> tuple[int, int, float]:
    """Callers that send, wait and think Exp(think); returns (resets, exposed, p)."""
    env = SimEnv(START, 3)
    root = Component(env, "region")
    server = Server(
        root,
        "server",
        ServerConfig(keepalive_timeout=None if keepalive is None else f"{keepalive} s"),
        service=run_work,
    )
    config = ClientConfig(
        protocol="http1",
        rtt=f"{rtt * 1e3:g} ms",
        response_read="1 ms",
        idle_timeout=None if caller_idle is None else f"{caller_idle} s",
        retry={"max_attempts": 1},
    )
    exposed, resets = [0], [0]

    def caller(i: int) -> Generator[Any, Any, None]:
        pool = ClientPool(env, config, env.rng("region", f"c{i}"), lambda _h: server)
        rng = env.rng("think", str(i))
        answered = False
        while True:
            yield env.timeout(rng.expovariate(1.0 / think))
            exposed[0] += answered  # sent on a kept-alive connection: it can meet the race
            result = yield from pool.request("api", True, Work(0.01))
            answered = result.ok
            resets[0] += result.kind == RESET

    for i in range(100):
        env.process(caller(i))
    env.run(until)
    p = idle_race_probability(1.0 / think, keepalive, caller_idle, rtt, 1e-3)
    return resets[0], exposed[0], p


def test_idle_timeout_race_matches_theory() -> None:
    """Idle-timeout race, quantitatively: for exponential think times the reset probability
    per request on a kept-alive connection is the think time's mass in
    (keepalive - RTT - read, keepalive - read); Node.js 5 s behind ALB 60 s."""
    resets, exposed, p = closed_loop_race(
        IDLE_TIMEOUTS["alb"], IDLE_TIMEOUTS["nodejs"], think=5.0, rtt=0.1, until=2500.0
    )
    expected = p * exposed
    assert expected > 300
    assert abs(resets - expected) < 4 * math.sqrt(expected), (resets, expected)


@pytest.mark.parametrize(
    ("caller", "server"),
    [("alb", "nodejs"), ("alb", "nginx"), ("nlb", "nginx"), ("nginx", "nlb")],
)
def test_keepalive_must_exceed_caller_idle_timeout(caller: str, server: str) -> None:
    """The rule: the server's keep-alive timeout must exceed its caller's idle timeout
    (defaults ALB 60 s, NLB 350 s, nginx 75 s, Node.js 5 s). Node.js 5 s behind ALB 60 s and
    nginx 75 s behind NLB 350 s give resets; nginx 75 s behind ALB 60 s gives none."""
    caller_idle, keepalive = IDLE_TIMEOUTS[caller], IDLE_TIMEOUTS[server]
    # think times around the server's keep-alive timeout, where the race lives
    resets, _, p = closed_loop_race(
        caller_idle, keepalive, think=keepalive, rtt=0.1, until=keepalive * 300
    )
    if idle_race_safe(caller_idle, keepalive):
        assert p == 0.0 and resets == 0
    else:
        assert p > 0.0 and resets > 0
    assert idle_race_safe(60.0, 75.0) and not idle_race_safe(60.0, 5.0)


# -- Per-host pools ------------------------------------------------------------------------------
def test_per_host_pool_of_six() -> None:
    """Clients keep a small per-host pool (browsers: 6 connections per host for HTTP/1.1):
    100 simultaneous requests to two hosts open 6 connections to each, and the 50 requests of
    a host go through in ceil(50/6) = 9 waves of one round trip plus the service time."""
    b = Bench("http1", servers=1, rtt="10 ms", max_per_host=BROWSER_CONNECTIONS_PER_HOST)
    for host in ("a", "b"):
        for _ in range(50):
            b.send_at(0.0, Work(0.1), host=host)
    peak = {"a": 0, "b": 0}

    def watch() -> Generator[Any, Any, None]:
        while True:
            for host in peak:
                peak[host] = max(peak[host], len(b.pool.connections(host)))
            yield b.env.timeout(1 * MS)

    b.env.process(watch())
    b.env.run(2.0)
    assert peak == {"a": 6, "b": 6} and b.pool.connections_opened == 12
    finish = max(t + r.latency for t, _, _, r in b.results)
    assert finish == pytest.approx(0.010 + 9 * (0.010 + 0.1))
    assert b.pool.counts[OK] == 100


# -- Load-balancer drain -------------------------------------------------------------------------
def test_deregistration_drains_for_the_delay_then_closes() -> None:
    """Load balancers drain deregistered targets for a delay (ELB default 300 s) before closing:
    no new connection goes to the target, its existing connections keep being served for the
    whole delay, and whatever is still open at the end is closed."""
    b = Bench("h2", servers=2, rtt="2 ms")
    for k in range(3300):  # a request every 0.1 s on one h2 connection
        b.send_at(0.05 + k * 0.1, Work(5 * MS))
    seen: dict[str, int] = {}

    def deregister() -> None:
        target = b.only_connection().server
        seen["accepted"] = target.accepted
        b.group.deregister(target, "abrupt", drain=ELB_DEREGISTRATION_DELAY)
        b.at(299.0, lambda: seen.update(late=target.processed))  # at 309 s
        b.at(301.0, lambda: seen.update(after=target.processed, open=len(target.conns)))

    b.at(10.0, deregister)
    b.env.run(330.0)
    target = next(s for s in b.servers if s.strategy == "abrupt")
    assert target.accepted == seen["accepted"]  # no new connection after deregistration
    assert seen["late"] >= 3000  # still serving its connection 299 s into the drain
    assert seen["open"] == 0 and target.forced_closes == 1
    assert seen["after"] == target.processed  # nothing after the close
    assert target.env.recorder.events_of("drain_end", target.scope)[0][0] == 310.0


def test_reset_retries_only_idempotent_requests() -> None:
    """A request whose connection is cut before its response may have run: an idempotent one
    is retried automatically (RFC 9110 9.2.2), a non-idempotent one is not (the client sees
    the error)."""
    b = Bench("h2", servers=2, rtt="2 ms")
    post, get = Work(1.0), Work(1.0)
    b.send_at(0.5, post, idempotent=False)
    b.send_at(0.6, get, idempotent=True)
    b.at(0.7, lambda: b.group.deregister(b.only_connection().server, "abrupt", drain=0.3))
    b.env.run(5.0)
    by_work = {id(w): r for _, _, w, r in b.results}
    assert by_work[id(post)].kind == RESET and by_work[id(post)].attempts == 1
    assert by_work[id(get)].kind == RETRIED_OK and by_work[id(get)].attempts == 2
    assert post.runs == 1 and get.runs == 2
    assert b.pool.failed_non_idempotent == 1


# -- Processing through a worker pool ---------------------------------------------------------
def test_worker_pool_serves_one_at_a_time_and_rejections_are_error_responses() -> None:
    """With `workers`, requests queue for the server's threads (the servers primitive's
    WorkerPool); a request its queue rejects is answered with an error status."""
    b = Bench("h2", servers=1, server={"workers": 1}, rtt="10 ms")
    for _ in range(20):
        b.send_at(0.0, Work(0.05))
    b.env.run(5.0)
    finish = sorted(t + r.latency for t, _, _, r in b.results)
    assert finish[-1] == pytest.approx(0.010 + 0.005 + 20 * 0.05 + 0.005)
    rejecting = Bench(
        "h2", servers=1, server={"workers": 1, "admission": AdmissionConfig(max_waiting=0)}
    )
    for _ in range(3):  # a loss system: the first is served, the two others find it busy
        rejecting.send_at(0.0, Work(0.05))
    rejecting.env.run(1.0)
    assert sorted(r.kind for *_, r in rejecting.results) == [
        "error_response",
        "error_response",
        OK,
    ]


def test_config_errors() -> None:
    with pytest.raises(ValidationError, match=r"retry\.attempt_timeout is not supported"):
        ClientConfig(retry={"attempt_timeout": "1 s"})
    with pytest.raises(ValidationError, match="Input should be 'http1' or 'h2'"):
        ClientConfig(protocol="http3")
    b = Bench()
    with pytest.raises(ValueError, match="unknown shutdown strategy 'kill'"):
        b.servers[0].shutdown("kill", 1.0)
