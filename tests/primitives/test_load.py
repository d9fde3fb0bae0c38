"""Load profiles: parsing, validation, rate integrals, and exact piecewise Poisson arrivals."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Generator
from typing import Any

import pydantic
import pytest
import simpy

from simulation.core.config import SectionConfig
from simulation.primitives.load import (
    LoadProfile,
    LoadStep,
    LoadSteps,
    PoissonArrivals,
    steps,
)


class Section(SectionConfig):
    load: LoadSteps = (LoadStep(),)


def poisson_process(
    env: simpy.Environment,
    profile: LoadProfile,
    rng: random.Random,
    emit: Callable[[], None],
) -> Generator[simpy.Event, Any, None]:
    """The process form `PoissonArrivals` replaced, kept as its oracle: a simpy process calling
    `emit()` at each arrival of `profile` (it ends when the rate stays 0)."""
    timeout = env.timeout
    expovariate = rng.expovariate
    starts, rates = profile.starts, profile.rates
    n = len(starts)
    t = env.now
    for i in range(n):
        end = starts[i + 1] if i + 1 < n else math.inf
        if end <= t:
            continue
        t = max(t, starts[i])
        rate = rates[i]
        if rate > 0.0:
            while True:
                t += expovariate(rate)
                if t >= end:
                    break
                delay = t - env.now
                yield timeout(delay if delay > 0.0 else 0.0)
                emit()
        t = end


def test_steps_parse_units_from_yaml_form() -> None:
    cfg = Section(load=[{"at": "0 s", "rate": "50/s"}, {"at": "10 min", "rate": "120/min"}])
    assert [(s.at, s.rate) for s in cfg.load] == [(0.0, 50.0), (600.0, 2.0)]


def test_default_step_is_ten_per_second_from_the_start() -> None:
    assert (Section().load[0].at, Section().load[0].rate) == (0.0, 10.0)


def test_steps_out_of_order_are_refused_with_the_offending_times() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        Section(load=[{"at": "5 min", "rate": "1/s"}, {"at": "1 min", "rate": "2/s"}])
    assert "a step at 60 s follows one at 300 s" in str(err.value)


def test_empty_profile_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        Section(load=[])
    assert "at least one step" in str(err.value)


def test_unknown_key_in_a_step_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        Section(load=[{"at": "0 s", "rate": "1/s", "burst": 3}])
    assert "burst" in str(err.value)


def test_rate_lookup_and_integral() -> None:
    p = LoadProfile(steps(("10 s", "2/s"), ("20 s", "0/s"), ("30 s", "5/s")))
    assert [p.rate_at(t) for t in (0, 9.99, 10, 19.99, 20, 29, 30, 1e9)] == [
        0.0,
        0.0,
        2.0,
        2.0,
        0.0,
        0.0,
        5.0,
        5.0,
    ]
    assert p.expected(0, 40) == pytest.approx(2 * 10 + 5 * 10)
    assert p.expected(15, 35) == pytest.approx(2 * 5 + 5 * 5)


def test_counts_per_step_match_the_integral_of_the_rate() -> None:
    """Counts in each step are Poisson(rate x length): within 4 standard deviations."""
    p = LoadProfile(steps(("0 s", "50/s"), ("100 s", "0/s"), ("150 s", "200/s"), ("250 s", "5/s")))
    times = list(p.arrivals(0, 400, random.Random(7)))
    for lo, hi in ((0, 100), (100, 150), (150, 250), (250, 400)):
        n = sum(lo <= t < hi for t in times)
        mean = p.expected(lo, hi)
        assert abs(n - mean) <= 4 * math.sqrt(mean) + 1e-9, (lo, hi, n, mean)
    assert not any(100 <= t < 150 for t in times)


def test_gaps_within_a_step_are_exponential() -> None:
    """Mean and coefficient of variation of the gaps: 1/rate and 1 (within 2%)."""
    p = LoadProfile(steps(("0 s", "20/s")))
    times = list(p.arrivals(0, 5000, random.Random(3)))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1))
    assert mean == pytest.approx(1 / 20, rel=0.02)
    assert sd / mean == pytest.approx(1.0, rel=0.02)


def test_arrivals_in_simpy_are_exactly_the_pure_sequence_then_stop() -> None:
    p = LoadProfile(steps(("5 s", "3/s"), ("20 s", "0/s"), ("30 s", "50/s"), ("40 s", "0/s")))
    expected = list(p.arrivals(0, 1000, random.Random(5)))
    env = simpy.Environment()
    got: list[float] = []
    PoissonArrivals(env, p, random.Random(5), lambda: got.append(env.now))
    env.run()  # returns only once nothing is scheduled: the rate stays 0 after 40 s
    assert got == pytest.approx(expected, abs=1e-9)
    assert env.now == got[-1] < 40
    assert all(5 <= t < 20 or 30 <= t < 40 for t in got)


def test_same_seed_same_arrivals_different_seed_different() -> None:
    p = LoadProfile(steps(("0 s", "10/s")))
    a = list(p.arrivals(0, 100, random.Random(1)))
    assert a == list(p.arrivals(0, 100, random.Random(1)))
    assert a != list(p.arrivals(0, 100, random.Random(2)))


@pytest.mark.parametrize("start", [0.0, 12.0, 25.0, 45.0])
def test_poisson_arrivals_schedule_the_events_of_the_process(start: float) -> None:
    """The callback form emits at the same instants, draws the same numbers (the emitter draws
    from the arrival stream too), and schedules the same events but the process's end."""
    p = LoadProfile(
        steps(
            ("5 s", "3/s"), ("20 s", "0/s"), ("30 s", "50/s"), ("35 s", "0.01/s"), ("40 s", "0/s")
        )
    )

    def run(form: str) -> tuple[list[tuple[float, float]], int, float]:
        env = simpy.Environment()
        rng = random.Random(5)
        got: list[tuple[float, float]] = []
        emit = lambda: got.append((env.now, rng.random()))  # noqa: E731

        def begin(_e: object) -> None:
            if form == "process":
                env.process(poisson_process(env, p, rng, emit))
            else:
                PoissonArrivals(env, p, rng, emit)

        env.timeout(start).callbacks.append(begin)
        env.run(1000)
        return got, next(env._eid), rng.random()

    (a, events_a, after_a), (b, events_b, after_b) = run("process"), run("callbacks")
    assert a == b and after_a == after_b and (start > 40 or len(a) > 100)
    assert events_a - events_b == 1  # the process's end event
