"""A scripted launcher: instance launches and network propagation for scenarios without EC2.

It publishes on an `InstanceFeed`, the same contract the EC2 subsystem uses, so the NLB code
does not know which one drives it. Launches are a Poisson process over a load profile (`rate`);
each lands in an AZ (weighted) and becomes reachable after a network-propagation delay whose mean
follows a scripted profile over launch time (e.g. 2 s, then a backlog in which delays grow to
minutes, then back to normal): a stand-in for the Network Manager's backlog, an input here.
"""

from __future__ import annotations

import bisect
from typing import Any

from simulation.core.component import Component
from simulation.primitives.load import LoadProfile, PoissonArrivals
from simulation.subsystems.instances import Instance, InstanceFeed

from .config import LauncherConfig


class ScriptedLauncher(Component):
    """Launches instances at a scripted rate with scripted propagation delays."""

    def __init__(self, parent: Component, config: LauncherConfig, azs: list[str]) -> None:
        super().__init__(parent, "launcher")
        self.config = config
        self.instance_feed = InstanceFeed()
        weights = config.az_weights or dict.fromkeys(azs, 1.0)
        self._azs = [az for az in azs if weights.get(az, 0.0) > 0]
        total = sum(weights[az] for az in self._azs)
        acc, self._cumulative = 0.0, []
        for az in self._azs:
            acc += weights[az] / total
            self._cumulative.append(acc)
        self._at = [p.at for p in config.propagation]
        self._delay = [p.delay for p in config.propagation]
        self.launched = 0
        self.ready = 0
        self._pending = self.level("propagating", "instances", initial=0)
        self.delays = self.tally("propagation_delay", "s")
        profile = LoadProfile(config.rate)
        arrivals = self.env.rng(self.scope, "arrivals")
        PoissonArrivals(self.env, profile, arrivals, self._launch)

    def mean_delay(self, t: float) -> float:
        """The scripted mean propagation delay of an instance launched at `t` (linear)."""
        at, delay = self._at, self._delay
        i = bisect.bisect_right(at, t)
        if i == 0:
            return delay[0]
        if i == len(at):
            return delay[-1]
        t0, t1, d0, d1 = at[i - 1], at[i], delay[i - 1], delay[i]
        return d0 + (d1 - d0) * (t - t0) / (t1 - t0)

    def _launch(self) -> None:
        rng, now = self.rng, self.env.now
        i = bisect.bisect_left(self._cumulative, rng.random() * self._cumulative[-1])
        az = self._azs[min(i, len(self._azs) - 1)]
        self.launched += 1
        instance = Instance(self.launched, az, now)
        spread = self.config.spread
        delay = self.mean_delay(now) * (1.0 + spread * (2.0 * rng.random() - 1.0))
        self.delays.observe(delay)
        self._pending.add(1)
        self.instance_feed.launched(instance)
        self.env.timeout(delay, instance).callbacks.append(self._ready)

    def _ready(self, ev: Any) -> None:
        self.ready += 1
        self._pending.add(-1)
        self.instance_feed.network_ready(ev.value, self.env.now)

    def figures(self) -> dict[str, Any]:
        values = self.delays.values
        return {
            "launched": self.launched,
            "network_ready": self.ready,
            "propagation_delay_max_s": round(max(values), 1) if values else None,
        }
