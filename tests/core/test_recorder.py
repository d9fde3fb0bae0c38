from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.core import SimEnv

START = datetime.fromisoformat("2025-10-19T23:00:00-07:00")


def run_levels(changes: list[tuple[float, float]]):
    env = SimEnv(START)
    lvl = env.recorder.level("s", "q", initial=0.0)

    def proc():
        for dt, v in changes:
            yield env.timeout(dt)
            lvl.set(v)

    env.process(proc())
    env.run()
    return env, lvl


def test_level_is_time_weighted_and_folds_repeats():
    _, lvl = run_levels([(10, 4), (0, 4), (10, 0), (5, 0)])
    assert lvl.times == [0, 10, 20]
    assert lvl.values == [0, 4, 0]
    assert lvl.time_weighted_mean(0, 40) == pytest.approx(40 / 40)
    assert lvl.value_at(15) == 4
    assert lvl.first_time(lambda v: v > 0) == 10
    assert lvl.first_time(lambda v: v == 0, after=12) == 20
    assert lvl.duration_where(lambda v: v > 0, end=40) == 10


def test_same_instant_updates_keep_the_last_value():
    _, lvl = run_levels([(5, 1), (0, 2), (0, 3)])
    assert (lvl.times, lvl.values) == ([0, 5], [0, 3])


def _folded_reference(changes: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Level.set as it was first written (clock read first), the oracle for the current one."""
    times: list[float] = [0.0]
    values: list[float] = [0.0]
    t = 0.0
    for dt, v in changes:
        t += dt
        if values[-1] == v:
            continue
        if times[-1] == t:
            values[-1] = v
            if len(values) > 1 and values[-2] == v:
                values.pop()
                times.pop()
            continue
        times.append(t)
        values.append(v)
    return times, values


@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.0, 1.0, 2.5]), st.sampled_from([0.0, 1.0, 2.0])),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_level_set_folds_as_before(changes: list[tuple[float, float]]) -> None:
    _, lvl = run_levels(changes)
    assert (lvl.times, lvl.values) == _folded_reference(changes)


def test_tally_is_per_sample():
    env = SimEnv(START)
    t = env.recorder.tally("s", "latency")
    for v in [1.0, 2.0, 3.0, 4.0]:
        t.observe(v)
    assert t.count == 4 and t.mean() == 2.5
    assert t.quantile(0.5) == 2.5 and t.quantile(1.0) == 4.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.integers(-5, 5)), max_size=30))
def test_time_weighted_mean_matches_a_brute_force_integral(changes):
    env, lvl = run_levels([(dt, float(v)) for dt, v in changes])
    end = env.now + 1.0
    integral, t, v = 0.0, 0.0, 0.0
    for dt, nv in changes:
        integral += dt * v
        t += dt
        v = float(nv)
    integral += (end - t) * v
    assert lvl.time_weighted_mean(0, end) == pytest.approx(integral / end, abs=1e-9)


def test_frames():
    env, _ = run_levels([(10, 4)])
    env.recorder.event("s", "boom", "x")
    ev = env.recorder.events_frame()
    assert list(ev.columns) == ["time", "scope", "kind", "detail"]
    m = env.recorder.metrics_frame()
    assert list(m["value"]) == [0.0, 4.0] and set(m["kind"]) == {"level"}


def test_first_sustained_needs_the_whole_hold_and_counts_a_stretch_running_at_the_end():
    _, lvl = run_levels([(10, 5), (5, 0), (10, 5)])  # 0 until 10, 5 until 15, 0 until 25, 5 on
    assert lvl.first_sustained(lambda v: v > 0, hold=5, end=100) == 10
    assert lvl.first_sustained(lambda v: v > 0, hold=6, end=100) == 25
    assert lvl.first_sustained(lambda v: v > 0, hold=6, end=30) is None
    assert lvl.first_sustained(lambda v: v == 0, hold=10, end=100, after=12) == 15
