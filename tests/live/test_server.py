"""The running server with real clients over loopback: dnspython's resolver and query functions,
TCP framing (split reads, several queries per connection, idle timeout), and a fuzz over UDP and
TCP after which a valid query still answers."""

from __future__ import annotations

import random
import socket
import struct
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from .conftest import ENDPOINT, ORIGIN
from .test_wire import REGIONAL, corpus, mutate


def resolver(server) -> dns.resolver.Resolver:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = server.port
    r.lifetime = 5.0
    return r


def test_resolver_gets_addresses_and_the_ttl_before_the_race(before_server):
    answer = resolver(before_server).resolve(ENDPOINT, "A")
    assert answer.rrset.ttl == 60
    addresses = {rd.to_text() for rd in answer}
    assert len(addresses) == 2 and addresses <= REGIONAL


def test_resolver_gets_no_answer_and_the_soa_while_the_record_is_empty(during_server):
    answer = resolver(during_server).resolve(ENDPOINT, "A", raise_on_no_answer=False)
    assert answer.rrset is None and answer.response.rcode() == dns.rcode.NOERROR
    (soa,) = answer.response.authority
    assert soa.to_text().startswith(f"{ORIGIN}. 900 IN SOA ")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver(during_server).resolve(ENDPOINT, "A")


def test_resolver_gets_nxdomain_for_unknown_names(during_server):
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver(during_server).resolve("no-such-endpoint." + ORIGIN, "A")


def test_other_zones_are_refused(before_server):
    with pytest.raises(dns.resolver.NoNameservers, match="REFUSED"):
        resolver(before_server).resolve("www.example.com", "A")
    q = dns.message.make_query("www.example.com", "A")
    r = dns.query.udp(q, "127.0.0.1", port=before_server.port, timeout=5)
    assert r.rcode() == dns.rcode.REFUSED


def test_tcp_answers_the_same(during_server):
    q = dns.message.make_query(ENDPOINT, "A")
    r = dns.query.tcp(q, "127.0.0.1", port=during_server.port, timeout=5)
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority[0].ttl == 900


def connect(server) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def framed(wire: bytes) -> bytes:
    return struct.pack("!H", len(wire)) + wire


def read_message(s: socket.socket) -> dns.message.Message:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    (length,) = struct.unpack("!H", exactly(2))
    return dns.message.from_wire(exactly(length))


def test_tcp_reads_messages_split_anywhere_and_several_per_connection(before_server):
    queries = [dns.message.make_query(ENDPOINT, "A", id=i) for i in (11, 12, 13)]
    with connect(before_server) as s:
        for byte in framed(queries[0].to_wire()):  # one byte per segment
            s.sendall(bytes([byte]))
            time.sleep(0.001)
        assert read_message(s).id == 11
        s.sendall(framed(queries[1].to_wire()) + framed(queries[2].to_wire()))  # pipelined
        first, second = read_message(s), read_message(s)
        assert (first.id, second.id) == (12, 13)
        assert all(m.rcode() == dns.rcode.NOERROR and m.answer for m in (first, second))


def test_an_idle_tcp_connection_is_closed(before_server):  # this server's idle timeout: 0.5 s
    with connect(before_server) as s:
        s.sendall(b"\x00")  # half a length prefix, then nothing
        start = time.monotonic()
        assert s.recv(10) == b""
        assert 0.3 < time.monotonic() - start < 4


def test_tcp_closes_on_a_message_it_cannot_answer(before_server):
    with connect(before_server) as s:
        s.sendall(framed(b"\x00\x01\x02"))  # shorter than a header
        assert s.recv(10) == b""


def udp_exchange(port: int, packets: list[bytes], burst: int = 10) -> list[bytes]:
    """Send the packets in small bursts, collecting the replies to each burst before the next
    (bursts of large datagrams would overflow the server's socket buffer and be lost)."""
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for i in range(0, len(packets), burst):
            chunk = packets[i : i + burst]
            for p in chunk:
                s.sendto(p, ("127.0.0.1", port))
            for _ in range(sum(answerable(p) for p in chunk)):
                try:
                    replies.append(s.recv(65535))
                except TimeoutError:
                    break
    return replies


def answerable(wire: bytes) -> bool:
    """What the server must reply to: at least a header, and not a response (QR clear)."""
    return len(wire) >= 12 and not wire[2] & 0x80


def test_fuzz_over_udp_and_tcp_then_a_valid_query_still_answers(before_server):
    counts = before_server.live.responder.counts
    start = counts.copy()
    rng = random.Random(11)
    seeds = corpus()
    packets = [mutate(rng, seeds)[:65000] for _ in range(6000)]
    replies = udp_exchange(before_server.port, packets)
    expected = sum(answerable(p) for p in packets)
    assert len(replies) >= 0.99 * expected
    for out in replies:
        assert dns.message.from_wire(out).flags & dns.flags.QR
    tcp_replies = 0
    s = connect(before_server)
    try:
        for _ in range(2000):
            wire = mutate(rng, seeds)[:65000]
            s.sendall(framed(wire))
            if answerable(wire):
                reply = read_message(s)
                assert reply.id == struct.unpack("!H", wire[:2])[0]
                tcp_replies += 1
            else:
                assert s.recv(10) == b""  # nothing it could answer: the server closes
                s.close()
                s = connect(before_server)
    finally:
        s.close()
    assert tcp_replies > 1500
    r = dns.query.udp(dns.message.make_query(ENDPOINT, "A"), "127.0.0.1", port=before_server.port)
    assert r.rcode() == dns.rcode.NOERROR and r.answer[0].ttl == 60
    assert counts["internal_errors"] == 0 and counts["send_errors"] == 0
    done = counts - start
    handled = sum(v for k, v in done.items() if k.isupper() or k == "dropped")
    assert handled >= 0.99 * 6000 + 2000
