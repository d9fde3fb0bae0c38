"""Connections primitive: invariants over random configurations (hypothesis), and determinism.

Whatever the protocol, shutdown strategy, close mode, timeouts and load:
- nothing is lost: every request settles exactly once, with one outcome;
- a non-idempotent request runs at most once, and one refused in the end never ran at all
  (refusals are exactly the requests the server did not process);
- an answered request ran at least once; an idempotent request ends in a reset only after
  using all its attempts;
- the server's accounting closes: processed = responses + aborted;
- the pools' connection level matches the connections they hold.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.core import Component, SimEnv
from simulation.core.units import parse_timestamp
from simulation.primitives.connections import (
    OK,
    REFUSED,
    RESET,
    RETRIED_OK,
    STRATEGIES,
    ClientConfig,
    ClientPool,
    RequestResult,
    Server,
    ServerConfig,
    TargetGroup,
)

START = parse_timestamp("2025-10-19T23:00:00-07:00")


class Work:
    __slots__ = ("runs", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0


def run_work(_server: Any, work: Work, _rng: Any) -> float:
    work.runs += 1
    return work.seconds


def simulate(
    protocol: str,
    strategy: str,
    close: str,
    rtt_ms: float,
    read_ms: float,
    service_ms: float,
    rate: float,
    keepalive: float | None,
    client_idle: float | None,
    drain: float,
    shutdown_at: float,
    retry_refused: bool,
    max_attempts: int,
    seed: int,
) -> tuple[list[tuple[bool, Work, RequestResult]], list[ClientPool], list[Server], SimEnv]:
    env = SimEnv(START, seed)
    root = Component(env, "region")
    server_config = ServerConfig(
        close=close, keepalive_timeout=None if keepalive is None else f"{keepalive} s"
    )
    servers = [Server(root, "server", server_config, service=run_work, index=i) for i in (0, 1)]
    group = TargetGroup(env.rng("region", "lb"), servers)
    client_config = ClientConfig(
        protocol=protocol,
        rtt=f"{rtt_ms} ms",
        response_read=f"{read_ms} ms",
        idle_timeout=None if client_idle is None else f"{client_idle} s",
        retry={"policy": "none", "max_attempts": max_attempts},
        retry_refused=retry_refused,
        max_per_host=3,
    )
    pools = [
        ClientPool(env, client_config, env.rng("region", f"c{i}"), group.resolve, owner=root)
        for i in range(3)
    ]
    results: list[tuple[bool, Work, RequestResult]] = []

    def one(pool: ClientPool, idempotent: bool, work: Work) -> Generator[Any, Any, None]:
        result = yield from pool.request("api", idempotent, work)
        results.append((idempotent, work, result))

    def load(pool: ClientPool, rng: Any) -> Generator[Any, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env.now > 4.0:
                return
            work = Work(rng.expovariate(1e3 / service_ms))
            env.process(one(pool, rng.random() < 0.5, work))

    for i, pool in enumerate(pools):
        env.process(load(pool, env.rng("load", str(i))))
    env.timeout(shutdown_at).callbacks.append(
        lambda _ev: group.deregister(servers[0], strategy, drain)
    )
    env.run(60.0)
    return results, pools, servers, env


CASES = dict(
    protocol=st.sampled_from(["http1", "h2"]),
    strategy=st.sampled_from(STRATEGIES),
    close=st.sampled_from(["staged", "immediate"]),
    rtt_ms=st.floats(0.5, 50.0),
    read_ms=st.floats(0.0, 10.0),
    service_ms=st.floats(1.0, 100.0),
    rate=st.floats(5.0, 150.0),
    keepalive=st.sampled_from([None, 0.2, 1.0, 75.0]),
    client_idle=st.sampled_from([None, 0.3, 60.0]),
    drain=st.floats(0.0, 3.0),
    shutdown_at=st.floats(0.2, 3.0),
    retry_refused=st.booleans(),
    max_attempts=st.integers(1, 4),
    seed=st.integers(0, 10_000),
)


@settings(max_examples=30, deadline=None)
@given(**CASES)
def test_invariants(**case: Any) -> None:
    results, pools, servers, env = simulate(**case)
    issued = sum(p.requests for p in pools)
    assert len(results) == issued > 0
    assert all(p.in_flight == 0 for p in pools)
    assert sum(sum(p.counts.values()) for p in pools) == issued
    for idempotent, work, result in results:
        if not idempotent:
            assert work.runs <= 1, result
            if result.kind == REFUSED:
                assert work.runs == 0, result
        if result.kind in (OK, RETRIED_OK):
            assert work.runs >= 1
        if result.kind == RESET and idempotent:
            assert result.attempts == case["max_attempts"]
        assert 1 <= result.attempts <= case["max_attempts"]
    for server in servers:
        assert server.in_service == 0
        assert server.processed == server.responses + server.aborted
    level = env.recorder.levels[("region", "client_connections")].current
    assert level == sum(len(p.connections("api")) for p in pools)


def test_same_seed_same_run() -> None:
    case = dict(
        protocol="h2",
        strategy="goaway",
        close="immediate",
        rtt_ms=20.0,
        read_ms=2.0,
        service_ms=20.0,
        rate=100.0,
        keepalive=1.0,
        client_idle=0.3,
        drain=1.0,
        shutdown_at=1.5,
        retry_refused=True,
        max_attempts=2,
    )
    a = simulate(**case, seed=3)
    b = simulate(**case, seed=3)
    c = simulate(**case, seed=4)

    def summary(run: Any) -> list[Any]:
        results, pools, servers, _ = run
        return [
            [(i, w.runs, r.kind, r.attempts, r.latency) for i, w, r in results],
            [p.counters() for p in pools],
            [s.counters() for s in servers],
        ]

    assert summary(a) == summary(b)
    assert summary(a) != summary(c)
