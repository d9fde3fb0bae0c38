"""Lab: congestive collapse of a FIFO work queue with deadlines, and the ways out of it.

Clients send requests (Poisson, per `load`) to a server: a `WorkerPool` of `workers` threads on
one `WorkQueue`. Each attempt carries the client's timeout as its deadline. A client that hears
nothing within `retry.attempt_timeout` gives up on that attempt and sends it again after a
back-off (`retry`, the resilience retry policy) - but the server does not know: the abandoned
attempt stays queued and is served later, for nobody (`queue.on_expired: complete`, wasted work).

Below capacity the queue is short and nearly every request succeeds at its first attempt. A
temporary overload lets the queue grow until the wait exceeds the client timeout; from then on
every attempt times out before it is served, every request is sent `max_attempts` times, and the
server spends all its time on work nobody waits for. Goodput falls to about zero and *stays*
there when the load falls back, as long as the retried load (`max_attempts` x the offered rate)
exceeds capacity: a metastable state kept up by the retries, not by the trigger. Nothing here
decides the collapse; it follows from the queue, the deadlines and the retries.

Ways out: LIFO (fresh attempts are served first and succeed), admission by waiting-queue size
(the wait stays below the timeout, refused attempts fail fast), or the operator actions `restart`
(empties the queue and aborts the work in service; with too little headroom the retry burst that
follows can collapse it again) and `set_queue` (switch discipline or admission limit at run
time). Dropping expired work at dequeue (`on_expired: drop`) keeps some goodput and lets the
backlog drain, slowly.

Milestones: `collapse` - the goodput fraction (successes / requests offered, per `window`) stays
below `collapse_below` for `sustain`; `recovered` - after a collapse, it stays at or above
`recover_above` for `sustain`. Both are computed from the recorded `goodput_fraction` level.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any, Literal

from pydantic import Field, field_validator

from simulation.core.component import Action, Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.core.units import Duration, format_duration
from simulation.core.views import Plot, Series
from simulation.primitives.load import LoadProfile, LoadStep, LoadSteps, PoissonArrivals
from simulation.primitives.resilience.admission import (
    COMPLETED,
    AdmissionConfig,
    Discipline,
    WorkItem,
)
from simulation.primitives.resilience.retry import Backoff, RetryConfig
from simulation.primitives.servers import ServiceTimeConfig, WorkerPool


class Config(SectionConfig):
    """A FIFO work queue with deadlines and retrying clients: congestive collapse and its cures."""

    load: LoadSteps = Field(
        (
            LoadStep(at="0 s", rate="50/s"),
            LoadStep(at="5 min", rate="100/s"),
            LoadStep(at="7 min", rate="50/s"),
        ),
        description="New requests per second over time (Poisson), as steps "
        "[{at: '0 s', rate: '50/s'}, ...]; retries come on top.",
    )
    workers: int = Field(8, ge=1, description="Worker threads serving the queue.")
    service: ServiceTimeConfig = Field(
        default_factory=lambda: ServiceTimeConfig(mean="100 ms"),
        description="Service time of one attempt (default here: exponential, mean 100 ms).",
    )
    queue: AdmissionConfig = Field(
        default_factory=lambda: AdmissionConfig(on_expired="complete"),
        description="The server's queue: discipline, admission limit, what to do with work "
        "past its deadline (each attempt's deadline is the client's timeout). Default here: "
        "fifo, no limit, on_expired complete.",
    )
    retry: RetryConfig = Field(
        default_factory=lambda: RetryConfig(
            policy="full_jitter", base="100 ms", max_attempts=3, attempt_timeout="2 s"
        ),
        description="Client retries: back-off, attempts, and attempt_timeout (the client's "
        "timeout, also the deadline each attempt carries to the server). Default here: "
        "full_jitter from 100 ms, 3 attempts, attempt_timeout 2 s.",
    )
    restart_downtime: Duration = Field(
        "5 s", description="How long the server takes no work after a `restart` action."
    )
    window: Duration = Field(
        "10 s", gt=0.0, description="Interval over which goodput and offered load are sampled."
    )
    collapse_below: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="`collapse` milestone: goodput fraction below this for `sustain`.",
    )
    recover_above: float = Field(
        0.9,
        ge=0.0,
        description="`recovered` milestone: goodput fraction at or above this for `sustain`, "
        "after a collapse.",
    )
    sustain: Duration = Field(
        "1 min", description="How long a goodput condition must hold to count as a milestone."
    )

    @field_validator("retry")
    @classmethod
    def _needs_timeout(cls, value: RetryConfig) -> RetryConfig:
        if value.attempt_timeout is None:
            raise ValueError(
                "retry.attempt_timeout must be set: the client's timeout is what turns slow "
                "service into retries (e.g. attempt_timeout: '2 s')"
            )
        return value


class RestartParams(SectionConfig):
    """Parameters of `restart`."""

    downtime: Duration | None = Field(
        None, description="Time the server takes no work; null = the lab's restart_downtime."
    )


class SetQueueParams(SectionConfig):
    """Parameters of `set_queue`: each left out (null) keeps its current value."""

    discipline: Discipline | None = Field(None, description="fifo or lifo.")
    max_waiting: int | Literal["unlimited"] | None = Field(
        None, description="Admission limit on the waiting queue, or 'unlimited'."
    )


class _Request:
    """One client request across its attempts."""

    __slots__ = ("backoff", "current", "start")

    def __init__(self, start: float, backoff: Backoff) -> None:
        self.start = start
        self.backoff = backoff
        self.current: WorkItem | None = None


class CongestiveCollapseLab(Component):
    """Retrying clients in front of a worker pool with a deadline-carrying work queue."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "congestive_collapse")
        self.config = config
        self.profile = LoadProfile(config.load)
        self.timeout: float = config.retry.attempt_timeout  # type: ignore[assignment]
        self.server = WorkerPool(
            self, "server", config.workers, config.service.build(), config.queue
        )
        self.budget = config.retry.make_budget()
        self.latency = self.tally("latency", "s")
        self.requests = 0
        self.calls = 0
        self.successes = 0
        self.failed = 0
        self.timeouts = 0
        self.refusals = 0
        """Attempts the server settled without serving (rejected, expired, cleared)."""
        self.interventions: list[tuple[float, str]] = []
        self._fraction = self.level("goodput_fraction", "ratio")
        self._goodput = self.level("goodput", "1/s")
        self._offered = self.level("offered", "1/s")
        self._calls = self.level("calls", "1/s")
        self._samples: list[tuple[float, int, int, int, int]] = [(0.0, 0, 0, 0, 0)]
        """(time, requests, successes, calls, server completions) at each window boundary."""
        PoissonArrivals(self.env, self.profile, self.env.rng(self.scope, "arrivals"), self._arrive)
        self.env.process(self._sample())

    # -- clients -------------------------------------------------------------------------------
    def _arrive(self) -> None:
        self.requests += 1
        self._attempt(_Request(self.env.now, self.config.retry.backoff(self.budget)))

    def _attempt(self, request: _Request) -> None:
        now = self.env.now
        self.calls += 1
        item = WorkItem(request, now, now + self.timeout, self._settled)
        request.current = item
        self.server.queue.put(item)
        if item.outcome is None:
            self.env.timeout(self.timeout).callbacks.append(
                lambda _ev: self._timed_out(request, item)
            )

    def _settled(self, item: WorkItem) -> None:
        request: _Request = item.payload
        if request.current is not item:
            return  # the client gave up on this attempt: served (or dropped) for nobody
        request.current = None
        if item.outcome is COMPLETED:
            self.successes += 1
            self.latency.observe(self.env.now - request.start)
        else:
            self.refusals += 1
            self._retry(request)

    def _timed_out(self, request: _Request, item: WorkItem) -> None:
        if request.current is not item:
            return
        request.current = None
        self.timeouts += 1
        self._retry(request)

    def _retry(self, request: _Request) -> None:
        delay = request.backoff.next_delay(self.rng)
        if delay is None:
            self.failed += 1
            return
        self.env.timeout(delay).callbacks.append(lambda _ev: self._attempt(request))

    # -- measurement -------------------------------------------------------------------------
    def _sample(self) -> Any:
        window = self.config.window
        while True:
            yield self.env.timeout(window)
            _, r0, s0, c0, _ = self._samples[-1]
            done = self.server.queue.completed
            self._samples.append((self.env.now, self.requests, self.successes, self.calls, done))
            offered, good = self.requests - r0, self.successes - s0
            self._offered.set(offered / window)
            self._goodput.set(good / window)
            self._calls.set((self.calls - c0) / window)
            if offered:
                self._fraction.set(good / offered)

    # -- operator actions --------------------------------------------------------------------
    def restart(self, downtime: float | None = None) -> None:
        down = self.config.restart_downtime if downtime is None else downtime
        dropped = self.server.restart(down)
        self.interventions.append((self.env.now, "restart"))
        self.event("server_restarted", f"dropped={dropped} downtime={format_duration(down)}")

    def set_queue(self, params: SetQueueParams) -> None:
        queue = self.server.queue
        if params.discipline is not None:
            queue.discipline = params.discipline
        if params.max_waiting is not None:
            queue.max_waiting = None if params.max_waiting == "unlimited" else params.max_waiting
        self.interventions.append((self.env.now, "set_queue"))
        self.event("queue_policy", f"discipline={queue.discipline} max_waiting={queue.max_waiting}")

    def actions(self) -> list[Action]:
        return [
            Action(
                "restart",
                lambda p: self.restart(p.downtime),
                RestartParams,
                "Restart the server: waiting and in-service work is dropped (clients see an "
                "error and retry), no work is taken for the downtime.",
            ),
            Action(
                "set_queue",
                self.set_queue,
                SetQueueParams,
                "Change the server queue's discipline (fifo/lifo) or admission limit.",
            ),
        ]

    # -- milestones and statistics -----------------------------------------------------------
    def detectors(self) -> dict[str, Detector]:
        c = self.config

        def collapse(results: Results) -> float | None:
            lvl = results.level(self.scope, "goodput_fraction")
            if lvl is None:
                return None
            return lvl.first_sustained(lambda v: v < c.collapse_below, c.sustain, results.end)

        def recovered(results: Results) -> float | None:
            t = collapse(results)
            if t is None:
                return None
            lvl = results.level(self.scope, "goodput_fraction")
            if lvl is None:
                return None
            return lvl.first_sustained(lambda v: v >= c.recover_above, c.sustain, results.end, t)

        return {"collapse": collapse, "recovered": recovered}

    def _at(self, t: float) -> tuple[float, int, int, int, int]:
        """The counts at `t`: now's if `t` is now or later, else the last sample at or before."""
        if t >= self.env.now:
            done = self.server.queue.completed
            return (self.env.now, self.requests, self.successes, self.calls, done)
        i = bisect.bisect_right([s[0] for s in self._samples], t) - 1
        return self._samples[max(i, 0)]

    def _phase(self, t0: float, t1: float) -> dict[str, Any]:
        a, b = self._at(t0), self._at(t1)
        span = b[0] - a[0]
        offered, good, calls = b[1] - a[1], b[2] - a[2], b[3] - a[3]
        return {
            "start_s": round(a[0], 3),
            "end_s": round(b[0], 3),
            "offered_per_s": round(offered / span, 3) if span > 0 else None,
            "goodput_per_s": round(good / span, 3) if span > 0 else None,
            "goodput_fraction": round(good / offered, 4) if offered else None,
            "calls_per_request": round(calls / offered, 3) if offered else None,
        }

    def plots(self) -> list[Plot]:
        return [
            Plot(
                key="congestive-collapse-throughput",
                title="Offered load, calls and goodput",
                series=(
                    Series(self.scope, "offered", "offered (new requests)"),
                    Series(self.scope, "calls", "calls (with retries)"),
                    Series(self.scope, "goodput", "goodput (answered in time)"),
                ),
                ylabel="per second",
                caption="Collapse: calls stay high (retries) while goodput falls, and stays low "
                "after the offered load drops back.",
                order=20,
            ),
            Plot(
                key="congestive-collapse-queue",
                title="Work queue",
                series=(Series(self.server.scope, "waiting", "requests waiting"),),
                ylabel="requests",
                caption="The queue fills with work whose callers have already given up.",
                order=21,
            ),
        ]

    def statistics(self, results: Results) -> dict[str, Any]:
        end = results.end
        if end <= 0.0:
            return {}
        q = self.server.queue

        def quantile(p: float) -> float | None:
            return round(self.latency.quantile(p), 6) if self.latency.count else None

        edges = sorted(
            {0.0, end}
            | {s.at for s in self.config.load if 0.0 < s.at < end}
            | {t for t, _ in self.interventions if 0.0 < t < end}
        )
        phases = {
            f"phase{i + 1}": self._phase(t0, t1)
            for i, (t0, t1) in enumerate(itertools.pairwise(edges))
        }
        level = results.level(self.server.scope, "waiting")
        return {
            "requests": self.requests,
            "offered_per_s": round(self.requests / end, 3),
            "calls": self.calls,
            "calls_per_request": round(self.calls / self.requests, 3) if self.requests else None,
            "throughput": round(q.completed / end, 3),
            "goodput": round(self.successes / end, 3),
            "goodput_fraction": round(self.successes / self.requests, 4) if self.requests else None,
            "wasted": q.wasted,
            "wasted_fraction": round(q.wasted / q.completed, 4) if q.completed else None,
            "rejected": q.rejected,
            "expired": q.expired,
            "cleared": q.cleared,
            "timeouts": self.timeouts,
            "failed": self.failed,
            "latency_p50": quantile(0.5),
            "latency_p90": quantile(0.9),
            "latency_p99": quantile(0.99),
            "max_waiting": int(max(level.values)) if level is not None and level.values else 0,
            "phases": phases,
        }


def build(parent: Component, config: Config) -> CongestiveCollapseLab:
    """Build the lab under `parent` (the scenario root) and start its processes."""
    return CongestiveCollapseLab(parent, config)
