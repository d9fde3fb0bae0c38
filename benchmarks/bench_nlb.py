"""Benchmark: the NLB subsystem over a 16 h run, steady and flapping, at two fleet sizes.

Each fleet has `n` NLBs (3 AZs, 6 targets per AZ: 21 subjects per NLB checked every 30 s) and one
checker cell per 12 NLBs in each AZ (each cell as busy as the lab's, 70% at rest). `steady`: no
launch; `flapping`: the lab's launches and propagation backlog (scaled with the fleet), failover
disabled at 09:36. Prints wall seconds, simpy events and events per wall second, checks, wall
microseconds per check, wall seconds per NLB-hour, and the recorded rows (levels and events) that
become metrics.parquet and timeline.csv. Each figure is the best of `--repeat` runs.

    .venv/bin/python benchmarks/bench_nlb.py [--nlbs 12,48] [--hours 16] [--repeat 1]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import simpy
import yaml

from simulation.core import Component, SimEnv
from simulation.core.units import parse_timestamp
from simulation.subsystems.nlb import Config, build

LAB = Path(__file__).resolve().parents[1] / "scenarios" / "labs" / "nlb-flapping.yaml"
PER_CELL = 12  # NLBs per checker cell and AZ, as in the lab
DISABLE = 5 * 3600 + 6 * 60


def events_scheduled(env: simpy.Environment) -> int:
    return next(env._eid) - 1  # simpy keeps no public count


def config(nlbs: int, flapping: bool) -> dict[str, Any]:
    doc = yaml.safe_load(LAB.read_text())
    cfg = copy.deepcopy(doc["nlb"])
    groups = cfg["load_balancers"]
    per = max(1, nlbs // len(groups))
    for g in groups:
        g["count"] = per
    cfg["checker"]["cells_per_az"] = max(1, (per * len(groups)) // PER_CELL)
    scale = per * len(groups) / PER_CELL
    if flapping:
        cfg["launcher"]["rate"] = [
            {"at": s["at"], "rate": f"{float(s['rate'].split('/')[0]) * scale:g}/min"}
            for s in cfg["launcher"]["rate"]
        ]
    else:
        cfg["launcher"] = None
    return cfg


def run(nlbs: int, flapping: bool, hours: float) -> dict[str, float]:
    env = SimEnv(parse_timestamp(yaml.safe_load(LAB.read_text())["start"]), 1)
    nlb = build(Component(env, "region"), Config(**config(nlbs, flapping)))
    if flapping:
        env.timeout(DISABLE).callbacks.append(lambda _e: nlb.set_failover(False))
    t = time.perf_counter()
    env.run(hours * 3600)
    wall = time.perf_counter() - t
    events = events_scheduled(env)
    checks = sum(c.checks for c in nlb.checkers.values())
    rec = env.recorder
    return {
        "wall_s": wall,
        "events": events,
        "events_per_s": events / wall,
        "checks": checks,
        "us_per_check": 1e6 * wall / checks,
        "wall_s_per_nlb_hour": wall / (len(nlb.balancers) * hours),
        "level_rows": sum(len(lvl.times) for lvl in rec.levels.values()),
        "tally_rows": sum(len(t.times) for t in rec.tallies.values()),
        "event_rows": len(rec.events),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlbs", default="12,48", help="fleet sizes, comma separated")
    parser.add_argument("--hours", type=float, default=16.0)
    parser.add_argument("--repeat", type=int, default=1)
    args, _unknown = parser.parse_known_args(argv)
    header = (
        f"{'case':<16}{'wall s':>8}{'events':>11}{'ev/s':>10}{'checks':>10}"
        f"{'us/check':>10}{'s/NLB-h':>9}{'levels':>9}{'tallies':>9}{'events':>8}"
    )
    print(f"NLB subsystem, {args.hours:g} h simulated, best of {args.repeat}")
    print(header)
    for n in (int(x) for x in args.nlbs.split(",")):
        for flapping in (False, True):
            best = min(
                (run(n, flapping, args.hours) for _ in range(args.repeat)),
                key=lambda r: r["wall_s"],
            )
            name = f"{n} NLBs {'flapping' if flapping else 'steady'}"
            print(
                f"{name:<16}{best['wall_s']:>8.1f}{best['events']:>11,}"
                f"{best['events_per_s']:>10,.0f}{best['checks']:>10,}"
                f"{best['us_per_check']:>10.1f}{best['wall_s_per_nlb_hour']:>9.4f}"
                f"{best['level_rows']:>9,}{best['tally_rows']:>9,}{best['event_rows']:>8,}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
