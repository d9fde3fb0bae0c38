"""Run a planned sweep into a directory: skip what is there, stream chunks, then summarise.

Order of work: open the directory (manifest and lock; `--resume` checks it is the same sweep),
work out the (point, seed) pairs no part holds, cut them into chunks (one grid point each), run
them on the backend and write each chunk as a part file the moment it arrives, then build the
final table, the per-point summary and the plots from the dataset (never from memory), so a
resumed sweep and an uninterrupted one end with the same files.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from .backends import Backend
from .dataset import SweepDir
from .grid import SweepPlan, describe
from .progress import progress as make_progress
from .worker import Job

MAX_CHUNK = 32
CHUNKS_PER_WORKER = 4


@dataclass
class SweepOutcome:
    total: int
    already_done: int
    ran: int = 0
    wall_s: float = 0.0
    worker_cpu_s: float = 0.0
    """CPU seconds the workers spent on the runs (against wall_s x workers: the share of the
    machine the sweep got)."""
    interrupted: bool = False
    chunk_errors: list[str] = field(default_factory=list)
    failed_runs: int = 0
    written: list[Path] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.interrupted and not self.chunk_errors


def chunk_size(remaining: int, workers: int) -> int:
    """Runs in the next chunk when `remaining` runs are left to hand out: a share of them per
    worker (guided scheduling: chunks shrink towards the end, so workers finish together), at
    most MAX_CHUNK (a kill loses at most the chunks in flight)."""
    return max(1, min(MAX_CHUNK, math.ceil(remaining / (workers * CHUNKS_PER_WORKER))))


def make_jobs(
    plan: SweepPlan,
    done: set[tuple[int, int]],
    size: int | None,
    keep_outputs: Path | None,
    workers: int = 1,
) -> list[Job]:
    """Chunks of the missing (point, seed) pairs, each within one point, in plan order: of
    `size` runs, or guided (see chunk_size) when `size` is None."""
    jobs = []
    keep = None if keep_outputs is None else str(keep_outputs.resolve())
    todo = [(p, [s for s in plan.seeds if (p.index, s) not in done]) for p in plan.points]
    remaining = sum(len(seeds) for _, seeds in todo)
    for point, seeds in todo:
        i = 0
        while i < len(seeds):
            n = size or chunk_size(remaining, workers)
            chunk = tuple(seeds[i : i + n])
            jobs.append(Job(point.index, point.params, point.document, chunk, keep))
            i += len(chunk)
            remaining -= len(chunk)
    return jobs


def run_sweep(
    plan: SweepPlan,
    out: Path,
    backend_factory,
    *,
    resume: bool = False,
    chunk: int | None = None,
    keep_outputs: bool = False,
    progress_mode: str = "auto",
) -> SweepOutcome:
    """Run the missing runs of `plan` into `out` and write the summary when all are there.

    `backend_factory()` makes the Backend (only once the directory checks have passed, so bad
    options start no processes).
    """
    sweep_dir = SweepDir(out)
    header = describe(plan)
    sweep_dir.open(header, resume)
    try:
        wanted = set(plan.pairs())
        done = set(sweep_dir.done_pairs()) & wanted
        outcome = SweepOutcome(total=plan.total, already_done=len(done))
        todo = plan.total - len(done)
        if todo:
            _execute(
                plan, sweep_dir, backend_factory, done, chunk, keep_outputs, progress_mode, outcome
            )
        if outcome.complete:
            _finish(sweep_dir, header, outcome)
        return outcome
    finally:
        sweep_dir.close()


def _execute(plan, sweep_dir, backend_factory, done, chunk, keep_outputs, mode, outcome) -> None:
    backend: Backend = backend_factory()
    keep = sweep_dir.root / "outputs" if keep_outputs else None
    jobs = make_jobs(plan, done, chunk, keep, backend.workers)
    bar = make_progress(mode, len(done), plan.total)
    started = time.perf_counter()
    cancel = False
    try:
        for job, result in backend.run(jobs):
            if isinstance(result, BaseException):
                outcome.chunk_errors.append(
                    f"point {job.point} seeds {job.seeds[0]}..{job.seeds[-1]}: "
                    f"{type(result).__name__}: {result}"
                )
                continue
            sweep_dir.write_part(result.rows)
            outcome.ran += len(result.rows)
            outcome.worker_cpu_s += result.cpu_s
            outcome.failed_runs += sum(r["status"] == "failed" for r in result.rows)
            bar.advance(len(result.rows))
    except KeyboardInterrupt:
        outcome.interrupted = cancel = True
    finally:
        bar.close()
        outcome.wall_s = time.perf_counter() - started
        backend.close(cancel=cancel)


def _finish(sweep_dir: SweepDir, header: dict, outcome: SweepOutcome) -> None:
    from ...core.files import atomic_write_text
    from .plots import plot_all
    from .summary import markdown, summarise, table, to_json

    rows = sweep_dir.rows()
    outcome.failed_runs = int((rows["status"] == "failed").sum())
    outcome.written.append(sweep_dir.write_table(rows))
    summary = summarise(rows)
    outcome.summary = summary
    root = sweep_dir.root
    atomic_write_text(root / "summary.json", to_json(summary))
    atomic_write_text(root / "summary.csv", table(summary).to_csv(index=False))
    atomic_write_text(root / "summary.md", markdown(summary, header))
    outcome.written += [root / "summary.json", root / "summary.csv", root / "summary.md"]
    if header["vary"]:
        outcome.written += plot_all(rows, header["vary"], root / "plots")
