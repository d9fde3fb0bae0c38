"""`AuthoritativeDns.query` on real query messages: classes, meta types, unknown types, and the
caller's RNG for weighted answers (added for the live DNS server)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from simulation.core import Component, SimEnv
from simulation.primitives.dns import (
    SOA,
    A,
    AuthoritativeDns,
    RecordSet,
    ZoneState,
    name,
    rdataset,
    soa_record,
)

ORIGIN = name("example.test")
WWW = name("www.example.test")


def server() -> AuthoritativeDns:
    members = tuple(
        RecordSet(WWW, A, rdataset(A, 30, f"192.0.2.{i}"), set_id=f"s{i}", weight=1)
        for i in range(1, 5)
    )
    zone = ZoneState.create(soa_record(ORIGIN, 300, 60), members)
    env = SimEnv(datetime(2025, 10, 20, tzinfo=UTC))
    return AuthoritativeDns(Component(env, "region"), "dns", zone)


def test_a_class_other_than_in_is_refused_without_authority():
    q = dns.message.make_query(WWW, A, rdclass=dns.rdataclass.CH)
    r = server().query(q)
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.flags & dns.flags.AA and not r.answer and not r.authority


@pytest.mark.parametrize("rdtype", ["ANY", "AXFR", "IXFR", "MAILA", "MAILB"])
def test_meta_types_are_not_implemented(rdtype):
    r = server().query(dns.message.make_query(WWW, rdtype))
    assert r.rcode() == dns.rcode.NOTIMP and not r.answer and not r.authority


@pytest.mark.parametrize("rdtype", ["MX", "AAAA", "TYPE65280"])
def test_a_type_the_name_lacks_is_nodata_with_the_soa(rdtype):
    r = server().query(dns.message.make_query(WWW, rdtype))
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA and not r.answer
    (soa,) = r.authority
    assert soa.rdtype == SOA and soa.name == ORIGIN and soa.ttl == 60


def test_the_callers_rng_picks_weighted_members_and_the_components_stream_is_untouched():
    s = server()
    before = s.rng.getstate()
    rng = random.Random(7)
    seen = [s.query(dns.message.make_query(WWW, A), rng).answer[0][0].to_text() for _ in range(200)]
    assert s.rng.getstate() == before
    assert set(seen) == {f"192.0.2.{i}" for i in range(1, 5)}  # equal weights: all appear
    again = random.Random(7)
    assert seen == [
        s.query(dns.message.make_query(WWW, A), again).answer[0][0].to_text() for _ in range(200)
    ]


def test_without_an_rng_the_components_stream_picks():
    s = server()
    before = s.rng.getstate()
    s.query(dns.message.make_query(WWW, A))
    assert s.rng.getstate() != before


def test_the_question_is_echoed_with_its_case():
    q = dns.message.make_query("WwW.Example.TEST.", dns.rdatatype.A, id=99)
    r = server().query(q)
    assert r.id == 99 and r.answer[0].name.to_text() == "WwW.Example.TEST."
