"""Worker pools on their own (no sockets), and the pluggable service time."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from simulation.core import Component, SimEnv
from simulation.primitives.resilience.admission import COMPLETED, AdmissionConfig
from simulation.primitives.servers import (
    ServerView,
    ServiceTimeConfig,
    Worker,
    WorkerPool,
    state_dependent,
    with_overhead,
)

START = datetime(2025, 10, 20, 0, 0, tzinfo=UTC)


class View:
    index = 0
    waiting = 0
    in_service = 0


def sample(config: ServiceTimeConfig, n: int = 100_000) -> tuple[float, float]:
    draw = config.build()
    rng = random.Random(11)
    xs = [draw(View(), None, rng) for _ in range(n)]
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return mean, sd / mean


@pytest.mark.parametrize(
    ("distribution", "cv", "expected_cv"),
    [
        ("exponential", 1.0, 1.0),
        ("deterministic", 1.0, 0.0),
        ("lognormal", 2.0, 2.0),
        ("lognormal", 0.5, 0.5),
        ("uniform", 0.5, 0.5),
    ],
)
def test_service_time_distributions_have_their_mean_and_cv(
    distribution: str, cv: float, expected_cv: float
) -> None:
    mean, got_cv = sample(ServiceTimeConfig(distribution=distribution, mean="20 ms", cv=cv))
    assert mean == pytest.approx(0.02, rel=0.03)
    assert got_cv == pytest.approx(expected_cv, rel=0.08, abs=1e-9)


def test_exponential_service_draws_what_expovariate_draws() -> None:
    """The sampler inlines `rng.expovariate(rate)`: the same numbers from the same stream."""
    draw = ServiceTimeConfig(distribution="exponential", mean="20 ms").build()
    a, b = random.Random(7), random.Random(7)
    got = [draw(None, None, a) for _ in range(10_000)]  # type: ignore[arg-type]
    assert got == [b.expovariate(50.0) for _ in range(10_000)]


def test_uniform_service_never_goes_negative() -> None:
    draw = ServiceTimeConfig(distribution="uniform", mean="1 s", cv=0.577).build()
    rng = random.Random(1)
    assert min(draw(View(), None, rng) for _ in range(10_000)) >= 0.0


def test_state_dependent_service_sees_the_work_the_pool_holds() -> None:
    """A cost model of the queue (e.g. memory working set) plugs in through state_dependent."""
    env = SimEnv(START, 1)
    root = Component(env, "region")
    seen: list[int] = []

    def cost(items: int) -> float:
        seen.append(items)
        return 1.0 + 0.5 * items

    pool = WorkerPool(root, "host", 1, state_dependent(cost))
    items = [pool.submit(i) for i in range(4)]
    env.run(100)
    # first taken with 3 others waiting (+1 in service), then 2, 1, 0 waiting.
    assert seen == [4, 3, 2, 1]
    assert [it.service for it in items] == [3.0, 2.5, 2.0, 1.5]
    assert pool.workers[0].busy_time() == pytest.approx(9.0)


def test_memory_cost_model_plugs_in() -> None:
    memory = pytest.importorskip("simulation.primitives.memory")
    model = memory.MemoryModel()
    per_item = memory.MemoryServiceTime(model, base=64 * 1024**2, per_item=256 * 1024**2)
    env = SimEnv(START, 1)
    root = Component(env, "region")
    pool = WorkerPool(root, "dwfm", 1, state_dependent(per_item))
    items = [pool.submit(i) for i in range(5)]
    env.run(3600)
    services = [it.service for it in items]
    assert all(it.outcome is COMPLETED for it in items)
    assert services == sorted(services, reverse=True)  # a shorter queue serves faster
    assert services[0] > services[-1]


def test_with_overhead_adds_a_fixed_cost() -> None:
    base = ServiceTimeConfig(distribution="deterministic", mean="2 ms").build()
    assert with_overhead(base, 0.0) is base
    total = with_overhead(base, 0.001)
    assert total(View(), None, random.Random(1)) == pytest.approx(0.003)


def test_worker_view_exposes_queue_state() -> None:
    env = SimEnv(START, 1)
    root = Component(env, "region")
    views: list[tuple[Any, int, int]] = []

    def spy(server: ServerView, _payload: Any, _rng: Any) -> float:
        views.append((server.index, server.waiting, server.in_service))
        return 1.0

    pool = WorkerPool(root, "pool", 2, spy)
    for i in range(4):
        pool.submit(i)
    env.run(10)
    assert views[:2] == [(0, 3, 1), (1, 2, 2)]


def test_pool_stall_pauses_one_worker_and_others_carry_on() -> None:
    env = SimEnv(START, 1)
    root = Component(env, "region")
    pool = WorkerPool(root, "pool", 2, lambda *_: 1.0)
    env.run(0.5)
    pool.workers[0].stall(10.0)
    items = [pool.submit(i) for i in range(4)]
    env.run(5)
    assert [it.outcome for it in items] == [COMPLETED] * 4
    assert (pool.workers[0].served, pool.workers[1].served) == (0, 4)


def test_pool_needs_a_worker_and_a_service_time() -> None:
    env = SimEnv(START, 1)
    root = Component(env, "region")
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool(root, "pool", 0, lambda *_: 1.0)
    with pytest.raises(ValueError, match="needs a service time"):
        Worker(root, 0, AdmissionConfig(), None)


def test_pool_levels_record_the_queue_depth_over_time() -> None:
    env = SimEnv(START, 1)
    root = Component(env, "region")
    pool = WorkerPool(root, "pool", 1, lambda *_: 1.0)
    for i in range(3):
        pool.submit(i)
    env.run(10)
    level = env.recorder.levels[("region.pool", "waiting")]
    # 3 queued at 0, one taken at once; then 1 at t=1, 0 at t=2.
    assert level.value_at(0.5) == 2 and level.value_at(1.5) == 1 and level.value_at(2.5) == 0
    assert level.time_weighted_mean(0, 3) == pytest.approx(1.0)
