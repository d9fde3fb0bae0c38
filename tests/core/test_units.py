from datetime import timedelta

import pytest

from simulation.core.errors import UnitError
from simulation.core.units import (
    format_duration,
    parse_duration,
    parse_rate,
    parse_size,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250 ms", 0.25),
        ("30 s", 30.0),
        ("5 min", 300.0),
        ("2 h", 7200.0),
        ("1.5h", 5400.0),
        ("100 us", 1e-4),
        ("1 d", 86400.0),
        (0, 0.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "per_second"), [("100/s", 100.0), ("5/min", 5 / 60), ("3600 / h", 1.0), (0, 0.0)]
)
def test_rates(text, per_second):
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("4 KiB", 4096),
        ("2 MiB", 2 * 1024**2),
        ("16 GiB", 16 * 1024**3),
        ("1 kB", 1000),
        ("0.5 KiB", 512),
    ],
)
def test_sizes(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize(
    ("fn", "value", "message"),
    [
        (
            parse_duration,
            "3 parsecs",
            "unknown duration unit 'parsecs' in '3 parsecs' (known: ns, us, µs, ms, s, sec, min, h, d)",
        ),
        (parse_duration, 30, "expected a duration with a unit such as '30 s' or '30 min', got 30"),
        (parse_duration, "-5 s", "expected a non-negative duration, got '-5 s'"),
        (parse_duration, "soon", "expected a duration such as '30 s' or '5 min', got 'soon'"),
        (parse_duration, True, "expected a duration such as '30 s' or '5 min', got True"),
        (
            parse_rate,
            "100/fortnight",
            "unknown rate unit '/fortnight' in '100/fortnight' (known: /ns, /us, /µs, /ms, /s, /sec, /min, /h, /d)",
        ),
        (parse_rate, "100", "expected a rate such as '100/s' or '5/min', got '100'"),
        (
            parse_size,
            "4 KB",
            "unknown size unit 'KB' in '4 KB' (known: B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)",
        ),
        (parse_size, "nan KiB", "expected a size such as '4 KiB' or '16 GiB', got 'nan KiB'"),
        (
            parse_timestamp,
            "2025-10-19T23:00:00",
            "time 2025-10-19T23:00:00 has no UTC offset; write it as e.g. '2025-10-19T23:00:00-07:00'",
        ),
        (
            parse_timestamp,
            "yesterday",
            "expected an ISO-8601 time with offset such as '2025-10-19T23:00:00-07:00', got 'yesterday'",
        ),
    ],
)
def test_unit_errors(fn, value, message):
    with pytest.raises(UnitError) as err:
        fn(value)
    assert str(err.value) == message


def test_timestamp_keeps_offset():
    t = parse_timestamp("2025-10-19T23:48:00-07:00")
    assert t.utcoffset() == timedelta(hours=-7)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250 ms"), (90, "1 min 30 s"), (7200, "2 h"), (0, "0 s"), (1.5, "1.5 s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
