"""Record sets and change batches, Route 53 style, on dnspython names and rdatasets.

A `RecordSet` is what Route 53 calls a resource record set: an owner name (`dns.name.Name`), a
type, and either data (an immutable `dns.rdataset.Rdataset`, which carries the TTL) or an *alias*
to another name of the same zone (answered as if the target's data were the owner's, with the
target's TTL). Weighted routing gives several record sets of one name and type a `set_id` and a
`weight`; a query gets one of them with probability weight / sum of weights.

A `ChangeBatch` is a list of `Change`s (CREATE, DELETE, UPSERT) plus `Condition`s, applied
all-or-nothing (see `zone.ZoneState.apply`). Route 53 itself reports every refusal as
`InvalidChangeBatch`; here the refusals a concurrent writer causes (a condition no longer holds,
a DELETE whose values changed, a CREATE of something that now exists) are `ChangeConflict`, and
the ones no retry can fix (an alias to a name that has no records) are `InvalidChangeBatch`, so a
caller can tell contention from a broken state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.TXT

from .fastinit import fast_init

A = dns.rdatatype.A
TXT = dns.rdatatype.TXT
SOA = dns.rdatatype.SOA
IN = dns.rdataclass.IN

RdataType = dns.rdatatype.RdataType


class HashedName(dns.name.Name):
    """A `dns.name.Name` with a strong, case-insensitive hash computed once.

    dnspython hashes a name character by character on every dict lookup, and its hash collides
    for names such as `g59.x` and `g60.x` (each collision then costs a full comparison). Record
    tables are looked up constantly, so the names the DNS primitive stores are HashedNames.
    A HashedName equals the plain Name with the same labels but hashes differently: every
    entry point of this package converts names with `name()`, so never mix the two as keys of
    one dict outside it.

    Equality is the same as dnspython's (labels compared case-insensitively, absolute and
    relative names apart), but on the lowered labels kept beside the hash, identity first:
    dnspython compares label by label in Python on every `==`, and record tables and
    conditions compare equal names that are distinct objects all the time.
    """

    __slots__ = ("_folded", "_hash", "_text")

    def __init__(self, labels) -> None:
        super().__init__(labels)
        folded = tuple(label.lower() for label in self.labels)
        object.__setattr__(self, "_folded", folded)
        object.__setattr__(self, "_hash", hash(folded))
        object.__setattr__(self, "_text", None)

    def __str__(self) -> str:
        """`to_text()`, computed once (record texts, change-batch errors and events use it)."""
        text = self._text
        if text is None:
            text = self.to_text(False)
            object.__setattr__(self, "_text", text)
        return text

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if other.__class__ is HashedName:
            return self._hash == other._hash and self._folded == other._folded
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __reduce__(self):
        # dnspython's __getstate__/__setstate__ restore `labels` only (not the hash)
        return (HashedName, (self.labels,))


def name(text: str | dns.name.Name) -> dns.name.Name:
    """An absolute dnspython name from text (`'dynamodb.us-east-1.amazonaws.com'`, dot optional)
    or from another Name, with its hash computed once (see `HashedName`)."""
    if text.__class__ is HashedName:
        return text
    if not isinstance(text, dns.name.Name):
        text = dns.name.from_text(text if text.endswith(".") else text + ".")
    return HashedName(text.labels)


def rdataset(rdtype: RdataType, ttl: int, *texts: str) -> dns.rdataset.Rdataset:
    """An immutable rdataset of `rdtype` from presentation-format texts."""
    rds = dns.rdataset.from_text(IN, rdtype, int(ttl), *texts)
    return dns.rdataset.ImmutableRdataset(rds)


def txt_rdataset(ttl: int, value: str) -> dns.rdataset.Rdataset:
    """A one-string TXT rdataset (built directly: cheaper than parsing presentation text)."""
    rd = dns.rdtypes.ANY.TXT.TXT(IN, TXT, [value.encode()])
    return dns.rdataset.ImmutableRdataset(dns.rdataset.from_rdata_list(int(ttl), [rd]))


def _rdata_id(rd: dns.rdata.Rdata) -> tuple:
    """What `Rdata.__eq__` compares: class, type, whether relative, canonical wire form."""
    try:
        return (rd.rdclass, rd.rdtype, False, rd.to_digestable())
    except dns.name.NeedAbsoluteNameOrOrigin:
        return (rd.rdclass, rd.rdtype, True, rd.to_digestable(dns.name.root))


class RecordSet:
    """One resource record set: data or an alias; optionally a weighted member (set_id, weight).

    Immutable; equality is Route 53's "same values" (name, type, set id, weight, alias target,
    TTL and rdata), which is what a DELETE or a `Condition` must match.
    """

    __slots__ = ("_hash", "_key", "_upsert", "alias", "data", "name", "rdtype", "set_id", "weight")

    def __init__(
        self,
        owner: dns.name.Name | str,
        rdtype: RdataType,
        data: dns.rdataset.Rdataset | None = None,
        alias: dns.name.Name | str | None = None,
        set_id: str | None = None,
        weight: int | None = None,
    ) -> None:
        if (data is None) == (alias is None):
            raise ValueError("a record set has either data or an alias target, not both/neither")
        if (set_id is None) != (weight is None):
            raise ValueError("a weighted record set needs both set_id and weight")
        if weight is not None and weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        if data is not None and not isinstance(data, dns.rdataset.ImmutableRdataset):
            data = dns.rdataset.ImmutableRdataset(data)
        self.name = name(owner)
        self.rdtype = rdtype
        self.data = data
        self.alias = None if alias is None else name(alias)
        self.set_id = set_id
        self.weight = weight
        self._key: tuple | None = None  # computed on first comparison or hash
        self._hash = 0
        self._upsert: Change | None = None  # its UPSERT, made once (see `upsert`)

    @property
    def ttl(self) -> int | None:
        """The data's TTL; None for an alias (its answers take the target's TTL)."""
        return None if self.data is None else self.data.ttl

    @property
    def key(self) -> tuple:
        """A hashable value identifying the content (used for state hashing).

        Rdata appear as `_rdata_id`s (what dnspython's `Rdata.__eq__` compares, as plain
        bytes): comparing two keys then never calls back into dnspython."""
        key = self._key
        if key is None:
            data = self.data
            values = None if data is None else (data.ttl, frozenset(map(_rdata_id, data)))
            key = self._key = (self.name, self.rdtype, self.set_id, self.weight, self.alias, values)
            self._hash = hash(key)
        return key

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, RecordSet):
            return False
        mine, theirs = self.key, other.key  # computes both hashes
        return self._hash == other._hash and mine == theirs

    def __hash__(self) -> int:
        if self._key is None:
            self.key  # noqa: B018 - computes and caches the hash
        return self._hash

    def __repr__(self) -> str:
        return f"<RecordSet {self.to_text()}>"

    def to_text(self) -> str:
        rtype = dns.rdatatype.to_text(self.rdtype)
        routing = "" if self.set_id is None else f" [{self.set_id} weight={self.weight}]"
        if self.alias is not None:
            return f"{self.name} {rtype} ALIAS {self.alias}{routing}"
        values = " ".join(sorted(rd.to_text() for rd in self.data))
        return f"{self.name} {self.data.ttl} {rtype} {values}{routing}"


_DATA = RecordSet.__dict__["data"]  # the slot's descriptor, for TxtRecordSet


class TxtRecordSet(RecordSet):
    """A one-string TXT record set whose dnspython rdata is built on first read.

    The same value as `RecordSet(owner, TXT, txt_rdataset(ttl, text))` (equal, same hash, same
    `data` when read), for records written far more often than read as DNS, such as locks
    whose text is unique per acquisition: building an immutable dnspython rdataset costs more
    than the rest of a Route 53 transaction here.
    """

    __slots__ = ("_ttl", "text")

    def __init__(self, owner: dns.name.Name | str, ttl: int, text: str) -> None:
        self.name = name(owner)
        self.rdtype = TXT
        self.alias = None
        self.set_id = None
        self.weight = None
        self._key = None
        self._hash = 0
        self._upsert = None
        self._ttl = int(ttl)
        self.text = text

    @property
    def data(self) -> dns.rdataset.Rdataset:  # type: ignore[override]
        try:
            return _DATA.__get__(self, RecordSet)
        except AttributeError:
            data = txt_rdataset(self._ttl, self.text)
            _DATA.__set__(self, data)
            return data

    @property
    def ttl(self) -> int:
        return self._ttl


@fast_init
@dataclass(frozen=True, slots=True)
class Change:
    """One change of a batch. CREATE fails if the record set exists; DELETE needs an exact match
    of the current values; UPSERT creates or replaces. Record sets are identified by
    (name, type, set_id)."""

    action: Literal["CREATE", "DELETE", "UPSERT"]
    record: RecordSet


def create(record: RecordSet) -> Change:
    return Change("CREATE", record)


def delete(record: RecordSet) -> Change:
    return Change("DELETE", record)


def upsert(record: RecordSet) -> Change:
    """The UPSERT of `record` (one shared Change per record set: both are immutable values, and
    writers upsert the same plan and alias records over and over)."""
    change = record._upsert
    if change is None:
        change = record._upsert = Change("UPSERT", record)
    return change


@fast_init
@dataclass(frozen=True, slots=True)
class Condition:
    """The batch applies only if the record set (name, type, set_id) now equals `expected`
    (None: it must not exist). Evaluated against the state before the batch."""

    name: dns.name.Name
    rdtype: RdataType
    expected: RecordSet | None
    set_id: str | None = None


def unchanged(owner: dns.name.Name, rdtype: RdataType, current: RecordSet | None) -> Condition:
    """A condition that the record set read as `current` is still exactly that (compare-and-set)."""
    set_id = None if current is None else current.set_id
    return Condition(owner, rdtype, current, set_id)


@fast_init
@fast_init
@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Changes applied all-or-nothing, if every condition holds."""

    changes: tuple[Change, ...]
    conditions: tuple[Condition, ...] = ()
    comment: str = ""

    @classmethod
    def of(
        cls, changes: Iterable[Change], conditions: Iterable[Condition] = (), comment: str = ""
    ) -> ChangeBatch:
        return cls(tuple(changes), tuple(conditions), comment)


class ChangeRejected(Exception):
    """A change batch was refused as a whole; nothing of it was applied."""


class ChangeConflict(ChangeRejected):
    """Refused because the state moved under the writer (condition, DELETE values, CREATE exists):
    retrying after re-reading may succeed.

    The message may be given as a callable, formatted on first `str()`: writers that contend
    catch conflicts by the thousand and rarely read why, while formatting record sets as text
    costs more than the check that failed."""

    def __init__(self, message: str | Callable[[], str] = "") -> None:
        if callable(message):
            super().__init__()
            self._format: Callable[[], str] | None = message
        else:
            super().__init__(message)
            self._format = None

    def __str__(self) -> str:
        if self._format is not None:
            self.args = (self._format(),)
            self._format = None
        return super().__str__()

    def __repr__(self) -> str:
        str(self)
        return super().__repr__()


class InvalidChangeBatch(ChangeRejected):
    """Refused because the batch cannot apply to this state (alias to a name with no records, a
    name outside the zone, mixed weighted and simple record sets): retrying will not help."""
