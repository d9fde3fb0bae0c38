"""The debrief: the trainee's drill against the historical run and against counterfactuals.

- Customer impact: the drill section's impact figures (`impact.py`), for the trainee's run, the
  historical run (the same scenario with its own operator actions, same seed) and the run in
  which nobody acts.
- Time to detect: the first investigation at or after the first alert. Time to diagnose: the
  first investigation (or action) that touches the root cause's component (`drill.root_cause`,
  else the component of the first detected milestone). Time to mitigate: the customer impact
  accumulated over time stops growing at some instant; the mitigating action is the last action
  before it that helped (or the last action before it, when no counterfactual was run). All are
  measured from the first alert (or, without alerts, from the start of customer impact).
- Helped or hurt: each of the trainee's actions (up to a bound) is removed and the drill re-run
  with the rest at the same times and seed; the impact without it minus the impact with it is
  what it saved (> 0 helped, < 0 hurt).

Everything here is sim data: the same drill gives the same `debrief.md` / `debrief.json` bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulation.core.clock import ScenarioClock
from simulation.core.units import format_duration
from simulation.runner import RunResult, simulate

from .impact import curve, matching, stopped_growing

if TYPE_CHECKING:
    from simulation.scenario.load import LoadedScenario

    from .engine import Engine

ACTIONS = "act"


@dataclass
class Replay:
    """A counterfactual: the drill re-run with these commands (sim seconds, text)."""

    label: str
    commands: list[tuple[float, str]]
    impact: float = 0.0
    figures: dict[str, float] | None = None


def replay(loaded: LoadedScenario, seed: int, commands: list[tuple[float, str]]) -> RunResult:
    """Run the drilled scenario headless with `commands` at their times, to the end."""
    from .engine import Engine

    engine = Engine(loaded, seed)
    for t, text in commands:
        engine.advance_to(t)
        reply = engine.execute(text)
        if reply.error:
            raise RuntimeError(f"replaying {text!r} at {t}: {reply.body}")
    return engine.finish()


def _eps(a: float, b: float) -> float:
    return max(0.05, 1e-3 * max(abs(a), abs(b)))


def _grid(end: float) -> list[float]:
    spacing = max(60.0, end / 300)
    n = int(end // spacing)
    return [k * spacing for k in range(1, n + 1)] + ([end] if n * spacing < end else [])


def build_debrief(
    engine: Engine,
    result: RunResult,
    historical_loaded: LoadedScenario,
    *,
    counterfactuals: int = 6,
    keep_operators: bool = False,
) -> dict[str, Any]:
    """Every figure of the debrief, as plain data (see module docstring)."""
    loaded, seed, cfg = engine.loaded, result.seed, engine.config
    clock = ScenarioClock(loaded.model.start)
    patterns = list(cfg.impact)
    iso = clock.iso

    def rel(t: float | None, origin: float | None) -> str | None:
        if t is None or origin is None:
            return None
        return format_duration(max(0.0, t - origin))

    yours = matching(result.impact, patterns)
    you_total = round(sum(yours.values()), 6)
    historical = simulate(historical_loaded, seed=seed)
    hist_fig = matching(historical.impact, patterns)
    hist_total = round(sum(hist_fig.values()), 6)

    actions = [(t.at, t.text) for t in engine.typed if t.kind == ACTIONS]
    nobody = replay(loaded, seed, [])
    nobody_fig = matching(nobody.impact, patterns)
    nobody_total = round(sum(nobody_fig.values()), 6)

    # helped or hurt, bounded: the first `counterfactuals` actions
    judged: list[dict[str, Any]] = []
    for i, (t, text) in enumerate(actions):
        row: dict[str, Any] = {"time": iso(t), "command": text}
        if i < counterfactuals:
            rest = actions[:i] + actions[i + 1 :]
            without = matching(replay(loaded, seed, rest).impact, patterns)
            w_total = round(sum(without.values()), 6)
            saved = round(w_total - you_total, 6)
            eps = _eps(w_total, you_total)
            row.update(
                impact_without=w_total,
                saved=saved,
                effect="helped" if saved > eps else "hurt" if saved < -eps else "no effect",
            )
        else:
            row.update(impact_without=None, saved=None, effect="not judged (bound)")
        judged.append(row)

    # detect, diagnose, mitigate
    end = float(result.end)
    times = _grid(end)
    your_curve = curve(engine.root, patterns, times)
    hist_curve = curve(historical.root, patterns, times)
    alerts = [e[0] for e in engine.env.recorder.events if e[2] == "alert" and e[0] <= end]
    impact_start = next((t for t, v in zip(times, your_curve, strict=True) if v > 0), None)
    origin = alerts[0] if alerts else impact_start
    investigations = [t for t in engine.typed if t.kind == "investigate"]
    detected = next((t.at for t in investigations if origin is not None and t.at >= origin), None)
    cause = root_cause(engine, result)
    diagnosed = next(
        (
            t.at
            for t in engine.typed
            if cause is not None and any(s == cause or s.startswith(cause + ".") for s in t.touched)
        ),
        None,
    )
    your_stop = stopped_growing(times, your_curve, _eps(you_total, 0))
    hist_stop = stopped_growing(times, hist_curve, _eps(hist_total, 0))
    mitigating = None
    if your_stop is not None:
        before = [r for r, (t, _) in zip(judged, actions, strict=True) if t <= your_stop]
        # the last that helped, or that was not judged (beyond the bound): it may have
        candidates = [r for r in before if r["effect"] == "helped" or r["saved"] is None]
        mitigating = candidates[-1] if candidates else None
    mitigated_at = None
    if mitigating is not None:
        mitigated_at = next(t for t, text in actions if iso(t) == mitigating["time"])
    hist_actions = historical.operator_actions
    hist_mitigation = None
    if hist_stop is not None:
        hist_times = [loaded.instant(a["time"]) for a in hist_actions]
        earlier = [(t, a) for t, a in zip(hist_times, hist_actions, strict=True) if t <= hist_stop]
        hist_mitigation = earlier[-1] if earlier else None
    hist_alerts = [e[0] for e in historical.env.recorder.events if e[2] == "alert"]
    hist_origin = hist_alerts[0] if hist_alerts else origin
    published = cfg.historical

    def instant(text: str | None) -> float | None:
        return None if text is None else loaded.instant(text)

    score = {
        "impact": {
            "patterns": patterns,
            "you": you_total,
            "historical": hist_total,
            "nobody_acting": nobody_total,
            "ratio_to_historical": round(you_total / hist_total, 4) if hist_total else None,
        },
        "first_alert": None if not alerts else iso(alerts[0]),
        "impact_start": None if impact_start is None else iso(impact_start),
        "root_cause": cause,
        "you": {
            "detected": None if detected is None else iso(detected),
            "time_to_detect": rel(detected, origin),
            "diagnosed": None if diagnosed is None else iso(diagnosed),
            "time_to_diagnose": rel(diagnosed, origin),
            "mitigating_action": None if mitigating is None else mitigating["command"],
            "mitigated": None if mitigated_at is None else iso(mitigated_at),
            "time_to_mitigate": rel(mitigated_at, origin),
            "impact_stopped_growing": None if your_stop is None else iso(your_stop),
        },
        "historical": {
            "detected": published.detected,
            "time_to_detect": rel(instant(published.detected), hist_origin),
            "diagnosed": published.diagnosed,
            "time_to_diagnose": rel(instant(published.diagnosed), hist_origin),
            "mitigating_action": None if hist_mitigation is None else hist_mitigation[1]["name"],
            "mitigated": None if hist_mitigation is None else hist_mitigation[1]["time"],
            "time_to_mitigate": None
            if hist_mitigation is None
            else rel(hist_mitigation[0], hist_origin),
            "impact_stopped_growing": None if hist_stop is None else iso(hist_stop),
        },
    }
    figures = [
        {
            "figure": k,
            "you": yours.get(k),
            "historical": hist_fig.get(k),
            "nobody_acting": nobody_fig.get(k),
        }
        for k in sorted(set(yours) | set(hist_fig) | set(nobody_fig))
    ]
    milestones = [
        {
            "milestone": name,
            "you": None if result.milestones.get(name) is None else iso(result.milestones[name]),
            "historical": None
            if historical.milestones.get(name) is None
            else iso(historical.milestones[name]),
        }
        for name in sorted(set(result.milestones) | set(historical.milestones))
    ]
    milestones.sort(key=lambda m: (m["you"] or m["historical"] or "~", m["milestone"]))
    return {
        "scenario": loaded.model.title,
        "seed": seed,
        "hints": cfg.difficulty if engine.drill is not None else "none",
        "scenario_operators": "kept (other teams)" if keep_operators else "off",
        "score": score,
        "figures": figures,
        "actions": judged,
        "counterfactual_bound": counterfactuals,
        "timeline": timeline(engine, result, historical, end),
        "milestones": milestones,
    }


def root_cause(engine: Engine, result: RunResult) -> str | None:
    if engine.config.root_cause is not None:
        return engine.config.root_cause
    happened = sorted((t, n) for n, t in result.milestones.items() if t is not None)
    if not happened:
        return None
    return engine.prep.detectors[happened[0][1]][0].scope


def timeline(engine: Engine, result: RunResult, historical: RunResult, end: float) -> list[dict]:
    """Rows {time, you, historical}: your alerts, hints and commands; what operators did then."""
    clock = engine.env.clock
    rows: list[tuple[float, int, str, str]] = []
    for t, _, kind, detail in engine.env.recorder.events:
        if t > end:
            continue
        if kind == "alert":
            rows.append((t, 0, "you", f"ALERT {detail.split(':')[0]}"))
        elif kind == "hint":
            rows.append((t, 1, "you", f"hint {detail[:60]}"))
    for typed in engine.typed:
        rows.append((typed.at, 2, "you", f"`{typed.text}`"))
    for a in historical.operator_actions:
        t = engine.loaded.instant(a["time"])
        rows.append((t, 3, "historical", f"{a['name']} ({a['action']} on {a['target']})"))
    published = engine.config.historical
    for label, when in (("detected", published.detected), ("diagnosed", published.diagnosed)):
        if when is not None:
            rows.append((engine.loaded.instant(when), 3, "historical", f"{label} (published)"))
    rows.sort(key=lambda r: (r[0], r[1]))
    out = []
    for t, _, who, text in rows:
        out.append(
            {
                "time": clock.iso(t),
                "you": text if who == "you" else "",
                "historical": text if who == "historical" else "",
            }
        )
    return out


# -- markdown ----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return [*out, ""]


def verdict(score: dict[str, Any]) -> str:
    imp = score["impact"]
    you, hist = imp["you"], imp["historical"]
    if not hist:
        return f"Customer impact {you:g} (the historical run had none)."
    change = (you - hist) / hist
    if abs(change) < 0.01:
        return f"Customer impact {you:g}: the same as the historical run ({hist:g})."
    word = "less" if change < 0 else "more"
    return (
        f"Customer impact {you:g}: {abs(change):.0%} {word} than the historical run ({hist:g}); "
        f"{imp['nobody_acting']:g} if nobody had acted."
    )


def markdown(d: dict[str, Any]) -> str:
    s = d["score"]
    you, hist = s["you"], s["historical"]
    lines = [
        f"# Debrief: {d['scenario']}",
        "",
        f"- Seed {d['seed']}; hints: {d['hints']}; the scenario's own operator actions: "
        f"{d['scenario_operators']}.",
        f"- First alert: {_cell(s['first_alert'])}; customer impact began: "
        f"{_cell(s['impact_start'])}; root cause: `{_cell(s['root_cause'])}`.",
        f"- {verdict(s)}",
        "",
        "## Score",
        "",
        "Times are counted from the first alert.",
        "",
    ]
    lines += _table(
        ["", "you", "historical"],
        [
            ["customer impact", s["impact"]["you"], s["impact"]["historical"]],
            ["detected", you["detected"], hist["detected"]],
            ["time to detect", you["time_to_detect"], hist["time_to_detect"]],
            ["diagnosed", you["diagnosed"], hist["diagnosed"]],
            ["time to diagnose", you["time_to_diagnose"], hist["time_to_diagnose"]],
            ["mitigating action", you["mitigating_action"], hist["mitigating_action"]],
            ["time to mitigate", you["time_to_mitigate"], hist["time_to_mitigate"]],
            [
                "impact stopped growing",
                you["impact_stopped_growing"],
                hist["impact_stopped_growing"],
            ],
        ],
    )
    lines += ["## Customer impact by figure", ""]
    lines += [f"Counted: {', '.join(f'`{p}`' for p in s['impact']['patterns'])}.", ""]
    lines += _table(
        ["figure", "you", "historical", "nobody acting"],
        [[f["figure"], f["you"], f["historical"], f["nobody_acting"]] for f in d["figures"]],
    )
    lines += [
        "## Your actions: helped or hurt",
        "",
        "Each action removed in turn, the rest replayed at the same times and seed "
        f"(at most {d['counterfactual_bound']} judged).",
        "",
    ]
    lines += _table(
        ["time", "command", "impact without it", "saved", "effect"],
        [
            [a["time"], f"`{a['command']}`", a["impact_without"], a["saved"], a["effect"]]
            for a in d["actions"]
        ],
    )
    lines += ["## Timeline: yours and the historical one", ""]
    lines += _table(
        ["time", "you", "historical"],
        [[r["time"], r["you"], r["historical"]] for r in d["timeline"]],
    )
    lines += ["## Milestones", ""]
    lines += _table(
        ["milestone", "you", "historical run"],
        [[m["milestone"], m["you"], m["historical"]] for m in d["milestones"]],
    )
    return "\n".join(lines)


def as_json(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=2, ensure_ascii=False) + "\n"
