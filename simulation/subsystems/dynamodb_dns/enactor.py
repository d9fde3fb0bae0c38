"""An Enactor as a simpy process: the protocol's steps, with time, back-off and injected faults.

Each step comes from `Protocol.next` (the rules shared with the exhaustive checker). A step with
a change batch is a Route 53 transaction: the batch is built from what the Enactor reads now and
committed `transaction_time` later, so a slow Enactor commits what it read long ago. A held lock
(or a lost one, under an injected `slowness` fault) makes it back off per its `RetryConfig` and
try again. A batch Route 53 refuses as invalid ends the run (`enactor_run_failed`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from simulation.core.component import Component
from simulation.primitives.dns import ChangeConflict, InvalidChangeBatch, name
from simulation.primitives.resilience.retry import Backoff

from .config import EnactorsConfig, EnactorSlowness
from .protocol import EnactorState, Intent

if TYPE_CHECKING:
    from . import DynamoDbDns


class Enactor(Component):
    """One Enactor (scope `enactor[<name>]`). Levels: `plan_generation` (the plan it took last),
    `applied_generation` (the plan of its last committed apply)."""

    def __init__(
        self,
        parent: DynamoDbDns,
        name: str,
        config: EnactorsConfig,
        slowness: list[EnactorSlowness],
        seen: int,
    ) -> None:
        super().__init__(parent, "enactor", index=name)
        self.owner = parent
        self.config = config
        self.slowness = [s for s in slowness if s.enactor == name]
        self.state = EnactorState(name, seen=seen)
        self.plan_generation = self.level("plan_generation", "", seen)
        self.applied_generation = self.level("applied_generation", "", seen)
        self.counts: dict[str, int] = {
            "runs": 0,
            "runs_done": 0,
            "runs_failed": 0,
            "runs_abandoned": 0,
            "stale_plans": 0,
            "applies": 0,
            "stale_applies": 0,
            "superseded": 0,
            "deletions": 0,
            "active_deletions": 0,
            "lock_waits": 0,
            "lock_losses": 0,
            "conflicts": 0,
        }
        self._backoff: Backoff | None = None
        self._names: dict[int, set] = {}
        self.env.process(self._run())

    # -- faults ----------------------------------------------------------------------------
    def _fault(self) -> EnactorSlowness | None:
        now = self.env.now
        for s in self.slowness:
            if s.start <= now < s.start + s.duration:
                return s
        return None

    def _transaction_time(self) -> float:
        c = self.config
        j = c.transaction_jitter
        t = c.transaction_time * (1 - j + 2 * j * self.rng.random())
        fault = self._fault()
        return t + (fault.extra_transaction_time if fault is not None else 0.0)

    def _loses_lock(self, intent: Intent) -> bool:
        fault = self._fault()
        if intent.step != "apply" or fault is None or fault.lock_loss_probability <= 0:
            return False
        if fault.endpoints is not None:
            label = self.owner.layout.endpoints[intent.endpoint]
            if label not in self._fault_endpoints(fault):
                return False
        return self.rng.random() < fault.lock_loss_probability

    def _fault_endpoints(self, fault: EnactorSlowness) -> set:
        names = self._names.get(id(fault))
        if names is None:
            names = self._names[id(fault)] = {name(e) for e in fault.endpoints or []}
        return names

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> Generator[Any, Any, None]:
        env, owner, rng = self.env, self.owner, self.rng
        poll = self.config.poll_interval
        yield env.timeout(rng.random() * poll)
        while True:
            if not owner.automation_enabled:
                yield env.timeout(poll)
                continue
            intent = owner.protocol.next(owner.world(), self.state, env.now)
            if intent is None:
                yield env.timeout(poll * (0.5 + rng.random()))
                continue
            if intent.blocked:
                self.counts["lock_waits"] += 1
                yield from self._back_off()
                continue
            if intent.batch is None:
                self._advance(intent, intent.after)
                continue
            lost = self._loses_lock(intent)
            yield env.timeout(self._transaction_time())
            if lost:
                self.counts["lock_losses"] += 1
                self.event("enactor_lock_lost", f"{intent.detail}: lock lost, backing off")
                yield from self._back_off()
                continue
            yield from self._commit(intent)

    def _commit(self, intent: Intent) -> Generator[Any, Any, None]:
        owner = self.owner
        before = owner.route53.master
        try:
            after_zone = owner.route53.commit(intent.batch)
        except ChangeConflict:
            self.counts["conflicts"] += 1
            if intent.on_conflict is None:
                yield from self._back_off()
            else:
                self._advance(intent, intent.on_conflict)
            return
        except InvalidChangeBatch as exc:
            self.counts["runs_failed"] += 1
            self.event("enactor_run_failed", f"{intent.detail}: refused by Route 53: {exc}")
            self._advance(intent, intent.on_invalid or intent.after)
            return
        if intent.step == "apply":
            self.counts["applies"] += 1
            self.applied_generation.set(self.state.plan)
            self._observe_apply(intent, before, after_zone)
        elif intent.step == "cleanup":
            self.counts["deletions"] += 1
            owner.observe_cleanup(self, intent)
        self._advance(intent, intent.after)

    def _observe_apply(self, intent: Intent, before: Any, after: Any) -> None:
        protocol, i = self.owner.protocol, intent.endpoint
        was = protocol.active_generation(before, i)
        now = protocol.active_generation(after, i)
        if was > now:
            self.counts["stale_applies"] += 1
            self.event(
                "enactor_stale_apply",
                f"{self.state.name} applied g{now} over the newer g{was} on "
                f"{protocol.layout.labels[i]}",
            )

    def _advance(self, intent: Intent, state: EnactorState) -> None:
        """Move to `state` after a finished step; count and record what matters."""
        self._backoff = None
        step = intent.step
        if step == "receive":
            self.counts["runs"] += 1
            self.plan_generation.set(state.plan)
        elif intent.event == "enactor_plan_stale":
            self.counts["stale_plans"] += 1
        elif intent.event == "enactor_run_done":
            self.counts["runs_done"] += 1
        elif intent.event == "enactor_plan_superseded":
            self.counts["superseded"] += 1
        elif intent.event == "cleanup_spared_active":
            self.event("cleanup_spared_active", intent.detail)
        self.state = state

    def _back_off(self) -> Generator[Any, Any, None]:
        if self._backoff is None:
            self._backoff = self.config.retry.backoff()
        delay = self._backoff.next_delay(self.rng)
        if delay is None:
            self.counts["runs_abandoned"] += 1
            self.event(
                "enactor_run_abandoned",
                f"{self.state.name} gives up its run of g{self.state.plan} after "
                f"{self._backoff.attempts} attempts",
            )
            self._backoff = None
            self.state = self.owner.protocol.idle(self.state)
            return
        yield self.env.timeout(delay)
