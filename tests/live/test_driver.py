"""Sim time for the live server: instants, the state at an instant, replay against a clock, and
served outcomes that follow the scenario's inputs (nothing keyed to the incident's timestamps)."""

from __future__ import annotations

import pytest

from simulation.core.errors import UserInputError
from simulation.live.driver import Replay, resolve_instant
from simulation.primitives.dns import A, name
from simulation.scenario.load import load_scenario

from .conftest import BEFORE, DURING, ENDPOINT, RACE, race_driver

REGIONAL = name(ENDPOINT)


def addresses(driver) -> int:
    return len(driver.zones[0].addresses(REGIONAL, A))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("start", 0.0),
        ("END", 14400.0),
        ("2025-10-19T23:30:00-07:00", 1800.0),
        ("2025-10-20T06:30:00Z", 1800.0),
        ("+50 min", 3000.0),
    ],
)
def test_instants(text, seconds):
    assert resolve_instant(text, load_scenario(RACE, [])) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tomorrow",
            "--at 'tomorrow': expected start, end, an ISO-8601 time with offset such as "
            "'2025-10-19T23:50:00-07:00', or an offset from the start such as '+50 min'",
        ),
        (
            "2025-10-20T01:00:00",
            "--at '2025-10-20T01:00:00': expected start, end, an ISO-8601 time with offset such "
            "as '2025-10-19T23:50:00-07:00', or an offset from the start such as '+50 min'",
        ),
        (
            "2025-10-20T05:00:00-07:00",
            "--at '2025-10-20T05:00:00-07:00': outside the scenario, which runs from "
            "2025-10-19T23:00:00-07:00 to 2025-10-20T03:00:00-07:00",
        ),
        (
            "+5 h",
            "--at '+5 h': outside the scenario, which runs from 2025-10-19T23:00:00-07:00 to "
            "2025-10-20T03:00:00-07:00",
        ),
    ],
)
def test_bad_instants_are_user_errors_with_their_exact_text(text, message):
    with pytest.raises(UserInputError) as err:
        resolve_instant(text, load_scenario(RACE, []))
    assert str(err.value) == message


def test_the_state_at_an_instant_includes_a_change_served_exactly_then():
    probe = race_driver()
    env, zone = probe.env, probe.zones[0]
    emptied: list[float] = []
    zone.watch_served(
        lambda s: emptied.append(env.now) if not emptied and not s.answers(REGIONAL, A) else None
    )
    probe.advance_to(resolve_instant(DURING, probe.prepared.loaded))
    (t,) = emptied
    assert 1800 < t < 3 * 3600  # the race happened, between the fault and the repair
    at, just_before = race_driver(), race_driver()
    at.advance_to(t)
    just_before.advance_to(t - 0.001)
    assert addresses(at) == 0 and addresses(just_before) == 8
    assert at.position == t and at.env.now == t


def test_what_is_served_follows_the_operator_action_not_the_clock():
    repaired = race_driver("2025-10-20T02:30:00-07:00")
    assert addresses(repaired) == 8  # the repair at 02:25 (+15 s propagation) was served
    late = race_driver("2025-10-20T02:30:00-07:00", ["operators.dns_manual_repair.at=+210 min"])
    assert addresses(late) == 0  # moved to 02:30 + 15 s propagation: still empty
    late.advance_to(late.position + 15)
    assert addresses(late) == 8


def test_the_fix_switch_means_the_endpoint_never_empties():
    fixed = race_driver(DURING, ["dynamodb_dns.apply_version_check=true"])
    assert addresses(fixed) == 8


def test_describe_says_what_each_endpoint_resolves_to():
    assert race_driver(BEFORE).describe() == (
        "sim 2025-10-19T23:30:00-07:00 (start + 30 min) | dynamodb: 8 addresses in 4 weighted "
        "answers | streams.dynamodb: 8 addresses in 4 weighted answers | dynamodb-fips: 8 "
        "addresses in 4 weighted answers"
    )
    during = race_driver(DURING).describe(with_time=False)
    assert during.startswith("dynamodb: EMPTY (NODATA) | ")
    end = race_driver("end").describe()
    assert end.endswith("| frozen at the scenario's end")


class FakeClock:
    """Wall time that moves only when told, plus `cost` per reading (a slow machine)."""

    def __init__(self, cost: float = 0.0) -> None:
        self.t, self.cost = 100.0, cost

    def __call__(self) -> float:
        self.t += self.cost
        return self.t


def test_replay_maps_wall_time_to_sim_time_and_freezes_at_the_end():
    driver, clock = race_driver(), FakeClock()
    replay = Replay(driver, speed=60.0, origin=600.0, clock=clock)
    assert driver.position == 600.0
    clock.t += 10
    assert replay.tick() == 0.0 and driver.position == pytest.approx(1200.0)
    clock.t += 3600
    replay.tick()
    assert driver.position == driver.end and driver.finished and addresses(driver) == 8


def test_replay_works_in_bounded_slices_and_catches_up():
    driver, clock = race_driver(), FakeClock(cost=0.001)  # every clock reading costs 1 ms
    replay = Replay(driver, speed=1e6, clock=clock, slice=0.005)
    clock.t += 1.0  # the target is far past the end
    lag = replay.tick()
    assert lag > 0 and 0 < driver.position < driver.end  # stopped when its slice was spent
    for _ in range(10_000):
        if replay.tick() == 0.0:
            break
    assert driver.position == driver.end


def test_a_model_error_freezes_the_state_and_says_so():
    driver = race_driver(BEFORE)

    def broken() -> None:
        raise RuntimeError("boom")

    driver.env.step = broken
    driver.advance_to(7200)
    assert driver.finished and driver.position == 1800.0
    assert driver.describe().endswith(
        "| frozen: model error at sim time 1799 s: RuntimeError: boom"
    )


def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="speed must be a positive number, got 0"):
        Replay(race_driver(), speed=0)
