"""Per grid point: the distribution of each milestone and impact figure, and how often each
milestone happens (for the DNS race lab, `dns_record_empty`: the probability the race fires).

Milestones are summarised over the runs in which they happened (seconds from the start: median,
p5, p95, numpy's linear quantiles) beside the share of runs in which they happened, with a 95%
Wilson interval; impact figures over every run that has them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from .worker import EXPECT, IMPACT, MILESTONE, PARAM

RACE_MILESTONE = "dns_record_empty"
"""The DynamoDB DNS race fired in a run when the regional record went empty."""


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sound at 0 and n hits)."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def spread(values: pd.Series) -> dict[str, float]:
    """median, p5, p95 of the non-missing values (NaN when none)."""
    v = values.dropna().to_numpy(dtype="float64")
    if v.size == 0:
        return {"median": math.nan, "p5": math.nan, "p95": math.nan, "n": 0}
    p5, median, p95 = np.percentile(v, [5, 50, 95])
    return {"median": float(median), "p5": float(p5), "p95": float(p95), "n": int(v.size)}


def milestone_names(rows: pd.DataFrame) -> list[str]:
    return [
        c[len(MILESTONE) : -2] for c in rows.columns if c.startswith(MILESTONE) and c.endswith(".s")
    ]


def impact_names(rows: pd.DataFrame) -> list[str]:
    return [
        c[len(IMPACT) :]
        for c in rows.columns
        if c.startswith(IMPACT) and pd.api.types.is_float_dtype(rows[c])
    ]


def summarise(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per grid point (in point order), as plain data."""
    params = [c for c in rows.columns if c.startswith(PARAM)]
    milestones = milestone_names(rows)
    impacts = impact_names(rows)
    expects = [c for c in rows.columns if c.startswith(EXPECT)]
    out = []
    for point, group in rows.groupby("point", sort=True):
        n = len(group)
        first = group.iloc[0]
        entry: dict[str, Any] = {
            "point": int(point),
            "params": {c[len(PARAM) :]: str(first[c]) for c in params},
            "runs": n,
            "seeds": [int(group["seed"].min()), int(group["seed"].max())],
            "status": {s: int((group["status"] == s).sum()) for s in ("ok", "deviated", "failed")},
        }
        ms: dict[str, Any] = {}
        for name in milestones:
            times = group[f"{MILESTONE}{name}.s"]
            hits = int(times.notna().sum())
            lo, hi = wilson(hits, n)
            ms[name] = {"probability": hits / n, "ci95": [lo, hi], **_suffix(spread(times), "_s")}
        entry["milestones"] = ms
        if RACE_MILESTONE in ms:
            race = ms[RACE_MILESTONE]
            entry["race_probability"] = {"p": race["probability"], "ci95": race["ci95"]}
        entry["impact"] = {name: spread(group[IMPACT + name]) for name in impacts}
        entry["expectations"] = {
            c[len(EXPECT) : -3]: float(group[c].fillna(False).astype(bool).mean()) for c in expects
        }
        out.append(entry)
    return out


def _suffix(d: dict[str, float], suffix: str) -> dict[str, float]:
    return {(k if k == "n" else k + suffix): v for k, v in d.items()}


def table(summary: list[dict[str, Any]]) -> pd.DataFrame:
    """The summary as one wide row per point (for summary.csv)."""
    records = []
    for e in summary:
        rec: dict[str, Any] = {"point": e["point"]}
        rec.update({PARAM + k: v for k, v in e["params"].items()})
        rec.update({"runs": e["runs"], **{f"status.{k}": v for k, v in e["status"].items()}})
        if "race_probability" in e:
            r = e["race_probability"]
            rec.update(
                {
                    "race_probability": r["p"],
                    "race_ci95_lo": r["ci95"][0],
                    "race_ci95_hi": r["ci95"][1],
                }
            )
        for name, m in e["milestones"].items():
            rec[f"{MILESTONE}{name}.probability"] = m["probability"]
            for q in ("median_s", "p5_s", "p95_s"):
                rec[f"{MILESTONE}{name}.{q}"] = m[q]
        for name, s in e["impact"].items():
            for q in ("median", "p5", "p95"):
                rec[f"{IMPACT}{name}.{q}"] = s[q]
        rec.update({f"{EXPECT}{k}.share_ok": v for k, v in e["expectations"].items()})
        records.append(rec)
    return pd.DataFrame(records)


def to_json(summary: list[dict[str, Any]]) -> str:
    return json.dumps(_clean(summary), indent=2, ensure_ascii=False) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def markdown(summary: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """A readable account: per point, the race probability, milestone times and impact."""
    lines = [f"# Sweep: {header['title']}", ""]
    lines.append(f"- scenario: `{header['scenario']}`")
    for s in header["set"]:
        lines.append(f"- `--set {s}`")
    for v in header["vary"]:
        lines.append(f"- varied `{v['key']}`: {', '.join(v['values'])}")
    seeds = header["seeds"]
    lines.append(f"- seeds {seeds['start']} .. {seeds['start'] + seeds['count'] - 1} per point")
    lines.append("")
    lines.append("Times are from the start of the run: median [p5, p95] over the runs in which")
    lines.append("the milestone happened; P is the share of runs in which it happened (95% CI).")
    for e in summary:
        label = ", ".join(f"{k}={v}" for k, v in e["params"].items()) or "the scenario as is"
        st = e["status"]
        lines += ["", f"## Point {e['point']}: {label}", ""]
        lines.append(
            f"{e['runs']} runs: {st['ok']} ok, {st['deviated']} deviated, {st['failed']} failed."
        )
        if "race_probability" in e:
            r = e["race_probability"]
            lines.append(
                f"The race fired (`{RACE_MILESTONE}`) in {100 * r['p']:.1f}% of runs "
                f"(95% CI {100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}%)."
            )
        lines += ["", "| milestone | P | median | p5 | p95 |", "|---|---|---|---|---|"]
        for name, m in e["milestones"].items():
            lines.append(
                f"| {name} | {m['probability']:.2f} | {_hm(m['median_s'])} | {_hm(m['p5_s'])} "
                f"| {_hm(m['p95_s'])} |"
            )
        if e["impact"]:
            lines += ["", "| impact | median | p5 | p95 |", "|---|---|---|---|"]
            for name, s in e["impact"].items():
                lines.append(
                    f"| {name} | {_num(s['median'])} | {_num(s['p5'])} | {_num(s['p95'])} |"
                )
        if e["expectations"]:
            held = ", ".join(f"{k} {100 * v:.0f}%" for k, v in e["expectations"].items())
            lines += ["", f"Expectations held: {held}."]
    return "\n".join(lines) + "\n"


def _hm(seconds: float) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    minutes = seconds / 60
    return f"+{int(minutes // 60)}:{minutes % 60:04.1f}"


def _num(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.4g}"
