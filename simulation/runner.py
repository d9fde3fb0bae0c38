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
from pathlib import Path
from typing import Any

from .core.component import Component, Detector
from .core.env import SimEnv
from .core.errors import ScenarioError, SimulationError
from .core.gc_policy import run_gc_policy
from .core.results import Results
from .core.views import Link, Views, check_link
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
    reference_timeline: Path | None = None
    """The scenario's published timeline (checked), copied into the run directory."""


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
    reference_timeline: Path | None = None
    comparison: dict[str, Any] | None = None
    """Set by `compare_with_base` for a variant (`extends`): the summary's `comparison` block."""


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
        try:
            section_module(path).build(root, cfg)
        except ScenarioError as exc:
            if exc.location is not None or len(exc.problems) > 1:
                raise
            # located at the key the section named (e.g. drill.root_cause), else the section
            where = exc.key if exc.key and exc.key.split(".")[0] == path.split(".")[0] else path
            raise loaded.error(tuple(where.split(".")), exc.message) from None
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
    reference = reference_timeline_path(loaded)
    return Prepared(loaded, env, root, operators, detectors, reference)


def reference_timeline_path(loaded: LoadedScenario) -> Path | None:
    """The scenario's `reference_timeline`, resolved against its file and checked (located
    error if missing or malformed); None when the scenario has none."""
    from .report.reference import ReferenceError, read_reference
    from .scenario.load import display_path

    value = loaded.model.reference_timeline
    if value is None:
        return None
    path = (loaded.path.parent / value).resolve()
    try:
        read_reference(path, value, display_path(path))
    except ReferenceError as exc:
        raise loaded.error(("reference_timeline",), str(exc)) from None
    return path


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
        with run_gc_policy():  # the built tree is long-lived: do not rescan it (core/gc_policy)
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
        views.links.extend(component_links(comp))
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
        reference_timeline=prep.reference_timeline,
    )


def component_links(comp: Component) -> list[Link]:
    """The causal links a component declares (`Component.links()`), each checked."""
    links = list(comp.links())
    for link in links:
        try:
            check_link(link)
        except ValueError as exc:
            raise SimulationError(f"{comp.scope}: {exc}") from None
    return links


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


# -- variants: compare with the base scenario ------------------------------------------------


def base_overrides(base_tree: Any, overrides: list[str] | tuple[str, ...]) -> tuple[list, list]:
    """Split `--set` overrides into those that apply to the base and those that do not.

    An override applies when the mapping or named list entry it changes exists in the base (the
    key itself may be absent there: the base then has it at its default)."""
    from .scenario.yamlsource import LDict, LList

    applied, skipped = [], []
    for assignment in overrides:
        dotted = assignment.partition("=")[0].strip()
        parts = dotted.split(".")
        node: Any = base_tree
        ok = bool(dotted)
        for part in parts[:-1]:
            if isinstance(node, LDict) and part in node and node[part] is not None:
                node = node[part]
            elif isinstance(node, LList):
                found = [
                    item
                    for i, item in enumerate(node)
                    if (part.isdigit() and int(part) == i)
                    or (isinstance(item, dict) and (item.get("name") or item.get("action")) == part)
                ]
                if not found:
                    ok = False
                    break
                node = found[0]
            else:
                ok = False
                break
        (applied if ok else skipped).append(assignment)
    return applied, skipped


def compare_with_base(
    variant: RunResult, overrides: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Run the scenario the variant `extends` (same seed, the overrides that apply to it) and
    compare: milestone deltas in seconds, impact deltas, expectation changes.

    The block is set on `variant.comparison` and returned. A base that cannot be loaded or that
    fails is reported in the block, not raised: the variant's own outputs stand."""
    from .scenario.load import display_path, load_scenario

    loaded = variant.loaded
    if len(loaded.chain) < 2:
        raise ValueError("compare_with_base needs a variant (a scenario with `extends`)")
    base_path = loaded.chain[1]
    block: dict[str, Any] = {"base": display_path(base_path), "seed": variant.seed}
    variant.comparison = block
    try:
        plain = load_scenario(base_path)
        applied, skipped = base_overrides(plain.tree, overrides)
        base_loaded = load_scenario(base_path, applied) if applied else plain
    except ScenarioError as exc:
        block["skipped"] = f"the base scenario does not load: {exc}"
        return block
    block.update(base_title=base_loaded.model.title, overrides_applied=applied)
    block["overrides_skipped"] = skipped
    base = simulate(base_loaded, seed=variant.seed)
    block["base_status"] = base.status
    if base.failure:
        block["base_failure"] = base.failure
    vclock, bclock = variant.env.clock, base.env.clock
    milestones = {}
    for name in sorted(set(variant.milestones) | set(base.milestones)):
        bt, vt = base.milestones.get(name), variant.milestones.get(name)
        milestones[name] = {
            "base": None if bt is None else bclock.iso(bt),
            "variant": None if vt is None else vclock.iso(vt),
            # both clocks count from their own start; compare wall-clock instants
            "delta_s": None
            if bt is None or vt is None
            else round((vclock.utc(vt) - bclock.utc(bt)).total_seconds(), 3),
        }
    block["milestones"] = milestones
    bimp, vimp = _numeric_leaves(base.impact), _numeric_leaves(variant.impact)
    block["impact"] = {
        key: {
            "base": bimp.get(key),
            "variant": vimp.get(key),
            "delta": None
            if key not in bimp or key not in vimp
            else round(vimp[key] - bimp[key], 6),
        }
        for key in sorted(set(bimp) | set(vimp))
    }
    bexp = {e["name"]: e for e in base.expectations}
    vexp = {e["name"]: e for e in variant.expectations}
    block["expectations"] = []
    for name in [*bexp, *(n for n in vexp if n not in bexp)]:
        b, v = bexp.get(name), vexp.get(name)
        block["expectations"].append(
            {
                "name": name,
                "base": None if b is None else b["ok"],
                "variant": None if v is None else v["ok"],
                "changed": (b is None) != (v is None) or (b is not None and b["ok"] != v["ok"]),
                # the variant checks something else under the same name
                "redefined": b is not None
                and v is not None
                and (b.get("expected"), b.get("milestone"), b.get("statistic"))
                != (v.get("expected"), v.get("milestone"), v.get("statistic")),
            }
        )
    return block


def _numeric_leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_numeric_leaves(value, path))
        elif isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            out[path] = float(value)  # (NaN != NaN: left out)
    return out
