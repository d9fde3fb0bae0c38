"""The droplet fleet, in lease batches: who is leased, who has room for an instance.

Droplets are grouped in batches of `batch_size` (the last one may be smaller). A batch is the
unit of DWFM's lease work: one state check reads the batch's droplet records in one DynamoDB
call, one re-establishment attempt covers them all, and one lease (in the resilience
primitive's LeaseTable) stands for the leases of all its droplets. This is exact, not an
approximation, as long as the droplets of a batch are always checked together: their per-droplet
leases would have identical deadlines. It keeps the cost of the model proportional to
droplets / batch_size.

Batch i is in Availability Zone `azs[i mod len(azs)]` and managed by DWFM host `i mod hosts`.
Launches pick, uniformly, a leased batch with a free slot (a droplet without a lease takes no
launch); the set of such batches is kept for O(1) picks.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .config import Config

if TYPE_CHECKING:
    from .network_manager import Propagation


class Batch:
    """`droplets` droplets that share their lease, their state checks and their host."""

    __slots__ = (
        "az",
        "capacity",
        "check_gen",
        "droplets",
        "failing",
        "host",
        "index",
        "leased",
        "op",
        "open_at",
        "pending",
        "terminations",
        "used",
    )

    def __init__(self, index: int, droplets: int, az: str, host: int, capacity: int, used: int):
        self.index = index
        self.droplets = droplets
        self.az = az
        self.host = host
        self.capacity = capacity
        self.used = used
        self.leased = False
        self.failing = False
        """Leased, and its latest state check failed (DWFM's view: the lease is at risk)."""
        self.op: Any = None
        """The lease operation in progress (a state check or a re-establishment), if any."""
        self.check_gen = 0
        """Bumped at each grant or renewal: a scheduled state check of an older generation is
        stale and does nothing."""
        self.pending: list[Propagation] = []
        """Network Manager work held back while the batch has no lease."""
        self.terminations: list[Any] = []
        """Instances due to terminate while the batch had no lease (a termination is a state
        change DWFM makes): they keep running until the lease is back."""
        self.open_at = -1
        """Position in `Fleet.open` (leased with a free slot), -1 if not there."""

    def __repr__(self) -> str:
        return f"<Batch {self.index} host={self.host} leased={self.leased} used={self.used}>"


class Fleet:
    """All batches, and the leased ones with room, kept for uniform random picks."""

    def __init__(self, config: Config) -> None:
        f = config.fleet
        hosts = config.dwfm.hosts
        size = f.batch_size
        count = -(-f.droplets // size)
        self.batches: list[Batch] = []
        for i in range(count):
            droplets = min(size, f.droplets - i * size)
            capacity = droplets * f.slots_per_droplet
            used = int(capacity * f.occupied)
            self.batches.append(
                Batch(i, droplets, f.azs[i % len(f.azs)], i % hosts, capacity, used)
            )
        self.droplets = f.droplets
        self.open: list[Batch] = []
        self.leased_droplets = 0

    def set_leased(self, batch: Batch, leased: bool) -> None:
        if batch.leased == leased:
            return
        batch.leased = leased
        self.leased_droplets += batch.droplets if leased else -batch.droplets
        self._update_room(batch)

    def take_slot(self, batch: Batch) -> None:
        batch.used += 1
        self._update_room(batch)

    def free_slot(self, batch: Batch) -> None:
        batch.used -= 1
        self._update_room(batch)

    def pick(self, rng: random.Random) -> Batch | None:
        """A uniformly chosen leased batch with a free slot, or None (insufficient capacity)."""
        n = len(self.open)
        return self.open[int(rng.random() * n)] if n else None

    def room(self) -> int:
        """Free slots on leased droplets."""
        return sum(b.capacity - b.used for b in self.open)

    def _update_room(self, batch: Batch) -> None:
        should = batch.leased and batch.used < batch.capacity
        is_open = batch.open_at >= 0
        if should and not is_open:
            batch.open_at = len(self.open)
            self.open.append(batch)
        elif is_open and not should:
            last = self.open.pop()
            if last is not batch:
                self.open[batch.open_at] = last
                last.open_at = batch.open_at
            batch.open_at = -1
