"""The launch API: customers' RunInstances calls, throttles, placement, lifetimes.

Requests arrive per a piecewise Poisson load profile (`primitives.load`). Each call is checked
against the request throttle (a `resilience.throttle.TokenBucket`; a rejection is "request limit
exceeded"), then placed on a uniformly chosen leased droplet batch with a free slot; if there is
none the call fails with "insufficient capacity" (a droplet without a DWFM lease takes no
launch). A placed launch is a state change on its droplet, which DWFM performs: a work item of
`state_change_work` droplet state checks on the droplet's DWFM host (the same worker pool and
queue as the lease work, so it waits behind it), with `state_change_timeout` as its deadline.
The call succeeds when that work completes in time; it fails as "state_change_timeout" when
the deadline passes first (the host still serves it: wasted work) and as
"state_change_failed" when DWFM cannot do it (DynamoDB unresolvable, rejected by admission,
dropped by a restart). A failed call is retried by the customer with the `resilience.retry`
back-off of `retry`, until its attempts run out. Nothing marks DWFM as down: while it is
collapsed the work waits past its deadline; after the restarts it goes through.

A placed instance is published on the EC2 component's `InstanceFeed` (`launched`), its network
configuration is handed to Network Manager (held while its droplet has no lease), and it is
terminated after an exponential lifetime (`terminated`, plus Network Manager clean-up work).

An Auto Scaling group's replacement, asked on the feed (`replace`), terminates the instance at
once and makes a launch request for the group like a customer's, retried until it succeeds.

Per `window`: successful calls and failed calls by reason per second, the success share (of the
calls that ended in the window), and
the launch latency (it includes the state change): mean time from a request's first call to its
instance being network ready (when none became ready but some wait, the age of the oldest
waiting). A window is `normal` when
the success share and the latency are within `normal_success` and `normal_latency`;
`ec2_launches_normal` is the start of the first `normal_sustain` of normal windows after one
that was not.

Operator actions: `ec2_throttle_launches` (set or lift the throttle) and `ec2_relax_throttles`
(a policy, not a schedule: every `interval`, if calls failing for other reasons than the throttle
stay under `max_error_rate`, multiply the rate by `factor`; remove the throttle once it rejects
under `idle_share` of calls).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import simpy
from pydantic import Field

from simulation.core.component import Action, Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.core.timers import TimerHeap
from simulation.core.units import Duration, Rate
from simulation.primitives.load import LoadProfile, PoissonArrivals
from simulation.primitives.resilience.admission import COMPLETED, LATE, WorkItem
from simulation.primitives.resilience.retry import Backoff
from simulation.primitives.resilience.throttle import TokenBucket
from simulation.subsystems.instances import Instance, InstanceFeed

from .config import LaunchesConfig
from .detectors import sustained
from .fleet import Batch, Fleet
from .hosts import DeadlineWatch

OK = "ok"
THROTTLED = "request_limit_exceeded"
NO_CAPACITY = "insufficient_capacity"
TIMEOUT = "state_change_timeout"
FAILED = "state_change_failed"
REASONS = (THROTTLED, NO_CAPACITY, TIMEOUT, FAILED)


class Placed:
    """A launched instance with where it runs and when its request was first made."""

    __slots__ = ("batch", "ending", "instance", "requested_at")

    def __init__(self, instance: Instance, batch: Batch, requested_at: float) -> None:
        self.instance = instance
        self.batch = batch
        self.requested_at = requested_at
        self.ending = False
        """Its termination has begun (lifetime over, or replaced)."""


class _Request:
    __slots__ = ("backoff", "first", "group", "item")

    def __init__(self, first: float, backoff: Backoff, group: object = None) -> None:
        self.first = first
        self.backoff = backoff
        self.group = group
        self.item: WorkItem | None = None
        """The state change the call is waiting for (None between calls)."""


class StateChange:
    """Payload of a launch's DWFM work item (served like a lease attempt: `units`, `ok`)."""

    __slots__ = ("batch", "ok", "request", "units")

    def __init__(self, request: _Request, batch: Batch, units: float) -> None:
        self.request = request
        self.batch = batch
        self.units = units
        self.ok = False


class ThrottleParams(SectionConfig):
    """Parameters of `ec2_throttle_launches`."""

    rate: Rate | None = Field(description="Launch calls admitted per second; null lifts it.")
    burst: float = Field(10.0, ge=0.0, description="Calls admitted at once after a lull.")


class RelaxParams(SectionConfig):
    """Parameters of `ec2_relax_throttles` (a policy that runs until the throttle is gone)."""

    factor: float = Field(1.5, gt=1.0, description="Multiply the rate by this at each step.")
    interval: Duration = Field("15 min", gt=0, description="Time between two steps.")
    max_error_rate: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Hold (no step) while more than this share of calls in the last interval "
        "failed for other reasons than the throttle.",
    )
    dwfm: bool = Field(
        True,
        description="Relax DWFM's queued intake (`dwfm_throttle` mode 'queue') with the launch "
        "throttle: the same factor at each step, lifted when the launch throttle is.",
    )
    idle_share: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Remove the throttle once it rejects less than this share of the calls of "
        "an interval.",
    )


class Launches(Component):
    """Launch requests, placement, instance lifetimes (see module docstring)."""

    def __init__(
        self,
        parent: Component,
        config: LaunchesConfig,
        fleet: Fleet,
        feed: InstanceFeed,
        propagate: Callable[[Placed, str], None],
        state_change: Callable[[Batch, WorkItem], None],
        scale_dwfm: Callable[[float | None], None] | None = None,
    ) -> None:
        super().__init__(parent, "launches")
        self.scale_dwfm = scale_dwfm
        self.config = config
        self.fleet = fleet
        self.feed = feed
        self.propagate = propagate
        self.state_change = state_change
        self._watch = DeadlineWatch(self.env, self._timed_out)
        self.profile = LoadProfile(config.load)
        self.throttle: TokenBucket | None = None
        if config.throttle is not None:
            self.throttle = config.throttle.build(self.env)
        self._life_rate = 1.0 / config.lifetime
        self._ends = TimerHeap(self.env, self._lifetime_over)
        """Lifetimes end from one heap, not one pending event per instance."""
        self._seq = 0
        self._next_id = 0
        self.counts = {
            "requests": 0,
            "calls": 0,
            OK: 0,
            THROTTLED: 0,
            NO_CAPACITY: 0,
            TIMEOUT: 0,
            FAILED: 0,
            "gave_up": 0,
            "terminated": 0,
            "terminations_held": 0,
            "initial": 0,
            "replacements": 0,
            "ready": 0,
        }
        self.ready_latency_sum = 0.0
        self._win = dict.fromkeys(("calls", OK, *REASONS, "ready"), 0)
        self._win_latency = 0.0
        self._unready: deque[Placed] = deque()
        self._placed: dict[Instance, Placed] = {}
        self._asg_retry = config.retry.model_copy(update={"max_attempts": None})
        self.error_rate = 0.0
        self._relax_gen = 0
        self._ok = self.level("ok", "1/s")
        self._throttled = self.level("throttled", "1/s")
        self._no_capacity = self.level("insufficient_capacity", "1/s")
        self._sc_timeout = self.level("state_change_timeout", "1/s")
        self._sc_failed = self.level("state_change_failed", "1/s")
        self._share = self.level("success_share", "ratio")
        self._latency = self.level("latency", "s")
        self._normal = self.level("normal", "bool")
        initial = config.initial_instances
        if initial is None:
            initial = round(self.profile.rate_at(0.0) * config.lifetime)
        self.env.timeout(0).callbacks.append(lambda _e: self._populate(initial))
        PoissonArrivals(self.env, self.profile, self.env.rng(self.scope, "arrivals"), self._arrive)
        self.env.process(self._sample())

    # -- instances ------------------------------------------------------------------------------
    def _new_instance(self, batch: Batch, requested_at: float, take: bool = True) -> Placed:
        self._next_id += 1
        inst = Instance(self._next_id, batch.az, self.env.now)
        if take:
            self.fleet.take_slot(batch)
        placed = Placed(inst, batch, requested_at)
        self._placed[inst] = placed
        life = self.rng.expovariate(self._life_rate)
        self._seq += 1
        self._ends.push(self.env.now + life, self._seq, placed)  # ties: placement order
        return placed

    def _populate(self, count: int) -> None:
        """The instances running at the start: placed, published and network ready at t=0."""
        for _ in range(count):
            batch = self.fleet.pick(self.rng)
            if batch is None:
                break
            placed = self._new_instance(batch, 0.0)
            placed.instance.preexisting = True
            self.counts["initial"] += 1
            self.feed.launched(placed.instance)
            self.feed.network_ready(placed.instance, 0.0)

    def _lifetime_over(self, placed: Placed) -> None:
        if not placed.ending:
            placed.ending = True
            self._terminate(placed)

    def replace(self, instance: Instance, group: object) -> bool:
        """An Auto Scaling group replaces `instance`: terminated now, and a launch request for
        `group` made (retried until it succeeds, as the group's desired capacity persists)."""
        placed = self._placed.get(instance)
        if placed is None or placed.ending:
            return False
        placed.ending = True
        self.counts["replacements"] += 1
        self._terminate(placed)
        self.counts["requests"] += 1
        self._call(_Request(self.env.now, self._asg_retry.backoff(), group))
        return True

    def _terminate(self, placed: Placed) -> None:
        if self.config.terminations_need_lease and not placed.batch.leased:
            placed.batch.terminations.append(placed)  # DWFM cannot make the change now
            self.counts["terminations_held"] += 1
            return
        self.counts["terminated"] += 1
        self._placed.pop(placed.instance, None)
        self.fleet.free_slot(placed.batch)
        self.feed.terminated(placed.instance, self.env.now)
        self.propagate(placed, "terminate")

    def release_terminations(self, batch: Batch) -> None:
        """The batch is leased again: the terminations held on it happen now."""
        if batch.terminations:
            held, batch.terminations = batch.terminations, []
            for placed in held:
                self._terminate(placed)

    def network_ready(self, placed: Placed) -> None:
        """Network Manager's configuration reached the instance (called by the EC2 component)."""
        now = self.env.now
        if placed.instance.running:
            self.feed.network_ready(placed.instance, now)
        latency = now - placed.requested_at
        self.counts["ready"] += 1
        self.ready_latency_sum += latency
        self._win["ready"] += 1
        self._win_latency += latency

    # -- requests ---------------------------------------------------------------------------
    def _arrive(self) -> None:
        self.counts["requests"] += 1
        self._call(_Request(self.env.now, self.config.retry.backoff()))

    def _call(self, request: _Request) -> None:
        counts, win = self.counts, self._win
        counts["calls"] += 1
        win["calls"] += 1
        throttle = self.throttle
        if throttle is not None and not throttle.try_take():
            self._failed(request, THROTTLED)
            return
        batch = self.fleet.pick(self.rng)
        if batch is None:
            self._failed(request, NO_CAPACITY)
            return
        self.fleet.take_slot(batch)  # reserved while DWFM performs the state change
        now = self.env.now
        item = WorkItem(
            StateChange(request, batch, self.config.state_change_work),
            now,
            now + self.config.state_change_timeout,
            self._state_changed,
        )
        request.item = item
        self.state_change(batch, item)
        if item.outcome is None:
            self._watch.add(request, item)

    def _state_changed(self, item: WorkItem) -> None:
        """DWFM settled a state change: the launch lands, or the call fails."""
        change: StateChange = item.payload
        request = change.request
        if request.item is not item:
            return  # the call gave up at the deadline: served (or dropped) for nobody
        request.item = None
        outcome = item.outcome
        if outcome is COMPLETED and change.ok:
            self.counts[OK] += 1
            self._win[OK] += 1
            placed = self._new_instance(change.batch, request.first, take=False)
            placed.instance.group = request.group
            self._unready.append(placed)
            self.feed.launched(placed.instance)
            self.propagate(placed, "launch")
            return
        self.fleet.free_slot(change.batch)
        self._failed(request, TIMEOUT if outcome is LATE else FAILED)

    def _timed_out(self, request: _Request, item: WorkItem) -> None:
        if request.item is not item:
            return
        request.item = None
        self.fleet.free_slot(item.payload.batch)
        self._failed(request, TIMEOUT)

    def _failed(self, request: _Request, reason: str) -> None:
        self.counts[reason] += 1
        self._win[reason] += 1
        delay = request.backoff.next_delay(self.rng)
        if delay is None:
            self.counts["gave_up"] += 1
            return
        self.env.call_in(delay, self._retry_due, request)  # where a timeout was scheduled

    def _retry_due(self, call: Any) -> None:
        self._call(call.value)

    # -- measurement -------------------------------------------------------------------------
    def _sample(self) -> Generator[simpy.Event, Any, None]:
        c = self.config
        window = c.window
        unready = self._unready
        while True:
            yield self.env.timeout(window)
            win = self._win
            self._ok.set(win[OK] / window)
            self._throttled.set(win[THROTTLED] / window)
            self._no_capacity.set(win[NO_CAPACITY] / window)
            self._sc_timeout.set(win[TIMEOUT] / window)
            self._sc_failed.set(win[FAILED] / window)
            while unready and (
                unready[0].instance.network_ready or not unready[0].instance.running
            ):
                unready.popleft()
            if win["ready"]:
                self._latency.set(self._win_latency / win["ready"])
            elif unready:
                self._latency.set(self.env.now - unready[0].requested_at)
            settled = win[OK] + sum(win[r] for r in REASONS)  # calls that ended this window
            if settled:
                share = win[OK] / settled
                self.error_rate = 1.0 - share
                self._share.set(share)
                latency = self._latency.current if self._latency.values else 0.0
                normal = share >= c.normal_success and latency <= c.normal_latency
                self._normal.set(1.0 if normal else 0.0)
            self._win = dict.fromkeys(win, 0)
            self._win_latency = 0.0

    # -- operator actions --------------------------------------------------------------------
    def set_throttle(self, params: ThrottleParams) -> None:
        self._relax_gen += 1  # a new throttle ends any relaxation in progress
        self._apply_rate(params.rate, params.burst)

    def _apply_rate(self, rate: float | None, burst: float | None = None) -> None:
        if rate is None:
            self.throttle = None
        elif self.throttle is None:
            self.throttle = TokenBucket(self.env, rate, 10.0 if burst is None else burst)
        else:
            self.throttle.set_rate(rate, burst)
        shown = "none" if rate is None else f"{rate:g}/s"
        self.event("launch_throttle", f"launch calls limited to {shown}")

    def relax(self, params: RelaxParams) -> None:
        self._relax_gen += 1
        self.event(
            "launch_throttle_relaxing",
            f"x{params.factor:g} every {params.interval:g}s while errors <= "
            f"{params.max_error_rate:g}",
        )
        self.env.process(self._relax(params, self._relax_gen))

    def _relax(self, p: RelaxParams, gen: int) -> Generator[simpy.Event, Any, None]:
        while True:
            c0 = dict(self.counts)
            yield self.env.timeout(p.interval)
            if gen != self._relax_gen or self.throttle is None:
                return
            calls = self.counts["calls"] - c0["calls"]
            throttled = self.counts[THROTTLED] - c0[THROTTLED]
            other = sum(self.counts[r] - c0[r] for r in REASONS if r != THROTTLED)
            if calls and other / calls > p.max_error_rate:
                self.event("launch_throttle_held", f"{other}/{calls} calls failed otherwise")
                continue
            scale = self.scale_dwfm if p.dwfm else None
            if not calls or throttled / calls < p.idle_share:
                self._apply_rate(None)
                if scale is not None:
                    scale(None)
                return
            self._apply_rate(self.throttle.rate * p.factor)
            if scale is not None:
                scale(p.factor)

    def actions(self) -> list[Action]:
        return [
            Action(
                "ec2_throttle_launches",
                self.set_throttle,
                ThrottleParams,
                "Set (or lift, rate null) the launch request throttle: calls beyond it fail "
                "with 'request limit exceeded'.",
            ),
            Action(
                "ec2_relax_throttles",
                self.relax,
                RelaxParams,
                "Relax the launch throttle step by step while other errors stay low, until "
                "it is no longer needed.",
            ),
        ]

    # -- after the run -------------------------------------------------------------------------
    def detectors(self) -> dict[str, Detector]:
        c, scope = self.config, self.scope

        def normal(results: Results) -> float | None:
            lvl = results.level(scope, "normal")
            if lvl is None:
                return None
            bad = lvl.first_time(lambda v: v < 0.5, before=results.end)
            if bad is None:
                return None
            return sustained(lvl, lambda v: v >= 0.5, c.normal_sustain, results.end, after=bad)

        return {"ec2_launches_normal": normal}

    def statistics(self, results: Results) -> dict[str, Any]:
        c = self.counts
        return {
            **c,
            "calls_per_request": round(c["calls"] / c["requests"], 3) if c["requests"] else None,
            "time_to_ready_mean_s": round(self.ready_latency_sum / c["ready"], 1)
            if c["ready"]
            else None,
        }
