"""One Network Load Balancer: a node per AZ published in DNS, targets per AZ, sampled clients.

Data plane (cross-zone load balancing off, the NLB default): clients resolve the NLB's name and
spread their new connections over the addresses of their cached answer; the node of an AZ sends
each one to a registered target it can reach (NLB's passive health checks: a target whose
connections fail - its network state has not propagated - is avoided), each target taking up to
`target_capacity`; connections beyond that fail. For AZ `a` with demand share `s_a` and `U_a`
reachable targets, a new connection succeeds with probability `p_a = min(1, U_a * capacity /
(demand * s_a))` (0 with no reachable target), and the NLB's error rate is
`sum_a s_a * (1 - p_a)`: the level `error_rate`, recorded on every change. An AZ failed over in
DNS keeps its node and targets: it only stops getting the demand of clients that re-resolve.

The shares `s_a` come from a sampled client population: `clients.sampled` busy clients, each with
a `CachingResolver` (DNS primitive) that re-resolves as soon as its answer expires; between two
changes of the NLB's record every refresh returns the same answer, so a client is only woken when
the served record changes, at its next expiry (exact, and free while nothing changes). Sampled
connections (`clients.connections`) go through the connections primitive: a client pool opens a
connection to the chosen node (a connections `Server`), which accepts it with probability `p_a`:
the per-connection outcomes the error rate predicts.

Control plane: the health checker's verdicts decide what is published. Each change of an AZ's
healthy-target count by a verdict (or a registration that flips the AZ's DNS health), and each
change of its node's verdict, queues a DNS update on the AZ's checker cell. The update
re-evaluates the AZs and commits a change batch (UPSERT of the A record set) to the zone
(`AuthoritativeDns`) when the set in DNS changes: an AZ whose node is unhealthy or whose healthy
targets are below the DNS-failover threshold is removed - automatic AZ DNS failover - unless
velocity control has no budget left for its share of the NLB's capacity (a `TokenBucket`); if every
AZ is unhealthy all are published (DNS fails open, as Route 53 does).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

from simpy.events import URGENT

from simulation.core.component import Component
from simulation.primitives.connections import ClientPool, RequestResult, Server, ServerConfig
from simulation.primitives.connections.connection import S_CLOSED, Connection
from simulation.primitives.dns import A, CachingResolver, ChangeBatch, RecordSet, rdataset, upsert
from simulation.primitives.load import LoadProfile, PoissonArrivals, steps
from simulation.primitives.resilience.throttle import TokenBucket
from simulation.primitives.servers.service import ServiceTimeConfig
from simulation.subsystems.instances import Instance

from .checker import HEALTHY, INITIAL, UNHEALTHY, HealthChecker, Subject
from .config import LoadBalancerGroup

if TYPE_CHECKING:
    import dns.name

    from . import Nlb

_NODE_SERVER = ServerConfig(
    keepalive_timeout="350 s",  # NLB's idle timeout
    service=ServiceTimeConfig(distribution="deterministic", mean="1 ms"),
)


class NlbNode(Server):
    """An NLB node as a connections `Server`: it accepts a new connection with the probability
    that the connection reaches a reachable target with room (the AZ's `p`)."""

    def __init__(self, parent: Component, zone: AzGroup) -> None:
        super().__init__(parent, "node", _NODE_SERVER, index=zone.az)
        self.zone = zone
        self.failed = 0

    def accept(self, conn: Connection) -> bool:
        if self.accepting and self.rng.random() >= self.zone.p:
            conn.s_state = S_CLOSED  # the connection cannot be made (as a refused one)
            self.failed += 1
            return False
        return super().accept(conn)


class AzGroup:
    """An NLB's presence in one AZ: its node, its targets and their counts."""

    __slots__ = (
        "address",
        "az",
        "checker",
        "healthy",
        "in_dns",
        "node",
        "p",
        "ready",
        "server",
        "targets",
    )

    def __init__(self, az: str, address: str, checker: HealthChecker) -> None:
        self.az = az
        self.checker = checker
        """The checker cell that checks this node and these targets."""
        self.address = address
        self.targets: deque[Subject] = deque()
        """Registered targets, oldest first."""
        self.ready = 0
        """Registered targets whose network is ready."""
        self.healthy = 0
        """Registered targets the health checker says are healthy."""
        self.in_dns = True
        self.node: Subject | None = None
        self.server: NlbNode | None = None
        self.p = 1.0
        """Probability that a new connection through this node succeeds now."""

    @property
    def registered(self) -> int:
        return len(self.targets)


class SampledClient:
    """A client of the NLB with its own caching resolver and connection pool."""

    __slots__ = ("addresses", "azs", "last", "pool", "resolver", "scheduled")

    def __init__(self, resolver: CachingResolver, addresses: tuple[str, ...], last: float) -> None:
        self.resolver = resolver
        self.addresses = addresses
        self.azs: tuple[str, ...] = ()
        self.last = last
        """When its current answer was fetched (virtual before its first real query)."""
        self.scheduled = False
        self.pool: ClientPool | None = None


class LoadBalancer(Component):
    """One NLB (see module docstring)."""

    def __init__(
        self, nlb: Nlb, group: LoadBalancerGroup, label: str, azs: list[str], number: int
    ) -> None:
        super().__init__(nlb, "lb", label)
        self.nlb = nlb
        self.group = group
        self.label = label
        self.qname: dns.name.Name = nlb.qname(label)
        self.demand = group.demand
        self.capacity_per_target = group.target_capacity
        self.azs = azs
        self.zones: dict[str, AzGroup] = {}
        self.by_address: dict[str, AzGroup] = {}
        for az in azs:
            address = f"10.{nlb.az_index[az] + 1}.{number // 250}.{number % 250 + 1}"
            zone = AzGroup(az, address, nlb.checker_for(number, az))
            self.zones[az] = zone
            self.by_address[zone.address] = zone
        self.dns_update_queued = False
        self._retry_pending = False
        cfg = nlb.config
        v = cfg.velocity_control
        self.velocity = (
            TokenBucket(self.env, v.max_fraction / v.interval, v.max_fraction)
            if v.enabled
            else None
        )
        self.error_rate = 0.0
        self.capacity = 0.0
        self.failovers = 0
        self.restores = 0
        self.deferred = 0
        self.fail_opens = 0
        self._deferring: set[str] = set()
        self._error_level = self.level("error_rate", "", initial=0.0)
        self._dns_level = self.level("azs_in_dns", "AZs", initial=len(azs))
        self.clients: list[SampledClient] = []
        self._shares: dict[str, float] | None = None
        """Each AZ's share of the clients' answers (None: to be summed again)."""
        self.sampled_ok = 0
        self.sampled_failed = 0

    # -- building --------------------------------------------------------------------------------
    def start(self) -> None:
        """Nodes, the initial fleet (running, reachable, healthy), clients, sampled connections."""
        nlb, env = self.nlb, self.env
        rng = env.rng(self.scope, "phases")
        interval = nlb.config.health_check.interval
        for az, zone in self.zones.items():
            zone.node = Subject(self, az)
            zone.server = NlbNode(self, zone)
            zone.checker.add(zone.node, rng.random() * interval)
            for _ in range(self.group.targets_per_az):
                instance = Instance(nlb.next_initial_id(), az, 0.0, network_ready_at=0.0)
                self.register(instance, launched=False, first_check=rng.random() * interval)
        addresses = self.published()
        ttl = nlb.config.dns.ttl
        now = env.now
        ccfg = nlb.config.clients
        for i in range(ccfg.sampled):
            resolver = CachingResolver(nlb.route53, lambda: env.now, 86400.0)
            client = SampledClient(resolver, addresses, now + rng.random() * ttl - ttl)
            client.azs = tuple(self.by_address[a].az for a in addresses)
            client.pool = ClientPool(
                env, ccfg.client, env.rng(self.scope, f"client{i}"), self._node_for
            )
            self.clients.append(client)
        self._shares = None
        self.recompute()
        if ccfg.connections > 0:
            profile = LoadProfile(steps(("0 s", f"{ccfg.connections!r}/s")))
            arrivals = env.rng(self.scope, "connections")
            PoissonArrivals(env, profile, arrivals, self._sample_connection)

    def published(self) -> tuple[str, ...]:
        """Addresses of the AZs in DNS (what the master zone says), in AZ order."""
        return tuple(z.address for z in self.zones.values() if z.in_dns)

    def record(self, addresses: tuple[str, ...]) -> RecordSet:
        return RecordSet(self.qname, A, rdataset(A, round(self.nlb.config.dns.ttl), *addresses))

    # -- targets ---------------------------------------------------------------------------------
    def register(self, instance: Instance, launched: bool, first_check: float) -> Subject:
        nlb = self.nlb
        state = HEALTHY if not launched or nlb.config.targets.new_targets_in_service else INITIAL
        target = Subject(self, instance.az, instance, state, launched)
        target.in_service = state == HEALTHY or not nlb.verdicts_move_targets
        zone = self.zones[instance.az]
        was = self.zone_healthy(zone)
        zone.targets.append(target)
        if instance.network_ready_at is not None:
            zone.ready += 1
        if state == HEALTHY:
            zone.healthy += 1
        nlb.targets[instance] = target
        zone.checker.add(target, first_check)
        self._membership_changed(zone, was)
        return target

    def on_ready(self, target: Subject) -> None:
        zone = self.zones[target.az]
        zone.ready += 1
        if (
            target.launched
            and self.nlb.config.targets.keep_group_size
            and zone.registered > self.group.targets_per_az
            and zone.targets[0] is not target
        ):
            self.deregister(zone.targets[0])  # one for one, as a rolling replacement
        self.recompute()

    def deregister(self, target: Subject) -> None:
        if not target.active:
            return
        nlb = self.nlb
        zone = self.zones[target.az]
        zone.checker.remove(target)
        nlb.targets.pop(target.instance, None)
        was = self.zone_healthy(zone)
        zone.targets.remove(target)
        zone.ready -= target.instance.network_ready_at is not None
        nlb.deregistrations += 1
        if target.state == UNHEALTHY:
            nlb.unhealthy_targets.add(-1)
        if target.state == HEALTHY:
            zone.healthy -= 1
        self._membership_changed(zone, was)

    def _membership_changed(self, zone: AzGroup, was_healthy: bool) -> None:
        """A target joined or left: a DNS update only if the AZ's DNS health flipped."""
        if self.zone_healthy(zone) != was_healthy and not self.nlb.starting:
            self._health_changed(zone)
        else:
            self.recompute()

    def on_transition(self, subject: Subject, old: int, new: int) -> None:
        """A verdict changed (called by the checker)."""
        zone = self.zones[subject.az]
        if subject.instance is not None:
            if new == HEALTHY:
                zone.healthy += 1
            elif old == HEALTHY:
                zone.healthy -= 1
            self._forwarding(subject, new == HEALTHY or not self.nlb.verdicts_move_targets)
            if new == UNHEALTHY:
                self.nlb.unhealthy_targets.add(1)
                if self.nlb.replace_unhealthy:
                    self.nlb.unhealthy_verdict(subject)
            elif old == UNHEALTHY:
                self.nlb.unhealthy_targets.add(-1)
        self._health_changed(zone)

    def _forwarding(self, target: Subject, in_service: bool) -> None:
        """Put a target in or take it out of the nodes' forwarding state: with
        `verdicts_reconfigure_nodes`, one network change per node of the NLB."""
        if target.in_service == in_service:
            return
        target.in_service = in_service
        if self.nlb.reconfigure_nodes:
            self.nlb.node_changes(len(self.zones))

    def failover_switched(self) -> None:
        """Automatic failover turned off (every registered target back in service, unless
        `failover.off_returns_targets` is false) or on (targets whose verdict is not healthy
        out again); then the AZs' DNS."""
        follow = self.nlb.verdicts_move_targets
        for zone in self.zones.values():
            for target in zone.targets:
                self._forwarding(target, target.state == HEALTHY or not follow)
        self.apply_dns()

    def _health_changed(self, zone: AzGroup) -> None:
        if self.nlb.failover_enabled:
            zone.checker.submit_dns_update(self)
        self.recompute()

    # -- health rules ----------------------------------------------------------------------------
    def zone_healthy(self, zone: AzGroup) -> bool:
        """Whether the AZ passes the DNS-failover rules (node healthy, enough healthy targets)."""
        f = self.nlb.config.failover
        h, r = zone.healthy, zone.registered
        if zone.node is not None and zone.node.state != HEALTHY:
            return False
        if r == 0:
            return False
        return not (h < f.dns_min_healthy_targets or h * 100.0 < f.dns_min_healthy_percent * r)

    def share(self, zone: AzGroup) -> float:
        """The AZ's share of the NLB's capacity (registered targets)."""
        total = sum(z.registered for z in self.zones.values())
        return zone.registered / total if total else 1.0 / len(self.zones)

    # -- DNS ---------------------------------------------------------------------------------------
    def apply_dns(self) -> None:
        """Re-evaluate which AZs belong in DNS and commit the record if that changed."""
        zones = self.zones
        if not self.nlb.failover_enabled:
            self._publish(set(zones), "automatic failover disabled")
            return
        unhealthy = [az for az, z in zones.items() if not self.zone_healthy(z)]
        if len(unhealthy) == len(zones):
            if not all(z.in_dns for z in zones.values()):
                self.fail_opens += 1
                self.event("dns_fail_open", f"{self.label}: every AZ unhealthy, all published")
            self._publish(set(zones), "every AZ unhealthy: fail open")
            return
        desired = {az for az in zones if az not in unhealthy}
        for az in unhealthy:
            zone = zones[az]
            if not zone.in_dns:
                continue
            bucket = self.velocity
            if bucket is None or bucket.try_take(self.share(zone)):
                self._deferring.discard(az)
                continue
            desired.add(az)  # velocity control: no budget to remove this capacity now
            self.deferred += 1
            if az not in self._deferring:
                self._deferring.add(az)
                self.event("failover_deferred", f"{self.label} {az}: velocity control")
            wait = bucket.wait_time(self.share(zone))
            if math.isfinite(wait) and not self._retry_pending:
                self._retry_pending = True
                self.env.timeout(wait + 1e-6).callbacks.append(
                    lambda _ev, az=az: self._retry_deferred(az)
                )
        for az in zones:
            if az not in unhealthy:
                self._deferring.discard(az)
        self._publish(desired, "health")

    def _retry_deferred(self, az: str) -> None:
        self._retry_pending = False
        if self.nlb.failover_enabled:
            self.zones[az].checker.submit_dns_update(self)

    def _publish(self, desired: set[str], reason: str) -> None:
        changed = [az for az, z in self.zones.items() if (az in desired) != z.in_dns]
        if not changed:
            return
        for az in changed:
            zone = self.zones[az]
            zone.in_dns = az in desired
            if zone.in_dns:
                self.restores += 1
                self.event("az_restored", f"{self.label} {az}: back in DNS ({reason})")
            else:
                self.failovers += 1
                why = "node unhealthy" if zone.node.state != HEALTHY else "too few healthy targets"
                self.event("az_failover", f"{self.label} {az}: out of DNS ({why})")
        addresses = self.published()
        self.nlb.route53.commit(
            ChangeBatch.of([upsert(self.record(addresses))], comment=f"{self.label}: {reason}")
        )
        self._dns_level.set(len(addresses))
        self.nlb.azs_out.add(sum(1 if not self.zones[az].in_dns else -1 for az in changed))
        self.recompute()

    def on_served(self) -> None:
        """The name servers serve a new record for this NLB: wake each client at its expiry."""
        now, ttl = self.env.now, self.nlb.config.dns.ttl
        for client in self.clients:
            if client.scheduled:
                continue
            client.scheduled = True
            k = max(1, math.ceil((now - client.last) / ttl - 1e-9))
            due = client.last + k * ttl
            self.env.timeout(max(0.0, due - now), client).callbacks.append(self._refresh)

    def _refresh(self, ev: Any) -> None:
        client: SampledClient = ev.value
        client.scheduled = False
        answer = client.resolver.resolve(self.qname, A)
        client.last = self.env.now
        client.addresses = answer.addresses
        by_address = self.by_address
        azs = tuple(by_address[a].az for a in answer.addresses if a in by_address)
        if azs != client.azs:
            client.azs = azs
            self._shares = None
        self.recompute()

    # -- data plane --------------------------------------------------------------------------------
    def recompute(self) -> None:
        """Shares, per-AZ success probability, error rate and capacity in DNS.

        The shares depend only on the sampled clients' answers: they are summed again (in
        client order, so to the same floats) only after a client's AZs changed, not on every
        change of health or readiness."""
        zones = self.zones
        shares = self._shares
        if shares is None:
            shares = dict.fromkeys(zones, 0.0)
            n = len(self.clients)
            for client in self.clients:
                azs = client.azs
                if azs:
                    w = 1.0 / (len(azs) * n)
                    for az in azs:
                        shares[az] += w
            self._shares = shares
        demand, cap = self.demand, self.capacity_per_target
        error, capacity = 0.0, 0.0
        for az, zone in zones.items():
            u = zone.ready
            load = demand * shares[az]
            if u == 0:
                p = 0.0
            elif load <= 0.0:
                p = 1.0
            else:
                p = min(1.0, u * cap / load)
            zone.p = p
            error += shares[az] * (1.0 - p)
            if zone.in_dns:
                capacity += u * cap
        error = round(max(error, 0.0), 9)
        if error != self.error_rate or capacity != self.capacity:
            self.nlb.lb_changed(self, error, capacity)
            self.error_rate, self.capacity = error, capacity
            self._error_level.set(error)

    def _node_for(self, address: str) -> Server | None:
        zone = self.by_address.get(address)
        return None if zone is None else zone.server

    def _sample_connection(self) -> None:
        rng = self.rng
        client = self.clients[int(rng.random() * len(self.clients))]
        if not client.addresses:
            return
        address = client.addresses[int(rng.random() * len(client.addresses))]
        # the request starts where a process doing it would have started (its Initialize event)
        self.env.call_in(0.0, self._connect, (client, address), URGENT)

    def _connect(self, call: Any) -> None:
        client, address = call.value
        client.pool.submit(address, True, None, self._connected)  # type: ignore[union-attr]

    def _connected(self, result: RequestResult) -> None:
        if result.ok:
            self.sampled_ok += 1
        else:
            self.sampled_failed += 1
