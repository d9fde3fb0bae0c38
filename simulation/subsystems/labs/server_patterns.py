"""Lab: the five thread-and-socket server patterns side by side, under exactly the same load.

Each chosen pattern is built as its own server (`region.server_patterns.<pattern>`) with the
same threads, costs, queue policies and listening-socket settings, and driven by its own client
population. The client populations draw their arrivals (times, requests per connection, flow
hashes) from equal RNG streams, so every pattern sees the same connections at the same instants;
only what the pattern does with them differs. Operator actions (`stall_worker`, and for
reuseport `close_listener` / `open_listener`) target one pattern by scope, or all at once.

Each pattern reports throughput, latency quantiles, waits, accept-queue drops and per-worker
utilisation over the window after `warmup` (see `servers.patterns.Server.statistics`); the lab
itself reports the offered load.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from simulation.core.component import Component
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.core.rng import stream
from simulation.core.units import Duration
from simulation.core.views import Plot, Series
from simulation.primitives.load import LoadProfile, LoadStep, LoadSteps
from simulation.primitives.servers import (
    PATTERN_NAMES,
    ConnectionConfig,
    PatternName,
    Server,
    ServerConfig,
    build_server,
)


class Config(SectionConfig):
    """Server patterns side by side: the five thread layouts under the same connection load."""

    patterns: tuple[PatternName, ...] = Field(
        PATTERN_NAMES,
        description="Patterns to build, each as its own server: event_loop, connection_workers, "
        "request_dispatch, shared_accept, reuseport.",
    )
    load: LoadSteps = Field(
        (LoadStep(at="0 s", rate="16/s"),),
        description="New connections per second over time (Poisson), as steps "
        "[{at: '0 s', rate: '16/s'}, ...].",
    )
    connections: ConnectionConfig = Field(
        default_factory=lambda: ConnectionConfig(
            requests=10, requests_distribution="geometric", think_time="50 ms"
        ),
        description="What each connection does: requests, think time, SYN retries (default "
        "here: 10 requests, geometric, 50 ms think time).",
    )
    server: ServerConfig = Field(
        default_factory=lambda: ServerConfig(service={"mean": "5 ms"}),
        description="Threads, costs, request queue and listener, the same for every pattern "
        "(default here: service mean 5 ms, exponential).",
    )
    warmup: Duration = Field(
        "1 min", description="Statistics cover the run after this (the start-up is left out)."
    )
    record_requests: bool = Field(
        False,
        description="Write one timeline event per request (conn, worker, latency, outcome); "
        "latencies are always kept as tallies.",
    )

    @field_validator("patterns")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("choose at least one pattern")
        dupes = sorted({p for p in value if value.count(p) > 1})
        if dupes:
            raise ValueError(f"each pattern can appear once; repeated: {', '.join(dupes)}")
        return value


class ServerPatternsLab(Component):
    """The lab's root: one server per pattern, all under the same arrivals."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "server_patterns")
        self.config = config
        self.profile = LoadProfile(config.load)
        self.servers: dict[str, Server] = {}
        for pattern in config.patterns:
            server = build_server(self, pattern, config.server, warmup=config.warmup)
            server.add_clients(
                self.profile,
                config.connections,
                # A fresh stream with the same seed per pattern: identical arrivals for all.
                stream(self.env.seed, self.scope, "arrivals"),
                record_requests=config.record_requests,
            )
            self.servers[pattern] = server

    def plots(self) -> list[Plot]:
        return [
            Plot(
                key="server-patterns-accept-queue",
                title="Accept queue per server pattern",
                series=tuple(
                    Series(s.scope, "accept_queue", name) for name, s in self.servers.items()
                ),
                ylabel="connections waiting to be accepted",
                caption="The same arrivals for every pattern (reuseport keeps one queue per "
                "socket and is not drawn here).",
                order=20,
            )
        ]

    def statistics(self, results: Results) -> dict[str, Any]:
        c = self.config
        t0, t1 = min(c.warmup, results.end), results.end
        span = t1 - t0
        if span <= 0.0:
            return {}
        conn_rate = self.profile.expected(t0, t1) / span
        req_rate = conn_rate * c.connections.requests
        service = c.server.service.mean + c.server.read_cost
        stats: dict[str, Any] = {
            "offered_connections_per_s": round(conn_rate, 3),
            "offered_requests_per_s": round(req_rate, 3),
            "offered_utilisation": round(req_rate * service / c.server.workers, 4),
            "patterns": list(c.patterns),
        }
        p99 = {name: s.statistics(results).get("latency_p99") for name, s in self.servers.items()}
        ranked = sorted((v, k) for k, v in p99.items() if v is not None and not math.isnan(v))
        if ranked:
            stats["lowest_p99"] = ranked[0][1]
            stats["highest_p99"] = ranked[-1][1]
        return stats


def build(parent: Component, config: Config) -> ServerPatternsLab:
    """Build the lab under `parent` (the scenario root) and start its processes."""
    return ServerPatternsLab(parent, config)
