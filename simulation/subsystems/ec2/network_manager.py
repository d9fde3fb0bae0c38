"""Network Manager: propagates network configuration for launches, terminations and appliances.

A `servers.WorkerPool` with a FIFO propagation queue. Work comes from four places: every launch
(urgent: the new instance is unreachable until its configuration lands), every termination
(clean-up), a steady `background` stream of network changes for running instances (security
groups, interfaces, routes), each on a droplet drawn uniformly from the fleet, and `appliance`
changes other subsystems ask for through the instance feed (an NLB's nodes are network
appliances: taking a target out of service or back in reconfigures each of them; see
`subsystems.instances`). Appliances are not on droplets, so their work is never held. A launch or
termination on a droplet without a DWFM lease cannot be made; its work is held on the droplet's
batch and released when DWFM leases it again (see `Ec2`; background changes too with
`hold_background`), so an outage builds a backlog that lands when DWFM recovers.

The operator action `nm_reduce_load` puts non-urgent work (terminations, background,
appliances) behind launches: it enters the queue only while fewer than `max_waiting` items wait
there (admission by queue size, as in `resilience.admission`), and otherwise waits, in order, in
a deferred list that is fed back as the queue drains. So launch propagations wait behind at most
`max_waiting` items and the deferred work uses the capacity launches leave. With `shed_queued`,
non-urgent items already queued are set aside when a worker reaches them (a cheap skip) and join
the deferred list.

Latency here is time in Network Manager (queue + service) of launch propagations; per `window`
the level `propagation_latency` is their mean, or, when none finished but some wait, the age of
the oldest waiting one (a stalled queue must not look healthy).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy
from pydantic import Field

from simulation.core.component import Action, Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.primitives.load import LoadProfile, LoadStep, PoissonArrivals
from simulation.primitives.resilience.admission import SERVED, WorkItem
from simulation.primitives.servers import ServerView, WorkerPool

from .config import NetworkManagerConfig
from .detectors import episodes

LAUNCH = "launch"
TERMINATE = "terminate"
BACKGROUND = "background"
APPLIANCE = "appliance"
KINDS = (LAUNCH, TERMINATE, BACKGROUND, APPLIANCE)


class Propagation:
    """One unit of Network Manager work; `subject` is the launch/termination it is for."""

    __slots__ = ("admitted", "done", "entered", "kind", "set_aside", "subject")

    def __init__(self, kind: str, subject: Any = None) -> None:
        self.kind = kind
        self.subject = subject
        self.entered = 0.0
        """When it entered Network Manager's queue (latency is counted from here)."""
        self.set_aside = False
        self.admitted = False
        """Released by the reduced-load feeder: never set aside again."""
        self.done = False


class ReduceLoadParams(SectionConfig):
    """Parameters of `nm_reduce_load`."""

    max_waiting: int | None = Field(
        20,
        ge=0,
        description="Non-urgent work (terminations, background, appliances) enters the queue "
        "only while fewer than this many items wait; the rest is deferred and fed back as the "
        "queue drains. null lifts the limit (what is deferred is queued at once).",
    )
    shed_queued: bool = Field(
        True,
        description="Also set aside non-urgent work already queued, when a worker reaches it "
        "(costs skip_time); it joins the deferred work.",
    )


class NetworkManager(Component):
    """The propagation service (see module docstring)."""

    def __init__(
        self,
        parent: Component,
        config: NetworkManagerConfig,
        on_launch_ready: Callable[[Propagation], None],
        route: Callable[[Propagation, random.Random], None] | None = None,
    ) -> None:
        """`route(prop, rng)` places a background change on a droplet (default: submit it)."""
        super().__init__(parent, "network_manager")
        self.config = config
        self.on_launch_ready = on_launch_ready
        self.base_service = config.service.build()
        self.pool = WorkerPool(self, "pool", config.workers, self._service)
        self.queue = self.pool.queue
        self.shedding = False
        self.limit: int | None = None
        """Queue size below which non-urgent work is admitted (None: no reduction)."""
        self.deferred: deque[Propagation] = deque()
        self.launch_waiting: deque[Propagation] = deque()
        self.held = 0
        """Propagations held on batches without a lease (kept by the EC2 component)."""
        self.submitted = dict.fromkeys(KINDS, 0)
        self.completed = dict.fromkeys(KINDS, 0)
        self.set_aside = 0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self._win_n = 0
        self._win_sum = 0.0
        self._latency = self.level("propagation_latency", "s")
        self._backlog = self.level("backlog", "items")
        self._deferred = self.level("deferred", "items")
        self._held = self.level("held", "items")
        self.env.process(self._sample())
        if config.background > 0:
            profile = LoadProfile([LoadStep.model_construct(at=0.0, rate=config.background)])
            rng = self.env.rng(self.scope, "background")
            place = route or (lambda prop, _rng: self.submit(prop))

            def emit() -> None:
                place(Propagation(BACKGROUND), rng)

            PoissonArrivals(self.env, profile, rng, emit)

    # -- work in ---------------------------------------------------------------------------
    def appliance_changes(self, count: int) -> None:
        """`count` network-appliance changes asked for by another subsystem (never held)."""
        for _ in range(count):
            self.submit(Propagation(APPLIANCE))

    def submit(self, prop: Propagation) -> None:
        """Propagation work released to Network Manager now."""
        self.submitted[prop.kind] += 1
        limit = self.limit
        if (
            prop.kind != LAUNCH
            and limit is not None
            and (self.deferred or len(self.queue.entries) >= limit)
        ):
            self.deferred.append(prop)
            return
        self._enqueue(prop)

    def _enqueue(self, prop: Propagation) -> None:
        prop.entered = self.env.now
        self.queue.submit(prop, callback=self._done)
        if prop.kind == LAUNCH:
            self.launch_waiting.append(prop)

    def _feed(self) -> None:
        """Queue deferred work, oldest first, while fewer than `limit` items wait."""
        deferred, entries, limit = self.deferred, self.queue.entries, self.limit
        while deferred and (limit is None or len(entries) < limit):
            prop = deferred.popleft()
            prop.admitted = True
            self._enqueue(prop)

    def _service(self, server: ServerView, prop: Propagation, rng: random.Random) -> float:
        if self.shedding and prop.kind != LAUNCH and not prop.admitted:
            prop.set_aside = True
            return self.config.skip_time
        return self.base_service(server, prop, rng)

    def _done(self, item: WorkItem) -> None:
        prop: Propagation = item.payload
        if item.outcome not in SERVED:
            self._enqueue(prop)  # dropped by a restart of the pool: it still has to happen
            return
        if prop.set_aside:
            prop.set_aside = False
            self.set_aside += 1
            self.deferred.append(prop)
            self._feed()
            return
        prop.done = True
        self.completed[prop.kind] += 1
        if prop.kind == LAUNCH:
            latency = self.env.now - prop.entered
            self.latency_sum += latency
            self.latency_max = max(self.latency_max, latency)
            self._win_n += 1
            self._win_sum += latency
            self.on_launch_ready(prop)
        if self.deferred:
            self._feed()

    # -- measurement -------------------------------------------------------------------------
    def _sample(self) -> Generator[simpy.Event, Any, None]:
        window = self.config.window
        waiting = self.launch_waiting
        while True:
            yield self.env.timeout(window)
            while waiting and waiting[0].done:
                waiting.popleft()
            if self._win_n:
                self._latency.set(self._win_sum / self._win_n)
            elif waiting:
                self._latency.set(self.env.now - waiting[0].entered)
            self._win_n, self._win_sum = 0, 0.0
            self._backlog.set(self.queue.in_flight)
            self._deferred.set(len(self.deferred))
            self._held.set(self.held)

    def latency_now(self) -> float:
        return self._latency.current if self._latency.values else 0.0

    # -- operator action ---------------------------------------------------------------------
    def reduce_load(self, params: ReduceLoadParams) -> None:
        self.limit = params.max_waiting
        self.shedding = params.shed_queued and params.max_waiting is not None
        before = len(self.deferred)
        self._feed()
        if params.max_waiting is None:
            self.event("nm_load_restored", f"released={before}")
        else:
            self.event(
                "nm_load_reduced",
                f"non-urgent work admitted below {params.max_waiting} waiting, "
                f"shed_queued={params.shed_queued}",
            )

    def actions(self) -> list[Action]:
        return [
            Action(
                "nm_reduce_load",
                self.reduce_load,
                ReduceLoadParams,
                "Put non-urgent propagation work (terminations, background, appliance changes) "
                "behind launches: "
                "admitted only while the queue is short, deferred otherwise; max_waiting null "
                "lifts it.",
            )
        ]

    # -- after the run -------------------------------------------------------------------------
    def detectors(self) -> dict[str, Detector]:
        c, scope = self.config, self.scope

        def backlogs(results: Results) -> list[tuple[float, float | None]]:
            limit = c.backlog_latency
            return episodes(
                results.level(scope, "propagation_latency"),
                lambda v: v > limit,
                c.backlog_sustain,
                c.cleared_sustain,
                results.end,
            )

        def start(results: Results) -> float | None:
            """The first backlog's start."""
            found = backlogs(results)
            return found[0][0] if found else None

        def cleared(results: Results) -> float | None:
            """The last backlog's end: propagation back to normal for good (a dip under the
            threshold followed by a new backlog is not the end)."""
            found = backlogs(results)
            return found[-1][1] if found else None

        return {"nm_backlog_start": start, "nm_backlog_cleared": cleared}

    def statistics(self, results: Results) -> dict[str, Any]:
        end = results.end
        if end <= 0.0:
            return {}
        backlog = results.level(self.scope, "backlog")
        deferred = results.level(self.scope, "deferred")
        held = results.level(self.scope, "held")
        done = self.completed[LAUNCH]
        return {
            "submitted": dict(self.submitted),
            "completed": dict(self.completed),
            "set_aside": self.set_aside,
            "launch_latency_mean_s": round(self.latency_sum / done, 3) if done else None,
            "launch_latency_max_s": round(self.latency_max, 1),
            "backlog_peak": int(max(backlog.values, default=0)) if backlog else 0,
            "deferred_peak": int(max(deferred.values, default=0)) if deferred else 0,
            "held_peak": int(max(held.values, default=0)) if held else 0,
            "utilisation": round(sum(self.pool.busy_times()) / (end * self.config.workers), 3),
        }
