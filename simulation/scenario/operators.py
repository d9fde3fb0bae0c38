"""Operator actions from the scenario, bound to the components that offer them.

Each `operators:` entry names an action (`dns_manual_repair`, `restart`, ...). The components of
the built tree say which actions they accept (`Component.actions()`); this module resolves each
entry to its component(s), validates its parameters with the action's own model, and schedules
it: at a time, or when a condition on a recorded level or event holds. Every performed action is
an `operator_action` row of the timeline. Unknown actions and targets are located errors.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pydantic

from ..core.component import Action, Component
from ..core.errors import ScenarioError
from .load import LoadedScenario, error_message
from .model import Condition, OperatorAction

NOTE = "note"
"""The built-in action of a published input that changes nothing in the model (a diagnosis, a
detection): recorded in the timeline and the report, nothing performed."""


@dataclass
class BoundAction:
    """A scenario entry resolved to its components and validated parameters."""

    index: int
    entry: OperatorAction
    targets: list[tuple[Component, Action]]
    params: Any


def offered_actions(root: Component) -> dict[str, list[tuple[Component, Action]]]:
    offered: dict[str, list[tuple[Component, Action]]] = {}
    for comp in root.walk():
        for action in comp.actions():
            offered.setdefault(action.name, []).append((comp, action))
    return offered


def bind_actions(loaded: LoadedScenario, root: Component) -> list[BoundAction]:
    """Resolve every enabled entry; raise a located ScenarioError listing every problem."""
    offered = offered_actions(root)
    bound, problems = [], []
    for i, entry in enumerate(loaded.model.operators):
        if not entry.enabled:
            continue
        if entry.action == NOTE:
            if entry.params:
                problems.append(
                    loaded.error(("operators", i, "params"), "a 'note' takes no parameters")
                )
            elif entry.when is not None:
                problems.append(
                    loaded.error(("operators", i, "when"), "a 'note' is written 'at' a time")
                )
            else:
                bound.append(BoundAction(i, entry, [], None))
            continue
        candidates = offered.get(entry.action)
        if not candidates:
            known = ", ".join(sorted([*offered, NOTE]))
            problems.append(
                loaded.error(
                    ("operators", i, "action"),
                    f"unknown action {entry.action!r} (available: {known})",
                )
            )
            continue
        if entry.target is not None:
            targets = [
                (c, a)
                for c, a in candidates
                if c.scope == entry.target or fnmatch.fnmatchcase(c.scope, entry.target)
            ]
            if not targets:
                scopes = ", ".join(c.scope for c, _ in candidates)
                problems.append(
                    loaded.error(
                        ("operators", i, "target"),
                        f"unknown target {entry.target!r} for action {entry.action!r} "
                        f"(offered by: {scopes})",
                    )
                )
                continue
        else:
            targets = candidates
        params_model = targets[0][1].params
        try:
            params = params_model.model_validate(entry.params)
        except pydantic.ValidationError as exc:
            for err in exc.errors(include_url=False):
                where = ("operators", i, "params", *err["loc"])
                if err["type"] == "extra_forbidden":
                    msg, at_key = (
                        f"unknown parameter '{err['loc'][-1]}' for {entry.action!r} "
                        f"(accepted: {', '.join(params_model.model_fields) or 'none'})",
                        True,
                    )
                else:
                    msg, at_key = error_message(err, params_model)
                problems.append(loaded.error(where, msg, key=at_key))
            continue
        semantic = [
            msg for _, a in targets if a.check is not None and (msg := a.check(params)) is not None
        ]
        if semantic:
            problems.append(loaded.error(("operators", i, "params"), semantic[0]))
            continue
        if entry.when is not None:
            problem = _check_condition(loaded, i, entry.when, root)
            if problem is not None:
                problems.append(problem)
                continue
        bound.append(BoundAction(i, entry, targets, params))
    if problems:
        raise ScenarioError.many(problems)
    return bound


def _check_condition(
    loaded: LoadedScenario, i: int, cond: Condition, root: Component
) -> ScenarioError | None:
    if cond.level is None:
        return None
    scope = cond.level.rsplit(":", 1)[0]
    scopes = {c.scope for c in root.walk()}
    if scope not in scopes:
        close = sorted(s for s in scopes if s.startswith(scope.split(".")[0]))[:8]
        return loaded.error(
            ("operators", i, "when", "level"),
            f"no component {scope!r} in this scenario (components: {', '.join(close)} ...)",
        )
    return None


class Operators(Component):
    """Performs the scenario's operator actions at their times or conditions."""

    def __init__(self, parent: Component, loaded: LoadedScenario, bound: list[BoundAction]):
        super().__init__(parent, "operators")
        self.loaded = loaded
        self.performed: list[dict[str, Any]] = []
        for b in bound:
            if b.entry.at is not None:
                self.env.process(self._at(b, loaded.instant(b.entry.at)))
            else:
                self.env.process(self._when(b))

    def _perform(self, b: BoundAction) -> None:
        if b.entry.action == NOTE:
            detail = f"{b.entry.key}: note" + (f" ({b.entry.note})" if b.entry.note else "")
            self.event("operator_action", detail)
            self.performed.append(
                {
                    "name": b.entry.key,
                    "action": NOTE,
                    "target": "",
                    "time": self.env.iso(),
                    "note": b.entry.note,
                }
            )
            return
        for comp, action in b.targets:
            detail = f"{b.entry.key}: {action.name} on {comp.scope}"
            if b.entry.note:
                detail += f" ({b.entry.note})"
            self.event("operator_action", detail)
            self.performed.append(
                {
                    "name": b.entry.key,
                    "action": action.name,
                    "target": comp.scope,
                    "time": self.env.iso(),
                    "note": b.entry.note,
                }
            )
            action.run(b.params)

    def _at(self, b: BoundAction, t: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(max(0.0, t - self.env.now))
        self._perform(b)

    def _when(self, b: BoundAction) -> Generator[Any, Any, None]:
        cond = b.entry.when
        assert cond is not None
        rec = self.env.recorder
        if cond.event is not None:
            scope, _, kind = cond.event.rpartition(":")
            seen = 0
            while True:
                events = rec.events
                hit = any(
                    e[2] == kind and (not scope or e[1] == scope)
                    for e in events[seen : len(events)]
                )
                seen = len(events)
                if hit:
                    break
                yield self.env.timeout(cond.check_every)
        else:
            scope, _, metric = cond.level.rpartition(":")
            since: float | None = None
            while True:
                lvl = rec.levels.get((scope, metric))
                value = lvl.current if lvl is not None else float("nan")
                ok = (cond.above is not None and value > cond.above) or (
                    cond.below is not None and value < cond.below
                )
                if ok:
                    since = self.env.now if since is None else since
                    if self.env.now - since >= cond.sustained:
                        break
                else:
                    since = None
                yield self.env.timeout(cond.check_every)
        if cond.delay:
            yield self.env.timeout(cond.delay)
        self._perform(b)
