"""Congestive collapse lab: collapse from queueing + deadlines + retries, and the ways out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from simulation.core import Component, Results, SimEnv
from simulation.core.recorder import FixedClock, Level
from simulation.core.units import parse_duration
from simulation.subsystems.labs.congestive_collapse import (
    Config,
    CongestiveCollapseLab,
    SetQueueParams,
    build,
)

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "congestive-collapse.yaml"
START = datetime(2025, 10, 19, 23, 0, tzinfo=UTC)

# A compressed timeline for the variants: surge from 1 to 3 min, then back to 50/s.
SURGE = [
    {"at": "0 s", "rate": "50/s"},
    {"at": "1 min", "rate": "100/s"},
    {"at": "3 min", "rate": "50/s"},
]


def run(
    until: float,
    actions: tuple[tuple[float, Any], ...] = (),
    seed: int = 1,
    **config: Any,
) -> tuple[CongestiveCollapseLab, dict[str, Any], dict[str, float | None]]:
    env = SimEnv(START, seed)
    root = Component(env, "region")
    lab = build(root, Config(**config))
    for t, act in actions:
        env.timeout(t).callbacks.append(lambda _e, act=act: act(lab))
    env.run(until)
    results = Results(env, until)
    milestones = {name: fn(results) for name, fn in lab.detectors().items()}
    return lab, lab.statistics(results), milestones


def phase_fraction(stats: dict[str, Any], i: int) -> float:
    return stats["phases"][f"phase{i}"]["goodput_fraction"]


def test_yaml_section_validates() -> None:
    doc = yaml.safe_load(SCENARIO.read_text())
    cfg = Config(**doc["labs"]["congestive_collapse"])
    assert cfg.retry.attempt_timeout == 2.0 and cfg.queue.on_expired == "complete"
    assert [s.rate for s in cfg.load] == [50.0, 100.0, 50.0]


def test_client_timeout_is_required() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        Config(retry={"attempt_timeout": None})
    assert "retry.attempt_timeout must be set" in str(err.value)


def test_the_scenario_file_meets_its_own_expectations() -> None:
    """Runs the YAML's lab with its operator actions and checks its `expect:` block."""
    doc = yaml.safe_load(SCENARIO.read_text())
    actions = []
    for op in doc["operators"]:
        at = parse_duration(op["at"].lstrip("+"))
        params = op.get("params", {})
        if op["action"] == "restart":
            actions.append((at, lambda lab: lab.restart()))
        else:
            actions.append((at, lambda lab, p=params: lab.set_queue(SetQueueParams(**p))))
    until = parse_duration(doc["duration"])
    lab, stats, milestones = run(until, tuple(actions), **doc["labs"]["congestive_collapse"])
    for e in doc["expect"]:
        if "milestone" in e:
            t = milestones[e["milestone"]]
            assert t is not None, e["name"]
            at = parse_duration(e["at"].lstrip("+"))
            assert abs(t - at) <= parse_duration(e["tolerance"]), (e["name"], t)
        else:
            node: Any = stats
            for part in e["statistic"].removeprefix("region.congestive_collapse.").split("."):
                node = node[part]
            assert node >= e.get("min", -1e300) and node <= e.get("max", 1e300), (e["name"], node)
    assert lab.calls == lab.server.queue.arrivals


def test_below_capacity_goodput_follows_the_offered_load() -> None:
    _, s, ms = run(600, load=[{"at": "0 s", "rate": "60/s"}])
    assert ms == {"collapse": None, "recovered": None}
    assert s["goodput"] == pytest.approx(s["offered_per_s"], rel=0.01)
    assert s["calls_per_request"] == pytest.approx(1.0, abs=0.005)
    assert s["wasted"] == 0


def test_a_temporary_overload_collapses_goodput_and_it_stays_collapsed() -> None:
    lab, s, ms = run(600, load=SURGE)
    assert ms["collapse"] == pytest.approx(80, abs=30)  # 20 s into the surge
    assert ms["recovered"] is None
    assert phase_fraction(s, 1) > 0.99
    assert phase_fraction(s, 3) < 0.02  # 7 minutes after the load fell back
    assert s["phases"]["phase3"]["calls_per_request"] > 2.9  # every request sent 3 times
    assert s["wasted_fraction"] > 0.8  # the server is busy with work nobody waits for
    q = lab.server.queue
    assert q.balanced() and q.waiting > 10_000  # the backlog keeps growing


def test_the_collapse_is_sustained_by_retries_not_by_the_trigger() -> None:
    """With a single attempt per request the same surge leaves no lasting damage."""
    _, s, ms = run(600, load=SURGE, retry={"max_attempts": 1, "attempt_timeout": "2 s"})
    assert ms["collapse"] is None or ms["recovered"] is not None
    assert phase_fraction(s, 3) > 0.8


def test_switching_to_lifo_sheds_the_collapse() -> None:
    act = ((300.0, lambda lab: lab.set_queue(SetQueueParams(discipline="lifo"))),)
    _, s, ms = run(600, act, load=SURGE)
    assert ms["collapse"] is not None and ms["recovered"] == pytest.approx(310, abs=30)
    assert phase_fraction(s, 4) > 0.95


def test_lifo_or_admission_from_the_start_prevent_it() -> None:
    _, lifo, ms_lifo = run(600, load=SURGE, queue={"discipline": "lifo", "on_expired": "complete"})
    _, adm, ms_adm = run(600, load=SURGE, queue={"max_waiting": 80, "on_expired": "complete"})
    assert ms_lifo["collapse"] is None and ms_adm["collapse"] is None
    assert phase_fraction(lifo, 3) > 0.99 and phase_fraction(adm, 3) > 0.99
    # refused fast instead of served late (a rare long service can still overrun a deadline)
    assert adm["rejected"] > 1000 and adm["wasted"] < 0.001 * adm["requests"]


def test_dropping_expired_work_at_dequeue_keeps_some_goodput_and_drains_slowly() -> None:
    _, s, ms = run(1500, load=SURGE, queue={"on_expired": "drop"})
    assert s["expired"] > 10_000  # skipped at no cost instead of served for nobody
    assert ms["collapse"] is not None and ms["recovered"] is not None
    assert phase_fraction(s, 3) > 0.3


def test_restart_with_headroom_recovers() -> None:
    load = [
        {"at": "0 s", "rate": "40/s"},
        {"at": "1 min", "rate": "100/s"},
        {"at": "3 min", "rate": "40/s"},
    ]
    _, s, ms = run(600, ((300.0, lambda lab: lab.restart(0.0)),), load=load)
    assert ms["collapse"] is not None and ms["recovered"] == pytest.approx(310, abs=30)
    assert s["cleared"] > 1000


def test_restart_alone_can_fall_back_into_collapse_under_the_retry_burst() -> None:
    """Metastability: at 50/s the retries of the dropped attempts plus 5 s of downtime refill
    the queue past the timeout; throttling by queue size with the restart gets out."""
    _, alone, ms_alone = run(600, ((300.0, lambda lab: lab.restart()),), load=SURGE)
    assert ms_alone["recovered"] is None and phase_fraction(alone, 4) < 0.05
    both = (
        (300.0, lambda lab: lab.set_queue(SetQueueParams(max_waiting=80))),
        (300.0, lambda lab: lab.restart()),
    )
    _, s, ms = run(600, both, load=SURGE)
    assert ms["recovered"] == pytest.approx(320, abs=30)
    assert phase_fraction(s, 4) > 0.9


def test_same_seed_same_run() -> None:
    a = run(200, load=SURGE)[1]
    assert a == run(200, load=SURGE)[1]
    assert a != run(200, load=SURGE, seed=2)[1]


def test_requests_are_accounted_for() -> None:
    lab, s, _ = run(200, load=SURGE)
    in_progress = s["requests"] - lab.successes - lab.failed
    assert 0 <= in_progress < 2000
    assert lab.calls == lab.server.queue.arrivals
    assert lab.timeouts + lab.refusals + lab.successes <= lab.calls


def test_sustained_condition_detection() -> None:
    level = Level("x", "f", FixedClock(0.0))
    for t, v in [(0, 1.0), (10, 0.05), (20, 0.0), (30, 0.5), (40, 0.0), (50, 0.02), (200, 1.0)]:
        level.times.append(float(t))
        level.values.append(v)
    low = level.first_sustained(lambda v: v < 0.1, 60.0, 300.0)
    assert low == 40.0  # 10-30 is too short; 40-200 holds
    assert level.first_sustained(lambda v: v >= 0.9, 60.0, 300.0, after=low) == 200.0
    assert level.first_sustained(lambda v: v >= 0.9, 200.0, 300.0, after=low) is None
