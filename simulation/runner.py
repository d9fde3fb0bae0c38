"""Run a scenario: build the component tree, simulate, detect milestones, check expectations.

`prepare()` builds everything and checks wiring, actions and expectations *before* the clock
starts (bad input costs nothing). `simulate()` runs it in chunks so progress can be shown and
Ctrl-C stops cleanly: an interrupted run still produces complete outputs, with status `failed`.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .core.component import Component, Detector
from .core.env import SimEnv
from .core.errors import ScenarioError, SimulationError
from .core.results import Results
from .core.views import Views
from .scenario.load import LoadedScenario
from .scenario.model import Expectation, section_module
from .scenario.operators import Operators, bind_actions

ProgressFn = Callable[[float, float], None]
"""Called with (sim seconds done, sim seconds total) as the run advances."""

PROGRESS_STEPS = 200


@dataclass
class Prepared:
    loaded: LoadedScenario
    env: SimEnv
    root: Component
    operators: Operators
    detectors: dict[str, tuple[Component, Detector]]


@dataclass
class RunResult:
    loaded: LoadedScenario
    seed: int
    env: SimEnv
    root: Component
    end: float
    status: str
    milestones: dict[str, float | None]
    expectations: list[dict[str, Any]]
    statistics: dict[str, Any]
    impact: dict[str, Any]
    operator_actions: list[dict[str, Any]]
    views: Views = field(default_factory=Views)
    failure: str | None = None
    failure_detail: str | None = None
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def prepare(loaded: LoadedScenario, seed: int | None = None) -> Prepared:
    """Build the tree for `loaded` (with `seed` overriding the scenario's), checked, not run."""
    model = loaded.model
    env = SimEnv(model.start, seed=model.seed if seed is None else seed, end=model.duration)
    root = Component(env, "region")
    sections = model.present_sections()
    if not sections:
        raise ScenarioError(
            "this scenario sets no model section, so there is nothing to simulate "
            "(add e.g. 'labs:' or 'dynamodb_dns:'; see docs/scenario-reference.md)",
            loaded.tree.loc,
        )
    for path, cfg in sections:
        section_module(path).build(root, cfg)
    bound = bind_actions(loaded, root)
    operators = Operators(root, loaded, bound)
    root.check_wiring()
    detectors: dict[str, tuple[Component, Detector]] = {}
    for comp in root.walk():
        for name, fn in comp.detectors().items():
            if name in detectors:
                raise SimulationError(
                    f"milestone {name!r} is detected by both {detectors[name][0].scope} "
                    f"and {comp.scope}"
                )
            detectors[name] = (comp, fn)
    problems = [
        loaded.error(
            ("expect", i, "milestone"),
            f"unknown milestone {e.milestone!r} (this scenario detects: "
            f"{', '.join(sorted(detectors)) or 'none'})",
        )
        for i, e in enumerate(model.expect)
        if e.milestone is not None and e.milestone not in detectors
    ]
    if problems:
        raise ScenarioError.many(problems)
    return Prepared(loaded, env, root, operators, detectors)


def simulate(
    loaded: LoadedScenario, seed: int | None = None, progress: ProgressFn | None = None
) -> RunResult:
    """Prepare and run to the end (or until Ctrl-C / a model error), then evaluate."""
    prep = prepare(loaded, seed)
    env, end = prep.env, loaded.model.duration
    interrupted, failure, detail = False, None, None
    step = end / PROGRESS_STEPS
    try:
        target = 0.0
        while target < end:
            target = min(end, target + step)
            env.run(until=target)
            if progress is not None:
                progress(env.now, end)
    except KeyboardInterrupt:
        interrupted = True
        failure = f"interrupted at sim time {env.now:.0f} s ({env.iso()})"
    except Exception as exc:  # a model bug: keep what was recorded, say what broke
        failure = f"model error at sim time {env.now:.0f} s: {type(exc).__name__}: {exc}"
        detail = traceback.format_exc()
    return evaluate(prep, env.now if failure else end, interrupted, failure, detail)


def evaluate(
    prep: Prepared,
    end: float,
    interrupted: bool = False,
    failure: str | None = None,
    detail: str | None = None,
) -> RunResult:
    """Milestones, statistics, impact and expectations from the records up to `end`."""
    loaded, env = prep.loaded, prep.env
    results = Results(env, end)
    milestones: dict[str, float | None] = {}
    for name, (comp, fn) in sorted(prep.detectors.items()):
        t = fn(results)
        milestones[name] = t
        if t is not None:
            env.recorder.events.append((t, comp.scope, "milestone", name))
    statistics: dict[str, Any] = {}
    impact: dict[str, Any] = {}
    views = Views()
    for comp in prep.root.walk():
        stats = comp.statistics(results)
        if stats:
            statistics[comp.scope] = stats
        for key, value in comp.impact(results).items():
            impact[key] = value
        views.plots.extend(comp.plots())
        views.switches.extend(comp.switches())
    expectations = [
        check_expectation(e, loaded, milestones, statistics, impact) for e in loaded.model.expect
    ]
    if failure is not None:
        status = "failed"
    elif all(e["ok"] for e in expectations):
        status = "ok"
    else:
        status = "deviated"
    return RunResult(
        loaded=loaded,
        seed=env.seed,
        env=env,
        root=prep.root,
        end=end,
        status=status,
        milestones=milestones,
        expectations=expectations,
        statistics=statistics,
        impact=impact,
        operator_actions=prep.operators.performed,
        views=views,
        failure=failure,
        failure_detail=detail,
        interrupted=interrupted,
    )


def lookup_statistic(
    path: str, statistics: dict[str, Any], impact: dict[str, Any]
) -> tuple[bool, Any]:
    """Resolve `SCOPE.KEY...` against statistics (longest scope first), or `impact.NAME.KEY...`."""
    if path.startswith("impact."):
        node: Any = impact
        rest = path[len("impact.") :].split(".")
    else:
        scope = max((s for s in statistics if path.startswith(s + ".")), key=len, default=None)
        if scope is None:
            return False, None
        node, rest = statistics[scope], path[len(scope) + 1 :].split(".")
    for part in rest:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_expectation(
    e: Expectation,
    loaded: LoadedScenario,
    milestones: dict[str, float | None],
    statistics: dict[str, Any],
    impact: dict[str, Any],
) -> dict[str, Any]:
    clock_iso = loaded.model.start
    row: dict[str, Any] = {"name": e.name}
    if e.milestone is not None:
        actual = milestones.get(e.milestone)
        row["milestone"] = e.milestone
        row["actual"] = None if actual is None else _iso(clock_iso, actual)
        if e.absent:
            row["expected"] = "absent"
            row["ok"] = actual is None
        else:
            want = loaded.instant(e.at)
            row["expected"] = _iso(clock_iso, want)
            row["tolerance_s"] = e.tolerance
            if actual is None:
                row["ok"] = False
            else:
                row["delta_s"] = round(actual - want, 3)
                row["ok"] = abs(actual - want) <= float(e.tolerance)
        return row
    found, actual = lookup_statistic(e.statistic, statistics, impact)
    row["statistic"] = e.statistic
    row["actual"] = actual if found else None
    expected: dict[str, Any] = {}
    ok = found and isinstance(actual, int | float) and not isinstance(actual, bool)
    ok = ok and not (isinstance(actual, float) and math.isnan(actual))
    if e.value is not None:
        expected["value"], expected["tolerance"] = e.value, e.tolerance
        ok = ok and abs(actual - e.value) <= float(e.tolerance)
    if e.min is not None:
        expected["min"] = e.min
        ok = ok and actual >= e.min
    if e.max is not None:
        expected["max"] = e.max
        ok = ok and actual <= e.max
    row["expected"] = expected
    row["ok"] = bool(ok)
    if not found:
        row["problem"] = f"no statistic {e.statistic!r} in this run"
    return row


def _iso(start: Any, t: float) -> str:
    from .core.clock import ScenarioClock

    return ScenarioClock(start).iso(t)
