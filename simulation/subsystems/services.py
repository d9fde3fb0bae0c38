"""Services and their dependencies: a directed graph (networkx) whose edges carry a mechanism.

Each service's error rate follows from its dependencies' state *through the mechanism of the
edge* and the service's own retries:

- `name_resolution` on `dynamodb`: the service resolves the DynamoDB regional endpoint through its
  own population of caching stub resolvers (the DNS primitive); its error share is the fraction of
  its clients whose cached answer has no addresses. Retries do not help while a negative answer
  is cached - the cache answers them - so none are applied.
- `launches` on `ec2`: the share of the service's work that needs new capacity fails with the
  EC2 launch failure rate (the EC2 component's `launch_error_rate()`).
- `connections` on `nlb:NAME`: requests through that NLB fail with its connection error rate
  (the NLB component's `connection_error_rate(NAME)`), independently per attempt, so `attempts`
  attempts leave `p ** attempts`.
- `calls` on another service: the callee's error rate, again reduced by the caller's attempts.

Hard dependencies multiply success probabilities (all must work); a soft one contributes
`weight` x its error share (a degraded feature, not a failed request). A service with a
`backlog` keeps `retained` of the work that failed (tasks that keep their desired count, queued
events) and, once it works again, drains it at `headroom` x its normal pace: it stays degraded after
its dependencies recover until the backlog is done, for a time that grows with how long and how
badly it failed (a queue, not a timer). The state is sampled every
`evaluate_every`: `error_rate` (0..1) and `health` (0 ok, 1 degraded, 2 down) levels per service.
Milestones over groups of services (`first error of any of ...`, `all recovered`) are declared by
name in the YAML and detected from those levels; nothing here knows the incident's times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulation.core import Action, Component, Duration, Results, ScenarioError, SectionConfig
from simulation.core.views import Plot, Series
from simulation.primitives.dns.population import ResolverPopulation

Mechanism = Literal["name_resolution", "launches", "connections", "calls"]
HEALTH_OK, HEALTH_DEGRADED, HEALTH_DOWN = 0, 1, 2


class Dependency(SectionConfig):
    """One edge: this service needs `on` through `via`."""

    on: str = Field(
        description="What is needed: `dynamodb` (the DNS subsystem's regional endpoint), `ec2` "
        "(launches), `nlb:NAME` (an NLB's connections) or another service's name."
    )
    via: Mechanism = Field(description="The mechanism through which the dependency acts.")
    hard: bool = Field(True, description="Hard: requests fail with it; soft: they degrade.")
    weight: float = Field(
        0.2, ge=0, le=1, description="Soft dependencies: share of the error that shows."
    )
    share: float = Field(
        1.0, ge=0, le=1, description="Share of the service's requests that use this dependency."
    )
    clients: int = Field(
        50, ge=1, description="name_resolution: stub resolvers of this service (its fleet)."
    )
    request_rate: float | None = Field(
        None,
        gt=0,
        description="name_resolution: requests per second per client needing the name "
        "(null: busy clients that ask again as soon as a cached answer expires).",
    )
    cycle_ok: bool = Field(False, description="Declare that this edge may close a cycle.")


class Backlog(SectionConfig):
    """Work a service keeps while it fails (queued tasks, async events) and drains afterwards."""

    retained: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of the work that failed which is kept and done later (tasks that "
        "keep their desired count, queued events); the rest is lost.",
    )
    headroom: float = Field(
        1.0,
        gt=0,
        description="Spare capacity for the backlog, as a multiple of the service's normal "
        "work: once the service is healthy again (its errors at or under `degraded_above`), "
        "the backlog drains at headroom x its normal pace (it needs what failed, so it does "
        "not drain before).",
    )
    drained_below: Duration = Field(
        "1 min",
        ge=0,
        description="The service counts as degraded while its backlog holds more than this "
        "much of its normal work.",
    )


class Service(SectionConfig):
    """A service of the region and what it depends on."""

    name: str = Field(description="Identifier (`sts`, `lambda` ...), used by edges and milestones.")
    title: str = Field("", description="Human name for reports (default: the name).")
    attempts: int = Field(
        1, ge=1, description="Attempts per request (retries + 1) against independent failures."
    )
    depends_on: list[Dependency] = Field(default_factory=list, description="Its dependencies.")
    backlog: Backlog | None = Field(
        None,
        description="Work kept while failing and drained after (null: failed work is lost and "
        "the service is healthy as soon as its dependencies are).",
    )


class GroupMilestone(SectionConfig):
    """A milestone over a group of services, detected from their health levels."""

    name: str = Field(description="Milestone name, e.g. `lambda_sts_iam_errors_start`.")
    first_errors_of: list[str] | None = Field(
        None, description="The first time any of these services is unhealthy."
    )
    all_recovered: list[str] | Literal["all"] | None = Field(
        None,
        description="The time from which every listed service (or `all`) is healthy to the "
        "end of the run, after at least one was not.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> GroupMilestone:
        if (self.first_errors_of is None) == (self.all_recovered is None):
            raise ValueError(
                "a milestone needs exactly one of 'first_errors_of' or 'all_recovered'"
            )
        return self


class Config(SectionConfig):
    """Services and their dependency graph; their health follows their dependencies."""

    evaluate_every: Duration = Field("30 s", description="How often service health is sampled.")
    degraded_above: float = Field(
        0.01, ge=0, le=1, description="A service is unhealthy when its error rate is above this."
    )
    down_above: float = Field(0.5, ge=0, le=1, description="... and down above this.")
    services: list[Service] = Field(default_factory=list, description="The services.")
    milestones: list[GroupMilestone] = Field(
        default_factory=list, description="Milestones over groups of services."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        names = [s.name for s in self.services]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"service {dup[0]!r} is defined twice")
        known = set(names)
        for s in self.services:
            for d in s.depends_on:
                external = d.on in ("dynamodb", "ec2") or d.on.startswith("nlb:")
                if not external and d.on not in known:
                    raise ValueError(f"service {s.name!r} depends on unknown {d.on!r}")
                if d.via == "calls" and external:
                    raise ValueError(f"{s.name!r} -> {d.on!r}: 'calls' is for another service")
                if d.via != "calls" and not external:
                    raise ValueError(f"{s.name!r} -> {d.on!r}: a service is reached via 'calls'")
        for m in self.milestones:
            group = m.first_errors_of or ([] if m.all_recovered == "all" else m.all_recovered)
            unknown = [g for g in group or [] if g not in known]
            if unknown:
                raise ValueError(f"milestone {m.name!r} names unknown service {unknown[0]!r}")
        cycles = list(nx.simple_cycles(dependency_graph(self, declared_ok=False)))
        if cycles:
            # report the same cycle every time, starting at its first service in file order
            first = min(cycles, key=lambda c: sorted(names.index(n) for n in c))
            i = min(range(len(first)), key=lambda k: names.index(first[k]))
            cycle = first[i:] + first[:i]
            loop = " -> ".join([*cycle, cycle[0]])
            raise ValueError(f"dependency cycle {loop}; declare an edge with cycle_ok: true")
        return self


def dependency_graph(config: Config, declared_ok: bool = True) -> nx.DiGraph:
    """Edges service -> what it needs, with `via`, `hard` attributes (declared-ok cycles kept
    only with `declared_ok`)."""
    g = nx.DiGraph()
    for s in config.services:
        g.add_node(s.name, kind="service")
        for d in s.depends_on:
            if d.cycle_ok and not declared_ok:
                continue
            g.add_node(d.on, kind="service" if d.via == "calls" else "provider")
            g.add_edge(s.name, d.on, via=d.via, hard=d.hard)
    return g


class PinParams(BaseModel):
    """Parameters of `pin_endpoint`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    services: list[str] = Field(description="Services whose name resolution is bypassed.")
    pinned: bool = Field(True, description="false removes the pin (DNS again).")


class ServiceNode(Component):
    """One service: its error rate and health levels, and its resolver population if needed."""

    def __init__(self, parent: Services, cfg: Service) -> None:
        super().__init__(parent, cfg.name)
        self.cfg = cfg
        self.error_rate = self.level("error_rate", "fraction", initial=0.0)
        self.health = self.level("health", "state", initial=HEALTH_OK)
        self.inputs: list[tuple[Dependency, Callable[[], float]]] = []
        self.pinned = False
        """With a pin, name resolution is bypassed (known addresses configured by hand)."""
        self._last_rate = 0.0
        self.backlog_s = 0.0
        """Kept work, in seconds of the service's normal work."""
        self.backlog = (
            self.level("backlog", "s of work", initial=0.0) if cfg.backlog is not None else None
        )

    def evaluate(
        self, now_rates: dict[str, float], ok_max: float, down_min: float, dt: float = 0.0
    ) -> float:
        success, soft = 1.0, 0.0
        for dep, signal in self.inputs:
            if dep.via == "calls":
                p = now_rates.get(dep.on, 0.0)
            elif dep.via == "name_resolution" and self.pinned:
                p = 0.0
            else:
                p = signal()
            if dep.via in ("connections", "calls"):
                p = p**self.cfg.attempts
            p *= dep.share
            if dep.hard:
                success *= 1.0 - p
            else:
                soft += dep.weight * p
        rate = min(1.0, 1.0 - success + soft)
        self.error_rate.set(round(rate, 6))
        state = HEALTH_DOWN if rate > down_min else HEALTH_DEGRADED if rate > ok_max else HEALTH_OK
        b = self.cfg.backlog
        if b is not None and self.backlog is not None:
            # over the interval just ended (at the rate then in force): failed work is kept;
            # the backlog needs what failed, so it drains (at `headroom` times the normal
            # pace) only in intervals in which the service worked
            prev = self._last_rate
            kept = b.retained * prev * dt
            drained = b.headroom * dt if prev <= ok_max else 0.0
            self.backlog_s = max(0.0, self.backlog_s + kept - drained)
            self.backlog.set(round(self.backlog_s, 3))
            if state == HEALTH_OK and self.backlog_s > b.drained_below:
                state = HEALTH_DEGRADED
        self.health.set(state)
        self._last_rate = rate
        return rate


class Services(Component):
    """The services of the region (see module docstring)."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "services")
        self.config = config
        self.graph = dependency_graph(config)
        self.nodes = {s.name: ServiceNode(self, s) for s in config.services}
        root = parent
        for node in self.nodes.values():
            for dep in node.cfg.depends_on:
                node.inputs.append((dep, self._signal(root, node, dep)))
        # evaluate callees before callers so `calls` sees this round's values
        order = list(reversed(list(nx.topological_sort(dependency_graph(config, False)))))
        self.order = [n for n in order if n in self.nodes]
        self.env.process(self._run())

    def _signal(self, root: Component, node: ServiceNode, dep: Dependency) -> Callable[[], float]:
        where = f"services.{node.cfg.name} depends on {dep.on!r} via {dep.via}"
        if dep.via == "calls":
            return lambda: 0.0  # read from the round's rates in evaluate()
        if dep.on == "dynamodb":
            dns_sub = root.find("region.dynamodb_dns")
            if dns_sub is None or dep.via != "name_resolution":
                raise ScenarioError(
                    f"{where}: needs the `dynamodb_dns` section and via name_resolution"
                )
            pop = ResolverPopulation(
                node,
                "resolvers",
                dns_sub.route53,
                dns_sub.regional,
                dep.clients,
                request_rate=dep.request_rate,
            )
            total = float(dep.clients)
            return lambda: pop.failing.current / total
        if dep.on == "ec2":
            ec2 = root.find("region.ec2")
            if ec2 is None or dep.via != "launches" or not hasattr(ec2, "launch_error_rate"):
                raise ScenarioError(f"{where}: needs the `ec2` section and via launches")
            return ec2.launch_error_rate
        nlb_name = dep.on.split(":", 1)[1]
        nlb = root.find("region.nlb")
        if nlb is None or dep.via != "connections" or not hasattr(nlb, "connection_error_rate"):
            raise ScenarioError(f"{where}: needs the `nlb` section and via connections")
        return lambda: nlb.connection_error_rate(nlb_name)

    def actions(self) -> list[Action]:
        return [
            Action(
                "pin_endpoint",
                self._pin,
                PinParams,
                "Temporary mitigation: the listed services reach their name-resolution "
                "dependencies through addresses configured by hand, bypassing DNS.",
                check=self._check_pin,
            )
        ]

    def _check_pin(self, params: PinParams) -> str | None:
        unknown = [s for s in params.services if s not in self.nodes]
        if unknown:
            return f"unknown service {unknown[0]!r} (services: {', '.join(self.nodes)})"
        return None

    def _pin(self, params: PinParams) -> None:
        for name in params.services:
            self.nodes[name].pinned = params.pinned
            self.event("endpoint_pinned" if params.pinned else "endpoint_unpinned", name)

    def _run(self) -> Any:
        cfg = self.config
        dt = 0.0
        while True:
            rates: dict[str, float] = {}
            for name in self.order:
                rates[name] = self.nodes[name].evaluate(
                    rates, cfg.degraded_above, cfg.down_above, dt
                )
            yield self.env.timeout(cfg.evaluate_every)
            dt = cfg.evaluate_every

    # -- what happened -------------------------------------------------------------------------
    def unhealthy_windows(self, name: str, end: float) -> list[tuple[float, float]]:
        lvl = self.nodes[name].health
        windows: list[tuple[float, float]] = []
        for t0, t1, v in lvl.segments(end):
            if v > HEALTH_OK:
                if windows and windows[-1][1] == t0:
                    windows[-1] = (windows[-1][0], t1)
                else:
                    windows.append((t0, t1))
        return windows

    def first_errors(self, name: str, end: float) -> float | None:
        w = self.unhealthy_windows(name, end)
        return w[0][0] if w else None

    def detectors(self) -> dict[str, Callable[[Results], float | None]]:
        out: dict[str, Callable[[Results], float | None]] = {}
        for m in self.config.milestones:
            if m.first_errors_of is not None:
                group = list(m.first_errors_of)
                out[m.name] = lambda r, g=group: min(
                    (t for n in g if (t := self.first_errors(n, r.end)) is not None), default=None
                )
            else:
                group = list(self.nodes) if m.all_recovered == "all" else list(m.all_recovered)
                out[m.name] = lambda r, g=group: self._all_recovered(g, r.end)
        return out

    def _all_recovered(self, group: list[str], end: float) -> float | None:
        last_end = None
        for name in group:
            windows = self.unhealthy_windows(name, end)
            if not windows:
                continue
            if windows[-1][1] >= end:
                return None  # still unhealthy at the end of the run
            last_end = max(last_end or 0.0, windows[-1][1])
        return last_end

    def impact(self, results: Results) -> dict[str, Any]:
        clock = self.env.clock
        out = {}
        for name, node in self.nodes.items():
            windows = self.unhealthy_windows(name, results.end)
            lvl = node.error_rate
            out[name] = {
                "error_minutes": round(sum(b - a for a, b in windows) / 60, 2),
                "weighted_error_minutes": round(
                    lvl.time_weighted_mean(0, results.end) * results.end / 60, 2
                ),
                "peak_error_rate": max(lvl.values, default=0.0),
                "windows": [[clock.iso(a), clock.iso(b)] for a, b in windows],
            }
        return {"services": out}

    def blast_radius(self, provider: str, end: float) -> dict[str, float | None]:
        """Every service that transitively depends on `provider`, with its first error time."""
        if provider not in self.graph:
            return {}
        affected = nx.ancestors(self.graph, provider)
        return {n: self.first_errors(n, end) for n in sorted(affected) if n in self.nodes}

    def statistics(self, results: Results) -> dict[str, Any]:
        providers = [n for n, d in self.graph.nodes(data=True) if d.get("kind") == "provider"]
        return {
            "blast_radius": {
                p: {
                    n: (None if t is None else self.env.clock.iso(t))
                    for n, t in self.blast_radius(p, results.end).items()
                }
                for p in sorted(providers)
            }
        }

    def plots(self) -> list[Plot]:
        return [
            Plot(
                key="service-health",
                title="Service health",
                series=tuple(
                    Series(node.scope, "health", node.cfg.title or name)
                    for name, node in self.nodes.items()
                ),
                ylabel="0 ok / 1 degraded / 2 down",
                caption="One row per service: when each was degraded or down.",
                kind="health",
                order=1,
            )
        ]


def build(parent: Component, config: Config) -> Services:
    return Services(parent, config)
