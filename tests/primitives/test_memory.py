"""The memory cost model against the numbers of mechanisms.md section 2 "Memory"."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulation.primitives.memory import (
    GIB,
    KIB,
    MIB,
    MemoryConfig,
    MemoryModel,
    MemoryServiceTime,
    major_fault_ratio,
)

US = 1e-6
NS = 1e-9


def model(**kw) -> MemoryModel:
    return MemoryModel(MemoryConfig(**kw))


# -- defaults are the reference numbers ---------------------------------------------------------
def test_defaults_lie_in_the_reference_ranges():
    c = MemoryConfig()
    assert c.page_size == "4 KiB" and c.levels == 4
    assert c.tlb_l1_entries == 64  # "L1 dTLB about 64 entries"
    assert 1500 <= c.tlb_l2_entries <= 2000  # "second-level about 1,500-2,000"
    assert 7 <= c.tlb_l2_hit_cycles <= 12  # "second-level hit about 7-12 cycles"
    assert c.walk_cached_cycles == 20  # "a page walk adds about 20 cycles when cached"
    assert c.walk_uncached_cycles >= 100  # "100+ when they are not"
    assert c.zero_page_fault == pytest.approx(1 * US)
    assert 1 * US <= c.first_write_fault <= 5 * US
    assert 3 * US <= c.cow_fault <= 8 * US
    assert c.file_cached_fault == pytest.approx(4 * US)
    assert c.sigsegv_fault == pytest.approx(2 * US)
    assert 80 * US <= c.major_fault_nvme <= 200 * US
    assert 5e-3 <= c.major_fault_disk <= 10e-3


def test_config_parses_units_and_refuses_unknown_keys():
    c = MemoryConfig(page_size="2 MiB", memory_limit="4 GiB", memory_access="80 ns")
    assert c.memory_limit == 4 * GIB and c.memory_access == pytest.approx(80 * NS)
    with pytest.raises(ValidationError):
        MemoryConfig(page_size="8 KiB")
    with pytest.raises(ValidationError):
        MemoryConfig(levels=3)
    with pytest.raises(ValidationError):
        MemoryConfig(tlb_entries=64)


# -- TLB reach ----------------------------------------------------------------------------------
def test_tlb_reach_4k_is_about_6_mib():
    m = model()
    assert m.tlb_reach() == 1536 * 4 * KIB == 6 * MIB
    assert m.tlb_reach(1) == 64 * 4 * KIB


def test_tlb_reach_2m_is_about_3_gib():
    assert model(page_size="2 MiB").tlb_reach() == 3 * GIB


def test_tlb_hits_within_reach_and_falls_as_reach_over_ws():
    m = model()
    inside = m.breakdown(4 * MIB)
    assert inside.tlb_miss == 0 and inside.walk_cycles == 0
    outside = m.breakdown(60 * MIB)
    assert outside.tlb_l1_hit + outside.tlb_l2_hit == pytest.approx(0.1)
    assert outside.tlb_miss == pytest.approx(0.9)


@given(ws=st.integers(1, 64 * GIB), page=st.sampled_from(["4 KiB", "2 MiB", "1 GiB"]))
@settings(max_examples=60, deadline=None)
def test_breakdown_fractions_sum_to_one(ws, page):
    b = model(page_size=page).breakdown(ws)
    assert b.tlb_l1_hit + b.tlb_l2_hit + b.tlb_miss == pytest.approx(1.0)
    assert 0 <= b.major_fault_ratio < 1
    assert b.access_cost == pytest.approx(MemoryConfig().memory_access + b.tlb_cost + b.fault_cost)


# -- the 256 MB measurement (calibration) -----------------------------------------------------
@pytest.mark.parametrize("ws", [256 * 10**6, 256 * MIB])
def test_random_access_over_256mb_matches_measurement(ws):
    four_k = model().access_cost(ws)
    huge = model(page_size="2 MiB").access_cost(ws)
    assert four_k == pytest.approx(26 * NS, rel=0.15)
    assert huge == pytest.approx(14 * NS, rel=0.15)


def test_huge_pages_cut_tlb_cost_of_a_large_working_set():
    small, huge = model(memory_limit="64 GiB"), model(page_size="2 MiB", memory_limit="64 GiB")
    for ws in (256 * MIB, 1 * GIB, 4 * GIB, 16 * GIB):
        assert huge.breakdown(ws).tlb_cost < small.breakdown(ws).tlb_cost / 3
    # inside 2 MiB reach there is no walk at all
    assert huge.breakdown(2 * GIB).tlb_miss == 0


@given(a=st.integers(1, 40 * GIB), b=st.integers(1, 40 * GIB))
@settings(max_examples=60, deadline=None)
def test_access_cost_never_falls_as_working_set_grows(a, b):
    m = model()
    lo, hi = min(a, b), max(a, b)
    assert m.access_cost(lo) <= m.access_cost(hi)


# -- page walks and the radix tree ------------------------------------------------------------
@pytest.mark.parametrize(
    ("page", "levels", "walk"),
    [("4 KiB", 4, 4), ("4 KiB", 5, 5), ("2 MiB", 4, 3), ("1 GiB", 4, 2), ("2 MiB", 5, 4)],
)
def test_walk_levels_follow_the_page_size(page, levels, walk):
    assert model(page_size=page, levels=levels).walk_levels == walk


def test_page_tables_needed_follow_the_9_bit_radix():
    m = model()
    assert m.page_tables(4 * KIB) == (1, 1, 1, 1)
    assert m.page_tables(2 * MIB) == (1, 1, 1, 1)  # one leaf table maps 512 x 4 KiB
    assert m.page_tables(2 * MIB + 1) == (1, 1, 1, 2)
    assert m.page_tables(1 * GIB) == (1, 1, 1, 512)  # one PD maps 512 x 2 MiB
    assert m.page_tables(1 * GIB + 1) == (1, 1, 2, 513)
    assert m.page_tables(512 * GIB) == (1, 1, 512, 512 * 512)
    assert m.page_table_bytes(1 * GIB) == 515 * 4 * KIB
    assert model(levels=5).page_tables(1 * GIB) == (1, 1, 1, 1, 512)
    assert model(page_size="2 MiB").page_tables(1 * GIB) == (1, 1, 1)
    assert model(page_size="2 MiB").page_tables(512 * GIB) == (1, 1, 512)
    assert model(page_size="1 GiB").page_tables(512 * GIB) == (1, 1)


@given(n=st.integers(0, 1 << 48))
@settings(max_examples=60, deadline=None)
def test_page_table_levels_each_hold_512_entries(n):
    m = model()
    tables = m.page_tables(n)
    below = m.pages(n)
    for count in reversed(tables[1:]):
        assert count == max(math.ceil(below / 512), 1)
        below = count
    assert tables[0] == 1


def test_cached_walk_costs_20_cycles_and_uncached_approaches_100():
    m = model(memory_limit="1 TiB")
    # 256 MiB of 4 KiB pages: 512 KiB of leaf entries, all inside the 2 MiB page-table cache
    assert m.breakdown(256 * MIB).walk_cycles == pytest.approx(20)
    # 64 GiB: 128 MiB of leaf entries, 1/64 cached, the other levels cached
    b = m.breakdown(64 * GIB)
    assert b.walk_cycles == pytest.approx(20 + (1 - 1 / 64) * 80)
    assert 95 < b.walk_cycles <= 100
    # a 5-level walk costs one more cached level
    assert model(levels=5).breakdown(256 * MIB).walk_cycles == pytest.approx(25)


def test_walk_cycles_convert_with_the_clock():
    slow, fast = model(cpu_ghz=1.0), model(cpu_ghz=4.0)
    ws = 256 * MIB
    assert slow.breakdown(ws).tlb_cost == pytest.approx(4 * fast.breakdown(ws).tlb_cost)


# -- swapping -----------------------------------------------------------------------------------
def test_no_major_faults_within_memory():
    m = model(memory_limit="1 GiB")
    assert m.breakdown(1 * GIB).major_fault_ratio == 0
    assert m.breakdown(1 * GIB).fault_cost == 0


@pytest.mark.parametrize("device", ["nvme", "disk"])
@pytest.mark.parametrize("factor", [1.01, 1.5, 2.0, 10.0])
def test_exceeding_memory_adds_major_fault_ratio_times_device_cost(device, factor):
    limit = 4 * GIB
    m = model(memory_limit="4 GiB", swap_device=device, memory_access="12.5 ns")
    ws = int(limit * factor)
    ratio = 1 - limit / ws
    major = m.fault_cost("major")
    assert major == (m.config.major_fault_nvme if device == "nvme" else m.config.major_fault_disk)
    b = m.breakdown(ws)
    assert b.major_fault_ratio == pytest.approx(ratio)
    assert major_fault_ratio(ws, limit) == pytest.approx(ratio)
    n = m.config.accesses_per_request
    without_faults = m.config.compute_time + n * (m.config.memory_access + b.tlb_cost)
    assert m.service_time(ws) == pytest.approx(without_faults + n * ratio * major)


def test_swapping_dwarfs_everything_else():
    m = model(memory_limit="4 GiB")
    in_memory = m.service_time(4 * GIB)
    swapping = m.service_time(8 * GIB)  # half the accesses fault at 100 us
    assert swapping / in_memory > 100


# -- faults for new workers ---------------------------------------------------------------------
def test_fault_costs_by_kind():
    m = model()
    c = m.config
    assert m.fault_cost("zero_page") == c.zero_page_fault
    assert m.fault_cost("first_write") == c.first_write_fault
    assert m.fault_cost("cow") == c.cow_fault
    assert m.fault_cost("file_cached") == c.file_cached_fault
    assert m.fault_cost("sigsegv") == c.sigsegv_fault
    assert m.fault_cost("major") == c.major_fault_nvme


def test_first_touch_zero_fill_and_cow_per_page():
    m = model()
    assert m.first_touch_cost(1 * MIB) == pytest.approx(256 * 2 * US)
    assert m.first_touch_cost(1 * MIB, "cow") == pytest.approx(256 * 5 * US)
    assert m.first_touch_cost(1 * MIB, "zero_page") == pytest.approx(256 * 1 * US)
    assert m.first_touch_cost(1) == pytest.approx(2 * US)  # one page, even for one byte
    # a forked worker rewriting its parent's memory pays more than a fresh one
    assert m.first_touch_cost(64 * MIB, "cow") > m.first_touch_cost(64 * MIB)


def test_huge_page_faults_clear_the_whole_page():
    m = model(page_size="2 MiB", page_copy_gbps=10.0)
    clear = (2 * MIB - 4 * KIB) / 10e9
    assert m.fault_cost("first_write") == pytest.approx(2 * US + clear)
    assert m.fault_cost("zero_page") == pytest.approx(1 * US)
    # fewer faults, but the bytes are cleared all the same: same order as 4 KiB pages
    four_k = model().first_touch_cost(64 * MIB)
    assert m.first_touch_cost(64 * MIB) == pytest.approx(32 * (2 * US + clear))
    assert m.first_touch_cost(64 * MIB) < four_k


# -- service time and the server adapter --------------------------------------------------------
def test_service_time_is_compute_plus_accesses():
    m = model()
    ws = 1 * GIB
    assert m.service_time(ws) == pytest.approx(100 * US + 10_000 * m.access_cost(ws))
    assert m.service_time(ws, accesses=0) == pytest.approx(100 * US)


def test_service_time_rises_past_tlb_reach_then_jumps_past_memory():
    m = model(memory_limit="2 GiB")
    within = m.service_time(4 * MIB)
    past_tlb = m.service_time(1 * GIB)
    swapping = m.service_time(3 * GIB)
    assert within < past_tlb < swapping
    assert past_tlb / within > 1.2
    assert swapping / past_tlb > 50


def test_memoised_cost_equals_fresh_cost_and_stays_bounded():
    m = model()
    for ws in range(1, 70_000 * 4096, 4096):
        m.access_cost(ws)
    assert len(m._memo) <= 65536
    assert m.access_cost(3 * GIB) == m.breakdown(3 * GIB).access_cost


def test_memory_service_time_grows_with_the_queue():
    m = model(memory_limit="1 GiB")
    st_fn = MemoryServiceTime(m, base=2 * MIB, per_item=64 * KIB)
    assert st_fn.working_set(0) == 2 * MIB
    assert st_fn.working_set(100) == 2 * MIB + 100 * 64 * KIB
    assert st_fn(100) == m.service_time(2 * MIB + 100 * 64 * KIB)
    assert st_fn(0) < st_fn(1_000) < st_fn(20_000)
    with_leases = MemoryServiceTime(m, base=2 * MIB, per_item=64 * KIB, extra_items=1000)
    assert with_leases(0) == st_fn(1000)
