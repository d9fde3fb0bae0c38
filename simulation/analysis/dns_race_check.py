"""Exhaustive check of the DynamoDB DNS automation: every interleaving of Planner and Enactor steps.

`check()` explores, breadth-first over a state graph (networkx), every interleaving of the
Planner's and Enactors' steps for a small configuration, with the simulation's own rules
(`simulation.subsystems.dynamodb_dns.protocol.Protocol`) and the DNS primitive's zone (change
batches applied all-or-nothing, aliases resolved as Route 53 does). Options, named as the CLI
flags of `outage-sim check dns-race`:

- `--enactors N` (2): Enactors; `--generations N` (5): plans the Planner makes;
- `--threshold N` (2): clean-up deletes plans at least this many generations older;
- `--endpoints N` (1): endpoints per plan, the first being the regional one;
- `--fixed`: the fix switches on (apply-time version check, clean-up never deletes the active plan).

Steps: the Planner publishes the next generation; an Enactor takes the newest plan, checks it is
newer than the applied one, applies it to an endpoint (lock + records, one transaction),
releases the lock, deletes one old plan (clean-up), finishes its run. Each step is atomic: its
reads and its transaction happen together (the simulation separates them by the transaction's
latency; the race needs no finer grain). Locks never expire here (there is no time); an Enactor
whose lock is held simply cannot take that step.

Properties: (1) the active plan is never deleted; (2) the regional endpoint never resolves to no
addresses once initialised (checked by a real lookup in the zone); (3) no plan older than the
applied one is applied (an apply never moves an endpoint to an older generation). States are
checked when first reached, transitions as they are explored; breadth-first order makes the
first trace found for each property a shortest one.

Compared with SPIN. The public Promela model of the same configuration (1 Planner, 2 Enactors, 5
plans, threshold 2) makes SPIN 6.5.2 store about 18,000 states and report the violation; its
fixed model about 7,000 states. Our counts differ for reasons of abstraction, not of behaviour:

- Promela's state holds program counters of every statement (printf's included), a buffered
  channel of plans, loop counters and bookkeeping variables (`highest_plan_applied`,
  `enactor_processing`), and the never-claim's state; SPIN stops at the first violation unless
  told otherwise. Ours holds only what the protocol means: the newest generation, the zone's
  record sets, and each Enactor's phase, plan, last generation seen, endpoint and clean-up
  cursor; and we explore the whole reachable graph.
- Promela hands each plan to one Enactor through a channel; ours let every Enactor take the
  newest plan (as the real ones do), so an Enactor may skip generations or find nothing new.
- Ours has Route 53 records, the lock and its release, and the rollback record; Promela has a
  `current_plan` variable and a `dns_valid` flag. Promela's "fixed" model still lets an older
  plan be applied after a newer one (it is atomic, not version-checked); ours checks the version,
  so property (3) holds too, and the fixed graph is smaller than the unfixed one.

Measured with the defaults: unfixed 12,390 states and 27,085 transitions (SPIN: ~18,000
stored), all three properties violated, the shortest race 11 steps (the incident's story: an
Enactor checks g1, another applies g3 and releases, the first applies g1, the second's clean-up
deletes g1); fixed 6,312 states and 14,189 transitions (SPIN: ~7,000), clean. Under a second
each on this machine; 3 Enactors and 4 generations take ~125,000 states and ~15 s.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import networkx as nx

from simulation.primitives.dns import A, ChangeConflict, InvalidChangeBatch
from simulation.subsystems.dynamodb_dns.protocol import (
    EnactorState,
    Layout,
    Plan,
    Protocol,
    World,
)

PROPERTIES: dict[str, str] = {
    "active_plan_never_deleted": "the active plan is never deleted",
    "regional_never_empty": "the regional endpoint never resolves empty once initialised",
    "no_stale_apply": "no plan older than the applied one is applied",
}

_ZONE = "us-east-1.amazonaws.com"
_REGIONAL = "dynamodb.us-east-1.amazonaws.com"

State = tuple[World, tuple[EnactorState, ...]]


@dataclass(frozen=True)
class Step:
    """One step of a trace: who did what, and the DNS state after it."""

    number: int
    actor: str
    action: str
    detail: str
    dns: str

    def format(self) -> str:
        return f"{self.number:>3}. {self.actor:<9} {self.detail}\n       DNS: {self.dns}"


@dataclass
class CheckResult:
    """The outcome of one exhaustive check (see module docstring)."""

    enactors: int
    generations: int
    threshold: int
    endpoints: int
    fixed: bool
    states: int = 0
    transitions: int = 0
    seconds: float = 0.0
    violations: dict[str, list[Step]] = field(default_factory=dict)
    graph: nx.DiGraph | None = None
    """The state graph (nodes: state keys with a `violated` attribute listing the state
    properties they break; edges: `actor`, `stale_apply`), kept with `keep_graph=True`."""
    start: tuple | None = None

    @property
    def violation(self) -> bool:
        return bool(self.violations)

    @property
    def counterexample(self) -> list[Step]:
        """The shortest trace to the incident (active plan deleted), else to any violation."""
        for prop in PROPERTIES:
            if prop in self.violations:
                return self.violations[prop]
        return []

    def format(self) -> str:
        fix = (
            "on (apply-time version check, clean-up keeps the active plan)" if self.fixed else "off"
        )
        lines = [
            f"dns-race check: 1 Planner, {self.enactors} Enactors, {self.generations} generations, "
            f"clean-up threshold {self.threshold}, {self.endpoints} endpoint(s); fix {fix}",
            f"explored {self.states:,} states and {self.transitions:,} transitions in "
            f"{self.seconds:.2f} s (breadth-first, every reachable state)",
        ]
        if not self.violation:
            lines.append("no violation: every property holds in every reachable state")
            lines += [f"  ok  {text}" for text in PROPERTIES.values()]
            return "\n".join(lines)
        lines.append(f"VIOLATION: {len(self.violations)} of {len(PROPERTIES)} properties fail")
        for prop, text in PROPERTIES.items():
            trace = self.violations.get(prop)
            status = f"FAILS (shortest trace: {len(trace)} steps)" if trace else "ok"
            lines.append(f"  {'!!' if trace else 'ok'}  {text}: {status}")
        first = next(p for p in PROPERTIES if p in self.violations)
        lines.append("")
        lines.append(f"Shortest counterexample for '{PROPERTIES[first]}':")
        lines += [s.format() for s in self.violations[first]]
        return "\n".join(lines)


def _configuration(enactors: int, generations: int, threshold: int, endpoints: int, fixed: bool):
    names = [_REGIONAL] + [f"e{i}.ddb.{_ZONE}" for i in range(2, endpoints + 1)]
    layout = Layout(_ZONE, names, _REGIONAL, load_balancers=1, addresses_per_load_balancer=1)
    weights = tuple((1,) for _ in names)
    plans = {g: Plan(g, weights) for g in range(1, generations + 1)}
    protocol = Protocol(
        layout, plans.__getitem__, threshold, version_check=fixed, protect_active=fixed
    )
    start = World(0, layout.empty_zone())
    actors = tuple(EnactorState(f"enactor{k}") for k in range(1, enactors + 1))
    return protocol, plans, (start, actors)


def _key(state: State) -> tuple:
    world, actors = state
    return (world.latest, world.zone.key(), actors)


def _successors(protocol: Protocol, plans: dict[int, Plan], state: State):
    """(actor index, label, next state) for every enabled step; actor 0 is the Planner."""
    world, actors = state
    if world.latest < len(plans):
        g = world.latest + 1
        yield 0, "publish", f"publishes plan g{g}", (protocol.publish(world, plans[g]), actors)
    for k, e in enumerate(actors, start=1):
        intent = protocol.next(world, e, 0.0)
        if intent is None or intent.blocked:
            continue
        zone, after, detail = world.zone, intent.after, intent.detail
        if intent.batch is not None:
            try:
                zone = zone.apply(intent.batch)
            except ChangeConflict:  # cannot happen when reads and commit are one step
                if intent.on_conflict is None:
                    continue
                after = intent.on_conflict
            except InvalidChangeBatch as exc:
                after = intent.on_invalid or after
                detail += f" -> REFUSED by Route 53 ({exc})"
        detail = detail.removeprefix(e.name + " ")
        new_actors = (*actors[: k - 1], after, *actors[k:])
        yield k, intent.step, detail, (World(world.latest, zone), new_actors)


def _violated(protocol: Protocol, before: State, after: State) -> list[str]:
    zone0, zone1 = before[0].zone, after[0].zone
    found = []
    if protocol.deleted_active(zone1):
        found.append("active_plan_never_deleted")
    if protocol.resolves_empty(zone1, protocol.layout.regional):
        found.append("regional_never_empty")
    n = len(protocol.layout.endpoints)
    for i in range(n):
        g1 = protocol.active_generation(zone1, i)
        if g1 and g1 < protocol.active_generation(zone0, i):
            found.append("no_stale_apply")
            break
    return found


def describe_dns(protocol: Protocol, world: World) -> str:
    """The DNS state in one line: each endpoint's plan, rollback and lock; live plans."""
    zone, layout = world.zone, protocol.layout
    parts = []
    for i, label in enumerate(layout.labels):
        g = protocol.active_generation(zone, i)
        if not g:
            text = f"{label} -> (not initialised)"
        else:
            text = f"{label} -> g{g}"
            if not protocol.plan_present(zone, i, g):
                text += " (PLAN DELETED: resolves to no addresses)"
        rollback = zone.record(layout.rollbacks[i], A)
        if rollback is not None and (found := layout.plan_of(rollback.alias)) is not None:
            text += f", rollback g{found[1]}"
        holder = protocol.lock_holder(zone, i)
        if holder is not None:
            text += f", lock {holder[0]}"
        parts.append(text)
    live = " ".join(f"g{g}" for g in protocol.live_generations(zone)) or "none"
    return f"{'; '.join(parts)} | plans in DNS: {live} | newest g{world.latest}"


def check(
    enactors: int = 2,
    generations: int = 5,
    threshold: int = 2,
    endpoints: int = 1,
    fixed: bool = False,
    keep_graph: bool = False,
) -> CheckResult:
    """Explore every interleaving; see the module docstring. `keep_graph` keeps the networkx
    state graph on the result (`result.graph`, from `result.start`) for inspection."""
    t0 = time.perf_counter()
    protocol, plans, start = _configuration(enactors, generations, threshold, endpoints, fixed)
    actor_names = ["planner"] + [e.name for e in start[1]]
    graph = nx.DiGraph()
    start_key = _key(start)
    graph.add_node(start_key, violated=())
    parent: dict[tuple, tuple[tuple, int] | None] = {start_key: None}
    found: dict[str, tuple[tuple, int]] = {}
    queue: deque[tuple[tuple, State]] = deque([(start_key, start)])
    transitions = 0
    while queue:
        key, state = queue.popleft()
        for actor, _step, _detail, nxt in _successors(protocol, plans, state):
            transitions += 1
            nkey = _key(nxt)
            is_new = nkey not in parent
            violated = _violated(protocol, state, nxt)
            if is_new:
                parent[nkey] = (key, actor)
                graph.add_node(nkey, violated=tuple(p for p in violated if p != "no_stale_apply"))
                queue.append((nkey, nxt))
            graph.add_edge(key, nkey, actor=actor, stale_apply="no_stale_apply" in violated)
            for prop in violated:
                if prop not in found and (is_new or prop == "no_stale_apply"):
                    found[prop] = (key, actor)
    result = CheckResult(enactors, generations, threshold, endpoints, fixed)
    result.states = graph.number_of_nodes()
    result.transitions = transitions
    for prop, (key, actor) in found.items():
        path = [*_path(parent, key), actor]
        result.violations[prop] = _replay(protocol, plans, start, path, actor_names)
    result.seconds = time.perf_counter() - t0
    result.graph = graph if keep_graph else None
    result.start = start_key
    return result


def _path(parent: dict[tuple, tuple[tuple, int] | None], key: tuple) -> list[int]:
    actors: list[int] = []
    link = parent[key]
    while link is not None:
        key, actor = link
        actors.append(actor)
        link = parent[key]
    return actors[::-1]


def _replay(
    protocol: Protocol, plans: dict[int, Plan], start: State, path: list[int], names: list[str]
) -> list[Step]:
    """Re-run the actors' steps along `path` to describe each step and the DNS after it."""
    steps, state = [], start
    for number, actor in enumerate(path, start=1):
        for k, step, detail, nxt in _successors(protocol, plans, state):
            if k == actor:
                state = nxt
                steps.append(Step(number, names[k], step, detail, describe_dns(protocol, nxt[0])))
                break
        else:  # pragma: no cover - the path came from the same successor function
            raise RuntimeError(f"step {number} of the trace is not enabled on replay")
    return steps
