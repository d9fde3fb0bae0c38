"""The `drill:` scenario section: alerts, hints and what a drill needs to know about a scenario.

Alerts are part of the model, not of the drill's user interface: the `Drill` component evaluates
each alert's level condition every `evaluate_every` during any run that has the section, and
records `alert` / `alert_resolved` events (so `outage-sim run` timelines show when on-call would
have been paged). Hints are `hint` events, recorded only at the difficulty asked for
(`difficulty`, set by `outage-sim drill --hints`), when their trigger (the start, or an alert's
first firing) plus `delay` has passed, unless the trainee already typed what they suggest.

The rest (`root_cause`, `impact`, `dashboard`, `historical`, `briefing`, `step`) is read by the
drill engine and its debrief; nothing here knows a subsystem.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import simpy
from pydantic import Field, field_validator, model_validator

from simulation.core import Component, Duration, Results, ScenarioError, SectionConfig
from simulation.core.views import Plot, Series

DIFFICULTIES = ("none", "nudges", "guided")
HINT_LEVELS = {"none": (), "nudges": ("nudge",), "guided": ("nudge", "guide")}
COMMAND_EVENT = "drill_command"
"""Event kind of a command typed by the trainee (recorded by the engine, read by hints)."""


def _scope_metric(value: str | None, what: str) -> str | None:
    if value is not None and (":" not in value or not all(value.rsplit(":", 1))):
        raise ValueError(f"{what} {value!r} must be written as 'scope:metric'")
    return value


class Alert(SectionConfig):
    """A page or ticket raised while a level is beyond a threshold."""

    name: str = Field(description="Identifier shown to the trainee, e.g. `lambda_errors`.")
    summary: str = Field("", description="One line saying what the alert means to on-call.")
    severity: Literal["page", "ticket"] = Field(
        "page", description="`page` wakes someone up; `ticket` waits for working hours."
    )
    level: str = Field(
        description="Level watched, as `scope:metric` (e.g. `region.services.lambda:error_rate`)."
    )
    above: float | None = Field(None, description="Fire while the level is above this value.")
    below: float | None = Field(None, description="Fire while the level is below this value.")
    sustained: Duration = Field(
        "0 s", description="The condition must hold this long before the alert fires."
    )

    _level = field_validator("level")(classmethod(lambda cls, v: _scope_metric(v, "level")))

    @model_validator(mode="after")
    def _one_threshold(self) -> Alert:
        if (self.above is None) == (self.below is None):
            raise ValueError("an alert needs exactly one of 'above' or 'below'")
        if self.sustained < 0:
            raise ValueError("sustained must not be negative")
        return self

    def holds(self, value: float) -> bool:
        if self.above is not None:
            return value > self.above
        return self.below is not None and value < self.below

    @property
    def condition(self) -> str:
        return f"> {self.above:g}" if self.above is not None else f"< {self.below:g}"


class Hint(SectionConfig):
    """A hint shown to the trainee at some difficulty, when its trigger has passed."""

    text: str = Field(description="What the trainee reads.")
    level: Literal["nudge", "guide"] = Field(
        "nudge",
        description="`nudge`: shown at difficulty `nudges` and `guided`; `guide`: only at "
        "`guided` (a step-by-step instruction).",
    )
    after_alert: str | None = Field(
        None, description="Trigger: the first firing of this alert (null: the start of the run)."
    )
    delay: Duration = Field("0 s", description="Wait this long after the trigger.")
    unless: list[str] = Field(
        default_factory=list,
        description="Not shown if the trainee already typed a command starting with one of "
        "these (e.g. `resolve`, `show region.dynamodb_dns`, `dns_manual_repair`).",
    )


class DashboardRow(SectionConfig):
    """A series on the drill's dashboard."""

    series: str = Field(description="The series, as `scope:metric`.")
    label: str = Field("", description="What on-call calls it (default: scope and metric).")

    _series = field_validator("series")(classmethod(lambda cls, v: _scope_metric(v, "series")))


class Historical(SectionConfig):
    """When the real responders detected and diagnosed the incident (for the debrief only)."""

    detected: str | None = Field(
        None, description="ISO-8601 time with offset at which responders were engaged."
    )
    diagnosed: str | None = Field(
        None, description="ISO-8601 time with offset at which the root cause was identified."
    )

    @field_validator("detected", "diagnosed", mode="before")
    @classmethod
    def _instant(cls, v: Any) -> Any:
        from simulation.core.units import parse_timestamp

        return None if v is None else parse_timestamp(v).isoformat()


class Config(SectionConfig):
    """On-call drill: alerts raised from levels, hints by difficulty, what the debrief scores."""

    briefing: str = Field("", description="Shown to the trainee when the drill starts.")
    step: Duration = Field("5 min", description="Sim time one step of the drill advances.")
    evaluate_every: Duration = Field("30 s", description="How often alert conditions are checked.")
    alerts: list[Alert] = Field(default_factory=list, description="Alerts on-call receives.")
    hints: list[Hint] = Field(default_factory=list, description="Hints, by difficulty.")
    difficulty: Literal["none", "nudges", "guided"] = Field(
        "none",
        description="Which hints are recorded: none, nudges, or guided (nudges and guides); "
        "`outage-sim drill --hints` sets it.",
    )
    root_cause: str | None = Field(
        None,
        description="Scope of the root cause's component (an investigation of it or below it "
        "counts as the diagnosis); null: the component of the first detected milestone.",
    )
    impact: list[str] = Field(
        default_factory=lambda: ["*error_minutes", "!*weighted_error_minutes"],
        description="Customer impact: the summary's impact figures summed for the score, as "
        "dotted-path patterns (`*` matches across dots; `!PATTERN` leaves figures out).",
    )
    dashboard: list[DashboardRow] = Field(
        default_factory=list,
        description="Dashboard rows (`{series: scope:metric, label: ...}`, or just the "
        "`scope:metric` string); empty: the series of the components' report plots, in order.",
    )
    inputs: list[str] = Field(
        default_factory=list,
        description="Operator entries (by name) that are part of the fault, not the responders' "
        "work (a fault injection ...): a drill keeps them on while it switches the others off.",
    )
    historical: Historical = Field(
        default_factory=Historical, description="The real responders' times (debrief only)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.step <= 0:
            raise ValueError("step must be positive")
        if self.evaluate_every <= 0:
            raise ValueError("evaluate_every must be positive")
        names = [a.name for a in self.alerts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"alert {dup[0]!r} is defined twice")
        for hint in self.hints:
            if hint.after_alert is not None and hint.after_alert not in names:
                known = ", ".join(names) or "none defined"
                raise ValueError(f"hint after unknown alert {hint.after_alert!r} (alerts: {known})")
        return self

    @field_validator("dashboard", mode="before")
    @classmethod
    def _rows(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"series": row} if isinstance(row, str) else row for row in v]
        return v


class Drill(Component):
    """Raises alerts from level conditions and records hints (see module docstring)."""

    def __init__(self, parent: Component, config: Config) -> None:
        root = parent  # checked before this component joins the tree
        problems = [
            msg
            for i, alert in enumerate(config.alerts)
            if (msg := _check_level(root, alert.level, f"drill.alerts[{i}].level")) is not None
        ]
        problems += [
            msg
            for i, row in enumerate(config.dashboard)
            if (msg := _check_level(root, row.series, f"drill.dashboard[{i}].series")) is not None
        ]
        if config.root_cause is not None and root.find(config.root_cause) is None:
            top = ", ".join(c.scope for c in root.children)
            problems.append(
                ScenarioError(
                    f"no component {config.root_cause!r} in this scenario "
                    f"(top-level components: {top})",
                    key="drill.root_cause",
                )
            )
        if problems:
            raise ScenarioError.many(problems)
        super().__init__(parent, "drill")
        self.config = config
        self.firing: dict[str, float] = {}
        """Alerts firing now -> the sim time each started."""
        self.fired: dict[str, simpy.Event] = {a.name: self.env.event() for a in config.alerts}
        self.alerts_firing = self.level("alerts_firing", "alerts", initial=0)
        self._history: dict[str, list[tuple[float, float | None]]] = {
            a.name: [] for a in config.alerts
        }
        if config.alerts:
            self.env.process(self._watch())
        shown = HINT_LEVELS[config.difficulty]
        for i, hint in enumerate(config.hints):
            if hint.level in shown:
                self.env.process(self._hint(i, hint))

    # -- alerts ------------------------------------------------------------------------------
    def _watch(self) -> Generator[Any, Any, None]:
        rec, cfg = self.env.recorder, self.config
        pending: dict[str, float] = {}
        watched = [(a, *a.level.rsplit(":", 1)) for a in cfg.alerts]
        while True:
            now = self.env.now
            for alert, scope, metric in watched:
                value = rec.levels[(scope, metric)].current
                if alert.holds(value):
                    since = pending.setdefault(alert.name, now)
                    if alert.name not in self.firing and now - since >= alert.sustained:
                        self._fire(alert, scope, metric, value)
                else:
                    pending.pop(alert.name, None)
                    if alert.name in self.firing:
                        self._resolve(alert, value)
            yield self.env.timeout(cfg.evaluate_every)

    def _fire(self, alert: Alert, scope: str, metric: str, value: float) -> None:
        now = self.env.now
        self.firing[alert.name] = now
        self._history[alert.name].append((now, None))
        self.alerts_firing.set(len(self.firing))
        summary = f": {alert.summary}" if alert.summary else ""
        self.event(
            "alert",
            f"{alert.severity.upper()} {alert.name} firing{summary} "
            f"({scope}:{metric} = {value:g} {alert.condition})",
        )
        event = self.fired[alert.name]
        if not event.triggered:
            event.succeed(now)

    def _resolve(self, alert: Alert, value: float) -> None:
        start = self.firing.pop(alert.name)
        self._history[alert.name][-1] = (start, self.env.now)
        self.alerts_firing.set(len(self.firing))
        self.event("alert_resolved", f"{alert.name} resolved (now {value:g})")

    # -- hints -------------------------------------------------------------------------------
    def _hint(self, index: int, hint: Hint) -> Generator[Any, Any, None]:
        if hint.after_alert is not None:
            yield self.fired[hint.after_alert]
        if hint.delay:
            yield self.env.timeout(hint.delay)
        if hint.unless and self._already_done(hint.unless):
            return
        self.event("hint", f"[{hint.level}] {hint.text}")

    def _already_done(self, prefixes: list[str]) -> bool:
        typed = [
            normalise(detail) for _, _, kind, detail in self.env.recorder.events_of(COMMAND_EVENT)
        ]
        wanted = [normalise(p) for p in prefixes]
        return any(t.startswith(w) for t in typed for w in wanted)

    # -- what happened -------------------------------------------------------------------------
    def statistics(self, results: Results) -> dict[str, Any]:
        clock, end = self.env.clock, results.end
        out: dict[str, Any] = {}
        for name, spans in self._history.items():
            firing = sum(min(b if b is not None else end, end) - a for a, b in spans if a <= end)
            first = spans[0][0] if spans and spans[0][0] <= end else None
            out[name] = {
                "first_fired": None if first is None else clock.iso(first),
                "times_fired": sum(1 for a, _ in spans if a <= end),
                "firing_minutes": round(firing / 60, 2),
            }
        return {"alerts": out} if out else {}

    def plots(self) -> list[Plot]:
        if not self.config.alerts:
            return []
        return [
            Plot(
                key="drill-alerts",
                title="Alerts firing (what on-call was paged for)",
                series=(Series(self.scope, "alerts_firing", "alerts firing"),),
                ylabel="alerts",
                caption="How many of the drill's alerts fired at each moment.",
                order=90,
            )
        ]


def normalise(command: str) -> str:
    """A command as compared by hints: words single-spaced, without a leading `do`."""
    words = command.split()
    if words and words[0] == "do":
        words = words[1:]
    return " ".join(words)


def _check_level(root: Component, ref: str, where: str) -> ScenarioError | None:
    """A problem (keyed by `where`, unlocated) when `scope:metric` names no component or no
    level of it, else None. Levels are created when components are built, so every level a
    model records exists by now (this section is built last)."""
    scope, metric = ref.rsplit(":", 1)
    if root.find(scope) is None:
        top = ", ".join(c.scope for c in root.children)
        return ScenarioError(
            f"no component {scope!r} in this scenario (top-level components: {top})", key=where
        )
    levels = sorted(m for s, m in root.env.recorder.levels if s == scope)
    if metric not in levels:
        have = ", ".join(levels) or "none"
        return ScenarioError(
            f"component {scope!r} records no level {metric!r} (its levels: {have})", key=where
        )
    return None


def build(parent: Component, config: Config) -> Drill:
    """The drill component (scope `<parent>.drill`); build it after every other section."""
    return Drill(parent, config)
