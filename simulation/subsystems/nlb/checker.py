"""The NLB health-check subsystem: per AZ, a worker pool checking that AZ's nodes and targets.

Each subject (an NLB node, a target) is checked every `interval`. A check is a work item on the
AZ's `WorkQueue` (resilience primitive) served by `Worker` threads (servers primitive); its
deadline is the health-check timeout counted from when it was due. A check *passes* when a
worker finished it by its deadline and the subject answered: a target answers only while its
instance runs and its network state has propagated. A check late past its deadline fails, like an
unanswered one: that is how an overloaded checker turns into health failures.

Verdicts follow consecutive results (`healthy_threshold` passes, `unhealthy_threshold` failures).
Every verdict change (a *flap*) costs the checker more work: `rechecks_on_change` confirmation
checks of the subject and, through its NLB, a DNS update (re-evaluate the NLB's AZs and write its
record if they change). So flapping loads the checker, the checker gets late, late checks fail,
and more subjects flap: the feedback the incident showed.

Series (sampled every `sample_every`, scope `checker[<az>]`): `waiting` (items queued),
`late_share` (share of checks finished in the window that were late), `utilisation`,
`flaps_per_min`, `wait_max` (longest queueing delay of a check started in the window).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulation.core.component import Component
from simulation.primitives.resilience.admission import (
    CLEARED,
    COMPLETED,
    REJECTED,
    SERVED,
    WorkItem,
    WorkQueue,
)
from simulation.primitives.servers.worker import Worker

from .config import CheckerConfig, HealthCheckConfig

if TYPE_CHECKING:
    from simulation.subsystems.instances import Instance

    from .balancer import LoadBalancer

INITIAL, HEALTHY, UNHEALTHY = 0, 1, 2


class Subject:
    """Something checked: an NLB node (always answers) or a target (answers once reachable)."""

    __slots__ = ("active", "az", "in_service", "instance", "launched", "lb", "state", "streak")

    def __init__(
        self,
        lb: LoadBalancer,
        az: str,
        instance: Instance | None = None,
        state: int = HEALTHY,
        launched: bool = False,
    ) -> None:
        self.lb = lb
        self.az = az
        self.instance = instance
        """None for a node."""
        self.state = state
        self.streak = 0
        """Consecutive results contradicting the current verdict."""
        self.active = True
        """False once deregistered: its timer stops and results are ignored."""
        self.launched = launched
        """A target launched during the run (not one of the fleet at the start)."""
        self.in_service = state == HEALTHY
        """A target in its NLB's nodes' forwarding state (verdicts move it while automatic
        failover is on; with failover off every registered target stays in, unless
        `failover.off_returns_targets` is false). Set at registration by the balancer."""

    def answers(self) -> bool:
        """Whether a check reaching it now gets an answer."""
        inst = self.instance
        return inst is None or (inst.terminated_at is None and inst.network_ready_at is not None)


class DnsUpdate:
    """A work item: re-evaluate one NLB's AZs and write its record if they changed."""

    __slots__ = ("lb",)

    def __init__(self, lb: LoadBalancer) -> None:
        self.lb = lb


Transition = Callable[[Subject, int, int], None]


class HealthChecker(Component):
    """One AZ's checker: periodic checks, verdicts, flaps, DNS updates (see module docstring)."""

    def __init__(
        self,
        parent: Component,
        label: str,
        az: str,
        config: CheckerConfig,
        health: HealthCheckConfig,
        on_transition: Transition,
    ) -> None:
        super().__init__(parent, "checker", label)
        self.label = label
        self.az = az
        self.config = config
        self.health = health
        self.on_transition = on_transition
        self.queue = WorkQueue(self, config.queue, record=False)
        check_time = config.check_time.build()
        dns_time = config.dns_update_time.build()

        def service(server: Any, payload: Any, rng: Any) -> float:
            if payload.__class__ is DnsUpdate:
                return dns_time(server, payload, rng)
            return check_time(server, payload, rng)

        self.workers = [Worker(self, i, self.queue, service) for i in range(config.workers)]
        self.subjects = 0
        # totals
        self.checks = 0
        self.passed = 0
        self.failed_late = 0
        """Checks that failed because the checker did not finish them in time."""
        self.failed_unanswered = 0
        """Checks finished in time that the subject did not answer (network not propagated)."""
        self.flaps = 0
        self.rechecks = 0
        self.dns_updates = 0
        # the current sampling window
        self._w_checks = 0
        self._w_late = 0
        self._w_flaps = 0
        self._w_wait = 0.0
        self._w_busy = 0.0
        self._on_due_cb = self._on_due
        self._on_check_cb = self._on_check
        self._on_dns_cb = self._on_dns
        self.degraded = False

    # -- subjects ------------------------------------------------------------------------------
    def add(self, subject: Subject, first_in: float) -> None:
        """Start checking `subject`, first `first_in` seconds from now, then every interval."""
        self.subjects += 1
        self.env.call_in(first_in, self._on_due_cb, subject)

    def remove(self, subject: Subject) -> None:
        """Stop checking `subject` (its pending timer fires once more and is ignored)."""
        if subject.active:
            subject.active = False
            self.subjects -= 1

    def _on_due(self, ev: Any) -> None:
        subject: Subject = ev.value
        if not subject.active:
            return
        env = self.env
        self.queue.submit(subject, env.now + self.health.timeout, self._on_check_cb)
        env.call_in(self.health.interval, self._on_due_cb, subject)

    def _recheck(self, subject: Subject) -> None:
        self.rechecks += 1
        self.queue.submit(subject, self.env.now + self.health.timeout, self._on_check_cb)

    # -- results -------------------------------------------------------------------------------
    def _on_check(self, item: WorkItem) -> None:
        outcome = item.outcome
        if outcome is CLEARED:
            return
        subject: Subject = item.payload
        self.checks += 1
        self._w_checks += 1
        started = item.started
        if started == started and started - item.arrived > self._w_wait:  # NaN: never started
            self._w_wait = started - item.arrived
        if outcome is COMPLETED:
            passed = subject.answers()
            if passed:
                self.passed += 1
            else:
                self.failed_unanswered += 1
        else:  # late, expired in the queue, or rejected: not checked in time
            passed = False
            self.failed_late += 1
            self._w_late += 1
        if subject.active:
            self.verdict(subject, passed)

    def verdict(self, subject: Subject, passed: bool) -> None:
        """Fold one result into the subject's verdict; a change is a flap (more work)."""
        state = subject.state
        if state == HEALTHY:
            if passed:
                subject.streak = 0
                return
            subject.streak += 1
            if subject.streak < self.health.unhealthy_threshold:
                return
            new = UNHEALTHY
        else:
            if not passed:
                subject.streak = 0
                return
            subject.streak += 1
            if subject.streak < self.health.healthy_threshold:
                return
            new = HEALTHY
        subject.state = new
        subject.streak = 0
        self.flaps += 1
        self._w_flaps += 1
        for _ in range(self.config.rechecks_on_change):
            self._recheck(subject)
        self.on_transition(subject, state, new)

    # -- DNS updates ---------------------------------------------------------------------------
    def submit_dns_update(self, lb: LoadBalancer) -> None:
        """Queue a re-evaluation of `lb`'s DNS record (coalesced if configured)."""
        if self.config.coalesce_dns_updates and lb.dns_update_queued:
            return
        lb.dns_update_queued = True
        self.queue.submit(DnsUpdate(lb), math.inf, self._on_dns_cb)

    def _on_dns(self, item: WorkItem) -> None:
        lb: LoadBalancer = item.payload.lb
        lb.dns_update_queued = False
        if item.outcome in SERVED:
            self.dns_updates += 1
            lb.apply_dns()
        elif item.outcome is REJECTED:  # queue full: try again one interval later
            self.env.call_in(self.health.interval, lambda _ev: self.submit_dns_update(lb))

    # -- sampled series --------------------------------------------------------------------------
    def sample(self, window: float) -> None:
        """Record the window's figures as levels and start a new window."""
        busy = sum(w.busy_time() for w in self.workers)
        checks = self._w_checks
        late_share = self._w_late / checks if checks else 0.0
        self.level("waiting", "items").set(len(self.queue.entries))
        self.level("late_share", "").set(round(late_share, 4))
        utilisation = (busy - self._w_busy) / (window * len(self.workers))
        self.level("utilisation", "").set(round(min(utilisation, 1.0), 4))
        self.level("flaps_per_min", "flaps/min").set(round(self._w_flaps * 60.0 / window, 3))
        self.level("wait_max", "s").set(round(self._w_wait, 3))
        if late_share >= self.config.degraded_late_share and not self.degraded:
            self.degraded = True
            self.event("checker_degraded", f"{late_share:.0%} of checks late")
        elif late_share == 0.0 and self.degraded:
            self.degraded = False
            self.event("checker_recovered", "no late check in the last window")
        self._w_busy = busy
        self._w_checks = self._w_late = self._w_flaps = 0
        self._w_wait = 0.0

    def figures(self) -> dict[str, Any]:
        busy = sum(w.busy_time() for w in self.workers)
        end = self.env.now
        return {
            "subjects": self.subjects,
            "checks": self.checks,
            "passed": self.passed,
            "failed_late": self.failed_late,
            "failed_unanswered": self.failed_unanswered,
            "flaps": self.flaps,
            "rechecks": self.rechecks,
            "dns_updates": self.dns_updates,
            "utilisation": round(busy / (end * len(self.workers)), 4) if end > 0 else 0.0,
        }
