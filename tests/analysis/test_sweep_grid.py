"""Sweep options: --vary parsing, the grid, chunks, and every bad input's exact message (exit 2,
nothing started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulation.analysis.sweep.execute import chunk_size, make_jobs
from simulation.analysis.sweep.grid import parse_vary, plan_sweep, split_values
from simulation.cli import main
from simulation.core.errors import UserInputError

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scenarios" / "labs" / "dns-race.yaml"


def small_scenario(tmp_path: Path) -> Path:
    """The DNS race lab cut to 70 min and 20 clients (about 50 ms a run), race left as is."""
    doc = yaml.safe_load(LAB.read_text())
    doc["duration"] = "70 min"
    doc["dynamodb_dns"]["clients"]["count"] = 20
    doc["operators"][0]["at"] = "+55 min"
    doc["expect"] = doc["expect"][:2]  # the two inside 70 min
    path = tmp_path / "small-race.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_split_values_keeps_commas_inside_quotes_and_brackets():
    assert split_values("3 min, 5 min") == ["3 min", "5 min"]
    assert split_values("[a, b],'x, y',{k: 1, j: 2}") == ["[a, b]", "'x, y'", "{k: 1, j: 2}"]
    assert split_values("1") == ["1"]


def test_parse_vary_keeps_order_and_text():
    varies = parse_vary(["a.b=3 min,1 min", "c=true,false"], [])
    assert [(v.key, v.values) for v in varies] == [
        ("a.b", ("3 min", "1 min")),
        ("c", ("true", "false")),
    ]


@pytest.mark.parametrize(
    ("options", "overrides", "message"),
    [
        (
            ["nokey"],
            [],
            '--vary nokey: expected KEY=V1,V2,..., e.g. --vary dynamodb_dns.slowness.0.duration="5 min,10 min,15 min"',
        ),
        (
            ["=1,2"],
            [],
            '--vary =1,2: expected KEY=V1,V2,..., e.g. --vary dynamodb_dns.slowness.0.duration="5 min,10 min,15 min"',
        ),
        (["seed=1,2"], [], "--vary seed: vary the seed with --seeds N and --seed-start S"),
        (
            ["a=1", "a=2"],
            [],
            "--vary a: the key is varied twice; give all its values in one --vary",
        ),
        (["a=1,,2"], [], "--vary a=1,,2: value 2 is empty"),
        (["a="], [], "--vary a=: value 1 is empty"),
        (["a=1,2,1"], [], "--vary a=1,2,1: value '1' is listed twice"),
        (["a=1,2"], ["a=3"], "--vary a: the key is also given with --set; keep one of the two"),
    ],
)
def test_bad_vary_options(options, overrides, message):
    with pytest.raises(UserInputError) as err:
        parse_vary(options, overrides)
    assert str(err.value) == message


def test_plan_builds_the_cartesian_product_in_order(tmp_path):
    path = small_scenario(tmp_path)
    plan = plan_sweep(
        path,
        [],
        ["dynamodb_dns.record_ttl=30 s,60 s", "dynamodb_dns.enactors.cleanup_threshold=3,5,8"],
        seeds=4,
        seed_start=10,
    )
    assert plan.seeds == [10, 11, 12, 13]
    assert plan.total == 24
    assert [p.params["dynamodb_dns.enactors.cleanup_threshold"] for p in plan.points] == [
        "3", "5", "8", "3", "5", "8"
    ]  # fmt: skip
    assert plan.points[4].params == {
        "dynamodb_dns.record_ttl": "60 s",
        "dynamodb_dns.enactors.cleanup_threshold": "5",
    }
    doc = yaml.safe_load(plan.points[4].document)
    assert doc["dynamodb_dns"]["record_ttl"] == "60 s"
    assert doc["dynamodb_dns"]["enactors"]["cleanup_threshold"] == 5
    assert len({p.digest for p in plan.points}) == 6


def test_chunks_cover_missing_pairs_only(tmp_path):
    plan = plan_sweep(small_scenario(tmp_path), [], ["dynamodb_dns.record_ttl=30 s,60 s"], seeds=5)
    jobs = make_jobs(plan, {(0, 1), (0, 2), (1, 5)}, size=2, keep_outputs=None)
    assert [(j.point, j.seeds) for j in jobs] == [(0, (3, 4)), (0, (5,)), (1, (1, 2)), (1, (3, 4))]
    assert chunk_size(1000, 2) == 32
    assert chunk_size(40, 2) == 5
    assert chunk_size(3, 8) == 1
    guided = make_jobs(plan, set(), size=None, keep_outputs=None, workers=2)
    assert [len(j.seeds) for j in guided] == [2, 1, 1, 1, 1, 1, 1, 1, 1]  # 10 runs, 2 workers
    assert sorted((j.point, s) for j in guided for s in j.seeds) == plan.pairs()


def test_workers_get_paths_they_can_use(tmp_path):
    """A relative reference_timeline becomes absolute; a worker without the file drops it."""
    from simulation.analysis.sweep.worker import _runnable_here

    csv = tmp_path / "published.csv"
    csv.write_text(
        "time_pdt,subsystem,role,milestone,event\n"
        "2025-10-19T23:48,dynamodb-dns,outcome,dns_record_empty,the record is empty\n"
    )
    path = small_scenario(tmp_path)
    path.write_text(path.read_text() + "reference_timeline: published.csv\n")
    plan = plan_sweep(path, [], [], seeds=1)
    doc = yaml.safe_load(plan.points[0].document)
    assert doc["reference_timeline"] == str(csv.resolve())
    assert _runnable_here(plan.points[0].document) == plan.points[0].document
    csv.unlink()
    assert "reference_timeline" not in yaml.safe_load(_runnable_here(plan.points[0].document))


def test_a_worker_frees_each_run_before_the_next(tmp_path, monkeypatch):
    """A run's objects hold one another in cycles; a sweep worker must not keep them (it once
    grew by ~90 MB a reference run until the machine killed it)."""
    import weakref

    import simulation.runner
    from simulation.analysis.sweep.worker import Job, run_chunk

    envs: list[weakref.ref] = []
    real = simulation.runner.simulate

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        envs.append(weakref.ref(result.env))
        return result

    monkeypatch.setattr(simulation.runner, "simulate", spy)
    plan = plan_sweep(small_scenario(tmp_path), [], [], seeds=3)
    point = plan.points[0]
    done = run_chunk(Job(point.index, point.params, point.document, (1, 2, 3)))
    assert [row["seed"] for row in done.rows] == [1, 2, 3] and len(envs) == 3
    assert [ref() for ref in envs] == [None, None, None]


def _sweep(capsys, *argv: str) -> tuple[int, str]:
    code = main(["sweep", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--vary", "dynamodb_dns.record_ttl=60 s,abc"],
            "--vary dynamodb_dns.record_ttl=abc: dynamodb_dns.record_ttl: expected a duration "
            "such as '30 s' or '5 min', got 'abc'",
        ),
        (
            ["--vary", "dynamodb_dns.recrd_ttl=1,2"],
            "--vary dynamodb_dns.recrd_ttl=1: dynamodb_dns: unknown key 'recrd_ttl' (did you mean "
            "'record_ttl'?)",
        ),
        (
            ["--vary", "operators.dns_manual_repair.action=dns_manual_repair,nope"],
            "--vary operators.dns_manual_repair.action=nope: operators[0].action: unknown action "
            "'nope' (available: ",  # the list grows with the subsystems: its start is enough
        ),
        (["--seeds", "0"], "--seeds: expected a positive integer, got 0"),
        (["--seed-start", "-1"], "--seed-start: expected a non-negative integer, got -1"),
        (["--workers", "0"], "--workers: expected a positive integer, got 0"),
        (["--chunk", "0"], "--chunk: expected a positive integer, got 0"),
        (
            ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
            "--workers and --scheduler do not go together: the cluster's workers run the sweep",
        ),
        (
            ["--scheduler", "localhost:8786"],
            "--scheduler localhost:8786: expected an address such as tcp://10.0.0.5:8786",
        ),
    ],
)
def test_bad_input_exits_2_and_starts_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "sweep"
    argv = [str(small_scenario(tmp_path)), "--out", str(out), "--progress", "none"]
    if "--seeds" not in extra:
        argv += ["--seeds", "2"]
    code, err = _sweep(capsys, *argv, *extra)
    assert code == 2
    assert err.strip() == message or (message.endswith(": ") and err.startswith(message))
    assert not out.exists()


def test_a_value_that_breaks_another_key_names_the_point(tmp_path, capsys):
    path = small_scenario(tmp_path)
    out = tmp_path / "sweep"
    code, err = _sweep(
        capsys, str(path), "--seeds", "1", "--out", str(out), "--vary", "duration=70 min,50 min"
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == (
        f"{path}:47:7: operators[0].at: +55 min is outside the run's window "
        "(2025-10-19T23:00:00-07:00 + 50 min); move it or change start/duration "
        "(with duration=50 min)"
    )
    assert not out.exists()
