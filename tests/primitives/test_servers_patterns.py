"""Server pattern mechanisms: SYN retries, hand-off imbalance, wake-up order, the dispatcher
bottleneck, listener close, stalls, admission and deadlines in front of workers, determinism."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from simulation.core import Component, Results, SimEnv
from simulation.core.rng import stream
from simulation.primitives.load import LoadProfile, steps
from simulation.primitives.servers import (
    PATTERN_NAMES,
    ConnectionConfig,
    Server,
    ServerConfig,
    build_server,
)

START = datetime(2025, 10, 20, 0, 0, tzinfo=UTC)


def make(
    pattern: str,
    load: tuple[tuple[str, str], ...],
    *,
    seed: int = 1,
    warmup: float = 0.0,
    connections: dict[str, Any] | None = None,
    record_requests: bool = False,
    **server: Any,
) -> tuple[SimEnv, Server]:
    env = SimEnv(START, seed)
    root = Component(env, "region")
    config = ServerConfig(**{"service": {"mean": "10 ms"}, **server})
    s = build_server(root, pattern, config, warmup=warmup)  # type: ignore[arg-type]
    s.add_clients(
        LoadProfile(steps(*load)),
        ConnectionConfig(**(connections or {})),
        stream(seed, "test", "arrivals"),
        record_requests=record_requests,
    )
    return env, s


def stats(env: SimEnv, s: Server, until: float) -> dict[str, Any]:
    env.run(until)
    return s.statistics(Results(env, until))


def test_server_config_defaults_and_strictness() -> None:
    c = ServerConfig()
    assert (c.workers, c.listener.capacity, c.listener.wakeup_order) == (4, 511, "lifo")
    assert ServerConfig(listener={"backlog": 8192}).listener.capacity == 4096  # somaxconn caps
    with pytest.raises(pydantic.ValidationError) as err:
        ServerConfig(listener={"backlogg": 5})
    assert "backlogg" in str(err.value)
    with pytest.raises(pydantic.ValidationError) as err:
        ServerConfig(service={"distribution": "uniform", "cv": 0.9})
    assert "at most 0.577" in str(err.value)


def test_full_accept_queue_drops_the_handshake_and_the_client_retries_after_1_2_4_s() -> None:
    env, s = make(
        "event_loop",
        (("0 s", "1/s"), ("10 s", "0/s")),
        connections={"syn_retries": 3},
        listener={"backlog": 1},
    )
    s.stall_worker(0, 100.0)  # the only thread stalls: the one-slot accept queue stays full
    attempts: dict[int, list[float]] = {}
    offer = s.listeners[0].offer

    def spy(conn: Any) -> bool:
        attempts.setdefault(conn.id, []).append(env.now)
        return offer(conn)

    s.listeners[0].offer = spy  # type: ignore[method-assign]
    env.run(200)
    queued, *dropped = sorted(attempts)
    assert len(attempts[queued]) == 1 and dropped
    for cid in dropped:
        t = attempts[cid]
        assert [round(b - a, 9) for a, b in itertools.pairwise(t)] == [1.0, 2.0, 4.0]
    c = s.clients
    assert c is not None
    assert (c.connect_failed, c.syn_drops) == (len(dropped), 4 * len(dropped))
    assert s.listeners[0].dropped == 4 * len(dropped)
    assert c.ok == 1  # the queued connection is served once the stall ends


def test_connection_hand_off_pins_long_lived_connections_unevenly() -> None:
    """Pattern 2 balances connections by count; long, busy connections leave workers uneven."""
    long_lived = {"requests": 4000, "requests_distribution": "geometric", "think_time": "50 ms"}
    load = (("0 s", "0.05/s"),)
    p2 = stats(*make("connection_workers", load, connections=long_lived, warmup=60), 1200)
    p3 = stats(*make("request_dispatch", load, connections=long_lived, warmup=60), 1200)
    assert p2["worker_share_max_min"] > 1.3
    assert p3["worker_share_max_min"] < 1.05
    assert p2["wait_mean"] > 3 * p3["wait_mean"]
    assert p2["latency_p99"] > p3["latency_p99"]
    assert p2["listener_utilisation"] < 0.01  # the listener only accepts: little churn


def test_shared_socket_lifo_wakeups_concentrate_keep_alive_connections() -> None:
    """epoll's LIFO wake-up gives new connections to the thread idle last: uneven shares at
    low load; blocking accept's FIFO order round-robins them."""
    keep_alive = {"requests": 20, "think_time": "100 ms"}
    load = (("0 s", "2/s"),)
    lifo = stats(*make("shared_accept", load, connections=keep_alive, warmup=60), 900)
    fifo = stats(
        *make(
            "shared_accept",
            load,
            connections=keep_alive,
            warmup=60,
            listener={"wakeup_order": "fifo"},
        ),
        900,
    )
    assert lifo["worker_share_max_min"] > 1.8
    assert fifo["worker_share_max_min"] < 1.15
    assert lifo["throughput"] == pytest.approx(fifo["throughput"], rel=0.01)


def test_thundering_herd_wakes_every_idle_thread_for_each_connection() -> None:
    load = (("0 s", "20/s"),)
    herd = stats(
        *make("shared_accept", load, wakeup_cost="1 ms", listener={"wakeup_order": "all"}), 300
    )
    exclusive = stats(*make("shared_accept", load, wakeup_cost="1 ms"), 300)
    # At 5% load nearly all 4 threads sleep: each connection wakes ~4, one of which wins.
    assert herd["idle_wakeups"] > 2.5 * herd["connections_per_s"] * 300
    assert exclusive["idle_wakeups"] < 0.02 * exclusive["wakeups"]
    # Each wake-up costs 1 ms of CPU: ~3 wasted wake-ups x 20/s = 6% of a thread more.
    assert sum(herd["worker_utilisation"]) > sum(exclusive["worker_utilisation"]) + 0.04


def test_dispatcher_is_the_bottleneck_when_reading_is_costly() -> None:
    """With 10 ms to read a request the dispatcher caps throughput at 100/s, whatever the pool."""
    costly = {"workers": 8, "read_cost": "10 ms"}
    load = (("0 s", "150/s"),)
    dispatch = stats(*make("request_dispatch", load, warmup=10, **costly), 120)
    shared = stats(*make("shared_accept", load, warmup=10, **costly), 120)
    assert dispatch["throughput"] == pytest.approx(100.0, rel=0.03)
    assert dispatch["dispatcher_utilisation"] > 0.99
    assert max(dispatch["worker_utilisation"]) < 0.2
    assert shared["throughput"] == pytest.approx(150.0, rel=0.05)


def test_closing_a_reuseport_listener_resets_its_queue_and_rehashes_new_connections() -> None:
    env, s = make("reuseport", (("0 s", "8/s"),))
    s.stall_worker(1, 60.0)  # its accept queue fills with the connections hashed to it
    env.run(20)
    listener = s.listeners[1]
    queued = len(listener)
    assert queued > 10
    assert s.close_listener(1) == queued
    offered = listener.offered
    env.run(80)
    c = s.clients
    assert c is not None
    assert (c.connections_reset, c.reset, listener.reset) == (queued, queued, queued)
    assert listener.offered == offered  # no new connection hashed onto the closed listener
    assert s.workers[1].accepted == 0  # stalled all along, then nothing left to accept
    s.open_listener(1)
    env.run(120)
    assert s.workers[1].accepted > 0
    assert c.in_flight == s.requests_in_flight()


def test_a_stalled_thread_holds_its_connections_but_not_the_dispatched_requests() -> None:
    load = (("0 s", "100/s"),)
    out = {}
    for pattern in ("request_dispatch", "shared_accept", "reuseport"):
        env, s = make(pattern, load)
        env.timeout(30).callbacks.append(lambda _e, s=s: s.stall_worker(0, 5.0))
        out[pattern] = stats(env, s, 60)
    assert out["request_dispatch"]["latency_max"] < 0.5
    assert out["shared_accept"]["latency_max"] < 0.5  # one request per connection: none pinned
    assert out["reuseport"]["latency_max"] > 4.0  # its socket keeps receiving connections


def test_admission_limit_rejects_requests_and_bounds_the_wait() -> None:
    load = (("0 s", "600/s"),)  # 4 workers x 100/s: overloaded 1.5x
    s = stats(*make("request_dispatch", load, warmup=10, queue={"max_waiting": 20}), 60)
    assert s["requests_rejected"] > 0.25 * s["requests_sent"]
    assert s["latency_p99"] < 0.15  # at most 20 waiting + one service, shared by 4 workers
    assert s["throughput"] == pytest.approx(400, rel=0.03)


def test_deadline_drops_expired_requests_instead_of_serving_them() -> None:
    load = (("0 s", "600/s"),)
    s = stats(
        *make("request_dispatch", load, warmup=10, queue={"deadline": "200 ms"}),
        60,
    )
    assert s["requests_expired"] > 0.2 * s["requests_sent"]
    assert s["latency_max"] < 0.2 + 0.2  # deadline plus one long service at most
    wasted = stats(
        *make(
            "request_dispatch",
            load,
            warmup=10,
            queue={"deadline": "200 ms", "on_expired": "complete"},
        ),
        60,
    )
    assert wasted["requests_late"] > 0.2 * wasted["requests_sent"]
    assert wasted["goodput"] < s["goodput"]


def test_per_request_rows_are_optional_events() -> None:
    env, s = make("event_loop", (("0 s", "5/s"),), record_requests=True)
    env.run(20)
    rows = env.recorder.events_of("request")
    c = s.clients
    assert c is not None and len(rows) == c.ok > 50
    assert rows[0][1] == "region.event_loop.clients"
    assert rows[0][3].startswith("conn=0 worker=0 sent=") and "outcome=completed" in rows[0][3]
    env2, s2 = make("event_loop", (("0 s", "5/s"),))
    env2.run(20)
    assert env2.recorder.events_of("request") == []
    assert s2.clients is not None and s2.clients.latency.count == c.latency.count


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_same_seed_same_statistics(pattern: str) -> None:
    load = (("0 s", "80/s"),)
    conns = {"requests": 3, "requests_distribution": "geometric", "think_time": "20 ms"}
    a = stats(*make(pattern, load, connections=conns), 30)
    b = stats(*make(pattern, load, connections=conns), 30)
    c = stats(*make(pattern, load, connections=conns, seed=2), 30)
    assert a == b
    assert a != c


def test_every_pattern_sees_the_same_connections_from_equal_arrival_streams() -> None:
    sent = set()
    for pattern in PATTERN_NAMES:
        env, s = make(pattern, (("0 s", "10/s"),), workers=2)
        env.run(30)
        assert s.clients is not None
        sent.add(s.clients.connections)
    assert len(sent) == 1
