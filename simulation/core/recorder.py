"""Records as flat rows: time-weighted levels, per-sample tallies, and an event log.

*Levels* are quantities that hold a value over time (leases held, queue depth, healthy targets):
a change is appended only when the value changes, and statistics are time-weighted. *Tallies*
are samples (a request's latency): statistics are per sample. *Events* are the log rows that
become `timeline.csv`. Rows are plain Python lists while the simulation runs (cheap appends) and
become pandas frames once, at the end.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd


class Clock(Protocol):
    """Anything with a `now` in sim seconds (a simpy Environment)."""

    @property
    def now(self) -> float: ...


class FixedClock:
    """A clock that stands still (for building series outside a simulation)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now


@dataclass(slots=True)
class Level:
    """A piecewise-constant series: `values[i]` holds from `times[i]` until `times[i+1]`."""

    scope: str
    name: str
    clock: Clock
    unit: str = ""
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def set(self, value: float) -> None:
        """Record the value from now on; repeated values and same-instant updates are folded."""
        values = self.values
        if values and values[-1] == value:
            return  # (before reading the clock: a repeated value is the cheap case)
        t = self.clock.now
        times = self.times
        if values and times[-1] == t:
            values[-1] = value
            if len(values) > 1 and values[-2] == value:
                values.pop()
                times.pop()
            return
        times.append(t)
        values.append(value)

    def add(self, delta: float) -> None:
        self.set((self.values[-1] if self.values else 0.0) + delta)

    @property
    def current(self) -> float:
        return self.values[-1] if self.values else math.nan

    def value_at(self, t: float) -> float:
        """The value holding at time `t` (NaN before the first record)."""
        i = bisect.bisect_right(self.times, t) - 1
        return self.values[i] if i >= 0 else math.nan

    def segments(self, end: float) -> Iterator[tuple[float, float, float]]:
        """(start, stop, value) for each constant piece up to `end`."""
        times, values = self.times, self.values
        for i, (t0, v) in enumerate(zip(times, values, strict=True)):
            t1 = times[i + 1] if i + 1 < len(times) else end
            if t0 >= end:
                break
            yield t0, min(t1, end), v

    def first_time(
        self, predicate: Callable[[float], bool], after: float = 0.0, before: float = math.inf
    ) -> float | None:
        """The first instant in [after, before) at which the value satisfies `predicate`."""
        times, values = self.times, self.values
        i = max(bisect.bisect_right(times, after) - 1, 0)
        for j in range(i, len(times)):
            t = max(times[j], after)
            if t >= before:
                return None
            if predicate(values[j]):
                return t
        return None

    def first_sustained(
        self,
        predicate: Callable[[float], bool],
        hold: float,
        end: float,
        after: float = -math.inf,
    ) -> float | None:
        """Start of the first stretch (beginning at or after `after`) in which the value
        satisfies `predicate` for at least `hold` seconds; a stretch still running at `end`
        counts if it has lasted `hold` by then."""
        start: float | None = None
        for t0, _t1, v in self.segments(end):
            if t0 < after:
                continue
            if predicate(v):
                if start is None:
                    start = t0
            else:
                if start is not None and t0 - start >= hold:
                    return start
                start = None
        if start is not None and end - start >= hold:
            return start
        return None

    def time_weighted_mean(self, start: float, end: float) -> float:
        total = 0.0
        for t0, t1, v in self.segments(end):
            lo = max(t0, start)
            if t1 > lo:
                total += (t1 - lo) * v
        span = end - start
        return total / span if span > 0 else math.nan

    def duration_where(self, predicate: Callable[[float], bool], end: float) -> float:
        """Total time up to `end` during which the value satisfied `predicate`."""
        return sum(t1 - t0 for t0, t1, v in self.segments(end) if predicate(v))


@dataclass(slots=True)
class Tally:
    """Per-sample observations (latencies, sizes), each with the time it was taken."""

    scope: str
    name: str
    clock: Clock
    unit: str = ""
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def observe(self, value: float) -> None:
        self.times.append(self.clock.now)
        self.values.append(value)

    @property
    def count(self) -> int:
        return len(self.values)

    def quantile(self, q: float) -> float:
        """Linear-interpolated quantile (numpy's default), NaN when empty."""
        if not self.values:
            return math.nan
        ordered = sorted(self.values)
        pos = q * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan


class Recorder:
    """Owns every level, tally and event row of one run."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.levels: dict[tuple[str, str], Level] = {}
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.events: list[tuple[float, str, str, str]] = []

    def level(self, scope: str, name: str, unit: str = "", initial: float | None = None) -> Level:
        """The level `scope.name`, created on first use (with `initial` recorded at now)."""
        key = (scope, name)
        lvl = self.levels.get(key)
        if lvl is None:
            lvl = self.levels[key] = Level(scope, name, self._clock, unit)
            if initial is not None:
                lvl.set(initial)
        return lvl

    def tally(self, scope: str, name: str, unit: str = "") -> Tally:
        key = (scope, name)
        t = self.tallies.get(key)
        if t is None:
            t = self.tallies[key] = Tally(scope, name, self._clock, unit)
        return t

    def event(self, scope: str, kind: str, detail: Any = "") -> None:
        """Append one row to the event log (becomes a line of timeline.csv)."""
        self.events.append((self._clock.now, scope, kind, str(detail)))

    def events_of(self, kind: str, scope: str | None = None) -> list[tuple[float, str, str, str]]:
        return [e for e in self.events if e[2] == kind and (scope is None or e[1] == scope)]

    # -- frames, built once at the end -------------------------------------------------------
    def events_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = sorted(enumerate(self.events), key=lambda ie: (ie[1][0], ie[0]))
        return pd.DataFrame(
            [e for _, e in rows], columns=["time", "scope", "kind", "detail"]
        ).astype({"time": "float64", "scope": "string", "kind": "string", "detail": "string"})

    def metrics_frame(self) -> pd.DataFrame:
        """Long format: one row per level change or tally sample."""
        import pandas as pd

        parts: list[pd.DataFrame] = []
        for kind, series in (("level", self.levels), ("tally", self.tallies)):
            for (scope, name), s in sorted(series.items()):
                if not s.times:
                    continue
                parts.append(
                    pd.DataFrame(
                        {
                            "time": pd.Series(s.times, dtype="float64"),
                            "scope": scope,
                            "metric": name,
                            "kind": kind,
                            "unit": s.unit,
                            "value": pd.Series(s.values, dtype="float64"),
                        }
                    )
                )
        if not parts:
            return pd.DataFrame(
                {
                    "time": pd.Series(dtype="float64"),
                    "scope": pd.Series(dtype="string"),
                    "metric": pd.Series(dtype="string"),
                    "kind": pd.Series(dtype="string"),
                    "unit": pd.Series(dtype="string"),
                    "value": pd.Series(dtype="float64"),
                }
            )
        frame = pd.concat(parts, ignore_index=True)
        return frame.astype(
            {"scope": "string", "metric": "string", "kind": "string", "unit": "string"}
        )
