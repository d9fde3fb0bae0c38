"""Customer impact as the drill scores it: the summary's impact figures that match the drill
section's patterns (`*.error_minutes` ...), summed.

Components compute impact from the records up to `results.end`, so asking at a series of ends
gives the impact accumulated over time (`curve`): when it stops growing, the outage is mitigated.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from simulation.core import Component, Results


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested impact dict, by dotted path (NaN and booleans left out)."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, path))
        elif isinstance(value, int | float) and not isinstance(value, bool) and value == value:
            out[path] = float(value)  # NaN (value != value) left out
    return out


def matching(impact: dict[str, Any], patterns: list[str]) -> dict[str, float]:
    """The figures counted as customer impact, by dotted path, in path order: those matching a
    pattern and no `!pattern`."""
    leaves = flatten(impact)
    take = [p for p in patterns if not p.startswith("!")]
    drop = [p[1:] for p in patterns if p.startswith("!")]
    return {
        path: value
        for path, value in sorted(leaves.items())
        if any(fnmatch.fnmatchcase(path, p) for p in take)
        and not any(fnmatch.fnmatchcase(path, p) for p in drop)
    }


def impact_of(root: Component, results: Results) -> dict[str, Any]:
    """Every component's impact for `results` (as the runner gathers it)."""
    out: dict[str, Any] = {}
    for comp in root.walk():
        out.update(comp.impact(results))
    return out


def impact_total(root: Component, results: Results, patterns: list[str]) -> float:
    return round(sum(matching(impact_of(root, results), patterns).values()), 6)


def curve(root: Component, patterns: list[str], times: list[float]) -> list[float]:
    """Customer impact accumulated up to each of `times` (a finished run's records)."""
    env = root.env
    return [impact_total(root, Results(env, t), patterns) for t in times]


def stopped_growing(times: list[float], values: list[float], eps: float) -> float | None:
    """The first of `times` from which `values` no longer grow by more than `eps` (None: still
    growing at the last one, or never grew)."""
    if not values or values[-1] <= eps:
        return None
    final = values[-1]
    for t, v in zip(times, values, strict=True):
        if final - v <= eps:
            return None if t >= times[-1] else t
    return None
