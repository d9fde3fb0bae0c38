"""SimEnv: one environment owns time, randomness and records."""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Any

import simpy

from .clock import ScenarioClock
from .recorder import Recorder
from .rng import stream


class SimLogAdapter(logging.LoggerAdapter):
    """Stamps every log line with the sim time (seconds and wall clock) and the scope."""

    def __init__(self, logger: logging.Logger, env: SimEnv, scope: str) -> None:
        super().__init__(logger, {})
        self.env = env
        self.scope = scope

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        t = self.env.now
        return f"[t={t:.3f}s {self.env.clock.iso(t)}] {self.scope}: {msg}", kwargs


class SimEnv(simpy.Environment):
    """A simpy environment with a scenario clock, seeded RNG streams and a recorder.

    Sim time is float seconds since `start`. `rng(scope)` gives the same stream for the same
    (seed, scope) in every run; nothing here touches a global RNG.
    """

    def __init__(self, start: datetime, seed: int = 1, end: float | None = None) -> None:
        super().__init__(initial_time=0.0)
        self.clock = ScenarioClock(start)
        self.seed = seed
        self.end = end
        self.recorder = Recorder(self)
        self._streams: dict[tuple[str, str], random.Random] = {}

    def rng(self, scope: str, purpose: str = "") -> random.Random:
        """The RNG stream of `scope` (cached: one object per scope and purpose)."""
        key = (scope, purpose)
        r = self._streams.get(key)
        if r is None:
            r = self._streams[key] = stream(self.seed, scope, purpose)
        return r

    def logger(self, scope: str) -> SimLogAdapter:
        return SimLogAdapter(logging.getLogger(f"outage_sim.{scope}"), self, scope)

    def iso(self, t: float | None = None) -> str:
        return self.clock.iso(self.now if t is None else t)
