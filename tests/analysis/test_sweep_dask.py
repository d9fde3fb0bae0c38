"""A sweep on a real Dask cluster (a `dask scheduler` and a `dask worker` with two processes,
started here on 127.0.0.1) gives the same rows as the same sweep in local processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simulation.analysis.sweep import DaskBackend, LocalBackend, plan_sweep, run_sweep
from simulation.core.errors import UserInputError
from tests.analysis.test_sweep_grid import small_scenario

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).parent / "dask"
VARY = "dynamodb_dns.slowness.0.duration=8 min,15 min"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """tcp://127.0.0.1:PORT of a scheduler with one worker of 2 processes x 1 thread."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = (tmp_path / "scheduler.log").open("w"), (tmp_path / "worker.log").open("w")
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            cwd=ROOT,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                [str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "1",
                 "--memory-limit", "0", "--local-directory", str(tmp_path / "dask"), *common],
                cwd=ROOT,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:  # each in its own session: its group holds the nanny's worker processes too
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        for log in logs:
            log.close()


def test_dask_cluster_gives_the_local_rows(tmp_path, cluster):
    path = small_scenario(tmp_path)
    out = tmp_path / "on-dask"
    done = subprocess.run(  # in a process of its own, so a stuck cluster cannot hang the suite
        [sys.executable, "-m", "simulation", "sweep", str(path), "--seeds", "6", "--vary", VARY,
         "--scheduler", cluster, "--out", str(out), "--progress", "none", "--chunk", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 grid point(s) x 6 seeds = 12 runs; 0 were done, 12 runs ran in" in done.stdout

    plan = plan_sweep(path, [], [VARY], seeds=6)
    local = run_sweep(plan, tmp_path / "local", lambda: LocalBackend(2), progress_mode="none")
    assert local.complete
    on_dask = pd.read_parquet(out / "runs.parquet")
    pd.testing.assert_frame_equal(on_dask, pd.read_parquet(tmp_path / "local" / "runs.parquet"))
    assert len(on_dask) == 12 and on_dask["milestone.dns_record_empty.s"].notna().any()
    assert (out / "summary.json").read_text() == (tmp_path / "local" / "summary.json").read_text()


def test_unreachable_scheduler_is_bad_input():
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(UserInputError) as err:
        DaskBackend(address, timeout=1)
    assert str(err.value).startswith(f"--scheduler {address}: cannot connect (")
    assert time.monotonic() - started < 15
