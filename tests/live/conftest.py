"""Fixtures of the live DNS tests: the dns-race lab prepared to an instant, and servers on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulation.live.dns_server import LiveDns, LiveDnsThread
from simulation.live.driver import SimDriver, resolve_instant
from simulation.runner import prepare
from simulation.scenario.load import load_scenario

ROOT = Path(__file__).resolve().parents[2]
RACE = ROOT / "scenarios/labs/dns-race.yaml"
ENDPOINT = "dynamodb.us-east-1.amazonaws.com"
ORIGIN = "us-east-1.amazonaws.com"
BEFORE = "2025-10-19T23:30:00-07:00"
"""Before the race: the endpoint resolves (the lab's fault starts at 23:33)."""
DURING = "2025-10-20T01:00:00-07:00"
"""Inside the outage: the record emptied ~23:48, the manual repair is at 02:25."""


def race_driver(at: str | None = None, overrides: list[str] | None = None) -> SimDriver:
    """The dns-race lab's model, advanced to `at` (not advanced when None)."""
    loaded = load_scenario(RACE, overrides or [])
    driver = SimDriver(prepare(loaded))
    if at is not None:
        driver.advance_to(resolve_instant(at, loaded))
    return driver


def serve(at: str, idle_timeout: float = 10.0) -> LiveDnsThread:
    """A started server on a free loopback port, frozen at `at` in the dns-race lab."""
    loaded = load_scenario(RACE, [])
    driver = SimDriver(prepare(loaded))
    live = LiveDns(driver, None, resolve_instant(at, loaded), "127.0.0.1", 0, idle_timeout)
    return LiveDnsThread(live).start()


@pytest.fixture(scope="package")
def before_server() -> Iterator[LiveDnsThread]:
    server = serve(BEFORE, idle_timeout=0.5)
    yield server
    server.stop()


@pytest.fixture(scope="package")
def during_server() -> Iterator[LiveDnsThread]:
    server = serve(DURING)
    yield server
    server.stop()
