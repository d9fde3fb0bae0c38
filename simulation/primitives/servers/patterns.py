"""The five thread-and-socket server patterns, assembled from sockets, workers and work queues.

Roles: the *listener* owns the listening socket; the *acceptor* calls accept(); the *reader*
reads and parses a request (`read_cost`); the *worker* processes it (the service time).

1. `event_loop` - one listener, one thread (Node.js): the thread accepts, reads and serves. One
   slow request holds everything up; the accept queue fills while the loop is busy.
2. `connection_workers` - one listener thread accepts and hands each *connection* to a worker
   round-robin for its lifetime (memcached). Balances connections, not requests: a long-lived
   busy connection pins its worker while another worker idles.
3. `request_dispatch` - one dispatcher thread accepts, reads and parses every request and hands
   each *request* to any free worker of a pool (RAMCloud). Balances requests perfectly; the
   dispatcher (1 / read_cost requests per second at most) is the bottleneck.
4. `shared_accept` - every worker is an event loop accepting from the same socket (nginx). Wake-up
   order (`listener.wakeup_order`) decides who gets a new connection; with epoll's LIFO order the
   most recently idle thread wins again and again, so shares are uneven.
5. `reuseport` - one socket and accept queue per worker (SO_REUSEPORT); the kernel places each
   connection by a hash of its 4-tuple, even by count but blind to load: a stalled worker keeps
   receiving connections. Closing a listener resets the connections waiting in its queue.

Each server is a Component with its workers as children (`<pattern>.worker[i]`), and reports
throughput, latency quantiles, waits, accept-queue drops and per-worker utilisation over the
window after its warm-up (`statistics`).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from simulation.core.component import Action, Component
from simulation.core.config import SectionConfig
from simulation.core.env import call_in
from simulation.core.results import Results
from simulation.core.units import Duration
from simulation.primitives.load import LoadProfile
from simulation.primitives.resilience.admission import (
    COMPLETED,
    AdmissionConfig,
    WorkItem,
    WorkQueue,
)

from .clients import CLIENT_COUNTERS, Clients
from .service import ServiceTime, ServiceTimeConfig, with_overhead
from .sockets import AcceptQueue, Connection, ConnectionConfig, ListenerConfig, Request
from .worker import Worker

PatternName = Literal[
    "event_loop", "connection_workers", "request_dispatch", "shared_accept", "reuseport"
]
PATTERN_NAMES: tuple[PatternName, ...] = (
    "event_loop",
    "connection_workers",
    "request_dispatch",
    "shared_accept",
    "reuseport",
)


class ServerConfig(SectionConfig):
    """A server's threads, costs, work queue and listening socket (the pattern is chosen apart)."""

    workers: int = Field(
        4, ge=1, description="Worker threads (event_loop always runs exactly one thread)."
    )
    service: ServiceTimeConfig = Field(
        default_factory=ServiceTimeConfig, description="Service time of one request."
    )
    read_cost: Duration = Field(
        "10 us",
        description="CPU to read and parse one request: on the worker, or on the dispatcher "
        "thread in request_dispatch.",
    )
    wakeup_cost: Duration = Field(
        "5 us", description="CPU a sleeping thread spends to wake up (context switch)."
    )
    queue: AdmissionConfig = Field(
        default_factory=AdmissionConfig,
        description="Policies of the request queue (each worker's, or the shared pool's in "
        "request_dispatch); a deadline counts from when the client sent the request.",
    )
    listener: ListenerConfig = Field(
        default_factory=ListenerConfig, description="The listening socket(s)."
    )


class StallParams(SectionConfig):
    """Parameters of `stall_worker`."""

    worker: int = Field(0, ge=0, description="Index of the worker thread to stall.")
    duration: Duration = Field("1 s", description="How long it takes no work.")


class ListenerParams(SectionConfig):
    """Parameters of `close_listener` and `open_listener`."""

    listener: int = Field(0, ge=0, description="Index of the listener (one per worker).")


def _no_clients(item: WorkItem) -> None:
    raise RuntimeError(f"a request was settled on a server without clients: {item!r}")


def _ratio(hi: float, lo: float) -> float | None:
    return round(hi / lo, 3) if lo > 0 else None


def _r(x: float, digits: int = 6) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Server(Component):
    """Common front end of the patterns: placing connections, queuing requests, statistics."""

    pattern: ClassVar[PatternName]

    def __init__(
        self,
        parent: Component,
        config: ServerConfig,
        *,
        service: ServiceTime | None = None,
        name: str | None = None,
        warmup: float = 0.0,
    ) -> None:
        super().__init__(parent, name or self.pattern)
        self.config = config
        self.base_service: ServiceTime = service or config.service.build()
        self.deadline = config.queue.deadline
        self.warmup = warmup
        self.clients: Clients | None = None
        self._settled: Callable[[WorkItem], None] = _no_clients
        self.workers: list[Worker] = []
        self.threads: list[Worker] = []
        """Threads that are not workers: the listener or dispatcher."""
        self.listeners: list[AcceptQueue] = []
        self.refused = 0
        self._build()
        self.queues: list[WorkQueue] = list(
            {
                id(w.queue): w.queue for w in self.threads + self.workers if w.queue is not None
            }.values()
        )
        self._base = self._counters()
        if warmup > 0.0:
            call_in(self.env, warmup, self._mark_warmup)

    # -- to be provided by each pattern --------------------------------------------------------
    def _build(self) -> None:
        raise NotImplementedError

    def _listener_for(self, conn: Connection) -> AcceptQueue | None:
        return self.listeners[0]

    # -- wiring helpers ------------------------------------------------------------------------
    def _listener(self, name: str = "accept_queue") -> AcceptQueue:
        lc = self.config.listener
        q = AcceptQueue(self, lc.capacity, lc.wakeup_order, name)
        self.listeners.append(q)
        return q

    def _worker(
        self,
        index: int | str | None,
        queue: WorkQueue | AdmissionConfig | None,
        service: ServiceTime | None,
        accept: AcceptQueue | None = None,
        on_accept: Any = None,
        name: str = "worker",
    ) -> Worker:
        c = self.config
        return Worker(
            self,
            index,
            queue,
            service,
            name=name,
            wakeup_cost=c.wakeup_cost,
            accept=accept,
            on_accept=on_accept,
            accept_cost=c.listener.accept_cost,
            accept_batch=c.listener.accept_batch,
        )

    def add_clients(
        self,
        load: LoadProfile,
        connection: ConnectionConfig,
        arrivals: random.Random,
        *,
        record_requests: bool = False,
    ) -> Clients:
        """Drive this server with client connections arriving per `load`."""
        self.clients = Clients(
            self, self, load, connection, arrivals, record_requests=record_requests
        )
        self._settled = self.clients.settled
        return self.clients

    # -- front end (clients call these) --------------------------------------------------------
    def connect(self, conn: Connection) -> bool | None:
        listener = self._listener_for(conn)
        if listener is None:
            self.refused += 1
            return None
        return listener.offer(conn)

    def send(self, request: Request) -> None:
        queue = request.conn.queue
        if queue is None:
            request.conn.pending = request
        else:
            self._submit(queue, request)

    def close(self, conn: Connection) -> None:
        conn.queue = None

    def _place(self, worker: Worker, conn: Connection) -> None:
        """`conn` is accepted and read by `worker` from now on."""
        conn.queue = worker.queue
        conn.worker = worker.index
        pending = conn.pending
        if pending is not None:
            conn.pending = None
            self._submit(worker.queue, pending)  # type: ignore[arg-type]

    def _submit(self, queue: WorkQueue, request: Request) -> None:
        deadline = None if self.deadline is None else request.sent + self.deadline
        queue.submit(request, deadline, self._settled)

    def requests_in_flight(self) -> int:
        """Requests inside the server, counted where they are: in a connection waiting in an
        accept queue or being accepted, waiting in a work queue, or in service."""
        accepting = sum(
            1
            for t in self.threads + self.workers
            if t.accepting is not None and t.accepting.pending is not None
        )
        queued = sum(1 for q in self.listeners for conn in q.entries if conn.pending is not None)
        return queued + accepting + sum(q.in_flight for q in self.queues)

    # -- operator actions -----------------------------------------------------------------------
    def stall_worker(self, worker: int, duration: float) -> None:
        if worker >= len(self.workers):
            return
        self.event("worker_stalled", f"worker={worker} duration={duration:g}s")
        self.workers[worker].stall(duration)

    def actions(self) -> list[Action]:
        return [
            Action(
                "stall_worker",
                lambda p: self.stall_worker(p.worker, p.duration),
                StallParams,
                "Stop one worker thread for a while (a GC pause or a slow call); workers past "
                "the pattern's count are ignored.",
            )
        ]

    # -- statistics -------------------------------------------------------------------------------
    def _counters(self) -> dict[str, Any]:
        c: dict[str, Any] = dict.fromkeys(CLIENT_COUNTERS, 0)
        if self.clients is not None:
            c.update(self.clients.counters())
        c["accept_drops"] = sum(q.dropped for q in self.listeners)
        c["listener_resets"] = sum(q.reset for q in self.listeners)
        c["refused"] = self.refused
        c["busy"] = [w.busy_time() for w in self.workers]
        c["served"] = [w.served for w in self.workers]
        c["thread_busy"] = [t.busy_time() for t in self.threads]
        c["wakeups"] = sum(w.wakeups for w in self.workers + self.threads)
        c["idle_wakeups"] = sum(w.idle_wakeups for w in self.workers + self.threads)
        return c

    def _mark_warmup(self, _event: Any) -> None:
        self._base = self._counters()

    def statistics(self, results: Results) -> dict[str, Any]:
        now = self.env.now
        t0 = min(self.warmup, now)
        span = now - t0
        if span <= 0.0 or self.clients is None:
            return {"pattern": self.pattern}
        cur, base = self._counters(), self._base
        d = {k: cur[k] - base[k] for k in cur if not isinstance(cur[k], list)}
        busy = [(b1 - b0) / span for b1, b0 in zip(cur["busy"], base["busy"], strict=True)]
        served = [s1 - s0 for s1, s0 in zip(cur["served"], base["served"], strict=True)]
        tally = self.clients.latency
        lat = sorted(tally.values[bisect.bisect_left(tally.times, t0) :])
        n_served = d["ok"] + d["late"]
        stats: dict[str, Any] = {
            "pattern": self.pattern,
            "workers": len(self.workers),
            "window_s": _r(span, 3),
            "connections_per_s": _r(d["connections"] / span, 3),
            "requests_sent": d["sent"],
            "throughput": _r(n_served / span, 3),
            "goodput": _r(d["ok"] / span, 3),
            "latency_mean": _r(sum(lat) / len(lat)) if lat else None,
            "latency_p50": _r(_quantile(lat, 0.50)),
            "latency_p90": _r(_quantile(lat, 0.90)),
            "latency_p99": _r(_quantile(lat, 0.99)),
            "latency_p999": _r(_quantile(lat, 0.999)),
            "latency_max": _r(lat[-1]) if lat else None,
            "wait_mean": _r(d["wait_sum"] / n_served) if n_served else None,
            "wait_probability": _r(d["waited"] / n_served, 4) if n_served else None,
            "accept_drops": d["accept_drops"],
            "connect_failures": d["connect_failed"],
            "connections_reset": d["connections_reset"],
            "requests_rejected": d["rejected"],
            "requests_expired": d["expired"],
            "requests_late": d["late"],
            "requests_reset": d["reset"],
            "worker_utilisation": [round(u, 4) for u in busy],
            "utilisation_max_min": _ratio(max(busy), min(busy)),
            "worker_share_max_min": _ratio(max(served), min(served)),
            "wakeups": d["wakeups"],
            "idle_wakeups": d["idle_wakeups"],
        }
        for t, b1, b0 in zip(self.threads, cur["thread_busy"], base["thread_busy"], strict=True):
            stats[f"{t.name}_utilisation"] = round((b1 - b0) / span, 4)
        return stats


class EventLoopServer(Server):
    """1. One thread accepts, reads and serves (Node.js)."""

    pattern = "event_loop"

    def _build(self) -> None:
        listener = self._listener()
        service = with_overhead(self.base_service, self.config.read_cost)
        self.workers = [self._worker(0, self.config.queue, service, listener, self._place)]


class ConnectionWorkersServer(Server):
    """2. A listener thread hands each connection to a worker, round-robin (memcached)."""

    pattern = "connection_workers"

    def _build(self) -> None:
        listener = self._listener()
        service = with_overhead(self.base_service, self.config.read_cost)
        self._next = 0
        self.threads = [self._worker(None, None, None, listener, self._hand_off, name="listener")]
        self.workers = [
            self._worker(i, self.config.queue, service) for i in range(self.config.workers)
        ]

    def _hand_off(self, _listener: Worker, conn: Connection) -> None:
        worker = self.workers[self._next]
        self._next = (self._next + 1) % len(self.workers)
        self._place(worker, conn)


class RequestDispatchServer(Server):
    """3. A dispatcher thread accepts and reads; any free pool worker serves (RAMCloud)."""

    pattern = "request_dispatch"

    def _build(self) -> None:
        listener = self._listener()
        read_cost = self.config.read_cost
        self.pool_queue = WorkQueue(self, self.config.queue)
        # The dispatcher's read list (readable sockets) is not a queue anyone watches: no level.
        read_list = WorkQueue(self, AdmissionConfig(), "read_list", record=False)
        self.dispatcher = self._worker(
            None,
            read_list,
            lambda _server, _payload, _rng: read_cost,
            listener,
            self._place,
            name="dispatcher",
        )
        self.threads = [self.dispatcher]
        self.workers = [
            self._worker(i, self.pool_queue, self.base_service) for i in range(self.config.workers)
        ]

    def _place(self, worker: Worker, conn: Connection) -> None:
        super()._place(worker, conn)
        conn.worker = None

    def _submit(self, queue: WorkQueue, request: Request) -> None:
        if queue is self.pool_queue:
            super()._submit(queue, request)
        else:
            queue.submit(request, None, self._dispatched)

    def _dispatched(self, item: WorkItem) -> None:
        if item.outcome is COMPLETED:
            self._submit(self.pool_queue, item.payload)
        else:
            self._settled(item)


class SharedAcceptServer(Server):
    """4. Every worker is an event loop accepting from one shared socket (nginx)."""

    pattern = "shared_accept"

    def _build(self) -> None:
        listener = self._listener()
        service = with_overhead(self.base_service, self.config.read_cost)
        self.workers = [
            self._worker(i, self.config.queue, service, listener, self._place)
            for i in range(self.config.workers)
        ]


class ReuseportServer(Server):
    """5. One socket per worker (SO_REUSEPORT); the kernel hashes connections onto them."""

    pattern = "reuseport"

    def _build(self) -> None:
        service = with_overhead(self.base_service, self.config.read_cost)
        for i in range(self.config.workers):
            listener = self._listener(f"accept_queue[{i}]")
            self.workers.append(self._worker(i, self.config.queue, service, listener, self._place))
        self._open = list(self.listeners)

    def _listener_for(self, conn: Connection) -> AcceptQueue | None:
        open_ = self._open
        if not open_:
            return None
        return open_[(conn.hash * len(open_)) >> 32]

    def close_listener(self, index: int) -> int:
        """Close listener `index`: its queued connections are reset; returns how many."""
        listener = self.listeners[index]
        if not listener.open:
            return 0
        reset = listener.close()
        self._open = [q for q in self.listeners if q.open]
        self.event("listener_closed", f"listener={index} reset={len(reset)}")
        for conn in reset:
            if self.clients is not None:
                self.clients.reset_connection(conn)
        return len(reset)

    def open_listener(self, index: int) -> None:
        self.listeners[index].reopen()
        self._open = [q for q in self.listeners if q.open]
        self.event("listener_opened", f"listener={index}")

    def actions(self) -> list[Action]:
        return [
            *super().actions(),
            Action(
                "close_listener",
                lambda p: self.close_listener(p.listener),
                ListenerParams,
                "Close one SO_REUSEPORT listener: connections waiting in its accept queue are "
                "reset; new connections hash onto the others.",
            ),
            Action(
                "open_listener",
                lambda p: self.open_listener(p.listener),
                ListenerParams,
                "Re-open a closed SO_REUSEPORT listener (it takes its share of new connections).",
            ),
        ]


PATTERNS: dict[str, type[Server]] = {
    cls.pattern: cls
    for cls in (
        EventLoopServer,
        ConnectionWorkersServer,
        RequestDispatchServer,
        SharedAcceptServer,
        ReuseportServer,
    )
}


def build_server(
    parent: Component,
    pattern: PatternName,
    config: ServerConfig,
    *,
    service: ServiceTime | None = None,
    name: str | None = None,
    warmup: float = 0.0,
) -> Server:
    """Build one server of `pattern` under `parent` (add load with `server.add_clients`)."""
    return PATTERNS[pattern](parent, config, service=service, name=name, warmup=warmup)
