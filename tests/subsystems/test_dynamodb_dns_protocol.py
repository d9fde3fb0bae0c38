"""The protocol rules on their own: the incident's interleaving step by step, the fix, locks."""

from __future__ import annotations

import math

import pytest

from simulation.primitives.dns import ChangeConflict, InvalidChangeBatch
from simulation.subsystems.dynamodb_dns.protocol import (
    EnactorState,
    Layout,
    Phase,
    Plan,
    Protocol,
    World,
)

ENDPOINTS = ["dynamodb.us-east-1.amazonaws.com", "streams.dynamodb.us-east-1.amazonaws.com"]


def make(fixed: bool = False, lease: float = math.inf) -> tuple[Protocol, World]:
    layout = Layout("us-east-1.amazonaws.com", ENDPOINTS, ENDPOINTS[0], load_balancers=2)
    plans = {g: Plan(g, ((100, 50), (70, 70))) for g in range(1, 20)}
    protocol = Protocol(layout, plans.__getitem__, 2, fixed, fixed, lock_lease=lease)
    return protocol, World(0, layout.empty_zone())


def step(protocol: Protocol, world: World, e: EnactorState, now: float = 0.0):
    """Take one step of `e` with its transaction committed at once; return (world, e, intent)."""
    intent = protocol.next(world, e, now)
    assert intent is not None and not intent.blocked, intent
    zone = world.zone
    if intent.batch is not None:
        try:
            zone = zone.apply(intent.batch)
            e = intent.after
        except InvalidChangeBatch:
            e = intent.on_invalid
    else:
        e = intent.after
    return World(world.latest, zone), e, intent


def run_to_idle(protocol, world, e):
    while True:
        world, e, _ = step(protocol, world, e)
        if e.phase is Phase.IDLE:
            return world, e


def race(fixed: bool):
    """A takes g1 and stalls after its check; B applies g3 everywhere; A resumes; B cleans up."""
    protocol, world = make(fixed)
    a, b = EnactorState("A"), EnactorState("B")
    world = protocol.publish(world, protocol.plans(1))
    world, a, _ = step(protocol, world, a)  # A takes g1
    world, a, _ = step(protocol, world, a)  # A checks g1 > nothing: ok
    for g in (2, 3):
        world = protocol.publish(world, protocol.plans(g))
    world, b, _ = step(protocol, world, b)  # B takes g3
    world, b, _ = step(protocol, world, b)  # B checks
    for _ in range(4):  # B applies and releases both endpoints
        world, b, _ = step(protocol, world, b)
    assert b.phase is Phase.CLEANUP
    world, a, intent = step(protocol, world, a)  # A applies its stale g1 to the regional endpoint
    world, a, _ = step(protocol, world, a)  # releases
    world, b, cleanup = step(protocol, world, b)  # B's clean-up: g1 is g3 - 2
    return protocol, world, intent, cleanup


def test_the_incident_interleaving_deletes_the_active_plan():
    protocol, world, apply, cleanup = race(fixed=False)
    assert apply.step == "apply" and "applies g1 to dynamodb (was g3)" in apply.detail
    assert "deletes plan g1" in cleanup.detail
    assert protocol.deleted_active(world.zone) == [0]
    assert protocol.resolves_empty(world.zone, 0)
    # the inconsistent state: any later apply to that endpoint is refused by Route 53
    world = protocol.publish(world, protocol.plans(4))
    c = EnactorState("C")
    world, c, _ = step(protocol, world, c)
    world, c, _ = step(protocol, world, c)
    intent = protocol.next(world, c)
    with pytest.raises(InvalidChangeBatch, match="target was not found"):
        world.zone.apply(intent.batch)
    assert intent.on_invalid.phase is Phase.IDLE
    # the operators' repair makes it consistent again, and the next run succeeds
    world = World(world.latest, world.zone.apply(protocol.repair(world)))
    assert not protocol.resolves_empty(world.zone, 0)
    world, c = run_to_idle(protocol, world, EnactorState("C", seen=3))
    assert protocol.active_generation(world.zone, 0) == 4


def test_with_the_fix_the_stale_plan_is_skipped_and_nothing_is_deleted():
    protocol, world, apply, _cleanup = race(fixed=True)
    assert apply.step == "skip" and "already has g3" in apply.detail
    assert protocol.deleted_active(world.zone) == []
    assert protocol.active_generation(world.zone, 0) == 3


def test_fixed_cleanup_spares_an_active_plan():
    protocol, world = make(fixed=True)
    # an endpoint pointing at an old plan (as after an operator's repair to g1)
    world = World(5, world.zone.apply(protocol.repair(World(1, world.zone))))
    e = EnactorState("A", Phase.CLEANUP, plan=5, seen=5)
    intent = protocol.next(world, e)
    assert intent.batch is None and intent.event == "cleanup_spared_active"


def test_a_held_lock_blocks_until_released_or_expired():
    protocol, world = make(lease=60.0)
    world = protocol.publish(world, protocol.plans(1))
    a, b = EnactorState("A"), EnactorState("B")
    for _ in range(2):
        world, a, _ = step(protocol, world, a, now=0.0)
        world, b, _ = step(protocol, world, b, now=0.0)
    world, a, _ = step(protocol, world, a, now=0.0)  # A takes the lock with its apply
    assert a.phase is Phase.RELEASE
    assert protocol.lock_holder(world.zone, 0) == ("A", 60.0)
    assert protocol.next(world, b, now=30.0).blocked
    # the lease ran out: B may take it over (its condition is the expired lock it read)
    intent = protocol.next(world, b, now=61.0)
    assert not intent.blocked
    stolen = world.zone.apply(intent.batch)
    assert protocol.lock_holder(stolen, 0) == ("B", 121.0)
    # A's release now finds someone else's lock and leaves it alone
    release = protocol.next(World(1, stolen), a, now=62.0)
    assert release.batch is None and "gone" in release.detail


def test_two_enactors_reading_the_same_free_lock_conflict_at_commit():
    protocol, world = make()
    world = protocol.publish(world, protocol.plans(1))
    a, b = EnactorState("A"), EnactorState("B")
    for _ in range(2):
        world, a, _ = step(protocol, world, a)
        world, b, _ = step(protocol, world, b)
    first, second = protocol.next(world, a), protocol.next(world, b)
    zone = world.zone.apply(first.batch)
    with pytest.raises(ChangeConflict, match="condition failed"):
        zone.apply(second.batch)
    assert second.on_conflict is None  # retried after a back-off
