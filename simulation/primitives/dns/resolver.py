"""A caching stub resolver: positive answers for their TTL, negative ones per RFC 2308.

`resolve(qname, rdtype)` returns the cached `Answer` while it is fresh, and otherwise asks the
name servers (any object with `answer(qname, rdtype) -> dns.message.Message`, such as
`AuthoritativeDns`) and caches what they say:

- a positive answer for the smallest TTL of its answer record sets;
- a negative answer (NXDOMAIN, or NOERROR with no data) for min(TTL of the SOA in the authority
  section, SOA minimum) (RFC 2308, section 5); NXDOMAIN covers every type of the name, NODATA
  only the type asked;
- anything else (SERVFAIL, REFUSED) is not cached.

All TTLs are capped at `max_ttl`. Times come from `now()` (the simulation clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import dns.message
import dns.name
import dns.rcode

from .fastinit import fast_init
from .records import SOA, A, HashedName, RdataType, name


class NameServer(Protocol):
    def answer(self, qname: dns.name.Name, rdtype: RdataType) -> dns.message.Message: ...


@fast_init
@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the stub sees it, with what it means for the caller."""

    response: dns.message.Message
    addresses: tuple[str, ...]
    """The data of the answer section (addresses for A queries); empty when negative."""
    expires: float
    """Sim time at which the cached answer goes stale."""
    negative: bool

    @property
    def ok(self) -> bool:
        """Whether the caller got something to connect to."""
        return bool(self.addresses)

    @property
    def rcode(self) -> dns.rcode.Rcode:
        return self.response.rcode()


def interpret(
    response: dns.message.Message, rdtype: RdataType, now: float, max_ttl: float
) -> tuple[tuple[str, ...], float | None, bool]:
    """(addresses, seconds to cache or None for 'do not cache', negative) of one response."""
    rcode = response.rcode()
    rrsets = [r for r in response.answer if r.rdtype == rdtype]
    if rcode == dns.rcode.NOERROR and rrsets:
        ttl = min(r.ttl for r in rrsets)
        data = tuple(rd.to_text() for r in rrsets for rd in r)
        return data, float(min(ttl, max_ttl)), False
    if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        soa = next((r for r in response.authority if r.rdtype == SOA), None)
        if soa is None:
            return (), None, True  # no SOA: RFC 2308 says do not cache
        ttl = min(soa.ttl, next(iter(soa)).minimum)
        return (), float(min(ttl, max_ttl)), True
    return (), None, True


_INTERPRETED: dict[tuple, tuple] = {}
"""`interpret` of a response (it does not depend on `now`), keyed by the response's id and
holding the response itself (so the id is not reused while the entry lives): name servers share
one response object between all queries with the same outcome (`AuthoritativeDns.answer`), and
turning its rdata into text is most of the cost of a refresh. A pure memo, cleared when full."""
_INTERPRETED_LIMIT = 4096


class CachingResolver:
    """One client's stub resolver with its own cache (see module docstring)."""

    __slots__ = ("cache", "hits", "max_ttl", "now", "queries", "server")

    def __init__(
        self, server: NameServer, now: Callable[[], float], max_ttl: float = 86400.0
    ) -> None:
        self.server = server
        self.now = now
        self.max_ttl = max_ttl
        self.cache: dict[tuple[dns.name.Name, int | None], Answer] = {}
        self.queries = 0
        self.hits = 0

    def cached(self, qname: dns.name.Name, rdtype: RdataType = A) -> Answer | None:
        """The fresh cached answer, if any (NXDOMAIN cached for the name answers every type)."""
        now = self.now()
        cache = self.cache
        if qname.__class__ is not HashedName:
            qname = name(qname)
        entry = cache.get((qname, rdtype))
        if entry is not None and entry.expires > now:
            return entry
        entry = cache.get((qname, None))
        if entry is not None and entry.expires > now:
            return entry
        return None

    def resolve(self, qname: dns.name.Name, rdtype: RdataType = A) -> Answer:
        """The answer for `qname`/`rdtype` now: from the cache while fresh, else from the server."""
        entry = self.cached(qname, rdtype)
        if entry is not None:
            self.hits += 1
            return entry
        return self.refresh(qname, rdtype)

    def refresh(self, qname: dns.name.Name, rdtype: RdataType = A) -> Answer:
        """Ask the server now (ignoring the cache) and cache what it says."""
        qname = name(qname)
        now = self.now()
        self.queries += 1
        response = self.server.answer(qname, rdtype)
        memo_key = (id(response), rdtype, self.max_ttl)
        memo = _INTERPRETED.get(memo_key)
        if memo is None or memo[0] is not response:
            if len(_INTERPRETED) >= _INTERPRETED_LIMIT:
                _INTERPRETED.clear()
            addresses, ttl, negative = interpret(response, rdtype, now, self.max_ttl)
            nx = response.rcode() == dns.rcode.NXDOMAIN
            memo = _INTERPRETED[memo_key] = (response, addresses, ttl, negative, nx)
        _, addresses, ttl, negative, nx = memo
        answer = Answer(response, addresses, now + (ttl or 0.0), negative)
        if ttl is not None and ttl > 0:
            self.cache[(qname, None if nx else rdtype)] = answer
            if not nx:
                self.cache.pop((qname, None), None)
        return answer

    def flush(self) -> None:
        self.cache.clear()
