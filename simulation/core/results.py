"""Read access to a finished (or interrupted) run, for detectors, statistics and reports."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .env import SimEnv
from .recorder import Level, Tally


@dataclass
class Results:
    """The records of one run, up to `end` (sim seconds)."""

    env: SimEnv
    end: float

    @property
    def recorder(self):
        return self.env.recorder

    def level(self, scope: str, name: str) -> Level | None:
        return self.env.recorder.levels.get((scope, name))

    def tally(self, scope: str, name: str) -> Tally | None:
        return self.env.recorder.tallies.get((scope, name))

    def first_event(
        self, kind: str, scope: str | None = None, after: float = -math.inf
    ) -> float | None:
        """Time of the first event of `kind` (optionally in `scope`) at or after `after`."""
        for t, s, k, _ in self.env.recorder.events:
            if k == kind and t >= after and (scope is None or s == scope):
                return t
        return None

    def first_level_time(
        self,
        scope: str,
        name: str,
        predicate: Callable[[float], bool],
        after: float = 0.0,
    ) -> float | None:
        lvl = self.level(scope, name)
        return None if lvl is None else lvl.first_time(predicate, after=after, before=self.end)
