"""Server patterns against queueing theory (seeded, long runs, zero thread overheads).

With Poisson arrivals, exponential service, one request per connection and no accept, read or
wake-up costs, the patterns are textbook queues:
- request_dispatch with c workers is M/M/c: mean wait and P(wait) from Erlang C;
- event_loop is M/M/1;
- reuseport with c workers is c independent M/M/1 queues (random hash placement), each at
  lam / c, and has a visibly worse tail than request_dispatch at the same load;
- shared_accept with c workers and an accept queue of K, SYN retries off, is M/M/c/(c+K): the
  share of handshakes dropped is the blocking probability;
- a pool whose queue admits no waiting (max_waiting 0) is M/M/c/c: Erlang B.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from simulation.core import Component, Results, SimEnv
from simulation.core.rng import stream
from simulation.primitives.load import LoadProfile, PoissonArrivals, steps
from simulation.primitives.resilience.admission import AdmissionConfig
from simulation.primitives.servers import ConnectionConfig, ServerConfig, WorkerPool, build_server
from simulation.primitives.servers import theory as th

START = datetime(2025, 10, 20, 0, 0, tzinfo=UTC)
MU = 1.0  # service rate per worker (mean service 1 s)


def run_pattern(
    pattern: str,
    lam: float,
    workers: int,
    until: float,
    *,
    seed: int = 1,
    backlog: int = 511,
    syn_retries: int = 6,
) -> dict[str, Any]:
    env = SimEnv(START, seed)
    root = Component(env, "region")
    config = ServerConfig(
        workers=workers,
        service={"distribution": "exponential", "mean": "1 s"},
        read_cost=0,
        wakeup_cost=0,
        listener={"accept_cost": 0, "backlog": backlog},
    )
    server = build_server(root, pattern, config, warmup=500.0)
    server.add_clients(
        LoadProfile(steps(("0 s", f"{lam}/s"))),
        ConnectionConfig(requests=1, syn_retries=syn_retries),
        stream(seed, "theory", "arrivals"),
    )
    env.run(until)
    return server.statistics(Results(env, until))


LAM_C, C = 2.4, 4  # rho = 0.6


@pytest.fixture(scope="module")
def dispatch() -> dict[str, Any]:
    return run_pattern("request_dispatch", LAM_C, C, 200_000)


@pytest.fixture(scope="module")
def reuseport() -> dict[str, Any]:
    return run_pattern("reuseport", LAM_C, C, 100_000)


def test_theory_formulas_match_their_closed_forms() -> None:
    a, c = 2.4, 4
    terms = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    assert th.erlang_c(c, a) == pytest.approx(top / (terms + top))
    assert th.erlang_b(2, 1.0) == pytest.approx(0.5 / 2.5)
    assert th.mm1_mean_wait(0.5, 1.0) == pytest.approx(1.0)
    # M/M/c/K tends to M/M/c as K grows; with K = c it is Erlang B.
    assert th.mmck_blocking(2.0, 1.0, 3, 3) == pytest.approx(th.erlang_b(3, 2.0))
    assert th.mmck_blocking(2.0, 1.0, 3, 400) == pytest.approx(0.0, abs=1e-12)
    assert th.mmc_wait_quantile(LAM_C, MU, C, 0.0) == 0.0
    assert th.mmc_mean_wait(5.0, 1.0, 4) == math.inf


def test_request_dispatch_is_mmc(dispatch: dict[str, Any]) -> None:
    assert dispatch["wait_mean"] == pytest.approx(th.mmc_mean_wait(LAM_C, MU, C), rel=0.03)
    assert dispatch["wait_probability"] == pytest.approx(th.erlang_c(C, LAM_C / MU), rel=0.03)
    assert dispatch["throughput"] == pytest.approx(LAM_C, rel=0.01)
    for u in dispatch["worker_utilisation"]:
        assert u == pytest.approx(LAM_C / C, rel=0.02)


def test_event_loop_is_mm1() -> None:
    lam = 0.5
    s = run_pattern("event_loop", lam, 1, 300_000)
    assert s["wait_mean"] == pytest.approx(th.mm1_mean_wait(lam, MU), rel=0.03)
    assert s["wait_probability"] == pytest.approx(lam / MU, rel=0.03)
    assert s["latency_p90"] == pytest.approx(th.mm1_sojourn_quantile(lam, MU, 0.9), rel=0.03)


def test_reuseport_is_c_independent_mm1_queues(reuseport: dict[str, Any]) -> None:
    per_queue = LAM_C / C
    assert reuseport["wait_mean"] == pytest.approx(th.mm1_mean_wait(per_queue, MU), rel=0.03)
    assert reuseport["wait_probability"] == pytest.approx(per_queue / MU, rel=0.03)
    assert reuseport["latency_p99"] == pytest.approx(
        th.mm1_sojourn_quantile(per_queue, MU, 0.99), rel=0.05
    )


def test_reuseport_tail_is_visibly_worse_than_dispatch_at_the_same_load(
    dispatch: dict[str, Any], reuseport: dict[str, Any]
) -> None:
    # M/M/1 at 0.6 vs M/M/4 at 0.6: p99 of the response time 11.5 s vs 6.0 s.
    assert reuseport["latency_p99"] > 1.6 * dispatch["latency_p99"]
    assert reuseport["wait_mean"] > 5 * dispatch["wait_mean"]


def test_finite_accept_queue_blocks_as_mmck() -> None:
    lam, c, k = 3.0, 2, 2
    s = run_pattern("shared_accept", lam, c, 60_000, backlog=k, syn_retries=0)
    offered = s["connections_per_s"] * s["window_s"]
    blocked = s["accept_drops"] / offered
    assert blocked == pytest.approx(th.mmck_blocking(lam, MU, c, c + k), rel=0.03)
    assert s["connect_failures"] == s["accept_drops"]  # no SYN retries: each drop fails


def test_pool_without_waiting_room_blocks_as_erlang_b() -> None:
    env = SimEnv(START, 3)
    root = Component(env, "region")
    pool = WorkerPool(
        root, "pool", 3, lambda _s, _p, rng: rng.expovariate(MU), AdmissionConfig(max_waiting=0)
    )
    lam = 2.5
    PoissonArrivals(
        env, LoadProfile(steps(("0 s", f"{lam}/s"))), env.rng("src"), lambda: pool.submit(0)
    )
    env.run(60_000)
    q = pool.queue
    assert q.rejected / q.arrivals == pytest.approx(th.erlang_b(3, lam / MU), rel=0.03)
    assert q.waited == 0
