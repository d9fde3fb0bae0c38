"""Retry-storm lab: the scenario file, theory for simple cases, and Brooker's (2015) ordering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from simulation.core import Component, Results, SimEnv
from simulation.core.units import parse_duration, parse_timestamp
from simulation.subsystems.labs.retry_storm import Config, RetryStormLab, build

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "retry-storm.yaml"
BACKOFF = ["exponential", "equal_jitter", "full_jitter", "decorrelated_jitter"]


def run(seed: int = 1, until: float = 600.0, **fields: Any) -> tuple[RetryStormLab, dict]:
    env = SimEnv(parse_timestamp("2025-10-19T23:00:00-07:00"), seed)
    lab = build(Component(env, "region"), Config(**fields))
    env.run(until=until)
    results = Results(env, until)
    return lab, lab.statistics(results) | {
        name: detect(results) for name, detect in lab.detectors().items()
    }


# -- the scenario file ----------------------------------------------------------------------
def scenario_block() -> dict[str, Any]:
    doc = yaml.safe_load(SCENARIO.read_text())
    assert doc["title"] and doc["description"] and parse_duration(doc["duration"]) > 0
    parse_timestamp(doc["start"])
    return doc["labs"]["retry_storm"]


def test_scenario_block_validates() -> None:
    config = Config(**scenario_block())
    assert config.clients == 50 and config.trials == 100
    assert config.policies == ["none", *BACKOFF]
    assert config.base == 0.01 and config.decorrelated_base == 0.005 and config.cap == 2.0


def test_scenario_smoke_and_determinism() -> None:
    block = scenario_block() | {"trials": 4}
    _, a = run(seed=5, **block)
    _, b = run(seed=5, **block)
    _, c = run(seed=6, **block)
    assert a == b and a != c
    for policy in ["none", *BACKOFF]:
        assert a[f"{policy}_unfinished"] == 0 and a[f"{policy}_trials_done"] == 4
        assert a[f"retry_storm_{policy}_work_done"] is not None
    # every expectation of the scenario names a figure of the lab (or a milestone) and holds
    lab, _ = run(seed=5, **block)
    doc = yaml.safe_load(SCENARIO.read_text())
    for e in doc["expect"]:
        if "statistic" in e:
            scope, key = e["statistic"].rsplit(".", 1)
            assert scope == lab.scope and key in a
            assert e.get("min", -1e300) <= a[key] <= e.get("max", 1e300), e["name"]
        else:
            assert e["milestone"] in lab.detectors()
            t = a[e["milestone"]]
            at, tol = parse_duration(e["at"].lstrip("+")), parse_duration(e["tolerance"])
            assert abs(t - at) <= tol, e["name"]
    # only the lab reports statistics (the runner walks the whole tree)
    assert all(not run_.statistics(None) for run_ in lab.runs)


def test_config_errors() -> None:
    with pytest.raises(ValidationError, match="policy listed twice: full_jitter"):
        Config(policies=["full_jitter", "none", "full_jitter"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        Config(client=3)
    with pytest.raises(ValidationError, match="policies"):
        Config(policies=[])
    assert all(f.description for f in Config.model_fields.values())


# -- theory ---------------------------------------------------------------------------------
def test_single_client_needs_one_call_and_four_network_delays() -> None:
    _, s = run(clients=1, trials=400, policies=["exponential"])
    assert s["exponential_calls"] == 1.0
    assert s["exponential_attempts_mean"] == 1.0
    # four one-way delays of |N(10 ms, 2 ms)|: mean 40 ms, sd 4 ms; 400 trials -> se 0.2 ms
    assert s["exponential_work_time_s"] == pytest.approx(0.040, abs=0.001)


def test_without_backoff_work_grows_quadratically() -> None:
    """Brooker: N clients competing in every round make O(N^2) calls."""
    _, s20 = run(clients=20, trials=30, policies=["none"])
    _, s40 = run(clients=40, trials=30, policies=["none"])
    ratio = s40["none_calls"] / s20["none_calls"]
    assert 2.5 < ratio < 4.5  # linear growth would give 2
    assert s40["none_calls"] > 40 * 5  # every client retries many times


def test_every_policy_sees_the_same_arrivals() -> None:
    lab, s = run(clients=10, trials=5, arrivals="uniform", arrival_window="2 s")
    firsts = {tuple(r.first_arrival) for r in lab.runs}
    assert len(firsts) == 1 and all(0 < t < 2 for t in next(iter(firsts)))
    assert all(s[f"{p}_unfinished"] == 0 for p in lab.config.policies)


def test_max_attempts_makes_clients_give_up() -> None:
    _, s = run(clients=30, trials=10, policies=["none"], max_attempts=2)
    assert s["none_gave_up"] > 0 and s["none_unfinished"] == 0
    assert s["none_attempts_mean"] <= 2.0
    assert s["none_trials_done"] == 10


def test_unfinished_work_is_reported() -> None:
    _, s = run(until=0.5, clients=30, trials=2, policies=["exponential"])
    assert s["exponential_unfinished"] > 0
    assert s["retry_storm_exponential_work_done"] is None


# -- the published ordering -----------------------------------------------------------------
def test_reproduces_brookers_ordering() -> None:
    """M. Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015), 50 clients.

    "The no-jitter exponential backoff approach is the clear loser. It not only takes more work,
    but also takes more time than the jittered approaches." "Equal Jitter ... does slightly more
    work than Full Jitter, and takes much longer." "The Full Jitter approach uses less work [than
    Decorrelated Jitter], but slightly more time." Calls for Full and Equal are about the same,
    higher for Decorrelated. Measured (seeds 1-8, 40 trials): exponential 618-629 calls / 35-37 s,
    equal 345-348 / 4.1-4.5 s, full 331-333 / 2.7-3.0 s, decorrelated 372-378 / 2.1-2.3 s.
    """
    _, s = run(clients=50, trials=40, policies=BACKOFF)
    calls = {p: s[f"{p}_calls"] for p in BACKOFF}
    time = {p: s[f"{p}_work_time_s"] for p in BACKOFF}
    jittered = BACKOFF[1:]
    # no jitter: far more calls than full or decorrelated jitter, and far more time
    assert calls["exponential"] > 1.5 * max(calls["full_jitter"], calls["decorrelated_jitter"])
    assert all(time["exponential"] > 5 * time[p] for p in jittered)
    # equal jitter: slightly more work than full jitter, and much longer
    assert calls["full_jitter"] < calls["equal_jitter"] < 1.15 * calls["full_jitter"]
    assert time["equal_jitter"] > 1.25 * max(time["full_jitter"], time["decorrelated_jitter"])
    # full vs decorrelated: full does less work, decorrelated takes a little less time
    assert calls["full_jitter"] < calls["decorrelated_jitter"]
    assert time["decorrelated_jitter"] < time["full_jitter"] < 1.5 * min(time.values())
    # the lab's own relative figures agree
    assert s["full_jitter_calls_vs_best"] == 1.0
    assert s["decorrelated_jitter_work_time_vs_best"] == 1.0
