"""The DNS primitive, on dnspython: record sets and change batches (`records`), an immutable
hosted zone with Route 53 lookup rules (`zone`), a Route 53-like authoritative service whose name
servers lag its change API (`server`), a caching stub resolver with RFC 2308 negative caching
(`resolver`), and a population of busy clients resolving one name (`population`).

A subsystem that needs name resolution (DynamoDB clients, EC2's state checks) asks a
`CachingResolver(server, now)` and reads `Answer.ok` / `Answer.addresses`; the response is the
real `dns.message.Message` a stub would see.
"""

from .population import ResolverPopulation, answer_signature
from .records import (
    SOA,
    TXT,
    A,
    Change,
    ChangeBatch,
    ChangeConflict,
    ChangeRejected,
    Condition,
    InvalidChangeBatch,
    RecordSet,
    TxtRecordSet,
    create,
    delete,
    name,
    rdataset,
    txt_rdataset,
    unchanged,
    upsert,
)
from .resolver import Answer, CachingResolver, interpret
from .server import AuthoritativeDns
from .zone import Lookup, ZoneState, soa_record

__all__ = [
    "SOA",
    "TXT",
    "A",
    "Answer",
    "AuthoritativeDns",
    "CachingResolver",
    "Change",
    "ChangeBatch",
    "ChangeConflict",
    "ChangeRejected",
    "Condition",
    "InvalidChangeBatch",
    "Lookup",
    "RecordSet",
    "ResolverPopulation",
    "TxtRecordSet",
    "ZoneState",
    "answer_signature",
    "create",
    "delete",
    "interpret",
    "name",
    "rdataset",
    "soa_record",
    "txt_rdataset",
    "unchanged",
    "upsert",
]
