"""The DNS automation's protocol rules: the one source of truth for the simulation and the checker.

Shared state is a `World`: the newest plan generation the Planner has published, and the hosted
zone (`ZoneState`, the DNS primitive's immutable record table). Each Enactor has a small local
state (`EnactorState`). `Protocol.next(world, enactor, now)` says what that Enactor does next,
as an `Intent`: a label, the Route 53 change batch to commit (if any), and the Enactor's state
after the step, after a rejected batch, or after a conflict. The simpy Enactor commits the batch
after the transaction's latency (and backs off on contention); the exhaustive checker commits it
at once and branches over every actor. Neither adds a rule of its own.

Record layout (per endpoint, in the endpoint's zone):

- `lb<j>.<label>._lb.<zone>`: A records of one load balancer (static leaves);
- `g<N>.<label>._plans.<zone>`: plan N for the endpoint: weighted aliases to the leaves;
- `<endpoint>`: the top-level alias to the active plan's record;
- `<label>._rollback.<zone>`: an alias to the previously active plan, updated in the same
  transaction (Route 53 refuses an alias whose target has no records: once the active plan is
  deleted, every later apply is refused, which is the inconsistent state of the incident);
- `<label>._lock.<zone>`: a TXT lock `owner=<enactor> expires=<t>`, taken in the apply
  transaction (condition: the lock record is as read, and free, expired or ours) and released
  after it.

An Enactor run: take the newest plan; check once that it is newer than the applied plan; for each
endpoint in order, apply (lock + plan records + top alias + rollback) and release the lock; then
clean up: delete, one plan per transaction, the plan records at least `threshold` generations
older than the plan just applied. The fix switches: `version_check` adds a compare-and-set on the
top alias to each apply (an Enactor never overwrites a newer plan); `protect_active` makes
clean-up skip a plan that an endpoint points at, with the same compare-and-set on the aliases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import dns.name

from simulation.primitives.dns import (
    TXT,
    A,
    ChangeBatch,
    RecordSet,
    TxtRecordSet,
    ZoneState,
    delete,
    name,
    rdataset,
    soa_record,
    unchanged,
    upsert,
)
from simulation.primitives.dns.fastinit import fast_init
from simulation.primitives.dns.records import HashedName


@fast_init
@dataclass(frozen=True, slots=True)
class Plan:
    """One plan generation: per endpoint, the weight of each of its load balancers."""

    generation: int
    weights: tuple[tuple[int, ...], ...]


class Layout:
    """Names of the records of the automation, for a zone and a list of endpoints."""

    def __init__(
        self,
        zone: str,
        endpoints: list[str],
        regional: str | None = None,
        load_balancers: int = 4,
        addresses_per_load_balancer: int = 2,
        record_ttl: int = 60,
        soa_ttl: int = 900,
        soa_minimum: int = 86400,
    ) -> None:
        self.origin = name(zone)
        self.endpoints = tuple(name(e) for e in endpoints)
        self.regional = self.endpoints.index(name(regional)) if regional else 0
        self.load_balancers = load_balancers
        self.addresses_per_load_balancer = addresses_per_load_balancer
        self.record_ttl = record_ttl
        self.soa = soa_record(self.origin, soa_ttl, soa_minimum)
        self.labels = tuple(e.relativize(self.origin).to_text() for e in self.endpoints)
        self.locks = tuple(self._sub(label, "_lock") for label in self.labels)
        self.rollbacks = tuple(self._sub(label, "_rollback") for label in self.labels)
        self.lb_names = tuple(
            tuple(self._sub(f"lb{j}.{label}", "_lb") for j in range(load_balancers))
            for label in self.labels
        )
        self._plan_names: dict[tuple[int, int], dns.name.Name] = {}
        self._plan_of: dict[dns.name.Name, tuple[int, int]] = {}

    def _sub(self, prefix: str, kind: str) -> dns.name.Name:
        labels = tuple(label.encode() for label in prefix.split("."))
        return HashedName((*labels, kind.encode(), *self.origin.labels))  # as name(Name(...))

    def plan_name(self, endpoint: int, generation: int) -> dns.name.Name:
        key = (endpoint, generation)
        n = self._plan_names.get(key)
        if n is None:
            n = self._sub(f"g{generation}.{self.labels[endpoint]}", "_plans")
            self._plan_names[key] = n
            self._plan_of[n] = key
        return n

    def plan_of(self, record_name: dns.name.Name) -> tuple[int, int] | None:
        """(endpoint, generation) of a plan record's name, None if it is not one."""
        return self._plan_of.get(name(record_name))

    def leaves(self) -> tuple[RecordSet, ...]:
        """The load balancers' A records (10.<endpoint+1>.<lb>.<k+1>)."""
        out = []
        for i, names in enumerate(self.lb_names):
            for j, n in enumerate(names):
                addresses = [
                    f"10.{i + 1}.{j}.{k + 1}" for k in range(self.addresses_per_load_balancer)
                ]
                out.append(RecordSet(n, A, rdataset(A, self.record_ttl, *addresses)))
        return tuple(out)

    def empty_zone(self) -> ZoneState:
        """The zone before any plan: SOA and load balancer leaves, no endpoint records."""
        return ZoneState.create(self.soa, self.leaves())


@fast_init
@dataclass(frozen=True, slots=True)
class World:
    """The shared state: newest published generation and the zone's records."""

    latest: int
    zone: ZoneState

    def key(self) -> tuple:
        return (self.latest, self.zone.key())


class Phase(StrEnum):
    IDLE = "idle"
    CHECK = "check"
    APPLY = "apply"
    RELEASE = "release"
    CLEANUP = "cleanup"


@fast_init
@dataclass(frozen=True, slots=True)
class EnactorState:
    """An Enactor's local state: where it is in its run and with which plan."""

    name: str
    phase: Phase = Phase.IDLE
    plan: int = 0
    """Generation held in this run (0: none)."""
    seen: int = 0
    """Newest generation taken so far: a new run starts only when the Planner has a newer one."""
    endpoint: int = 0
    """APPLY/RELEASE: index of the endpoint."""
    cursor: int = 0
    """CLEANUP: the last generation dealt with."""


@fast_init
@dataclass(frozen=True, slots=True)
class Intent:
    """What an Enactor does next (see module docstring)."""

    actor: str
    step: str
    detail: str
    after: EnactorState
    batch: ChangeBatch | None = None
    on_conflict: EnactorState | None = None
    """State after a ChangeConflict; None means retry this step (after a back-off)."""
    on_invalid: EnactorState | None = None
    """State after an InvalidChangeBatch (the run is abandoned)."""
    blocked: bool = False
    """The step cannot be taken now (the lock is held by another Enactor): back off and retry."""
    event: str | None = None
    """Timeline event kind for this step's outcome, if it is worth one."""
    endpoint: int | None = None


class Protocol:
    """The rules of the Planner and the Enactors (see module docstring)."""

    def __init__(
        self,
        layout: Layout,
        plans: Callable[[int], Plan],
        threshold: int,
        version_check: bool = False,
        protect_active: bool = False,
        lock_lease: float = math.inf,
    ) -> None:
        self.layout = layout
        self.plans = plans
        self.threshold = threshold
        self.version_check = version_check
        self.protect_active = protect_active
        self.lock_lease = lock_lease
        self._plan_records: dict[tuple[int, int], tuple[RecordSet, ...]] = {}
        self._aliases: dict[tuple[dns.name.Name, int], RecordSet] = {}
        self._locks: dict[tuple[int, str, float], RecordSet] = {}
        self._lock_owner: dict[int, tuple[RecordSet, str, float]] = {}

    # -- records -------------------------------------------------------------------------
    def plan_records(self, plan: Plan, endpoint: int) -> tuple[RecordSet, ...]:
        key = (plan.generation, endpoint)
        records = self._plan_records.get(key)
        if records is None:
            if len(self._plan_records) > 8192:
                self._plan_records.clear()
            owner = self.layout.plan_name(endpoint, plan.generation)
            records = tuple(
                RecordSet(owner, A, alias=leaf, set_id=f"lb{j}", weight=plan.weights[endpoint][j])
                for j, leaf in enumerate(self.layout.lb_names[endpoint])
            )
            self._plan_records[key] = records
        return records

    def top_alias(self, endpoint: int, generation: int) -> RecordSet:
        """The endpoint's top-level alias to plan `generation`'s record."""
        return self._alias(self.layout.endpoints[endpoint], endpoint, generation)

    def rollback_alias(self, endpoint: int, generation: int) -> RecordSet:
        """The endpoint's rollback record, an alias to plan `generation`'s record."""
        return self._alias(self.layout.rollbacks[endpoint], endpoint, generation)

    def _alias(self, owner: dns.name.Name, endpoint: int, generation: int) -> RecordSet:
        key = (owner, generation)
        rec = self._aliases.get(key)
        if rec is None:
            if len(self._aliases) > 8192:
                self._aliases.clear()
            rec = RecordSet(owner, A, alias=self.layout.plan_name(endpoint, generation))
            self._aliases[key] = rec
        return rec

    def lock(self, endpoint: int, owner: str, expires: float) -> RecordSet:
        """The endpoint's lock record `owner=<owner> expires=<t>` (TTL 0: never cached)."""
        key = (endpoint, owner, expires)
        rec = self._locks.get(key)
        if rec is None:
            if len(self._locks) > 8192:
                self._locks.clear()
                self._lock_owner.clear()
            until = "never" if math.isinf(expires) else f"{expires:.3f}"
            text = f"owner={owner} expires={until}"
            rec = TxtRecordSet(self.layout.locks[endpoint], 0, text)  # rdata built if read
            self._locks[key] = rec
            self._lock_owner[id(rec)] = (rec, owner, expires)
        return rec

    # -- reading the zone ----------------------------------------------------------------
    def active_generation(self, zone: ZoneState, endpoint: int) -> int:
        """Generation the endpoint's top-level alias points at (0: none), records or not."""
        top = zone.record(self.layout.endpoints[endpoint], A)
        if top is None or top.alias is None:
            return 0
        found = self.layout.plan_of(top.alias)
        return 0 if found is None else found[1]

    def applied_generation(self, zone: ZoneState) -> int:
        """The plan currently applied: the newest generation any endpoint points at."""
        return max(self.active_generation(zone, i) for i in range(len(self.layout.endpoints)))

    def plan_present(self, zone: ZoneState, endpoint: int, generation: int) -> bool:
        return bool(zone.group(self.layout.plan_name(endpoint, generation), A))

    def live_generations(self, zone: ZoneState) -> list[int]:
        """Generations that still have plan records, ascending."""
        plan_of = self.layout.plan_of
        gens = {found[1] for n, _ in zone.record_keys() if (found := plan_of(n)) is not None}
        return sorted(gens)

    def lock_holder(self, zone: ZoneState, endpoint: int) -> tuple[str, float] | None:
        """(owner, expiry) of the endpoint's lock record, None when there is none."""
        lock = zone.record(self.layout.locks[endpoint], TXT)
        if lock is None:
            return None
        known = self._lock_owner.get(id(lock))
        if known is not None and known[0] is lock:
            return known[1], known[2]
        if isinstance(lock, TxtRecordSet):
            text = lock.text
        else:
            text = next(iter(lock.data)).strings[0].decode()
        fields = dict(part.split("=", 1) for part in text.split())
        until = fields.get("expires", "never")
        owner, expires = fields.get("owner", "?"), math.inf if until == "never" else float(until)
        self._lock_owner[id(lock)] = (lock, owner, expires)
        return owner, expires

    # -- the Planner ---------------------------------------------------------------------
    @staticmethod
    def publish(world: World, plan: Plan) -> World:
        """The Planner makes `plan` the newest generation (its history is kept by `plans`)."""
        return World(max(world.latest, plan.generation), world.zone)

    # -- the Enactors --------------------------------------------------------------------
    def next(self, world: World, e: EnactorState, now: float = 0.0) -> Intent | None:
        """The Enactor's next step, or None when it has nothing to do (idle, no newer plan)."""
        if e.phase is Phase.IDLE:
            if world.latest <= e.seen:
                return None
            g = world.latest
            after = EnactorState(e.name, Phase.CHECK, g, g)
            return Intent(e.name, "receive", f"{e.name} takes plan g{g}", after)
        if e.phase is Phase.CHECK:
            applied = self.applied_generation(world.zone)
            if e.plan > applied:
                return Intent(
                    e.name,
                    "check",
                    f"{e.name} checks g{e.plan} is newer than applied g{applied}: yes",
                    EnactorState(e.name, Phase.APPLY, e.plan, e.seen),
                )
            return Intent(
                e.name,
                "check",
                f"{e.name} checks g{e.plan} is newer than applied g{applied}: no, stale",
                self.idle(e),
                event="enactor_plan_stale",
            )
        if e.phase is Phase.APPLY:
            return self._apply(world.zone, e, now)
        if e.phase is Phase.RELEASE:
            return self._release(world.zone, e)
        return self._cleanup(world.zone, e)

    @staticmethod
    def idle(e: EnactorState) -> EnactorState:
        """The Enactor between runs (also after an abandoned run)."""
        return EnactorState(e.name, Phase.IDLE, 0, e.seen)

    def _after_endpoint(self, e: EnactorState) -> EnactorState:
        if e.endpoint + 1 < len(self.layout.endpoints):
            return EnactorState(e.name, Phase.APPLY, e.plan, e.seen, e.endpoint + 1)
        return EnactorState(e.name, Phase.CLEANUP, e.plan, e.seen)

    def _apply(self, zone: ZoneState, e: EnactorState, now: float) -> Intent:
        layout, i, g = self.layout, e.endpoint, e.plan
        endpoint = layout.endpoints[i]
        label = layout.labels[i]
        held = self.lock_holder(zone, i)
        if held is not None and held[0] != e.name and held[1] > now:
            return Intent(
                e.name,
                "apply",
                f"{e.name} waits for the lock of {label} (held by {held[0]})",
                e,
                blocked=True,
                endpoint=i,
            )
        top = zone.record(endpoint, A)
        current = self.active_generation(zone, i)
        conditions = [unchanged(layout.locks[i], TXT, zone.record(layout.locks[i], TXT))]
        if self.version_check:
            if current >= g:
                return Intent(
                    e.name,
                    "skip",
                    f"{e.name} skips {label}: it already has g{current}, not older than g{g}",
                    self._after_endpoint(e),
                    event="enactor_plan_superseded",
                    endpoint=i,
                )
            conditions.append(unchanged(endpoint, A, top))
        changes = [upsert(self.lock(i, e.name, now + self.lock_lease))]
        changes += [upsert(r) for r in self.plan_records(self.plans(g), i)]
        changes.append(upsert(self.top_alias(i, g)))
        if current and current != g:
            changes.append(upsert(self.rollback_alias(i, current)))
        was = f"g{current}" if current else "nothing"
        return Intent(
            e.name,
            "apply",
            f"{e.name} applies g{g} to {label} (was {was})",
            EnactorState(e.name, Phase.RELEASE, e.plan, e.seen, e.endpoint),
            batch=ChangeBatch.of(changes, conditions, f"{e.name}: apply g{g} to {label}"),
            on_invalid=self.idle(e),
            endpoint=i,
        )

    def _release(self, zone: ZoneState, e: EnactorState) -> Intent:
        i = e.endpoint
        label = self.layout.labels[i]
        lock = zone.record(self.layout.locks[i], TXT)
        held = self.lock_holder(zone, i)
        after = self._after_endpoint(e)
        if lock is None or held is None or held[0] != e.name:
            return Intent(e.name, "release", f"{e.name} finds its lock of {label} gone", after)
        return Intent(
            e.name,
            "release",
            f"{e.name} releases the lock of {label}",
            after,
            batch=ChangeBatch.of([delete(lock)], comment=f"{e.name}: release {label}"),
            on_conflict=after,
            endpoint=i,
        )

    def _cleanup(self, zone: ZoneState, e: EnactorState) -> Intent:
        g, limit = e.plan, e.plan - self.threshold
        old = [x for x in self.live_generations(zone) if e.cursor < x < g and x <= limit]
        if not old:
            return Intent(
                e.name,
                "done",
                f"{e.name} finishes its run of g{g}",
                self.idle(e),
                event="enactor_run_done",
            )
        victim = old[0]
        layout = self.layout
        n = len(layout.endpoints)
        after = EnactorState(e.name, Phase.CLEANUP, e.plan, e.seen, 0, victim)
        conditions = []
        if self.protect_active:
            active = [self.active_generation(zone, i) for i in range(n)]
            if victim in active:
                return Intent(
                    e.name,
                    "cleanup",
                    f"{e.name} keeps g{victim}: it is active",
                    after,
                    event="cleanup_spared_active",
                )
            conditions = [
                unchanged(layout.endpoints[i], A, zone.record(layout.endpoints[i], A))
                for i in range(n)
            ]
        changes = [delete(r) for i in range(n) for r in zone.group(layout.plan_name(i, victim), A)]
        return Intent(
            e.name,
            "cleanup",
            f"{e.name} deletes plan g{victim} (g{g} - {self.threshold} or older)",
            after,
            batch=ChangeBatch.of(changes, conditions, f"{e.name}: clean up g{victim}"),
            on_invalid=after,
        )

    # -- operators -----------------------------------------------------------------------
    def repair(self, world: World, generation: int | None = None) -> ChangeBatch:
        """The operators' manual repair: every endpoint points at plan `generation` (default the
        newest), its records and the rollback record written directly, no lock, no check."""
        g = world.latest if generation is None else generation
        plan = self.plans(g)
        changes = []
        for i in range(len(self.layout.endpoints)):
            changes += [upsert(r) for r in self.plan_records(plan, i)]
            changes.append(upsert(self.top_alias(i, g)))
            changes.append(upsert(self.rollback_alias(i, g)))
        return ChangeBatch.of(changes, comment=f"operators: manual repair to g{g}")

    # -- properties ----------------------------------------------------------------------
    def deleted_active(self, zone: ZoneState) -> list[int]:
        """Endpoints whose active plan has no records any more."""
        return [
            i
            for i in range(len(self.layout.endpoints))
            if (g := self.active_generation(zone, i)) and not self.plan_present(zone, i, g)
        ]

    def resolves_empty(self, zone: ZoneState, endpoint: int) -> bool:
        """Whether an initialised endpoint (it has a top-level alias) resolves to no address."""
        owner = self.layout.endpoints[endpoint]
        if zone.record(owner, A) is None:
            return False
        return not zone.lookup(owner, A).positive
