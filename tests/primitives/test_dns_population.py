"""The client population: lazily simulated, yet identical to simulating every client's queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulation.core import Component, SimEnv
from simulation.core.rng import stream
from simulation.primitives.dns import (
    A,
    AuthoritativeDns,
    CachingResolver,
    ChangeBatch,
    RecordSet,
    ResolverPopulation,
    ZoneState,
    delete,
    name,
    rdataset,
    soa_record,
    upsert,
)

ORIGIN = name("us-east-1.amazonaws.com")
TOP = name("dynamodb.us-east-1.amazonaws.com")
LEAF = RecordSet("lb1._lb.us-east-1.amazonaws.com", A, rdataset(A, 60, "10.0.0.1"))
FLIPS = [(100.0, "empty"), (1000.0, "restore"), (1900.0, "empty"), (1910.0, "restore")]
NEGATIVE_TTL = 300


def build(seed: int = 3):
    zone = ZoneState.create(
        soa_record(ORIGIN, 900, NEGATIVE_TTL), (LEAF, RecordSet(TOP, A, alias=LEAF.name))
    )
    env = SimEnv(datetime(2025, 10, 20, tzinfo=UTC), seed)
    root = Component(env, "region")
    server = AuthoritativeDns(root, "route53", zone, propagation=0)

    def flips():
        for t, what in FLIPS:
            yield env.timeout(t - env.now)
            change = delete(LEAF) if what == "empty" else upsert(LEAF)
            server.commit(ChangeBatch.of([change]))

    env.process(flips())
    return env, root, server


def reference(seed: int, clients: int, end: float) -> list[tuple[float, float]]:
    """Every client simulated query by query: it asks the instant its cached answer expires."""
    env, _root, server = build(seed)
    rng = stream(seed, "region.clients")
    failing = [0]
    changes: list[tuple[float, float]] = [(0.0, 0.0)]

    def client(phase: float):
        resolver = CachingResolver(server, lambda: env.now)
        was_failing = False
        yield env.timeout(phase)
        while True:
            answer = resolver.resolve(TOP)
            if (not answer.ok) != was_failing:
                was_failing = not answer.ok
                failing[0] += 1 if was_failing else -1
                changes.append((env.now, float(failing[0])))
            yield env.timeout(answer.expires - env.now)

    for _ in range(clients):
        env.process(client(rng.random() * 60.0))
    env.run(end)
    folded: dict[float, float] = {}
    for t, v in changes:
        folded[round(t, 6)] = v
    out: list[tuple[float, float]] = []
    for t, v in folded.items():
        if not out or out[-1][1] != v:
            out.append((t, v))
    return out


def test_lazy_population_equals_every_query_simulated():
    env, root, server = build(3)
    population = ResolverPopulation(root, "clients", server, TOP, 40)
    env.run(2500)
    lazy = [
        (round(t, 6), v)
        for t, v in zip(population.failing.times, population.failing.values, strict=True)
    ]
    assert lazy == reference(3, 40, 2500)
    # and it made far fewer queries than one per client per minute
    assert population.queries < 40 * 6


def test_failures_follow_the_positive_ttl_and_recovery_the_negative_ttl():
    env, root, server = build(5)
    population = ResolverPopulation(root, "clients", server, TOP, 100)
    env.run(2500)
    level = population.failing
    first = level.first_time(lambda v: v > 0)
    everyone = level.first_time(lambda v: v == 100)
    assert 100 <= first < 100 + 60 / 100 * 10  # 100 clients spread over the 60 s TTL
    assert 160 - 60 / 100 * 10 < everyone <= 160
    recovered = level.first_time(lambda v: v == 0, after=first)
    # each client had queried within 60 s of t=100, then every 300 s: last recovers by 1000 + 300
    assert 1000 < recovered <= 1000 + NEGATIVE_TTL
    # the 10 s empty window at t=1900 catches only the clients querying inside it
    caught = level.value_at(1909)
    assert 0 < caught < 100 * 10 / 60 * 2.5


@pytest.mark.parametrize("rate", [1.0, 0.05])
def test_clients_with_a_request_rate_query_after_expiry_plus_a_wait(rate):
    env, root, server = build(7)
    population = ResolverPopulation(root, "clients", server, TOP, 60, request_rate=rate)
    env.run(2500)
    level = population.failing
    first = level.first_time(lambda v: v > 0)
    assert first >= 100
    recovered = level.first_time(lambda v: v == 0, after=first)
    # every client is back once its negative answer expired and it needed the name again:
    # the wait is exponential; 60 waits stay below 12 mean waits with probability > 0.9996
    assert 1000 < recovered <= 1000 + NEGATIVE_TTL + 12 / rate
    assert min(level.values) >= 0 and max(level.values) <= 60


def test_population_is_deterministic_per_seed():
    def run(seed):
        env, root, server = build(seed)
        p = ResolverPopulation(root, "clients", server, TOP, 30, request_rate=0.5)
        env.run(2500)
        return list(zip(p.failing.times, p.failing.values, strict=True))

    assert run(11) == run(11)
    assert run(11) != run(12)
