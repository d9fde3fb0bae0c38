"""fast_init: the same frozen dataclass, built faster."""

from __future__ import annotations

import dataclasses

import pytest

from simulation.primitives.dns.fastinit import fast_init


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    name: str
    count: int = 0
    tag: str | None = None


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Fast:
    name: str
    count: int = 0
    tag: str | None = None


def test_same_value_semantics_as_the_generated_init():
    a, b = Fast("x", 2, tag="t"), Fast(name="x", count=2, tag="t")
    assert a == b and hash(a) == hash(Plain("x", 2, "t")) and a.count == 2
    assert repr(Fast("y")) == "Fast(name='y', count=0, tag=None)"
    assert dataclasses.replace(a, count=3) == Fast("x", 3, "t")
    assert dataclasses.astuple(a) == dataclasses.astuple(Plain("x", 2, "t"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.count = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast("x", 1, "t", 4)  # type: ignore[call-arg]


def test_refuses_classes_it_cannot_build():
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        x: list = dataclasses.field(default_factory=list)

    for cls in (NoSlots, Factory):
        with pytest.raises(TypeError):
            fast_init(cls)
