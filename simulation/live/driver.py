"""Sim time for a live front end: a scenario frozen at an instant, or replayed with the wall clock.

`SimDriver(prepared)` owns a scenario built by `runner.prepare` (the whole model, operators
included) and advances its simpy environment: `advance_to(t)` processes every event at or before
sim time `t`, so what is served afterwards is the state *at* `t` (a commit at exactly `t` has
happened). `Replay` maps the wall clock onto sim time (`sim = origin + speed * elapsed`) and
advances in bounded slices so a fast replay never starves the server that shares its thread.

Nothing here changes the model: it is the same tree `outage-sim run` builds, stepped by another
loop. The zones served are every `AuthoritativeDns` component of the tree.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.name

from simulation.core.errors import UnitError, UserInputError
from simulation.core.units import format_duration
from simulation.primitives.dns import A, AuthoritativeDns
from simulation.runner import Prepared
from simulation.scenario.load import LoadedScenario

Clock = Callable[[], float]


def resolve_instant(text: str, loaded: LoadedScenario, option: str = "--at") -> float:
    """Sim seconds of `start`, `end`, an ISO-8601 time with offset, or `+DURATION` after start.

    Raises UserInputError (naming `option`) for bad syntax or an instant outside the scenario.
    """
    model = loaded.model
    word = text.strip().lower()
    if word == "start":
        return 0.0
    if word == "end":
        return float(model.duration)
    try:
        t = loaded.instant(text.strip())
    except (UnitError, ValueError):
        raise UserInputError(
            f"{option} {text!r}: expected start, end, an ISO-8601 time with offset such as "
            f"'2025-10-19T23:50:00-07:00', or an offset from the start such as '+50 min'"
        ) from None
    if not 0.0 <= t <= float(model.duration):
        clock = loaded_clock(loaded)
        raise UserInputError(
            f"{option} {text!r}: outside the scenario, which runs from {clock(0.0)} to "
            f"{clock(float(model.duration))}"
        )
    return t


def loaded_clock(loaded: LoadedScenario) -> Callable[[float], str]:
    from simulation.core.clock import ScenarioClock

    return ScenarioClock(loaded.model.start).iso


class SimDriver:
    """Advances a prepared scenario; knows the zones it serves and the names worth watching."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.env = prepared.env
        self.end = float(prepared.loaded.model.duration)
        self.zones: list[AuthoritativeDns] = [
            c for c in prepared.root.walk() if isinstance(c, AuthoritativeDns)
        ]
        self.position = 0.0
        """Sim time the served state stands for: every event at or before it has happened."""
        self.failure: str | None = None
        self.events = 0

    @property
    def finished(self) -> bool:
        """At the scenario's end, or stopped by a model error: the state no longer moves."""
        return self.failure is not None or self.position >= self.end

    def advance_to(
        self, t: float, budget: float | None = None, clock: Clock = time.monotonic
    ) -> bool:
        """Process every event at or before `t` (capped at the end). With `budget` (wall seconds)
        stop early once it is spent; returns whether `t` was reached. A model error freezes the
        state where it happened (see `failure`)."""
        if self.failure is not None:
            return True
        t = min(t, self.end)
        env = self.env
        deadline = None if budget is None else clock() + budget
        steps = 0
        try:
            while env.peek() <= t:
                env.step()
                steps += 1
                if deadline is not None and steps % 64 == 0 and clock() > deadline:
                    self.events += steps
                    self.position = max(self.position, env.now)
                    return False
        except Exception as exc:  # a model bug: keep serving the last state, say what broke
            self.failure = f"model error at sim time {env.now:.0f} s: {type(exc).__name__}: {exc}"
            self.position = max(self.position, env.now)
            self.events += steps
            return True
        self.events += steps
        self.position = max(self.position, t)
        return True

    def iso(self, t: float | None = None) -> str:
        return self.env.clock.iso(self.position if t is None else t)

    def watched(self) -> list[tuple[AuthoritativeDns, dns.name.Name]]:
        """Names that clients resolve: owners of A records (data or alias) with no label starting
        with `_` (record-keeping names such as `g5.dynamodb._plans.<zone>` are left out)."""
        out = []
        for zone in self.zones:
            state = zone.served
            names = {
                n
                for n, rdtype in state.record_keys()
                if rdtype == A and not any(label.startswith(b"_") for label in n.labels)
            }
            out.extend((zone, n) for n in sorted(names))
        return out

    def describe(self, with_time: bool = True) -> str:
        """One status line: sim time and what each watched name resolves to now."""
        parts = []
        if with_time:
            offset = format_duration(round(self.position)) if self.position >= 0.5 else "0 s"
            parts.append(f"sim {self.iso()} (start + {offset})")
        for zone, n in self.watched():
            short = n.relativize(zone.served.origin).to_text()
            branches = zone.served.answers(n, A)
            count = len({rd for r in branches for rd in r.data})
            if not count:
                parts.append(f"{short}: EMPTY (NODATA)")
            elif len(branches) > 1:
                parts.append(f"{short}: {count} addresses in {len(branches)} weighted answers")
            else:
                parts.append(f"{short}: {count} addresses")
        if self.failure is not None:
            parts.append(f"frozen: {self.failure}")
        elif self.position >= self.end:
            parts.append("frozen at the scenario's end")
        return " | ".join(parts)


@dataclass
class Replay:
    """Sim time follows the wall clock: `origin + speed * (clock() - started)`, up to the end."""

    driver: SimDriver
    speed: float
    origin: float = 0.0
    clock: Clock = time.monotonic
    slice: float = 0.02
    """Wall seconds of simulation per `tick` at most, so queries are never kept waiting long."""

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be a positive number, got {self.speed!r}")
        self.started = self.clock()
        self.driver.advance_to(self.origin)

    def target(self) -> float:
        return min(self.driver.end, self.origin + self.speed * (self.clock() - self.started))

    def tick(self) -> float:
        """Advance towards the wall clock's sim time; returns how far behind it (sim seconds)."""
        target = self.target()
        self.driver.advance_to(target, self.slice, self.clock)
        return max(0.0, target - self.driver.position)
