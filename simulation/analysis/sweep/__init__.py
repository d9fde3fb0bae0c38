"""Sweeps: a scenario over a grid of varied keys times many seeds, locally or on Dask.

    plan = plan_sweep(Path("scenarios/labs/dns-race.yaml"), [],
                      ["dynamodb_dns.record_ttl=30 s,60 s"], seeds=100)  # checked, not run
    outcome = run_sweep(plan, Path("sweeps/ttl"), lambda: LocalBackend(2))
    rows = SweepDir(Path("sweeps/ttl")).rows()          # one row per run, sorted by (point, seed)

Modules: grid (--vary, points, seeds), worker (one run -> one flat row), backends (local
processes, Dask), dataset (manifest, streamed Parquet parts, the final table), summary and plots
(per grid point), execute (resume, chunks, progress). See docs/sweeps.md.
"""

from .backends import DaskBackend, LocalBackend
from .dataset import SweepDir
from .execute import SweepOutcome, run_sweep
from .grid import GridPoint, SweepPlan, Vary, plan_sweep
from .summary import summarise

__all__ = [
    "DaskBackend",
    "GridPoint",
    "LocalBackend",
    "SweepDir",
    "SweepOutcome",
    "SweepPlan",
    "Vary",
    "plan_sweep",
    "run_sweep",
    "summarise",
]
