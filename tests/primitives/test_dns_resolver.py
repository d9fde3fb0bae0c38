"""The authoritative server's messages, its propagation delay, and the caching stub resolver
(positive answers for their TTL, negative ones for min(SOA TTL, SOA minimum): RFC 2308)."""

from __future__ import annotations

from datetime import UTC, datetime

import dns.flags
import dns.message
import dns.rcode
import pytest

from simulation.core import Component, SimEnv
from simulation.primitives.dns import (
    SOA,
    A,
    AuthoritativeDns,
    CachingResolver,
    ChangeBatch,
    RecordSet,
    ZoneState,
    delete,
    name,
    rdataset,
    soa_record,
    upsert,
)

ORIGIN = name("us-east-1.amazonaws.com")
TOP = name("dynamodb.us-east-1.amazonaws.com")
LEAF = RecordSet("lb1._lb.us-east-1.amazonaws.com", A, rdataset(A, 60, "10.0.0.1", "10.0.0.2"))
TOP_ALIAS = RecordSet(TOP, A, alias=LEAF.name)


def setup(propagation: float = 0.0, soa_ttl: int = 900, minimum: int = 86400, ttl: int = 60):
    leaf = RecordSet(LEAF.name, A, rdataset(A, ttl, "10.0.0.1", "10.0.0.2"))
    zone = ZoneState.create(soa_record(ORIGIN, soa_ttl, minimum), (leaf, TOP_ALIAS))
    env = SimEnv(datetime(2025, 10, 20, tzinfo=UTC))
    server = AuthoritativeDns(Component(env, "region"), "route53", zone, propagation)
    return env, server, leaf


def empty_it(server: AuthoritativeDns) -> None:
    """Delete the leaf the alias points at: the name then resolves to no addresses."""
    server.commit(ChangeBatch.of([delete(server.master.record(LEAF.name, A))]))


def advance(env: SimEnv, seconds: float) -> None:
    env.run(env.now + seconds)


def test_positive_response_is_a_real_authoritative_message():
    _env, server, _leaf = setup()
    query = dns.message.make_query(TOP, A, id=4242)
    response = server.query(query)
    assert response.id == 4242
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    (rrset,) = response.answer
    assert rrset.name == TOP and rrset.ttl == 60
    assert sorted(rd.to_text() for rd in rrset) == ["10.0.0.1", "10.0.0.2"]


def test_negative_response_carries_soa_with_negative_ttl():
    _env, server, _ = setup(soa_ttl=900, minimum=86400)
    empty_it(server)
    response = server.answer(TOP, A)
    assert response.rcode() == dns.rcode.NOERROR and not response.answer
    (soa,) = response.authority
    assert soa.rdtype == SOA and soa.ttl == 900
    nx = server.answer(name("nope.us-east-1.amazonaws.com"), A)
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].ttl == 900
    assert server.answer(name("example.org"), A).rcode() == dns.rcode.REFUSED


def test_name_servers_serve_a_commit_after_the_propagation_delay():
    env, server, _ = setup(propagation=30)
    seen = []
    server.watch_served(lambda state: seen.append(env.now))
    empty_it(server)
    assert not server.master.lookup(TOP, A).positive
    assert server.served.lookup(TOP, A).positive
    advance(env, 29.9)
    assert server.answer(TOP, A).answer
    advance(env, 0.2)
    assert not server.answer(TOP, A).answer
    assert seen == [30.0]


def test_positive_answers_are_cached_for_their_ttl():
    env, server, _ = setup(ttl=60)
    resolver = CachingResolver(server, lambda: env.now)
    first = resolver.resolve(TOP)
    assert first.ok and first.expires == 60.0 and resolver.queries == 1
    empty_it(server)  # the authority changes; the cache does not know
    advance(env, 59.9)
    assert resolver.resolve(TOP).ok and resolver.queries == 1
    advance(env, 0.1)
    again = resolver.resolve(TOP)
    assert not again.ok and again.negative and resolver.queries == 2


@pytest.mark.parametrize(("soa_ttl", "minimum", "expected"), [(900, 86400, 900), (3600, 300, 300)])
def test_negative_answers_are_cached_for_min_of_soa_ttl_and_minimum(soa_ttl, minimum, expected):
    env, server, leaf = setup(soa_ttl=soa_ttl, minimum=minimum)
    empty_it(server)
    resolver = CachingResolver(server, lambda: env.now)
    assert not resolver.resolve(TOP).ok
    server.commit(ChangeBatch.of([upsert(leaf)]))  # repaired at once
    advance(env, expected - 0.5)
    assert not resolver.resolve(TOP).ok and resolver.queries == 1
    advance(env, 0.5)
    assert resolver.resolve(TOP).ok and resolver.queries == 2


def test_nxdomain_is_cached_for_every_type_nodata_only_for_its_type():
    env, server, _ = setup()
    resolver = CachingResolver(server, lambda: env.now)
    missing = name("later.us-east-1.amazonaws.com")
    assert resolver.resolve(missing, A).rcode == dns.rcode.NXDOMAIN
    server.commit(ChangeBatch.of([upsert(RecordSet(missing, A, alias=LEAF.name))]))
    resolver.resolve(missing, SOA)
    assert resolver.queries == 1  # NXDOMAIN covered the other type too
    assert not resolver.resolve(missing, A).ok  # still the cached NXDOMAIN
    advance(env, 900)
    assert resolver.resolve(missing, A).ok
    # NODATA for SOA at TOP is cached, but A at TOP is still asked
    assert not resolver.resolve(TOP, SOA).ok
    before = resolver.queries
    assert resolver.resolve(TOP, A).ok and resolver.queries == before + 1


def test_uncacheable_answers_and_max_ttl():
    env, server, _ = setup(ttl=86400 * 7)
    resolver = CachingResolver(server, lambda: env.now, max_ttl=3600)
    assert resolver.resolve(TOP).expires == 3600
    loop = name("loop.us-east-1.amazonaws.com")
    server.commit(ChangeBatch.of([upsert(RecordSet(loop, A, alias=loop))]))
    resolver.resolve(loop)
    resolver.resolve(loop)
    assert resolver.queries == 3  # SERVFAIL (alias loop) is never cached
    assert resolver.resolve(loop).rcode == dns.rcode.SERVFAIL


def test_load_replaces_both_states_at_once():
    env, server, leaf = setup(propagation=30)
    empty_it(server)
    fresh = ZoneState.create(soa_record(ORIGIN), (leaf, TOP_ALIAS))  # version 0 < served version
    server.load(fresh)
    assert server.master is fresh and server.served is fresh
    assert server.answer(TOP, A).answer
    advance(env, 60)  # the emptying commit, still propagating, belonged to the replaced zone
    assert server.served is fresh
