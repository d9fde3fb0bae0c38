"""Server patterns lab: the five patterns side by side under the same load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from simulation.core import Component, Results, SimEnv
from simulation.core.units import parse_duration
from simulation.primitives.servers import PATTERN_NAMES
from simulation.subsystems.labs.server_patterns import Config, ServerPatternsLab, build

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "server-patterns.yaml"
START = datetime(2025, 10, 19, 23, 0, tzinfo=UTC)


def run(config: Config, until: float, seed: int = 1) -> tuple[ServerPatternsLab, Results]:
    env = SimEnv(START, seed)
    root = Component(env, "region")
    lab = build(root, config)
    env.run(until)
    return lab, Results(env, until)


def all_stats(root: Component, results: Results) -> dict[str, dict[str, Any]]:
    return {c.scope: s for c in root.walk() if (s := c.statistics(results))}


def test_yaml_section_validates() -> None:
    doc = yaml.safe_load(SCENARIO.read_text())
    cfg = Config(**doc["labs"]["server_patterns"])
    assert cfg.patterns == PATTERN_NAMES
    assert cfg.server.service.distribution == "lognormal"
    assert cfg.server.listener.capacity == 511


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        Config(patterns=["reuseport", "reuseport"])
    assert "repeated: reuseport" in str(err.value)
    with pytest.raises(pydantic.ValidationError) as err:
        Config(patterns=[])
    assert "at least one pattern" in str(err.value)
    with pytest.raises(pydantic.ValidationError) as err:
        Config(patterns=["thread_per_request"])
    assert "event_loop" in str(err.value)  # the message lists the choices
    with pytest.raises(pydantic.ValidationError) as err:
        Config(server={"workers": 0})
    assert "workers" in str(err.value)


def test_defaults_build_every_pattern_under_the_same_arrivals() -> None:
    lab, results = run(Config(warmup="10 s"), 60)
    assert [s.scope for s in lab.servers.values()] == [
        f"region.server_patterns.{p}" for p in PATTERN_NAMES
    ]
    conns = {p: s.clients.connections for p, s in lab.servers.items() if s.clients}
    assert len(set(conns.values())) == 1 and next(iter(conns.values())) > 800
    stats = lab.statistics(results)
    assert stats["offered_connections_per_s"] == pytest.approx(16.0)
    assert stats["offered_utilisation"] == pytest.approx(16 * 10 * 0.00501 / 4, rel=1e-3)
    assert lab.parent is not None
    json.dumps(all_stats(lab.parent, results))  # the summary must be plain JSON


def test_scenario_file_meets_its_own_expectations() -> None:
    """Runs the YAML's lab with its operator actions (as the runner would) and checks every
    `expect:` entry against the statistics."""
    doc = yaml.safe_load(SCENARIO.read_text())
    env = SimEnv(START, doc["seed"])
    root = Component(env, "region")
    build(root, Config(**doc["labs"]["server_patterns"]))
    offered = {a.name: (c, a) for c in root.walk() for a in c.actions()}
    for op in doc["operators"]:
        targets = [
            (c, a)
            for c in root.walk()
            for a in c.actions()
            if a.name == op["action"] and op.get("target") in (None, c.scope)
        ]
        assert targets, op
        at = parse_duration(op["at"].lstrip("+"))
        for _comp, action in targets:
            params = action.params.model_validate(op.get("params", {}))
            env.timeout(at).callbacks.append(lambda _e, a=action, p=params: a.run(p))
    assert {"stall_worker", "close_listener", "open_listener"} <= set(offered)
    until = parse_duration(doc["duration"])
    env.run(until)
    stats = all_stats(root, Results(env, until))
    for e in doc["expect"]:
        scope, key = e["statistic"].rsplit(".", 1)
        value = stats[scope][key]
        assert e.get("min", -1e300) <= value <= e.get("max", 1e300), (e["name"], value)
    reuse = stats["region.server_patterns.reuseport"]
    assert reuse["requests_reset"] == reuse["connections_reset"]
    lab = stats["region.server_patterns"]
    assert lab["lowest_p99"] == "request_dispatch" and lab["highest_p99"] == "event_loop"


def test_per_request_rows_when_asked() -> None:
    cfg = Config(patterns=["request_dispatch"], record_requests=True, warmup=0)
    lab, _ = run(cfg, 5)
    rows = lab.env.recorder.events_of("request")
    server = lab.servers["request_dispatch"]
    assert server.clients is not None and len(rows) == server.clients.ok > 100
