"""Graceful-shutdown lab: the scenario file and its expectations, determinism, config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from simulation.core import Component, Results, SimEnv
from simulation.core.units import parse_duration, parse_timestamp
from simulation.subsystems.labs.graceful_shutdown import (
    Config,
    DeregisterParams,
    GracefulShutdownLab,
    build,
)

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "graceful-shutdown.yaml"
SCOPE = "region.graceful_shutdown"


def run(seed: int = 1, until: float = 600.0, **fields: Any) -> tuple[GracefulShutdownLab, dict]:
    env = SimEnv(parse_timestamp("2025-10-19T23:00:00-07:00"), seed)
    lab = build(Component(env, "region"), Config(**fields))
    env.run(until=until)
    results = Results(env, until)
    return lab, lab.statistics(results) | {
        name: detect(results) for name, detect in lab.detectors().items()
    }


def scenario() -> dict[str, Any]:
    doc = yaml.safe_load(SCENARIO.read_text())
    assert doc["title"] and doc["description"] and parse_duration(doc["duration"]) > 0
    parse_timestamp(doc["start"])
    return doc


def test_scenario_block_validates() -> None:
    config = Config(**scenario()["labs"]["graceful_shutdown"])
    assert [v.strategy for v in config.variants] == [
        "abrupt",
        "connection_close",
        "goaway",
        "double_goaway",
        "goaway",
    ]
    assert config.client.rtt == 0.01 and config.server.keepalive_timeout == 75.0
    assert [(r.caller_idle_timeout, r.server_keepalive) for r in config.races] == [
        (60.0, 5.0),
        (60.0, 75.0),
    ]


def test_scenario_runs_and_its_expectations_hold() -> None:
    """The whole scenario (10 min): GOAWAY drains produce far fewer client-visible errors than
    abrupt close, by the headline figure; every expectation written in the file holds."""
    doc = scenario()
    _, stats = run(
        seed=doc["seed"], until=parse_duration(doc["duration"]), **doc["labs"]["graceful_shutdown"]
    )
    for exp in doc["expect"]:
        if "statistic" in exp:
            value = stats[exp["statistic"].removeprefix(SCOPE + ".")]
            assert value is not None, exp
            if "min" in exp:
                assert value >= exp["min"], (exp, value)
            if "max" in exp:
                assert value <= exp["max"], (exp, value)
            if "value" in exp:
                assert abs(value - exp["value"]) <= exp.get("tolerance", 0), (exp, value)
        else:
            t = stats[exp["milestone"]]
            if exp.get("absent"):
                assert t is None, exp
            else:
                expected = parse_duration(exp["at"].lstrip("+ "))
                assert t is not None and abs(t - expected) <= parse_duration(exp["tolerance"])
    # the same requests in every variant
    assert len({stats[f"{v}_requests"] for v in ("abrupt", "goaway", "double_goaway")}) == 1
    # abrupt: errors are the non-idempotent requests cut at the drain end; idempotent ones retried
    assert stats["abrupt_errors"] == stats["abrupt_failed_non_idempotent"] > 0
    assert stats["abrupt_transparent_retries"] > stats["abrupt_errors"]
    assert stats["abrupt_work_aborted"] > 0 and stats["abrupt_connections_cut_at_drain_end"] > 0
    # GOAWAY: refused streams retried transparently, not errors; double GOAWAY refuses none
    assert stats["goaway_errors"] == 0
    assert stats["goaway_transparent_retries"] == stats["goaway_streams_refused_by_goaway"] > 0
    assert stats["double_goaway_transparent_retries"] == 0
    # staged vs immediate close under the same GOAWAY: only the immediate one draws RSTs
    assert stats["goaway_rst_sent"] == 0 < stats["goaway_immediate_close_rst_sent"]
    assert stats["errors_abrupt_over_goaway"] == stats["abrupt_errors"] / max(
        stats["goaway_errors"], 1
    )
    # the idle race: resets only where the server's keep-alive is shorter than the caller's idle
    assert (
        stats["race_nodejs_behind_alb_rule_ok"] == 0 and stats["race_nginx_behind_alb_rule_ok"] == 1
    )
    assert stats["race_nginx_behind_alb_server_idle_closes"] == 0


SMALL: dict[str, Any] = dict(
    clients=4,
    first_deregistration="10 s",
    every="20 s",
    drain="10 s",
    restart_after="5 s",
    race_callers=20,
    race_think_time="1 s",
)


def test_deterministic() -> None:
    _, a = run(seed=5, until=90.0, **SMALL)
    _, b = run(seed=5, until=90.0, **SMALL)
    _, c = run(seed=6, until=90.0, **SMALL)
    assert a == b and a != c


def test_deregister_action_and_single_deregistration() -> None:
    env = SimEnv(parse_timestamp("2025-10-19T23:00:00-07:00"), 2)
    lab = build(Component(env, "region"), Config(**(SMALL | {"every": None})))
    (action,) = lab.actions()
    assert action.name == "deregister"
    env.timeout(40.0).callbacks.append(lambda _e: action.run(DeregisterParams(server=2)))
    env.run(45.0)
    assert [r.deregistrations for r in lab.runs] == [2] * len(lab.runs)
    assert all(r.servers[2].strategy is not None for r in lab.runs)  # draining at 45 s
    assert all(r.servers[0].strategy is None for r in lab.runs)  # back since 25 s
    with pytest.raises(ValueError, match=r"no server 9: the fleet has 4 \(0 to 3\)"):
        action.run(DeregisterParams(server=9))


def test_config_errors() -> None:
    with pytest.raises(ValidationError, match="name listed twice: abrupt"):
        Config(
            variants=[
                {"name": "abrupt", "strategy": "abrupt"},
                {"name": "abrupt", "strategy": "goaway"},
            ]
        )
    with pytest.raises(ValidationError, match=r"drain \(300 s\) plus restart_after \(5 s\) must"):
        Config(drain="300 s")
    with pytest.raises(ValidationError, match="Input should be 'abrupt', 'connection_close'"):
        Config(variants=[{"name": "x", "strategy": "kill"}])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Config(server={"keepalive": "5 s"})
