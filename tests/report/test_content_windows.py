"""The health table's windows column: a flapping row stays one line."""

from __future__ import annotations

from types import SimpleNamespace

from simulation.report.content import FLAP_GAP_S, _windows_text


def _run():
    return SimpleNamespace(end_s=100_000.0, clock=lambda t: f"t{int(t)}")


def test_separate_windows_are_listed_and_close_ones_summarised():
    gap = FLAP_GAP_S
    windows = [(0.0, 100.0, 2), (100.0 + gap, 200.0 + gap, 1)]  # a full gap apart: two
    assert _windows_text(_run(), windows) == (
        f"t0-t100 (down); t{int(100 + gap)}-t{int(200 + gap)} (degraded)"
    )
    flaps = [(1000.0 + 60 * i, 1030.0 + 60 * i, 1) for i in range(40)]
    flaps[7] = (flaps[7][0], flaps[7][1], 2)
    text = _windows_text(_run(), [*flaps, (99_000.0, 100_000.0, 1)])
    assert text == "t1000-t3370 (down, on and off: 40 windows); t99000-end of run (degraded)"
    assert _windows_text(_run(), []) == "none"
