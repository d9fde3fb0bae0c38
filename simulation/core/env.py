"""SimEnv: one environment owns time, randomness and records."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, URGENT, Event

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


class Call:
    """A bare scheduled event (`SimEnv.call_in`): at its time the loop runs its callbacks with it.

    What a `simpy.Timeout` with a callback appended does, without the Event API (no `succeed`,
    no conditions, no yielding it from a process): a slotted object with `callbacks` and `value`,
    pushed on simpy's heap like any event, so it takes its place in the order of events exactly
    as the timeout would have.
    """

    __slots__ = ("callbacks", "value")
    _ok = True  # read by the loop: a Call never fails

    def __init__(self, callback: Callable[[Call], None] | None, value: Any) -> None:
        self.callbacks: list[Callable[[Call], None]] | None = [] if callback is None else [callback]
        self.value = value


_new = object.__new__


def call_in(
    env: simpy.Environment,
    delay: float,
    callback: Callable[[Call], None] | None,
    value: Any = None,
    priority: int = NORMAL,
) -> Call:
    """`SimEnv.call_in` for any simpy environment (tests drive primitives with plain ones);
    a None callback schedules an event with nothing to do."""
    if delay < 0:
        raise ValueError(f"Negative delay {delay}")
    call = _new(Call)  # Call(callback, value) without the __init__ frame (2.6 M a reference run)
    call.callbacks = [] if callback is None else [callback]
    call.value = value
    heappush(env._queue, (env._now + delay, priority, next(env._eid), call))
    return call


class SimEnv(simpy.Environment):
    """A simpy environment with a scenario clock, seeded RNG streams and a recorder.

    Sim time is float seconds since `start`. `rng(scope)` gives the same stream for the same
    (seed, scope) in every run; nothing here touches a global RNG.

    `now` is a plain attribute here (simpy's is a property read millions of times a run), kept
    equal to simpy's `_now` by `step` and `run`; `run` is simpy's loop with `step` inlined. Both
    process events exactly as simpy does (same order, same failures, same `until` handling).
    """

    now: float = 0.0  # shadows simpy's property: an instance attribute, set with `_now`

    def __init__(self, start: datetime, seed: int = 1, end: float | None = None) -> None:
        super().__init__(initial_time=0.0)
        self.now = 0.0
        self.clock = ScenarioClock(start)
        self.seed = seed
        self.end = end
        self.recorder = Recorder(self)
        self._streams: dict[tuple[str, str], random.Random] = {}

    call_in = call_in
    """`env.call_in(delay, callback, value=None, priority=NORMAL)`: run `callback(call)` `delay`
    seconds from now: `env.timeout(delay, value)` with the callback appended (same place in the
    order of events), at a fraction of the cost. More callbacks may be appended to
    `call.callbacks` until it fires. (The module's `call_in`, bound: one body for both.)"""

    def step(self) -> None:
        """Process the next event: simpy's `step`, with `now` set before the callbacks run."""
        try:
            now, _, _, event = heappop(self._queue)
        except IndexError:
            raise EmptySchedule from None
        self._now = self.now = now
        callbacks, event.callbacks = event.callbacks, None
        try:
            for callback in callbacks:
                callback(event)
        except StopSimulation:
            # the remaining callbacks run when the simulation resumes (as simpy's step)
            event.callbacks = callbacks[callbacks.index(callback) + 1 :]
            self.schedule(event, -1)  # type: ignore[arg-type]
            raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc

    def run(self, until: Any = None) -> Any:
        """simpy's `Environment.run` with its `step` inlined (the loop every event goes through)."""
        if until is not None:
            if not isinstance(until, Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self._now:
                    raise ValueError(
                        f"until ({at}) must be greater than the current simulation time"
                    )
                until = Event(self)
                until._ok = True
                until._value = None
                self.schedule(until, URGENT, at - self._now)
            elif until.callbacks is None:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        queue = self._queue
        event: Any = None
        callbacks: Any = None
        callback: Any = None
        try:
            while True:
                try:
                    now, _, _, event = heappop(queue)
                except IndexError:
                    raise EmptySchedule from None
                self._now = self.now = now
                callbacks, event.callbacks = event.callbacks, None
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    # The event failed and nobody defused it: crash, with a fresh copy.
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as exc:
            # As simpy's step: the remaining callbacks run when the simulation resumes.
            event.callbacks = callbacks[callbacks.index(callback) + 1 :]
            self.schedule(event, -1)  # type: ignore[arg-type]
            return exc.args[0]
        except EmptySchedule:
            if until is not None:
                assert not until.triggered
                raise RuntimeError(
                    f'No scheduled events left but "until" event was not triggered: {until}'
                ) from None
        return None

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
