"""Network Load Balancers (the second wave of the us-east-1 outage): section `nlb:`.

NLBs have a node in each of their AZs, published under their DNS name (DNS primitive: a
Route 53-like zone, 60 s TTL), and targets per AZ: the fleet present at the start plus instances
launched during the run, taken from an `InstanceFeed` - the EC2 subsystem's when the scenario has
one (`region.ec2`), else a scripted launcher's (`launcher`), the NLB not knowing which. A launched
instance is registered as a target of an NLB of its AZ (as an Auto Scaling group would) and can be
reached only once its network state has propagated. A target taken out of service or put back
reconfigures its NLB's nodes, which are network appliances: with EC2 those changes are Network
Manager work (`targets.verdicts_reconfigure_nodes`), so flapping loads the propagation that new
targets wait for.

The health-check subsystem (`checker`, one worker pool per AZ, `checker.py`) checks nodes and
targets. With the 2025 behaviour a new target is in service at once, before its network state
has propagated: its checks fail though it is healthy, it is taken out, and put back once checks
pass - it flaps. Each flap costs the checker re-checks and a DNS update; a checker pushed past its
capacity finishes checks late, late checks count as failures, healthy targets and nodes flap too,
and AZs whose targets all look unhealthy are failed over in DNS (a whole AZ's capacity out).
Where the remaining AZs cannot carry the demand, new connections fail (`balancer.py`).

With `targets.replace_unhealthy` the groups are Auto Scaling groups with ELB health checks: a
launched target still unhealthy when its grace period ends is replaced through the feed (EC2
terminates it and launches one for the same NLB).

Operator actions: `nlb_failover_disable`, `nlb_failover_enable`. The fix, velocity control, is a
design switch (`velocity_control.enabled`): a cap on the capacity one NLB may remove by failover
per interval.

Milestones (defined precisely in docs/nlb.md):
- `nlb_hc_failures_start`: the first time a running target is taken out of service by failed
  health checks (every target in the model is itself healthy, so every such removal is false:
  its network had not propagated, or its checks were late);
- `nlb_connection_errors_start`: the first time an NLB's error rate exceeds `errors.threshold`;
- `nlb_errors_resolved`: after that, the first time no NLB is above the threshold, staying so
  for `errors.resolved_after`;
- `nlb_checker_degraded`: the first sampling window in which a checker cell was late on
  `checker.degraded_late_share` of its checks;
- `nlb_first_az_failover`: the first AZ taken out of DNS.
Impact: connection-error minutes and peak error rate per NLB, and their totals.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from simulation.core.component import Action, Component, Detector
from simulation.core.errors import UserInputError
from simulation.core.results import Results
from simulation.core.views import Link, Plot, Series, Switch
from simulation.primitives.dns import AuthoritativeDns, ZoneState, name, soa_record
from simulation.subsystems.instances import Instance, InstanceFeed

from .balancer import LoadBalancer
from .checker import UNHEALTHY, HealthChecker, Subject
from .config import Config
from .launcher import ScriptedLauncher

__all__ = ["Config", "LoadBalancer", "Nlb", "build"]


class Nlb(Component):
    """Every NLB of the scenario, their zone, the health checkers and the instance feed."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "nlb")
        self.config = config
        self.failover_enabled = config.failover.enabled
        self._off_returns_targets = config.failover.off_returns_targets
        self.az_index = {az: i for i, az in enumerate(config.azs)}
        self._origin = config.dns.zone.rstrip(".")
        self._initial_id = 0
        self.targets: dict[Instance, Subject] = {}
        self.deregistrations = 0
        self.reconfigure_nodes = config.targets.verdicts_reconfigure_nodes
        self.node_changes_requested = 0
        self.feed: InstanceFeed | None = None
        self.registrations = 0
        self.replace_unhealthy = config.targets.replace_unhealthy
        self.replacements = 0
        self.replacements_network_ready = 0
        """Replaced targets whose network had propagated (false verdicts of a late checker)."""
        self.skipped_launches = 0
        self.unhealthy_targets = self.level("unhealthy_targets", "targets", initial=0)
        self.azs_out = self.level("azs_out_of_dns", "AZs", initial=0)
        cells = config.checker.cells_per_az
        self.checkers = {
            label: HealthChecker(
                self, label, az, config.checker, config.health_check, self._transition
            )
            for az in config.azs
            for label in ([az] if cells == 1 else [f"{az}-{k}" for k in range(cells)])
        }
        self.balancers: list[LoadBalancer] = []
        number = 0
        for group in config.load_balancers:
            for k in range(group.count):
                lb = LoadBalancer(self, group, f"{group.name}-{k}", config.group_azs(group), number)
                self.balancers.append(lb)
                number += 1
        self._by_name = {lb.qname: lb for lb in self.balancers}
        zone = ZoneState.create(
            soa_record(name(self._origin), ttl=900, minimum=60),
            tuple(lb.record(lb.published()) for lb in self.balancers),
        )
        self.route53 = AuthoritativeDns(self, "route53", zone, config.dns.propagation)
        self.route53.watch_served(self._on_served)
        self.demand = sum(lb.demand for lb in self.balancers)
        self.level("demand", "connections/s", initial=self.demand)
        self._failed = 0.0
        self._capacity = 0.0
        self._with_errors = 0
        self._error_level = self.level("error_rate", "", initial=0.0)
        self._capacity_level = self.level("capacity_in_dns", "connections/s")
        self._with_errors_level = self.level("nlbs_with_errors", "NLBs", initial=0)
        self.starting = True
        for lb in self.balancers:
            lb.start()
        self.starting = False
        self._capacity_level.set(round(self._capacity, 6))
        self.launcher: ScriptedLauncher | None = None
        ec2 = parent.find("region.ec2")
        feed: InstanceFeed | None = None
        if ec2 is not None and getattr(ec2, "instance_feed", None) is not None:
            if config.launcher is not None:
                raise UserInputError(
                    "nlb.launcher: this scenario has EC2 (region.ec2), whose instances drive the "
                    "NLB targets; remove nlb.launcher"
                )
            feed = ec2.instance_feed
        elif config.launcher is not None:
            self.launcher = ScriptedLauncher(self, config.launcher, config.azs)
            feed = self.launcher.instance_feed
        self.feed = feed
        if feed is not None:
            feed.subscribe(self._on_launch, self._on_ready, self._on_terminate)
        self._rr = dict.fromkeys(config.azs, 0)
        self._in_az = {az: [lb for lb in self.balancers if az in lb.zones] for az in config.azs}
        self.env.process(self._sampler())

    # -- helpers ---------------------------------------------------------------------------------
    def qname(self, label: str) -> Any:
        return name(f"{label}.{self._origin}")

    def checker_for(self, number: int, az: str) -> HealthChecker:
        """The checker cell of NLB `number` in `az` (an NLB's AZs land in different cells)."""
        cells = self.config.checker.cells_per_az
        if cells == 1:
            return self.checkers[az]
        return self.checkers[f"{az}-{(number + self.az_index[az]) % cells}"]

    def next_initial_id(self) -> int:
        """Ids of the instances present at the start (negative: launched before the run)."""
        self._initial_id -= 1
        return self._initial_id

    # -- instances -----------------------------------------------------------------------------
    def _on_launch(self, instance: Instance) -> None:
        if instance.preexisting:
            return  # running before the run: the NLBs' own initial targets stand for them
        lb = self._group_for(instance)
        if lb is None:
            self.skipped_launches += 1
            return
        self.registrations += 1
        lb.register(instance, True, self.rng.random() * self.config.health_check.interval)

    def _group_for(self, instance: Instance) -> LoadBalancer | None:
        """The NLB a launched instance joins (None: it joins none): an Auto Scaling
        replacement its group's; else, for `attach_share` of launches, the NLB of its AZ
        furthest below `targets_per_az`, or the next in turn."""
        group = instance.group
        if isinstance(group, LoadBalancer) and instance.az in group.zones:
            return group
        lbs = self._in_az.get(instance.az)
        share = self.config.targets.attach_share
        if not lbs or (share < 1.0 and self.rng.random() >= share):
            return None
        lb = max(lbs, key=lambda b: b.group.targets_per_az - b.zones[instance.az].registered)
        if lb.group.targets_per_az - lb.zones[instance.az].registered <= 0:
            i = self._rr[instance.az]
            self._rr[instance.az] = i + 1
            lb = lbs[i % len(lbs)]
        return lb

    def _on_ready(self, instance: Instance) -> None:
        target = self.targets.get(instance)
        if target is not None:
            target.lb.on_ready(target)

    def _on_terminate(self, instance: Instance) -> None:
        target = self.targets.get(instance)
        if target is not None:
            target.lb.deregister(target)

    def unhealthy_verdict(self, target: Subject) -> None:
        """An Auto Scaling group sees a launched target unhealthy: replace it once its grace
        period is over (at once, or when it ends if the verdict still stands)."""
        if not target.launched:
            return  # the fleet at the start: not EC2's instances one by one
        wait = target.instance.launched_at + self.config.targets.health_check_grace - self.env.now
        if wait > 0:
            self.env.call_in(wait, self._grace_over, target)
        else:
            self._replace(target)

    def _grace_over(self, call: Any) -> None:
        target: Subject = call.value
        if target.active and target.state == UNHEALTHY:
            self._replace(target)

    def _replace(self, target: Subject) -> None:
        if self.feed is not None and self.feed.request_replacement(target.instance, target.lb):
            self.replacements += 1
            self.replacements_network_ready += target.instance.network_ready

    def node_changes(self, count: int) -> None:
        """A target went out of or back into service: `count` nodes to reconfigure, through
        the network-state propagation of whoever publishes the instances (EC2)."""
        self.node_changes_requested += count
        if self.feed is not None:
            self.feed.request_network_changes(count)

    # -- health and DNS ------------------------------------------------------------------------
    def _transition(self, subject: Subject, old: int, new: int) -> None:
        subject.lb.on_transition(subject, old, new)

    def _on_served(self, state: ZoneState) -> None:
        changed = state.changed
        if changed is None:
            for lb in self.balancers:
                lb.on_served()
            return
        for qname, _rdtype in changed:
            lb = self._by_name.get(qname)
            if lb is not None:
                lb.on_served()

    def lb_changed(self, lb: LoadBalancer, error: float, capacity: float) -> None:
        """An NLB's error rate or capacity in DNS changed (aggregates, levels)."""
        threshold = self.config.errors.threshold
        self._failed += lb.demand * (error - lb.error_rate)
        self._capacity += capacity - lb.capacity
        was, now = lb.error_rate > threshold, error > threshold
        if was != now:
            self._with_errors += 1 if now else -1
            self._with_errors_level.set(self._with_errors)
        if self.starting:
            return
        self._error_level.set(round(max(self._failed, 0.0) / self.demand, 6))
        self._capacity_level.set(round(self._capacity, 6))

    # -- operator actions ----------------------------------------------------------------------
    def actions(self) -> list[Action]:
        return [
            Action(
                "nlb_failover_disable",
                lambda _p: self.set_failover(False),
                doc="Stop automatic failover: every registered target back in service and every "
                "AZ node back in DNS; health checks go on but change nothing.",
            ),
            Action(
                "nlb_failover_enable",
                lambda _p: self.set_failover(True),
                doc="Resume automatic failover: verdicts take targets and AZs out again.",
            ),
        ]

    @property
    def verdicts_move_targets(self) -> bool:
        """Whether health verdicts take targets out of (and put them back in) service now."""
        return self.failover_enabled or not self._off_returns_targets

    def set_failover(self, enabled: bool) -> None:
        if enabled == self.failover_enabled:
            return
        self.failover_enabled = enabled
        self.event("failover_" + ("enabled" if enabled else "disabled"))
        for lb in self.balancers:
            lb.failover_switched()

    # -- sampled series --------------------------------------------------------------------------
    def _sampler(self) -> Generator[Any, Any, None]:
        every = self.config.checker.sample_every
        while True:
            yield self.env.timeout(every)
            for checker in self.checkers.values():
                checker.sample(every)

    def connection_error_rate(self, name: str) -> float:
        """Share of new connections failing now over the NLBs named `name`: a group's name
        (`api`: its NLBs weighted by demand) or one NLB's label (`api-0`). For services."""
        lbs = [lb for lb in self.balancers if name in (lb.group.name, lb.label)]
        if not lbs:
            known = ", ".join(g.name for g in self.config.load_balancers)
            raise UserInputError(f"nlb: no load balancer named {name!r} (groups: {known})")
        demand = sum(lb.demand for lb in lbs)
        return sum(lb.demand * lb.error_rate for lb in lbs) / demand if demand else 0.0

    # -- results -------------------------------------------------------------------------------
    def detectors(self) -> dict[str, Detector]:
        scope, sustain = self.scope, self.config.errors.resolved_after

        def hc_failures(results: Results) -> float | None:
            return results.first_level_time(scope, "unhealthy_targets", lambda v: v > 0)

        def errors_start(results: Results) -> float | None:
            return results.first_level_time(scope, "nlbs_with_errors", lambda v: v > 0)

        def resolved(results: Results) -> float | None:
            t0 = errors_start(results)
            lvl = results.level(scope, "nlbs_with_errors")
            if t0 is None or lvl is None:
                return None
            quiet_since: float | None = None
            for start, stop, value in lvl.segments(results.end):
                if stop <= t0:
                    continue
                if value > 0:
                    quiet_since = None
                    continue
                quiet_since = start if quiet_since is None else quiet_since
                if stop - quiet_since >= sustain:
                    return quiet_since
            return None

        def degraded(results: Results) -> float | None:
            return min(
                (
                    t
                    for c in self.checkers.values()
                    if (t := results.first_event("checker_degraded", c.scope)) is not None
                ),
                default=None,
            )

        def first_failover(results: Results) -> float | None:
            return min(
                (
                    t
                    for lb in self.balancers
                    if (t := results.first_event("az_failover", lb.scope)) is not None
                ),
                default=None,
            )

        return {
            "nlb_hc_failures_start": hc_failures,
            "nlb_connection_errors_start": errors_start,
            "nlb_errors_resolved": resolved,
            "nlb_checker_degraded": degraded,
            "nlb_first_az_failover": first_failover,
        }

    def _per_lb(self, results: Results) -> dict[str, dict[str, float]]:
        end, threshold = results.end, self.config.errors.threshold
        out: dict[str, dict[str, float]] = {}
        for lb in self.balancers:
            level = results.level(lb.scope, "error_rate")
            assert level is not None
            failed = sum((t1 - t0) * v for t0, t1, v in level.segments(end)) * lb.demand
            out[lb.label] = {
                "error_minutes": round(level.duration_where(lambda v: v > threshold, end) / 60, 2),
                "peak_error_rate": round(max(level.values, default=0.0), 4),
                "failed_connections": round(failed),
            }
        return out

    def impact(self, results: Results) -> dict[str, Any]:
        per = self._per_lb(results)
        return {
            "nlb": {
                "error_minutes": round(sum(v["error_minutes"] for v in per.values()), 1),
                "peak_error_rate": max((v["peak_error_rate"] for v in per.values()), default=0),
                "nlbs_with_errors": sum(1 for v in per.values() if v["error_minutes"] > 0),
                "failed_connections": sum(v["failed_connections"] for v in per.values()),
                "per_nlb": per,
            }
        }

    def statistics(self, results: Results) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "nlbs": len(self.balancers),
            "registrations": self.registrations,
            "deregistrations": self.deregistrations,
            "launches_not_attached": self.skipped_launches,
            "dns_commits": self.route53.commits,
            "az_failovers": sum(lb.failovers for lb in self.balancers),
            "az_restores": sum(lb.restores for lb in self.balancers),
            "failovers_deferred": sum(lb.deferred for lb in self.balancers),
            "dns_fail_opens": sum(lb.fail_opens for lb in self.balancers),
            "node_changes": self.node_changes_requested,
            "replacements": self.replacements,
            "replacements_network_ready": self.replacements_network_ready,
        }
        ok = sum(lb.sampled_ok for lb in self.balancers)
        failed = sum(lb.sampled_failed for lb in self.balancers)
        stats["sampled_connections"] = ok + failed
        stats["sampled_connections_failed"] = failed
        level = results.level(self.scope, "error_rate")
        if level is not None and results.end > 0:
            stats["mean_error_rate"] = round(level.time_weighted_mean(0.0, results.end), 6)
        for az, checker in self.checkers.items():
            for key, value in checker.figures().items():
                stats[f"checker_{az}_{key}"] = value  # az: the cell's label
        if self.launcher is not None:
            stats.update({f"launcher_{k}": v for k, v in self.launcher.figures().items()})
        return stats

    def plots(self) -> list[Plot]:
        s = self.scope
        checkers = list(self.checkers.values())
        n = len(self.balancers)
        return [
            Plot(
                key="nlb-health",
                title="NLB",
                series=(Series(s, "nlbs_with_errors", "NLBs failing connections", health=(0, n)),),
                kind="health",
                order=20,
            ),
            Plot(
                key="nlb-capacity",
                title="NLB capacity in DNS vs demand, and connection errors",
                series=(
                    Series(s, "demand", "demand (new connections/s)"),
                    Series(s, "capacity_in_dns", "reachable capacity of the AZs in DNS"),
                    Series(s, "error_rate", "share of new connections failing", axis="right"),
                ),
                ylabel="connections/s",
                y2label="error rate",
                caption="Connections fail where an AZ failed over leaves the remaining AZs short "
                "of their NLB's demand; disabling failover puts every AZ back.",
                order=30,
            ),
            Plot(
                key="nlb-checker",
                title="Health checker: queue and late checks per AZ",
                series=(
                    *(Series(c.scope, "waiting", f"{c.label}: checks waiting") for c in checkers),
                    *(
                        Series(c.scope, "late_share", f"{c.label}: share late", axis="right")
                        for c in checkers
                    ),
                ),
                ylabel="items",
                y2label="share of checks late",
                caption="Flaps add re-checks and DNS updates; past its capacity the checker "
                "finishes checks late, and late checks fail.",
                order=31,
            ),
            Plot(
                key="nlb-flaps",
                title="Flaps and AZs out of DNS",
                series=(
                    *(Series(c.scope, "flaps_per_min", f"{c.label}: flaps/min") for c in checkers),
                    Series(s, "azs_out_of_dns", "AZs out of DNS (all NLBs)", axis="right"),
                    Series(s, "unhealthy_targets", "targets marked unhealthy", axis="right"),
                ),
                ylabel="flaps/min",
                y2label="count",
                caption="New targets whose network has not propagated flap first; a degraded "
                "checker makes healthy ones flap and fails AZs over.",
                order=32,
            ),
        ]

    def switches(self) -> list[Switch]:
        c = self.config
        return [
            Switch(
                "NLB failover velocity control",
                c.velocity_control.enabled,
                "Cap the capacity one NLB may remove by health-check AZ failover per interval",
                self.scope,
                "nlb.velocity_control.enabled",
            ),
            Switch(
                "New targets wait for passing health checks",
                not c.targets.new_targets_in_service,
                "Bring a new instance into service only after its health checks pass (its "
                "network state has propagated)",
                self.scope,
                "nlb.targets.new_targets_in_service",
            ),
            Switch(
                "Coalesced DNS updates in the health checker",
                c.checker.coalesce_dns_updates,
                "Coalesce an NLB's pending DNS updates so that flapping cannot multiply the "
                "checker's work",
                self.scope,
                "nlb.checker.coalesce_dns_updates",
            ),
        ]

    def links(self) -> list[Link]:
        propagated = []
        if self.reconfigure_nodes and self.launcher is None and self.feed is not None:
            propagated = [
                Link(
                    "milestone:nlb_hc_failures_start",
                    "milestone:nm_backlog_start",
                    "every target taken out of service or put back reconfigures each node of "
                    "its NLB through Network Manager; new targets then wait longer and flap too",
                    recovers=False,
                ),
                Link(
                    "action:nlb_failover_disable",
                    "milestone:nm_backlog_cleared",
                    "the checker catches up, flapping stops, the node changes drain",
                ),
            ]
        return [
            *propagated,
            Link(
                "milestone:nlb_hc_failures_start",
                "milestone:nlb_checker_degraded",
                "each flap costs the checker re-checks and a DNS update",
            ),
            Link(
                "milestone:nlb_checker_degraded",
                "milestone:nlb_first_az_failover",
                "checks late past their timeout count as failures",
            ),
            Link(
                "milestone:nlb_first_az_failover",
                "milestone:nlb_connection_errors_start",
                "the remaining AZs cannot carry the demand (cached answers expire after the TTL)",
            ),
            Link(
                "action:nlb_failover_disable",
                "milestone:nlb_errors_resolved",
                "every AZ back in DNS: clients spread over all AZs again within a TTL",
            ),
        ]


def build(parent: Component, config: Config) -> Nlb:
    """Build the NLBs under `parent` (scope `<parent>.nlb`) and start them."""
    return Nlb(parent, config)
