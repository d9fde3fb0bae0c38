"""EC2 (the first cascade of the us-east-1 outage): section `ec2:`, component `region.ec2`.

Children: `dwfm` (DropletWorkflow Manager: hosts, leases, state checks through DynamoDB's DNS),
`network_manager` (propagation of network configuration) and `launches` (the launch API).
This component wires them: a launch, a termination or a network change of a running instance
hands Network Manager its work, held on the droplet's batch while the batch has no lease and
released when DWFM leases it again; an instance
whose propagation lands is published as network ready on `instance_feed` (the contract with NLB
and services, `subsystems.instances`), and network-appliance changes other subsystems ask for on
that feed (an NLB's nodes) go to Network Manager at once.

Needs the `dynamodb_dns` section: DWFM's state checks resolve the DynamoDB endpoint through
caching resolvers of that zone (one per DWFM host). The model, its parameters and its
milestones are described in docs/ec2.md.
"""

from __future__ import annotations

import random
from typing import Any

from simulation.core.component import Component
from simulation.core.errors import ScenarioError
from simulation.core.results import Results
from simulation.core.units import format_duration
from simulation.core.views import Link, Plot, Series, Switch
from simulation.primitives.memory import GIB
from simulation.subsystems.instances import InstanceFeed

from .config import Config
from .dwfm import Dwfm
from .fleet import Batch, Fleet
from .launches import Launches, Placed
from .network_manager import LAUNCH, NetworkManager, Propagation

__all__ = ["Config", "Ec2", "build"]


class Ec2(Component):
    """The EC2 control plane of one region (see module docstring)."""

    def __init__(self, parent: Component, config: Config) -> None:
        dns = parent.find(f"{parent.scope}.dynamodb_dns")
        if dns is None or not hasattr(dns, "resolver"):
            raise ScenarioError(
                "EC2 needs the `dynamodb_dns` section: DWFM's state checks read DynamoDB "
                f"through its endpoint {config.dynamodb_endpoint} (add a `dynamodb_dns:` "
                "section)",
                key="ec2",
            )
        super().__init__(parent, "ec2")
        self.config = config
        self.instance_feed = InstanceFeed()
        self.fleet = Fleet(config)
        self.dwfm = Dwfm(self, config, self.fleet, dns.resolver, self._release_held)
        self.network_manager = NetworkManager(
            self, config.network_manager, self._launch_ready, self._route_change
        )
        self.launches = Launches(
            self,
            config.launches,
            self.fleet,
            self.instance_feed,
            self._propagate,
            self.dwfm.state_change,
            self.dwfm.scale_intake,
        )
        self.instance_feed.serve_network_changes(self.network_manager.appliance_changes)
        self.instance_feed.serve_replacements(self.launches.replace)

    # -- wiring between the parts ------------------------------------------------------------
    def _propagate(self, placed: Placed, kind: str) -> None:
        self._hand_over(Propagation(kind, placed), placed.batch)

    def _route_change(self, prop: Propagation, rng: random.Random) -> None:
        """A network change for a running instance, on a droplet drawn uniformly."""
        fleet = self.fleet
        droplet = int(rng.random() * fleet.droplets)
        batch = fleet.batches[droplet // self.config.fleet.batch_size]
        if self.config.network_manager.hold_background:
            self._hand_over(prop, batch)
        else:
            self.network_manager.submit(prop)

    def _hand_over(self, prop: Propagation, batch: Batch) -> None:
        if batch.leased:
            self.network_manager.submit(prop)
        else:
            batch.pending.append(prop)
            self.network_manager.held += 1

    def _release_held(self, batch: Batch) -> None:
        self.launches.release_terminations(batch)
        if batch.pending:
            held, batch.pending = batch.pending, []
            self.network_manager.held -= len(held)
            for prop in held:
                self.network_manager.submit(prop)

    def _launch_ready(self, prop: Propagation) -> None:
        if prop.kind == LAUNCH:
            self.launches.network_ready(prop.subject)

    def launch_error_rate(self) -> float:
        """Share of launch calls that failed in the last window (for services)."""
        return self.launches.error_rate

    # -- report ------------------------------------------------------------------------------
    def plots(self) -> list[Plot]:
        d, nm, la = self.dwfm.scope, self.network_manager.scope, self.launches.scope
        c = self.config
        latency = c.network_manager.backlog_latency
        return [
            Plot(
                "ec2-health",
                "EC2",
                (
                    Series(d, "lost", "DWFM leases", health=(0, self.fleet.droplets)),
                    Series(
                        nm, "propagation_latency", "Network Manager", health=(latency, 6 * latency)
                    ),
                    Series(
                        la, "success_share", "EC2 launches", health=(c.launches.normal_success, 0.5)
                    ),
                ),
                kind="health",
                order=1,
            ),
            Plot(
                "ec2-leases",
                "DWFM leases",
                (
                    Series(d, "leased", "droplets leased"),
                    Series(d, "lost", "droplets without a lease"),
                ),
                ylabel="droplets",
                caption="Leases time out while state checks cannot reach DynamoDB and come back "
                "only as fast as DWFM completes re-establishment work within its deadline.",
                order=30,
            ),
            Plot(
                "dwfm-queue",
                "DWFM queue depth and memory",
                (
                    Series(d, "queue_depth", "items held (all hosts)"),
                    Series(
                        d, "working_set_max", "largest working set (GiB)", "right", "line", 1 / GIB
                    ),
                ),
                ylabel="items",
                y2label="GiB",
                caption="A growing queue grows each host's working set; past its memory every "
                "item pays major faults, so the queue grows faster. Restarts empty both.",
                order=31,
            ),
            Plot(
                "dwfm-goodput",
                "DWFM goodput",
                (
                    Series(d, "goodput", "droplets renewed or re-leased per s"),
                    Series(d, "timeout_share", "share of attempts timing out", "right"),
                ),
                ylabel="droplets/s",
                y2label="share",
                caption="Congestive collapse: nearly every attempt times out and goodput stays "
                "near zero after DynamoDB is back, until load is shed.",
                order=32,
            ),
            Plot(
                "nm-backlog",
                "Network Manager backlog",
                (
                    Series(nm, "backlog", "queued"),
                    Series(nm, "deferred", "deferred (reduced load)"),
                    Series(nm, "held", "held (droplet without lease)"),
                    Series(
                        nm,
                        "propagation_latency",
                        "launch propagation latency (min)",
                        "right",
                        "line",
                        1 / 60,
                    ),
                ),
                ylabel="propagations",
                y2label="minutes",
                caption="Work held during the event lands when DWFM recovers; new instances "
                "wait for their network configuration behind it.",
                order=33,
            ),
            Plot(
                "ec2-launches",
                "Launch calls",
                (
                    Series(la, "ok", "ok /s"),
                    Series(la, "throttled", "request limit exceeded /s"),
                    Series(la, "insufficient_capacity", "insufficient capacity /s"),
                    Series(la, "state_change_timeout", "state change timed out /s"),
                    Series(la, "state_change_failed", "state change failed /s"),
                    Series(la, "success_share", "success share", "right"),
                ),
                ylabel="calls/s",
                y2label="share",
                caption="Without leases no droplet takes a launch; a launch is a state change "
                "DWFM performs, which times out while DWFM is collapsed; throttles then limit "
                "calls until they are relaxed.",
                order=34,
            ),
        ]

    def switches(self) -> list[Switch]:
        limit = self.config.dwfm.queue.max_waiting
        return [
            Switch(
                "DWFM admission by waiting-queue size",
                limit is not None,
                "Limit incoming DWFM work by the size of the waiting queue, so admitted lease "
                "work finishes within its deadline and the rest fails fast",
                self.dwfm.scope,
                "ec2.dwfm.queue.max_waiting",
            )
        ]

    def links(self) -> list[Link]:
        """The causal chain of the EC2 cascade (core.views.Link)."""
        d = self.config.dwfm
        lease = format_duration(d.lease.duration)
        timeout = format_duration(d.establish_retry.attempt_timeout or 0.0)
        return [
            Link(
                "milestone:dns_record_empty",
                "milestone:dwfm_state_checks_failing",
                "state checks resolve DynamoDB through each host's cache; cached answers expire",
            ),
            Link(
                "milestone:dns_restored",
                "milestone:dwfm_congestive_collapse",
                f"leases unrenewed for {lease} have expired; when DynamoDB answers again every "
                f"droplet without a lease needs re-establishment at once, FIFO waits pass the "
                f"{timeout} deadline, timed-out work is served anyway and queued again, the "
                "working set outgrows memory",
                recovers=False,
            ),
            Link(
                "action:dwfm_restart_hosts",
                "milestone:dwfm_leases_all_restored",
                "restarts empty the queues and the working sets",
            ),
            Link(
                "action:dwfm_throttle",
                "milestone:dwfm_leases_all_restored",
                "throttled re-establishment finishes within its deadline",
            ),
            Link(
                "action:dwfm_admission",
                "milestone:dwfm_leases_all_restored",
                "admission by queue size keeps the wait under the deadline",
            ),
            Link(
                "action:dwfm_throttle",
                "milestone:nm_backlog_start",
                "network work held on droplets without a lease lands on Network Manager as "
                "they are leased again",
                recovers=False,
            ),
            Link(
                "milestone:dwfm_leases_all_restored",
                "milestone:nlb_hc_failures_start",
                "launches waited behind the lease work in DWFM's intake; now they land, and "
                "their instances join NLBs before Network Manager propagated their network",
                recovers=False,
            ),
            Link(
                "action:nm_reduce_load",
                "milestone:nm_backlog_cleared",
                "non-urgent propagation waits behind launches",
            ),
            Link(
                "milestone:nm_backlog_start",
                "milestone:nm_backlog_cleared",
                "the queued work drains at Network Manager's spare capacity",
                recovers=True,
            ),
            Link(
                "action:ec2_relax_throttles",
                "milestone:ec2_launches_normal",
                "the launch throttle steps up until it no longer rejects calls",
            ),
        ]

    def impact(self, results: Results) -> dict[str, Any]:
        end = results.end
        if end <= 0.0:
            return {}
        share = results.level(self.launches.scope, "success_share")
        lost = results.level(self.dwfm.scope, "lost")
        latency = results.level(self.network_manager.scope, "propagation_latency")
        normal = self.config.launches.normal_success
        out: dict[str, Any] = {
            "launch_error_minutes": round(share.duration_where(lambda v: v < normal, end) / 60, 1)
            if share
            else 0.0,
            "peak_launch_error_rate": round(1.0 - min(share.values, default=1.0), 4)
            if share
            else 0.0,
            "droplets_without_lease_peak": int(max(lost.values, default=0)) if lost else 0,
            "lease_lost_droplet_hours": round(lost.time_weighted_mean(0.0, end) * end / 3600, 1)
            if lost
            else 0.0,
            "nm_latency_peak_minutes": round(max(latency.values, default=0.0) / 60, 1)
            if latency
            else 0.0,
        }
        return {"ec2": out}


def build(parent: Component, config: Config) -> Ec2:
    """Build EC2 under `parent` (scope `<parent>.ec2`); needs `<parent>.dynamodb_dns`."""
    return Ec2(parent, config)
