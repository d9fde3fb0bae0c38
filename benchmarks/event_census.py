"""Event census: what the events of a run are, and how many wait on simpy's heap.

Runs a scenario's simulate phase with a copy of `SimEnv.run` that names each processed event by
its class and first callback (`Call Worker._served`, `Timeout Process._resume poisson_process`,
...) and samples the heap: its size every 1,000 events and its composition every 200,000. Where
the events come from and how big the heap is decide what a change of the event structure can
gain (see README, "Profiling", 7 and 8).

    .venv/bin/python benchmarks/event_census.py scenarios/aws-us-east-1-2025-10-20.yaml
"""

from __future__ import annotations

import argparse
import collections
import sys
from heapq import heappop
from pathlib import Path
from typing import Any

from simpy.core import StopSimulation
from simpy.events import URGENT, Event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _name(event: Any, callbacks: list[Any] | None) -> str:
    name = type(event).__name__
    if not callbacks:
        return name + " (none)"
    first = callbacks[0]
    name += " " + (getattr(first, "__qualname__", None) or type(first).__name__)
    owner = getattr(first, "__self__", None)
    generator = getattr(owner, "_generator", None)
    if generator is not None:
        name += " " + getattr(generator, "__qualname__", "?")
    return name + (f" +{len(callbacks) - 1}" if len(callbacks) > 1 else "")


def census(path: Path, overrides: list[str]) -> None:
    from simulation.core.gc_policy import run_gc_policy
    from simulation.runner import prepare
    from simulation.scenario.load import load_scenario

    loaded = load_scenario(path, overrides)
    env = prepare(loaded, None).env
    processed: collections.Counter[str] = collections.Counter()
    pending: collections.Counter[str] = collections.Counter()
    sizes: list[int] = []
    until = Event(env)
    until._ok, until._value = True, None
    env.schedule(until, URGENT, loaded.model.duration)
    until.callbacks.append(StopSimulation.callback)
    queue, n = env._queue, 0
    with run_gc_policy():
        try:
            while queue:
                now, _, _, event = heappop(queue)
                env._now = env.now = now
                callbacks, event.callbacks = event.callbacks, None
                processed[_name(event, callbacks)] += 1
                n += 1
                if n % 1000 == 0:
                    sizes.append(len(queue))
                    if n % 200_000 == 0:
                        pending.update(_name(e[3], e[3].callbacks) for e in queue)
                for callback in callbacks:
                    callback(event)
        except StopSimulation:
            pass
    total = sum(processed.values())
    print(f"{path}: {total:,} events processed, {next(env._eid) - 1:,} scheduled")
    if sizes:
        print(
            f"simpy's heap: {sum(sizes) / len(sizes):,.0f} pending events on average, "
            f"max {max(sizes):,}"
        )
    print("\nprocessed events (class, first callback):")
    for name, count in processed.most_common(30):
        print(f"{count:>10,} {100 * count / total:5.1f}%  {name}")
    if pending:
        print("\npending on the heap (summed over samples every 200,000 events):")
        all_pending = sum(pending.values())
        for name, count in pending.most_common(12):
            print(f"{100 * count / all_pending:5.1f}%  {name}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", type=Path)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    census(args.scenario, args.set)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
