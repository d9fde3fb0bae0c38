"""The wire front end, packet by packet (no sockets): what each kind of query gets, truncation,
and a seeded fuzz of tens of thousands of mutated packets that must never raise."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import pytest

from simulation.core import Component, SimEnv
from simulation.live.wire import CLASSIC_UDP, UDP_PAYLOAD, Responder
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

from .conftest import BEFORE, DURING, ENDPOINT, ORIGIN, race_driver

REGIONAL = {f"10.1.{lb}.{k}" for lb in range(4) for k in (1, 2)}
"""Every address of the regional endpoint's 4 load balancers in the lab (2 each)."""


@pytest.fixture(scope="module")
def before() -> Responder:
    driver = race_driver(BEFORE)
    return Responder(lambda: driver.zones, random.Random(1))


@pytest.fixture(scope="module")
def during() -> Responder:
    driver = race_driver(DURING)
    return Responder(lambda: driver.zones, random.Random(1))


def ask(responder: Responder, qname: str, rdtype: str = "A", tcp: bool = False, **kw):
    query = dns.message.make_query(qname, rdtype, **kw)
    out = responder.respond(query.to_wire(), tcp=tcp)
    assert out is not None
    response = dns.message.from_wire(out)
    assert response.id == query.id and response.flags & dns.flags.QR
    return response, out


def rcode(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


# -- answers from the simulated zone -------------------------------------------------------------


def test_before_the_race_the_endpoint_has_addresses_with_the_modelled_ttl(before):
    r, _ = ask(before, ENDPOINT)
    assert rcode(r) == "NOERROR" and r.flags & dns.flags.AA
    (rrset,) = r.answer
    assert rrset.name == dns.name.from_text(ENDPOINT) and rrset.ttl == 60
    addresses = {rd.to_text() for rd in rrset}
    assert len(addresses) == 2 and addresses <= REGIONAL  # one weighted load balancer
    assert not r.authority


def test_during_the_outage_the_endpoint_is_nodata_with_the_soa(during):
    r, _ = ask(during, ENDPOINT)
    assert rcode(r) == "NOERROR" and r.flags & dns.flags.AA and not r.answer
    (soa,) = r.authority
    assert soa.rdtype == SOA and soa.name == dns.name.from_text(ORIGIN)
    assert soa.ttl == 900  # min(SOA TTL 900 s, SOA minimum 1 d): RFC 2308


def test_the_negative_ttl_follows_the_scenarios_soa():
    driver = race_driver(DURING, ["dynamodb_dns.soa_ttl=300 s"])
    r, _ = ask(Responder(lambda: driver.zones, random.Random(1)), ENDPOINT)
    assert not r.answer and r.authority[0].ttl == 300


def test_unknown_names_are_nxdomain_with_the_soa(during):
    r, _ = ask(during, "nothing-here." + ORIGIN)
    assert rcode(r) == "NXDOMAIN" and r.flags & dns.flags.AA
    assert r.authority[0].rdtype == SOA


def test_other_zones_are_refused_without_authority(before):
    for qname in ("example.com", "amazonaws.com", "."):
        r, _ = ask(before, qname)
        assert rcode(r) == "REFUSED" and not r.flags & dns.flags.AA and not r.answer


def test_other_names_of_the_zone_are_answered_as_modelled(before):
    r, _ = ask(before, "lb0.dynamodb._lb." + ORIGIN)
    assert {rd.to_text() for rd in r.answer[0]} == {"10.1.0.1", "10.1.0.2"}
    r, _ = ask(before, ORIGIN, "SOA")
    assert r.answer[0].rdtype == SOA and r.answer[0].ttl == 900
    r, _ = ask(before, "dynamodb._plans." + ORIGIN)  # exists (plans below it): NODATA
    assert rcode(r) == "NOERROR" and not r.answer and r.authority
    r, _ = ask(before, "g999999.dynamodb._plans." + ORIGIN)
    assert rcode(r) == "NXDOMAIN"


def test_the_question_case_is_echoed(before):
    r, _ = ask(before, "DynamoDB.US-East-1.AmazonAWS.com")
    assert r.answer[0].name.to_text() == "DynamoDB.US-East-1.AmazonAWS.com."


@pytest.mark.parametrize("rdtype", ["MX", "AAAA", "TXT", "TYPE65280"])
def test_unknown_types_in_the_zone_are_nodata_with_the_soa(before, rdtype):
    r, _ = ask(before, ENDPOINT, rdtype)
    assert rcode(r) == "NOERROR" and not r.answer and r.authority[0].rdtype == SOA


@pytest.mark.parametrize("rdclass", ["CH", "HS", "ANY", "CLASS42"])
def test_classes_other_than_in_are_refused(before, rdclass):
    r, _ = ask(before, ENDPOINT, rdclass=dns.rdataclass.from_text(rdclass))
    assert rcode(r) == "REFUSED"


@pytest.mark.parametrize("rdtype", ["ANY", "AXFR", "IXFR"])
def test_meta_types_are_not_implemented(before, rdtype):
    r, _ = ask(before, ENDPOINT, rdtype)
    assert rcode(r) == "NOTIMP" and not r.answer


def test_live_queries_do_not_draw_from_the_simulations_streams(before):
    zone = before.zones()[0]
    state = zone.rng.getstate()
    seen = set()
    for _ in range(200):
        r, _ = ask(before, ENDPOINT)
        seen |= {rd.to_text() for rd in r.answer[0]}
    assert zone.rng.getstate() == state
    assert seen == REGIONAL  # every weighted load balancer gets picked


# -- the protocol edges ----------------------------------------------------------------------


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def test_shorter_than_a_header_and_responses_are_dropped(before):
    assert before.respond(b"") is None
    assert before.respond(b"\x12\x34\x01") is None
    response = dns.message.make_response(dns.message.make_query(ENDPOINT, "A"))
    assert before.respond(response.to_wire()) is None


@pytest.mark.parametrize("opcode", [1, 2, 3, 4, 5, 6, 15])
def test_opcodes_other_than_query_are_notimp_header_only(before, opcode):
    wire = bytearray(dns.message.make_query(ENDPOINT, "A", id=777).to_wire())
    wire[2] = (wire[2] & 0x87) | (opcode << 3)
    out = before.respond(bytes(wire))
    r = dns.message.from_wire(out)
    assert r.id == 777 and r.opcode() == opcode and rcode(r) == "NOTIMP"
    assert len(out) == 12 and r.flags & dns.flags.RD


@pytest.mark.parametrize(
    "wire",
    [
        header(qd=0),  # no question
        header(qd=1),  # says one question, has none
        header(qd=1) + b"\x03abc",  # a name cut short
        header(qd=1) + b"\xc0\x0c\x00\x01\x00\x01",  # a compression pointer to itself
        header(qd=1) + b"\x00\x00\x01\x00\x01" + b"junk",  # trailing bytes
        header(qd=1, an=5) + b"\x00\x00\x01\x00\x01",  # answer count lies
    ],
    ids=["no-question", "missing-question", "cut-name", "pointer-loop", "trailing", "lying-count"],
)
def test_malformed_bodies_are_formerr_with_the_id_echoed(before, wire):
    out = before.respond(wire)
    r = dns.message.from_wire(out)
    assert r.id == 0x1234 and rcode(r) == "FORMERR" and len(out) == 12


def test_two_questions_are_formerr(before):
    q = dns.message.make_query(ENDPOINT, "A")
    q.find_rrset(q.question, dns.name.from_text(ORIGIN), dns.rdataclass.IN, SOA, create=True)
    r = dns.message.from_wire(before.respond(q.to_wire()))
    assert rcode(r) == "FORMERR"


def test_signed_queries_are_refused(before):
    q = dns.message.make_query(ENDPOINT, "A")
    q.use_tsig(dns.tsigkeyring.from_text({"key.": "MTIzNA=="}), keyname="key.")
    assert rcode(dns.message.from_wire(before.respond(q.to_wire()))) == "REFUSED"


def test_edns_is_echoed_with_our_payload_and_unknown_versions_get_badvers(before):
    r, _ = ask(before, ENDPOINT, use_edns=0, payload=4096)
    assert r.edns == 0 and r.payload == UDP_PAYLOAD and rcode(r) == "NOERROR"
    r, _ = ask(before, ENDPOINT, use_edns=1)
    assert r.edns == 0 and rcode(r) == "BADVERS"
    r, _ = ask(before, ENDPOINT)
    assert r.edns == -1


# -- truncation ----------------------------------------------------------------------------------


def big_zone(records: int) -> Responder:
    """`big.example.test` with `records` A records (16 bytes each on the wire)."""
    origin = name("example.test")
    addresses = [f"192.0.{i // 250}.{i % 250 + 1}" for i in range(records)]
    big = RecordSet("big.example.test", A, rdataset(A, 60, *addresses))
    zone = ZoneState.create(soa_record(origin), (big,))
    env = SimEnv(datetime(2025, 10, 20, tzinfo=UTC))
    server = AuthoritativeDns(Component(env, "region"), "dns", zone)
    return Responder(lambda: [server], random.Random(1))


def test_udp_without_edns_truncates_at_512_bytes_and_tcp_gets_it_all():
    responder = big_zone(60)  # ~1000 bytes
    r, out = ask(responder, "big.example.test")
    assert len(out) <= CLASSIC_UDP and r.flags & dns.flags.TC
    r, out = ask(responder, "big.example.test", use_edns=0, payload=UDP_PAYLOAD)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 60 and len(out) > CLASSIC_UDP
    r, out = ask(responder, "big.example.test", tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 60
    assert responder.counts["truncated"] == 1


def test_udp_payload_is_capped_at_ours_and_a_small_one_at_512():
    responder = big_zone(100)  # ~1650 bytes
    r, out = ask(responder, "big.example.test", use_edns=0, payload=65000)
    assert len(out) <= UDP_PAYLOAD and r.flags & dns.flags.TC
    r, out = ask(responder, "big.example.test", use_edns=0, payload=100)
    assert len(out) <= CLASSIC_UDP and r.flags & dns.flags.TC
    r, out = ask(responder, "big.example.test", use_edns=0, tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 100


# -- fuzz ----------------------------------------------------------------------------------------


def corpus() -> list[bytes]:
    """Valid queries of many shapes: the seeds the fuzzer mutates."""
    out = []
    for qname in (ENDPOINT, "lb1.dynamodb._lb." + ORIGIN, "x." + ORIGIN, ORIGIN, "example.com"):
        for rdtype in ("A", "SOA", "TXT", "ANY", "AXFR", "TYPE999"):
            out.append(dns.message.make_query(qname, rdtype).to_wire())
            q = dns.message.make_query(qname, rdtype, use_edns=0, payload=4096, want_dnssec=True)
            out.append(q.to_wire())
    return out


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One malformed packet: flipped bytes, cuts, insertions, lying counts, or pure noise."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 600))
    wire = bytearray(rng.choice(seeds))
    if kind == 1:
        for _ in range(rng.randrange(1, 6)):
            wire[rng.randrange(len(wire))] = rng.randrange(256)
    elif kind == 2:
        del wire[rng.randrange(len(wire)) :]
    elif kind == 3:
        at = rng.randrange(len(wire))
        wire[at:at] = rng.randbytes(rng.randrange(1, 40))
    elif kind == 4:
        struct.pack_into("!HHHH", wire, 4, *(rng.randrange(65536) for _ in range(4)))
    elif kind == 5:
        wire += rng.randbytes(rng.randrange(1, 2000))  # oversized
    else:
        struct.pack_into("!H", wire, 2, rng.randrange(65536))  # any flags, opcode, rcode
    return bytes(wire)


ALLOWED = {"NOERROR", "NXDOMAIN", "REFUSED", "NOTIMP", "FORMERR", "BADVERS"}


def test_fuzz_many_thousands_of_packets_never_raise_and_every_reply_is_sane(before):
    rng = random.Random(20251020)
    seeds = corpus()
    counts_before = before.counts.copy()
    replies = 0
    for _ in range(30000):
        wire = mutate(rng, seeds)
        tcp = rng.random() < 0.3
        out = before.respond(wire, tcp=tcp)
        if out is None:
            continue
        replies += 1
        assert out[:2] == wire[:2]  # the id is echoed
        r = dns.message.from_wire(out)
        assert r.flags & dns.flags.QR and rcode(r) in ALLOWED
        assert tcp or len(out) <= UDP_PAYLOAD
    assert before.counts["internal_errors"] == counts_before["internal_errors"] == 0
    assert replies > 20000
    outcomes = before.counts - counts_before
    assert {"FORMERR", "NOTIMP", "REFUSED", "NOERROR", "NXDOMAIN", "dropped"} <= set(outcomes)
    r, _ = ask(before, ENDPOINT)  # still answering
    assert rcode(r) == "NOERROR" and len(r.answer[0]) == 2


def test_a_query_goes_to_the_deepest_zone_enclosing_its_name():
    env = SimEnv(datetime(2025, 10, 20, tzinfo=UTC))
    root = Component(env, "region")
    zones = []
    for i, origin in enumerate(("example.test", "sub.example.test")):
        www = RecordSet(f"www.{origin}", A, rdataset(A, 60, f"192.0.2.{i + 1}"))
        zone = ZoneState.create(soa_record(name(origin)), (www,))
        zones.append(AuthoritativeDns(root, "dns", zone, index=i))
    responder = Responder(lambda: zones, random.Random(1))
    r, _ = ask(responder, "www.example.test")
    assert r.answer[0][0].to_text() == "192.0.2.1"
    r, _ = ask(responder, "www.sub.example.test")
    assert r.answer[0][0].to_text() == "192.0.2.2"
    r, _ = ask(responder, "nope.sub.example.test")
    assert rcode(r) == "NXDOMAIN" and r.authority[0].name == dns.name.from_text("sub.example.test")
    r, _ = ask(responder, "www.example.org")
    assert rcode(r) == "REFUSED"
