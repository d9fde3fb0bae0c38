"""Property: a server pattern loses nothing, whatever its configuration and operator actions.

Every request a client sent is either answered (completed, late, rejected, expired, cleared or
reset) or still inside the server, where it is counted independently by looking: waiting in an
accept queue, waiting in a work queue, or in service. Every work queue balances on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.core import Component, Results, SimEnv
from simulation.core.rng import stream
from simulation.primitives.load import LoadProfile, steps
from simulation.primitives.servers import (
    PATTERN_NAMES,
    ConnectionConfig,
    ServerConfig,
    build_server,
)

START = datetime(2025, 10, 20, 0, 0, tzinfo=UTC)

configs = st.fixed_dictionaries(
    {
        "pattern": st.sampled_from(PATTERN_NAMES),
        "workers": st.integers(1, 4),
        "rate": st.sampled_from([20, 100, 400, 1500]),
        "requests": st.integers(1, 5),
        "distribution": st.sampled_from(["fixed", "geometric"]),
        "think_ms": st.sampled_from([0, 5, 50]),
        "backlog": st.integers(1, 20),
        "syn_retries": st.integers(0, 3),
        "discipline": st.sampled_from(["fifo", "lifo"]),
        "max_waiting": st.one_of(st.none(), st.integers(0, 5)),
        "deadline_ms": st.one_of(st.none(), st.integers(20, 500)),
        "on_expired": st.sampled_from(["drop", "complete"]),
        "wakeup_order": st.sampled_from(["lifo", "fifo", "all"]),
        "stall": st.one_of(st.none(), st.tuples(st.floats(0.0, 3.0), st.floats(0.01, 2.0))),
        "close_at": st.one_of(st.none(), st.floats(0.1, 3.0)),
        "until": st.floats(0.5, 4.0),
        "seed": st.integers(1, 1000),
    }
)


@settings(max_examples=40, deadline=None)
@given(c=configs)
def test_nothing_is_lost(c: dict[str, Any]) -> None:
    env = SimEnv(START, c["seed"])
    root = Component(env, "region")
    queue: dict[str, Any] = {
        "discipline": c["discipline"],
        "max_waiting": c["max_waiting"],
        "on_expired": c["on_expired"],
    }
    if c["deadline_ms"] is not None:
        queue["deadline"] = f"{c['deadline_ms']} ms"
    config = ServerConfig(
        workers=c["workers"],
        service={"distribution": "lognormal", "mean": "10 ms", "cv": 1.5},
        queue=queue,
        listener={"backlog": c["backlog"], "wakeup_order": c["wakeup_order"]},
    )
    server = build_server(root, c["pattern"], config)
    clients = server.add_clients(
        LoadProfile(steps(("0 s", f"{c['rate']}/s"))),
        ConnectionConfig(
            requests=c["requests"],
            requests_distribution=c["distribution"],
            think_time=f"{c['think_ms']} ms" if c["think_ms"] else 0,
            syn_retries=c["syn_retries"],
        ),
        stream(c["seed"], "prop", "arrivals"),
    )
    if c["stall"] is not None:
        at, duration = c["stall"]
        env.timeout(at).callbacks.append(lambda _e: server.stall_worker(0, duration))
    if c["close_at"] is not None and c["pattern"] == "reuseport":
        env.timeout(c["close_at"]).callbacks.append(lambda _e: server.close_listener(0))
    env.run(c["until"])

    assert clients.sent == clients.answered + server.requests_in_flight()
    assert clients.in_flight == server.requests_in_flight() >= 0
    for q in server.queues:
        assert q.balanced()
    assert clients.connected + clients.connect_failed <= clients.connections
    opened = clients.connected - clients.closed - clients.connections_reset
    assert opened >= 0
    served = clients.ok + clients.late
    assert served == sum(w.served for w in server.workers)
    stats = server.statistics(Results(env, c["until"]))
    assert stats["requests_sent"] == clients.sent
