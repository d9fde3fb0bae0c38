"""The `nlb:` section: load balancers, DNS, health checks, the checker, failover, velocity control,
sampled clients, error accounting, and the scripted launcher used when there is no EC2."""

from __future__ import annotations

import itertools
import re

from pydantic import Field, field_validator, model_validator

from simulation.core.config import SectionConfig
from simulation.core.units import Duration, Rate, format_duration
from simulation.primitives.connections import ClientConfig
from simulation.primitives.load import LoadSteps, steps
from simulation.primitives.resilience.admission import AdmissionConfig
from simulation.primitives.resilience.retry import RetryConfig
from simulation.primitives.servers.service import ServiceTimeConfig

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


class LoadBalancerGroup(SectionConfig):
    """`count` NLBs alike: their AZs, targets and demand (names `<name>-0`, `<name>-1` ...)."""

    name: str = Field("nlb", description="Name prefix (a DNS label: a-z, 0-9, '-').")
    count: int = Field(1, ge=1, description="How many NLBs of this kind.")
    azs: list[str] | None = Field(
        None, description="AZs the NLBs are enabled in (a node each); null = every `nlb.azs`."
    )
    targets_per_az: int = Field(
        6, ge=1, description="Targets registered in each AZ at the start (running, reachable)."
    )
    target_capacity: Rate = Field(
        "100/s", description="New connections per second one target can take."
    )
    demand: Rate = Field(
        "1000/s",
        description="New connections per second the NLB's clients open (constant). With "
        "`target_capacity` it sets the utilisation: demand / (targets x capacity).",
    )

    def __repr__(self) -> str:
        azs = "" if self.azs is None else f", azs: {self.azs}"
        return (
            f"{{name: {self.name}, count: {self.count}{azs}, targets_per_az: "
            f"{self.targets_per_az}, target_capacity: '{self.target_capacity:g}/s', "
            f"demand: '{self.demand:g}/s'}}"
        )

    @field_validator("name")
    @classmethod
    def _label(cls, v: str) -> str:
        if not _LABEL.match(v):
            raise ValueError(f"name {v!r} must be a DNS label: a-z, 0-9 and '-', at most 42")
        return v


def _default_groups() -> list[LoadBalancerGroup]:
    return [LoadBalancerGroup()]


class DnsConfig(SectionConfig):
    """The hosted zone publishing each NLB's node addresses (Route 53-like, DNS primitive)."""

    zone: str = Field("elb.us-east-1.amazonaws.com", description="Zone of the NLB names.")
    ttl: Duration = Field("60 s", description="TTL of an NLB's A records (ELB: 60 s).")
    propagation: Duration = Field(
        "30 s",
        description="Time for a committed change to reach the name servers (Route 53: within "
        "about a minute).",
    )


class HealthCheckConfig(SectionConfig):
    """Active health checks of nodes and targets (NLB TCP defaults: 30 s, 10 s, 5, 2)."""

    interval: Duration = Field("30 s", gt=0.0, description="Time between checks of a subject.")
    timeout: Duration = Field(
        "10 s",
        gt=0.0,
        description="A check not finished this long after it was due fails (unanswered, or "
        "late because the checker was busy).",
    )
    healthy_threshold: int = Field(
        5, ge=1, description="Consecutive passes that make an unhealthy subject healthy."
    )
    unhealthy_threshold: int = Field(
        2, ge=1, description="Consecutive failures that make a healthy subject unhealthy."
    )


def _default_queue() -> AdmissionConfig:
    return AdmissionConfig(discipline="fifo", on_expired="drop")


class CheckerConfig(SectionConfig):
    """The health-check subsystem: one worker pool per AZ checking that AZ's nodes and targets."""

    cells_per_az: int = Field(
        1,
        ge=1,
        description="Independent checker cells per AZ (scopes `checker[<az>]`, or "
        "`checker[<az>-<k>]` with several); an NLB's node and targets in an AZ are checked by "
        "one cell, its AZs by cells of different indexes.",
    )
    workers: int = Field(1, ge=1, description="Worker threads of each checker cell.")
    check_time: ServiceTimeConfig = Field(
        default_factory=lambda: ServiceTimeConfig(mean="250 ms"),
        description="Worker time one check takes.",
    )
    dns_update_time: ServiceTimeConfig = Field(
        default_factory=lambda: ServiceTimeConfig(distribution="deterministic", mean="2 s"),
        description="Worker time to re-evaluate an NLB after a health change and write its DNS "
        "record if the set of AZs changes (an assumption: no public figure).",
    )
    rechecks_on_change: int = Field(
        2,
        ge=0,
        description="Extra checks of a subject right after its health changes (confirmation).",
    )
    coalesce_dns_updates: bool = Field(
        False,
        description="Design switch: at most one DNS update of an NLB waits in the queue (later "
        "changes ride on it). Off: every health change queues its own update.",
    )
    queue: AdmissionConfig = Field(
        default_factory=_default_queue,
        description="The checker's work queue (discipline, max waiting, on_expired). Each check "
        "carries the health-check timeout as its deadline (keep `deadline` null); DNS updates "
        "have none. Default on_expired drop: a check already past its timeout is skipped, and "
        "counts as failed.",
    )
    sample_every: Duration = Field(
        "30 s",
        gt=0.0,
        description="Period of the checker's sampled series (queue, lateness, utilisation).",
    )
    degraded_late_share: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="A cell is degraded (event `checker_degraded`) from the first sampling "
        "window in which this share of its checks were late, until a window with none.",
    )


class FailoverConfig(SectionConfig):
    """Automatic AZ DNS failover (the DNS part of ELB's target group health settings)."""

    enabled: bool = Field(
        True,
        description="Health verdicts take targets out of their nodes' forwarding state and AZ "
        "nodes out of DNS. Off, no AZ leaves DNS and (with `off_returns_targets`) verdicts take "
        "no target out. Operators switch it with `nlb_failover_disable` / `nlb_failover_enable`.",
    )
    off_returns_targets: bool = Field(
        True,
        description="With automatic failover off every registered target is in service: those "
        "taken out go back and verdicts take none out (the published account of 09:36: 'all "
        "available healthy NLB nodes and backend targets' back in service). false: only the "
        "AZs' DNS failover stops; targets keep going out and back in with their verdicts (and, "
        "with `targets.verdicts_reconfigure_nodes`, keep loading Network Manager).",
    )
    dns_min_healthy_targets: int = Field(
        1,
        ge=0,
        description="An AZ with fewer healthy targets is failed over in DNS (ELB default 1; 0 "
        "= off).",
    )
    dns_min_healthy_percent: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="Or with fewer than this percentage of its targets healthy (0 = off).",
    )


class VelocityControlConfig(SectionConfig):
    """The fix: a cap on the capacity one NLB may remove by AZ failover per interval."""

    enabled: bool = Field(False, description="Apply the cap (AWS's fix after the incident).")
    max_fraction: float = Field(
        0.4,
        gt=0.0,
        le=1.0,
        description="Share of an NLB's capacity (its registered targets) that failovers may "
        "remove per `interval` (0.4: one AZ of a three-AZ NLB); an AZ holding more is never "
        "failed over automatically.",
    )
    interval: Duration = Field(
        "1 h", gt=0.0, description="The window: a token bucket refilling `max_fraction` per it."
    )


def _default_client() -> ClientConfig:
    return ClientConfig(
        idle_timeout=0, retry=RetryConfig(policy="none", max_attempts=1), rtt="2 ms"
    )


class ClientsConfig(SectionConfig):
    """A sampled client population per NLB (the demand itself is a rate, not simulated)."""

    sampled: int = Field(
        20,
        ge=1,
        description="Clients per NLB, each with a caching resolver (busy: it re-resolves as "
        "soon as its answer expires); the demand spreads over the AZs as their cached answers "
        "say.",
    )
    connections: Rate = Field(
        "2/min",
        description="Sampled new connections per NLB through the connections primitive (each "
        "from a random sampled client to a random address of its answer); 0 = none.",
    )
    client: ClientConfig = Field(
        default_factory=_default_client,
        description="Their connection pools (default: a new connection per request, no retry).",
    )


class ErrorsConfig(SectionConfig):
    """When an NLB counts as failing connections, for impact and milestones."""

    threshold: float = Field(
        0.01,
        gt=0.0,
        lt=1.0,
        description="An NLB has connection errors while this share of its new connections fail.",
    )
    resolved_after: Duration = Field(
        "15 min",
        description="`nlb_errors_resolved`: no NLB above the threshold for this long.",
    )


class PropagationPoint(SectionConfig):
    """A point of the scripted propagation delay profile (linear between points)."""

    at: Duration = Field("0 s", description="Time after the scenario start.")
    delay: Duration = Field("2 s", description="Mean network-propagation delay of a launch.")

    def __repr__(self) -> str:
        return f"{{at: '{format_duration(self.at)}', delay: '{format_duration(self.delay)}'}}"


class LauncherConfig(SectionConfig):
    """Scripted launches for scenarios without EC2 (a scripted Network Manager backlog)."""

    rate: LoadSteps = Field(
        default_factory=lambda: steps(("0 s", "1/min")),
        description="Instance launches per second over time (Poisson), as load steps.",
    )
    az_weights: dict[str, float] | None = Field(
        None, description="Relative share of launches per AZ; null = equal over `nlb.azs`."
    )
    propagation: list[PropagationPoint] = Field(
        default_factory=lambda: [PropagationPoint()],
        min_length=1,
        description="Mean network-propagation delay by launch time, linear between points, "
        "constant before the first and after the last.",
    )
    spread: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="Each delay is uniform within +/- this fraction of the mean.",
    )

    @field_validator("propagation")
    @classmethod
    def _ordered(cls, points: list[PropagationPoint]) -> list[PropagationPoint]:
        for a, b in itertools.pairwise(points):
            if b.at <= a.at:
                raise ValueError(
                    f"propagation points must be in increasing order of 'at' (a point at "
                    f"{b.at:g} s follows one at {a.at:g} s)"
                )
        return points


class TargetsConfig(SectionConfig):
    """How launched instances join the NLBs' target groups (as Auto Scaling groups would)."""

    attach_share: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of launched instances registered as NLB targets: each joins the NLB "
        "of its AZ furthest below `targets_per_az`, else the next in turn.",
    )
    keep_group_size: bool = Field(
        True,
        description="As an Auto Scaling group: when a launched target's network is ready, the "
        "oldest target of its AZ is retired if the NLB has more than `targets_per_az` there "
        "(a rolling replacement, one for one); off: groups grow with launches.",
    )
    new_targets_in_service: bool = Field(
        True,
        description="The 2025 behaviour: a new target is in service at registration, before "
        "its network state has propagated. Off: it waits for `healthy_threshold` passes.",
    )
    verdicts_reconfigure_nodes: bool = Field(
        True,
        description="A target taken out of service or put back (by its health checks, or by "
        "automatic failover switched off or on) changes "
        "the forwarding state of every node of its NLB (one per AZ; the nodes are network "
        "appliances): one network change per node, propagated by EC2's Network Manager when "
        "the scenario has EC2 (without EC2 the changes are only counted). Registrations are "
        "not counted: they are part of the instance's own launch or termination propagation.",
    )
    replace_unhealthy: bool = Field(
        False,
        description="The groups are Auto Scaling groups with ELB health checks: a launched "
        "target whose verdict is unhealthy once `health_check_grace` has passed since its "
        "launch is terminated and a replacement launched for its NLB (through EC2's launch "
        "API: throttled, retried until it succeeds). The verdict counts whether or not "
        "automatic failover is on. Needs EC2 (not the scripted `launcher`).",
    )
    health_check_grace: Duration = Field(
        "300 s",
        ge=0.0,
        description="Auto Scaling's health-check grace period: a target's verdicts are not "
        "acted on before this long after its launch (the console's default, 300 s).",
    )


class Config(SectionConfig):
    """Network Load Balancers: nodes per AZ in DNS, targets, health checks, AZ DNS failover."""

    azs: list[str] = Field(
        default_factory=lambda: ["az1", "az2", "az3"],
        min_length=1,
        description="Availability Zones (one checker and one node per NLB in each).",
    )
    load_balancers: list[LoadBalancerGroup] = Field(
        default_factory=_default_groups, min_length=1, description="The NLBs, by group."
    )
    dns: DnsConfig = Field(default_factory=DnsConfig, description="Their DNS names.")
    health_check: HealthCheckConfig = Field(
        default_factory=HealthCheckConfig, description="Health checks."
    )
    checker: CheckerConfig = Field(
        default_factory=CheckerConfig, description="The health-check subsystem."
    )
    failover: FailoverConfig = Field(
        default_factory=FailoverConfig, description="Automatic failover."
    )
    velocity_control: VelocityControlConfig = Field(
        default_factory=VelocityControlConfig, description="The fix (a design switch)."
    )
    targets: TargetsConfig = Field(
        default_factory=TargetsConfig, description="Target registration."
    )
    clients: ClientsConfig = Field(default_factory=ClientsConfig, description="Sampled clients.")
    errors: ErrorsConfig = Field(default_factory=ErrorsConfig, description="Error accounting.")
    launcher: LauncherConfig | None = Field(
        None,
        description="Scripted launches when the scenario has no `ec2:` section (with EC2, its "
        "instance feed drives the targets); null = no launches.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        azs = self.azs
        if len(set(azs)) != len(azs):
            raise ValueError(f"azs: duplicate names in {azs}")
        if self.checker.queue.deadline is not None:
            raise ValueError(
                "checker.queue.deadline: a check's deadline is health_check.timeout; leave it null"
            )
        names = [g.name for g in self.load_balancers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"load_balancers: name {twice[0]!r} is used twice")
        for i, group in enumerate(self.load_balancers):
            for az in group.azs or []:
                if az not in azs:
                    raise ValueError(
                        f"load_balancers[{i}].azs: unknown AZ {az!r} (azs: {', '.join(azs)})"
                    )
        if self.launcher is not None and self.targets.replace_unhealthy:
            raise ValueError(
                "targets.replace_unhealthy: Auto Scaling replacements are EC2 launches; this "
                "scenario's targets come from the scripted `launcher` (add an `ec2:` section "
                "or set it to false)"
            )
        if self.launcher is not None and self.launcher.az_weights is not None:
            for az, w in self.launcher.az_weights.items():
                if az not in azs:
                    raise ValueError(
                        f"launcher.az_weights: unknown AZ {az!r} (azs: {', '.join(azs)})"
                    )
                if w < 0:
                    raise ValueError(f"launcher.az_weights: weight of {az} is negative")
            if sum(self.launcher.az_weights.values()) <= 0:
                raise ValueError("launcher.az_weights: at least one weight must be positive")
        return self

    def group_azs(self, group: LoadBalancerGroup) -> list[str]:
        return list(group.azs) if group.azs else list(self.azs)
