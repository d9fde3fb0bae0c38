from datetime import datetime

import pytest

from simulation.core import Component, SimEnv, WiringError
from simulation.core.clock import ScenarioClock
from simulation.core.rng import stream

START = datetime.fromisoformat("2025-10-19T23:00:00-07:00")


def test_clock_round_trip_and_offset():
    clock = ScenarioClock(START)
    assert clock.iso(48 * 60) == "2025-10-19T23:48:00-07:00"
    assert clock.to_sim(datetime.fromisoformat("2025-10-20T09:48:00+00:00")) == 3 * 3600 + 48 * 60
    assert clock.utc(0).isoformat() == "2025-10-20T06:00:00+00:00"
    for t in (0.0, 1.5, 86399.25):
        assert clock.to_sim(clock.to_datetime(t)) == pytest.approx(t)
    with pytest.raises(ValueError):
        ScenarioClock(datetime(2025, 10, 19))


def test_rng_streams_are_per_scope_and_stable():
    a1 = [stream(7, "region.a").random() for _ in range(1)]
    assert a1 == [stream(7, "region.a").random()]
    assert stream(7, "region.a").random() != stream(7, "region.b").random()
    assert stream(7, "region.a").random() != stream(8, "region.a").random()


def test_adding_a_component_does_not_change_another_s_draws():
    def draws(extra: bool) -> list[float]:
        env = SimEnv(START, seed=5)
        root = Component(env, "region")
        if extra:
            Component(root, "newcomer").rng.random()
        c = Component(root, "dns")
        return [c.rng.random() for _ in range(5)]

    assert draws(False) == draws(True)


def test_scopes_and_tree():
    env = SimEnv(START)
    root = Component(env, "region")
    dns = Component(root, "dns")
    e = Component(dns, "enactor", "az2")
    assert e.scope == "region.dns.enactor[az2]"
    assert [c.scope for c in root.walk()] == ["region", "region.dns", "region.dns.enactor[az2]"]


def test_missing_connection_names_both_ends():
    class Host(Component):
        requires = ("resolver",)

    env = SimEnv(START)
    root = Component(env, "region")
    Host(root, "host", 3)
    with pytest.raises(WiringError) as err:
        root.check_wiring()
    assert str(err.value) == (
        "region.host[3] needs connection 'resolver' -> nothing connected "
        "(connect it with region.host[3].connect('resolver', <target>))"
    )
    root.children[0].connect("resolver", object())
    root.check_wiring()


def test_logger_stamps_sim_time(caplog):
    env = SimEnv(START)
    c = Component(Component(env, "region"), "x")
    env.run(until=90)
    with caplog.at_level("INFO"):
        c.log.info("hello")
    assert "[t=90.000s 2025-10-19T23:01:30-07:00] region.x: hello" in caplog.text


def test_find_by_scope():
    env = SimEnv(START)
    root = Component(env, "region")
    dns = Component(root, "dynamodb_dns")
    assert root.find("region.dynamodb_dns") is dns
    assert root.find("region.nothing") is None
