"""DNS on the wire: raw query bytes in, raw response bytes out (or nothing), never an exception.

`Responder.respond(wire, tcp)` is the protocol front end of the live server. It checks what must
be checked before a query can be answered and hands every well-formed QUERY to the DNS
primitive (`AuthoritativeDns.query`), the one answer path of the project:

- shorter than a header (12 bytes), or a response (QR set): dropped (answering responses can
  make two servers bounce packets forever);
- opcode other than QUERY (NOTIFY, UPDATE, unassigned): NOTIMP, header only;
- a body dnspython cannot parse (bad names, compression loops, trailing junk, counts that lie):
  FORMERR with the id echoed, header only; a TSIG-signed query (no keys here): REFUSED;
- not exactly one question: FORMERR; EDNS version above 0: BADVERS (RFC 6891);
- a name in no served zone: REFUSED; class other than IN: REFUSED; meta types (ANY, AXFR, ...):
  NOTIMP; other types: the zone's answer (NODATA with the SOA when the name lacks the type).

Over UDP a response is cut to 512 bytes without EDNS, to the client's EDNS payload (at most
`UDP_PAYLOAD`) with it, and the TC bit set so the client retries over TCP (RFC 1035, 6891).
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Callable, Sequence

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode

from simulation.primitives.dns import AuthoritativeDns

UDP_PAYLOAD = 1232
"""The EDNS UDP payload this server advertises and honours at most (DNS flag day 2020)."""
CLASSIC_UDP = 512
TCP_MAX = 65535
HEADER = struct.Struct("!HHHHHH")
_QR = 0x8000
_OPCODE_MASK = 0x7800
_RD = 0x0100

OUTCOMES = ("NOERROR", "NXDOMAIN", "REFUSED", "NOTIMP", "FORMERR", "BADVERS", "SERVFAIL")
"""The rcodes this server answers with (counted by name), besides `dropped` and `truncated`."""


class Responder:
    """Answers raw DNS queries from the zones `zones()` returns (read once per query).

    `zones` gives the AuthoritativeDns components to serve; a query goes to the one whose
    origin is the closest enclosing zone of its name. `counts` tallies outcomes by rcode name,
    plus `dropped`, `truncated` and `internal_errors` (a bug caught at the last line: should
    stay 0, and the fuzz tests check that it does).
    """

    def __init__(self, zones: Callable[[], Sequence[AuthoritativeDns]], rng: random.Random) -> None:
        self.zones = zones
        self.rng = rng
        self.counts: Counter[str] = Counter()

    def respond(self, wire: bytes, tcp: bool = False) -> bytes | None:
        """The response to the query `wire` (None: drop it). Never raises."""
        try:
            out = self._respond(wire, tcp)
        except Exception:  # the last line: a bug must not take the server down
            self.counts["internal_errors"] += 1
            out = _header_only(wire, dns.rcode.SERVFAIL) if len(wire) >= HEADER.size else None
        if out is None:
            self.counts["dropped"] += 1
        return out

    def _respond(self, wire: bytes, tcp: bool) -> bytes | None:
        if len(wire) < HEADER.size:
            return None
        flags = HEADER.unpack_from(wire)[1]
        if flags & _QR:
            return None
        if flags & _OPCODE_MASK != dns.opcode.to_flags(dns.opcode.QUERY):
            return self._count(_header_only(wire, dns.rcode.NOTIMP), "NOTIMP")
        try:
            query = dns.message.from_wire(wire)
        except dns.message.UnknownTSIGKey:
            return self._count(_header_only(wire, dns.rcode.REFUSED), "REFUSED")
        except Exception:  # anything dnspython cannot parse is a malformed query
            return self._count(_header_only(wire, dns.rcode.FORMERR), "FORMERR")
        if len(query.question) != 1:
            return self._count(_header_only(wire, dns.rcode.FORMERR), "FORMERR")
        if query.edns > 0:
            response = dns.message.make_response(query, our_payload=UDP_PAYLOAD)
            response.use_edns(0, 0, UDP_PAYLOAD)
            response.set_rcode(dns.rcode.BADVERS)
        else:
            response = self._zone_for(query.question[0].name).query(query, self.rng)
            if query.edns == 0:
                response.use_edns(0, 0, UDP_PAYLOAD)
        if tcp:
            limit = TCP_MAX
        elif query.edns < 0:
            limit = CLASSIC_UDP
        else:
            limit = max(CLASSIC_UDP, min(query.payload, UDP_PAYLOAD))
        out = response.to_wire(max_size=limit, prefer_truncation=True)
        if HEADER.unpack_from(out)[1] & dns.flags.TC:
            self.counts["truncated"] += 1
        return self._count(out, dns.rcode.to_text(response.rcode()))

    def _zone_for(self, qname: dns.name.Name) -> AuthoritativeDns:
        """The served zone closest above `qname`; with none, any zone (its lookup REFUSES)."""
        zones = self.zones()
        best, depth = zones[0], -1
        for zone in zones:
            origin = zone.served.origin
            if len(origin) > depth and qname.is_subdomain(origin):
                best, depth = zone, len(origin)
        return best

    def _count(self, out: bytes, outcome: str) -> bytes:
        self.counts[outcome] += 1
        return out


def _header_only(wire: bytes, rcode: dns.rcode.Rcode) -> bytes:
    """A response with no sections: the query's id, opcode and RD, QR set, `rcode`."""
    qid, flags = HEADER.unpack_from(wire)[:2]
    flags = _QR | (flags & (_OPCODE_MASK | _RD)) | int(rcode)
    return HEADER.pack(qid, flags, 0, 0, 0, 0)
