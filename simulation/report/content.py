"""What the report says, as plain data (tables as pandas frames, text, pictures), built from a run
directory. The templates only lay it out, so the Markdown and the HTML say the same things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from .chain import Chain, build_chain, humanize
from .comparison import comparison_section
from .data import RunData, fmt_duration
from .health import DOWN, STATE_NAMES, HealthRow, health_rows
from .plots import Picture, chain_picture, health_strip, time_plot
from .table import Table, fmt_cell


@dataclass
class Report:
    run: RunData
    header: dict[str, Any]
    summary: list[tuple[str, str]]
    health: Picture | None
    impact: Table
    windows: Table
    timeline: Table
    reference: dict[str, Any] | None
    chain: Chain
    chain_picture: Picture | None
    mechanisms: Table
    plots: list[Picture]
    empty_plots: list[str]
    expectations: Table
    factors: Table
    action_items: list[str]
    comparison: dict[str, Any] | None
    scenario_yaml: str
    provenance: list[tuple[str, str]]
    pictures: list[Picture] = field(default_factory=list)
    """Every picture, for the files written beside report.md."""


# -- sections ----------------------------------------------------------------------------------


def _header(run: RunData) -> dict[str, Any]:
    s = run.summary
    return {
        "title": s["scenario"],
        "description": run.scenario.get("description", ""),
        "status": s["status"],
        "failure": s.get("failure"),
        "seed": s["seed"],
        "file": s.get("file", ""),
        "version": run.provenance.get("version", "?"),
        "start_local": run.local(0.0),
        "end_local": run.local(run.end_s),
        "start_utc": run.utc(0.0),
        "end_utc": run.utc(run.end_s),
        "zone": run.zone,
        "duration": fmt_duration(run.end_s),
        "planned_end": s.get("planned_end"),
    }


def _impact(run: RunData) -> Table:
    """One row per subsystem or service, its figures as columns (numbers only; windows apart)."""
    records = {}
    for name, figures in run.summary.get("impact", {}).items():
        if isinstance(figures, dict) and all(isinstance(v, dict) for v in figures.values()):
            for sub, inner in figures.items():  # e.g. services: {sts: {...}, lambda: {...}}
                records[f"{name}.{sub}"] = inner
        else:
            records[name] = figures if isinstance(figures, dict) else {"value": figures}
    if not records:
        return Table([], [])
    keysets = {tuple(k for k, v in r.items() if not _is_listy(v)) for r in records.values()}
    if len(keysets) == 1 and len(next(iter(keysets))) <= 6:  # alike: one row per subsystem
        frame = pd.DataFrame.from_dict(records, orient="index")
        frame = frame[[c for c in frame.columns if not frame[c].map(_is_listy).any()]]
        frame.columns = [humanize(str(c)) for c in frame.columns]
        frame.insert(0, "subsystem", frame.index)
        return Table.of(frame.reset_index(drop=True))
    rows = [  # different figures per subsystem: one row per figure
        {"subsystem": name, "figure": humanize(str(k)), "value": v}
        for name, figures in records.items()
        for k, v in figures.items()
        if not _is_listy(v)
    ]
    return Table.of(pd.DataFrame(rows, columns=["subsystem", "figure", "value"]))


def _is_listy(v: Any) -> bool:
    return isinstance(v, list | tuple | dict)


FLAP_GAP_S = 900.0
"""Windows not ok less than this apart are shown as one on-and-off stretch."""


def _windows_text(run: RunData, windows: list[tuple[float, float, int]]) -> str:
    """Each window not ok, except that windows less than FLAP_GAP_S apart are summarised as one
    stretch (its worst state and how many windows): a flapping row stays one line."""
    if not windows:
        return "none"
    groups: list[list[tuple[float, float, int]]] = []
    for w in windows:
        if groups and w[0] - groups[-1][-1][1] < FLAP_GAP_S:
            groups[-1].append(w)
        else:
            groups.append([w])
    parts = []
    for g in groups:
        t0, t1 = g[0][0], g[-1][1]
        worst = max(code for _a, _b, code in g)
        until = "end of run" if t1 >= run.end_s else run.clock(t1)
        state = STATE_NAMES[worst]
        if len(g) > 1:
            state += f", on and off: {len(g)} windows"
        parts.append(f"{run.clock(t0)}-{until} ({state})")
    return "; ".join(parts)


def _health_table(run: RunData, rows: list[HealthRow]) -> Table:
    frame = pd.DataFrame(
        [
            {
                "row": r.label,
                f"windows not ok ({run.zone})": _windows_text(run, r.windows()),
                "degraded": fmt_duration(r.time_in(1)),
                "down": fmt_duration(r.time_in(DOWN)),
                "at the end": "-" if r.final is None else STATE_NAMES[r.final],
            }
            for r in rows
        ]
    )
    return Table.of(frame) if not frame.empty else Table([], [])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _timeline(run: RunData, chain: Chain) -> Table:
    """Milestones, operator actions and the chain's events, in time order."""
    rank = {n.key: i for i, n in enumerate(chain.nodes)}  # causal order of simultaneous rows
    late = len(rank)
    rows = [
        (t, rank.get(f"milestone:{k}", late), "milestone", humanize(k), k)
        for k, t in run.milestones.items()
        if t is not None
    ]
    for a in run.actions:
        r = min(rank.get(f"action:{a['name']}", late), rank.get(f"action:{a['action']}", late))
        note = a.get("note") or f"{a['action']} on {a['target']}"
        rows.append((a["t"], r, "operator action", a["name"], note))
    rows += [
        (
            n.t,
            rank[n.key],
            "event",
            n.title,
            _clip(n.detail, 160) + (f" ({n.count} times)" if n.count > 1 else ""),
        )
        for n in chain.nodes
        if n.kind == "event"
    ]
    rows.sort(key=lambda r: (r[0], r[1], r[3]))
    frame = pd.DataFrame(
        [
            {
                run.zone: run.local(t),
                "UTC": run.utc(t),
                "elapsed": run.elapsed(t),
                "kind": kind,
                "what": what,
                "detail": detail,
            }
            for t, _, kind, what, detail in rows
        ],
        columns=[run.zone, "UTC", "elapsed", "kind", "what", "detail"],
    )
    return Table.of(frame)


def _reference(run: RunData) -> dict[str, Any] | None:
    rows, problem = run.reference
    if problem is not None:
        return {"problem": problem}
    if rows is None:
        return None
    out, outside = [], []
    for r in sorted(rows, key=lambda r: r.time):
        published = run.seconds(r.time)
        if r.role == "outcome":
            if r.milestone not in run.milestones:
                outside.append(r.milestone)
                continue
            t = run.milestones[r.milestone]
            modelled = "did not happen" if t is None else run.local(t)
        else:
            found = next((a for a in run.actions if r.milestone in (a["name"], a["action"])), None)
            if found is None:
                outside.append(r.milestone)
                continue
            t = found["t"]
            modelled = run.local(t)
        out.append(
            {
                f"published ({run.zone})": run.local(published, seconds=False),
                "published (UTC)": run.utc(published, seconds=False)[11:],
                "role": "outcome" if r.role == "outcome" else "operator action (input)",
                "milestone": r.milestone,
                "published event": r.event,
                f"modelled ({run.zone})": modelled,
                "delta": "-" if t is None else fmt_duration(t - published, signed=True),
            }
        )
    return {
        "table": Table.of(pd.DataFrame(out)) if out else Table([], []),
        "outside": outside,
        "problem": None,
    }


def _expected(run: RunData, e: dict[str, Any]) -> tuple[str, str]:
    """(expected, tolerance) as text."""
    exp = e.get("expected")
    if isinstance(exp, dict):
        parts = []
        if "value" in exp:
            return fmt_cell(exp["value"]), "± " + fmt_cell(exp.get("tolerance"))
        if "min" in exp:
            parts.append(f"≥ {fmt_cell(exp['min'])}")
        if "max" in exp:
            parts.append(f"≤ {fmt_cell(exp['max'])}")
        return " and ".join(parts) or "-", "-"
    if "tolerance_s" in e:
        return _when(run, exp), "± " + fmt_duration(e["tolerance_s"])
    return fmt_cell(exp), "-"


def _when(run: RunData, value: Any) -> str:
    """An ISO time from the summary in the report's local format (other values as they are)."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
        try:
            return run.local(run.seconds(value))
        except ValueError:
            return value
    return fmt_cell(value)


def _expectations(run: RunData) -> Table:
    rows = []
    for e in run.summary.get("expectations", []):
        expected, tol = _expected(run, e)
        what = f"milestone {e['milestone']}" if "milestone" in e else f"statistic {e['statistic']}"
        delta = fmt_duration(e["delta_s"], signed=True) if e.get("delta_s") is not None else "-"
        rows.append(
            {
                "expectation": e["name"],
                "checks": what,
                "expected": expected,
                "tolerance": tol,
                "actual": _when(run, e.get("actual"))
                + (f" ({e['problem']})" if e.get("problem") else ""),
                "delta": delta,
                "result": "ok" if e["ok"] else "deviated",
            }
        )
    cols = ["expectation", "checks", "expected", "tolerance", "actual", "delta", "result"]
    return Table.of(pd.DataFrame(rows, columns=cols), status_column="result")


def _factors(run: RunData) -> tuple[Table, list[str]]:
    seen, rows, items = set(), [], []
    for s in run.views.get("switches", []):
        ident = (s["name"], s["on"], s.get("config_key", ""))
        if ident in seen:
            continue
        seen.add(ident)
        rows.append(
            {
                "design switch": s["name"],
                "in this run": "on" if s["on"] else "off",
                "scenario key": s.get("config_key") or "-",
                "factor": "mitigated (fix in place)" if s["on"] else "contributing (fix absent)",
            }
        )
        if not s["on"]:
            items.append(f"{s['action_item']} ({s['name']}: off)")
    cols = ["design switch", "in this run", "scenario key", "factor"]
    return Table.of(pd.DataFrame(rows, columns=cols)), items


def _summary(run: RunData, chain: Chain, rows: list[HealthRow]) -> list[tuple[str, str]]:
    """Short generated paragraphs: trigger, cascade, impact, end, expectations."""

    def at(n: Any) -> str:
        return f"{n.title} at {run.clock(n.t, seconds=True)} {run.zone}"

    out: list[tuple[str, str]] = []
    triggers = chain.of_phase("trigger")
    if triggers:
        first = triggers[0]
        text = at(first) + (f": {first.detail}" if first.detail else "")
        text += "".join(f"; {at(n)}" for n in triggers[1:])
        out.append(("Trigger", text + "."))
    elif chain.nodes:
        out.append(("Trigger", f"first milestone {at(chain.nodes[0])}."))
    else:
        out.append(("Trigger", "no milestone was detected and no causal event happened."))
    cascade = chain.of_phase("sustaining")
    if cascade:
        out.append(("What cascaded", "; ".join(at(n) for n in cascade) + "."))
    elif chain.declared and triggers:
        out.append(("What cascaded", "nothing: no effect of the trigger was detected."))
    figures = []
    for name, values in run.summary.get("impact", {}).items():
        if isinstance(values, dict):
            nums = [
                f"{humanize(k).lower()} {fmt_cell(v)}"
                for k, v in values.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            if nums:
                figures.append(f"{name}: " + ", ".join(nums[:4]))
    hit = [r for r in rows if r.windows()]
    if hit:
        figures.append(
            "Time not ok: "
            + "; ".join(f"{r.label} {fmt_duration(r.time_in(1) + r.time_in(DOWN))}" for r in hit)
        )
    out.append(("Impact", (". ".join(figures) + ".") if figures else "none recorded."))
    recovery = chain.of_phase("recovery")
    end = "; ".join(at(n) for n in recovery) if recovery else "no recovery action or milestone"
    still = [r.label for r in rows if r.final is not None and r.final > 0]
    if still:
        end += f". At the end of the run ({run.clock(run.end_s)}) still not ok: " + ", ".join(still)
    elif rows:
        end += f". Every health row was ok at the end of the run ({run.clock(run.end_s)})"
    out.append(("How it ended", end + "."))
    exps = run.summary.get("expectations", [])
    if exps:
        bad = [e["name"] for e in exps if not e["ok"]]
        text = f"{len(exps) - len(bad)} of {len(exps)} ok"
        out.append(("Expectations", text + (f"; deviated: {', '.join(bad)}." if bad else ".")))
    return out


def _provenance(run: RunData) -> list[tuple[str, str]]:
    p = run.provenance
    rows = [
        ("package", f"{p.get('package', 'outage-sim')} {p.get('version', '?')}"),
        ("python", str(p.get("python", "?"))),
        ("platform", str(p.get("platform", "?"))),
        ("scenario files", ", ".join(p.get("scenario_files", [])) or "-"),
        ("seed", str(p.get("seed", run.summary.get("seed")))),
    ]
    if (run.run_dir / "reference_timeline.csv").is_file():
        rows.append(("reference timeline", "reference_timeline.csv (copied into the run)"))
    return rows


def build_report(run: RunData) -> Report:
    chain = build_chain(run)
    rows = health_rows(run)
    health = health_strip(run, rows)
    plots, empty = [], []
    for plot in run.views.get("plots", []):
        if plot.get("kind", "time") != "time":
            continue
        pic = time_plot(run, plot)
        if pic is None:
            empty.append(plot["title"])
        else:
            plots.append(pic)
    picture = chain_picture(run, chain)
    mech = pd.DataFrame(
        [
            {
                "cause": _node_title(chain, e.cause),
                "effect": _node_title(chain, e.effect),
                "mechanism": e.mechanism or "-",
            }
            for e in chain.edges
        ]
        if chain.declared
        else [],
        columns=["cause", "effect", "mechanism"],
    )
    factors, items = _factors(run)
    scenario_yaml = yaml.safe_dump(
        run.scenario, sort_keys=False, allow_unicode=True, width=96, default_flow_style=False
    )
    pictures = [p for p in (health, picture, *plots) if p is not None]
    return Report(
        run=run,
        header=_header(run),
        summary=_summary(run, chain, rows),
        health=health,
        impact=_impact(run),
        windows=_health_table(run, rows),
        timeline=_timeline(run, chain),
        reference=_reference(run),
        chain=chain,
        chain_picture=picture,
        mechanisms=Table.of(mech),
        plots=plots,
        empty_plots=empty,
        expectations=_expectations(run),
        factors=factors,
        action_items=items,
        comparison=comparison_section(run),
        scenario_yaml=scenario_yaml,
        provenance=_provenance(run),
        pictures=pictures,
    )


def _node_title(chain: Chain, key: str) -> str:
    for n in chain.nodes:
        if n.key == key:
            return n.title
    return key
