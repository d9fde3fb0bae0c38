"""Where the chunks run: local worker processes (default) or an existing Dask cluster.

Both take a list of `Job`s and yield `(job, ChunkResult or the exception it raised)` as chunks
finish, in completion order; the caller writes each finished chunk at once. `close(cancel=True)`
stops everything still running (Ctrl-C): local workers are terminated, Dask futures cancelled.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Protocol

from ...core.errors import UserInputError
from .worker import ChunkResult, Job, ignore_sigint, run_chunk

Outcome = tuple[Job, ChunkResult | BaseException]


class Backend(Protocol):
    name: str
    workers: int

    def run(self, jobs: list[Job]) -> Iterator[Outcome]: ...

    def close(self, cancel: bool = False) -> None: ...


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one (no fork of a process with threads, e.g. the progress
    bar's; workers fork from a server that has imported the simulator once), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["simulation.analysis.sweep.worker", "simulation.runner"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover


class LocalBackend:
    """`workers` processes on this machine (concurrent.futures, no set-up)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise UserInputError(f"--workers: expected a positive integer, got {workers}")
        self.workers = workers or default_workers()
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=_context(), initializer=ignore_sigint
        )
        self._futures: list[Future] = []

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        by_future = {self._pool.submit(run_chunk, job): job for job in jobs}
        self._futures = list(by_future)
        for fut in as_completed(by_future):
            try:
                yield by_future[fut], fut.result()
            except Exception as exc:  # a chunk that broke (or a worker that died)
                yield by_future[fut], exc

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for fut in self._futures:
                fut.cancel()
            # ProcessPoolExecutor has no public way to stop running tasks (3.14 adds
            # terminate_workers); these are our own child processes.
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.terminate()
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class DaskBackend:
    """An existing Dask distributed cluster (`dask scheduler` + `dask worker`s).

    The workers need outage-sim installed (the same version); they get each grid point's
    scenario as text, so they need no scenario files.
    """

    name = "dask"

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        from distributed import Client

        try:
            self._client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UserInputError(f"--scheduler {address}: cannot connect ({exc})") from None
        self.address = address
        self.workers = sum(
            w.get("nthreads", 1) for w in self._client.scheduler_info()["workers"].values()
        )
        self._futures: list = []

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        from distributed import as_completed as dask_completed

        by_key = {}
        for job in jobs:
            fut = self._client.submit(run_chunk, job, pure=False)
            by_key[fut.key] = job
            self._futures.append(fut)
        for fut in dask_completed(self._futures, loop=self._client.loop):
            job = by_key[fut.key]
            try:
                yield job, fut.result()
            except Exception as exc:
                yield job, exc
            fut.release()

    def close(self, cancel: bool = False) -> None:
        if cancel and self._futures:
            self._client.cancel(self._futures)
        self._client.close()
