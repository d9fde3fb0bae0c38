"""Seeded random streams, one per (scenario seed, component scope).

A stream's seed is a hash of the scenario seed and the scope, so adding a component never
changes the draws of another, and two runs with the same seed draw the same numbers. There is
no module-level RNG anywhere in the package.
"""

from __future__ import annotations

import hashlib
import random


def stream_seed(seed: int, scope: str, purpose: str = "") -> int:
    """A 64-bit seed derived from the scenario seed, the scope and an optional purpose label."""
    digest = hashlib.blake2b(f"{seed}\x00{scope}\x00{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def stream(seed: int, scope: str, purpose: str = "") -> random.Random:
    """An independent `random.Random` for one component (and, optionally, one use within it)."""
    return random.Random(stream_seed(seed, scope, purpose))
