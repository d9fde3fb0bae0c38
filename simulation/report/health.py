"""Health rows: the series components declare in plots of kind `health`, read as ok/degraded/down.

A row's value is either a code (0 ok, 1 degraded, 2 down) or read through the series' `health`
limits `(ok_limit, down_limit)` (see `core.views.Series.health`). The strip chart draws the
segments; the impact section lists each row's windows away from ok.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .data import RunData

OK, DEGRADED, DOWN = 0, 1, 2
STATE_NAMES = {OK: "ok", DEGRADED: "degraded", DOWN: "down"}


@dataclass
class HealthRow:
    label: str
    scope: str
    metric: str
    segments: list[tuple[float, float, int]]
    """(start, stop, code) pieces, merged, up to the end of the run; empty: nothing recorded."""

    def windows(self, at_least: int = DEGRADED) -> list[tuple[float, float, int]]:
        """Merged (start, stop, worst code) windows in which the row was at least `at_least`."""
        out: list[tuple[float, float, int]] = []
        for t0, t1, code in self.segments:
            if code < at_least:
                continue
            if out and out[-1][1] == t0:
                out[-1] = (out[-1][0], t1, max(out[-1][2], code))
            else:
                out.append((t0, t1, code))
        return out

    def time_in(self, code: int) -> float:
        return sum(t1 - t0 for t0, t1, c in self.segments if c == code)

    @property
    def final(self) -> int | None:
        return self.segments[-1][2] if self.segments else None


def code_of(value: float, limits: Any) -> int:
    """The health code of `value` under `limits` ((ok_limit, down_limit) or None for codes)."""
    if limits is None:
        return DOWN if value >= DOWN else (DEGRADED if value >= DEGRADED else OK)
    ok_limit, down_limit = limits
    if ok_limit <= down_limit:  # higher is worse
        if value <= ok_limit:
            return OK
        return DOWN if value >= down_limit else DEGRADED
    if value >= ok_limit:
        return OK
    return DOWN if value <= down_limit else DEGRADED


def health_rows(run: RunData) -> list[HealthRow]:
    """Every health series of the run's health plots, in plot order."""
    rows = []
    for plot in run.views.get("plots", []):
        if plot.get("kind", "time") != "health":
            continue
        for s in plot["series"]:
            times, values, _, _ = run.series(s["scope"], s["metric"])
            limits = s.get("health")
            scale = s.get("scale", 1.0)
            segments: list[tuple[float, float, int]] = []
            end = run.end_s
            for i, (t0, v) in enumerate(zip(times, values, strict=True)):
                t1 = times[i + 1] if i + 1 < len(times) else end
                t1 = min(t1, end)
                if t1 <= t0:
                    continue
                code = code_of(v * scale, limits)
                if segments and segments[-1][2] == code and segments[-1][1] == t0:
                    segments[-1] = (segments[-1][0], t1, code)
                else:
                    segments.append((t0, t1, code))
            rows.append(HealthRow(s["label"], s["scope"], s["metric"], segments))
    return rows
