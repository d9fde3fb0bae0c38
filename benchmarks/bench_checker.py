"""Benchmark: the exhaustive DNS-race checker (`outage-sim check dns-race`): states per second.

Runs `simulation.analysis.dns_race_check.check` on its default configuration (1 Planner, 2
Enactors, 5 generations, clean-up threshold 2, 1 endpoint), with and without the fix, and on a
larger one (3 Enactors, 4 generations); prints states, transitions, wall seconds, states/s and
transitions/s, best of `--repeat`. Peak memory is the process's max RSS after all of them.

    .venv/bin/python benchmarks/bench_checker.py [--repeat 3] [--large]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import machine

CONFIGS = {
    "default": {},
    "default --fixed": {"fixed": True},
}
LARGE = {"3 enactors, 4 generations": {"enactors": 3, "generations": 4}}


def main() -> int:
    from simulation.analysis.dns_race_check import check

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--large", action="store_true", help="also 3 Enactors x 4 generations")
    args = p.parse_args()
    print(machine())
    print(f"{'configuration':<28} {'states':>9} {'transitions':>12} {'wall s':>7} "
          f"{'states/s':>9} {'trans/s':>9} {'violation':>9}")  # fmt: skip
    configs = {**CONFIGS, **(LARGE if args.large else {})}
    for name, kwargs in configs.items():
        best = None
        for _ in range(args.repeat if name in CONFIGS else 1):
            t = time.perf_counter()
            result = check(**kwargs)
            wall = time.perf_counter() - t
            best = (wall, result) if best is None or wall < best[0] else best
        wall, r = best
        print(
            f"{name:<28} {r.states:>9,} {r.transitions:>12,} {wall:>7.2f} "
            f"{r.states / wall:>9,.0f} {r.transitions / wall:>9,.0f} "
            f"{'yes' if r.violation else 'no':>9}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
