"""A tiny real section used by the scenario-language tests (registered by conftest only).

A counter that ticks at a fixed interval; an action adds to it; a detector finds when it first
reached a threshold. Small, but it goes through every hook the runner uses.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from simulation.core import Action, Component, Duration, Results, SectionConfig


class Config(SectionConfig):
    """A ticking counter (test section)."""

    count: int = Field(1, gt=0, description="How much each tick adds.")
    interval: Duration = Field("1 min", description="Time between ticks.")
    threshold: float = Field(10, description="The milestone `counter_reached` fires at this value.")
    mode: str = Field("plain", description="Free text.")


class BumpParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    by: int = 1


class Counter(Component):
    def __init__(self, parent: Component, cfg: Config) -> None:
        super().__init__(parent, "toy")
        self.cfg = cfg
        self.value = self.level("value", initial=0)
        self.env.process(self._tick())

    def _tick(self):
        while True:
            yield self.env.timeout(self.cfg.interval * (0.5 + self.rng.random()))
            self.value.add(self.cfg.count)
            self.event("tick", int(self.value.current))

    def actions(self) -> list[Action]:
        return [
            Action(
                "bump",
                lambda p: self.value.add(p.by),
                BumpParams,
                "add to the counter",
                check=lambda p: None if p.by <= 1000 else f"bump by {p.by} is more than 1000",
            )
        ]

    def detectors(self):
        return {
            "counter_reached": lambda r: r.first_level_time(
                self.scope, "value", lambda v: v >= self.cfg.threshold
            )
        }

    def statistics(self, results: Results):
        return {"final": self.value.current, "ticks": len(results.recorder.events_of("tick"))}


def build(parent: Component, config: Config) -> Component:
    if config.mode == "unbuildable":  # a section that finds a problem only when it builds
        from simulation.core import ScenarioError

        raise ScenarioError("toy cannot be built in mode 'unbuildable'")
    return Counter(parent, config)
