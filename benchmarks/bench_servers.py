"""Benchmark: the server patterns' hot loop beside raw simpy timeouts, in the same run.

Prints, per pattern and for a bare worker pool: simulated requests per wall second, simpy events
per wall second, wall microseconds per event and per request, and the ratio of the cost per
event to raw simpy's (a loop of processes doing nothing but exponential timeouts). The aim is a
ratio of at most 2. Each figure is the best of `--repeat` runs (the machine is shared).

    .venv/bin/python benchmarks/bench_servers.py [--requests 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import simpy

from simulation.core import Component, SimEnv
from simulation.core.rng import stream
from simulation.primitives.load import LoadProfile, PoissonArrivals, steps
from simulation.primitives.servers import (
    PATTERN_NAMES,
    ConnectionConfig,
    ServerConfig,
    WorkerPool,
    build_server,
)

START = datetime(2025, 10, 20, 6, 0, tzinfo=UTC)
WORKERS = 4
MEAN = 0.01  # s of service per request
UTILISATION = 0.8


def events_scheduled(env: simpy.Environment) -> int:
    """Events scheduled so far (simpy numbers every scheduled event with a counter)."""
    return next(env._eid) - 1  # simpy keeps no public count


def raw_simpy(n_events: int) -> tuple[float, int]:
    """Wall seconds and events for processes that only yield exponential timeouts."""
    env = simpy.Environment()
    rng = random.Random(1)
    procs = 16

    def loop() -> object:
        timeout, draw = env.timeout, rng.expovariate
        while True:
            yield timeout(draw(1.0))

    for _ in range(procs):
        env.process(loop())
    t = time.perf_counter()
    env.run(n_events / procs)
    return time.perf_counter() - t, events_scheduled(env)


def pattern_run(pattern: str, n_requests: int) -> tuple[float, int, int]:
    """Wall seconds, events and requests for one pattern at 80% utilisation, default costs."""
    env = SimEnv(START, seed=1)
    root = Component(env, "region")
    workers = 1 if pattern == "event_loop" else WORKERS
    rate = UTILISATION * workers / MEAN
    config = ServerConfig(workers=WORKERS, service={"mean": f"{MEAN} s"})
    server = build_server(root, pattern, config)  # type: ignore[arg-type]
    clients = server.add_clients(
        LoadProfile(steps(("0 s", f"{rate}/s"))),
        ConnectionConfig(),
        stream(1, "bench", "load"),
    )
    t = time.perf_counter()
    env.run(n_requests / rate)
    return time.perf_counter() - t, events_scheduled(env), clients.sent


def pool_run(n_requests: int) -> tuple[float, int, int]:
    """A bare WorkerPool fed by a Poisson source (no sockets, no connections)."""
    env = SimEnv(START, seed=1)
    root = Component(env, "region")
    rate = UTILISATION * WORKERS / MEAN
    rng = random.Random(2)
    pool = WorkerPool(
        root, "pool", WORKERS, lambda _s, _p, r: r.expovariate(1.0 / MEAN), wakeup_cost=5e-6
    )
    PoissonArrivals(env, LoadProfile(steps(("0 s", f"{rate}/s"))), rng, lambda: pool.submit(0))
    t = time.perf_counter()
    env.run(n_requests / rate)
    return time.perf_counter() - t, events_scheduled(env), pool.queue.arrivals


def best(fn: Callable[[], tuple], repeat: int) -> tuple:
    return min((fn() for _ in range(repeat)), key=lambda r: r[0] / max(r[1], 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    raw_wall, raw_events = best(lambda: raw_simpy(4 * args.requests), args.repeat)
    raw_us = raw_wall / raw_events * 1e6
    print(f"raw simpy timeouts: {raw_events / raw_wall:,.0f} events/s ({raw_us:.2f} us/event)")
    print(
        f"{'run':<20}{'requests/s':>12}{'events/s':>12}{'us/event':>10}{'us/request':>12}"
        f"{'events/req':>12}{'x raw':>8}"
    )
    runs: list[tuple[str, Callable[[], tuple]]] = [("worker_pool", lambda: pool_run(args.requests))]
    runs += [(p, lambda p=p: pattern_run(p, args.requests)) for p in PATTERN_NAMES]
    for name, fn in runs:
        wall, events, requests = best(fn, args.repeat)
        us_event = wall / events * 1e6
        print(
            f"{name:<20}{requests / wall:>12,.0f}{events / wall:>12,.0f}{us_event:>10.2f}"
            f"{wall / requests * 1e6:>12.2f}{events / requests:>12.2f}{us_event / raw_us:>8.2f}"
        )
    raw_wall2, raw_events2 = best(lambda: raw_simpy(4 * args.requests), args.repeat)
    print(f"raw simpy again:    {raw_events2 / raw_wall2:,.0f} events/s (drift check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
