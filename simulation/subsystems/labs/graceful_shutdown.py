"""Graceful-shutdown lab: how a server leaves a fleet decides what its clients see.

A fleet of servers sits behind a target group; clients send requests over pooled keep-alive
connections. Servers are taken out of service in turn (a rolling deployment): each is
deregistered (no new connections), drained for `drain` by one shutdown strategy, closed, and
restarted. One sub-component per variant runs the same seed-derived load (arrival times,
idempotency and work of every request are identical), so variants differ only by how servers
leave:

- `abrupt`: nothing is said; connections still open at the end of the drain are cut (requests
  in processing and on the wire are lost);
- `connection_close` (HTTP/1.1): later responses carry `Connection: close`;
- `goaway` (HTTP/2): one GOAWAY with the last stream id received: streams on the wire are refused
  and retried on a new connection;
- `double_goaway`: GOAWAY(2^31-1), one round trip, then the real last id: nothing is refused.
A variant also chooses the close: staged (linger) or immediate (late data draws an RST that can
destroy a response the client is reading).

Client-visible errors are resets of non-idempotent requests (they may have run, so they are not
retried), refusals and failures past the retry limit; transparent retries are counted apart.
The headline figure is `errors_abrupt_over_goaway`.

The idle-timeout race runs beside it: callers (closed loop: request, wait, think) behind
servers whose keep-alive timeout is shorter or longer than the callers' idle timeout; a lost race
is a reset (a 502 from a proxy, which does not retry). Expected resets from the closed form
(`connections.theory.idle_race_probability`) are printed next to the measured ones.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field, field_validator, model_validator
from simpy.events import URGENT

from simulation.core.component import Action, Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.core.rng import stream
from simulation.core.units import Duration
from simulation.core.views import Plot, Series
from simulation.primitives.connections import (
    OK,
    RETRIED_OK,
    ClientConfig,
    ClientPool,
    CloseMode,
    Protocol,
    Server,
    ServerConfig,
    ShutdownStrategy,
    TargetGroup,
)
from simulation.primitives.connections.theory import idle_race_probability, idle_race_safe
from simulation.primitives.load import LoadProfile, LoadSteps, PoissonArrivals, steps
from simulation.primitives.resilience.retry import RetryConfig
from simulation.primitives.servers.service import ServiceTimeConfig

HOST = "service"


class Variant(SectionConfig):
    """One way of taking a server out of service."""

    name: str = Field(description="Label of the variant in statistics (`<name>_errors` ...).")
    strategy: ShutdownStrategy = Field(
        description="abrupt, connection_close, goaway or double_goaway (see the lab docs)."
    )
    protocol: Protocol = Field("h2", description="Clients' protocol: http1 or h2.")
    close: CloseMode = Field(
        "staged",
        description="How the server closes connections: staged (linger) or immediate. `abrupt` "
        "always closes immediately at the end of the drain.",
    )


class RacePair(SectionConfig):
    """A caller and the server it calls, each with its idle timeout."""

    name: str = Field(description="Label in statistics (`race_<name>_resets` ...).")
    caller_idle_timeout: Duration | None = Field(
        "60 s", description="The caller closes connections idle this long (ALB 60 s, NLB 350 s)."
    )
    server_keepalive: Duration | None = Field(
        "5 s", description="The server closes connections idle this long (Node.js 5 s, nginx 75 s)."
    )


def _default_variants() -> list[Variant]:
    return [
        Variant(name="abrupt", strategy="abrupt", protocol="h2", close="immediate"),
        Variant(name="connection_close", strategy="connection_close", protocol="http1"),
        Variant(name="goaway", strategy="goaway", protocol="h2"),
        Variant(name="double_goaway", strategy="double_goaway", protocol="h2"),
        Variant(name="goaway_immediate_close", strategy="goaway", protocol="h2", close="immediate"),
    ]


def _default_races() -> list[RacePair]:
    return [
        RacePair(name="nodejs_behind_alb", caller_idle_timeout="60 s", server_keepalive="5 s"),
        RacePair(name="nginx_behind_alb", caller_idle_timeout="60 s", server_keepalive="75 s"),
    ]


def _default_client() -> ClientConfig:
    return ClientConfig(rtt="10 ms", response_read="1 ms", idle_timeout="60 s")


def _default_server() -> ServerConfig:
    return ServerConfig(keepalive_timeout="75 s", linger="5 s")


class Config(SectionConfig):
    """The graceful-shutdown lab: shutdown strategies side by side, and the idle-timeout race."""

    clients: int = Field(20, ge=1, description="Clients, each with its own connection pool.")
    load: LoadSteps = Field(
        default_factory=lambda: steps(("0 s", "10/s")),
        description="Request rate of each client (Poisson), as load steps.",
    )
    idempotent_share: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Share of requests that are idempotent (GET, PUT, DELETE); the rest (POST) "
        "are never retried after a reset.",
    )
    work: ServiceTimeConfig = Field(
        default_factory=lambda: ServiceTimeConfig(mean="50 ms"),
        description="Processing time of one request, drawn with the load (the same in every "
        "variant).",
    )
    servers: int = Field(4, ge=2, description="Servers behind the target group.")
    client: ClientConfig = Field(
        default_factory=_default_client,
        description="Clients' pools (the variant sets `protocol`).",
    )
    server: ServerConfig = Field(
        default_factory=_default_server,
        description="Servers' connection handling (the variant sets `close`; `service` is "
        "replaced by `work`).",
    )
    first_deregistration: Duration = Field(
        "20 s", description="When the first server is taken out of service."
    )
    every: Duration | None = Field(
        "30 s",
        description="Interval between deregistrations (servers in turn, a rolling deployment); "
        "null = only the first one (more with the `deregister` action).",
    )
    drain: Duration = Field(
        "15 s",
        description="Drain of a deregistered server before its remaining connections are closed "
        "(ELB's default is 300 s; shorter here so that one run holds many deregistrations).",
    )
    restart_after: Duration = Field(
        "5 s", description="Time from the end of a drain until the server is back in service."
    )
    variants: list[Variant] = Field(
        default_factory=_default_variants,
        min_length=1,
        description="Shutdown variants to compare, each on its own fleet with the same load.",
    )
    races: list[RacePair] = Field(
        default_factory=_default_races,
        description="Idle-timeout race configurations, each a caller fleet and one server.",
    )
    race_callers: int = Field(200, ge=0, description="Callers per race configuration.")
    race_think_time: Duration = Field(
        "5 s",
        gt=0.0,
        description="Mean (exponential) time a caller waits between a response and its next "
        "request.",
    )
    race_rtt: Duration = Field(
        "10 ms", description="Round trip between a caller and the server (the race window)."
    )

    @field_validator("variants", "races")
    @classmethod
    def _unique_names(cls, value: list[Any]) -> list[Any]:
        names = [v.name for v in value]
        twice = [n for i, n in enumerate(names) if n in names[:i]]
        if twice:
            raise ValueError(f"name listed twice: {twice[0]}")
        return value

    @model_validator(mode="after")
    def _drains_do_not_overlap(self) -> Config:
        if self.every is not None and self.drain + self.restart_after >= self.every:
            raise ValueError(
                f"drain ({self.drain:g} s) plus restart_after ({self.restart_after:g} s) must be "
                f"shorter than every ({self.every:g} s), or servers leave faster than they return"
            )
        return self


def _payload_work(_server: Any, work: float, _rng: Any) -> float:
    """Service time of a request: the work drawn with the load."""
    return work


class DeregisterParams(SectionConfig):
    """Parameters of the `deregister` action."""

    server: int = Field(0, ge=0, description="Index of the server to take out of service.")


class StrategyRun(Component):
    """One variant: a fleet of servers, client pools, the shared load, the rolling schedule."""

    def __init__(self, lab: GracefulShutdownLab, variant: Variant) -> None:
        super().__init__(lab, "strategy", variant.name)
        config = lab.config
        self.variant = variant
        self.config = config
        server_config = config.server.model_copy(update={"close": variant.close})
        self.servers = [
            Server(self, "server", server_config, service=_payload_work, index=i)
            for i in range(config.servers)
        ]
        self.group = TargetGroup(self.env.rng(self.scope, "target_group"), self.servers)
        client_config = config.client.model_copy(update={"protocol": variant.protocol})
        self.pools = [
            ClientPool(
                self.env,
                client_config,
                self.env.rng(self.scope, f"client{i}"),
                self.group.resolve,
                owner=self,
                latency="retried",
            )
            for i in range(config.clients)
        ]
        self.deregistrations = 0
        profile = LoadProfile(config.load)
        draw = config.work.build()
        for i, pool in enumerate(self.pools):
            rng = stream(self.env.seed, f"{lab.scope}.load", f"client{i}")
            PoissonArrivals(self.env, profile, rng, self._emitter(pool, rng, draw))
        self.env.process(self._rolling())

    def _emitter(self, pool: ClientPool, rng: Any, draw: Any) -> Any:
        call_in, share, submit = self.env.call_in, self.config.idempotent_share, pool.submit

        def start(call: Any) -> None:
            submit(HOST, *call.value)

        def emit() -> None:
            idempotent = rng.random() < share
            # the request starts where a process doing it would have (its Initialize event)
            call_in(0.0, start, (idempotent, draw(None, None, rng)), URGENT)

        return emit

    def _rolling(self) -> Generator[simpy.Event, Any, None]:
        config = self.config
        yield self.env.timeout(config.first_deregistration)
        k = 0
        while True:
            self.deregister(k % len(self.servers))
            k += 1
            if config.every is None:
                return
            yield self.env.timeout(config.every)

    def deregister(self, index: int) -> None:
        """Take server `index` out of service with this variant's strategy; restart it later."""
        server = self.servers[index]
        if server.strategy is not None:
            return  # already draining
        config = self.config
        self.deregistrations += 1
        self.group.deregister(server, self.variant.strategy, config.drain)

        def back(_ev: simpy.Event) -> None:
            server.start()
            self.group.register(server)

        self.env.timeout(config.drain + config.restart_after).callbacks.append(back)

    def figures(self, results: Results) -> dict[str, Any]:
        """Counters summed over the fleet's pools and servers; latency of retried requests.

        Reported by the lab (sub-components report nothing themselves, so that the summary
        holds one block per lab)."""
        total: dict[str, int] = {}
        for pool in self.pools:
            for key, value in pool.counters().items():
                total[key] = total.get(key, 0) + value
        server_totals: dict[str, int] = {}
        for server in self.servers:
            for key, value in server.counters().items():
                server_totals[key] = server_totals.get(key, 0) + value
        settled = total["requests"] - sum(p.in_flight for p in self.pools)
        errors = total["errors"]
        figures: dict[str, Any] = {
            "requests": settled,
            "ok": total[OK],
            "retried_ok": total[RETRIED_OK],
            "errors": errors,
            "errors_per_10k": round(1e4 * errors / settled, 3) if settled else None,
            "resets": total["reset"],
            "refused": total["refused"],
            "unavailable": total["unavailable"],
            "error_responses": total["error_response"],
            "failed_non_idempotent": total["failed_non_idempotent"],
            "transparent_retries": total["retries"],
            "streams_refused_by_goaway": total["attempt_refused"],
            "attempt_resets": total["attempt_resets"],
            "responses_erased_by_rst": total["responses_erased"],
            "connections_opened": total["connections_opened"],
            "work_aborted": server_totals["aborted"],
            "rst_sent": server_totals["rst_sent"],
            "connections_cut_at_drain_end": server_totals["forced_closes"],
            "deregistrations": self.deregistrations,
        }
        retried = results.tally(self.scope, "retried_latency")
        if retried is not None and retried.count:
            figures["retried_latency_p50_s"] = round(retried.quantile(0.5), 5)
            figures["retried_latency_max_s"] = round(max(retried.values), 5)
        return figures


class RaceRun(Component):
    """Callers behind one server: the idle-timeout race for one pair of timeouts."""

    def __init__(self, lab: GracefulShutdownLab, pair: RacePair) -> None:
        super().__init__(lab, "idle_race", pair.name)
        config = lab.config
        self.pair = pair
        self.config = config
        server_config = config.server.model_copy(
            update={"keepalive_timeout": pair.server_keepalive}
        )
        self.server = Server(self, "server", server_config, service=_payload_work)
        client_config = config.client.model_copy(
            update={
                "protocol": "http1",
                "rtt": config.race_rtt,
                "idle_timeout": pair.caller_idle_timeout,
                "retry": RetryConfig(policy="none", max_attempts=1),
            }
        )
        self.requests = 0
        self.after_answer = 0
        """Requests sent after an answered request (on a kept-alive connection): each can race."""
        self.pools: list[ClientPool] = []
        draw = config.work.build()
        for i in range(config.race_callers):
            pool = ClientPool(
                self.env, client_config, self.env.rng(self.scope, f"caller{i}"), self._resolve, self
            )
            self.pools.append(pool)
            rng = stream(self.env.seed, f"{lab.scope}.race", f"caller{i}")
            self.env.process(self._caller(pool, rng, draw))

    def _resolve(self, _host: str) -> Server:
        return self.server

    def _caller(self, pool: ClientPool, rng: Any, draw: Any) -> Generator[simpy.Event, Any, None]:
        env = self.env
        rate = 1.0 / self.config.race_think_time
        answered = False
        while True:
            yield env.timeout(rng.expovariate(rate))
            self.requests += 1
            if answered:
                self.after_answer += 1
            result = yield from pool.request(HOST, True, draw(None, None, rng))
            answered = result.ok

    def figures(self) -> dict[str, Any]:
        pair, config = self.pair, self.config
        resets = sum(p.counts["reset"] for p in self.pools)
        p = idle_race_probability(
            1.0 / config.race_think_time,
            pair.server_keepalive,
            pair.caller_idle_timeout,
            config.race_rtt,
            config.client.response_read,
        )
        return {
            "requests": self.requests,
            "resets": resets,
            "resets_per_10k": round(1e4 * resets / self.requests, 3) if self.requests else None,
            "expected_resets": round(p * self.after_answer, 2),
            "server_idle_closes": self.server.idle_closes,
            "rule_ok": int(idle_race_safe(pair.caller_idle_timeout, pair.server_keepalive)),
        }


class GracefulShutdownLab(Component):
    """The lab's root: one `StrategyRun` per variant and one `RaceRun` per race pair."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "graceful_shutdown")
        self.config = config
        self.runs = [StrategyRun(self, v) for v in config.variants]
        self.races = [RaceRun(self, pair) for pair in config.races]

    def actions(self) -> list[Action]:
        def run(params: DeregisterParams) -> None:
            if params.server >= self.config.servers:
                raise ValueError(
                    f"no server {params.server}: the fleet has {self.config.servers} (0 to "
                    f"{self.config.servers - 1})"
                )
            for r in self.runs:
                r.deregister(params.server)

        return [
            Action(
                "deregister",
                run,
                DeregisterParams,
                "Take one server out of service in every variant (each drains by its strategy).",
            )
        ]

    def plots(self) -> list[Plot]:
        return [
            Plot(
                key="graceful-shutdown-connections",
                title="Client connections per shutdown strategy",
                series=tuple(
                    Series(r.scope, "client_connections", r.scope.rsplit(".", 1)[1])
                    for r in self.runs
                ),
                ylabel="open connections",
                caption="How each strategy moves clients off the deregistered server.",
                order=20,
            )
        ]

    def detectors(self) -> dict[str, Detector]:
        """`graceful_shutdown_<variant>_first_error`: the first client-visible error."""

        def first_error(run: StrategyRun) -> Detector:
            def detect(results: Results) -> float | None:
                tally = results.tally(run.scope, "client_errors")
                if tally is None or not tally.count or tally.times[0] > results.end:
                    return None
                return tally.times[0]

            return detect

        return {
            f"graceful_shutdown_{r.variant.name}_first_error": first_error(r) for r in self.runs
        }

    def statistics(self, results: Results) -> dict[str, Any]:
        """Per variant `<name>_<figure>`, per race `race_<name>_<figure>`, and the headline.

        `errors_abrupt_over_<strategy>`: client-visible errors of the abrupt variant divided by
        those of the (staged) `<strategy>` variant, the denominator floored at 1 so that a
        strategy with no error at all still gives a finite figure (then a lower bound).
        `errors_avoided_by_<strategy>`: the share of the abrupt variant's errors it avoids.
        """
        stats: dict[str, Any] = {}
        per = [(r.variant, r.figures(results)) for r in self.runs]
        for variant, figures in per:
            for key, value in figures.items():
                stats[f"{variant.name}_{key}"] = value
        for race in self.races:
            for key, value in race.figures().items():
                stats[f"race_{race.pair.name}_{key}"] = value
        abrupt = _errors_of(per, "abrupt")
        for strategy in ("goaway", "double_goaway"):
            other = _errors_of(per, strategy)
            if abrupt is None or other is None:
                stats[f"errors_abrupt_over_{strategy}"] = None
                stats[f"errors_avoided_by_{strategy}"] = None
                continue
            stats[f"errors_abrupt_over_{strategy}"] = round(abrupt / max(other, 1), 2)
            stats[f"errors_avoided_by_{strategy}"] = (
                round(1.0 - other / abrupt, 4) if abrupt else None
            )
        return stats


def _errors_of(per: list[tuple[Variant, dict[str, Any]]], strategy: str) -> int | None:
    """Client-visible errors of the first variant using `strategy`, staged closes first."""
    matches = [(v.close != "staged", i, f["errors"]) for i, (v, f) in enumerate(per)]
    chosen = sorted(m for m, (v, _) in zip(matches, per, strict=True) if v.strategy == strategy)
    return chosen[0][2] if chosen else None


def build(parent: Component, config: Config) -> GracefulShutdownLab:
    """Build the lab under `parent` and start its processes."""
    return GracefulShutdownLab(parent, config)


__all__ = ["Config", "GracefulShutdownLab", "RacePair", "Variant", "build"]
