"""Requests per second (wall) through the connections primitive's hot loop.

    .venv/bin/python benchmarks/bench_connections.py

Each case runs Poisson clients against servers behind a target group for a fixed simulated
time and prints simulated requests per wall-clock second and simpy events per request. Cases:
HTTP/1.1 pools and HTTP/2 multiplexing in steady state; with per-request records (latency
tally) or without; and a rolling drain (one server deregistered every 10 s, double GOAWAY).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from simulation.core import Component, SimEnv
from simulation.core.units import parse_timestamp
from simulation.primitives.connections import (
    ClientConfig,
    ClientPool,
    Server,
    ServerConfig,
    TargetGroup,
)

START = parse_timestamp("2025-10-19T23:00:00-07:00")
CLIENTS, RATE, SIM_TIME = 50, 100.0, 60.0


def case(label: str, protocol: str, record: bool, drain_every: float | None = None) -> None:
    env = SimEnv(START, 1)
    root = Component(env, "region")
    servers = [Server(root, "server", ServerConfig(), index=i) for i in range(4)]
    group = TargetGroup(env.rng("region", "lb"), servers)
    config = ClientConfig(protocol=protocol, rtt="2 ms", response_read="1 ms")
    owner = root if record else None
    pools = [
        ClientPool(env, config, env.rng("region", f"c{i}"), group.resolve, owner)
        for i in range(CLIENTS)
    ]

    def load(pool: ClientPool, rng: Any) -> Generator[Any, Any, None]:
        timeout, process, request = env.timeout, env.process, pool.request
        while True:
            yield timeout(rng.expovariate(RATE))
            process(request("api", rng.random() < 0.7))

    def rolling() -> Generator[Any, Any, None]:
        k = 0
        while True:
            yield env.timeout(drain_every)
            server = servers[k % len(servers)]
            group.deregister(server, "double_goaway", drain=5.0)
            env.timeout(6.0).callbacks.append(lambda _e, s=server: (s.start(), group.register(s)))
            k += 1

    for i, pool in enumerate(pools):
        env.process(load(pool, env.rng("load", str(i))))
    if drain_every is not None:
        env.process(rolling())
    events = 0
    step = env.step

    def counting_step() -> None:
        nonlocal events
        events += 1
        step()

    env.step = counting_step  # type: ignore[method-assign]
    start = time.perf_counter()
    env.run(SIM_TIME)
    wall = time.perf_counter() - start
    requests = sum(p.requests for p in pools)
    print(
        f"{label:<40} {requests / wall:>10,.0f} requests/s  "
        f"({requests:,} requests, {events / requests:.1f} events/request, {wall:.2f} s)"
    )


def main() -> None:
    print(f"{CLIENTS} clients x {RATE:g}/s for {SIM_TIME:g} s simulated, 4 servers")
    case("http1, no records", "http1", record=False)
    case("http1, latency tally + connection level", "http1", record=True)
    case("h2, no records", "h2", record=False)
    case("h2, latency tally + connection level", "h2", record=True)
    case("h2, rolling double-GOAWAY drains", "h2", record=True, drain_every=10.0)


if __name__ == "__main__":
    main()
