"""Retry-storm lab: clients contending on one row with optimistic concurrency, per back-off policy.

Each client must make one write to a shared row. An attempt reads the row's version over the
network, optionally thinks, then sends a conditional write that succeeds only if the version is
unchanged; a conflict fails the attempt and the client backs off per the policy (through the
resilience primitive's `call_with_retry`). Every policy runs side by side on its own rows, with
the same seed-derived client arrivals, so the policies differ only by their back-off.

This is the experiment of M. Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog,
2015): one-way network delay |N(10 ms, 2 ms)|, back-off cap 2 s, many independent repetitions
(`trials`). The blog's exponential delay for retry n is 5 ms * 2^n, i.e. 10 ms for the first
retry: our `base` is the first retry's delay, hence the 10 ms default; its decorrelated jitter
started from 5 ms (`decorrelated_base`). Calls are conditional
writes (the blog's server counts writes); the time to finish the work is, per trial, from the
first arrival to the last client's successful write.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import simpy
from pydantic import Field, field_validator

from simulation.core.component import Component, Detector
from simulation.core.config import SectionConfig
from simulation.core.results import Results
from simulation.core.units import Duration
from simulation.core.views import Plot, Series
from simulation.primitives.resilience.retry import RetryConfig, RetryPolicy, call_with_retry

BLOG_POLICIES: list[str] = [
    "none",
    "exponential",
    "equal_jitter",
    "full_jitter",
    "decorrelated_jitter",
]


class Config(SectionConfig):
    """The retry-storm lab: N optimistic-concurrency clients per row, one run per policy."""

    clients: int = Field(50, ge=1, description="Clients contending on each row; each writes once.")
    trials: int = Field(
        100,
        ge=1,
        description="Independent rows per policy, each with its own clients, run side by side; "
        "figures are means over trials (the blog averaged 100 runs).",
    )
    policies: list[RetryPolicy] = Field(
        default_factory=lambda: list(BLOG_POLICIES),
        min_length=1,
        description="Back-off policies to compare, one run each (see the retry policy docs).",
    )
    base: Duration = Field(
        "10 ms",
        description="Back-off base: the first retry's delay (fixed and exponential policies) and "
        "the lower bound of decorrelated jitter unless decorrelated_base is set.",
    )
    decorrelated_base: Duration | None = Field(
        "5 ms",
        description="Lower bound (and first sleep) of decorrelated jitter; null = base. The blog "
        "used 5 ms here while its first exponential retry waited 10 ms.",
    )
    cap: Duration = Field("2 s", description="Longest back-off delay.")
    multiplier: float = Field(2.0, ge=1.0, description="Growth of the exponential back-off.")
    max_attempts: int | None = Field(
        None, ge=1, description="Attempts per client before it gives up; null = until it succeeds."
    )
    network_delay: Duration = Field(
        "10 ms", description="Mean one-way network delay (client to row or back)."
    )
    network_jitter: Duration = Field(
        "2 ms", description="Standard deviation of the one-way delay, drawn as |normal(mean, sd)|."
    )
    think_time: Duration = Field(
        0, description="Time a client spends between reading the version and sending the write."
    )
    arrivals: Literal["together", "uniform"] = Field(
        "together",
        description="together: every client starts at 0 (the blog's worst case); uniform: "
        "start times uniform over arrival_window, the same draws for every policy.",
    )
    arrival_window: Duration = Field("1 s", description="Spread of start times when uniform.")

    @field_validator("policies")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        seen = [p for i, p in enumerate(value) if p in value[:i]]
        if seen:
            raise ValueError(f"policy listed twice: {seen[0]}")
        return value


class PolicyRun(Component):
    """All trials of one policy: rows, clients, counters and records."""

    def __init__(
        self, parent: Component, policy: str, config: Config, arrivals: list[list[float]]
    ) -> None:
        super().__init__(parent, "policy", policy)
        self.policy = policy
        self.config = config
        self.retry = RetryConfig().model_copy(
            update={
                "policy": policy,
                "base": config.base
                if policy != "decorrelated_jitter" or config.decorrelated_base is None
                else config.decorrelated_base,
                "cap": config.cap,
                "multiplier": config.multiplier,
                "max_attempts": config.max_attempts,
                "attempt_timeout": None,
                "budget": None,
            }
        )
        trials = config.trials
        self.total = config.clients * trials
        self.versions = [0] * trials
        self.calls = [0] * trials
        self.reads = 0
        self.finished = [0] * trials
        self.gave_up = 0
        self.first_arrival = [min(a) for a in arrivals]
        self._backoff_rng = self.env.rng(self.scope, "backoff")
        self._net_rng = self.rng
        self._completion = self.tally("completion_time", "s")
        self._attempts = self.tally("attempts", "attempts")
        self._work_time = self.tally("work_time", "s")
        self._trial_calls = self.tally("calls_per_trial", "calls")
        self._done = self.level("clients_finished", "clients", initial=0)
        for trial, starts in enumerate(arrivals):
            for start in starts:
                self.env.process(self._client(trial, start))

    def _delay(self) -> float:
        c = self.config
        return abs(self._net_rng.gauss(c.network_delay, c.network_jitter))

    def _attempt(self, trial: int) -> Generator[simpy.Event, Any, bool]:
        """Read the version, think, write iff unchanged: one optimistic-concurrency attempt."""
        env, delay = self.env, self._delay
        yield env.timeout(delay())  # read request reaches the row
        seen = self.versions[trial]
        self.reads += 1
        # read reply, think, write request: nothing observable happens in between
        yield env.timeout(delay() + self.config.think_time + delay())
        self.calls[trial] += 1
        ok = self.versions[trial] == seen
        if ok:
            self.versions[trial] = seen + 1
        yield env.timeout(delay())
        return ok

    def _client(self, trial: int, start: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if start > 0:
            yield env.timeout(start)
        outcome = yield from call_with_retry(
            env, lambda: self._attempt(trial), self.retry, self._backoff_rng
        )
        self._attempts.observe(outcome.attempts)
        if outcome.ok:
            self._completion.observe(outcome.elapsed)
        else:
            self.gave_up += 1
        self._done.add(1)
        self.finished[trial] += 1
        if self.finished[trial] == self.config.clients:
            work_time = env.now - self.first_arrival[trial]
            self._work_time.observe(work_time)
            self._trial_calls.observe(self.calls[trial])
            self.event(
                "trial_done", f"trial={trial} calls={self.calls[trial]} time={work_time:.4f}"
            )

    def figures(self) -> dict[str, Any]:
        """Means over finished trials, and per-client completion quantiles (seconds).

        Not the `statistics` hook: the lab reports every policy's figures side by side.
        """
        done = self._trial_calls.count
        return {
            "calls": round(self._trial_calls.mean(), 2) if done else None,
            "work_time_s": round(self._work_time.mean(), 4) if done else None,
            "completion_p50_s": _round(self._completion.quantile(0.5)),
            "completion_p99_s": _round(self._completion.quantile(0.99)),
            "attempts_mean": _round(self._attempts.mean()),
            "trials_done": done,
            "gave_up": self.gave_up,
            "unfinished": self.total - sum(self.finished),
        }


def _round(value: float) -> float | None:
    return None if value != value else round(value, 4)  # NaN (no samples) -> None


class RetryStormLab(Component):
    """The lab's root: shared arrivals, one `PolicyRun` child per policy."""

    def __init__(self, parent: Component, config: Config) -> None:
        super().__init__(parent, "retry_storm")
        self.config = config
        rng = self.env.rng(self.scope, "arrivals")
        if config.arrivals == "together":
            arrivals = [[0.0] * config.clients for _ in range(config.trials)]
        else:
            w = config.arrival_window
            arrivals = [
                sorted(rng.random() * w for _ in range(config.clients))
                for _ in range(config.trials)
            ]
        self.runs = [PolicyRun(self, p, config, arrivals) for p in config.policies]

    def detectors(self) -> dict[str, Detector]:
        """`retry_storm_<policy>_work_done`: when every client of every trial has finished."""

        def done(run: PolicyRun) -> Detector:
            return lambda results: results.first_level_time(
                run.scope, "clients_finished", lambda v: v >= run.total
            )

        return {f"retry_storm_{run.policy}_work_done": done(run) for run in self.runs}

    def plots(self) -> list[Plot]:
        return [
            Plot(
                key="retry-storm-finished",
                title="Clients finished, per back-off policy",
                series=tuple(
                    Series(r.scope, "clients_finished", r.policy, style="line") for r in self.runs
                ),
                ylabel="clients (all trials)",
                caption="The same arrivals for every policy: the steeper the curve, the less "
                "contention the policy leaves.",
                order=20,
            )
        ]

    def statistics(self, results: Results) -> dict[str, Any]:
        """Per policy `<policy>_<figure>`, plus calls and work time relative to the best policy."""
        stats: dict[str, Any] = {
            "clients": self.config.clients,
            "trials": self.config.trials,
        }
        per = {run.policy: run.figures() for run in self.runs}
        for policy, figures in per.items():
            for key, value in figures.items():
                stats[f"{policy}_{key}"] = value
        for figure in ("calls", "work_time_s"):
            values = [f[figure] for f in per.values() if f[figure] is not None]
            best = min(values) if values else None
            name = figure.removesuffix("_s")
            for policy, figures in per.items():
                v = figures[figure]
                ok = v is not None and best
                stats[f"{policy}_{name}_vs_best"] = round(v / best, 3) if ok else None
        return stats


def build(parent: Component, config: Config) -> RetryStormLab:
    """Build the lab under `parent` and start every client process."""
    return RetryStormLab(parent, config)
