"""Units at the boundary: durations, rates, sizes and timestamps as people write them in YAML.

The core works in float seconds (durations), events per second (rates), bytes (sizes) and
timezone-aware datetimes. The pydantic types at the bottom (`Duration`, `Rate`, `Size`,
`Timestamp`) parse the text and carry a `unit` note the scenario reference uses.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from .errors import UnitError

_DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
    "kB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
}
_NUMBER = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_QUANTITY = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-zµ]+)\s*$")
_RATE = re.compile(rf"^\s*{_NUMBER}\s*/\s*([A-Za-zµ]+)\s*$")


def _split(text: str, pattern: re.Pattern[str], example: str) -> tuple[float, str]:
    m = pattern.match(text)
    if not m:
        raise UnitError(f"expected {example}, got {text!r}")
    value = float(m.group(1))
    if not math.isfinite(value):
        raise UnitError(f"expected a finite number in {text!r}")
    return value, m.group(2)


def parse_duration(value: Any) -> float:
    """`'250 ms'` -> 0.25; `'5 min'` -> 300.0. A bare 0 is allowed (zero needs no unit)."""
    if isinstance(value, bool):
        raise UnitError(f"expected a duration such as '30 s' or '5 min', got {value!r}")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise UnitError(
            f"expected a duration with a unit such as '{value} s' or '{value} min', got {value!r}"
        )
    if not isinstance(value, str):
        raise UnitError(f"expected a duration such as '30 s' or '5 min', got {value!r}")
    number, unit = _split(value, _QUANTITY, "a duration such as '30 s' or '5 min'")
    if unit not in _DURATION_UNITS:
        known = ", ".join(_DURATION_UNITS)
        raise UnitError(f"unknown duration unit {unit!r} in {value!r} (known: {known})")
    if number < 0:
        raise UnitError(f"expected a non-negative duration, got {value!r}")
    return number * _DURATION_UNITS[unit]


def parse_rate(value: Any) -> float:
    """`'100/s'` -> 100.0 per second; `'5/min'` -> 0.0833 per second."""
    if isinstance(value, str):
        number, unit = _split(value, _RATE, "a rate such as '100/s' or '5/min'")
        if unit not in _DURATION_UNITS:
            known = ", ".join(f"/{u}" for u in _DURATION_UNITS)
            raise UnitError(f"unknown rate unit '/{unit}' in {value!r} (known: {known})")
        if number < 0:
            raise UnitError(f"expected a non-negative rate, got {value!r}")
        return number / _DURATION_UNITS[unit]
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    raise UnitError(f"expected a rate such as '100/s' or '5/min', got {value!r}")


def parse_size(value: Any) -> int:
    """`'4 KiB'` -> 4096; `'16 GiB'` -> 17179869184 bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0
    if not isinstance(value, str):
        raise UnitError(f"expected a size such as '4 KiB' or '16 GiB', got {value!r}")
    number, unit = _split(value, _QUANTITY, "a size such as '4 KiB' or '16 GiB'")
    if unit not in _SIZE_UNITS:
        known = ", ".join(_SIZE_UNITS)
        raise UnitError(f"unknown size unit {unit!r} in {value!r} (known: {known})")
    if number < 0:
        raise UnitError(f"expected a non-negative size, got {value!r}")
    return round(number * _SIZE_UNITS[unit])


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with an explicit offset (`2025-10-19T23:00:00-07:00`); naive times are refused."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise UnitError(
                f"expected an ISO-8601 time with offset such as '2025-10-19T23:00:00-07:00', "
                f"got {value!r}"
            ) from None
    else:
        raise UnitError(
            f"expected an ISO-8601 time with offset such as '2025-10-19T23:00:00-07:00', "
            f"got {value!r}"
        )
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise UnitError(
            f"time {value!s} has no UTC offset; write it as e.g. "
            f"'{dt.strftime('%Y-%m-%dT%H:%M:%S')}-07:00'"
        )
    return dt


def format_duration(seconds: float) -> str:
    """The inverse for humans: 90 -> '1 min 30 s', 0.25 -> '250 ms'."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g} ms"
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9:
        return f"{seconds:g} s"
    h, rem = divmod(int(whole), 3600)
    m, s = divmod(rem, 60)
    parts = [f"{h} h"] if h else []
    if m:
        parts.append(f"{m} min")
    if s or not parts:
        parts.append(f"{s} s")
    return " ".join(parts)


def _unit_type(py: type, parser: Any, unit: str, example: str, dump: Any) -> Any:
    return Annotated[
        py,
        BeforeValidator(parser),
        PlainSerializer(dump, when_used="json"),
        WithJsonSchema({"type": "string", "unit": unit, "examples": [example]}),
    ]


Duration = _unit_type(float, parse_duration, "duration", "30 s", format_duration)
"""Seconds, written with a unit: `250 ms`, `30 s`, `5 min`, `2 h`."""
Rate = _unit_type(float, parse_rate, "rate", "100/s", lambda v: f"{v:g}/s")
"""Per second, written with a unit: `100/s`, `5/min`."""
Size = _unit_type(int, parse_size, "size", "4 KiB", lambda v: f"{v} B")
"""Bytes, written with a unit: `4 KiB`, `2 MiB`, `16 GiB`."""
Timestamp = _unit_type(
    datetime, parse_timestamp, "timestamp", "2025-10-19T23:00:00-07:00", lambda v: v.isoformat()
)
"""A timezone-aware instant, ISO-8601 with its UTC offset."""
