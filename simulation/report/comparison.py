"""The report's comparison of a variant with its base, from the summary's `comparison` block
(written by `runner.compare_with_base`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .data import RunData, fmt_duration
from .table import Table


def comparison_section(run: RunData) -> dict[str, Any] | None:
    c = run.summary.get("comparison")
    if c is None:
        return None
    if c.get("skipped"):
        return {"base": c.get("base"), "skipped": c["skipped"]}
    ms = pd.DataFrame(
        [
            {
                "milestone": name,
                "base": _short(run, m["base"]),
                "this variant": _short(run, m["variant"]),
                "delta": _milestone_delta(m),
            }
            for name, m in c.get("milestones", {}).items()
        ],
        columns=["milestone", "base", "this variant", "delta"],
    )
    imp = pd.DataFrame(
        [
            {"figure": k, "base": v["base"], "this variant": v["variant"], "delta": v["delta"]}
            for k, v in c.get("impact", {}).items()
        ],
        columns=["figure", "base", "this variant", "delta"],
    )
    state = {True: "ok", False: "deviated", None: "-"}
    exp = pd.DataFrame(
        [
            {
                "expectation": e["name"],
                "base": state[e["base"]],
                "this variant": state[e["variant"]],
                "difference": ", ".join(
                    w
                    for w, on in (
                        ("result changed", e["changed"]),
                        ("redefined in the variant", e.get("redefined")),
                    )
                    if on
                )
                or "same",
            }
            for e in c.get("expectations", [])
        ],
        columns=["expectation", "base", "this variant", "difference"],
    )
    return {
        "base": c["base"],
        "base_title": c.get("base_title", ""),
        "base_status": c.get("base_status", "?"),
        "base_failure": c.get("base_failure"),
        "seed": c.get("seed"),
        "applied": c.get("overrides_applied", []),
        "skipped_overrides": c.get("overrides_skipped", []),
        "skipped": None,
        "milestones": Table.of(ms),
        "impact": Table.of(imp),
        "expectations": Table.of(exp),
    }


def _milestone_delta(m: dict[str, Any]) -> str:
    if m["delta_s"] is not None:
        return fmt_duration(m["delta_s"], signed=True)
    if m["base"] is not None:
        return "prevented"
    return "new in the variant" if m["variant"] is not None else "-"


def _short(run: RunData, iso: str | None) -> str:
    return "did not happen" if iso is None else run.local(run.seconds(iso))
