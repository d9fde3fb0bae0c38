"""The `dynamodb_dns:` section: records, Planner, Enactors, faults, fix switches, clients."""

from __future__ import annotations

from pydantic import Field, model_validator

from simulation.core.config import SectionConfig
from simulation.core.units import Duration, Rate
from simulation.primitives.resilience.retry import RetryConfig

DEFAULT_ENDPOINTS = [
    "dynamodb.us-east-1.amazonaws.com",
    "dynamodb-fips.us-east-1.amazonaws.com",
    "streams.dynamodb.us-east-1.amazonaws.com",
]


class PlannerBurst(SectionConfig):
    """A window in which the Planner makes plans faster than usual (a fault input)."""

    start: Duration = Field(0, description="When the burst starts, after the scenario start.")
    duration: Duration = Field("10 min", description="How long the burst lasts.")
    interval: Duration = Field("10 s", description="Mean time between plans during the burst.")


class PlannerConfig(SectionConfig):
    """The Planner: a new plan generation every interval, weights from load balancer capacity."""

    interval: Duration = Field("1 min", description="Mean time between two plan generations.")
    jitter: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Each interval is drawn uniformly within +/- this fraction of its mean.",
    )
    weight_spread: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="A load balancer's weight is 100 x uniform(1 - spread, 1 + spread), drawn per "
        "plan (the Planner follows the fleet's capacity).",
    )
    bursts: list[PlannerBurst] = Field(
        default_factory=list, description="Windows of faster planning (fault inputs)."
    )


def _enactor_retry() -> RetryConfig:
    return RetryConfig(policy="full_jitter", base="1 s", cap="30 s", max_attempts=None)


class EnactorsConfig(SectionConfig):
    """The Enactors: independent appliers of the newest plan, one per Availability Zone."""

    names: list[str] = Field(
        default_factory=lambda: ["az1", "az2", "az3"],
        min_length=1,
        description="One Enactor per name (their scopes are `enactor[<name>]`).",
    )
    poll_interval: Duration = Field(
        "30 s",
        description="Mean time between two looks for a newer plan when idle (uniform +/- 50%).",
    )
    transaction_time: Duration = Field(
        "5 s",
        description="Mean time for one Route 53 transaction of an Enactor (an endpoint's change "
        "batch, a lock release, a clean-up deletion), from reading the state to the commit.",
    )
    transaction_jitter: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="Each transaction time is uniform within +/- this fraction of its mean.",
    )
    cleanup_threshold: int = Field(
        5,
        ge=0,
        description="Clean-up deletes plans at least this many generations older than the one "
        "just applied.",
    )
    lock_lease: Duration = Field(
        "5 min",
        description="How long an endpoint lock stays valid if its holder never releases it.",
    )
    retry: RetryConfig = Field(
        default_factory=_enactor_retry,
        description="Back-off when an endpoint's lock is held or lost (default: full jitter "
        "from 1 s, capped at 30 s, retried until it succeeds).",
    )


class EnactorSlowness(SectionConfig):
    """A fault input: one Enactor is unusually slow for a while."""

    enactor: str = Field("az1", description="Name of the slow Enactor (one of `enactors.names`).")
    start: Duration = Field(0, description="When the slowness starts, after the scenario start.")
    duration: Duration = Field("15 min", description="How long it lasts.")
    lock_loss_probability: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Chance that each of its lock-taking transactions loses the lock in the "
        "window (it then backs off and retries that endpoint).",
    )
    extra_transaction_time: Duration = Field(
        0, description="Added to each of its transactions in the window (slow transactions)."
    )
    endpoints: list[str] | None = Field(
        None,
        description="Endpoints on which it loses locks (null: every endpoint).",
    )


class ClientsConfig(SectionConfig):
    """Clients of the regional endpoint, each with its own caching stub resolver."""

    count: int = Field(
        200, ge=0, description="Busy clients resolving the regional endpoint (0: none)."
    )
    max_ttl: Duration = Field("1 d", description="Longest time a client caches any answer.")
    request_rate: Rate | None = Field(
        "1/s",
        description="Rate at which each client needs the endpoint (Poisson); it queries at its "
        "first request after its cached answer expires. null = busy clients that ask the "
        "instant the answer expires.",
    )


class Config(SectionConfig):
    """DynamoDB's DNS automation: Planner, Enactors, Route 53 records, clients of the endpoint."""

    zone: str = Field(
        "us-east-1.amazonaws.com", description="Hosted zone holding the endpoints' records."
    )
    endpoints: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENDPOINTS),
        min_length=1,
        description="Endpoint names each plan covers, in the order the Enactors walk them.",
    )
    regional_endpoint: str = Field(
        "dynamodb.us-east-1.amazonaws.com",
        description="The endpoint whose resolution clients and milestones follow.",
    )
    load_balancers: int = Field(4, ge=1, description="Load balancers per endpoint.")
    addresses_per_load_balancer: int = Field(
        2, ge=1, description="A records of each load balancer."
    )
    record_ttl: Duration = Field(
        "60 s", description="TTL of the answers (ELB alias records have 60 s)."
    )
    soa_ttl: Duration = Field(
        "900 s", description="TTL of the zone's SOA record (Route 53: 900 s)."
    )
    soa_minimum: Duration = Field(
        "1 d",
        description="SOA minimum field (Route 53: 86400 s); negative answers are cached for "
        "min(SOA TTL, SOA minimum) (RFC 2308).",
    )
    propagation_delay: Duration = Field(
        "15 s", description="Time for a committed change to reach the name servers."
    )
    initial_generation: int = Field(
        1, ge=1, description="Generation of the plan applied everywhere at the start."
    )
    planner: PlannerConfig = Field(default_factory=PlannerConfig, description="The Planner.")
    enactors: EnactorsConfig = Field(default_factory=EnactorsConfig, description="The Enactors.")
    slowness: list[EnactorSlowness] = Field(
        default_factory=list,
        description="Fault inputs: windows in which an Enactor is slow (lock losses, slow "
        "transactions). The race, if any, follows from them.",
    )
    apply_version_check: bool = Field(
        False,
        description="Fix: each apply compares-and-sets the endpoint's current generation in the "
        "same transaction, so an older plan never overwrites a newer one.",
    )
    cleanup_protects_active: bool = Field(
        False,
        description="Fix: clean-up never deletes a plan an endpoint points at (checked in the "
        "deleting transaction).",
    )
    clients: ClientsConfig = Field(
        default_factory=ClientsConfig, description="Clients of the regional endpoint."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        zone = self.zone.rstrip(".")
        names = [e.rstrip(".") for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoints: duplicate names in {self.endpoints}")
        for e in names:
            if e != zone and not e.endswith("." + zone):
                raise ValueError(f"endpoints: {e!r} is not in the zone {zone!r}")
        if self.regional_endpoint.rstrip(".") not in names:
            raise ValueError(
                f"regional_endpoint: {self.regional_endpoint!r} is not one of the endpoints "
                f"({', '.join(names)})"
            )
        known = self.enactors.names
        if len(set(known)) != len(known):
            raise ValueError(f"enactors.names: duplicate names in {known}")
        for i, fault in enumerate(self.slowness):
            if fault.enactor not in known:
                raise ValueError(
                    f"slowness[{i}].enactor: unknown Enactor {fault.enactor!r} "
                    f"(enactors.names: {', '.join(known)})"
                )
            for e in fault.endpoints or []:
                if e.rstrip(".") not in names:
                    raise ValueError(
                        f"slowness[{i}].endpoints: {e!r} is not one of the endpoints "
                        f"({', '.join(names)})"
                    )
        return self
