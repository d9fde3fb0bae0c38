"""Memory-pressure lab: the scenario file, queueing theory, the memory model, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulation.core import Component, Results, SimEnv
from simulation.core.units import parse_duration, parse_timestamp
from simulation.primitives.memory import MIB, MemoryConfig
from simulation.subsystems.labs.memory_pressure import (
    Config,
    MemoryPressureLab,
    RestartParams,
    build,
)

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "labs" / "memory-pressure.yaml"
START = "2025-10-19T23:00:00-07:00"


def run(
    seed: int = 1, until: float = 600.0, **fields: Any
) -> tuple[MemoryPressureLab, dict[str, Any], dict[str, float | None]]:
    env = SimEnv(parse_timestamp(START), seed)
    lab = build(Component(env, "region"), Config(**fields))
    env.run(until=until)
    results = Results(env, until)
    milestones = {name: detect(results) for name, detect in lab.detectors().items()}
    return lab, lab.statistics(results), milestones


def load(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"at": at, "rate": rate} for at, rate in pairs]


def scenario() -> dict[str, Any]:
    return yaml.safe_load(SCENARIO.read_text())


def lookup(stats: dict[str, Any], path: str) -> Any:
    node: Any = stats
    for part in path.split("."):
        node = node[part]
    return node


# -- the scenario file ----------------------------------------------------------------------
def test_scenario_block_validates() -> None:
    doc = scenario()
    assert doc["title"] and doc["description"] and parse_duration(doc["duration"]) == 3600
    parse_timestamp(doc["start"])
    config = Config(**doc["labs"]["memory_pressure"])
    assert config.page_sizes == ["4 KiB", "2 MiB"]
    assert config.memory.memory_limit == 8 * 1024 * MIB
    assert config.bytes_per_item == MIB and config.base_working_set == 2 * MIB
    assert [s.rate for s in config.load] == [40, 60, 80, 100]
    for op in doc["operators"]:
        RestartParams(**op["params"])


def test_scenario_runs_and_every_expectation_holds() -> None:
    doc = scenario()
    lab, stats, milestones = run(
        doc["seed"], parse_duration(doc["duration"]), **doc["labs"]["memory_pressure"]
    )
    prefix = lab.scope + "."
    for e in doc["expect"]:
        if "statistic" in e:
            assert e["statistic"].startswith(prefix)
            value = lookup(stats, e["statistic"][len(prefix) :])
            assert e.get("min", -1e300) <= value <= e.get("max", 1e300), e["name"]
        else:
            t = milestones[e["milestone"]]
            at, tol = parse_duration(e["at"].lstrip("+")), parse_duration(e["tolerance"])
            assert t is not None and abs(t - at) <= tol, e["name"]
    # huge pages delay swapping by minutes; both hosts saw the same arrivals
    assert milestones["swapping_starts_2m"] - milestones["swapping_starts_4k"] > 600
    assert stats["4k"]["arrivals"] == stats["2m"]["arrivals"] == stats["arrivals"]


def test_deterministic_per_seed() -> None:
    block = scenario()["labs"]["memory_pressure"]
    _, a, ma = run(5, 900, **block)
    _, b, mb = run(5, 900, **block)
    _, c, _ = run(6, 900, **block)
    assert (a, ma) == (b, mb)
    assert a != c


def test_config_errors() -> None:
    with pytest.raises(ValidationError, match="page sizes must be unique"):
        Config(page_sizes=["4 KiB", "4 KiB"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        Config(page_size="4 KiB")
    with pytest.raises(ValidationError, match="page_sizes"):
        Config(page_sizes=["8 KiB"])
    with pytest.raises(ValidationError, match="increasing order"):
        Config(load=load(("1 min", "10/s"), ("0 s", "20/s")))
    for model in (Config, MemoryConfig, RestartParams):
        assert all(f.description for f in model.model_fields.values()), model


# -- theory -------------------------------------------------------------------------------------
def test_constant_working_set_is_md1_and_matches_pollaczek_khinchine() -> None:
    """bytes_per_item 0: the service time is fixed (M/D/1); Wq = rho D / (2 (1 - rho))."""
    lab, stats, _ = run(
        3, 3600, page_sizes=["2 MiB"], workers=1, bytes_per_item=0,
        load=load(("0 s", "31.111/s")),
    )  # fmt: skip
    host = lab.hosts[0]
    d = host.idle_service
    assert d == pytest.approx(host.model.service_time(2 * MIB))
    rho = 31.111 * d
    assert rho == pytest.approx(0.7, abs=1e-3)
    wq = host.queue.wait_sum / host.queue.started
    assert wq == pytest.approx(rho * d / (2 * (1 - rho)), rel=0.07)
    within = stats["2m"]["phases"]["within_tlb"]
    assert within["time_s"] == 3600 and within["service_ms"] == pytest.approx(d * 1e3)
    assert within["throughput_per_s"] == pytest.approx(31.111, rel=0.02)


def test_phase_service_times_lie_within_the_memory_models_bounds() -> None:
    """Service at start is the model's at the held work: bounded by the phase's working sets."""
    lab, stats, _ = run(
        2, 1500, page_sizes=["4 KiB"], load=load(("0 s", "60/s"), ("5 min", "80/s"))
    )
    host = lab.hosts[0]
    m, per_item, base = host.model, MIB, 2 * MIB
    ph = stats["4k"]["phases"]
    lo, hi = m.service_time(base), m.service_time(host.reach)
    assert lo * 1e3 <= ph["within_tlb"]["service_ms"] <= hi * 1e3 + 1e-9
    assert hi * 1e3 < ph["past_tlb"]["service_ms"] <= m.service_time(host.limit) * 1e3
    assert ph["swapping"]["service_ms"] >= m.service_time(host.limit + per_item) * 1e3
    # past TLB reach a 4 KiB host is slower; swapping takes its capacity to almost nothing
    assert ph["past_tlb"]["slowdown"] > 1.2
    assert ph["swapping"]["capacity_per_s"] < 0.05 * ph["past_tlb"]["capacity_per_s"]
    assert sum(p["time_s"] for p in ph.values()) == pytest.approx(1500, abs=0.2)


def test_queue_feedback_turns_mild_overload_into_collapse() -> None:
    """Load 5% above the idle capacity: the queue grows, service slows, the host swaps."""
    lab, stats, ms = run(4, 2400, page_sizes=["2 MiB"], load=load(("0 s", "93.3/s")))
    host = lab.hosts[0]
    assert 2 / host.idle_service == pytest.approx(93.3 / 1.05, rel=0.01)
    assert ms["tlb_reach_exceeded_2m"] is not None
    assert ms["swapping_starts_2m"] is not None
    assert ms["tlb_reach_exceeded_2m"] < ms["swapping_starts_2m"] <= ms["service_collapse_2m"]
    assert stats["2m"]["held_at_end"] > 8192


# -- restarts and admission -------------------------------------------------------------------
def overloaded_then_calm(restart_at: float | None) -> tuple[MemoryPressureLab, dict, dict]:
    """100/s for 3 min (4 KiB host swaps), then 40/s, below its capacity past TLB reach."""
    env = SimEnv(parse_timestamp(START), 7)
    lab = build(
        Component(env, "region"),
        Config(page_sizes=["4 KiB"], load=load(("0 s", "100/s"), ("3 min", "40/s"))),
    )
    host = lab.hosts[0]
    if restart_at is not None:
        env.run(until=restart_at)
        assert host.queue.in_flight > 8192  # swapping
        host.restart(RestartParams(downtime="10 s"))
        env.run(until=restart_at + 1e-6)
        assert host.queue.in_flight == 0
        assert host._phase_now == 0
    env.run(until=1800)
    results = Results(env, 1800)
    ms = {name: detect(results) for name, detect in lab.detectors().items()}
    return lab, lab.statistics(results), ms


def test_swapping_host_stays_collapsed_after_load_drops_metastable() -> None:
    lab, stats, _ = overloaded_then_calm(restart_at=None)
    level = lab.env.recorder.levels[(lab.hosts[0].scope, "memory_phase")]
    assert level.current == 2  # still swapping 27 min after the load fell below capacity
    assert stats["4k"]["held_at_end"] > 8192


def test_restart_clears_queue_and_working_set_and_the_host_recovers() -> None:
    lab, stats, ms = overloaded_then_calm(restart_at=600)
    host = lab.hosts[0]
    env = lab.env
    assert env.recorder.levels[(host.scope, "memory_phase")].current < 2
    assert stats["4k"]["held_at_end"] < 100
    assert stats["4k"]["cleared"] > 8192
    assert [e[2] for e in env.recorder.events_of("restart", host.scope)] == ["restart"]
    ws = env.recorder.levels[(host.scope, "working_set")]
    # sampled a second before and after: > 8 GiB, then the base plus ~40 arrivals of 10 s downtime
    assert ws.value_at(599.5) > 8192 * MIB and ws.value_at(601.5) < 100 * MIB
    assert ms["swapping_starts_4k"] < 600


def test_restart_action_is_offered_with_its_params() -> None:
    lab, _, _ = run(1, 1, page_sizes=["4 KiB", "2 MiB"])
    actions = [a for h in lab.hosts for a in h.actions()]
    assert [a.name for a in actions] == ["restart_host", "restart_host"]
    assert actions[0].params is RestartParams
    assert RestartParams().downtime == 30


def test_admission_by_queue_size_keeps_the_working_set_in_memory() -> None:
    _, stats, ms = run(
        4, 1200, page_sizes=["4 KiB"], load=load(("0 s", "100/s")),
        admission={"max_waiting": 2000},
    )  # fmt: skip
    s = stats["4k"]
    assert ms["swapping_starts_4k"] is None and ms["service_collapse_4k"] is None
    assert s["peak_working_set_mib"] <= 2 + 2000 + 2
    assert s["rejected"] > 0
    # it keeps serving at its past-TLB capacity instead of collapsing
    assert s["phases"]["past_tlb"]["throughput_per_s"] > 30


# -- invariants ---------------------------------------------------------------------------------
@given(
    rate=st.floats(20, 150),
    workers=st.integers(1, 4),
    max_waiting=st.one_of(st.none(), st.integers(0, 500)),
    seed=st.integers(0, 1000),
)
@settings(max_examples=8, deadline=None)
def test_nothing_is_lost(rate: float, workers: int, max_waiting: int | None, seed: int) -> None:
    lab, stats, _ = run(
        seed, 60, workers=workers, load=load(("0 s", f"{rate}/s")),
        admission={"max_waiting": max_waiting},
    )  # fmt: skip
    for host in lab.hosts:
        c = host.queue.counts()
        s = stats[host.slug]
        assert host.queue.balanced()
        assert c["arrivals"] == stats["arrivals"]
        assert s["arrivals"] == s["completed"] + s["rejected"] + s["cleared"] + s["held_at_end"]
        assert sum(p["completed"] for p in s["phases"].values()) == s["completed"]
        assert sum(p["started"] for p in s["phases"].values()) == c["started"]
