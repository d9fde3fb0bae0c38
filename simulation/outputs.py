"""Run outputs (design.md "Run outputs", a contract): summary.json, run.json, timeline.csv,
metrics.parquet, report.md and report.html, each written atomically (temp file, then rename).

`summary.json` holds no wall-clock value, so the same scenario and seed give the same bytes;
wall-clock provenance goes to `run.json`.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .core.files import atomic_write_bytes, atomic_write_text
from .runner import RunResult
from .scenario.load import display_path

SUMMARY = "summary.json"
RUN = "run.json"
TIMELINE = "timeline.csv"
METRICS = "metrics.parquet"
SCENARIO_AS_RUN = "scenario.json"
VIEWS = "views.json"
REFERENCE_TIMELINE = "reference_timeline.csv"


def _clean(value: Any) -> Any:
    """JSON-safe and stable: floats to 9 significant digits (tiny values survive), NaN/inf ->
    null."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _finite(value: Any) -> Any:
    """JSON-safe without rounding: NaN/inf -> null, tuples -> lists."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def build_summary(result: RunResult) -> dict[str, Any]:
    model = result.loaded.model
    clock = result.env.clock
    summary = {
        "scenario": model.title,
        "file": display_path(result.loaded.path),
        "seed": result.seed,
        "status": result.status,
        "sim_start": clock.iso(0.0),
        "sim_end": clock.iso(result.end),
        "planned_end": clock.iso(model.duration),
        "milestones": {
            k: (None if t is None else clock.iso(t)) for k, t in result.milestones.items()
        },
        "expectations": result.expectations,
        "impact": result.impact,
        "statistics": result.statistics,
        "operator_actions": result.operator_actions,
    }
    if result.failure:
        summary["failure"] = result.failure
        summary["interrupted"] = result.interrupted
    if result.comparison is not None:
        summary["comparison"] = result.comparison
    return _clean(summary)


def timeline_csv(result: RunResult) -> str:
    clock = result.env.clock
    rows = sorted(enumerate(result.env.recorder.events), key=lambda ie: (ie[1][0], ie[0]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time", "sim_seconds", "scope", "kind", "detail"])
    for _, (t, scope, kind, detail) in rows:
        if t > result.end:
            continue
        w.writerow([clock.iso(t), f"{t:.3f}", scope, kind, detail])
    return buf.getvalue()


def metrics_parquet(result: RunResult) -> bytes:
    frame = result.env.recorder.metrics_frame()
    frame = frame[frame["time"] <= result.end].reset_index(drop=True)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def provenance(result: RunResult, wall_start: datetime, wall_end: datetime) -> dict[str, Any]:
    return {
        "package": "outage-sim",
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "scenario_files": [display_path(p) for p in result.loaded.chain],
        "seed": result.seed,
        "wall_start": wall_start.astimezone(UTC).isoformat(timespec="seconds"),
        "wall_end": wall_end.astimezone(UTC).isoformat(timespec="seconds"),
        "runtime_s": round((wall_end - wall_start).total_seconds(), 3),
        "sim_events": result.env.recorder and len(result.env.recorder.events),
        "status": result.status,
        "failure": result.failure,
        "failure_detail": result.failure_detail,
    }


def write_outputs(
    result: RunResult, out: Path, wall_start: datetime, wall_end: datetime
) -> list[Path]:
    """Write every output file into `out`; each file appears whole or not at all."""
    from .report import write_report

    out.mkdir(parents=True, exist_ok=True)
    summary = build_summary(result)
    result.summary = summary
    written = []

    def put(name: str, data: bytes | str) -> None:
        path = out / name
        if isinstance(data, str):
            atomic_write_text(path, data)
        else:
            atomic_write_bytes(path, data)
        written.append(path)

    put(SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    put(TIMELINE, timeline_csv(result))
    put(METRICS, metrics_parquet(result))
    doc = _clean(result.loaded.document)
    put(SCENARIO_AS_RUN, json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    views = _finite(result.views.as_dict())  # not rounded: a scale can be 2**-30
    put(VIEWS, json.dumps(views, indent=2, ensure_ascii=False) + "\n")
    stale = out / REFERENCE_TIMELINE
    if result.reference_timeline is not None:
        put(REFERENCE_TIMELINE, result.reference_timeline.read_bytes())
    elif stale.exists():
        stale.unlink()  # left by an earlier run into the same directory
    prov = provenance(result, wall_start, wall_end)
    put(RUN, json.dumps(prov, indent=2) + "\n")
    written += write_report(out)
    return written
