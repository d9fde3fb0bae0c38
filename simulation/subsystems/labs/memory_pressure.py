"""Memory-pressure lab: one host whose service time grows with the work it holds.

A host is a worker pool (servers primitive) whose service time comes from the memory primitive:
the working set is a base plus `bytes_per_item` for every item the host holds (waiting or in
service). Arrivals follow a stepped Poisson load profile. While the host keeps up, the queue is
short and so is the working set; once arrivals outrun it, the queue grows, the working set
outgrows the TLB's reach (every access pays a page walk), then the host's memory (a fraction of
accesses are major faults): service slows as the queue grows, which makes the queue grow faster.
That feedback is one of the effects that keeps an overloaded host overloaded.

One host is built per page size in `page_sizes` (4 KiB and 2 MiB by default), all fed the same
arrivals, so the page sizes differ only by their memory cost. Statistics report, per host and per
phase (within TLB reach, past TLB reach, swapping), the time spent, the mean service time and the
throughput. Milestones are detected from each host's recorded `memory_phase` level (TLB reach
exceeded, swapping starts) and its `service_collapse` event.
`restart_host` empties a host's queue (and so its working set), as a process restart does.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field, field_validator

from simulation.core.component import Action, Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.core.units import Duration, Size
from simulation.core.views import Plot, Series
from simulation.primitives.load import LoadProfile, LoadSteps, PoissonArrivals, steps
from simulation.primitives.memory import (
    GIB,
    MIB,
    MemoryConfig,
    MemoryModel,
    MemoryServiceTime,
    PageSize,
)
from simulation.primitives.resilience.admission import SERVED, AdmissionConfig, WorkItem
from simulation.primitives.servers import ServerView, WorkerPool, state_dependent

PHASES = ("within_tlb", "past_tlb", "swapping")
SLUGS: dict[str, str] = {"4 KiB": "4k", "2 MiB": "2m", "1 GiB": "1g"}


def _lab_memory() -> MemoryConfig:
    return MemoryConfig(accesses_per_request=1_000_000, compute_time="10 ms", memory_limit="8 GiB")


class RestartParams(SectionConfig):
    """Parameters of `restart_host`."""

    downtime: Duration = Field(
        "30 s", description="Time the host takes no work after the restart (process start-up)."
    )


class Config(SectionConfig):
    """The memory-pressure lab: hosts per page size under a stepped load."""

    page_sizes: list[PageSize] = Field(
        default_factory=lambda: ["4 KiB", "2 MiB"],
        min_length=1,
        description="One host per page size, all fed the same arrivals.",
    )
    workers: int = Field(2, ge=1, description="Worker threads per host.")
    memory: MemoryConfig = Field(
        default_factory=_lab_memory,
        description="The hosts' memory system and per-request work (`page_size` is set per host "
        "from page_sizes). Lab defaults: 1,000,000 accesses and 10 ms of compute per request, "
        "8 GiB resident.",
    )
    base_working_set: Size = Field(
        "2 MiB", description="Working set of an idle host (code, indexes, connection state)."
    )
    bytes_per_item: Size = Field(
        "1 MiB", description="State the host keeps for each item it holds (waiting or in service)."
    )
    load: LoadSteps = Field(
        default_factory=lambda: steps(
            ("0 s", "40/s"), ("10 min", "60/s"), ("20 min", "80/s"), ("30 min", "100/s")
        ),
        description="Arrival rate over time (Poisson), as steps of {at, rate}.",
    )
    admission: AdmissionConfig = Field(
        default_factory=AdmissionConfig,
        description="The host's work queue: discipline, max_waiting (admission by queue size "
        "bounds the working set), deadlines.",
    )
    trace_interval: Duration = Field(
        "1 s",
        gt=0,
        description="Interval at which each host's working set is sampled into its `working_set` "
        "level (for plots); phases, statistics and milestones are exact.",
    )
    collapse_factor: float = Field(
        10.0,
        gt=1.0,
        description="A host has collapsed when one request's service time exceeds this multiple "
        "of its service time when idle (milestone service_collapse_<page>).",
    )

    @field_validator("page_sizes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"page sizes must be unique, got {value}")
        return value


class MemoryHost(Component):
    """One host: a worker pool whose service time is the memory model's at its working set.

    Records `memory_phase` (0 within TLB reach, 1 past it, 2 swapping) exactly, and
    `working_set` sampled every `trace_interval` (a light trace for plots; the queue's own
    `waiting` level has every change). A request whose service time exceeds collapse_factor
    x the idle service time logs a `service_collapse` event (once, re-armed by a restart).
    """

    def __init__(self, parent: Component, page_size: str, config: Config) -> None:
        slug = SLUGS[page_size]
        super().__init__(parent, "host", slug)
        self.slug = slug
        self.page_size = page_size
        self.model = MemoryModel(config.memory.model_copy(update={"page_size": page_size}))
        self.cost = MemoryServiceTime(self.model, config.base_working_set, config.bytes_per_item)
        self.reach = self.model.tlb_reach()
        self.limit = config.memory.memory_limit
        self.workers = config.workers
        base = config.base_working_set
        self.idle_service = self.model.service_time(base)
        self._collapse_limit = config.collapse_factor * self.idle_service
        self._collapsed = False
        self._held_cost = state_dependent(self.cost)
        self.pool = WorkerPool(self, "pool", config.workers, self._service, config.admission)
        self.queue = self.pool.queue
        self._phase_now = self.phase(base)
        self._phase = self.level("memory_phase", "phase", initial=self._phase_now)
        self._ws = self.level("working_set", "bytes", initial=base)
        self.peak_working_set = base
        self.started = [0, 0, 0]
        self.service_sum = [0.0, 0.0, 0.0]
        self.completed = [0, 0, 0]
        self.restarts = 0

    def phase(self, working_set: int) -> int:
        """0 within TLB reach, 1 past it, 2 past resident memory (swapping)."""
        if working_set <= self.reach:
            return 0
        return 1 if working_set <= self.limit else 2

    def _service(self, server: ServerView, payload: Any, rng: random.Random) -> float:
        """The memory model's service time at the work held now, accounted to the phase."""
        s = self._held_cost(server, payload, rng)
        p = self._phase_now
        self.started[p] += 1
        self.service_sum[p] += s
        if s > self._collapse_limit and not self._collapsed:
            self._collapsed = True
            self.event("service_collapse", f"service={s:.3f}s held={self.queue.in_flight}")
        return s

    def _update(self) -> None:
        ws = self.cost.working_set(self.queue.in_flight)
        p = self.phase(ws)
        if p != self._phase_now:
            self._phase_now = p
            self._phase.set(p)
        if ws > self.peak_working_set:
            self.peak_working_set = ws

    def sample(self) -> None:
        """Record the working set now (the lab samples it every `trace_interval`)."""
        self._ws.set(self.cost.working_set(self.queue.in_flight))

    def arrive(self) -> None:
        self.queue.submit(None, callback=self._settled)
        self._update()

    def _settled(self, item: WorkItem) -> None:
        self._update()
        if item.outcome in SERVED:
            self.completed[self._phase_now] += 1

    def restart(self, params: RestartParams) -> None:
        """Drop all held work (the working set falls to its base); down for `downtime`.

        The restarted process first-touches its base working set again (zero-fill faults).
        """
        self.restarts += 1
        down = params.downtime + self.model.first_touch_cost(self.cost.base, "first_write")
        dropped = self.pool.restart(down)
        self._collapsed = False
        self.event("restart", f"dropped={dropped} downtime={down:.3f}s")

    def actions(self) -> list[Action]:
        return [
            Action(
                "restart_host",
                self.restart,
                RestartParams,
                "Restart the host: its queue and working set are emptied; no work for downtime.",
            )
        ]

    # -- after the run ---------------------------------------------------------------------
    def entered(self, results: Results, phase: int) -> float | None:
        """First time the host's working set entered `phase` (or a later one)."""
        return results.first_level_time(self.scope, "memory_phase", lambda v: v >= phase)

    def collapse_time(self, results: Results) -> float | None:
        t = results.first_event("service_collapse", self.scope)
        return t if t is not None and t <= results.end else None

    def figures(self, results: Results) -> dict[str, Any]:
        end = results.end
        phase_level = results.level(self.scope, "memory_phase")
        counts = self.queue.counts()
        phases: dict[str, Any] = {}
        for p, name in enumerate(PHASES):
            time = phase_level.duration_where(lambda v, p=p: v == p, end)
            n = self.completed[p]
            started = self.started[p]
            mean = self.service_sum[p] / started if started else None
            phases[name] = {
                "time_s": round(time, 1),
                "started": started,
                "completed": n,
                "throughput_per_s": round(n / time, 2) if time > 0 else None,
                "service_ms": round(mean * 1e3, 3) if mean is not None else None,
                "capacity_per_s": round(self.workers / mean, 2) if mean else None,
                "slowdown": round(mean / self.idle_service, 3) if mean is not None else None,
            }
        peak = self.peak_working_set
        tlb, swap = self.entered(results, 1), self.entered(results, 2)
        return {
            "page_size": self.page_size,
            "tlb_reach_mib": round(self.reach / MIB, 1),
            "memory_limit_gib": round(self.limit / GIB, 2),
            "idle_service_ms": round(self.idle_service * 1e3, 3),
            "model_service_ms": {
                "at_tlb_reach": round(self.model.service_time(self.reach) * 1e3, 3),
                "at_memory_limit": round(self.model.service_time(self.limit) * 1e3, 3),
                "at_1_25x_memory": round(self.model.service_time(int(self.limit * 1.25)) * 1e3, 1),
            },
            "arrivals": counts["arrivals"],
            "completed": counts["completed"],
            "rejected": counts["rejected"],
            "cleared": counts["cleared"],
            "held_at_end": counts["waiting"] + counts["in_service"],
            "peak_working_set_mib": round(peak / MIB, 1),
            "tlb_reach_exceeded_s": None if tlb is None else round(tlb, 1),
            "swapping_starts_s": None if swap is None else round(swap, 1),
            "phases": phases,
        }


class MemoryPressureLab(Component):
    """The lab: one host per page size, one shared arrival process."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "memory_pressure")
        self.config = config
        self.hosts = [MemoryHost(self, page, config) for page in config.page_sizes]
        self.profile = LoadProfile(config.load)
        self.arrivals = 0
        self.env.process(self._trace())
        PoissonArrivals(self.env, self.profile, self.env.rng(self.scope, "arrivals"), self._arrive)

    def _trace(self) -> Generator[simpy.Event, Any, None]:
        interval = self.config.trace_interval
        while True:
            yield self.env.timeout(interval)
            for host in self.hosts:
                host.sample()

    def _arrive(self) -> None:
        self.arrivals += 1
        for host in self.hosts:
            host.arrive()

    def detectors(self) -> dict[str, Detector]:
        found: dict[str, Detector] = {}
        for h in self.hosts:
            found[f"tlb_reach_exceeded_{h.slug}"] = lambda r, h=h: h.entered(r, 1)
            found[f"swapping_starts_{h.slug}"] = lambda r, h=h: h.entered(r, 2)
            found[f"service_collapse_{h.slug}"] = h.collapse_time
        return found

    def plots(self) -> list[Plot]:
        gib = 1 / 2**30
        return [
            Plot(
                key="memory-pressure-working-set",
                title="Working set and memory phase per page size",
                series=tuple(
                    Series(h.scope, "working_set", f"working set, {h.page_size} pages", scale=gib)
                    for h in self.hosts
                )
                + tuple(
                    Series(h.scope, "memory_phase", f"phase, {h.page_size} pages", axis="right")
                    for h in self.hosts
                ),
                ylabel="GiB",
                y2label="memory phase",
                caption="Memory phase (right): 0 within the TLB reach, 1 past it, 2 swapping.",
                order=20,
            ),
            Plot(
                key="memory-pressure-queue",
                title="Requests waiting per host",
                series=tuple(
                    Series(h.pool.scope, "waiting", f"{h.page_size} pages") for h in self.hosts
                ),
                ylabel="requests",
                caption="Past the TLB reach each request holds a worker longer; the queue grows "
                "where service slows.",
                order=21,
            ),
        ]

    def statistics(self, results: Results) -> dict[str, Any]:
        stats: dict[str, Any] = {"arrivals": self.arrivals}
        for h in self.hosts:
            stats[h.slug] = h.figures(results)
        return stats


def build(parent: Component, config: Config) -> MemoryPressureLab:
    """Build the lab under `parent` (the scenario root) and start its arrivals."""
    return MemoryPressureLab(parent, config)
