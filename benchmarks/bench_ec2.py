"""Cost of the DWFM lab (scenarios/labs/dwfm-collapse.yaml, 15 h) at 10^4, 10^5 and 10^6 droplets.

    .venv/bin/python benchmarks/bench_ec2.py [--sizes 10000 100000 1000000] [--batch 100]

The lab's 5,000 droplets per DWFM host are kept (hosts = droplets / 5,000) and the operators'
re-establishment throttle and the restarts' stagger are scaled with the fleet (4 hosts restarted
over 3 min, as in the lab), so every host sees the same load and the outage unfolds the same way
at every size; launches and Network Manager keep the lab's rates
(their cost does not depend on the fleet). For each size: CPU seconds and
wall seconds of the simulation alone (no outputs), simpy events and events per CPU second, CPU
microseconds per droplet, and when all leases came back. Cost should grow no worse than
linearly in droplets: the DWFM work is proportional to droplets / batch_size.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from simulation.runner import simulate
from simulation.scenario.load import load_scenario

LAB = Path(__file__).resolve().parents[1] / "scenarios" / "labs" / "dwfm-collapse.yaml"
PER_HOST = 5000


def measure(droplets: int, batch: int) -> dict[str, float | str]:
    hosts = max(1, droplets // PER_HOST)
    loaded = load_scenario(
        LAB,
        [
            f"ec2.fleet.droplets={droplets}",
            f"ec2.dwfm.hosts={hosts}",
            f"ec2.fleet.batch_size={batch}",
            f"operators.throttle_lease_work.params.rate={0.05 * droplets / 20_000 * 100 / batch}/s",
            f"operators.restart_dwfm_hosts.params.stagger={180 / max(hosts - 1, 1)} s",
        ],
    )
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = simulate(loaded)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    events = next(result.env._eid) - 1  # simpy numbers every scheduled event; no public count
    restored = result.milestones["dwfm_leases_all_restored"]
    return {
        "droplets": droplets,
        "hosts": hosts,
        "cpu": cpu,
        "wall": wall,
        "events": events,
        "restored": "-" if restored is None else result.env.clock.iso(restored)[11:16],
        "status": result.status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=100, help="droplets per lease batch")
    args = parser.parse_args()
    print(f"DWFM lab, 15 h, {PER_HOST} droplets per host, batch {args.batch}")
    print(
        f"{'droplets':>10}{'hosts':>7}{'cpu s':>8}{'wall s':>8}{'events':>12}"
        f"{'events/s':>11}{'us/droplet':>12}{'restored':>10}"
    )
    rows = []
    for n in args.sizes:
        r = measure(n, args.batch)
        rows.append(r)
        per = r["cpu"] / n * 1e6  # type: ignore[operator]
        print(
            f"{n:>10,}{r['hosts']:>7}{r['cpu']:>8.2f}{r['wall']:>8.2f}{r['events']:>12,}"
            f"{r['events'] / r['cpu']:>11,.0f}{per:>12.1f}{r['restored']:>10}"  # type: ignore[operator]
        )
    first, last = rows[0], rows[-1]
    print(
        f"x{last['droplets'] / first['droplets']:g} droplets -> "  # type: ignore[operator]
        f"x{last['cpu'] / first['cpu']:.1f} CPU, x{last['events'] / first['events']:.1f} events"  # type: ignore[operator]
    )


if __name__ == "__main__":
    main()
