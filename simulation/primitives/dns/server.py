"""A Route 53-like authoritative DNS service: a change API and name servers that lag behind it.

`commit(batch)` applies a change batch all-or-nothing to the *master* state at once (what the
change API and record listings see, and what conditions are checked against); the name servers
serve each committed state `propagation` seconds later (Route 53: changes reach all its name
servers within about a minute). Queries are answered from the served state as real
`dns.message` responses: rcode, an answer section under the queried name (aliases resolved
inside the zone, one weighted member per query), and for negative answers the SOA in the
authority section with TTL min(SOA TTL, SOA minimum) (RFC 2308).

Responses are shared between queries with the same outcome (they are built once, with message
id 0): treat them as read-only. `query(message)` answers a real query message with its own id
(what a live front end such as `simulation.live` serves to real clients).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from simulation.core.component import Component

from .records import ChangeBatch, RdataType, name
from .zone import Lookup, ZoneState

ZoneWatcher = Callable[[ZoneState], None]

_CACHE_LIMIT = 4096


class AuthoritativeDns(Component):
    """The change API (master state) and the name servers (served state) of one hosted zone."""

    def __init__(
        self,
        parent: Component,
        name: str,
        zone: ZoneState,
        propagation: float = 0.0,
        index: int | str | None = None,
    ) -> None:
        super().__init__(parent, name, index)
        self.propagation = float(propagation)
        self.master = zone
        self.served = zone
        self.commits = 0
        self._epoch = 0
        self._master_watchers: list[ZoneWatcher] = []
        self._served_watchers: list[ZoneWatcher] = []
        self._responses: dict[tuple, tuple[object, dns.message.Message]] = {}

    # -- the change API --------------------------------------------------------------------
    def commit(self, batch: ChangeBatch) -> ZoneState:
        """Apply `batch` to the master state now (or raise ChangeRejected); serve it later."""
        state = self.master.apply(batch)
        self.master = state
        self.commits += 1
        for watcher in self._master_watchers:
            watcher(state)
        if self.propagation <= 0.0:
            self._serve(state)
        else:
            epoch = self._epoch
            self.env.timeout(self.propagation).callbacks.append(
                lambda _e: self._serve(state) if epoch == self._epoch else None
            )
        return state

    def load(self, zone: ZoneState) -> None:
        """Replace both states at once (bootstrap: a zone that already existed at start)."""
        self._epoch += 1  # commits still propagating belong to the replaced zone
        self.master = zone
        self.served = zone
        for watcher in self._served_watchers:
            watcher(zone)

    def _serve(self, state: ZoneState) -> None:
        if state.version < self.served.version and state.origin == self.served.origin:
            return  # an older state arriving late never overwrites a newer one
        self.served = state
        for watcher in self._served_watchers:
            watcher(state)

    def watch_master(self, watcher: ZoneWatcher) -> None:
        """Call `watcher(state)` after every commit."""
        self._master_watchers.append(watcher)

    def watch_served(self, watcher: ZoneWatcher) -> None:
        """Call `watcher(state)` whenever the name servers start serving a new state."""
        self._served_watchers.append(watcher)

    # -- the name servers ------------------------------------------------------------------
    def answer(self, qname: dns.name.Name, rdtype: RdataType) -> dns.message.Message:
        """The response the name servers give now to a query for `qname`/`rdtype`."""
        qname = name(qname)
        state = self.served
        found = state.lookup(qname, rdtype, self.rng)
        key: tuple = (qname, rdtype, found.rcode, found.data, state.soa)
        hit = self._responses.get(key)
        if hit is not None:
            return hit[1]
        if len(self._responses) >= _CACHE_LIMIT:
            self._responses.clear()
        response = self._build(dns.message.make_query(qname, rdtype, id=0), found, state)
        self._responses[key] = (found.data, response)
        return response

    def query(
        self, message: dns.message.Message, rng: random.Random | None = None
    ) -> dns.message.Message:
        """Answer a real query message (its id and question are echoed) from the served state.

        The message must have one question. A class other than IN is REFUSED (the zone is IN
        only) and a meta type (ANY, AXFR, IXFR, ...) NOTIMP; any other type the name lacks is
        NODATA. `rng` picks among weighted record sets (default: this component's stream; a
        live front end passes its own so real queries never shift the simulation's draws).
        """
        question = message.question[0]
        state = self.served  # read once: another state may be served while this answers
        if question.rdclass != dns.rdataclass.IN:
            found = Lookup(dns.rcode.REFUSED, None)
        elif dns.rdatatype.is_metatype(question.rdtype):
            found = Lookup(dns.rcode.NOTIMP, None)
        else:
            found = state.lookup(question.name, question.rdtype, self.rng if rng is None else rng)
        return self._build(message, found, state)

    @staticmethod
    def _build(query: dns.message.Message, found: Lookup, state: ZoneState) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.set_rcode(found.rcode)
        if found.rcode in (dns.rcode.REFUSED, dns.rcode.NOTIMP):
            return response
        response.flags |= dns.flags.AA
        qname = query.question[0].name
        data = found.data
        if data is not None:
            response.answer.append(dns.rrset.from_rdata_list(qname, data.ttl, list(data.data)))
        elif found.rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            soa = state.soa
            response.authority.append(
                dns.rrset.from_rdata_list(soa.name, state.negative_ttl, list(soa.data))
            )
        return response

    def addresses(self, qname: dns.name.Name, rdtype: RdataType, served: bool = True) -> set[str]:
        """Every address a query for `qname` can get now (all weighted branches)."""
        state = self.served if served else self.master
        return {rd.to_text() for r in state.answers(qname, rdtype) for rd in r.data}
