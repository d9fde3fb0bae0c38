"""`ClientPool.submit` (callbacks) against `ClientPool.request` (a generator in a process).

The same requests, issued at the same instants, against servers drained with every shutdown
strategy (resets, refusals, GOAWAYs, transparent retries with back-off, requests waiting for a
connection), must come to the same results at the same instants with the same counters. A
process doing `yield from pool.request(...)` is replaced by an urgent `call_in` (its Initialize
event) calling `submit`: the same events, but the process's own end event, which nobody waits on.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from datetime import datetime
from typing import Any

import pytest
from simpy.events import URGENT

from simulation.core import Component, SimEnv
from simulation.primitives.connections import (
    STRATEGIES,
    ClientConfig,
    ClientPool,
    RequestResult,
    Server,
    ServerConfig,
    TargetGroup,
)

START = datetime.fromisoformat("2025-10-19T23:00:00-07:00")


def _serve(_server: Any, seconds: float, _rng: Any) -> float:
    return seconds


def _run(form: str, protocol: str, seed: int) -> tuple[list[Any], dict[str, Any], int]:
    env = SimEnv(START, seed)
    root = Component(env, "region")
    config = ServerConfig(keepalive_timeout="3 s")
    servers = [Server(root, "server", config, service=_serve, index=i) for i in range(3)]
    group = TargetGroup(env.rng("region", "lb"), servers)
    pool = ClientPool(
        env,
        ClientConfig(
            protocol=protocol,
            max_per_host=2,
            max_concurrent_streams=3,
            rtt="4 ms",
            response_read="1 ms",
            idle_timeout="2 s",
            retry={"policy": "exponential", "base": "5 ms", "max_attempts": 4},
        ),
        env.rng("region", "client"),
        group.resolve,
        owner=root,
    )
    rng = random.Random(seed)
    results: list[Any] = []

    def record(i: int, result: RequestResult) -> None:
        results.append((env.now, i, result.kind, result.attempts, result.latency))

    def as_process(i: int, idempotent: bool, seconds: float) -> Generator[Any, Any, None]:
        result = yield from pool.request("api", idempotent, seconds)
        record(i, result)

    def as_callbacks(call: Any) -> None:
        i, idempotent, seconds = call.value
        pool.submit("api", idempotent, seconds, lambda r: record(i, r))

    def issue(call: Any) -> None:
        if form == "process":
            env.process(as_process(*call.value))
        else:
            env.call_in(0.0, as_callbacks, call.value, URGENT)

    t = 0.0
    for i in range(600):
        t += rng.choice([0.0, 0.001, 0.004, rng.expovariate(100.0)])  # ties and bursts
        request = (i, rng.random() < 0.7, rng.choice([0.0, 0.002, rng.expovariate(20.0)]))
        env.call_in(t, issue, request)
    for k in range(int(t / 0.15)):  # servers drained in turn with each strategy, then back
        server, strategy = servers[k % len(servers)], STRATEGIES[k % len(STRATEGIES)]

        def drain(_call: Any, server: Server = server, strategy: str = strategy) -> None:
            group.deregister(server, strategy, 0.02)

        def back(_call: Any, server: Server = server) -> None:
            server.start()
            group.register(server)

        env.call_in(0.1 + 0.15 * k, drain)
        env.call_in(0.4 + 0.15 * k, back)  # at times all three are out: unavailable
    env.run(until=t + 10.0)
    figures = {"pool": pool.counters(), "servers": [s.counters() for s in servers]}
    return results, figures, next(env._eid)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("protocol", ["http1", "h2"])
def test_submit_comes_to_what_request_came_to(protocol: str, seed: int):
    a, fa, events_a = _run("process", protocol, seed)
    b, fb, events_b = _run("callbacks", protocol, seed)
    assert b == a and len(a) == 600
    assert fb == fa
    assert fa["pool"]["retries"] > 0 and fa["pool"]["errors"] > 0
    assert events_a - events_b == len(a)  # the processes' end events, and nothing else
