"""A finished run as the report reads it: the files of its run directory, and time helpers.

Everything comes from the run directory (summary.json, scenario.json, run.json, views.json,
timeline.csv, metrics.parquet, reference_timeline.csv), so `outage-sim report DIR` rebuilds a
report without re-running. Older run directories without views.json, metrics or the timeline
still render (those sections say what is missing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .reference import ReferenceError, ReferenceRow, parse_reference

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("summary.json", "scenario.json", "run.json")
ZONE_NAMES = {-7 * 3600: "PDT", -8 * 3600: "PST", 0: "UTC"}


def zone_name(tz: tzinfo, at: datetime) -> str:
    """A short name of a fixed offset: PDT/PST for the Pacific offsets, else UTC+hh:mm."""
    off = tz.utcoffset(at) or timedelta(0)
    secs = int(off.total_seconds())
    if secs in ZONE_NAMES:
        return ZONE_NAMES[secs]
    sign = "+" if secs >= 0 else "-"
    h, m = divmod(abs(secs) // 60, 60)
    return f"UTC{sign}{h:02d}:{m:02d}"


def fmt_duration(seconds: float, signed: bool = False) -> str:
    """Seconds as `2 h 05 min`, `5 min 05 s`, `24 s` (signed: with + or -)."""
    sign = ("-" if seconds < 0 else "+") if signed else ("-" if seconds < 0 else "")
    s = round(abs(seconds))
    if abs(seconds) < 10 and round(abs(seconds), 1) != s:
        body = f"{abs(seconds):.1f} s"
    elif s < 60:
        body = f"{s} s"
    elif s < 3600:
        body = f"{s // 60} min {s % 60:02d} s" if s % 60 else f"{s // 60} min"
    else:
        h, rest = divmod(s, 3600)
        body = f"{h} h {rest // 60:02d} min"
    return sign + body


@dataclass
class RunData:
    """The files of one run directory, parsed once."""

    run_dir: Path
    summary: dict[str, Any]
    scenario: dict[str, Any]
    provenance: dict[str, Any]
    views: dict[str, Any] = field(default_factory=dict)

    # -- time ------------------------------------------------------------------------------
    @cached_property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.summary["sim_start"])

    @property
    def tz(self) -> tzinfo:
        tz = self.start.tzinfo
        assert tz is not None
        return tz

    @cached_property
    def end_s(self) -> float:
        return self.seconds(self.summary["sim_end"])

    @cached_property
    def zone(self) -> str:
        return zone_name(self.tz, self.start)

    def seconds(self, iso: str | datetime) -> float:
        """Sim seconds of an ISO time (or aware datetime)."""
        t = datetime.fromisoformat(iso) if isinstance(iso, str) else iso
        return (t - self.start).total_seconds()

    def at(self, t: float) -> datetime:
        return (self.start + timedelta(seconds=round(t, 6))).astimezone(self.tz)

    def local(self, t: float | None, seconds: bool = True) -> str:
        """`2025-10-19 23:48:24` in the scenario's offset ('-' for None)."""
        if t is None:
            return "-"
        return self.at(round(t)).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def utc(self, t: float | None, seconds: bool = True) -> str:
        if t is None:
            return "-"
        d = self.at(round(t)).astimezone(UTC)
        return d.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def clock(self, t: float, seconds: bool = False) -> str:
        """Short local time of day, `23:48` (with the date when it is not the start's)."""
        d = self.at(round(t))
        fmt = "%H:%M:%S" if seconds else "%H:%M"
        if d.date() == self.start.date():
            return d.strftime(fmt)
        return d.strftime("%b %d " + fmt)

    def elapsed(self, t: float) -> str:
        return "T+" + fmt_duration(t)

    # -- other files ---------------------------------------------------------------------------
    @cached_property
    def milestones(self) -> dict[str, float | None]:
        """Milestone -> sim seconds (None: it did not happen); to the millisecond from the
        timeline's milestone rows when present (summary.json has whole seconds)."""
        precise: dict[str, float] = {}
        frame = self.events
        if frame is not None:
            rows = frame[frame["kind"] == "milestone"]
            for name, t in zip(rows["detail"], rows["t"], strict=True):
                precise.setdefault(name, float(t))
        out: dict[str, float | None] = {}
        for k, v in self.summary.get("milestones", {}).items():
            if v is None:
                out[k] = None
            else:
                t = self.seconds(v)
                out[k] = precise[k] if abs(precise.get(k, -1e18) - t) <= 1 else t
        return out

    @cached_property
    def actions(self) -> list[dict[str, Any]]:
        """Operator actions performed, each with its sim time `t`."""
        return [
            {**a, "t": self.seconds(a["time"])} for a in self.summary.get("operator_actions", [])
        ]

    @cached_property
    def events(self) -> pd.DataFrame | None:
        """timeline.csv as a frame (time in sim seconds), None when absent."""
        import pandas as pd

        path = self.run_dir / "timeline.csv"
        if not path.is_file():
            return None
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame["t"] = frame["sim_seconds"].astype("float64")
        return frame

    @cached_property
    def metrics(self) -> pd.DataFrame | None:
        import pandas as pd

        path = self.run_dir / "metrics.parquet"
        if not path.is_file():
            return None
        return pd.read_parquet(path)

    def series(self, scope: str, metric: str) -> tuple[list[float], list[float], str, str]:
        """(times, values, kind, unit) of one recorded series; empty lists when not recorded."""
        frame = self.metrics
        if frame is None or frame.empty:
            return [], [], "", ""
        rows = frame[(frame["scope"] == scope) & (frame["metric"] == metric)]
        if rows.empty:
            return [], [], "", ""
        return (
            rows["time"].tolist(),
            rows["value"].tolist(),
            str(rows["kind"].iloc[0]),
            str(rows["unit"].iloc[0]),
        )

    @cached_property
    def reference(self) -> tuple[list[ReferenceRow] | None, str | None]:
        """(rows, problem) of the run's copy of its reference timeline ((None, None) if none)."""
        path = self.run_dir / "reference_timeline.csv"
        if not path.is_file():
            return None, None
        try:
            return parse_reference(path.read_text(encoding="utf-8-sig"), path.name), None
        except ReferenceError as exc:
            return None, str(exc)


def load_run(run_dir: Path) -> RunData:
    """The files of a run directory; FileNotFoundError naming the first required one missing."""
    data: dict[str, Any] = {}
    for name in REQUIRED:
        path = run_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; is {run_dir} a run directory?")
        data[name.split(".")[0]] = json.loads(path.read_text(encoding="utf-8"))
    views_path = run_dir / "views.json"
    views = json.loads(views_path.read_text(encoding="utf-8")) if views_path.is_file() else {}
    return RunData(run_dir, data["summary"], data["scenario"], data["run"], views)
