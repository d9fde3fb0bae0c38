"""Memory and speed of the lease table at 10^6 leases, and a DWFM-like renewal load.

    .venv/bin/python benchmarks/bench_leases.py

Memory is the growth of the process's resident set while the table fills (keys are created
beforehand and reported apart). Speeds are wall-clock operations per second: grant, renew,
release, expiry by the watcher (with the `held` level and an event row per expiry, and without
the event rows), then 10^5 droplet leases renewed every 2 min by 20 hosts for 2 h of sim time.
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

from simulation.core import SimEnv
from simulation.primitives.resilience.lease import LeaseTable

N = 1_000_000
START = datetime.fromisoformat("2025-10-19T23:00:00-07:00")


def rss() -> int:
    """Resident set size in bytes (Linux /proc; falls back to the peak RSS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(label: str, n: int, fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<52} {n / elapsed:>12,.0f} ops/s  ({elapsed:.2f} s)")
    return elapsed


def memory_and_ops(record_expiry: bool) -> None:
    env = SimEnv(START, seed=1)
    keys = [f"i-{k:017x}" for k in range(N)]  # instance-id-like strings, as a DWFM would use
    gc.collect()
    before = rss()
    table = LeaseTable(
        env, 300.0, resolution=1.0, scope="region.leases", record_expiry=record_expiry
    )
    holders = [f"host-{h}" for h in range(100)]

    def grant_all() -> None:
        grant = table.grant
        for i, k in enumerate(keys):
            grant(k, holders[i % 100])

    tag = "events" if record_expiry else "no events"
    timed(f"grant ({tag})", N, grant_all)
    gc.collect()
    grown = rss() - before
    per = grown / N
    if record_expiry:
        print(
            f"{'memory for 10^6 leases':<52} {grown / 2**20:>12,.0f} MiB    ({per:.0f} B/lease; "
            f"keys apart: {sys.getsizeof(keys[0])} B/key)"
        )

    def renew_all() -> None:
        env.run(until=100.0)
        renew = table.renew
        for i, k in enumerate(keys):
            renew(k, holders[i % 100])

    timed(f"renew ({tag})", N, renew_all)

    def expire_all() -> None:
        env.run(until=1000.0)

    timed(f"expire by the watcher ({tag})", N, expire_all)
    assert table.count_held == 0 and table.expired == N

    def regrant_release() -> None:
        grant, release = table.grant, table.release
        for i, k in enumerate(keys):
            grant(k, holders[i % 100])
        for i, k in enumerate(keys):
            release(k, holders[i % 100])

    timed(f"grant + release, reusing slots ({tag})", 2 * N, regrant_release)


def dwfm_like() -> None:
    """10^5 droplets, 20 hosts renewing every 2 min, 10 min leases, 2 h of sim time."""
    env = SimEnv(START, seed=1)
    table = LeaseTable(env, 600.0, resolution=1.0, scope="region.ec2.dwfm.leases")
    droplets = 100_000
    ops = [0]

    def host(h: int):
        mine = list(range(h, droplets, 20))
        yield env.timeout(h * 6.0)
        for d in mine:
            table.grant(d, h)
        while True:
            yield env.timeout(120.0)
            renew = table.renew
            for d in mine:
                renew(d, h)
            ops[0] += len(mine)

    for h in range(20):
        env.process(host(h))
    elapsed = timed(
        "DWFM-like: 10^5 leases renewed every 2 min, 2 h",
        droplets * 60,
        lambda: env.run(until=7200.0),
    )
    print(
        f"{'':<52} {ops[0]:>12,} renewals, {7200 / elapsed:,.0f} sim s per wall s, "
        f"heap {len(table._heap):,} entries"
    )


def main() -> None:
    memory_and_ops(record_expiry=True)
    memory_and_ops(record_expiry=False)
    dwfm_like()


if __name__ == "__main__":
    main()
