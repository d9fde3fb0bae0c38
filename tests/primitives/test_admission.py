"""Work queue: FIFO/LIFO, admission by waiting-queue size, deadlines, clear, exact accounting."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.core import Component, SimEnv
from simulation.primitives.resilience.admission import (
    CLEARED,
    COMPLETED,
    EXPIRED,
    LATE,
    REJECTED,
    AdmissionConfig,
    Outcome,
    WorkItem,
    WorkQueue,
)
from simulation.primitives.servers import WorkerPool

START = datetime(2025, 10, 20, 0, 0, tzinfo=UTC)


def one_second(_server: Any, _payload: Any, _rng: Any) -> float:
    return 1.0


def pool(workers: int = 1, **admission: Any) -> tuple[SimEnv, WorkerPool, list[WorkItem]]:
    env = SimEnv(START, seed=1)
    root = Component(env, "region")
    p = WorkerPool(root, "pool", workers, one_second, AdmissionConfig(**admission))
    return env, p, []


def served_order(items: list[WorkItem]) -> list[Any]:
    return [it.payload for it in sorted(items, key=lambda it: it.started)]


def test_config_defaults_and_validation() -> None:
    c = AdmissionConfig()
    assert (c.discipline, c.max_waiting, c.deadline, c.on_expired) == ("fifo", None, None, "drop")
    assert AdmissionConfig(deadline="2 s").deadline == 2.0
    with pytest.raises(pydantic.ValidationError):
        AdmissionConfig(discipline="random")
    with pytest.raises(pydantic.ValidationError):
        AdmissionConfig(max_waiting=-1)


def test_fifo_serves_oldest_first() -> None:
    env, p, _ = pool()
    items = [p.submit(i) for i in range(5)]
    env.run(10)
    assert served_order(items) == [0, 1, 2, 3, 4]
    assert [it.started for it in items] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(it.outcome is COMPLETED for it in items)


def test_lifo_serves_newest_first() -> None:
    env, p, _ = pool(discipline="lifo")
    first = p.submit("first")
    env.run(0.5)
    later = [p.submit(i) for i in range(4)]
    env.run(10)
    assert served_order([first, *later]) == ["first", 3, 2, 1, 0]


def test_discipline_can_change_at_run_time() -> None:
    env, p, _ = pool()
    items = [p.submit(i) for i in range(4)]
    env.run(0.5)
    p.queue.discipline = "lifo"
    env.run(10)
    assert served_order(items) == [0, 3, 2, 1]


def test_admission_rejects_at_once_when_the_waiting_queue_is_at_its_limit() -> None:
    env, p, _ = pool(max_waiting=2)
    busy = p.submit("busy")
    env.run(0.1)  # the worker took it; the queue is empty
    items = [p.submit(i) for i in range(4)]
    assert [it.outcome for it in items] == [None, None, REJECTED, REJECTED]
    env.run(10)
    assert busy.outcome is COMPLETED and [it.outcome for it in items[:2]] == [COMPLETED] * 2
    c = p.queue.counts()
    assert (c["arrivals"], c["completed"], c["rejected"]) == (5, 3, 2)


def test_zero_limit_serves_only_when_a_worker_is_free() -> None:
    env, p, _ = pool(workers=2, max_waiting=0)
    env.run(0.1)  # both workers idle
    a, b, c = p.submit("a"), p.submit("b"), p.submit("c")
    assert (a.outcome, b.outcome, c.outcome) == (None, None, REJECTED)
    env.run(0.5)
    assert p.submit("d").outcome is REJECTED  # both busy
    env.run(10)
    assert (a.outcome, b.outcome) == (COMPLETED, COMPLETED)
    assert p.submit("e").outcome is None  # free again


def test_expired_work_is_dropped_at_dequeue() -> None:
    env, p, _ = pool(deadline="1.5 s")
    items = [p.submit(i) for i in range(3)]
    env.run(10)
    # 0 served [0, 1]; 1 starts at 1 (in time) but ends at 2 (late); 2 found expired at 2.
    assert [it.outcome for it in items] == [COMPLETED, LATE, EXPIRED]
    q = p.queue
    assert (q.completed, q.wasted, q.expired) == (2, 1, 1)
    assert p.workers[0].busy_time() == pytest.approx(2.0)


def test_expired_work_completed_anyway_is_wasted() -> None:
    env, p, _ = pool(deadline="1.5 s", on_expired="complete")
    items = [p.submit(i) for i in range(3)]
    env.run(10)
    assert [it.outcome for it in items] == [COMPLETED, LATE, LATE]
    assert (p.queue.completed, p.queue.wasted, p.queue.expired) == (3, 2, 0)
    assert p.workers[0].busy_time() == pytest.approx(3.0)


def test_per_item_deadline_overrides_the_default() -> None:
    env, p, _ = pool(deadline="100 s")
    a = p.submit("a")
    b = p.submit("b", deadline=0.5)
    env.run(10)
    assert (a.outcome, b.outcome) == (COMPLETED, EXPIRED)
    assert a.deadline == 100.0


def test_restart_clears_waiting_and_in_service_work_and_stays_down() -> None:
    env, p, _ = pool()
    items = [p.submit(i) for i in range(4)]
    env.run(0.5)
    dropped = p.restart(downtime=2.0)
    assert dropped == 4
    assert [it.outcome for it in items[1:]] == [CLEARED] * 3
    env.run(0.6)
    assert items[0].outcome is CLEARED  # interrupted in service
    late = p.submit("after")
    env.run(10)
    assert late.started == pytest.approx(2.5)  # down from 0.5 to 2.5
    q = p.queue
    assert (q.cleared, q.completed, q.in_flight) == (4, 1, 0) and q.balanced()


def test_outcome_event_inside_a_process() -> None:
    env, p, _ = pool(max_waiting=0)
    env.run(0.1)
    seen: list[tuple[float, Outcome]] = []

    def caller() -> Any:
        for name in ("first", "second"):
            outcome = yield p.call(name)
            seen.append((env.now, outcome))

    env.process(caller())
    env.run(10)
    # the first finds the worker free and takes 1 s; so does the second, sent after it.
    assert seen == [(pytest.approx(1.1), COMPLETED), (pytest.approx(2.1), COMPLETED)]
    busy = p.submit("busy")
    assert busy.outcome is None
    refused = p.call("refused")
    assert refused.triggered and refused.value is REJECTED


def test_wait_accounting_counts_items_that_waited() -> None:
    env, p, _ = pool(workers=2)
    env.run(0.1)
    for i in range(3):
        p.submit(i)
    env.run(10)
    q = p.queue
    assert (q.started, q.waited) == (3, 1)
    assert q.wait_sum == pytest.approx(1.0)


# -- property: exact accounting under any sequence of operations -----------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.one_of(st.none(), st.floats(0.0, 5.0))),
        st.tuples(st.just("pop"), st.just(None)),
        st.tuples(st.just("finish"), st.integers(0, 50)),
        st.tuples(st.just("abort"), st.integers(0, 50)),
        st.tuples(st.just("clear"), st.just(None)),
        st.tuples(st.just("advance"), st.floats(0.001, 2.0)),
        st.tuples(st.just("limit"), st.one_of(st.none(), st.integers(0, 5))),
        st.tuples(st.just("discipline"), st.sampled_from(["fifo", "lifo"])),
    ),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(ops=OPS, drop=st.booleans())
def test_nothing_is_lost(ops: list[tuple[str, Any]], drop: bool) -> None:
    """arrivals == completed + rejected + expired + cleared + waiting + in service, always,
    and each counter equals the outcomes actually delivered to the items."""
    env = SimEnv(START, seed=1)
    owner = Component(env, "region")
    q = WorkQueue(owner, AdmissionConfig(on_expired="drop" if drop else "complete"))
    delivered: list[Outcome] = []
    items: list[WorkItem] = []
    serving: list[WorkItem] = []
    for op, arg in ops:
        if op == "submit":
            deadline = None if arg is None else env.now + arg
            items.append(q.submit(len(items), deadline, lambda it: delivered.append(it.outcome)))
        elif op == "pop":
            item = q.pop()
            if item is not None:
                serving.append(item)
        elif op == "finish" and serving:
            q.finish(serving.pop(arg % len(serving)))
        elif op == "abort" and serving:
            q.abort(serving.pop(arg % len(serving)))
        elif op == "clear":
            q.clear()
        elif op == "advance":
            env.run(env.now + arg)
        elif op == "limit":
            q.max_waiting = arg
        elif op == "discipline":
            q.discipline = arg
        assert q.balanced()
        assert q.in_service == len(serving)
        assert q.waiting == sum(it.outcome is None for it in items) - len(serving)
    counts = {o: delivered.count(o) for o in Outcome}
    assert counts[COMPLETED] + counts[LATE] == q.completed
    assert counts[LATE] == q.wasted
    assert (counts[REJECTED], counts[EXPIRED], counts[CLEARED]) == (
        q.rejected,
        q.expired,
        q.cleared,
    )
    assert sum(1 for it in items if it.outcome is not None) == len(delivered)
    assert all(math.isfinite(it.started) for it in items if it.outcome in (COMPLETED, LATE))
