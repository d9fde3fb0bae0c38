"""The grid of a sweep: `--vary key=v1,v2,...` options, their cartesian product, and the seeds.

Every grid point is loaded and built (`prepare`, not run) before any run starts, so a bad key or
value fails the whole sweep at once with the scenario language's located message (exit 2) and
nothing is started. A point is shipped to the workers as the scenario document it validated to
(after `extends`, `--set` and its `--vary` values) in YAML, so a worker needs neither the
scenario files nor their paths: local processes and a remote Dask cluster run the same text.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...core.errors import Location, ScenarioError, UserInputError

VARY_EXAMPLE = '--vary dynamodb_dns.slowness.0.duration="5 min,10 min,15 min"'


@dataclass(frozen=True)
class Vary:
    """One varied key and its values, as typed (each is parsed as YAML, like `--set`)."""

    key: str
    values: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.key}={','.join(self.values)}"


@dataclass(frozen=True)
class GridPoint:
    """One combination of varied values, with the scenario document it gives."""

    index: int
    params: dict[str, str]
    document: str
    """The validated scenario as YAML text (extends, --set and the varied values applied)."""
    digest: str = field(default="")
    """sha256 of `document`: a resumed sweep must find the same documents."""

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items()) or "(no varied keys)"


@dataclass
class SweepPlan:
    """Everything a sweep runs: the points, the seeds, and where they came from."""

    scenario: str
    """The scenario file as shown to the user."""
    title: str
    overrides: list[str]
    vary: list[Vary]
    seeds: list[int]
    points: list[GridPoint]

    @property
    def total(self) -> int:
        return len(self.points) * len(self.seeds)

    def pairs(self) -> list[tuple[int, int]]:
        """Every (point, seed) of the sweep, in run order."""
        return [(p.index, s) for p in self.points for s in self.seeds]


def split_values(text: str) -> list[str]:
    """Split `v1,v2,...` on top-level commas (not inside quotes, [] or {}), values stripped."""
    out, current, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    out.append("".join(current).strip())
    return out


def parse_vary(options: list[str], overrides: list[str]) -> list[Vary]:
    """The `--vary` options, checked (message per problem, as the user typed the option)."""
    set_keys = {o.partition("=")[0].strip() for o in overrides}
    out: list[Vary] = []
    seen: set[str] = set()
    for option in options:
        key, eq, raw = option.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UserInputError(f"--vary {option}: expected KEY=V1,V2,..., e.g. {VARY_EXAMPLE}")
        if key == "seed":
            raise UserInputError("--vary seed: vary the seed with --seeds N and --seed-start S")
        if key in seen:
            raise UserInputError(
                f"--vary {key}: the key is varied twice; give all its values in one --vary"
            )
        if key in set_keys:
            raise UserInputError(
                f"--vary {key}: the key is also given with --set; keep one of the two"
            )
        values = split_values(raw)
        for i, v in enumerate(values):
            if not v:
                raise UserInputError(f"--vary {option}: value {i + 1} is empty")
            if v in values[:i]:
                raise UserInputError(f"--vary {option}: value {v!r} is listed twice")
        seen.add(key)
        out.append(Vary(key, tuple(values)))
    return out


def seed_range(seeds: int, seed_start: int) -> list[int]:
    if seeds < 1:
        raise UserInputError(f"--seeds: expected a positive integer, got {seeds}")
    if seed_start < 0:
        raise UserInputError(f"--seed-start: expected a non-negative integer, got {seed_start}")
    return list(range(seed_start, seed_start + seeds))


def plan_sweep(
    scenario: Path,
    overrides: list[str],
    vary_options: list[str],
    seeds: int,
    seed_start: int = 1,
) -> SweepPlan:
    """Load, validate and build every grid point (not run); raise a located error on bad input."""
    from ...runner import prepare
    from ...scenario.load import display_path, load_scenario

    seed_list = seed_range(seeds, seed_start)
    varies = parse_vary(vary_options, overrides)
    points: list[GridPoint] = []
    title = ""
    combos = itertools.product(*(v.values for v in varies)) if varies else [()]
    for index, combo in enumerate(combos):
        params = {v.key: value for v, value in zip(varies, combo, strict=True)}
        assignments = [f"{k}={value}" for k, value in params.items()]
        try:
            loaded = load_scenario(scenario, [*overrides, *assignments])
            prepare(loaded, seed_list[0])
        except ScenarioError as exc:
            raise _at_point(exc, params, assignments) from None
        title = loaded.model.title
        document = yaml.safe_dump(_portable(loaded), sort_keys=False, allow_unicode=True)
        digest = hashlib.sha256(document.encode()).hexdigest()
        points.append(GridPoint(index, params, document, digest))
    return SweepPlan(display_path(scenario), title, list(overrides), varies, seed_list, points)


def _portable(loaded: Any) -> dict[str, Any]:
    """The document as run, with paths (relative to its file) made absolute."""
    doc = loaded.document
    ref = doc.get("reference_timeline")
    if isinstance(ref, str):
        doc["reference_timeline"] = str((loaded.path.parent / ref).resolve())
    return doc


def _at_point(exc: ScenarioError, params: dict[str, str], assignments: list[str]) -> ScenarioError:
    """Say which `--vary` value a problem came from (the loader locates it as a `--set`)."""
    by_label = {f"--set {a}": f"--vary {a}" for a in assignments}
    point = ", ".join(f"{k}={v}" for k, v in params.items())
    problems = []
    for p in exc.problems:
        where = p.location
        if where is not None and where.file in by_label:
            problems.append(ScenarioError(p.message, Location(by_label[where.file]), p.key))
        elif params:
            problems.append(ScenarioError(f"{p.message} (with {point})", where, p.key))
        else:
            problems.append(p)
    return ScenarioError.many(problems)


def describe(plan: SweepPlan) -> dict[str, Any]:
    """The plan as plain data for the sweep's manifest (what `--resume` must match)."""
    return {
        "scenario": plan.scenario,
        "title": plan.title,
        "set": plan.overrides,
        "vary": [{"key": v.key, "values": list(v.values)} for v in plan.vary],
        "seeds": {"start": plan.seeds[0], "count": len(plan.seeds)},
        "points": [{"point": p.index, "params": p.params, "sha256": p.digest} for p in plan.points],
    }
