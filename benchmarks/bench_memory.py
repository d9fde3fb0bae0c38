"""Calls per second of the memory model's service time (the DWFM calls it once per work item).

    .venv/bin/python benchmarks/bench_memory.py

Three cases: a working set that repeats (a queue hovering around a depth: memo hits), one that
never repeats (every call computes the breakdown), and the server adapter (`MemoryServiceTime`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from simulation.primitives.memory import KIB, MIB, MemoryConfig, MemoryModel, MemoryServiceTime

N = 200_000


def rate(label: str, fn: Callable[[int], float], args: list[int]) -> None:
    start = time.perf_counter()
    for a in args:
        fn(a)
    elapsed = time.perf_counter() - start
    print(
        f"{label:<44} {len(args) / elapsed:>12,.0f} calls/s  ({elapsed / len(args) * 1e9:,.0f} ns)"
    )


def main() -> None:
    depths = [(i * 7919) % 5000 for i in range(N)]  # a queue wandering over 5,000 depths
    for page in ("4 KiB", "2 MiB"):
        m = MemoryModel(MemoryConfig(page_size=page, memory_limit="1 GiB"))
        rate(
            f"service_time, {page}, repeating working sets",
            m.service_time,
            [2 * MIB + d * 64 * KIB for d in depths],
        )
        fresh = MemoryModel(m.config)
        rate(
            f"service_time, {page}, all distinct (no memo hit)",
            fresh.service_time,
            [2 * MIB + i * 4099 for i in range(N)],
        )
        adapter = MemoryServiceTime(MemoryModel(m.config), base=2 * MIB, per_item=64 * KIB)
        rate(f"MemoryServiceTime(queue depth), {page}", adapter, depths)


if __name__ == "__main__":
    main()
