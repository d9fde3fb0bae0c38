"""Progress of a sweep on stderr: a bar (runs done, total, ETA) on a terminal, else log lines."""

from __future__ import annotations

import sys
import time
from typing import Protocol


class Progress(Protocol):
    def advance(self, runs: int) -> None: ...

    def close(self) -> None: ...


def progress(mode: str, done: int, total: int) -> Progress:
    """`mode`: auto (bar on a terminal, else log), bar, log or none; `done` runs already there."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "log"
    if mode == "bar":
        return _Bar(done, total)
    if mode == "log":
        return _Log(done, total)
    return _Silent()


class _Silent:
    def advance(self, runs: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Bar:
    def __init__(self, done: int, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("sweep", total=total, completed=done)

    def advance(self, runs: int) -> None:
        self._bar.advance(self._task, runs)

    def close(self) -> None:
        self._bar.stop()


class _Log:
    """A line at every tenth of the runs still to do, and at least every 30 s."""

    EVERY_S = 30.0

    def __init__(self, done: int, total: int) -> None:
        self.done, self.total, self.start_done = done, total, done
        self.started = self.last = time.monotonic()
        self.last_tenth = -1

    def advance(self, runs: int) -> None:
        self.done += runs
        now = time.monotonic()
        todo = max(self.total - self.start_done, 1)
        tenth = int(10 * (self.done - self.start_done) / todo)
        if tenth == self.last_tenth and now - self.last < self.EVERY_S:
            return
        self.last_tenth, self.last = tenth, now
        elapsed = now - self.started
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        print(
            f"outage-sim sweep: {self.done}/{self.total} runs ({100 * self.done / self.total:.0f}%)"
            f", {elapsed:.1f} s elapsed, ETA {eta:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        pass
