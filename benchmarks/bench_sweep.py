"""Benchmark: 1,000 seeds of the DNS race lab as a sweep, with 1 and with 2 local workers.

Wall time of the whole sweep as `outage-sim sweep` does it (plan and build the grid point, start
the workers, run, stream the parts, summarise), runs per second, the speed-up of 2 workers over
1, and the in-process cost of one run for comparison. Targets (2 cores): 1,000 seeds <= 60 s;
speed-up >= 1.7x. `--backend dask-local` runs the same on dask's LocalCluster (processes, one
thread each) to compare with the default ProcessPoolExecutor.

    .venv/bin/python benchmarks/bench_sweep.py                        # 1000 seeds, 1 and 2 workers
    .venv/bin/python benchmarks/bench_sweep.py --seeds 200 --workers 2
    .venv/bin/python benchmarks/bench_sweep.py --seeds 200 --workers 2 --backend dask-local
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "scenarios" / "labs" / "dns-race.yaml"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import machine  # noqa: E402


def in_process(path: Path, seeds: int) -> float:
    """Seconds per run of the same work in this process (no workers, no files)."""
    from simulation.analysis.sweep import plan_sweep
    from simulation.analysis.sweep.worker import Job, run_chunk

    plan = plan_sweep(path, [], [], seeds=1)
    job = Job(0, {}, plan.points[0].document, tuple(range(1, seeds + 1)))
    t = time.perf_counter()
    run_chunk(job)
    return (time.perf_counter() - t) / seeds


def sweep(path: Path, seeds: int, workers: int, backend: str) -> tuple[float, object]:
    """(wall s of the whole sweep, its SweepOutcome) for one sweep."""
    from simulation.analysis.sweep import DaskBackend, LocalBackend, plan_sweep, run_sweep

    cluster = None
    if backend == "dask-local":
        from distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )

        def factory():
            return DaskBackend(cluster.scheduler_address)
    else:

        def factory():
            return LocalBackend(workers)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            plan = plan_sweep(path, [], [], seeds=seeds)
            outcome = run_sweep(plan, Path(tmp) / "sweep", factory, progress_mode="none")
            wall = time.perf_counter() - t
    finally:
        if cluster is not None:
            cluster.close()
    assert outcome.complete and outcome.ran == seeds, outcome
    return wall, outcome


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", type=Path, default=LAB)
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--backend", choices=["local", "dask-local"], default="local")
    args = p.parse_args()
    print(machine())
    per_run = in_process(args.scenario, 20)
    print(f"{args.scenario.name}: {per_run * 1000:.0f} ms per run in one process (20 seeds)")
    walls = {}
    for w in args.workers:
        load = os.getloadavg()[0]
        wall, outcome = sweep(args.scenario, args.seeds, w, args.backend)
        race = outcome.summary[0].get("race_probability", {"p": math.nan, "ci95": [0, 0]})
        walls[w] = wall
        share = outcome.worker_cpu_s / (outcome.wall_s * w)
        print(
            f"{args.backend:>10} {w} worker(s): {args.seeds} seeds in {wall:6.1f} s "
            f"(runs {outcome.wall_s:6.1f} s, {args.seeds / wall:5.1f} runs/s; worker CPU "
            f"{outcome.worker_cpu_s:6.1f} s = {100 * share:.0f}% of {w} CPU(s)), race "
            f"{100 * race['p']:.1f}% [{100 * race['ci95'][0]:.1f}, {100 * race['ci95'][1]:.1f}]"
            f", load average before {load:.2f}"
        )
    if 1 in walls and 2 in walls:
        print(f"speed-up 2 workers vs 1: {walls[1] / walls[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
