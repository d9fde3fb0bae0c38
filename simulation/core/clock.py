"""The scenario clock: sim time is float seconds since the scenario's start instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ScenarioClock:
    """Converts between sim seconds and timezone-aware wall-clock instants, both ways.

    The start instant keeps its own UTC offset (a scenario written in PDT reports in PDT), so
    `iso(t)` renders every instant in the scenario's offset; `utc(t)` gives UTC.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("the scenario start needs a UTC offset")
        self.start = start
        self.tz = start.tzinfo

    def to_sim(self, instant: datetime) -> float:
        """Seconds from the start to `instant` (negative if before)."""
        if instant.tzinfo is None:
            raise ValueError("naive datetime: a UTC offset is required")
        return (instant - self.start).total_seconds()

    def to_datetime(self, t: float) -> datetime:
        """The instant `t` seconds after the start, in the start's offset, to the microsecond."""
        return (self.start + timedelta(seconds=round(t, 6))).astimezone(self.tz)

    def iso(self, t: float) -> str:
        """ISO-8601 with offset, whole seconds (milestones and reports need no more)."""
        return self.to_datetime(round(t)).isoformat(timespec="seconds")

    def utc(self, t: float) -> datetime:
        return self.to_datetime(t).astimezone(UTC)
