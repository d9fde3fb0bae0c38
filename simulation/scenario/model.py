"""The scenario document: top-level keys, operator actions, expectations, and the section registry.

A scenario is validated in one pass by a pydantic model built from the registered sections
(`SECTIONS`): each section is the `Config` of one subsystem or lab module. Unknown keys are errors
everywhere; every key has a default (except `start` and `duration`) and a description, from which
`docs/scenario-reference.md` is generated.
"""

from __future__ import annotations

import importlib
import re
from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from ..core.units import Duration, parse_duration, parse_timestamp

# Section registry: YAML path -> module providing `Config` and `build(parent, config)`.
# Top-level keys are subsystems; `labs.<name>` keys are labs. Order is build order.
SECTIONS: dict[str, str] = {
    "dynamodb_dns": "simulation.subsystems.dynamodb_dns",
    "ec2": "simulation.subsystems.ec2",  # after dynamodb_dns: DWFM's state checks resolve it
    "nlb": "simulation.subsystems.nlb",  # after ec2: its instance feed drives the targets
    "services": "simulation.subsystems.services",  # keep after the subsystems it depends on
    "labs.server_patterns": "simulation.subsystems.labs.server_patterns",
    "labs.congestive_collapse": "simulation.subsystems.labs.congestive_collapse",
    "labs.retry_storm": "simulation.subsystems.labs.retry_storm",
    "labs.memory_pressure": "simulation.subsystems.labs.memory_pressure",
    "labs.graceful_shutdown": "simulation.subsystems.labs.graceful_shutdown",
    "drill": "simulation.training.section",  # last: its alerts watch the levels of all others
}

_RELATIVE = re.compile(r"^\s*\+\s*(.+)$")


class Strict(BaseModel):
    # validate_default: defaults written with units ("1 min") are parsed like any value
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def parse_instant(value: Any, start: datetime) -> float:
    """An `at:` value: `'+30 min'` (after start) or an ISO-8601 time with offset -> sim seconds."""
    if isinstance(value, str):
        m = _RELATIVE.match(value)
        if m:
            return parse_duration(m.group(1))
    return (parse_timestamp(value) - start).total_seconds()


def _check_instant(value: Any) -> Any:
    """Validate the syntax of an `at:` value early (the window is checked against start later)."""
    if isinstance(value, str) and _RELATIVE.match(value):
        parse_duration(_RELATIVE.match(value).group(1))
    else:
        parse_timestamp(value)
    return value if isinstance(value, str) else value.isoformat()


class Condition(Strict):
    """When a conditional action fires: a level crossing a threshold, or an event occurring."""

    level: str | None = Field(
        None,
        description="Level to watch, as `scope:metric` (e.g. `region.lab.server:queue_depth`).",
    )
    above: float | None = Field(None, description="Fire when the level is above this value.")
    below: float | None = Field(None, description="Fire when the level is below this value.")
    event: str | None = Field(
        None, description="Fire when an event of this kind is recorded (optionally `scope:kind`)."
    )
    sustained: Duration = Field(
        0.0, description="The level condition must hold this long before the action fires."
    )
    delay: Duration = Field(0.0, description="Wait this long after the condition is met.")
    check_every: Duration = Field("1 min", description="How often the level is checked.")

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        if (self.level is None) == (self.event is None):
            raise ValueError("a condition watches exactly one of 'level' or 'event'")
        if self.level is not None:
            if ":" not in self.level:
                raise ValueError(f"level {self.level!r} must be written as 'scope:metric'")
            if (self.above is None) == (self.below is None):
                raise ValueError("a level condition needs exactly one of 'above' or 'below'")
        elif self.above is not None or self.below is not None:
            raise ValueError("'above'/'below' go with 'level', not with 'event'")
        if self.check_every <= 0:
            raise ValueError("check_every must be positive")
        return self


class OperatorAction(Strict):
    """One operator action: what, to which component, and when (a time, or a condition)."""

    name: str | None = Field(
        None,
        description="Identifier of this entry (defaults to `action`); variants override or "
        "disable an inherited entry by repeating its name.",
    )
    action: str = Field(
        description="The action, as offered by a component of the scenario, or `note`: a "
        "published input that changes nothing in the model (recorded in the timeline)."
    )
    target: str | None = Field(
        None, description="Scope of the component that performs it, when several offer it."
    )
    at: str | None = Field(
        None, description="When: ISO-8601 time with offset, or `+DURATION` after the start."
    )
    when: Condition | None = Field(None, description="Or: a condition that triggers the action.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the action (validated by the action)."
    )
    enabled: bool = Field(True, description="`false` keeps the entry but does not perform it.")
    note: str = Field("", description="Free text shown in the timeline and the report.")

    _check_at = field_validator("at", mode="before")(
        classmethod(lambda cls, v: None if v is None else _check_instant(v))
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> OperatorAction:
        if (self.at is None) == (self.when is None):
            raise ValueError("an action needs exactly one of 'at' (a time) or 'when' (a condition)")
        return self

    @property
    def key(self) -> str:
        return self.name or self.action


class Expectation(Strict):
    """A named expectation checked after the run: a milestone's time, or a statistic's value."""

    name: str = Field(description="Identifier shown in the summary and the report.")
    milestone: str | None = Field(None, description="Milestone whose time is checked.")
    statistic: str | None = Field(
        None,
        description="Figure checked, as `SCOPE.KEY` from the summary's statistics or impact "
        "(e.g. `region.dns.failing_client_minutes`).",
    )
    at: str | None = Field(
        None, description="Expected time of the milestone (ISO-8601 with offset, or `+DURATION`)."
    )
    tolerance: Duration | float | None = Field(
        None, description="Allowed deviation: a duration for `at`, a number for `value`."
    )
    absent: bool = Field(False, description="The milestone must not happen at all.")
    value: float | None = Field(None, description="Expected value of the statistic.")
    min: float | None = Field(None, description="The statistic must be at least this.")
    max: float | None = Field(None, description="The statistic must be at most this.")

    _check_at = field_validator("at", mode="before")(
        classmethod(lambda cls, v: None if v is None else _check_instant(v))
    )

    @model_validator(mode="after")
    def _coherent(self) -> Expectation:
        if (self.milestone is None) == (self.statistic is None):
            raise ValueError("an expectation checks exactly one of 'milestone' or 'statistic'")
        if self.milestone is not None:
            if self.value is not None or self.min is not None or self.max is not None:
                raise ValueError("'value'/'min'/'max' go with 'statistic', not with 'milestone'")
            if self.absent == (self.at is not None):
                raise ValueError("a milestone expectation needs exactly one of 'at' or 'absent'")
            if self.at is not None and self.tolerance is None:
                raise ValueError("a milestone expected 'at' a time needs a 'tolerance'")
        else:
            if self.at is not None or self.absent:
                raise ValueError("'at'/'absent' go with 'milestone', not with 'statistic'")
            if self.value is None and self.min is None and self.max is None:
                raise ValueError("a statistic expectation needs 'value', 'min' or 'max'")
            if self.value is not None and self.tolerance is None:
                raise ValueError("a statistic expected to have a 'value' needs a 'tolerance'")
        return self


class ScenarioBase(Strict):
    """Keys every scenario has, whatever sections it uses."""

    title: str = Field("Untitled scenario", description="Shown in reports and `outage-sim list`.")
    description: str = Field("", description="One line saying what the scenario shows.")
    extends: str | None = Field(
        None,
        description="Path (relative to this file) of a scenario whose keys this one overrides.",
    )
    seed: int = Field(1, ge=0, description="Seed of every random stream of the run.")
    start: datetime = Field(
        description="Start of the run: ISO-8601 with UTC offset, e.g. 2025-10-19T23:00:00-07:00."
    )
    duration: Duration = Field(description="Length of the run in sim time, e.g. `16 h`.")
    reference_timeline: str | None = Field(
        None,
        description="CSV of a published timeline (time_pdt, milestone, role ...) the report "
        "compares against; path relative to this file.",
    )
    operators: list[OperatorAction] = Field(
        default_factory=list, description="Operator actions, timed or conditional."
    )
    expect: list[Expectation] = Field(
        default_factory=list, description="Expectations checked after the run (ok / deviated)."
    )

    _start = field_validator("start", mode="before")(classmethod(lambda cls, v: parse_timestamp(v)))

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("expected a positive duration")
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> ScenarioBase:
        for what, keys in (
            ("operator action", [a.key for a in self.operators]),
            ("expectation", [e.name for e in self.expect]),
        ):
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"{what} name {dup[0]!r} is used twice; names must be unique")
        return self

    def present_sections(self) -> list[tuple[str, Any]]:
        """(section path, config) of the sections this scenario sets, in registry order."""
        found = []
        for path in SECTIONS:
            node: Any = self
            for part in path.split("."):
                node = getattr(node, part, None)
                if node is None:
                    break
            if node is not None:
                found.append((path, node))
        return found


def section_module(path: str) -> Any:
    return importlib.import_module(SECTIONS[path])


@cache
def scenario_model() -> type[ScenarioBase]:
    """The full Scenario model: ScenarioBase plus one optional field per registered section."""
    top: dict[str, Any] = {}
    labs: dict[str, Any] = {}
    for path, module_name in SECTIONS.items():
        module = importlib.import_module(module_name)
        cfg = module.Config
        doc = (cfg.__doc__ or "").strip().splitlines()[0] if cfg.__doc__ else ""
        field = (cfg | None, Field(None, description=doc))
        if path.startswith("labs."):
            labs[path.split(".", 1)[1]] = field
        else:
            top[path] = field
    if labs:
        labs_model = create_model(
            "Labs", __base__=Strict, __doc__="Labs: each studies one primitive alone.", **labs
        )
        top["labs"] = (labs_model | None, Field(None, description="Labs to run side by side."))
    return create_model("Scenario", __base__=ScenarioBase, **top)


RunStatus = Literal["ok", "deviated", "failed"]
