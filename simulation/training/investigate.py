"""What on-call can look at, read from any model without knowing its subsystems.

- Series values and sparklines from the recorder (levels: the value holding at each instant;
  tallies: the mean of the samples in each step).
- `resolve`: a fresh `CachingResolver` against every `AuthoritativeDns` component of the tree
  whose zone holds the name. Queries go through `AuthoritativeDns.query` with the drill's own
  random stream, so looking never shifts the model's draws (weighted answers).
- `show`: a component's levels (now, sparkline, range) and children; `logs`: its recent events.
- `deps`: any component with a networkx `graph` attribute (the services component) answers
  what a node needs and what needs it, with the current `error_rate` of each node it has.

Each returns rich renderables plus the scope it touched (for the debrief's diagnosis time).
"""

from __future__ import annotations

import difflib
import math
import random
from dataclasses import dataclass, field
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from rich import box
from rich.table import Table
from rich.text import Text

from simulation.core import Component, Recorder
from simulation.core.units import format_duration
from simulation.primitives.dns import AuthoritativeDns, CachingResolver

SPARK = "▁▂▃▄▅▆▇█"
SPARK_ASCII = "_.-:=+*#"
MAX_ROWS = 14


class CommandError(Exception):
    """A command the trainee typed that cannot be carried out (shown, never fatal)."""


@dataclass
class Finding:
    """What an investigation shows, and which component scopes it looked at."""

    body: list[Any] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)


def grid_table(*columns: str, title: str | None = None) -> Table:
    """A compact table (one rule under the header); cells must be `Text` (no markup)."""
    t = Table(
        title=None if title is None else Text(title),
        min_width=None if title is None else len(title),  # a title never wraps
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        show_edge=False,
    )
    for c in columns:
        t.add_column(Text(c), overflow="fold")
    return t


def row(*cells: object) -> list[Text]:
    """Cells as `Text`, so brackets in names and params are never read as markup."""
    return [c if isinstance(c, Text) else Text(str(c)) for c in cells]


# -- values ----------------------------------------------------------------------------------


def fmt(value: float) -> str:
    """Compact number: '-' for NaN, integers plain, else 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value):,}"
    return f"{value:.4g}"


def sample(rec: Recorder, scope: str, metric: str, times: list[float], step: float) -> list[float]:
    """Values of a series at `times`: a level's value then, a tally's mean over the step before."""
    lvl = rec.levels.get((scope, metric))
    if lvl is not None:
        return [lvl.value_at(t) for t in times]
    tally = rec.tallies.get((scope, metric))
    if tally is None:
        return [math.nan for _ in times]
    import bisect

    out = []
    for t in times:
        lo = bisect.bisect_right(tally.times, t - step)
        hi = bisect.bisect_right(tally.times, t)
        chunk = tally.values[lo:hi]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def sparkline(values: list[float], ascii_only: bool = False) -> str:
    """One character per value, scaled between the values' min and max (blank: no value)."""
    chars = SPARK_ASCII if ascii_only else SPARK
    real = [v for v in values if not math.isnan(v)]
    if not real:
        return " " * len(values)
    lo, hi = min(real), max(real)
    out = []
    for v in values:
        if math.isnan(v):
            out.append(" ")
        elif hi == lo:
            out.append(chars[0] if hi == 0 else chars[len(chars) // 2])
        else:
            out.append(chars[round((v - lo) / (hi - lo) * (len(chars) - 1))])
    return "".join(out)


def grid(now: float, step: float, points: int) -> list[float]:
    """`points` instants ending at `now`, `step` apart (none before 0)."""
    return [t for k in range(points - 1, -1, -1) if (t := now - k * step) >= 0]


# -- show / logs -----------------------------------------------------------------------------


def component(root: Component, scope: str) -> Component:
    comp = root.find(scope)
    if comp is None:
        scopes = [c.scope for c in root.walk()]
        close = difflib.get_close_matches(scope, scopes, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise CommandError(f"no component {scope!r}{hint}; `show` lists the top level")
    return comp


def show(
    root: Component, scope: str | None, now: float, step: float, width: int, ascii_only: bool
) -> Finding:
    """Levels of one component (now, sparkline, range so far) and its children."""
    comp = root if scope is None else component(root, scope)
    rec = root.env.recorder
    times = grid(now, step, width)
    table = grid_table(
        "metric",
        "now",
        "last steps",
        "min..max",
        title=f"{comp.scope} at {root.env.clock.iso(now)}",
    )
    for col in table.columns:
        col.no_wrap = True
    table.columns[1].justify = table.columns[3].justify = "right"
    names = sorted(m for s, m in rec.levels if s == comp.scope)
    names += sorted(m for s, m in rec.tallies if s == comp.scope and m not in names)
    for metric in names[:MAX_ROWS]:
        values = sample(rec, comp.scope, metric, times, step)
        real = [v for v in values if not math.isnan(v)]
        span = f"{fmt(min(real))}..{fmt(max(real))}" if real else "-"
        unit = _unit(rec, comp.scope, metric)
        table.add_row(*row(metric + unit, fmt(values[-1]), sparkline(values, ascii_only), span))
    body: list[Any] = [table] if names else [Text(f"{comp.scope} records no series itself.")]
    if len(names) > MAX_ROWS:
        body.append(Text(f"({len(names) - MAX_ROWS} more series not shown)"))
    if comp.children:
        kids = [c.scope.rsplit(".", 1)[-1] for c in comp.children]
        shown = ", ".join(kids[:12]) + (f", ... {len(kids) - 12} more" if len(kids) > 12 else "")
        body.append(Text(f"children: {shown}"))
    return Finding(body, [comp.scope] if scope is not None else [])


def _unit(rec: Recorder, scope: str, metric: str) -> str:
    s = rec.levels.get((scope, metric)) or rec.tallies.get((scope, metric))
    return f" ({s.unit})" if s is not None and s.unit else ""


def logs(root: Component, scope: str, now: float, count: int) -> Finding:
    """The last `count` events of a component and everything below it, up to now."""
    comp = component(root, scope)
    rec, clock = root.env.recorder, root.env.clock
    prefix = comp.scope + "."
    rows = [
        e
        for e in rec.events
        if e[0] <= now and (e[1] == comp.scope or e[1].startswith(prefix)) and e[2] != "hint"
    ]
    rows = sorted(rows, key=lambda e: e[0])[-count:]
    if not rows:
        return Finding([Text(f"no events from {comp.scope} so far")], [comp.scope])
    table = grid_table("time", "from", "event", title=f"last {len(rows)} events of {comp.scope}")
    table.columns[0].no_wrap, table.columns[0].min_width = True, 8
    table.columns[1].no_wrap, table.columns[1].max_width = True, 14
    table.columns[1].overflow = "ellipsis"
    table.columns[2].no_wrap, table.columns[2].overflow = True, "ellipsis"
    for t, s, kind, detail in rows:
        short = s[len(prefix) :] if s.startswith(prefix) else "."
        event = f"{kind}: {detail}" if detail else kind
        table.add_row(*row(clock.iso(t)[11:19], short, event))
    return Finding([table], [comp.scope])


# -- resolve ---------------------------------------------------------------------------------


class _Investigator:
    """A name server view that answers through `query` with its own random stream."""

    def __init__(self, server: AuthoritativeDns, rng: random.Random) -> None:
        self.server, self.rng = server, rng

    def answer(self, qname: dns.name.Name, rdtype: Any) -> dns.message.Message:
        return self.server.query(dns.message.make_query(qname, rdtype), rng=self.rng)


def resolve(root: Component, text: str, rdtype_text: str, rng: random.Random) -> Finding:
    """Resolve a name now, through a fresh caching stub resolver, against every simulated zone
    that holds it."""
    try:
        qname = dns.name.from_text(text)
        rdtype = dns.rdatatype.from_text(rdtype_text.upper())
    except Exception as exc:  # dnspython raises several types for bad text
        raise CommandError(f"cannot resolve {text!r} {rdtype_text}: {exc}") from None
    servers = [c for c in root.walk() if isinstance(c, AuthoritativeDns)]
    if not servers:
        raise CommandError("this scenario has no simulated name server to ask")
    env = root.env
    holding = [s for s in servers if qname.is_subdomain(s.served.origin)]
    if not holding:
        zones = ", ".join(sorted({s.served.origin.to_text() for s in servers}))
        raise CommandError(f"no simulated zone holds {qname.to_text()} (zones: {zones})")
    body: list[Any] = []
    for server in holding:
        resolver = CachingResolver(_Investigator(server, rng), lambda: env.now)
        answer = resolver.resolve(qname, rdtype)
        rcode = dns.rcode.to_text(answer.rcode)
        lines = [f"{qname.to_text()} {dns.rdatatype.to_text(rdtype)} via {server.scope}: {rcode}"]
        if answer.addresses:
            shown = answer.addresses[:6]
            more = f" (+{len(answer.addresses) - 6} more)" if len(answer.addresses) > 6 else ""
            ttl = format_duration(max(0.0, answer.expires - env.now))
            lines.append(
                f"  {len(answer.addresses)} answer(s), TTL {ttl}: {', '.join(shown)}{more}"
            )
        else:
            ttl = answer.expires - env.now
            cached = f"cached {format_duration(ttl)} (negative)" if ttl > 0 else "not cacheable"
            lines.append(f"  no addresses: clients get nothing to connect to; {cached}")
        body.append(Text("\n".join(lines)))
    return Finding(body, [s.scope for s in holding])


# -- deps --------------------------------------------------------------------------------------


def dependency_views(root: Component) -> list[Component]:
    """Components that expose a dependency graph (a networkx DiGraph named `graph`)."""
    out = []
    for comp in root.walk():
        g = getattr(comp, "graph", None)
        if g is not None and hasattr(g, "successors") and hasattr(g, "predecessors"):
            out.append(comp)
    return out


def deps(root: Component, node: str) -> Finding:
    """What `node` needs (with the mechanism) and what needs it, with error rates now."""
    views = [c for c in dependency_views(root) if node in c.graph]
    if not views:
        known = sorted({str(n) for c in dependency_views(root) for n in c.graph})
        if not known:
            raise CommandError("this scenario declares no dependency graph")
        close = difflib.get_close_matches(node, known, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(known)})"
        raise CommandError(f"no service {node!r} in the dependency graph{hint}")
    rec = root.env.recorder
    body: list[Any] = []
    for view in views:
        g = view.graph

        def state(name: Any, view: Component = view) -> str:
            lvl = rec.levels.get((f"{view.scope}.{name}", "error_rate"))
            return "" if lvl is None else f"errors {lvl.current:.0%}"

        table = grid_table(
            "", "service / provider", "via", "kind", "now", title=f"{node} ({view.scope})"
        )
        table.add_row(*row("itself", node, "", "", state(node)))
        for dep in g.successors(node):
            e = g.edges[node, dep]
            kind = "hard" if e.get("hard", True) else "soft"
            table.add_row(*row("needs", dep, e.get("via", ""), kind, state(dep)))
        for user in g.predecessors(node):
            e = g.edges[user, node]
            kind = "hard" if e.get("hard", True) else "soft"
            table.add_row(*row("needed by", user, e.get("via", ""), kind, state(user)))
        body.append(table)
    return Finding(body, [v.scope for v in views])
