"""An immutable hosted zone: its record sets, all-or-nothing change batches, and lookups.

`ZoneState` is a value: `apply(batch)` returns a new state (or raises `ChangeRejected`) and
never changes the old one, so an authoritative server can keep the state its name servers serve
apart from the newest one, and a model checker can branch on states and hash them (`key()`).

Lookups follow Route 53: an alias is resolved inside the zone and answered under the queried
name with the target's data and TTL; among weighted record sets one is chosen per query with
probability weight / sum (all weights zero: equal chances). A name with no records of the type
gives NOERROR with no answer (NODATA) if the name exists (has any record, or names below it)
and NXDOMAIN otherwise; so does an alias whose target has no records. Negative answers carry the
zone's SOA, whose TTL for negative caching is min(SOA TTL, SOA minimum) (RFC 2308, section 3).
"""

from __future__ import annotations

import bisect
import functools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import dns.name
import dns.rcode

from .fastinit import fast_init
from .records import (
    SOA,
    ChangeBatch,
    ChangeConflict,
    HashedName,
    InvalidChangeBatch,
    RdataType,
    RecordSet,
    name,
    rdataset,
)

MAX_ALIAS_HOPS = 8
"""Alias chains longer than this resolve to SERVFAIL (a loop guard)."""

Key = tuple[dns.name.Name, RdataType]


@fast_init
@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of one lookup: rcode and the record set whose data answers (None: negative)."""

    rcode: dns.rcode.Rcode
    data: RecordSet | None

    @property
    def positive(self) -> bool:
        return self.data is not None


def soa_record(
    origin: dns.name.Name,
    ttl: int = 900,
    minimum: int = 86400,
    mname: str = "ns-1.awsdns-01.org.",
    rname: str = "awsdns-hostmaster.amazon.com.",
    serial: int = 1,
) -> RecordSet:
    """A Route 53-like SOA: defaults are Route 53's (TTL 900 s, minimum 86400 s)."""
    text = f"{mname} {rname} {serial} 7200 900 1209600 {int(minimum)}"
    return RecordSet(origin, SOA, rdataset(SOA, ttl, text))


class ZoneState:
    """One version of a hosted zone's record sets (immutable; see module docstring)."""

    __slots__ = ("_key", "_names", "_pickers", "_table", "changed", "origin", "version")

    def __init__(
        self,
        origin: dns.name.Name,
        table: Mapping[Key, tuple[RecordSet, ...]],
        version: int = 0,
        changed: frozenset[Key] | None = None,
    ) -> None:
        self.origin = origin
        self._table = table
        self.version = version
        self.changed = changed
        """(name, type) of the record sets the batch that made this state touched (None:
        unknown). Lets a watcher skip states that cannot change what it looks at."""
        self._key: frozenset | None = None
        self._names: set[dns.name.Name] | None = None
        self._pickers: dict[Key, tuple[list[float], tuple[RecordSet, ...]]] = {}

    @classmethod
    def create(cls, soa: RecordSet, records: tuple[RecordSet, ...] = ()) -> ZoneState:
        """A zone with `soa` at its origin and `records` (validated as one CREATE batch)."""
        from .records import create

        zone = cls(soa.name, {(soa.name, SOA): (soa,)})
        if records:
            zone = zone.apply(ChangeBatch.of(create(r) for r in records))
        return ZoneState(zone.origin, zone._table, 0)

    # -- reading ---------------------------------------------------------------------------
    @property
    def soa(self) -> RecordSet:
        return self._table[(self.origin, SOA)][0]

    @property
    def negative_ttl(self) -> int:
        """Seconds a resolver caches a negative answer: min(SOA TTL, SOA minimum) (RFC 2308)."""
        soa = self.soa.data
        return min(soa.ttl, next(iter(soa)).minimum)

    def group(self, owner: dns.name.Name, rdtype: RdataType) -> tuple[RecordSet, ...]:
        """Every record set of this name and type (several when weighted)."""
        return self._table.get((name(owner), rdtype), ())

    def record(
        self, owner: dns.name.Name, rdtype: RdataType, set_id: str | None = None
    ) -> RecordSet | None:
        for r in self._table.get((name(owner), rdtype), ()):
            if r.set_id == set_id:
                return r
        return None

    def records(self) -> Iterator[RecordSet]:
        for group in self._table.values():
            yield from group

    def record_keys(self) -> Iterator[Key]:
        """(name, type) of every record set group."""
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def key(self) -> frozenset:
        """A hashable value equal for two states with the same record sets (version ignored)."""
        if self._key is None:
            self._key = frozenset(r.key for g in self._table.values() for r in g)
        return self._key

    def exists(self, owner: dns.name.Name) -> bool:
        """Whether the name exists: it owns a record set or is an ancestor of one (RFC 8020)."""
        owner = name(owner)
        if self._names is None:
            names: set[dns.name.Name] = set()
            for n, _ in self._table:
                while n not in names and n.is_subdomain(self.origin):
                    names.add(n)
                    if n == self.origin:
                        break
                    n = name(n.parent())
            self._names = names
        return owner in self._names

    # -- lookups ---------------------------------------------------------------------------
    def lookup(
        self, qname: dns.name.Name, rdtype: RdataType, rng: random.Random | None = None
    ) -> Lookup:
        """Resolve `qname`/`rdtype` inside the zone, following aliases and weights.

        With `rng` None the first weighted member (by set id) answers: deterministic, for checks.
        """
        qname = name(qname)
        if not _in_zone(qname, self.origin):
            return Lookup(dns.rcode.REFUSED, None)
        current = qname
        for _ in range(MAX_ALIAS_HOPS):
            key = (current, rdtype)
            group = self._table.get(key)
            if not group:
                if current is qname and not self.exists(qname):
                    return Lookup(dns.rcode.NXDOMAIN, None)
                return Lookup(dns.rcode.NOERROR, None)
            member = group[0] if len(group) == 1 or rng is None else self._pick(key, group, rng)
            if member.alias is None:
                return Lookup(dns.rcode.NOERROR, member)
            current = member.alias
        return Lookup(dns.rcode.SERVFAIL, None)

    def answers(
        self, qname: dns.name.Name, rdtype: RdataType, visited: set[Key] | None = None
    ) -> list[RecordSet]:
        """Every data record set a query could get (all weighted branches with a chance).

        `visited`, if given, receives every (name, type) the answer depends on."""
        out: list[RecordSet] = []
        self._collect(name(qname), rdtype, out, 0, visited)
        return out

    def _collect(
        self,
        n: dns.name.Name,
        rdtype: RdataType,
        out: list[RecordSet],
        depth: int,
        visited: set[Key] | None,
    ) -> None:
        if depth >= MAX_ALIAS_HOPS:
            return
        key = (n, rdtype)
        if visited is not None:
            visited.add(key)
        group = self._table.get(key, ())
        weighted = [r for r in group if r.weight] or list(group)
        for member in weighted:
            if member.alias is None:
                out.append(member)
            else:
                self._collect(member.alias, rdtype, out, depth + 1, visited)

    def _pick(self, key: Key, group: tuple[RecordSet, ...], rng: random.Random) -> RecordSet:
        picker = self._pickers.get(key)
        if picker is None:
            weights = [float(r.weight or 0) for r in group]
            if sum(weights) <= 0:
                weights = [1.0] * len(group)
            cumulative, total = [], 0.0
            for w in weights:
                total += w
                cumulative.append(total)
            picker = self._pickers[key] = (cumulative, group)
        cumulative, members = picker
        i = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        return members[min(i, len(members) - 1)]

    # -- changes ---------------------------------------------------------------------------
    def apply(self, batch: ChangeBatch) -> ZoneState:
        """The state after `batch`, applied all-or-nothing; raises ChangeConflict or
        InvalidChangeBatch (see records.py) and leaves this state as it was."""
        for cond in batch.conditions:
            current = self.record(cond.name, cond.rdtype, cond.set_id)
            if current != cond.expected:
                raise ChangeConflict(
                    lambda cond=cond, current=current: (
                        f"condition failed on [name="
                        f"'{cond.name}', type='{_type(cond.rdtype)}']: expected "
                        f"{_text(cond.expected)}, found {_text(current)}"
                    )
                )
        table = dict(self._table)
        aliases: list[RecordSet] = []
        touched: dict[Key, RecordSet] = {}
        origin = self.origin
        for change in batch.changes:
            r = change.record
            if not _in_zone(r.name, origin):
                raise InvalidChangeBatch(
                    f"RRSet with DNS name {r.name} is not permitted in zone {origin}"
                )
            key = (r.name, r.rdtype)
            touched[key] = r
            group = table.get(key, ())
            at = None
            set_id = r.set_id
            for i, m in enumerate(group):
                if m.set_id == set_id:
                    at = i
                    break
            action = change.action
            if action == "UPSERT":
                group = (*group, r) if at is None else (*group[:at], r, *group[at + 1 :])
            elif action == "CREATE":
                if at is not None:
                    raise ChangeConflict(
                        f"Tried to create resource record set {_where(r)} but it already exists"
                    )
                group = (*group, r)
            else:
                if at is None:
                    raise ChangeConflict(
                        f"Tried to delete resource record set {_where(r)} but it was not found"
                    )
                if group[at] != r:
                    raise ChangeConflict(
                        f"Tried to delete resource record set {_where(r)} but the values "
                        "provided do not match the current values"
                    )
                group = group[:at] + group[at + 1 :]
            if group:
                table[key] = group
            else:
                del table[key]
            if r.alias is not None and action != "DELETE":
                aliases.append(r)
        for key, r in touched.items():
            group = table.get(key)
            if group is not None and len(group) > 1:
                if any(m.set_id is None for m in group):
                    raise InvalidChangeBatch(
                        f"{_where(r)}: a weighted record set cannot share its name and type "
                        "with a simple one"
                    )
                table[key] = tuple(sorted(group, key=_set_order))
        for r in aliases:
            group = table.get((r.name, r.rdtype), ())
            if _contains(group, r) and not table.get((r.alias, r.rdtype)):
                raise InvalidChangeBatch(
                    f"Tried to create an alias that targets {r.alias}, type "
                    f"{_type(r.rdtype)} in zone {origin}, but that target was not found"
                )
        return ZoneState(self.origin, table, self.version + 1, frozenset(touched))


def _in_zone(owner: dns.name.Name, origin: dns.name.Name) -> bool:
    """`owner.is_subdomain(origin)`; for two absolute HashedNames (what the zone stores) a
    suffix test of their lowered labels, which is the same relation without dnspython's
    label-by-label comparison."""
    if owner.__class__ is HashedName and origin.__class__ is HashedName:
        mine, theirs = owner._folded, origin._folded
        if mine and theirs and mine[-1] == b"" and theirs[-1] == b"":
            n = len(theirs)
            return len(mine) >= n and mine[-n:] == theirs
    return owner.is_subdomain(origin)


def _contains(group: tuple[RecordSet, ...], r: RecordSet) -> bool:
    """`r in group`, looking for `r` itself first (the usual case: it was just upserted), so
    the members before it are not compared by value."""
    for m in group:
        if m is r:
            return True
    return r in group


def _where(r: RecordSet) -> str:
    where = f"[name='{r.name}', type='{_type(r.rdtype)}'"
    return where + (f", set-identifier='{r.set_id}']" if r.set_id is not None else "]")


def _set_order(r: RecordSet) -> str:
    return r.set_id or ""


@functools.cache
def _type(rdtype: RdataType) -> str:
    import dns.rdatatype

    return dns.rdatatype.to_text(rdtype)


def _text(r: RecordSet | None) -> str:
    return "nothing" if r is None else r.to_text()
