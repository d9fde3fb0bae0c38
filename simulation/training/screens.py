"""What the trainee reads, as rich renderables that fit an 80x24 terminal.

Every state is written as a word (FIRING, acked, ok), never only as a colour, and every screen
renders the same to a plain-text transcript (`plain`), which is what scripted drills print.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simulation.core import Results
from simulation.core.units import format_duration

from . import investigate as inv
from .investigate import grid_table, row

if TYPE_CHECKING:
    from .engine import Engine

SPARK_POINTS = 24
WIDTH = 80


def plain(renderables: list[Any], width: int = WIDTH) -> str:
    """Renderables as plain text (no colour, no control codes), `width` columns."""
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False
    )
    for r in renderables:
        console.print(r)
    return buf.getvalue()


def one_line(text: str, width: int = WIDTH - 1) -> Text:
    """A line cut to the terminal's width (rich wraps long `Text` even with no_wrap)."""
    return Text(text if len(text) <= width else text[: width - 3] + "...")


def lines(texts: list[str]) -> Text:
    return Text("\n".join(one_line(t).plain for t in texts))


def hhmm(engine: Engine, t: float) -> str:
    return engine.env.clock.iso(t)[11:19]


def header(engine: Engine) -> Text:
    model = engine.loaded.model
    title = model.title if len(model.title) <= 70 else model.title[:67] + "..."
    difficulty = engine.config.difficulty if engine.drill is not None else "none"
    line2 = (
        f"{engine.env.iso()}  +{format_duration(engine.now)} of "
        f"{format_duration(engine.end)}  step {format_duration(engine.step)}  hints {difficulty}"
    )
    return lines([f"DRILL  {title}", line2])


def alert_lines(engine: Engine, limit: int = 4) -> Text:
    firing = engine.firing()
    alerts = {a.name: a for a in engine.config.alerts}
    if not alerts:
        return Text("ALERTS  (this scenario defines none: watch the dashboard)")
    if not firing:
        return Text("ALERTS  none firing")
    out = [f"ALERTS  {len(firing)} firing"]
    for name, since in sorted(firing.items(), key=lambda kv: (kv[1], kv[0]))[:limit]:
        a = alerts[name]
        state = "FIRING, acked" if name in engine.acked else "FIRING"
        summary = f"  {a.summary}" if a.summary else ""
        out.append(
            f"  {a.severity.upper():6} {state:13} since {hhmm(engine, since)}  {name}{summary}"
        )
    if len(firing) > limit:
        out.append(f"  (+{len(firing) - limit} more: `alerts`)")
    return lines(out)


def dashboard_table(engine: Engine, limit: int | None) -> Table:
    """Each row: label, value now, a sparkline of the last steps."""
    rows = engine.rows if limit is None else engine.rows[:limit]
    times = inv.grid(engine.now, engine.step, SPARK_POINTS)
    span = format_duration(min(engine.now, engine.step * (SPARK_POINTS - 1)))
    title = f"DASHBOARD  one mark per {format_duration(engine.step)}, last {span}"
    t = grid_table("series", "now", "trend", title=title)
    t.columns[0].no_wrap, t.columns[0].max_width = True, 44
    t.columns[0].overflow = "ellipsis"
    t.columns[1].justify = "right"
    rec = engine.env.recorder
    for scope, metric, label in rows:
        values = inv.sample(rec, scope, metric, times, engine.step)
        t.add_row(*row(label, inv.fmt(values[-1]), inv.sparkline(values, engine.ascii_only)))
    return t


def dashboard(engine: Engine, limit: int | None = 9) -> list[Any]:
    """Header, alerts, dashboard rows, the latest hints, the game master's line."""
    out: list[Any] = [header(engine), alert_lines(engine)]
    if engine.rows:
        out.append(dashboard_table(engine, limit))
        if limit is not None and len(engine.rows) > limit:
            out.append(Text(f"(+{len(engine.rows) - limit} more series: `dash`)"))
    hints = [e for e in engine.env.recorder.events if e[2] == "hint"]
    for t, _, _, detail in hints[-2:]:
        out.append(Text(f"HINT {hhmm(engine, t)} {detail}", overflow="fold"))
    if engine.game_master:
        out.append(one_line(truth_line(engine)))
    return out


def alerts_table(engine: Engine) -> Table:
    t = grid_table("alert", "severity", "state", "first", "watches", title="Alerts")
    for col in t.columns[:4]:
        col.no_wrap = True
    firing = engine.firing()
    events = [e for e in engine.env.recorder.events if e[2] == "alert"]
    for a in engine.config.alerts:
        fired = [e[0] for e in events if e[3].split(" ", 2)[1] == a.name]
        if a.name in firing:
            state = "FIRING, acked" if a.name in engine.acked else "FIRING"
        else:
            state = "resolved" if fired else "ok"
        first = hhmm(engine, fired[0]) if fired else "-"
        t.add_row(*row(a.name, a.severity, state, first, f"{a.level} {a.condition}"))
    return t


def actions_table(engine: Engine) -> Table:
    from .engine import actions_table_rows

    title = "Operator actions: do ACTION [@SCOPE] [key=value ...]; `actions NAME` for more"
    t = grid_table("action", "parameters", "what it does", title=title)
    t.columns[0].no_wrap = True
    for name, _, params, doc in actions_table_rows(engine):
        what = first_sentence(doc)
        t.add_row(*row(name, params, what if len(what) <= 72 else what[:69] + "..."))
    return t


def action_detail(engine: Engine, name: str) -> list[Any]:
    """One action in full: what it does, who offers it, each parameter."""
    pairs = engine.offered.get(name)
    if not pairs:
        known = ", ".join(sorted(engine.offered)) or "none"
        raise inv.CommandError(f"unknown action {name!r} (available: {known})")
    action = pairs[0][1]
    out: list[Any] = [
        Text(f"{name}: {action.doc}"),
        Text(f"offered by: {', '.join(c.scope for c, _ in pairs)}"),
    ]
    t = grid_table("parameter", "default", "meaning")
    for key, f in action.params.model_fields.items():
        default = "(required)" if f.is_required() else repr(f.default)
        t.add_row(*row(key, default, f.description or ""))
    if action.params.model_fields:
        out.append(t)
    return out


def first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def help_table(rows: list[tuple[str, str]]) -> Table:
    t = grid_table("command", "what")
    t.columns[0].no_wrap = True
    for cmd, what in rows:
        t.add_row(*row(cmd, what))
    return t


# -- the game master's view --------------------------------------------------------------------


def milestones_so_far(engine: Engine) -> list[tuple[float, str, str]]:
    """(time, milestone, scope) detected in the records up to now, in time order."""
    results = Results(engine.env, engine.now)
    found = []
    for name, (comp, detector) in engine.prep.detectors.items():
        t = detector(results)
        if t is not None and not math.isnan(t) and t <= engine.now:
            found.append((t, name, comp.scope))
    return sorted(found)


def root_cause(engine: Engine) -> str | None:
    if engine.config.root_cause is not None:
        return engine.config.root_cause
    found = milestones_so_far(engine)
    return found[0][2] if found else None


def truth_line(engine: Engine) -> str:
    found = milestones_so_far(engine)
    cause = root_cause(engine) or "not yet visible"
    last = f"{found[-1][1]} {hhmm(engine, found[-1][0])}" if found else "none yet"
    return (
        f"TRUTH  cause {cause} | {len(found)} milestones, last {last} | "
        f"impact {engine.impact_so_far():g}"
    )


def truth(engine: Engine) -> list[Any]:
    out: list[Any] = [Text(f"TRUTH at {engine.env.iso()}: root cause {root_cause(engine)}")]
    t = grid_table("time", "milestone", "component", title="Milestones so far")
    for when, name, scope in milestones_so_far(engine):
        t.add_row(*row(hhmm(engine, when), name, scope))
    out.append(t)
    h = grid_table("when", "action", title="What the historical operators did")
    for when, what in engine.historical_actions:
        h.add_row(*row(when, what))
    out.append(h)
    out.append(Text(f"customer impact so far: {engine.impact_so_far():g}"))
    return out
