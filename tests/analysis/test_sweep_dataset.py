"""The sweep directory: typed rows whatever the chunking, the manifest guarding --resume, the lock."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from simulation.analysis.sweep.dataset import SweepDir, normalise
from simulation.analysis.sweep.summary import spread, summarise, wilson
from simulation.core.errors import UserInputError

PLAN = {
    "scenario": "x.yaml",
    "title": "x",
    "set": [],
    "vary": [{"key": "a", "values": ["1", "2"]}],
    "seeds": {"start": 1, "count": 2},
    "points": [
        {"point": 0, "params": {"a": "1"}, "sha256": "aa"},
        {"point": 1, "params": {"a": "2"}, "sha256": "bb"},
    ],
}


def _row(point: int, seed: int, t: float | None, n: int | float) -> dict:
    return {
        "point": point,
        "seed": seed,
        "param.a": str(point + 1),
        "status": "ok",
        "failure": None,
        "milestone.m.s": t,
        "milestone.m.at": None if t is None else f"iso{t}",
        "expect.e.ok": t is not None,
        "impact.x.minutes": n,
        "stat.region.s.list": "[1, 2]",
    }


ROWS = [_row(1, 2, None, 3), _row(0, 1, 5.0, 1), _row(1, 1, 7.5, 2.5), _row(0, 2, None, 4)]


def test_column_types_do_not_depend_on_chunking(tmp_path):
    one = SweepDir(tmp_path / "one")
    one.open(PLAN, resume=False)
    one.write_part(ROWS)
    many = SweepDir(tmp_path / "many")
    many.open(PLAN, resume=False)
    for r in ROWS:  # a part whose milestone never happened has an all-null column
        many.write_part([r])
    a, b = one.rows(), many.rows()
    pd.testing.assert_frame_equal(a, b)
    assert list(a[["point", "seed"]].itertuples(index=False, name=None)) == [
        (0, 1), (0, 2), (1, 1), (1, 2)
    ]  # fmt: skip
    assert a["milestone.m.s"].dtype == "float64" and math.isnan(a["milestone.m.s"][1])
    assert a["impact.x.minutes"].dtype == "float64"
    assert str(a["expect.e.ok"].dtype) == "boolean"
    assert str(a["milestone.m.at"].dtype) == "string"
    assert list(a.columns[:4]) == ["point", "seed", "status", "failure"]
    assert sorted(many.done_pairs()) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    one.close()
    many.close()


def test_summary_figures(tmp_path):
    frame = normalise(ROWS)
    s = summarise(frame)
    assert [e["params"] for e in s] == [{"a": "1"}, {"a": "2"}]
    m0 = s[0]["milestones"]["m"]
    assert m0["probability"] == 0.5 and m0["median_s"] == 5.0 and m0["n"] == 1
    assert s[0]["impact"]["x.minutes"]["median"] == 2.5
    assert s[0]["expectations"] == {"e": 0.5}
    assert "race_probability" not in s[0]
    assert spread(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])) == {
        "median": 3.0, "p5": 1.2, "p95": 4.8, "n": 5
    }  # fmt: skip
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    assert wilson(20, 20)[1] == 1.0


def test_manifest_guards_resume_and_reuse(tmp_path):
    root = tmp_path / "s"
    d = SweepDir(root)
    d.open(PLAN, resume=False)
    d.write_part(ROWS[:1])
    with pytest.raises(UserInputError) as err:  # a second sweep while the first writes
        SweepDir(root).open(PLAN, resume=True)
    assert str(err.value) == f"--out {root}: another sweep is writing into this directory"
    d.close()
    with pytest.raises(UserInputError) as err:
        SweepDir(root).open(PLAN, resume=False)
    assert str(err.value) == (
        f"--out {root}: holds a sweep already (1 runs done); add --resume to finish it, "
        "or choose another directory"
    )
    changed = {**PLAN, "points": [PLAN["points"][0], {**PLAN["points"][1], "sha256": "cc"}]}
    with pytest.raises(UserInputError) as err:
        SweepDir(root).open(changed, resume=True)
    assert str(err.value) == (
        f"--resume {root}: this is not the same sweep (the scenario as run changed (grid point "
        "1)); run it with the options it was started with, or choose another directory"
    )
    with pytest.raises(UserInputError) as err:
        SweepDir(root).open({**PLAN, "seeds": {"start": 1, "count": 3}}, resume=True)
    assert "(--seeds/--seed-start differs)" in str(err.value)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(UserInputError) as err:
        SweepDir(other).open(PLAN, resume=False)
    assert str(err.value) == (
        f"--out {other}: the directory is not empty and holds no sweep; choose a new or "
        "empty directory"
    )
    half = root / "runs" / ".part-000002.parquet.x1y2.tmp"  # killed while writing a part
    half.write_bytes(b"PAR1")
    ok = SweepDir(root)
    ok.open(PLAN, resume=True)
    assert not half.exists() and len(ok.part_files()) == 1
    ok.close()


def test_duplicate_rows_are_reported(tmp_path):
    d = SweepDir(tmp_path / "s")
    d.open(PLAN, resume=False)
    d.write_part(ROWS[:2])
    d.write_part(ROWS[1:2])
    with pytest.raises(UserInputError) as err:
        d.rows()
    assert str(err.value) == (
        f"{tmp_path / 's' / 'runs'}: point 0 seed 1 appears twice (two sweeps wrote here?)"
    )
    d.close()
