"""Incident reports, the postmortem a team would write, generated from a run directory.

`write_report(run_dir)` writes `report.md` (with its pictures in `plots/*.svg` beside it) and
`report.html` (one self-contained file, pictures inline). Everything is read from the run's files,
so `outage-sim report DIR` rebuilds a report without re-running, and the same run directory gives
the same bytes. The report knows no subsystem: it draws what views.json declares (plots, health
rows, design switches, causal links) from metrics.parquet and timeline.csv.

Sections: header and generated summary; health strip chart and windows; impact; timeline (and
the published timeline beside it when the scenario has `reference_timeline`); causal chain;
plots; expectations; contributing factors and action items (from design switches); comparison
with the base scenario for a variant; appendix (scenario as run, provenance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .data import RunData, load_run

__all__ = ["PLOTS_DIR", "RunData", "load_run", "render_html", "render_markdown", "write_report"]

PLOTS_DIR = "plots"


def _context(report: Any) -> dict[str, Any]:
    from markupsafe import Markup

    from .render import css

    return {
        "h": report.header,
        "summary": report.summary,
        "health": report.health,
        "windows": report.windows,
        "impact": report.impact,
        "timeline": report.timeline,
        "reference": report.reference,
        "chain": report.chain,
        "chain_picture": report.chain_picture,
        "mechanisms": report.mechanisms,
        "plots": report.plots,
        "empty_plots": report.empty_plots,
        "expectations": report.expectations,
        "factors": report.factors,
        "action_items": report.action_items,
        "comparison": report.comparison,
        "scenario_yaml": report.scenario_yaml,
        "provenance": report.provenance,
        "css": Markup(css()),
    }


def build(run_dir: Path) -> tuple[str, str, dict[str, str]]:
    """(markdown, html, {svg file name: svg}) of the run in `run_dir`."""
    from .content import build_report
    from .render import render

    report = build_report(load_run(run_dir))
    ctx = _context(report)
    files = {f"{p.key}.svg": p.svg for p in report.pictures}
    return render("md", ctx), render("html", ctx), files


def render_markdown(run_dir: Path) -> str:
    return build(run_dir)[0]


def render_html(run_dir: Path) -> str:
    return build(run_dir)[1]


def write_report(run_dir: Path) -> list[Path]:
    """Write report.md, plots/*.svg and report.html into `run_dir` (each file atomically);
    pictures of an earlier report that this one no longer has are removed."""
    from ..core.files import atomic_write_text

    markdown, page, files = build(run_dir)
    plots = run_dir / PLOTS_DIR
    written = []
    if files:
        plots.mkdir(exist_ok=True)
    if plots.is_dir():
        for old in plots.glob("*.svg"):
            if old.name not in files:
                old.unlink()
    for name, svg in sorted(files.items()):
        atomic_write_text(plots / name, svg)
        written.append(plots / name)
    for name, text in (("report.md", markdown), ("report.html", page)):
        atomic_write_text(run_dir / name, text)
        written.append(run_dir / name)
    return written
