"""What a worker does: run a chunk of seeds of one grid point and return one flat row per run.

A run is the same as `outage-sim run` without the files: `load_scenario` + `simulate` +
`build_summary`. The row holds the point, its parameters, the seed, the status, each milestone
(sim seconds from the start and ISO time), the expectations (ok or not), and the impact figures
and component statistics flattened to dotted columns. Rows hold no wall-clock value, so the same
sweep gives the same rows whichever backend ran it, in whatever order.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEAD_COLUMNS = ("point", "seed", "status", "failure")
PARAM, MILESTONE, IMPACT, STAT, EXPECT = "param.", "milestone.", "impact.", "stat.", "expect."


@dataclass(frozen=True)
class Job:
    """Seeds of one grid point, run one after the other by one worker."""

    point: int
    params: dict[str, str]
    document: str
    seeds: tuple[int, ...]
    keep_outputs: str | None = None
    """A directory for each run's output files (`outage-sim run`'s), or None to keep none."""


@dataclass
class ChunkResult:
    rows: list[dict[str, Any]]
    wall_s: float
    worker: str = field(default="")
    cpu_s: float = 0.0


def ignore_sigint() -> None:
    """Local worker processes leave Ctrl-C to the parent, which stops them itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_chunk(job: Job) -> ChunkResult:
    """Run every seed of `job`; a run that raises still gives a row (status `failed`)."""
    from ...scenario.load import load_scenario

    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="outage-sim-sweep-") as tmp:
        path = Path(tmp) / f"point-{job.point}.yaml"
        path.write_text(_runnable_here(job.document), encoding="utf-8")
        loaded = load_scenario(path)
        rows = []
        for seed in job.seeds:
            rows.append(run_one(loaded, job, seed))
            # A run's objects (environment, component tree, records) hold one another in
            # cycles, which only a full collection frees, and CPython makes those rare once
            # a process holds many objects: without this a worker grew by ~90 MB a run of the
            # reference and was killed for memory after some 120 runs. ~0.35 s a reference run.
            gc.collect()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return ChunkResult(rows, time.perf_counter() - started, worker, time.process_time() - cpu)


def _runnable_here(document: str) -> str:
    """The document, less a `reference_timeline` this machine lacks (a remote Dask worker):
    it only feeds reports, never the run."""
    import yaml

    doc = yaml.safe_load(document)
    ref = doc.get("reference_timeline")
    if isinstance(ref, str) and not Path(ref).exists():
        del doc["reference_timeline"]
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return document


def run_one(loaded: Any, job: Job, seed: int) -> dict[str, Any]:
    """One run as one flat row."""
    from ...outputs import build_summary, write_outputs
    from ...runner import simulate

    base = {"point": job.point, "seed": seed}
    base.update({PARAM + k: v for k, v in job.params.items()})
    try:
        wall_start = _utcnow()
        result = simulate(loaded, seed=seed)
        if result.interrupted:  # a worker stopped by Ctrl-C: this run did not happen
            raise KeyboardInterrupt
        if job.keep_outputs is not None:
            out = Path(job.keep_outputs) / f"p{job.point:04d}-s{seed}"
            write_outputs(result, out, wall_start, _utcnow())
            summary = result.summary
        else:
            summary = build_summary(result)
    except Exception as exc:  # a bug in the model or the build: say so in the row
        return {**base, "status": "failed", "failure": f"{type(exc).__name__}: {exc}"}
    return {**base, **row_of(result, summary)}


def row_of(result: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """The columns of one run from its RunResult and summary (see module docstring)."""
    row: dict[str, Any] = {"status": summary["status"], "failure": summary.get("failure")}
    for name, t in sorted(result.milestones.items()):
        row[f"{MILESTONE}{name}.s"] = None if t is None else round(t, 6)
        row[f"{MILESTONE}{name}.at"] = summary["milestones"][name]
    for e in summary["expectations"]:
        row[f"{EXPECT}{e['name']}.ok"] = bool(e["ok"])
    flatten(IMPACT, summary["impact"], row)
    flatten(STAT, summary["statistics"], row)
    return row


def flatten(prefix: str, value: Any, row: dict[str, Any]) -> None:
    """Nested mappings to dotted columns; lists become JSON text (a cell holds one value)."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}{k}.", v, row)
        return
    key = prefix[:-1]
    row[key] = json.dumps(value, sort_keys=True) if isinstance(value, list | tuple) else value


def _utcnow():
    from datetime import UTC, datetime

    return datetime.now(UTC)
