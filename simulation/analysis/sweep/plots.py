"""A figure per varied parameter: how often each milestone happens, when (median with the p5-p95
band) and the impact figures, against that parameter's values (in the order given to --vary).

With several varied parameters, each figure has one line per combination of the others (up to
`MAX_LINES`; beyond that, runs are pooled over the others, and the title says so).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from .summary import RACE_MILESTONE, impact_names, milestone_names, spread
from .worker import IMPACT, MILESTONE, PARAM

MAX_LINES = 6
MAX_PANELS = 9


def plot_all(rows: pd.DataFrame, vary: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write `out/<key>.png` for each varied key; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    return [_plot(rows, v, vary, out) for v in vary]


def _panels(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(title, column, kind) per panel: the probabilities, then times, then impact."""
    panels: list[tuple[str, str, str]] = [("P(milestone happens)", "", "probability")]
    ms = sorted(milestone_names(rows), key=lambda m: (m != RACE_MILESTONE, m))
    for name in ms:
        if rows[f"{MILESTONE}{name}.s"].notna().any():
            panels.append((f"{name} (min from start)", f"{MILESTONE}{name}.s", "minutes"))
    for name in impact_names(rows):
        panels.append((name, IMPACT + name, "value"))
    return panels[:MAX_PANELS]


def _plot(rows: pd.DataFrame, v: dict[str, Any], vary: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib.pyplot as plt

    key, values = v["key"], list(v["values"])
    others = [o["key"] for o in vary if o["key"] != key]
    groups = [((), rows)]
    pooled = False
    if others:
        keyed = list(rows.groupby([PARAM + o for o in others], sort=False))
        if len(keyed) <= MAX_LINES:
            groups = [(k if isinstance(k, tuple) else (k,), g) for k, g in keyed]
        else:
            pooled = True
    panels = _panels(rows)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    x = list(range(len(values)))
    for ax, (title, column, kind) in zip(axes.flat, panels, strict=False):
        for other, group in groups:
            label = ", ".join(f"{o}={val}" for o, val in zip(others, other, strict=True))
            by_value = [group[group[PARAM + key] == val] for val in values]
            if kind == "probability":
                for name in milestone_names(rows):
                    col = f"{MILESTONE}{name}.s"
                    p = [g[col].notna().mean() if len(g) else math.nan for g in by_value]
                    tag = f"{name} ({label})" if label else name
                    ax.plot(x, p, marker="o", label=tag, lw=2.2 if name == RACE_MILESTONE else 1.2)
                ax.set_ylim(-0.03, 1.03)
                continue
            scale = 60.0 if kind == "minutes" else 1.0
            stats = [spread(g[column] / scale) for g in by_value]
            med = [s["median"] for s in stats]
            lo = [s["p5"] for s in stats]
            hi = [s["p95"] for s in stats]
            line = ax.plot(x, med, marker="o", label=label or "median")[0]
            ax.fill_between(x, lo, hi, alpha=0.2, color=line.get_color(), lw=0)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x, values, rotation=30 if max(len(s) for s in values) > 6 else 0)
        ax.set_xlabel(key, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if kind == "probability" or (groups[0][0] and kind == "minutes"):
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    note = f" (pooled over {', '.join(others)})" if pooled else ""
    fig.suptitle(f"against {key}{note}: median, band p5-p95", fontsize=10)
    fig.tight_layout()
    path = out / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}.png"
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path
