"""DynamoDB's DNS automation (the trigger of the us-east-1 outage): section `dynamodb_dns:`.

A Planner publishes plan generations; independent Enactors apply the newest plan to each endpoint
in Route 53 transactions and clean up old plans (rules in `protocol`, shared with the exhaustive
checker `simulation.analysis.dns_race_check`). The hosted zone is served by the DNS primitive's
`AuthoritativeDns` (name servers lag the change API by `propagation_delay`), and a population of
clients resolves the regional endpoint through caching stub resolvers.

Nothing here schedules a race. Faults are inputs (`slowness`: an Enactor losing its locks or
committing slowly for a while; `planner.bursts`); if a delayed Enactor's stale plan lands on the
regional endpoint while another Enactor's clean-up deletes it, the endpoint resolves to no
addresses, and every later apply is refused until the operator action `dns_manual_repair`.

Levels: `regional_addresses` and `regional_generation` (master state, this scope), `failing`
(scope `.clients`), `plan_generation` (plan taken) and `applied_generation` (last plan written)
per Enactor, `generation` (`.planner`).
Milestones: `dns_record_empty`, `dns_client_failures_start`, `dns_restored`,
`dns_clients_recovered`. Other subsystems get a resolver with `resolver()`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulation.core.component import Action, Component, Detector, NoParams
from simulation.core.results import Results
from simulation.core.units import format_duration
from simulation.core.views import Link, Plot, Series, Switch
from simulation.primitives.dns import (
    A,
    AuthoritativeDns,
    CachingResolver,
    ChangeBatch,
    ResolverPopulation,
    ZoneState,
    delete,
)

from .config import Config
from .enactor import Enactor
from .planner import Planner
from .protocol import Intent, Layout, Protocol, World

__all__ = ["Config", "DynamoDbDns", "RepairParams", "build"]


class RepairParams(BaseModel):
    """Parameters of `dns_manual_repair`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generation: int | None = Field(
        None, ge=1, description="Plan generation to restore; null = the Planner's newest."
    )
    disable_automation: bool = Field(
        False, description="Also stop the Planner and Enactors (as `dns_automation_disable`)."
    )


class DynamoDbDns(Component):
    """The automation, its Route 53 zone and the clients of the regional endpoint."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "dynamodb_dns")
        self.config = config
        self.automation_enabled = True
        layout = Layout(
            config.zone,
            config.endpoints,
            config.regional_endpoint,
            config.load_balancers,
            config.addresses_per_load_balancer,
            round(config.record_ttl),
            round(config.soa_ttl),
            round(config.soa_minimum),
        )
        self.layout = layout
        g0 = config.initial_generation
        self.planner = Planner(
            self, config.planner, len(layout.endpoints), layout.load_balancers, g0
        )
        e = config.enactors
        self.protocol = Protocol(
            layout,
            self.planner.plan,
            e.cleanup_threshold,
            version_check=config.apply_version_check,
            protect_active=config.cleanup_protects_active,
            lock_lease=e.lock_lease,
        )
        empty = layout.empty_zone()
        zone = empty.apply(self.protocol.repair(World(g0, empty), g0))
        self.route53 = AuthoritativeDns(self, "route53", zone, config.propagation_delay)
        self.regional = layout.endpoints[layout.regional]
        self.regional_addresses = self.level("regional_addresses", "addresses")
        self.regional_generation = self.level("regional_generation", "")
        self._depends: set = set()
        self._version = -2
        self._observe(zone)
        self.route53.watch_master(self._observe)
        self.enactors = [Enactor(self, name, e, config.slowness, g0) for name in e.names]
        self.clients = (
            ResolverPopulation(
                self,
                "clients",
                self.route53,
                self.regional,
                config.clients.count,
                max_ttl=config.clients.max_ttl,
                request_rate=config.clients.request_rate or None,
            )
            if config.clients.count
            else None
        )
        self.active_deletions: list[str] = []
        self.repairs = 0
        self._world: World | None = None

    # -- state and observation -------------------------------------------------------------
    def world(self) -> World:
        """The shared state the protocol reads: newest plan and the master zone."""
        latest, master = self.planner.latest, self.route53.master
        world = self._world
        if world is None or world.latest != latest or world.zone is not master:
            world = self._world = World(latest, master)  # a value: reused while unchanged
        return world

    def resolver(self, max_ttl: float = 86400.0) -> CachingResolver:
        """A caching stub resolver bound to this zone's name servers (for other subsystems)."""
        env = self.env
        return CachingResolver(self.route53, lambda: env.now, max_ttl)

    def _observe(self, zone: ZoneState) -> None:
        """After each commit: the regional record's addresses and generation (master state)."""
        follows = zone.version == self._version + 1 and zone.changed is not None
        self._version = zone.version
        if follows and self._depends.isdisjoint(zone.changed):
            return  # the commit touched nothing the regional answer depends on
        self._depends = set()
        count = sum(len(r.data) for r in zone.answers(self.regional, A, self._depends))
        was = self.regional_addresses.current
        self.regional_addresses.set(count)
        self.regional_generation.set(self.protocol.active_generation(zone, self.layout.regional))
        if count == 0 and was != 0:
            g = self.protocol.active_generation(zone, self.layout.regional)
            self.event("regional_record_empty", f"{self.regional} -> g{g}: no addresses")
        elif count and was == 0:
            self.event("regional_record_restored", f"{self.regional}: {count} addresses")

    def observe_cleanup(self, enactor: Enactor, intent: Intent) -> None:
        """After a clean-up commit: did it delete a plan an endpoint points at?"""
        zone, protocol = self.route53.master, self.protocol
        for i in protocol.deleted_active(zone):
            g = protocol.active_generation(zone, i)
            label = self.layout.labels[i]
            if f"{label}:g{g}" in self.active_deletions:
                continue
            self.active_deletions.append(f"{label}:g{g}")
            enactor.counts["active_deletions"] += 1
            enactor.event("active_plan_deleted", f"{intent.detail}: g{g} was active on {label}")

    # -- operator actions --------------------------------------------------------------------
    def actions(self) -> list[Action]:
        return [
            Action(
                "dns_manual_repair",
                self._repair,
                RepairParams,
                "Write a plan's records for every endpoint by hand (no lock, no check), "
                "optionally disabling the automation.",
            ),
            Action(
                "dns_break_endpoint",
                lambda _p: self._break_endpoint(),
                NoParams,
                "Fault injection: delete the regional endpoint's active plan records, as the "
                "race's clean-up does: it resolves to no addresses and automation cannot repair "
                "it (every later apply is refused) until `dns_manual_repair`.",
            ),
            Action(
                "dns_automation_disable",
                lambda _p: self._set_automation(False),
                NoParams,
                "Stop the Planner and every Enactor (a transaction in flight still commits).",
            ),
            Action(
                "dns_automation_enable",
                lambda _p: self._set_automation(True),
                NoParams,
                "Start the Planner and the Enactors again.",
            ),
        ]

    def _break_endpoint(self) -> None:
        zone, i = self.route53.master, self.layout.regional
        g = self.protocol.active_generation(zone, i)
        records = zone.group(self.layout.plan_name(i, g), A)
        if not records:
            self.event("dns_break_endpoint", f"{self.regional}: g{g} has no records already")
            return
        comment = f"fault injection: delete plan g{g} of {self.layout.labels[i]}"
        self.route53.commit(ChangeBatch.of([delete(r) for r in records], comment=comment))
        self.event("dns_break_endpoint", comment)

    def _repair(self, params: RepairParams) -> None:
        batch = self.protocol.repair(self.world(), params.generation)
        self.route53.commit(batch)
        self.repairs += 1
        self.event("dns_manual_repair", batch.comment)
        if params.disable_automation:
            self._set_automation(False)

    def _set_automation(self, enabled: bool) -> None:
        if enabled != self.automation_enabled:
            self.automation_enabled = enabled
            self.event("dns_automation_" + ("enabled" if enabled else "disabled"))

    # -- results -------------------------------------------------------------------------------
    def detectors(self) -> dict[str, Detector]:
        scope, clients = self.scope, None if self.clients is None else self.clients.scope

        def empty(results: Results) -> float | None:
            return results.first_level_time(scope, "regional_addresses", lambda v: v == 0)

        def restored(results: Results) -> float | None:
            t = empty(results)
            if t is None:
                return None
            return results.first_level_time(scope, "regional_addresses", lambda v: v > 0, t)

        def failures(results: Results) -> float | None:
            if clients is None:
                return None
            return results.first_level_time(clients, "failing", lambda v: v > 0)

        def recovered(results: Results) -> float | None:
            t = failures(results)
            if t is None:
                return None
            return results.first_level_time(clients, "failing", lambda v: v == 0, t)

        return {
            "dns_record_empty": empty,
            "dns_client_failures_start": failures,
            "dns_restored": restored,
            "dns_clients_recovered": recovered,
        }

    def _totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for enactor in self.enactors:
            for k, v in enactor.counts.items():
                totals[k] = totals.get(k, 0) + v
        return totals

    def statistics(self, results: Results) -> dict[str, Any]:
        totals = self._totals()
        end = results.end
        empty_s = self.regional_addresses.duration_where(lambda v: v == 0, end)
        stats: dict[str, Any] = {
            "plans_generated": self.planner.latest - self.config.initial_generation,
            "enactor_runs": totals["runs"],
            "enactor_runs_done": totals["runs_done"],
            "enactor_runs_failed": totals["runs_failed"],
            "stale_applies": totals["stale_applies"],
            "active_plans_deleted": totals["active_deletions"],
            "lock_losses": totals["lock_losses"],
            "lock_waits": totals["lock_waits"],
            "route53_commits": self.route53.commits,
            "regional_empty_s": round(empty_s, 1),
            "manual_repairs": self.repairs,
        }
        if self.clients is not None:
            failing = self.clients.failing
            n = self.clients.clients
            stats.update(
                clients=n,
                client_failing_peak=int(max(failing.values, default=0)),
                client_failure_s=round(failing.duration_where(lambda v: v > 0, end), 1),
                client_failing_mean_fraction=round(
                    failing.time_weighted_mean(0.0, end) / n if end > 0 else 0.0, 4
                ),
                client_queries=self.clients.queries,
            )
        return stats

    def impact(self, results: Results) -> dict[str, Any]:
        end = results.end
        empty = self.regional_addresses.duration_where(lambda v: v == 0, end)
        out: dict[str, Any] = {"regional_record_empty_minutes": round(empty / 60, 1)}
        if self.clients is not None and self.clients.clients:
            failing, n = self.clients.failing, self.clients.clients
            out["client_error_minutes"] = round(
                failing.duration_where(lambda v: v > 0, end) / 60, 1
            )
            peak = max(failing.values, default=0)
            out["peak_failing_fraction"] = round(peak / n, 4) if not math.isnan(peak) else 0.0
        return {"dynamodb_dns": out}

    # -- what the report shows ---------------------------------------------------------------
    def plots(self) -> list[Plot]:
        full = self.layout.load_balancers * self.layout.addresses_per_load_balancer
        regional = self.regional.to_text(omit_final_dot=True)
        health = [Series(self.scope, "regional_addresses", "DynamoDB record", health=(full, 0))]
        record = [Series(self.scope, "regional_addresses", f"addresses of {regional}")]
        if self.clients is not None:
            n = self.clients.clients
            health.append(
                Series(self.clients.scope, "failing", "DynamoDB clients (DNS)", health=(0, n))
            )
            record.append(
                Series(self.clients.scope, "failing", f"clients failing (of {n})", axis="right")
            )
        generations = [
            Series(self.planner.scope, "generation", "Planner: newest plan"),
            Series(self.scope, "regional_generation", "regional record's plan"),
        ] + [
            Series(e.scope, "plan_generation", f"Enactor {e.index}: plan taken")
            for e in self.enactors
        ]
        return [
            Plot(
                key="dynamodb-dns-health",
                title="DynamoDB DNS",
                series=tuple(health),
                kind="health",
                order=0,
            ),
            Plot(
                key="dns-record",
                title="Regional DNS record and client resolution failures",
                series=tuple(record),
                ylabel="addresses",
                y2label="clients",
                caption="Clients fail one record TTL after the record empties (their cached "
                "answers expire) and recover only as their cached negative answers expire after "
                "the repair.",
                order=10,
            ),
            Plot(
                key="dns-generations",
                title="Plan generations: the Planner, the regional record, each Enactor",
                series=tuple(generations),
                ylabel="plan generation",
                caption="A delayed Enactor works on a plan far behind the Planner's newest; when "
                "it applies it, the regional record's generation falls back.",
                order=11,
            ),
        ]

    def switches(self) -> list[Switch]:
        c = self.config
        return [
            Switch(
                "Enactor apply-time version check",
                c.apply_version_check,
                "Compare-and-set the endpoint's plan generation inside the apply transaction, so "
                "an older plan never overwrites a newer one",
                self.scope,
                "dynamodb_dns.apply_version_check",
            ),
            Switch(
                "Clean-up protects the active plan",
                c.cleanup_protects_active,
                "Make the clean-up transaction refuse to delete a plan an endpoint points at",
                self.scope,
                "dynamodb_dns.cleanup_protects_active",
            ),
        ]

    def links(self) -> list[Link]:
        """The causal chain of the race (core.views.Link)."""
        c = self.config
        negative = format_duration(min(c.soa_ttl, c.soa_minimum))
        return [
            Link(
                "event:enactor_lock_lost",
                "event:enactor_stale_apply",
                "the delayed Enactor gets through with a plan it read long ago",
            ),
            Link(
                "event:enactor_stale_apply",
                "event:active_plan_deleted",
                f"another Enactor's clean-up deletes plans {c.enactors.cleanup_threshold} or "
                "more generations old, the one just applied among them",
            ),
            Link(
                "event:active_plan_deleted",
                "milestone:dns_record_empty",
                "the regional record points at a deleted plan: no addresses",
            ),
            Link(
                "milestone:dns_record_empty",
                "milestone:dns_client_failures_start",
                f"clients' cached answers expire (record TTL {format_duration(c.record_ttl)})",
            ),
            Link(
                "milestone:dns_record_empty",
                "event:enactor_run_failed",
                "Route 53 refuses every later apply: automation cannot repair it",
            ),
            Link(
                "action:dns_manual_repair",
                "milestone:dns_restored",
                "operators write the records by hand",
            ),
            Link(
                "milestone:dns_restored",
                "milestone:dns_clients_recovered",
                f"clients' cached negative answers expire (min(SOA TTL, SOA minimum) = {negative})",
            ),
        ]


def build(parent: Component, config: Config) -> DynamoDbDns:
    """Build the automation under `parent` (scope `<parent>.dynamodb_dns`) and start it."""
    return DynamoDbDns(parent, config)
