"""DropletWorkflow Manager: leases on droplets, renewed by state checks that read DynamoDB.

Assembled from primitives, nothing re-implemented:

- each DWFM host is a `servers.WorkerPool` (workers on one `WorkQueue`: discipline, admission by
  waiting-queue size, per-item deadlines, wasted-work accounting);
- its service time comes from `memory.MemoryServiceTime`: the working set is the host's base
  plus `state_per_droplet` for every droplet whose work it holds, so past the TLB's reach every
  item slows and past the host's memory it swaps (major faults);
- leases live in one `resilience.lease.LeaseTable` (one lease per batch, see `fleet`);
- every lease operation retries with a `resilience.retry` back-off; the establishment throttle is
  a `resilience.throttle.TokenBucket`;
- DynamoDB is found through a `dns.CachingResolver` per host (from the dynamodb_dns subsystem),
  so positive and negative caching (RFC 2308) decide when checks fail and when they recover.

A leased batch is state-checked every `state_check_interval`: a work item on its host whose
service resolves the DynamoDB endpoint and, if it resolves, costs one state check per droplet at
the host's current memory cost. Success renews the lease. If the name does not resolve the attempt
fails at once and is retried; a check whose attempts are exhausted leaves the lease to expire at
its deadline. A batch whose lease expired is re-established: an attempt costs `establish_work`
state checks per droplet and carries the attempt timeout as its deadline. The requester gives up
at the deadline and queues a new attempt after its back-off; the host, which does not know, still
serves the abandoned one (wasted work). Nothing here decides a collapse: when DynamoDB returns,
every batch without a lease asks at once, the FIFO wait passes the deadline, every attempt is
served too late, the queue and so the working set grow, service slows further, and goodput stays
near zero after the trigger is gone. Restarts (queue and memory cleared) plus a throttle on
establishment attempts, or admission by waiting-queue size, are the ways out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any, Literal

import simpy
from pydantic import Field, field_validator, model_validator

from simulation.core.component import Action, Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.env import Call
from simulation.core.results import Results
from simulation.core.units import Duration, Rate
from simulation.primitives.dns import CachingResolver, name
from simulation.primitives.memory import GIB, MemoryModel, MemoryServiceTime
from simulation.primitives.resilience.admission import (
    CLEARED,
    COMPLETED,
    REJECTED,
    WorkItem,
)
from simulation.primitives.resilience.lease import LeaseTable
from simulation.primitives.resilience.retry import RetryConfig
from simulation.primitives.resilience.throttle import ShapedIntake, TokenBucket

from .config import Config
from .detectors import first_return, sustained
from .fleet import Batch, Fleet
from .hosts import Attempt, DeadlineWatch, DwfmHost, LeaseOp

CHECK = "check"
ESTABLISH = "establish"


class ThrottleParams(SectionConfig):
    """Parameters of `dwfm_throttle`."""

    rate: Rate | None = Field(
        description="Re-establishment attempts admitted per second across DWFM; null lifts "
        "the throttle."
    )
    burst: float = Field(1.0, ge=0.0, description="Attempts admitted at once after a lull.")
    mode: Literal["reject", "queue"] = Field(
        "reject",
        description="'reject': an attempt over the rate is refused at once and backs off (a "
        "token bucket). 'queue': incoming work waits in one FIFO intake released at the rate "
        "(a shaper, `resilience.throttle.ShapedIntake`); an establishment attempt's deadline "
        "starts when it leaves the intake.",
    )
    state_changes: bool = Field(
        False,
        description="With mode 'queue': launches' state changes enter the same intake, behind "
        "the lease work already waiting; a launch call still has its own deadline from the "
        "call, so it fails while the intake is longer than that.",
    )

    @model_validator(mode="after")
    def _queue_only(self) -> ThrottleParams:
        if self.state_changes and self.mode != "queue":
            raise ValueError("state_changes: true needs mode: queue")
        return self


class RestartParams(SectionConfig):
    """Parameters of `dwfm_restart_hosts`."""

    hosts: Literal["all"] | list[int] | float = Field(
        "all",
        description="Which hosts: 'all', a list of host indices, or a fraction (0..1] of the "
        "hosts, those holding the most work first.",
    )
    stagger: Duration = Field(0.0, ge=0, description="Time between two host restarts.")
    downtime: Duration | None = Field(
        None, description="Time a host takes no work; null = dwfm.restart_downtime."
    )

    @field_validator("hosts")
    @classmethod
    def _fraction(cls, value: Any) -> Any:
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            raise ValueError(f"a fraction of hosts must be in (0, 1], got {value:g}")
        return value


class AdmissionParams(SectionConfig):
    """Parameters of `dwfm_admission`."""

    max_waiting: int | Literal["auto", "unlimited"] = Field(
        "auto",
        description="Per host: an attempt arriving while this many wait is rejected at once "
        "(it backs off and retries). 'auto': the most that lets every admitted establishment "
        "finish by its deadline even when all workers just started one (a multiple of "
        "workers, 0 if two establishments do not fit in the timeout); 'unlimited' removes it.",
    )

    @field_validator("max_waiting")
    @classmethod
    def _non_negative(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"expected a non-negative integer, got {value}")
        return value


class Dwfm(Component):
    """DWFM: hosts, the lease table, lease operations and their accounting."""

    def __init__(
        self,
        parent: Component,
        config: Config,
        fleet: Fleet,
        resolver: Callable[[], CachingResolver],
        on_leased: Callable[[Batch], None],
    ) -> None:
        super().__init__(parent, "dwfm")
        d = config.dwfm
        self.config = d
        self.fleet = fleet
        self.on_leased = on_leased
        self.qname = name(config.dynamodb_endpoint)
        self.model = MemoryModel(d.memory)
        self.cost = MemoryServiceTime(
            self.model, d.base_working_set, config.fleet.batch_size * d.state_per_droplet
        )
        self.hosts = [DwfmHost(self, i, d, resolver()) for i in range(d.hosts)]
        self.retries: dict[str, RetryConfig] = {CHECK: d.check_retry, ESTABLISH: d.establish_retry}
        self.timeouts_s: dict[str, float] = {
            CHECK: d.check_retry.attempt_timeout,  # type: ignore[dict-item]
            ESTABLISH: d.establish_retry.attempt_timeout,  # type: ignore[dict-item]
        }
        self.watches = {k: DeadlineWatch(self.env, self._timed_out) for k in (CHECK, ESTABLISH)}
        self.throttle: TokenBucket | None = None
        if d.throttle is not None:
            self.throttle = d.throttle.build(self.env)
        self.intake: ShapedIntake | None = None
        """The queueing throttle (`dwfm_throttle` mode 'queue'); None: not set."""
        self.intake_state_changes = False
        self.leases = LeaseTable(
            self.env, d.lease.duration, resolution=d.lease.resolution, on_expire=self._expired
        )
        self.counts: dict[str, dict[str, int]] = {
            kind: dict.fromkeys(
                (
                    "attempts",
                    "ok",
                    "dns_failed",
                    "timeouts",
                    "rejected",
                    "cleared",
                    "throttled",
                    "exhausted",
                ),
                0,
            )
            for kind in (CHECK, ESTABLISH)
        }
        self.total = fleet.droplets
        self._leased = self.level("leased", "droplets")
        self._lost = self.level("lost", "droplets")
        self._failing_n = 0
        self._failing = self.level("checks_failing", "batches", initial=0)
        self._goodput = self.level("goodput", "droplets/s")
        self._timeouts = self.level("timeouts", "1/s")
        self._share = self.level("timeout_share", "ratio")
        self._depth = self.level("queue_depth", "items")
        self._ws = self.level("working_set_max", "bytes")
        self._swapping = self.level("hosts_swapping", "hosts")
        self._intake_waiting = self.level("intake_waiting", "items")
        self._win_good = 0
        self._win_ok = 0
        self._win_timeouts = 0
        self.interval = d.state_check_interval
        rng = self.rng
        for batch in fleet.batches:  # every droplet starts leased, checks spread over a period
            self.leases.grant(batch.index, batch.host)
            fleet.set_leased(batch, True)
            self._schedule_check(batch, rng.random() * self.interval)
        self._record_leases()
        self.env.process(self._sample())

    # -- lease operations ----------------------------------------------------------------------
    def _schedule_check(self, batch: Batch, delay: float) -> None:
        self.env.call_in(delay, self._check_due, (batch, batch.check_gen))

    def _check_due(self, call: Call) -> None:
        batch, gen = call.value
        if gen == batch.check_gen and batch.leased and batch.op is None:
            self._start(batch, CHECK)

    def _start(self, batch: Batch, kind: str) -> None:
        op = LeaseOp(batch, kind, self.retries[kind].backoff(), self.env.now)
        batch.op = op
        self._attempt(op)

    def _attempt(self, op: LeaseOp) -> None:
        batch = op.batch
        if batch.op is not op:
            return  # abandoned (the lease expired during a check)
        counts = self.counts[op.kind]
        counts["attempts"] += 1
        if op.kind is ESTABLISH:
            throttle = self.throttle
            if throttle is not None and not throttle.try_take():
                counts["throttled"] += 1
                self._retry(op)
                return
            intake = self._shaping()
            if intake is not None:
                intake.submit(op)  # waits its turn; _dispatch when released
                return
        self._dispatch(op)

    def _dispatch(self, op: LeaseOp) -> None:
        batch = op.batch
        if op.kind is ESTABLISH:
            units = batch.droplets * self.config.establish_work
        else:
            units = float(batch.droplets)
        now = self.env.now
        item = WorkItem(Attempt(op, units), now, now + self.timeouts_s[op.kind], self._settled)
        op.item = item
        self.hosts[batch.host].queue.put(item)
        if item.outcome is None:
            self.watches[op.kind].add(op, item)

    def _settled(self, item: WorkItem) -> None:
        attempt: Attempt = item.payload
        op = attempt.op
        if op.item is not item:
            return  # its requester gave up at the deadline: served (or dropped) for nobody
        op.item = None
        if op.batch.op is not op:
            return
        counts = self.counts[op.kind]
        outcome = item.outcome
        if outcome is COMPLETED:
            if attempt.ok:
                self._succeeded(op)
                return
            counts["dns_failed"] += 1
        elif outcome is REJECTED:
            counts["rejected"] += 1
        elif outcome is CLEARED:
            counts["cleared"] += 1
        else:  # served or dropped past its deadline, at the deadline's instant
            counts["timeouts"] += 1
            self._win_timeouts += 1
        self._retry(op)

    def _timed_out(self, op: LeaseOp, item: WorkItem) -> None:
        if op.item is not item:
            return
        op.item = None
        if op.batch.op is not op:
            return
        self.counts[op.kind]["timeouts"] += 1
        self._win_timeouts += 1
        self._retry(op)

    def _retry(self, op: LeaseOp) -> None:
        delay = op.backoff.next_delay(self.rng)
        if delay is not None:
            self.env.call_in(delay, self._attempt_due, op)
            return
        batch = op.batch
        self.counts[op.kind]["exhausted"] += 1
        batch.op = None
        if op.kind is CHECK:
            self._set_failing(batch, True)
            self._schedule_check(batch, max(op.started + self.interval - self.env.now, 0.0))
        else:  # DWFM never gives a droplet up: a new operation after the longest back-off
            cap = self.retries[ESTABLISH].cap
            self.env.call_in(cap, self._restart_op, batch)

    def _attempt_due(self, call: Call) -> None:
        self._attempt(call.value)

    def _restart_op(self, call: Call) -> None:
        batch: Batch = call.value
        if batch.op is None and not batch.leased:
            self._start(batch, ESTABLISH)

    def _succeeded(self, op: LeaseOp) -> None:
        batch = op.batch
        batch.op = None
        self.counts[op.kind]["ok"] += 1
        self._win_ok += 1
        self._win_good += batch.droplets
        if op.kind is CHECK:
            if not self.leases.renew(batch.index, batch.host):
                self._start(batch, ESTABLISH)  # expired at this very instant
                return
            self._set_failing(batch, False)
            delay = max(op.started + self.interval - self.env.now, 0.0)
        else:
            self.leases.grant(batch.index, batch.host)
            self.fleet.set_leased(batch, True)
            self._record_leases()
            self.on_leased(batch)
            delay = self.interval
        batch.check_gen += 1
        self._schedule_check(batch, delay)

    def _expired(self, key: Any, _holder: Any) -> None:
        batch = self.fleet.batches[key]
        self.fleet.set_leased(batch, False)
        self._record_leases()
        self._set_failing(batch, False)
        batch.op = None  # a check in flight is abandoned
        self._start(batch, ESTABLISH)

    def state_change(self, batch: Batch, item: WorkItem) -> None:
        """A state change on a droplet of `batch` (a launch): served by the batch's host like
        lease work (same queue, deadline, memory cost); the item's callback tells its fate."""
        intake = self._shaping() if self.intake_state_changes else None
        if intake is not None:
            intake.submit(item)
            return
        self.hosts[batch.host].queue.put(item)

    def _shaping(self) -> ShapedIntake | None:
        """The queued intake while it shapes (a rate, or work still waiting), else None."""
        intake = self.intake
        if intake is not None and (intake.bucket is not None or intake.queue):
            return intake
        return None

    def _intake_release(self, payload: Any) -> None:
        if isinstance(payload, WorkItem):  # a launch's state change
            self.hosts[payload.payload.batch.host].queue.put(payload)
        else:
            self._dispatch(payload)

    def _intake_stale(self, payload: Any) -> bool:
        if isinstance(payload, WorkItem):  # its caller's deadline passed: it gave up
            return self.env.now >= payload.deadline
        return payload.batch.op is not payload

    def _set_failing(self, batch: Batch, failing: bool) -> None:
        if batch.failing != failing:
            batch.failing = failing
            self._failing_n += 1 if failing else -1
            self._failing.set(self._failing_n)

    def _record_leases(self) -> None:
        leased = self.fleet.leased_droplets
        self._leased.set(leased)
        self._lost.set(self.total - leased)

    # -- measurement -------------------------------------------------------------------------
    def _sample(self) -> Generator[simpy.Event, Any, None]:
        window = self.config.window
        limit = self.config.memory.memory_limit
        while True:
            yield self.env.timeout(window)
            ok, timeouts = self._win_ok, self._win_timeouts
            self._goodput.set(self._win_good / window)
            self._timeouts.set(timeouts / window)
            if ok + timeouts:
                self._share.set(timeouts / (ok + timeouts))
            self._win_good = self._win_ok = self._win_timeouts = 0
            self._depth.set(sum(h.queue.in_flight for h in self.hosts))
            sets = [h.working_set() for h in self.hosts]
            self._ws.set(max(sets))
            self._swapping.set(sum(1 for w in sets if w > limit))
            if self.intake is not None:
                self._intake_waiting.set(self.intake.waiting)

    # -- operator actions --------------------------------------------------------------------
    def set_throttle(self, params: ThrottleParams) -> None:
        if params.mode == "queue":
            self.throttle = None
            self.intake_state_changes = params.state_changes
            if self.intake is None:
                bucket = (
                    None
                    if params.rate is None
                    else TokenBucket(self.env, params.rate, params.burst, 0.0)
                )
                self.intake = ShapedIntake(
                    self.env, bucket, self._intake_release, self._intake_stale
                )
            else:
                self.intake.set_rate(params.rate, params.burst)
            rate = "none" if params.rate is None else f"{params.rate:g}/s"
            what = "lease work and launches" if params.state_changes else "lease work"
            self.event("dwfm_throttle", f"incoming {what} queued, released at {rate}")
            return
        if self.intake is not None:
            self.intake.set_rate(None)
        if params.rate is None:
            self.throttle = None
        elif self.throttle is None:
            self.throttle = TokenBucket(self.env, params.rate, params.burst)
        else:
            self.throttle.set_rate(params.rate, params.burst)
        rate = "none" if params.rate is None else f"{params.rate:g}/s"
        self.event("dwfm_throttle", f"establishment attempts limited to {rate}")

    def scale_intake(self, factor: float | None) -> None:
        """Multiply the queued intake's rate by `factor`, or lift it (None); no intake: nothing."""
        intake = self.intake
        if intake is None or intake.bucket is None:
            return
        if factor is None:
            intake.set_rate(None)
            self.event("dwfm_throttle", "intake lifted")
            return
        rate = intake.bucket.rate * factor
        intake.set_rate(rate)
        self.event("dwfm_throttle", f"intake released at {rate:g}/s")

    def admission_limit(self) -> int:
        """The largest waiting queue that lets every admitted establishment finish by its
        deadline even in the worst case (all workers just started one): an item at waiting
        position k starts within (k // workers + 1) service times and must end before the
        timeout, with the service time at the working set of that full queue."""
        c, timeout = self.config.workers, self.config.establish_retry.attempt_timeout or 0.0
        per_item = self.fleet.batches[0].droplets * self.config.establish_work

        def fits(limit: int) -> bool:
            work = self.cost(c + limit) * per_item
            rounds = -(-limit // c)  # the last admitted waits this many rounds
            return (rounds + 1) * work < timeout

        limit = 0
        while fits(limit + c):
            limit += c
        return limit

    def set_admission(self, params: AdmissionParams) -> None:
        limit = params.max_waiting
        value = (
            None if limit == "unlimited" else self.admission_limit() if limit == "auto" else limit
        )
        for host in self.hosts:
            host.queue.max_waiting = value  # type: ignore[assignment]
        self.event("dwfm_admission", f"max_waiting={value} per host")

    def select_hosts(self, which: str | list[int] | float) -> list[DwfmHost]:
        if which == "all":
            return list(self.hosts)
        if isinstance(which, list):
            return [self.hosts[i] for i in which]
        k = max(1, round(float(which) * len(self.hosts)))
        return sorted(self.hosts, key=lambda h: (-h.queue.in_flight, h.index))[:k]

    def restart_hosts(self, params: RestartParams) -> None:
        down = self.config.restart_downtime if params.downtime is None else params.downtime
        chosen = self.select_hosts(params.hosts)
        self.event("dwfm_restart_hosts", f"hosts={[h.index for h in chosen]}")
        for j, host in enumerate(chosen):
            delay = j * params.stagger
            if delay <= 0.0:
                host.restart(down)
            else:
                self.env.timeout(delay).callbacks.append(lambda _e, h=host: h.restart(down))

    def _check_restart(self, params: RestartParams) -> str | None:
        if isinstance(params.hosts, list):
            bad = [i for i in params.hosts if not 0 <= i < len(self.hosts)]
            if bad:
                return f"hosts: no DWFM host {bad[0]} (hosts are 0..{len(self.hosts) - 1})"
        return None

    def actions(self) -> list[Action]:
        return [
            Action(
                "dwfm_throttle",
                self.set_throttle,
                ThrottleParams,
                "Limit lease re-establishment attempts entering DWFM (token bucket); rejected "
                "attempts back off and retry.",
            ),
            Action(
                "dwfm_restart_hosts",
                self.restart_hosts,
                RestartParams,
                "Restart DWFM hosts (all, a list, or the most loaded fraction), optionally "
                "staggered: queue and working set cleared, down for the downtime.",
                check=self._check_restart,
            ),
            Action(
                "dwfm_admission",
                self.set_admission,
                AdmissionParams,
                "Admission by waiting-queue size on every DWFM host (the fix).",
            ),
        ]

    # -- after the run -------------------------------------------------------------------------
    def detectors(self) -> dict[str, Detector]:
        d, scope, total = self.config, self.scope, self.total
        need = max(1, math.ceil(d.checks_failing_share * len(self.fleet.batches)))

        def failing(results: Results) -> float | None:
            return results.first_level_time(scope, "checks_failing", lambda v: v >= need)

        def collapse(results: Results) -> float | None:
            lvl = results.level(scope, "timeout_share")
            share = d.collapse_timeout_share
            return sustained(lvl, lambda v: v >= share, d.collapse_sustain, results.end)

        def restored(results: Results) -> float | None:
            lvl = results.level(scope, "leased")
            return first_return(lvl, lambda v: v >= total, results.end)

        return {
            "dwfm_state_checks_failing": failing,
            "dwfm_congestive_collapse": collapse,
            "dwfm_leases_all_restored": restored,
        }

    def idle_costs(self) -> dict[str, float]:
        """Seconds of one batch's check and establishment on an idle host (one item held)."""
        per = self.cost(1)
        size = self.fleet.batches[0].droplets
        return {"check_s": per * size, "establish_s": per * size * self.config.establish_work}

    def collapse_ratio(self) -> float:
        """Establishment demand over capacity per host once every lease is lost, idle memory
        cost: above 1 the flood after an outage outruns the host (see docs/ec2.md)."""
        retry = self.config.establish_retry
        interval = (retry.attempt_timeout or 0.0) + retry.cap / 2.0
        batches = len(self.fleet.batches) / len(self.hosts)
        capacity = self.config.workers / self.idle_costs()["establish_s"]
        return (batches / interval) / capacity

    def statistics(self, results: Results) -> dict[str, Any]:
        end = results.end
        if end <= 0.0:
            return {}
        lost = self._lost
        queues = [h.queue for h in self.hosts]
        depth = results.level(self.scope, "queue_depth")
        ws = results.level(self.scope, "working_set_max")
        swapping = results.level(self.scope, "hosts_swapping")
        costs = self.idle_costs()
        return {
            "droplets": self.total,
            "batches": len(self.fleet.batches),
            "hosts": len(self.hosts),
            "idle_check_batch_s": round(costs["check_s"], 3),
            "idle_establish_batch_s": round(costs["establish_s"], 3),
            "collapse_ratio": round(self.collapse_ratio(), 3),
            "leased_at_end": self.fleet.leased_droplets,
            "lost_peak": int(max(lost.values, default=0)),
            "lease_lost_droplet_hours": round(lost.time_weighted_mean(0.0, end) * end / 3600, 1),
            "state_checks": dict(self.counts[CHECK]),
            "establishment": dict(self.counts[ESTABLISH]),
            "items_served": sum(q.completed for q in queues),
            "items_wasted": sum(q.wasted for q in queues),
            "items_cleared": sum(q.cleared for q in queues),
            "queue_peak": int(max(depth.values, default=0)) if depth else 0,
            "working_set_peak_gib": round(max(ws.values, default=0) / GIB, 2) if ws else 0.0,
            "host_swapping_minutes": round(swapping.time_weighted_mean(0.0, end) * end / 60, 1)
            if swapping
            else 0.0,
            "restarts": sum(h.restarts for h in self.hosts),
            "intake": None
            if self.intake is None
            else {
                "submitted": self.intake.submitted,
                "released": self.intake.released,
                "skipped_stale": self.intake.skipped,
            },
        }
