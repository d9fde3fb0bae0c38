"""The causal chain of a run: trigger -> sustaining effects -> recovery.

Built from the causal links components declare (views.json `links`), placed in time with the
event log, the detected milestones and the operator actions performed. An event node takes its
first occurrence at or after its causes (a stale apply long before the fault is not the one that
mattered). Phases follow from the graph: nodes nothing that happened caused are the trigger;
operator actions and the effects of recovery links (a link's `recovers`, by default the effect
of an action or of a recovery) are the recovery; the rest sustained the incident.
Without declared links, the chain is the milestones and actions in time order.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .data import RunData

PHASES = ("trigger", "sustaining", "recovery")


@dataclass
class Node:
    key: str
    """`milestone:NAME`, `action:NAME` or `event:KIND`."""
    t: float
    title: str
    detail: str = ""
    count: int = 1
    """Events: occurrences from `t` to the end of the run."""
    phase: str = "sustaining"

    @property
    def kind(self) -> str:
        return self.key.partition(":")[0]


@dataclass
class Edge:
    cause: str
    effect: str
    mechanism: str = ""
    recovers: bool | None = None


@dataclass
class Chain:
    nodes: list[Node] = field(default_factory=list)
    """Happened nodes, in time order."""
    edges: list[Edge] = field(default_factory=list)
    declared: bool = True
    """False: no component declared links; the chain is milestones and actions in order."""

    def of_phase(self, phase: str) -> list[Node]:
        return [n for n in self.nodes if n.phase == phase]


def humanize(name: str) -> str:
    """`dns_record_empty` -> `DNS record empty` (a few known acronyms upper-cased)."""
    words = name.replace("_", " ").replace("-", " ").split()
    upper = {"dns", "ec2", "nlb", "dwfm", "nm", "api", "sts", "iam", "az", "ttl", "soa"}
    out = [w.upper() if w.lower() in upper else w for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def _event_times(run: RunData) -> dict[str, list[tuple[float, str, str]]]:
    """Event kind -> [(t, scope, detail)] in time order (milestone rows excluded)."""
    frame = run.events
    out: dict[str, list[tuple[float, str, str]]] = {}
    if frame is None:
        return out
    for t, scope, kind, detail in zip(
        frame["t"], frame["scope"], frame["kind"], frame["detail"], strict=True
    ):
        if kind in ("milestone", "operator_action"):
            continue
        out.setdefault(kind, []).append((float(t), scope, detail))
    return out


def _action_time(run: RunData, name: str) -> tuple[float, dict[str, Any]] | None:
    for a in run.actions:  # in the order performed
        if name in (a["action"], a["name"]):
            return a["t"], a
    return None


def build_chain(run: RunData) -> Chain:
    links = run.views.get("links") or []
    if not links:
        return _sequence(run)
    graph = nx.DiGraph()
    for link in links:
        graph.add_edge(
            link["cause"],
            link["effect"],
            mechanism=link.get("mechanism", ""),
            recovers=link.get("recovers"),
        )
    events = _event_times(run)
    times: dict[str, float] = {}
    nodes: dict[str, Node] = {}
    order = (
        list(nx.topological_sort(graph))
        if nx.is_directed_acyclic_graph(graph)
        else sorted(graph.nodes)
    )
    for key in order:
        kind, _, name = key.partition(":")
        causes = [times[c] for c in graph.predecessors(key) if c in times]
        if kind == "milestone":
            t = run.milestones.get(name)
            if t is not None:
                nodes[key] = Node(key, t, humanize(name))
        elif kind == "action":
            found = _action_time(run, name)
            if found is not None:
                t, a = found
                title = humanize(a["name"])
                nodes[key] = Node(key, t, title, a.get("note", ""), phase="recovery")
        elif kind == "event":
            occurrences = events.get(name, [])
            after = max(causes) if causes else float("-inf")
            i = bisect.bisect_left([o[0] for o in occurrences], after)
            if i < len(occurrences):
                t, _scope, detail = occurrences[i]
                nodes[key] = Node(key, t, humanize(name), detail, len(occurrences) - i)
        if key in nodes:
            times[key] = nodes[key].t
    edges = [
        Edge(c, e, d.get("mechanism", ""), d.get("recovers"))
        for c, e, d in graph.edges(data=True)
        if c in nodes and e in nodes
    ]
    _assign_phases(nodes, edges, [k for k in order if k in nodes])
    topo = {key: i for i, key in enumerate(order)}
    ordered = sorted(nodes.values(), key=lambda n: (n.t, topo[n.key]))
    rank = {n.key: i for i, n in enumerate(ordered)}
    edges.sort(key=lambda e: (rank[e.cause], rank[e.effect]))
    return Chain(ordered, edges, declared=True)


def _assign_phases(nodes: dict[str, Node], edges: list[Edge], order: list[str]) -> None:
    """Trigger: nothing that happened caused it (or an action whose every link says harm).
    Recovery: an action, or the effect of a recovery link (`recovers`, or by default the effect
    of an action or of a recovery). The rest sustained the incident."""
    incoming: dict[str, list[Edge]] = {k: [] for k in nodes}
    outgoing: dict[str, list[Edge]] = {k: [] for k in nodes}
    for e in edges:
        incoming[e.effect].append(e)
        outgoing[e.cause].append(e)
    for key in order:
        node = nodes[key]
        if node.kind == "action":
            out = outgoing[key]
            harm = bool(out) and all(e.recovers is False for e in out)
            node.phase = "trigger" if harm else "recovery"
            continue
        into = incoming[key]
        if not into:
            node.phase = "trigger"
            continue

        def recovers(e: Edge) -> bool:
            if e.recovers is not None:
                return e.recovers
            return nodes[e.cause].phase == "recovery"

        node.phase = "recovery" if any(recovers(e) for e in into) else "sustaining"


def _sequence(run: RunData) -> Chain:
    """No declared links: milestones and operator actions in time order, one after another.

    Phases by time alone: the first milestone is the trigger, what follows the first operator
    action is the recovery, the rest sustaining."""
    nodes = [
        Node(f"milestone:{k}", t, humanize(k)) for k, t in run.milestones.items() if t is not None
    ]
    nodes += [
        Node(
            f"action:{a['name']}", a["t"], humanize(a["name"]), a.get("note", ""), phase="recovery"
        )
        for a in run.actions
    ]
    nodes.sort(key=lambda n: (n.t, n.kind != "action", n.key))
    first_action = min((n.t for n in nodes if n.kind == "action"), default=float("inf"))
    for i, n in enumerate(nodes):
        if n.kind == "milestone":
            n.phase = "recovery" if n.t >= first_action else ("trigger" if i == 0 else "sustaining")
    edges = [Edge(a.key, b.key) for a, b in itertools.pairwise(nodes)]
    return Chain(nodes, edges, declared=False)
