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


def first_return(level: Level | None, ok: Callable[[float], bool], end: float) -> float | None:
    """First time `ok` holds again after it first stopped holding (None if it never stopped or
    never came back)."""
    if level is None:
        return None
    left = level.first_time(lambda v: not ok(v), before=end)
    if left is None:
        return None
    return level.first_time(ok, after=left, before=end)
