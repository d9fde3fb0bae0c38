"""The `ec2:` section: fleet, DropletWorkflow Manager (DWFM), launches, Network Manager.

Every default is a lab-scale choice explained in docs/ec2.md (20,000 droplets on 4 DWFM hosts;
the reference order is 10^5). The parameters that decide whether the lease work collapses are,
per host: droplets per host, the memory model's per-droplet cost, `establish_work`, `workers`,
and the establish retry policy (attempt timeout and back-off); docs/ec2.md gives the condition.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from simulation.core.config import SectionConfig
from simulation.core.units import Duration, Rate, Size
from simulation.primitives.load import LoadSteps, steps
from simulation.primitives.memory import MemoryConfig, MemoryModel
from simulation.primitives.resilience.admission import AdmissionConfig
from simulation.primitives.resilience.lease import LeaseConfig
from simulation.primitives.resilience.retry import RetryConfig
from simulation.primitives.resilience.throttle import TokenBucketConfig
from simulation.primitives.servers import ServiceTimeConfig


class FleetConfig(SectionConfig):
    """The physical hosts ("droplets") instances run on."""

    droplets: int = Field(20_000, ge=1, description="Droplets in the region (reference: 10^5).")
    azs: list[str] = Field(
        default_factory=lambda: ["az1", "az2", "az3"],
        min_length=1,
        description="Availability Zones; batches of droplets are spread over them in turn "
        "(instances carry these names: keep them the same as `nlb.azs`).",
    )
    batch_size: int = Field(
        100,
        ge=1,
        description="Droplets per lease batch: one state check, one establishment attempt and "
        "one lease cover a batch (their droplets share a deadline; see docs/ec2.md).",
    )
    slots_per_droplet: int = Field(4, ge=1, description="Instances one droplet can run.")
    occupied: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="Share of slots held by long-running instances that are not modelled one "
        "by one (they only take room).",
    )

    @field_validator("azs")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate Availability Zones in {value}")
        return value


class DwfmMemory(MemoryConfig):
    """A DWFM host's memory system; one request is one droplet's state check."""

    accesses_per_request: int = Field(
        100_000, ge=0, description="Random memory accesses of one droplet's state check."
    )
    compute_time: Duration = Field(
        "5 ms", description="CPU time of one droplet's state check apart from memory accesses."
    )
    memory_limit: Size = Field(
        "4 GiB",
        description="Memory the DWFM process can keep resident; a larger working set swaps.",
    )


class CheckRetry(RetryConfig):
    """Retries of one state check; attempt_timeout is each attempt's deadline."""

    base: Duration = Field("1 s", description="Delay before the first retry (full jitter).")
    cap: Duration = Field("10 s", description="Longest delay between two attempts.")
    max_attempts: int | None = Field(
        3, ge=1, description="Attempts per check; then the lease is left unrenewed."
    )
    attempt_timeout: Duration | None = Field(
        "30 s", description="Deadline of each attempt, from its submission."
    )


class EstablishRetry(RetryConfig):
    """Retries of a batch's lease re-establishment; attempt_timeout is each attempt's deadline."""

    base: Duration = Field("5 s", description="Delay before the first retry (full jitter).")
    cap: Duration = Field("5 min", description="Longest delay between two attempts.")
    max_attempts: int | None = Field(
        None,
        ge=1,
        description="Attempts per operation (null = unlimited); an exhausted operation starts "
        "over after `cap`: DWFM never gives a droplet up.",
    )
    attempt_timeout: Duration | None = Field(
        "1 min",
        description="Deadline of each attempt: the requester gives up and queues a new attempt "
        "after its back-off; the host still serves the abandoned one.",
    )


class DwfmLease(LeaseConfig):
    """Leases on droplet batches."""

    duration: Duration = Field(
        "15 min", description="Lease timeout: a grant or renewal holds this long."
    )
    resolution: Duration = Field("1 s", description="Expiry is processed on this grid.")


class DwfmQueue(AdmissionConfig):
    """A DWFM host's lease-work queue (max_waiting is the fix: admission by queue size)."""

    on_expired: Literal["drop", "complete"] = Field(
        "complete",
        description="Work found past its deadline when dequeued: complete (served anyway, "
        "wasted: the host does not know its requester gave up) or drop.",
    )


class DwfmConfig(SectionConfig):
    """DropletWorkflow Manager: hosts that hold a lease on every droplet."""

    hosts: int = Field(4, ge=1, description="DWFM hosts; batch i is managed by host i mod hosts.")
    workers: int = Field(2, ge=1, description="Worker threads per DWFM host.")
    state_check_interval: Duration = Field(
        "5 min",
        gt=0,
        description="A leased batch is state-checked (a DynamoDB read) this long after its "
        "previous check started; a successful check renews the lease.",
    )
    lease: DwfmLease = Field(
        default_factory=DwfmLease,
        description="Leases: how long a grant or renewal holds (the lease timeout) and the "
        "expiry resolution.",
    )
    check_retry: CheckRetry = Field(
        default_factory=CheckRetry,
        description="Retries of one state check; a check whose attempts are exhausted leaves "
        "the lease unrenewed.",
    )
    establish_retry: EstablishRetry = Field(
        default_factory=EstablishRetry,
        description="Retries of lease re-establishment for a batch without a lease.",
    )
    memory: DwfmMemory = Field(
        default_factory=DwfmMemory,
        description="Each host's memory system; accesses_per_request and compute_time are the "
        "cost of one droplet's state check.",
    )
    base_working_set: Size = Field(
        "1 GiB", description="Working set of an idle DWFM host (code, droplet index, caches)."
    )
    state_per_droplet: Size = Field(
        "256 KiB",
        description="State a host keeps for each droplet whose work it holds (waiting or in "
        "service): the working set grows by batch_size x this per queued item.",
    )
    establish_work: float = Field(
        40.0,
        ge=1.0,
        description="Cost of re-establishing a droplet's lease, in state checks (a full "
        "workflow: read and rebuild the droplet's state, write the lease).",
    )
    failed_call_time: Duration = Field(
        "20 ms",
        ge=0,
        description="Worker time of an attempt whose DynamoDB call fails at once (the name "
        "does not resolve).",
    )
    queue: DwfmQueue = Field(
        default_factory=DwfmQueue,
        description="Each host's lease-work queue. Each attempt's deadline is its retry "
        "policy's attempt_timeout, so `deadline` must stay null.",
    )
    throttle: TokenBucketConfig | None = Field(
        None,
        description="Token bucket on lease re-establishment attempts entering DWFM (the "
        "operators' throttle; also set by `dwfm_throttle`). null = none.",
    )
    restart_downtime: Duration = Field(
        "2 min",
        ge=0,
        description="A restarted host takes no work for this long, plus the first-touch "
        "faults of its base working set.",
    )
    window: Duration = Field(
        "1 min", gt=0, description="Interval of the goodput, timeout-share and queue samples."
    )
    checks_failing_share: float = Field(
        0.01,
        gt=0.0,
        le=1.0,
        description="Milestone dwfm_state_checks_failing: at least this share of batches is "
        "leased with its latest state check failed.",
    )
    collapse_timeout_share: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="Milestone dwfm_congestive_collapse: share of lease-work attempts ending "
        "in a timeout (timeouts / (timeouts + successes) per window) at or above this ...",
    )
    collapse_sustain: Duration = Field("10 min", ge=0, description="... for at least this long.")

    @field_validator("check_retry", "establish_retry")
    @classmethod
    def _needs_timeout(cls, value: RetryConfig) -> RetryConfig:
        if value.attempt_timeout is None or value.attempt_timeout <= 0:
            raise ValueError(
                "attempt_timeout must be set: it is the deadline of each attempt "
                "(e.g. attempt_timeout: '1 min')"
            )
        return value

    @field_validator("queue")
    @classmethod
    def _no_queue_deadline(cls, value: DwfmQueue) -> DwfmQueue:
        if value.deadline is not None:
            raise ValueError(
                "deadline must stay null: each attempt carries its retry policy's "
                "attempt_timeout as its deadline"
            )
        return value


class LaunchRetry(RetryConfig):
    """How customers retry a failed launch call (attempt_timeout is not used: a call answers
    at once)."""

    base: Duration = Field("10 s", description="Delay before the first retry (full jitter).")
    cap: Duration = Field("5 min", description="Longest delay between two calls.")
    max_attempts: int | None = Field(
        6, ge=1, description="Calls per request, the first included (null = unlimited)."
    )


class LaunchesConfig(SectionConfig):
    """The RunInstances API: customers' launch requests, their retries, lifetimes."""

    load: LoadSteps = Field(
        default_factory=lambda: steps(("0 s", "0.5/s")),
        description="New launch requests per second over time (Poisson), as steps; customers' "
        "retries come on top.",
    )
    retry: LaunchRetry = Field(
        default_factory=LaunchRetry, description="How customers retry a failed launch."
    )
    throttle: TokenBucketConfig | None = Field(
        None,
        description="Request throttle ('request limit exceeded'); also set by "
        "`ec2_throttle_launches`. null = none.",
    )
    state_change_work: float = Field(
        1.0,
        ge=0.0,
        description="DWFM work of a launch's state change on its droplet, in droplet state "
        "checks (served on the droplet's DWFM host, behind its lease work, at its memory cost).",
    )
    state_change_timeout: Duration = Field(
        "1 min",
        gt=0,
        description="The launch gives up on its state change after this (the call fails as "
        "'state_change_timeout' and the customer retries); DWFM still serves it (wasted).",
    )
    terminations_need_lease: bool = Field(
        True,
        description="A termination is a state change on the droplet, which DWFM makes: on a "
        "droplet without a lease the instance keeps running until the lease is back (then it "
        "terminates and its clean-up goes to Network Manager). false: terminations happen on "
        "time whatever the lease.",
    )
    lifetime: Duration = Field(
        "2 h", gt=0, description="Mean lifetime of an instance (exponential)."
    )
    initial_instances: int | None = Field(
        None,
        ge=0,
        description="Instances running at the start (published at t=0, network ready); "
        "null = the steady state, first load rate x lifetime.",
    )
    window: Duration = Field(
        "1 min", gt=0, description="Interval of the success-rate and latency samples."
    )
    normal_success: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="Milestone ec2_launches_normal: share of launch calls that succeed at or "
        "above this ...",
    )
    normal_latency: Duration = Field(
        "2 min",
        gt=0,
        description="... and mean time from a request's first call to its instance being "
        "network ready at or below this ...",
    )
    normal_sustain: Duration = Field(
        "30 min",
        ge=0,
        description="... in every window for this long, after a window that was not.",
    )


class PropagationTime(ServiceTimeConfig):
    """Time Network Manager takes to propagate one change."""

    mean: Duration = Field("1.6 s", gt=0.0, description="Mean time of one propagation.")


class NetworkManagerConfig(SectionConfig):
    """Network Manager: propagates network configuration for launches and terminations."""

    workers: int = Field(4, ge=1, description="Propagation workers.")
    service: PropagationTime = Field(
        default_factory=PropagationTime, description="Time to propagate one change."
    )
    background: Rate = Field(
        "1/s",
        description="Network changes for running instances (security groups, interfaces, "
        "routes), Poisson, each on a droplet drawn uniformly; non-urgent.",
    )
    hold_background: bool = Field(
        True,
        description="Hold background changes of a droplet without a DWFM lease until it is "
        "leased again (as launch and termination work is). false: they need no lease (only "
        "instance launches and terminations are state changes of the droplet).",
    )
    skip_time: Duration = Field(
        "1 ms",
        ge=0,
        description="Worker time to set aside a queued non-urgent item (`nm_reduce_load` with "
        "shed_queued).",
    )
    backlog_latency: Duration = Field(
        "5 min",
        gt=0,
        description="Milestones nm_backlog_start / nm_backlog_cleared: launch propagation "
        "latency (time in Network Manager) above / back under this ...",
    )
    backlog_sustain: Duration = Field(
        "10 min", ge=0, description="... for this long (a backlog starts) ..."
    )
    cleared_sustain: Duration = Field(
        "15 min",
        ge=0,
        description="... and for this long (it ends). nm_backlog_start is the first backlog's "
        "start, nm_backlog_cleared the last one's end: a dip under the threshold followed by a "
        "new backlog does not clear it.",
    )
    window: Duration = Field("1 min", gt=0, description="Interval of the latency samples.")


class Config(SectionConfig):
    """EC2: droplets, their DWFM leases, launches and Network Manager (see docs/ec2.md)."""

    dynamodb_endpoint: str = Field(
        "dynamodb.us-east-1.amazonaws.com",
        description="Name the state checks resolve (through the dynamodb_dns zone).",
    )
    fleet: FleetConfig = Field(default_factory=FleetConfig, description="The droplets.")
    dwfm: DwfmConfig = Field(default_factory=DwfmConfig, description="DropletWorkflow Manager.")
    launches: LaunchesConfig = Field(
        default_factory=LaunchesConfig, description="Launch requests and instances."
    )
    network_manager: NetworkManagerConfig = Field(
        default_factory=NetworkManagerConfig, description="Network Manager."
    )

    @model_validator(mode="after")
    def _establishment_fits_its_deadline(self) -> Config:
        d, b = self.dwfm, self.fleet.batch_size
        per_droplet = MemoryModel(d.memory).service_time(
            d.base_working_set + b * d.state_per_droplet
        )
        work = per_droplet * b * d.establish_work
        timeout = d.establish_retry.attempt_timeout or 0.0
        if work >= timeout:
            raise ValueError(
                f"dwfm.establish_retry.attempt_timeout: re-establishing one batch takes "
                f"{work:.1f} s on an idle host ({b} droplets x {per_droplet * d.establish_work:.3f}"
                f" s), not less than the attempt timeout ({timeout:g} s): no attempt could ever "
                "succeed (raise the timeout or lower fleet.batch_size)"
            )
        return self

    def droplets_per_host(self) -> float:
        return self.fleet.droplets / self.dwfm.hosts
