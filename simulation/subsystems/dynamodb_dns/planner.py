"""The Planner: publishes a new plan generation every interval and keeps every plan (history)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from simulation.core.component import Component

from .config import PlannerConfig
from .protocol import Plan

if TYPE_CHECKING:
    from . import DynamoDbDns


class Planner(Component):
    """Watches the load balancer fleet (its capacity: random weights per plan) and publishes plans.

    `latest` is the newest generation; `plan(g)` any generation ever made. The `generation`
    level records `latest` over time.
    """

    def __init__(
        self,
        parent: DynamoDbDns,
        config: PlannerConfig,
        endpoints: int,
        load_balancers: int,
        first_generation: int,
    ) -> None:
        super().__init__(parent, "planner")
        self.owner = parent
        self.config = config
        self.endpoints = endpoints
        self.load_balancers = load_balancers
        self.history: dict[int, Plan] = {}
        self.latest = first_generation
        self.history[first_generation] = self._make(first_generation)
        self.generation = self.level("generation", "", first_generation)
        self.env.process(self._run())

    def plan(self, generation: int) -> Plan:
        """Plan `generation` from the history (KeyError if never made)."""
        return self.history[generation]

    def _make(self, generation: int) -> Plan:
        spread, rng = self.config.weight_spread, self.rng
        weights = tuple(
            tuple(
                max(1, round(100 * (1 - spread + 2 * spread * rng.random())))
                for _ in range(self.load_balancers)
            )
            for _ in range(self.endpoints)
        )
        return Plan(generation, weights)

    def _interval(self) -> float:
        now, mean = self.env.now, self.config.interval
        for burst in self.config.bursts:
            if burst.start <= now < burst.start + burst.duration:
                mean = burst.interval
                break
        j = self.config.jitter
        return mean * (1 - j + 2 * j * self.rng.random())

    def _run(self) -> Generator[Any, Any, None]:
        while True:
            yield self.env.timeout(self._interval())
            if not self.owner.automation_enabled:
                continue
            g = self.latest + 1
            self.history[g] = self._make(g)
            self.latest = g
            self.generation.set(g)
