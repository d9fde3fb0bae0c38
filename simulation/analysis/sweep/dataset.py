"""A sweep's directory: a manifest, a Parquet dataset streamed as runs finish, the final table.

    DIR/sweep.json          the plan (scenario, --set, --vary, seeds, a digest per grid point)
    DIR/runs/part-*.parquet one file per finished chunk of runs, written atomically on arrival
    DIR/runs.parquet        every run, one row each, sorted by (point, seed): written at the end

A kill loses only the chunks in flight: every finished chunk is already a complete file (written
beside its name, then renamed). `--resume` reads the parts, and runs only the (point, seed) pairs
none of them holds. Column types are decided from all the rows together (not per part), so the
final table does not depend on how the runs were chunked or in which order they finished.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...core.errors import UserInputError
from ...core.files import atomic_write_bytes, atomic_write_text
from .worker import EXPECT, LEAD_COLUMNS, PARAM

MANIFEST = "sweep.json"
PARTS = "runs"
TABLE = "runs.parquet"
LOCK = ".sweep.lock"


class SweepDir:
    """The files of one sweep in `root` (see module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts = root / PARTS
        self._lock_fd: int | None = None

    # -- manifest and lock -------------------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        path = self.root / MANIFEST
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def open(self, plan: dict[str, Any], resume: bool) -> None:
        """Start a sweep here, or (with `resume`) continue the same one; lock the directory."""
        if self.root.exists() and not self.root.is_dir():
            raise UserInputError(f"--out {self.root}: exists and is not a directory")
        old = self.manifest() if self.root.is_dir() else None
        if old is None:
            if self.root.is_dir() and any(self.root.iterdir()):
                raise UserInputError(
                    f"--out {self.root}: the directory is not empty and holds no sweep; "
                    "choose a new or empty directory"
                )
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock()
            atomic_write_text(self.root / MANIFEST, json.dumps(plan, indent=2) + "\n")
            return
        if not resume:
            raise UserInputError(
                f"--out {self.root}: holds a sweep already ({self.count_rows()} runs done); "
                "add --resume to finish it, or choose another directory"
            )
        problem = _difference(old, plan)
        if problem:
            raise UserInputError(
                f"--resume {self.root}: this is not the same sweep ({problem}); run it with the "
                "options it was started with, or choose another directory"
            )
        self._lock()
        for stale in self.parts.glob(".part-*.tmp") if self.parts.is_dir() else []:
            stale.unlink(missing_ok=True)  # a part being written when the sweep was killed

    def _lock(self) -> None:
        """One sweep writes into a directory at a time (two would run pairs twice)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserInputError(
                f"--out {self.root}: another sweep is writing into this directory"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- parts -------------------------------------------------------------------------------
    def part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def write_part(self, rows: list[dict[str, Any]]) -> Path:
        """Write one finished chunk as a new part file (complete or absent, never half)."""
        existing = self.part_files()
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        path = self.parts / f"part-{number:06d}.parquet"
        buf = io.BytesIO()
        pq.write_table(_arrow(normalise(rows)), buf, compression="zstd")
        atomic_write_bytes(path, buf.getvalue())
        return path

    def done_pairs(self) -> list[tuple[int, int]]:
        """(point, seed) of every row in the parts, duplicates included (there should be none)."""
        pairs: list[tuple[int, int]] = []
        for path in self.part_files():
            t = pq.read_table(path, columns=["point", "seed"])
            pairs.extend(zip(t["point"].to_pylist(), t["seed"].to_pylist(), strict=True))
        return pairs

    def count_rows(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.part_files())

    def rows(self) -> pd.DataFrame:
        """Every row of the parts, typed as one table and sorted by (point, seed)."""
        columns: dict[str, list[Any]] = {}
        n = 0
        for path in self.part_files():
            table = pq.read_table(path)
            for name in table.column_names:
                columns.setdefault(name, [None] * n).extend(table[name].to_pylist())
            n += table.num_rows
            for values in columns.values():
                values.extend([None] * (n - len(values)))
        frame = _typed(columns, n)
        duplicated = frame.duplicated(["point", "seed"])
        if duplicated.any():
            first = frame[duplicated].iloc[0]
            raise UserInputError(
                f"{self.parts}: point {first['point']} seed {first['seed']} appears twice "
                "(two sweeps wrote here?)"
            )
        return frame

    def write_table(self, frame: pd.DataFrame) -> Path:
        buf = io.BytesIO()
        pq.write_table(_arrow(frame), buf, compression="zstd")
        path = self.root / TABLE
        atomic_write_bytes(path, buf.getvalue())
        return path


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    for key, what in (("set", "--set"), ("vary", "--vary"), ("seeds", "--seeds/--seed-start")):
        if old.get(key) != new.get(key):
            return f"{what} differs"
    old_points = {p["point"]: p.get("sha256") for p in old.get("points", [])}
    for p in new["points"]:
        if old_points.get(p["point"]) != p["sha256"]:
            return f"the scenario as run changed (grid point {p['point']})"
    return None


# -- typing rows -----------------------------------------------------------------------------


def _is_null(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def normalise(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows (dicts) as one typed frame (see `_typed`)."""
    rows = list(rows)
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    columns = {name: [r.get(name) for r in rows] for name in names}
    return _typed(columns, len(rows))


def _typed(columns: dict[str, list[Any]], n: int) -> pd.DataFrame:
    """Fixed lead columns, then the rest sorted by name; each column one type whatever the
    chunking: numbers float64, flags boolean, anything else string; rows by (point, seed)."""
    out: dict[str, pd.Series] = {}
    for name in ("point", "seed"):
        out[name] = pd.Series(columns.get(name, [0] * n), dtype="int64")
    for name in ("status", "failure"):
        out[name] = pd.Series(columns.get(name, [None] * n), dtype="string")
    rest = sorted(k for k in columns if k not in LEAD_COLUMNS)
    for name in rest:
        values = [None if _is_null(v) else v for v in columns[name]]
        present = [v for v in values if v is not None]
        if name.startswith(PARAM):
            out[name] = pd.Series(values, dtype="string")
        elif name.startswith(EXPECT) or (present and all(isinstance(v, bool) for v in present)):
            out[name] = pd.Series(values, dtype="boolean")
        elif all(_is_number(v) for v in present):
            out[name] = pd.Series(
                [math.nan if v is None else float(v) for v in values], dtype="float64"
            )
        else:
            out[name] = pd.Series(
                [v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                dtype="string",
            )
    frame = pd.DataFrame(out)
    return frame.sort_values(["point", "seed"], kind="stable").reset_index(drop=True)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)
