"""Instances: the contract between EC2, which launches them and propagates their network state,
and those that use them (NLB target groups, services).

EC2 publishes each instance's life on an `InstanceFeed`; consumers subscribe with callbacks,
called synchronously at the sim time of the event. A lab that has no EC2 (the NLB flapping lab)
publishes on a feed of its own, with the same interface, so the consumer does not change when
the real EC2 subsystem drives it.

The feed also carries work the other way: a consumer whose own network appliances must be
reconfigured (an NLB's nodes when a target goes out of or back into service) asks for network
changes with `request_network_changes`; the publisher that propagates network state (EC2's
Network Manager) serves them. A feed nobody serves only counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Callback = Callable[["Instance"], None]
NetworkChanges = Callable[[int], None]
Replacement = Callable[["Instance", object], bool]


@dataclass(slots=True, eq=False)
class Instance:
    """One EC2 instance: where it runs and when its network configuration landed."""

    id: int
    az: str
    launched_at: float
    network_ready_at: float | None = None
    """When the Network Manager's configuration reached it (None: not yet: unreachable)."""
    terminated_at: float | None = None
    preexisting: bool = False
    """Running before the run started (the steady state): consumers that model their own
    initial state (the NLBs' initial targets) do not take it as a new launch."""
    group: object = None
    """The target group an Auto Scaling group launched it into, as a replacement (None: a
    customer's launch)."""

    @property
    def network_ready(self) -> bool:
        return self.network_ready_at is not None

    @property
    def running(self) -> bool:
        return self.terminated_at is None


class InstanceFeed:
    """Publishes instance launches, network readiness and terminations to subscribers."""

    def __init__(self) -> None:
        self._on_launch: list[Callback] = []
        self._on_ready: list[Callback] = []
        self._on_terminate: list[Callback] = []
        self._network_changes: NetworkChanges | None = None
        self.unserved_network_changes = 0
        """Changes requested while no publisher served them (a feed without EC2)."""
        self._replace: Replacement | None = None

    def subscribe(
        self,
        on_launch: Callback | None = None,
        on_network_ready: Callback | None = None,
        on_terminate: Callback | None = None,
    ) -> None:
        if on_launch is not None:
            self._on_launch.append(on_launch)
        if on_network_ready is not None:
            self._on_ready.append(on_network_ready)
        if on_terminate is not None:
            self._on_terminate.append(on_terminate)

    def launched(self, instance: Instance) -> None:
        for cb in self._on_launch:
            cb(instance)

    def network_ready(self, instance: Instance, now: float) -> None:
        instance.network_ready_at = now
        for cb in self._on_ready:
            cb(instance)

    def terminated(self, instance: Instance, now: float) -> None:
        instance.terminated_at = now
        for cb in self._on_terminate:
            cb(instance)

    def serve_network_changes(self, handler: NetworkChanges) -> None:
        """The publisher propagates consumers' network changes with `handler(count)`."""
        self._network_changes = handler

    def request_network_changes(self, count: int) -> None:
        """`count` network-appliance changes to propagate (see the module docstring)."""
        if count <= 0:
            return
        if self._network_changes is None:
            self.unserved_network_changes += count
        else:
            self._network_changes(count)

    def serve_replacements(self, handler: Replacement) -> None:
        """The publisher terminates and replaces instances with `handler(instance, group)`."""
        self._replace = handler

    def request_replacement(self, instance: Instance, group: object) -> bool:
        """Terminate `instance` and launch one for `group` (an Auto Scaling group replacing an
        unhealthy instance). False when nobody serves it or the instance is not the
        publisher's."""
        return self._replace is not None and self._replace(instance, group)
