"""Leases: grant, renew, release and expire, one holder per key, each with a deadline.

A `LeaseTable` tracks many leases (10^6 fit in a few hundred MB) without a simpy process per
lease. Leases live in flat per-slot arrays (deadline, holder, key) indexed through one dict, and
expiry is lazy: a heap holds one entry per lease, keyed by its deadline tick. A renewal only
moves the deadline in the array; when the old entry comes due, the one watcher process finds
the later deadline and re-queues the lease once. So renewals cost O(1) and the heap never holds
more than about one entry per lease.

The watcher expires leases at the first multiple of `resolution` at or after their deadline
(default 1 ms), updates the `held` level, records a `lease_expired` event and calls
`on_expire(key, holder)`. Queries (`holder`, `is_held`, `deadline_of`) are exact at any instant:
a lease past its deadline is not held, even before the watcher has processed it.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import simpy
from pydantic import Field
from simpy.events import URGENT

from simulation.core.config import SectionConfig
from simulation.core.env import call_in
from simulation.core.timers import Sleeper
from simulation.core.units import Duration

_SHIFT = 32
_MASK = (1 << _SHIFT) - 1


class LeaseConfig(SectionConfig):
    """Leases of one table: how long a grant or renewal holds, how finely expiry is timed."""

    duration: Duration = Field(
        "5 min", description="How long a grant or a renewal holds the lease without renewal."
    )
    resolution: Duration = Field(
        "1 ms",
        description="Expiry is processed at the first multiple of this at or after a lease's "
        "deadline; coarser means fewer watcher wake-ups with many leases.",
    )

    def build(
        self,
        env: simpy.Environment,
        scope: str | None = None,
        on_expire: Callable[[Hashable, Any], None] | None = None,
    ) -> LeaseTable:
        return LeaseTable(
            env, self.duration, resolution=self.resolution, scope=scope, on_expire=on_expire
        )


class LeaseTable:
    """Leases keyed by any hashable (droplet id ...), each with one holder and a deadline.

    With `scope` (and a SimEnv), the table records the level `<scope>.held` and, if
    `record_expiry`, one `lease_expired` event per expiry (detail: key and holder).
    """

    def __init__(
        self,
        env: simpy.Environment,
        duration: float,
        *,
        resolution: float = 1e-3,
        scope: str | None = None,
        on_expire: Callable[[Hashable, Any], None] | None = None,
        record_expiry: bool = True,
    ) -> None:
        if duration <= 0 or resolution <= 0:
            raise ValueError(f"lease duration and resolution must be > 0: {duration}, {resolution}")
        self.env = env
        self.duration = float(duration)
        self.resolution = float(resolution)
        self.scope = scope
        self.on_expire = on_expire
        self._tol = self.resolution * 1e-6
        self._slot_of: dict[Hashable, int] = {}
        self._keys: list[Hashable | None] = []
        self._holders: list[Any] = []
        self._deadline = array("d")
        self._queued = array("q")  # tick of the slot's live heap entry, -1 if none
        self._free: list[int] = []
        self._heap: list[int] = []  # tick << _SHIFT | slot
        self._wake_tick: float = math.inf
        # the watcher: callbacks scheduling the events its process did (its first wake-up
        # event existed before the process ran)
        self._sleep = Sleeper(env, self._watch, armed=True)
        self.granted = 0
        self.renewed = 0
        self.released = 0
        self.expired = 0
        recorder = getattr(env, "recorder", None) if scope is not None else None
        self._level = None if recorder is None else recorder.level(scope, "held", "leases", 0)
        self._recorder = recorder if record_expiry else None
        call_in(env, 0.0, lambda _call: self._watch(), None, URGENT)  # the process's start

    # -- queries: exact at any instant, no side effects ------------------------------------
    @property
    def count_held(self) -> int:
        """Leases held, as of the watcher's last pass (at most `resolution` late on expiry)."""
        return len(self._slot_of)

    def _live(self, key: Hashable) -> int | None:
        slot = self._slot_of.get(key)
        if slot is None or self._deadline[slot] <= self.env.now:
            return None
        return slot

    def holder(self, key: Hashable) -> Any | None:
        """The current holder of `key`, or None if the lease is free or past its deadline."""
        slot = self._live(key)
        return None if slot is None else self._holders[slot]

    def is_held(self, key: Hashable, holder: Any = None) -> bool:
        """True if `key` is held now (by `holder`, if given)."""
        slot = self._live(key)
        return slot is not None and (holder is None or self._holders[slot] == holder)

    def deadline_of(self, key: Hashable) -> float | None:
        """When the lease on `key` ends unless renewed, or None if not held."""
        slot = self._live(key)
        return None if slot is None else self._deadline[slot]

    def items(self) -> Iterator[tuple[Hashable, Any, float]]:
        """(key, holder, deadline) of every lease held now."""
        now = self.env.now
        for key, slot in self._slot_of.items():
            d = self._deadline[slot]
            if d > now:
                yield key, self._holders[slot], d

    # -- operations --------------------------------------------------------------------------
    def _settle(self, key: Hashable) -> int | None:
        """The live slot of `key`, expiring first a lease that is past its deadline."""
        slot = self._slot_of.get(key)
        if slot is not None and self._deadline[slot] <= self.env.now:
            self._expire(slot)
            return None
        return slot

    def grant(self, key: Hashable, holder: Any, duration: float | None = None) -> bool:
        """Give `key` to `holder` until now + duration if free; a re-grant to the holder renews.

        False if another holder has the lease and it has not expired.
        """
        slot = self._settle(key)
        if slot is not None:
            if self._holders[slot] == holder:
                self._extend(slot, duration)
                self.renewed += 1
                return True
            return False
        deadline = self.env.now + (self.duration if duration is None else duration)
        if self._free:
            slot = self._free.pop()
            self._keys[slot] = key
            self._holders[slot] = holder
            self._deadline[slot] = deadline
        else:
            slot = len(self._keys)
            if slot > _MASK:
                raise OverflowError("lease table full (2^32 slots)")
            self._keys.append(key)
            self._holders.append(holder)
            self._deadline.append(deadline)
            self._queued.append(-1)
        self._slot_of[key] = slot
        self._queue(slot, deadline)
        self.granted += 1
        if self._level is not None:
            self._level.set(len(self._slot_of))
        return True

    def renew(self, key: Hashable, holder: Any, duration: float | None = None) -> bool:
        """Extend `holder`'s lease on `key` to now + duration; False if not held by `holder`."""
        slot = self._settle(key)
        if slot is None or self._holders[slot] != holder:
            return False
        self._extend(slot, duration)
        self.renewed += 1
        return True

    def release(self, key: Hashable, holder: Any = None) -> bool:
        """Give up the lease on `key` (only if held by `holder`, when given)."""
        slot = self._settle(key)
        if slot is None or (holder is not None and self._holders[slot] != holder):
            return False
        self._free_slot(slot)
        self.released += 1
        if self._level is not None:
            self._level.set(len(self._slot_of))
        return True

    def _extend(self, slot: int, duration: float | None) -> None:
        deadline = self.env.now + (self.duration if duration is None else duration)
        self._deadline[slot] = deadline
        self._queue(slot, deadline)

    # -- expiry ------------------------------------------------------------------------------
    def _tick_of(self, deadline: float) -> int:
        res = self.resolution
        k = math.ceil(deadline / res)
        if k * res < deadline:
            k += 1
        return k

    def _queue(self, slot: int, deadline: float) -> None:
        """Make sure a heap entry will look at `slot` no later than its deadline's tick."""
        tick = self._tick_of(deadline)
        queued = self._queued[slot]
        if 0 <= queued <= tick:
            return  # the pending entry comes first and will re-queue the lease
        self._queued[slot] = tick
        heapq.heappush(self._heap, (tick << _SHIFT) | slot)
        if tick < self._wake_tick:
            self._sleep.wake()

    def _free_slot(self, slot: int) -> None:
        del self._slot_of[self._keys[slot]]
        self._keys[slot] = None
        self._holders[slot] = None
        self._queued[slot] = -1
        self._free.append(slot)

    def _expire(self, slot: int) -> None:
        key, holder = self._keys[slot], self._holders[slot]
        self._free_slot(slot)
        self.expired += 1
        if self._level is not None:
            self._level.set(len(self._slot_of))
        if self._recorder is not None:
            self._recorder.event(self.scope, "lease_expired", f"{key} holder={holder}")
        if self.on_expire is not None:
            self.on_expire(key, holder)

    def _watch(self) -> None:
        """The one watcher: sleeps until the earliest queued tick, expires what is due."""
        env, heap, queued, deadlines = self.env, self._heap, self._queued, self._deadline
        res = self.resolution
        while True:
            if heap:
                tick = heap[0] >> _SHIFT
                wait = tick * res - env.now
                if wait > self._tol:
                    self._wake_tick = tick
                    self._sleep.sleep(wait)
                    return
            else:
                self._wake_tick = math.inf
                self._sleep.sleep(None)
                return
            self._wake_tick = -1  # processing: pushes need not wake us
            due = env.now + self._tol
            while heap and (heap[0] >> _SHIFT) * res <= due:
                entry = heapq.heappop(heap)
                slot = entry & _MASK
                if queued[slot] != entry >> _SHIFT:
                    continue  # stale: the lease was freed or re-queued earlier
                queued[slot] = -1
                deadline = deadlines[slot]
                if deadline <= due:
                    self._expire(slot)
                else:
                    self._queue(slot, deadline)
