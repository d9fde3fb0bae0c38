"""Published timelines (the shared CSV format) that a report sets beside the modelled one.

Format: one row per published event, columns `time_pdt` (naive, Pacific Daylight Time), or
`time_utc` (naive, UTC), or `time` (ISO-8601 with offset); `milestone` (the name of a detected
milestone for `outcome` rows, of an operator action for `input` rows); `role` (`outcome` or
`input`); optionally `subsystem` and `event` (what was published). Only the standard library is
used so the runner can validate the file before a run starts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

PDT = timezone(timedelta(hours=-7), "PDT")
TIME_COLUMNS = {"time_pdt": PDT, "time_utc": UTC, "time": None}
ROLES = ("outcome", "input")


class ReferenceError(ValueError):
    """A problem with a reference timeline file (the caller locates it in the scenario)."""


@dataclass(frozen=True)
class ReferenceRow:
    time: datetime
    milestone: str
    role: str
    subsystem: str = ""
    event: str = ""


def parse_reference(text: str, name: str) -> list[ReferenceRow]:
    """Rows of a reference timeline CSV, in file order; ReferenceError naming the line."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    time_col = next((c for c in TIME_COLUMNS if c in columns), None)
    missing = [c for c in ("milestone", "role") if c not in columns]
    if time_col is None:
        missing.insert(0, "time_pdt")
    if missing:
        raise ReferenceError(
            f"{name}: missing column(s) {', '.join(repr(c) for c in missing)} (a reference "
            "timeline has time_pdt (or time_utc, or time with offset), milestone, role and "
            "optionally subsystem, event)"
        )
    rows = []
    for line, rec in enumerate(reader, start=2):
        raw = (rec.get(time_col) or "").strip()
        try:
            t = datetime.fromisoformat(raw)
        except ValueError:
            raise ReferenceError(
                f"{name} line {line}: {time_col} {raw!r} is not an ISO-8601 time "
                "(e.g. 2025-10-19T23:48)"
            ) from None
        zone = TIME_COLUMNS[time_col]
        if zone is not None:
            if t.tzinfo is not None:
                raise ReferenceError(
                    f"{name} line {line}: {time_col} {raw!r} has an offset; write it without "
                    "(the column names the zone) or use a 'time' column"
                )
            t = t.replace(tzinfo=zone)
        elif t.tzinfo is None:
            raise ReferenceError(f"{name} line {line}: time {raw!r} needs a UTC offset")
        role = (rec.get("role") or "").strip()
        if role not in ROLES:
            raise ReferenceError(f"{name} line {line}: role {role!r} must be 'outcome' or 'input'")
        milestone = (rec.get("milestone") or "").strip()
        if not milestone:
            raise ReferenceError(f"{name} line {line}: empty milestone")
        rows.append(
            ReferenceRow(
                t,
                milestone,
                role,
                (rec.get("subsystem") or "").strip(),
                (rec.get("event") or "").strip(),
            )
        )
    return rows


def read_reference(path: Path, shown: str, looked: str | None = None) -> list[ReferenceRow]:
    """Read and parse `path` (`shown` in messages, as written in the scenario; `looked`: the
    path looked for); ReferenceError if missing or malformed."""
    if not path.is_file():
        raise ReferenceError(f"no such file {shown!r} (looked for {looked or path})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceError(f"{shown}: cannot read it ({exc})") from None
    return parse_reference(text, shown)
