"""The hosted zone: Route 53 change-batch semantics and lookup rules (aliases, weights, negatives)."""

from __future__ import annotations

import random

import dns.rcode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.primitives.dns import (
    TXT,
    A,
    ChangeBatch,
    ChangeConflict,
    Condition,
    InvalidChangeBatch,
    RecordSet,
    TxtRecordSet,
    ZoneState,
    create,
    delete,
    name,
    rdataset,
    soa_record,
    txt_rdataset,
    unchanged,
    upsert,
)

ORIGIN = name("us-east-1.amazonaws.com")
TOP = name("dynamodb.us-east-1.amazonaws.com")
PLAN = name("g1.dynamodb._plans.us-east-1.amazonaws.com")
LB1 = RecordSet("lb1._lb.us-east-1.amazonaws.com", A, rdataset(A, 60, "10.0.0.1", "10.0.0.2"))
LB2 = RecordSet("lb2._lb.us-east-1.amazonaws.com", A, rdataset(A, 60, "10.0.1.1"))


def weighted(w1: int, w2: int) -> list[RecordSet]:
    return [
        RecordSet(PLAN, A, alias=LB1.name, set_id="lb1", weight=w1),
        RecordSet(PLAN, A, alias=LB2.name, set_id="lb2", weight=w2),
    ]


def zone(soa_ttl: int = 900, minimum: int = 86400) -> ZoneState:
    return ZoneState.create(soa_record(ORIGIN, soa_ttl, minimum), (LB1, LB2))


def serving(w1: int = 3, w2: int = 1) -> ZoneState:
    top = RecordSet(TOP, A, alias=PLAN)
    return zone().apply(ChangeBatch.of([upsert(r) for r in [*weighted(w1, w2), top]]))


def test_alias_answers_under_the_queried_name_with_the_leaf_data():
    z = serving()
    found = z.lookup(TOP, A)
    assert found.rcode == dns.rcode.NOERROR
    assert found.data in (LB1, LB2)
    assert {r.name for r in z.answers(TOP, A)} == {LB1.name, LB2.name}


def test_weighted_share_follows_weight_over_sum():
    z = serving(3, 1)
    rng = random.Random(7)
    n = 40_000
    hits = sum(z.lookup(TOP, A, rng).data == LB1 for _ in range(n))
    # share 3/4; binomial sd = sqrt(n p q) = 87 -> 4 sd is 0.0087 in share
    assert abs(hits / n - 0.75) < 0.009


def test_zero_weight_is_never_chosen_unless_all_are_zero():
    rng = random.Random(1)
    z = serving(0, 5)
    assert all(z.lookup(TOP, A, rng).data == LB2 for _ in range(500))
    assert z.answers(TOP, A) == [LB2]
    z0 = serving(0, 0)
    picks = {z0.lookup(TOP, A, rng).data.name for _ in range(500)}
    assert picks == {LB1.name, LB2.name}


def test_alias_to_a_deleted_target_is_nodata_and_nxdomain_needs_a_missing_name():
    z = serving()
    gone = z.apply(ChangeBatch.of(delete(r) for r in z.group(PLAN, A)))
    found = gone.lookup(TOP, A)
    assert found.rcode == dns.rcode.NOERROR and found.data is None
    assert gone.lookup(name("nothing-here.us-east-1.amazonaws.com"), A).rcode == dns.rcode.NXDOMAIN
    # an empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN
    assert gone.lookup(name("_lb.us-east-1.amazonaws.com"), A).rcode == dns.rcode.NOERROR
    # a name with records of another type: NODATA
    assert gone.lookup(TOP, TXT).rcode == dns.rcode.NOERROR
    assert gone.lookup(name("example.com"), A).rcode == dns.rcode.REFUSED


def test_negative_ttl_is_min_of_soa_ttl_and_minimum():
    assert zone(900, 86400).negative_ttl == 900
    assert zone(3600, 300).negative_ttl == 300


def test_create_delete_upsert_semantics():
    z = zone()
    lock = RecordSet("_lock.us-east-1.amazonaws.com", TXT, txt_rdataset(0, "owner=a"))
    z1 = z.apply(ChangeBatch.of([create(lock)]))
    with pytest.raises(ChangeConflict, match="already exists"):
        z1.apply(ChangeBatch.of([create(lock)]))
    other = RecordSet(lock.name, TXT, txt_rdataset(0, "owner=b"))
    with pytest.raises(ChangeConflict, match="do not match the current values"):
        z1.apply(ChangeBatch.of([delete(other)]))
    with pytest.raises(ChangeConflict, match="was not found"):
        z.apply(ChangeBatch.of([delete(lock)]))
    z2 = z1.apply(ChangeBatch.of([upsert(other)]))
    assert z2.record(lock.name, TXT) == other
    assert z1.record(lock.name, TXT) == lock  # states are values: z1 is unchanged


def test_hashed_names_compare_like_dnspython_names():
    import pickle

    import dns.name

    a, b = name("Foo.Example.com"), name("foo.example.COM.")
    plain = dns.name.from_text("foo.example.com.")
    relative = dns.name.from_text("foo.example.com", None)
    assert a is not b and a == b and (a != b) is False and hash(a) == hash(b)
    assert a == plain and plain == a and (a != plain) is False
    assert a != relative and a != name("bar.example.com") and a != "foo.example.com."
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a and hash(copy) == hash(a)


def test_lazy_txt_record_equals_the_eager_one():
    eager = RecordSet("_lock.us-east-1.amazonaws.com", TXT, txt_rdataset(0, "owner=a"))
    lazy = TxtRecordSet("_lock.us-east-1.amazonaws.com", 0, "owner=a")
    assert lazy.ttl == 0 and lazy.text == "owner=a"
    assert lazy == eager and eager == lazy and hash(lazy) == hash(eager)
    assert lazy.key == eager.key and lazy.to_text() == eager.to_text()
    assert lazy.data == eager.data and lazy.data is lazy.data
    assert lazy != TxtRecordSet(lazy.name, 0, "owner=b")
    z1 = zone().apply(ChangeBatch.of([create(lazy)]))
    z2 = z1.apply(ChangeBatch.of([delete(eager)]))  # a DELETE matches the values, not the object
    assert z2.record(lazy.name, TXT) is None


def test_batches_are_all_or_nothing():
    z = zone()
    lock = RecordSet("_lock.us-east-1.amazonaws.com", TXT, txt_rdataset(0, "owner=a"))
    bad = ChangeBatch.of([create(lock), delete(RecordSet(TOP, A, alias=PLAN))])
    with pytest.raises(ChangeConflict):
        z.apply(bad)
    assert z.record(lock.name, TXT) is None
    assert z.key() == zone().key()


def test_conditions_are_compare_and_set():
    z = serving()
    top = z.record(TOP, A)
    ok = z.apply(
        ChangeBatch.of([upsert(RecordSet(TOP, A, alias=LB1.name))], [unchanged(TOP, A, top)])
    )
    assert ok.record(TOP, A).alias == LB1.name
    with pytest.raises(ChangeConflict, match="condition failed"):
        ok.apply(ChangeBatch.of([upsert(RecordSet(TOP, A, alias=PLAN))], [unchanged(TOP, A, top)]))
    absent = Condition(name("new.us-east-1.amazonaws.com"), A, None)
    z.apply(
        ChangeBatch.of([upsert(RecordSet("new.us-east-1.amazonaws.com", A, alias=PLAN))], [absent])
    )


def test_alias_to_a_name_without_records_is_invalid():
    z = serving()
    gone = z.apply(ChangeBatch.of(delete(r) for r in z.group(PLAN, A)))
    rollback = RecordSet("_rollback.us-east-1.amazonaws.com", A, alias=PLAN)
    with pytest.raises(InvalidChangeBatch, match="but that target was not found"):
        gone.apply(ChangeBatch.of([upsert(rollback)]))
    # a target created in the same batch is fine
    gone.apply(ChangeBatch.of([*map(upsert, weighted(1, 1)), upsert(rollback)]))


def test_records_outside_the_zone_and_mixed_routing_are_invalid():
    with pytest.raises(InvalidChangeBatch, match="not permitted"):
        zone().apply(ChangeBatch.of([upsert(RecordSet("a.example.com", A, alias=PLAN))]))
    simple = RecordSet(PLAN, A, alias=LB1.name)
    with pytest.raises(InvalidChangeBatch, match="weighted record set cannot share"):
        serving().apply(ChangeBatch.of([upsert(simple)]))


def test_state_key_ignores_version_and_order():
    a = (
        zone()
        .apply(ChangeBatch.of([upsert(LB1)]))
        .apply(ChangeBatch.of(map(upsert, weighted(1, 2))))
    )
    b = zone().apply(ChangeBatch.of(map(upsert, reversed(weighted(1, 2)))))
    assert a.version != b.version
    assert a.key() == b.key()


def test_plain_and_hashed_names_find_the_same_records():
    import dns.name

    z = serving()
    assert z.group(dns.name.from_text("g1.dynamodb._plans.us-east-1.amazonaws.com."), A)
    assert z.lookup(dns.name.from_text("DynamoDB.us-east-1.amazonaws.com."), A).positive


_ops = st.lists(
    st.tuples(
        st.sampled_from(["CREATE", "DELETE", "UPSERT"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ops, min_size=1, max_size=6))
def test_any_batch_applies_fully_or_not_at_all(batches):
    """Property: after a refused batch the state is exactly the old one; after an accepted one
    every UPSERT/CREATE of it is present unless a later change of the batch removed it."""
    z = zone()
    for ops in batches:
        changes = []
        for action, label, value in ops:
            rec = RecordSet(f"{label}.us-east-1.amazonaws.com", TXT, txt_rdataset(60, str(value)))
            changes.append({"CREATE": create, "DELETE": delete, "UPSERT": upsert}[action](rec))
        before = z.key()
        try:
            z = z.apply(ChangeBatch.of(changes))
        except ChangeConflict:
            assert z.key() == before
            continue
        final: dict = {}
        for c in changes:
            final[c.record.name] = None if c.action == "DELETE" else c.record
        for owner, rec in final.items():
            assert z.record(owner, TXT) == rec
