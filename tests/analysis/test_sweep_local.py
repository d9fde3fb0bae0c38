"""Sweeps in local worker processes: rows equal single runs, do not depend on workers or chunks,
summarise to the right figures; a sweep killed midway resumes with no run lost or done twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from simulation.analysis.sweep import LocalBackend, SweepDir, plan_sweep, run_sweep
from simulation.cli import main
from simulation.outputs import build_summary
from simulation.runner import simulate
from simulation.scenario.load import load_scenario
from tests.analysis.test_sweep_grid import small_scenario

ROOT = Path(__file__).resolve().parents[2]
SLOWNESS = "dynamodb_dns.slowness.0.duration"


def test_sweep_rows_summary_and_plots(tmp_path, capsys):
    path = small_scenario(tmp_path)
    out = tmp_path / "two-workers"
    argv = ["sweep", str(path), "--seeds", "8", "--vary", f"{SLOWNESS}=3 min,15 min"]
    code = main([*argv, "--workers", "2", "--out", str(out), "--progress", "log"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 grid point(s) x 8 seeds = 16 runs; 0 were done, 16 runs ran in" in captured.out
    assert "outage-sim sweep: 16/16 runs (100%)" in captured.err
    rows = pd.read_parquet(out / "runs.parquet")
    assert len(rows) == 16
    pd.testing.assert_frame_equal(rows, SweepDir(out).rows())

    # one worker, one run per chunk: the same rows
    plan = plan_sweep(path, [], [f"{SLOWNESS}=3 min,15 min"], seeds=8)
    other = run_sweep(
        plan, tmp_path / "one-worker", lambda: LocalBackend(1), chunk=1, progress_mode="none"
    )
    assert other.complete and other.ran == 16
    pd.testing.assert_frame_equal(rows, pd.read_parquet(tmp_path / "one-worker" / "runs.parquet"))

    # a row is the run's summary, flattened
    loaded = load_scenario(path, [f"{SLOWNESS}=15 min"])
    for seed in (1, 2, 3, 4, 5, 6, 7, 8):
        summary = build_summary(simulate(loaded, seed=seed))
        row = rows[(rows["point"] == 1) & (rows["seed"] == seed)].iloc[0]
        assert row["status"] == summary["status"]
        assert row[f"param.{SLOWNESS}"] == "15 min"
        for name, iso in summary["milestones"].items():
            assert (
                None if pd.isna(row[f"milestone.{name}.at"]) else row[f"milestone.{name}.at"]
            ) == iso
        for key, value in summary["impact"]["dynamodb_dns"].items():
            assert row[f"impact.dynamodb_dns.{key}"] == value
        stats = summary["statistics"]["region.dynamodb_dns"]
        assert row["stat.region.dynamodb_dns.route53_commits"] == stats["route53_commits"]
        assert bool(row["expect.regional_record_empties.ok"]) == summary["expectations"][0]["ok"]

    # the summary: three minutes behind is too few generations for the race; 15 minutes fires it
    summary = json.loads((out / "summary.json").read_text())
    race = [e["race_probability"]["p"] for e in summary]
    hits = rows.groupby("point")["milestone.dns_record_empty.s"].apply(lambda s: s.notna().mean())
    assert race == list(hits)
    assert race[0] == 0.0 and race[1] > 0.25
    empty = summary[1]["milestones"]["dns_record_empty"]
    times = rows.loc[rows["point"] == 1, "milestone.dns_record_empty.s"].dropna()
    assert empty["median_s"] == round(float(times.median()), 6)
    assert 33 * 60 < empty["p5_s"] <= empty["median_s"] <= empty["p95_s"] < 55 * 60
    csv = pd.read_csv(out / "summary.csv")
    assert list(csv["race_probability"]) == race
    assert "## Point 1: dynamodb_dns.slowness.0.duration=15 min" in (out / "summary.md").read_text()
    png = out / "plots" / f"{SLOWNESS}.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_killed_sweep_resumes_without_losing_or_repeating_runs(tmp_path):
    path = small_scenario(tmp_path)
    out = tmp_path / "killed"
    argv = [
        sys.executable, "-m", "simulation", "sweep", str(path), "--seeds", "16",
        "--vary", "dynamodb_dns.record_ttl=30 s,60 s", "--workers", "2", "--chunk", "1",
        "--progress", "none", "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    parts = out / "runs"
    while len(list(parts.glob("part-*.parquet")) if parts.is_dir() else []) < 4:
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended too soon"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes, mid-run
    proc.wait(timeout=30)
    before = SweepDir(out).done_pairs()
    assert 4 <= len(before) < 32, len(before)
    assert not (out / "runs.parquet").exists()

    resumed = subprocess.run(
        [*argv, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    m = re.search(r"= 32 runs; (\d+) were done, (\d+) runs ran in", resumed.stdout)
    assert m is not None, resumed.stdout
    assert int(m.group(1)) == len(before) and int(m.group(2)) == 32 - len(before)
    after = SweepDir(out).done_pairs()
    assert sorted(after) == sorted({(p, s) for p in (0, 1) for s in range(1, 17)})  # once each

    plan = plan_sweep(path, [], ["dynamodb_dns.record_ttl=30 s,60 s"], seeds=16)
    whole = run_sweep(plan, tmp_path / "whole", lambda: LocalBackend(2), progress_mode="none")
    assert whole.complete
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "runs.parquet"), pd.read_parquet(tmp_path / "whole" / "runs.parquet")
    )
    assert (out / "summary.json").read_text() == (tmp_path / "whole" / "summary.json").read_text()


def test_keep_outputs_writes_each_runs_files(tmp_path):
    path = small_scenario(tmp_path)
    plan = plan_sweep(path, [], [], seeds=2, seed_start=5)
    outcome = run_sweep(
        plan, tmp_path / "kept", lambda: LocalBackend(1), keep_outputs=True, progress_mode="none"
    )
    assert outcome.complete
    rows = pd.read_parquet(tmp_path / "kept" / "runs.parquet")
    for seed in (5, 6):
        run_dir = tmp_path / "kept" / "outputs" / f"p0000-s{seed}"
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["seed"] == seed
        row = rows[rows["seed"] == seed].iloc[0]
        assert row["status"] == summary["status"]
        assert (run_dir / "timeline.csv").exists() and (run_dir / "metrics.parquet").exists()
