"""Memory cost model: TLB, page walks and page faults turn a working set into a service time.

Why: a host's service time is not constant. As the state it tracks grows (its queue, its leases),
random accesses outrun the TLB's reach and pay page walks; past the memory the process may keep
resident, accesses become major faults at the swap device's cost. Processing slows as the queue
grows, which is one of the effects that keeps an overloaded host overloaded.

The access model (stated once, used everywhere):
- Requests make `accesses_per_request` memory accesses, each to a uniformly random byte of the
  working set W. Uniform random access is the simplest honest model and the worst case for every
  cache; real workloads with locality do better.
- Under uniform access every cache-like structure of capacity C over a footprint F hits with
  probability min(1, C / F) (a random subset of the footprint is cached, whatever the policy).
  It is applied, level by level, to:
  * the L1 dTLB and the second-level TLB: capacity = entries x page size, footprint = W
    (reach: 1,536 entries x 4 KiB = 6 MiB; x 2 MiB = 3 GiB). The levels are inclusive: an L1 miss
    that hits L2 costs `tlb_l2_hit_cycles`; an L2 miss pays that lookup and then a page walk;
  * the page-table entries a walk reads, level by level: the footprint of a level is 8 bytes per
    entry needed to map W (the x86-64 radix tree: 512 entries per table, 9 index bits per level,
    12 offset bits; a 2 MiB page ends the walk one level early, a 1 GiB page two levels early).
    An entry found in the data caches costs `walk_cached_cycles / 4` per level (about 20 cycles
    for a full 4-level walk); an entry that is not costs `walk_uncached_cycles - walk_cached_cycles`
    more (a walk from memory costs 100+ cycles). `page_table_cache` is the share of the data
    caches that holds page-table entries;
  * resident memory: capacity = `memory_limit`, footprint = W. An access outside the resident set
    (probability 1 - memory_limit / W) is a major fault at the swap device's cost.
- The data access itself costs `memory_access`: the effective cost of one random access that
  misses the data caches, with the memory-level parallelism of an independent-access loop. The
  data caches are not modelled (the working sets of interest are far larger than them).

Calibration (defaults): mechanisms.md gives random access over 256 MB at about 26 ns with 4 KiB
pages and 14 ns with huge pages. With 2 MiB pages 256 MB is 128 pages: the L2 TLB holds them all,
half miss the 64-entry L1 (0.5 x 9 cycles = 1.8 ns at 2.5 GHz), so `memory_access` = 12.5 ns
gives 14.3 ns. With 4 KiB pages almost every access misses both TLBs and walks 4 levels whose
entries are cached (512 KiB of leaf entries < 2 MiB of `page_table_cache`): 9 + 0.977 x 20 cycles
= 11.4 ns more, 23.9 ns in all (-8 %). Both land within 15 % of the measurements.

Faults (per fault, mechanisms.md): zero page read ~1 us, first write 1-5 us, copy-on-write 3-8 us,
file-backed cached ~4 us, SIGSEGV ~2 us, major fault NVMe 80-200 us, disk 5-10 ms. These are 4 KiB
costs; a huge-page fault also clears or copies the rest of its page at `page_copy_gbps`.
Swapping is charged per access at the 4 KiB major-fault cost (Linux swaps huge pages as 4 KiB
pages).

`MemoryModel` is pure and memoised per working set (hot loops call it per work item);
`MemoryServiceTime` adapts it to a server's pluggable service time (working set grows with the
queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from ..core.config import SectionConfig
from ..core.units import Duration, Size

PageSize = Literal["4 KiB", "2 MiB", "1 GiB"]
FaultKind = Literal["zero_page", "first_write", "cow", "file_cached", "sigsegv", "major"]

KIB = 1024
MIB = 1024**2
GIB = 1024**3
BASE_PAGE = 4 * KIB
"""The x86-64 base page: 12 offset bits."""
ENTRIES_PER_TABLE = 512
"""9 index bits per radix-tree level; a table is one 4 KiB page of 8-byte entries."""
ENTRY_BYTES = 8
PAGE_BYTES: dict[str, int] = {"4 KiB": BASE_PAGE, "2 MiB": 2 * MIB, "1 GiB": GIB}
LEVELS_SKIPPED: dict[str, int] = {"4 KiB": 0, "2 MiB": 1, "1 GiB": 2}
"""A 2 MiB page is mapped by a level-2 entry (the walk ends one level early), 1 GiB by level 3."""
REFERENCE_WALK_LEVELS = 4
"""`walk_cached_cycles` is the cost of a full 4-level walk; each level costs a quarter of it."""
_MEMO_LIMIT = 65536


class MemoryConfig(SectionConfig):
    """One host's memory system: paging, TLB, latencies, resident memory and fault costs."""

    page_size: PageSize = Field("4 KiB", description="Page size backing the working set.")
    levels: Literal[4, 5] = Field(
        4, description="Page-table levels: 4 (48-bit addresses) or 5 (57-bit, optional)."
    )
    tlb_l1_entries: int = Field(64, ge=1, description="L1 data-TLB entries for this page size.")
    tlb_l2_entries: int = Field(
        1536, ge=1, description="Second-level TLB entries for this page size (about 1,500-2,000)."
    )
    tlb_l2_hit_cycles: float = Field(
        9.0, ge=0, description="Extra cycles of an L1 dTLB miss that hits the L2 TLB (7-12)."
    )
    walk_cached_cycles: float = Field(
        20.0, ge=0, description="Cycles of a 4-level page walk whose entries are in the caches."
    )
    walk_uncached_cycles: float = Field(
        100.0,
        ge=0,
        description="Cycles of a page walk whose entries come from memory (100+): each level "
        "that misses the caches adds the difference to the cached cost.",
    )
    cpu_ghz: float = Field(2.5, gt=0, description="CPU clock in GHz (converts cycles to time).")
    memory_access: Duration = Field(
        "12.5 ns",
        description="Effective cost of one random data access that misses the caches (with the "
        "memory-level parallelism of independent accesses; a dependent chase pays ~80-100 ns).",
    )
    page_table_cache: Size = Field(
        "2 MiB", description="Share of the data caches holding page-table entries."
    )
    memory_limit: Size = Field(
        "16 GiB",
        description="Memory this process can keep resident (host RAM less kernel and others); "
        "a larger working set swaps.",
    )
    swap_device: Literal["nvme", "disk"] = Field(
        "nvme", description="Device a major fault reads the page from."
    )
    major_fault_nvme: Duration = Field(
        "100 us", description="Major fault served from NVMe/SSD (80-200 us)."
    )
    major_fault_disk: Duration = Field(
        "7 ms", description="Major fault served from a rotating disk (5-10 ms)."
    )
    zero_page_fault: Duration = Field(
        "1 us", description="First read of anonymous memory, mapped to the zero page (~1 us)."
    )
    first_write_fault: Duration = Field(
        "2 us", description="First write to anonymous memory: zero-fill (1-5 us)."
    )
    cow_fault: Duration = Field(
        "5 us", description="Copy-on-write fault after fork, per page written (3-8 us)."
    )
    file_cached_fault: Duration = Field(
        "4 us", description="Fault on a file-backed page already in the page cache (~4 us)."
    )
    sigsegv_fault: Duration = Field(
        "2 us", description="Permission fault delivered as SIGSEGV (~2 us)."
    )
    page_copy_gbps: float = Field(
        10.0,
        gt=0,
        description="GB/s at which a fault clears or copies a huge page beyond its first 4 KiB.",
    )
    accesses_per_request: int = Field(
        10_000, ge=0, description="Random memory accesses one request makes over its working set."
    )
    compute_time: Duration = Field(
        "100 us", description="CPU time of one request apart from its memory accesses."
    )


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Where one access's time goes at a given working set (for reports and tests)."""

    working_set: int
    pages: int
    tlb_l1_hit: float
    tlb_l2_hit: float
    """Fraction of accesses that miss L1 and hit L2."""
    tlb_miss: float
    """Fraction of accesses that miss both TLBs and walk the page tables."""
    walk_levels: int
    walk_cycles: float
    """Mean cycles of one walk at this working set."""
    tlb_cost: float
    """Seconds per access spent on TLB lookups and walks."""
    major_fault_ratio: float
    fault_cost: float
    """Seconds per access spent in major faults."""
    access_cost: float
    """Seconds per access in all (data + TLB + faults)."""

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__slots__}


class MemoryModel:
    """The cost model of one host's memory (pure: the same inputs always give the same costs)."""

    def __init__(self, config: MemoryConfig | None = None) -> None:
        c = config or MemoryConfig()
        self.config = c
        self.page = PAGE_BYTES[c.page_size]
        self.walk_levels = c.levels - LEVELS_SKIPPED[c.page_size]
        self._cycle = 1e-9 / c.cpu_ghz
        self._l1_reach = c.tlb_l1_entries * self.page
        self._l2_reach = c.tlb_l2_entries * self.page
        self._l2_hit = c.tlb_l2_hit_cycles
        self._level_cached = c.walk_cached_cycles / REFERENCE_WALK_LEVELS
        self._level_uncached_extra = max(c.walk_uncached_cycles - c.walk_cached_cycles, 0.0)
        self._major = c.major_fault_nvme if c.swap_device == "nvme" else c.major_fault_disk
        self._faults: dict[str, float] = {
            "zero_page": c.zero_page_fault,
            "first_write": c.first_write_fault,
            "cow": c.cow_fault,
            "file_cached": c.file_cached_fault,
            "sigsegv": c.sigsegv_fault,
            "major": self._major,
        }
        self._data = c.memory_access
        self._pt_cache = c.page_table_cache
        self._memo: dict[int, float] = {}

    # -- geometry ---------------------------------------------------------------------------
    def tlb_reach(self, level: Literal[1, 2] = 2) -> int:
        """Bytes the TLB maps without a walk: entries x page size (L2 by default)."""
        return self._l1_reach if level == 1 else self._l2_reach

    def pages(self, nbytes: int) -> int:
        """Pages needed to hold `nbytes`."""
        return -(-max(nbytes, 0) // self.page)

    def page_tables(self, nbytes: int) -> tuple[int, ...]:
        """Page-table pages needed to map `nbytes` contiguous bytes, from the root to the leaf.

        Each table holds 512 entries, so a level needs ceil(entries below / 512) tables; the
        root is always one table. With 4 levels and 4 KiB pages, 1 GiB needs (1, 1, 1, 512).
        """
        entries = self.pages(nbytes)
        counts: list[int] = []
        for _ in range(self.walk_levels):
            tables = max(-(-entries // ENTRIES_PER_TABLE), 1)
            counts.append(tables)
            entries = tables
        counts[-1] = 1
        return tuple(reversed(counts))

    def page_table_bytes(self, nbytes: int) -> int:
        """Memory taken by the page tables mapping `nbytes` (4 KiB per table)."""
        return sum(self.page_tables(nbytes)) * BASE_PAGE

    # -- costs ------------------------------------------------------------------------------
    def fault_cost(self, kind: FaultKind) -> float:
        """Seconds for one fault of `kind` on a page of the configured size.

        A huge page clears (first write) or copies (COW) all its bytes: the 4 KiB cost plus the
        rest of the page at `page_copy_gbps`. Read faults map the (huge) zero page; file-backed,
        SIGSEGV and major faults are charged at their 4 KiB cost.
        """
        cost = self._faults[kind]
        if kind in ("first_write", "cow") and self.page > BASE_PAGE:
            cost += (self.page - BASE_PAGE) / (self.config.page_copy_gbps * 1e9)
        return cost

    def first_touch_cost(
        self, nbytes: int, kind: Literal["zero_page", "first_write", "cow"] = "first_write"
    ) -> float:
        """Seconds a new worker spends faulting in `nbytes` the first time it touches them.

        `first_write`: fresh anonymous memory, zero-filled; `zero_page`: only read;
        `cow`: a forked worker writing memory it shares with its parent.
        """
        return self.pages(nbytes) * self.fault_cost(kind)

    def _walk_cycles(self, pages: int) -> float:
        """Mean cycles of one page walk when the working set spans `pages` pages."""
        cache = self._pt_cache
        cycles = 0.0
        entries = pages
        for _ in range(self.walk_levels):
            footprint = entries * ENTRY_BYTES
            uncached = 1.0 - cache / footprint if footprint > cache else 0.0
            cycles += self._level_cached + uncached * self._level_uncached_extra
            entries = -(-entries // ENTRIES_PER_TABLE)
        return cycles

    def _terms(self, ws: int) -> tuple[float, float, float, float, float, float]:
        """Per access: L1 hit, L1-or-L2 hit, walk cycles, TLB s, major-fault ratio, fault s."""
        h1 = self._l1_reach / ws if ws > self._l1_reach else 1.0
        h12 = self._l2_reach / ws if ws > self._l2_reach else 1.0
        miss = 1.0 - h12
        walk = self._walk_cycles(-(-ws // self.page)) if miss > 0 else 0.0
        tlb_cost = ((1.0 - h1) * self._l2_hit + miss * walk) * self._cycle
        major = major_fault_ratio(ws, self.config.memory_limit)
        return h1, h12, walk, tlb_cost, major, major * self._major

    def breakdown(self, working_set: int) -> Breakdown:
        """The full decomposition of one access's cost at `working_set` bytes."""
        ws = max(int(working_set), 1)
        h1, h12, walk, tlb_cost, major, fault = self._terms(ws)
        return Breakdown(
            working_set=ws,
            pages=self.pages(ws),
            tlb_l1_hit=h1,
            tlb_l2_hit=h12 - h1,
            tlb_miss=1.0 - h12,
            walk_levels=self.walk_levels,
            walk_cycles=walk,
            tlb_cost=tlb_cost,
            major_fault_ratio=major,
            fault_cost=fault,
            access_cost=self.config.memory_access + tlb_cost + fault,
        )

    def access_cost(self, working_set: int) -> float:
        """Mean seconds per random access over `working_set` bytes (memoised)."""
        cost = self._memo.get(working_set)
        if cost is None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            terms = self._terms(max(int(working_set), 1))
            cost = self._memo[working_set] = self._data + terms[3] + terms[5]
        return cost

    def service_time(self, working_set: int, accesses: int | None = None) -> float:
        """Seconds to serve one request: compute time plus its accesses at `working_set`."""
        n = self.config.accesses_per_request if accesses is None else accesses
        return self.config.compute_time + n * self.access_cost(working_set)


class MemoryServiceTime:
    """A server's service time driven by memory: the working set grows with the state tracked.

    working set = `base` + `per_item` x items tracked, where items tracked is the server's queue
    depth (waiting plus in service) plus any `extra_items` the caller keeps (leases, connections).
    A restart that empties the queue therefore also shrinks the working set. Plug it into a
    server with `servers.state_dependent(MemoryServiceTime(...))`, which calls it with the items
    the server holds (waiting + in service).
    """

    __slots__ = ("base", "extra_items", "model", "per_item")

    def __init__(self, model: MemoryModel, base: int, per_item: int, extra_items: int = 0) -> None:
        self.model = model
        self.base = int(base)
        self.per_item = int(per_item)
        self.extra_items = extra_items

    def working_set(self, items: int) -> int:
        return self.base + self.per_item * (items + self.extra_items)

    def __call__(self, items: int) -> float:
        return self.model.service_time(self.working_set(items))


def major_fault_ratio(working_set: float, memory_limit: float) -> float:
    """Fraction of uniform random accesses outside a resident set of `memory_limit` bytes."""
    return 0.0 if working_set <= memory_limit else 1.0 - memory_limit / working_set


__all__ = [
    "Breakdown",
    "FaultKind",
    "MemoryConfig",
    "MemoryModel",
    "MemoryServiceTime",
    "PageSize",
    "major_fault_ratio",
]
