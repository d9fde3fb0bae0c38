"""The report's pictures as deterministic SVG (matplotlib, no pyplot, no global state).

- `time_plot`: the series a component declared in a `Plot`, against wall-clock time, with the
  operator actions marked;
- `health_strip`: one row per health series, coloured ok / degraded / down;
- `chain_picture`: the causal chain, boxes in time order (top to bottom) in one column per phase.

Same run directory -> same bytes: fixed `svg.hashsalt` (the plot's key), no date or creator in
the metadata, text kept as text (`svg.fonttype: none`, no math parsing of scenario strings), ids
prefixed with the plot's key so several SVGs can be inlined in one HTML page.
"""

from __future__ import annotations

import io
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

from .chain import PHASES, Chain
from .data import RunData
from .health import DEGRADED, DOWN, OK, HealthRow

WIDTH_IN = 7.2
MAX_POINTS = 1500
"""A series with more points is reduced (levels: min/max band and mean per bucket)."""
COLORS = ["#1f5fa8", "#d1495b", "#2a9d8f", "#e9a03b", "#6c4f9c", "#5c6b73", "#8a5a44"]
HEALTH_COLORS = {OK: "#3a9a4f", DEGRADED: "#f0b429", DOWN: "#c8372d"}
PHASE_COLORS = {"trigger": "#fbe3e0", "sustaining": "#fff1cc", "recovery": "#e1f2e4"}
PHASE_EDGES = {"trigger": "#c8372d", "sustaining": "#b7791f", "recovery": "#2f7d45"}
RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
    "path.simplify": True,
}


@dataclass
class Picture:
    key: str
    title: str
    caption: str
    svg: str
    """The standalone SVG file (with XML declaration)."""

    @property
    def inline(self) -> str:
        """The SVG element for an HTML page: no prolog, scales to the width of its container."""
        body = self.svg[self.svg.index("<svg") :]
        body = re.sub(r"\s*<metadata>.*?</metadata>", "", body, count=1, flags=re.S)
        body = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", body, count=1)
        label = self.title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        return body.replace(
            "<svg", f'<svg role="img" aria-label="{label}" preserveAspectRatio="xMidYMin meet"', 1
        ).strip()


def _render(fig: Figure, key: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", key)
    svg = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)
    return re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)


def _context(key: str) -> Any:
    return matplotlib.rc_context({**RC, "svg.hashsalt": f"outage-sim:{key}"})


def _dates(run: RunData, times: list[float]) -> list[float]:
    base = mdates.date2num(run.start)
    return [base + t / 86400.0 for t in times]


def _time_axis(ax: Any, run: RunData) -> None:
    locator = mdates.AutoDateLocator(tz=run.tz, minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=run.tz))
    ax.set_xlim(*_dates(run, [0.0, run.end_s]))
    ax.set_xlabel(f"{run.zone} (from {run.start.strftime('%Y-%m-%d %H:%M')})")


def _mark_actions(ax: Any, run: RunData) -> None:
    """A dashed line per operator action, numbered above the plot (the caption names them);
    actions closer than 1% of the run share one label (`1,2`)."""
    groups: list[tuple[float, list[str]]] = []
    close = run.end_s / 100.0
    for i, a in enumerate(run.actions, start=1):
        if groups and a["t"] - groups[-1][0] <= close:
            groups[-1][1].append(str(i))
        else:
            groups.append((a["t"], [str(i)]))
        ax.axvline(
            _dates(run, [a["t"]])[0], color="#555555", linestyle=(0, (3, 3)), lw=0.8, zorder=1
        )
    for t, labels in groups:
        ax.annotate(
            ",".join(labels),
            (_dates(run, [t])[0], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2),
            textcoords="offset points",
            fontsize=7,
            color="#333333",
            ha="center",
            va="bottom",
        )


def actions_caption(run: RunData) -> str:
    """Names of the numbered dashed lines."""
    if not run.actions:
        return ""
    names = "; ".join(
        f"{i} {a['name']} ({run.clock(a['t'])})" for i, a in enumerate(run.actions, start=1)
    )
    return f"Dashed lines, operator actions: {names}."


def _reduce_level(
    times: list[float], values: list[float], end: float
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Bucket a long piecewise-constant series: (bucket starts, min, max, time-weighted mean)."""
    n = MAX_POINTS // 2
    width = end / n if end > 0 else 1.0
    starts = [i * width for i in range(n)]
    lo, hi = [float("inf")] * n, [float("-inf")] * n
    area = [0.0] * n
    covered = [0.0] * n
    for i, (t0, v) in enumerate(zip(times, values, strict=True)):
        t1 = min(times[i + 1] if i + 1 < len(times) else end, end)
        b = min(int(t0 // width), n - 1)
        while t0 < t1 and b < n:
            seg_end = min(t1, (b + 1) * width)
            lo[b], hi[b] = min(lo[b], v), max(hi[b], v)
            area[b] += (seg_end - t0) * v
            covered[b] += seg_end - t0
            t0, b = seg_end, b + 1
        if t1 <= t0 and b < n and lo[b] == float("inf") and t0 < end:
            lo[b] = hi[b] = v
    mean = [a / c if c > 0 else float("nan") for a, c in zip(area, covered, strict=True)]
    lo = [x if x != float("inf") else float("nan") for x in lo]
    hi = [x if x != float("-inf") else float("nan") for x in hi]
    return starts, lo, hi, mean


def time_plot(run: RunData, plot: dict[str, Any]) -> Picture | None:
    """The declared plot, or None when none of its series was recorded."""
    key = plot["key"]
    with _context(key):
        fig = Figure(figsize=(WIDTH_IN, 3.1), layout="constrained")
        ax = fig.add_subplot()
        ax2 = None
        drawn = 0
        for i, s in enumerate(plot["series"]):
            times, values, kind, _unit = run.series(s["scope"], s["metric"])
            if not times:
                continue
            target = ax
            if s.get("axis") == "right":
                if ax2 is None:
                    ax2 = ax.twinx()
                    ax2.grid(False)
                    ax2.spines["right"].set_visible(True)
                target = ax2
            color = COLORS[i % len(COLORS)]
            scale = s.get("scale", 1.0)
            values = [v * scale for v in values]
            style = s.get("style", "step")
            label = s["label"] + (" (right)" if target is ax2 else "")
            if kind == "level" and len(times) > MAX_POINTS:
                starts, lo, hi, mean = _reduce_level(times, values, run.end_s)
                xs = _dates(run, starts)
                target.fill_between(xs, lo, hi, step="post", color=color, alpha=0.25, lw=0)
                target.step(xs, mean, where="post", color=color, lw=1.1, label=label)
            elif kind == "level":
                xs = _dates(run, [*times, run.end_s])
                ys = [*values, values[-1]]
                if style == "line":
                    target.plot(xs, ys, color=color, lw=1.1, label=label)
                else:
                    target.step(xs, ys, where="post", color=color, lw=1.1, label=label)
            else:
                step = max(1, len(times) // MAX_POINTS)
                xs, ys = _dates(run, times[::step]), values[::step]
                if style == "line":
                    target.plot(xs, ys, color=color, lw=0.9, label=label)
                else:
                    target.plot(xs, ys, ".", color=color, ms=2.0, label=label)
            drawn += 1
        if not drawn:
            return None
        _time_axis(ax, run)
        _mark_actions(ax, run)
        ax.set_ylabel(plot.get("ylabel", ""))
        if ax2 is not None:
            ax2.set_ylabel(plot.get("y2label", ""))
        handles, labels = ax.get_legend_handles_labels()
        if ax2 is not None:
            h2, l2 = ax2.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)))
        svg = _render(fig, key)
    caption = " ".join(c for c in (plot.get("caption", ""), actions_caption(run)) if c)
    return Picture(key, plot["title"], caption, svg)


def health_strip(run: RunData, rows: list[HealthRow]) -> Picture | None:
    """One row per health series, coloured by state over time; None without rows."""
    if not rows:
        return None
    key = "health"
    with _context(key):
        height = 1.1 + 0.32 * len(rows)
        fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
        ax = fig.add_subplot()
        base = _dates(run, [0.0])[0]
        for i, row in enumerate(rows):
            y = len(rows) - 1 - i
            ax.broken_barh(
                [(base, run.end_s / 86400.0)], (y - 0.38, 0.76), facecolors="#eeeeee", lw=0
            )
            for code in (OK, DEGRADED, DOWN):
                spans = [
                    (base + t0 / 86400.0, (t1 - t0) / 86400.0)
                    for t0, t1, c in row.segments
                    if c == code
                ]
                if spans:
                    ax.broken_barh(spans, (y - 0.38, 0.76), facecolors=HEALTH_COLORS[code], lw=0)
        ax.set_yticks(range(len(rows)), [r.label for r in reversed(rows)])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.grid(False, axis="y")
        ax.tick_params(axis="y", length=0)
        _time_axis(ax, run)
        _mark_actions(ax, run)
        ax.set_axisbelow(True)
        legend = [Patch(color=HEALTH_COLORS[c], label=n) for c, n in ((0, "ok"), (1, "degraded"))]
        legend += [Patch(color=HEALTH_COLORS[DOWN], label="down")]
        legend += [Patch(color="#eeeeee", label="not recorded")]
        fig.legend(handles=legend, loc="outside lower center", ncols=4)
        svg = _render(fig, key)
    caption = " ".join(("Green ok, amber degraded, red down.", actions_caption(run))).strip()
    return Picture(key, "Health over time", caption, svg)


def _wrap(text: str, width: int, lines: int) -> list[str]:
    out = textwrap.wrap(text, width) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return out


def chain_picture(run: RunData, chain: Chain) -> Picture | None:
    """Boxes in time order (top to bottom), one column per phase, arrows for the links."""
    if not chain.nodes:
        return None
    key = "causal-chain"
    columns = list(PHASES) if chain.declared else ["sequence"]
    ncol = len(columns)
    n = len(chain.nodes)
    row_h = 0.82
    with _context(key):
        fig = Figure(figsize=(WIDTH_IN, 0.45 + row_h * n))
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        ax.set_xlim(0, ncol + 0.14)  # room on the right for arcs that skip boxes
        top = 0.75
        ax.set_ylim(-n + 0.05, top)
        width_chars = 34 if ncol == 3 else 100
        pos: dict[str, tuple[float, float]] = {}
        bw, bh = 0.94, 0.84
        for i, node in enumerate(chain.nodes):
            col = columns.index(node.phase) if chain.declared else 0
            cx, cy = col + 0.5, -i
            pos[node.key] = (cx, cy)
            phase = node.phase if chain.declared else "sustaining"
            box = FancyBboxPatch(
                (cx - bw / 2, cy - bh / 2),
                bw,
                bh,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=PHASE_COLORS[phase],
                edgecolor=PHASE_EDGES[phase],
                linewidth=1.6 if node.kind == "action" else 0.8,
                mutation_aspect=0.5,
            )
            ax.add_patch(box)
            when = f"{run.clock(node.t, seconds=True)} {run.zone}"
            if node.count > 1:
                when += f" · {node.count} times"
            kind = {"milestone": "milestone", "action": "operator action", "event": "event"}
            head = _wrap(node.title, width_chars, 1)[0]
            body = [f"{kind[node.kind]} · {when}", *_wrap(node.detail, width_chars + 8, 2)]
            ax.text(cx, cy + 0.24, head, ha="center", va="center", fontsize=7.8, weight="bold")
            ax.text(
                cx,
                cy - 0.12,
                "\n".join(b for b in body if b),
                ha="center",
                va="center",
                fontsize=6.6,
                color="#333333",
                linespacing=1.35,
            )
        for col, name in enumerate(columns):
            if chain.declared:
                ax.text(
                    col + 0.5,
                    top - 0.12,
                    name.capitalize(),
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    weight="bold",
                    color=PHASE_EDGES[name],
                )
        for e in chain.edges:
            (x0, y0), (x1, y1) = pos[e.cause], pos[e.effect]
            same_col = abs(x0 - x1) < 1e-9
            # arcs between boxes of one column skip the boxes in between on their right side,
            # bulging about 0.25 in whatever their length (rows are `row_h` inches apart)
            rows = abs(y0 - y1)
            rad = 0.0 if not same_col or rows <= 1 else -min(0.35, 0.25 / (rows * row_h))
            start = (x0, y0 - bh / 2) if same_col else (x0 + (bw / 2 if x1 > x0 else -bw / 2), y0)
            if y1 > y0:  # an effect placed above its cause (it happened earlier)
                start = (x0, y0 + bh / 2)
            end = (x1, y1 + bh / 2) if y1 < y0 else (x1, y1 - bh / 2)
            if same_col and abs(y0 - y1) > 1:
                side = bw / 2 * (1 if rad < 0 else -1)
                start, end = (x0 + side, y0), (x1 + side, y1)
            ax.add_patch(
                FancyArrowPatch(
                    start,
                    end,
                    arrowstyle="-|>",
                    mutation_scale=9,
                    color="#555555",
                    linewidth=0.9,
                    connectionstyle=f"arc3,rad={rad}",
                    shrinkA=1,
                    shrinkB=1,
                    zorder=0.5,
                )
            )
        svg = _render(fig, key)
    title = "Causal chain" if chain.declared else "Sequence of milestones and actions"
    return Picture(key, title, "", svg)
