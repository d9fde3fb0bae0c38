"""Milestone detection over recorded levels: sustained conditions and returns to a state.

Milestones are computed after the run from the levels the EC2 components record; nothing in the
model declares them. The helpers here are shared by DWFM, launches and Network Manager.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from simulation.core.recorder import Level


def sustained(
    level: Level | None,
    ok: Callable[[float], bool],
    hold: float,
    end: float,
    after: float = -math.inf,
) -> float | None:
    """Start of the first stretch at or after `after` where `ok(value)` holds for `hold` s.

    A stretch still running at `end` counts if it has lasted `hold` by then.
    """
    return None if level is None else level.first_sustained(ok, hold, end, after)


def episodes(
    level: Level | None,
    bad: Callable[[float], bool],
    start_hold: float,
    clear_hold: float,
    end: float,
) -> list[tuple[float, float | None]]:
    """The episodes of a condition, in order: each starts where `bad` has held for `start_hold`
    s and ends where it has not held for `clear_hold` s (None: still going at `end`).

    A dip shorter than `clear_hold` does not end an episode, and one that does is followed by
    another if `bad` comes back for `start_hold`: a backlog that falls under its threshold for
    a while and then grows for hours is two episodes, and it is over only when the last ends.
    """
    out: list[tuple[float, float | None]] = []
    after = -math.inf
    while True:
        start = sustained(level, bad, start_hold, end, after)
        if start is None:
            return out
        stop = sustained(level, lambda v: not bad(v), clear_hold, end, after=start)
        out.append((start, stop))
        if stop is None or stop <= after:
            return out
        after = stop


def first_return(level: Level | None, ok: Callable[[float], bool], end: float) -> float | None:
    """First time `ok` holds again after it first stopped holding (None if it never stopped or
    never came back)."""
    if level is None:
        return None
    left = level.first_time(lambda v: not ok(v), before=end)
    if left is None:
        return None
    return level.first_time(ok, after=left, before=end)
