"""A population of busy clients resolving one name, each through its own caching stub resolver.

Each client needs the name at its own Poisson `request_rate`; a request finding the cached
answer stale makes the client query, so a client queries at the first request after its cached
answer expires: TTL + an exponential wait after its previous query (the wait is 0 for a busy
client, `request_rate=None`). A client *fails* while its cached answer has no addresses;
`failing` (a level, in clients) is what milestones are computed from. Clients start warm: each
holds an answer got at a uniformly random instant of the TTL before the start.

Simulated lazily but exactly: between two changes of what the name servers answer for the name
(whether it has addresses, and the TTLs), every query returns the same kind of answer, so a
client that has just queried is parked; when the served answer changes, each parked client's
query instants are drawn forward from its last query (TTL + wait, repeatedly) to the first one
not before the change, and that query is made for real, through its `CachingResolver`, against
the server's `dns.message` answers. A steady record costs nothing beyond each client's first
query; a change costs one draw per client per TTL elapsed since its last query.
"""

from __future__ import annotations

import math

import dns.name

from simulation.core.component import Component
from simulation.core.timers import TimerHeap

from .records import A, RdataType
from .resolver import CachingResolver
from .server import AuthoritativeDns
from .zone import ZoneState

_UNCACHED_RETRY = 1.0
"""Seconds before a client asks again after an answer that may not be cached (SERVFAIL)."""


def answer_signature(
    state: ZoneState, qname: dns.name.Name, rdtype: RdataType, visited: set | None = None
) -> tuple:
    """What a query can get from `state`, up to the weighted choice: addresses or not, TTLs.
    `visited` receives the (name, type) keys this depends on."""
    records = state.answers(qname, rdtype, visited)
    if not records:
        return (False, state.negative_ttl)
    return (True, tuple(sorted({r.ttl for r in records})))


class ResolverPopulation(Component):
    """`clients` busy stub resolvers of `qname` (see module docstring)."""

    def __init__(
        self,
        parent: Component,
        name: str,
        server: AuthoritativeDns,
        qname: dns.name.Name,
        clients: int,
        rdtype: RdataType = A,
        max_ttl: float = 86400.0,
        request_rate: float | None = None,
    ) -> None:
        super().__init__(parent, name)
        if request_rate is not None and request_rate <= 0:
            raise ValueError(f"request_rate must be > 0 (None: busy clients), got {request_rate}")
        self.request_rate = request_rate
        self.server = server
        self.qname = qname
        self.rdtype = rdtype
        env = self.env
        self.resolvers = [CachingResolver(server, lambda: env.now, max_ttl) for _ in range(clients)]
        self.failing_now = [False] * clients
        self._last = [0.0] * clients
        self._period = [0.0] * clients
        self._parked = [False] * clients
        self._timers = TimerHeap(env, self._query)
        self._depends: set = set()
        self._version = server.served.version
        self._signature = answer_signature(server.served, qname, rdtype, self._depends)
        initially_failing = not self._signature[0]
        self.failing_now = [initially_failing] * clients
        self.failing = self.level("failing", "clients", clients if initially_failing else 0)
        self.queries = 0
        server.watch_served(self._on_served)
        self._start()

    @property
    def clients(self) -> int:
        return len(self.resolvers)

    def _start(self) -> None:
        """Warm start: each client holds an answer got at a uniformly random earlier instant."""
        ttls = self._signature[1]
        ttl = float(ttls[0] if isinstance(ttls, tuple) else ttls)
        rng = self.rng
        for i in range(self.clients):
            self._timers.push(rng.random() * ttl + self._wait(), i, i)

    def _wait(self) -> float:
        """Time from a cached answer's expiry to the client's next request (0: busy client)."""
        rate = self.request_rate
        return 0.0 if rate is None else self.rng.expovariate(rate)

    def _on_served(self, state: ZoneState) -> None:
        follows = state.version == self._version + 1 and state.changed is not None
        self._version = state.version
        if follows and self._depends.isdisjoint(state.changed):
            return  # the batch touched nothing the answer depends on
        depends: set = set()
        signature = answer_signature(state, self.qname, self.rdtype, depends)
        self._depends = depends
        if signature == self._signature:
            return
        self._signature = signature
        now = self.env.now
        push, last, period, parked = self._timers.push, self._last, self._period, self._parked
        busy = self.request_rate is None
        for i in range(self.clients):
            if parked[i]:
                parked[i] = False
                if busy:
                    k = max(1, math.ceil((now - last[i]) / period[i] - 1e-9))
                    t = last[i] + k * period[i]
                else:
                    t = last[i] + period[i] + self._wait()
                    while t < now:
                        t += period[i] + self._wait()
                push(t, i, i)

    def _query(self, i: int) -> None:
        now = self.env.now
        answer = self.resolvers[i].refresh(self.qname, self.rdtype)
        self.queries += 1
        failing = not answer.ok
        if failing != self.failing_now[i]:
            self.failing_now[i] = failing
            self.failing.add(1 if failing else -1)
        ttl = answer.expires - now
        self._last[i] = now
        self._period[i] = ttl if ttl > 0 else _UNCACHED_RETRY
        self._parked[i] = True
