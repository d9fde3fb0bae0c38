"""Pluggable service time: a distribution from the scenario, or any cost model.

A `ServiceTime` is called by a worker each time it starts an item:
`service_time(server, payload, rng) -> seconds`. `server` is the worker serving the item; it
exposes the state a cost model may depend on (`waiting`: items waiting in the queue it serves,
`in_service`: items being served from that queue, `index`). The RNG is the worker's own stream.

Built-ins come from `ServiceTimeConfig` (exponential, deterministic, lognormal, uniform).
`state_dependent(cost)` adapts a cost model of the work the server holds (waiting plus in
service) - e.g. `memory.MemoryServiceTime`, whose working set grows with the queue, or a DWFM
host whose per-item cost grows with its backlog.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from math import log as _log
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from simulation.core.config import SectionConfig
from simulation.core.units import Duration


class ServerView(Protocol):
    """What a service-time model may look at: the state of the server serving the item."""

    @property
    def index(self) -> int | str | None: ...

    @property
    def waiting(self) -> int: ...

    @property
    def in_service(self) -> int: ...


ServiceTime = Callable[[ServerView, Any, random.Random], float]
"""`(server, payload, rng) -> seconds` of service for one item."""


class ServiceTimeConfig(SectionConfig):
    """Service time of one request, drawn per request from a distribution."""

    distribution: Literal["exponential", "deterministic", "lognormal", "uniform"] = Field(
        "exponential",
        description="exponential (cv 1), deterministic (cv 0), lognormal or uniform (both with "
        "the given `cv`).",
    )
    mean: Duration = Field("10 ms", gt=0.0, description="Mean service time of one request.")
    cv: float = Field(
        1.0,
        ge=0.0,
        description="Coefficient of variation (std / mean) for lognormal and uniform; uniform "
        "needs cv <= 0.577 (its lower bound stays >= 0). Ignored by exponential and deterministic.",
    )

    @model_validator(mode="after")
    def _uniform_range(self) -> ServiceTimeConfig:
        if self.distribution == "uniform" and self.cv > 1 / math.sqrt(3) + 1e-12:
            raise ValueError(
                f"a uniform service time cannot have cv {self.cv:g} (at most 0.577, where its "
                "lower bound reaches 0); use lognormal for more variable service"
            )
        return self

    def build(self) -> ServiceTime:
        """The sampler for this configuration."""
        mean = self.mean
        if self.distribution == "deterministic":
            return lambda _server, _payload, _rng: mean
        if self.distribution == "exponential":
            rate = 1.0 / mean
            # rng.expovariate(rate)'s own expression (CPython's random.py), without its frame
            return lambda _server, _payload, rng: -_log(1.0 - rng.random()) / rate
        if self.distribution == "lognormal":
            if self.cv == 0.0:
                return lambda _server, _payload, _rng: mean
            sigma = math.sqrt(math.log1p(self.cv * self.cv))
            mu = math.log(mean) - sigma * sigma / 2.0
            return lambda _server, _payload, rng: rng.lognormvariate(mu, sigma)
        half = mean * self.cv * math.sqrt(3.0)
        lo, hi = mean - half, mean + half
        return lambda _server, _payload, rng: rng.uniform(lo, hi)


def state_dependent(cost: Callable[[int], float]) -> ServiceTime:
    """A service time that depends on the work the server holds (waiting + in service).

    `cost(items)` returns seconds; e.g. `state_dependent(MemoryServiceTime(model, base, per_item))`.
    """

    def service(server: ServerView, _payload: Any, _rng: random.Random) -> float:
        return cost(server.waiting + server.in_service)

    return service


def with_overhead(service: ServiceTime, overhead: float) -> ServiceTime:
    """`service` plus a fixed CPU cost per item (reading and parsing a request)."""
    if overhead <= 0.0:
        return service

    def total(server: ServerView, payload: Any, rng: random.Random) -> float:
        return overhead + service(server, payload, rng)

    return total
