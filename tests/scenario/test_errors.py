"""Every bad-input case prints its located message (exact text) and exits 2, no traceback."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from simulation.cli import main

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "aws-us-east-1-2025-10-20.yaml"

pytestmark = pytest.mark.usefixtures("toy_registry")

HEAD = 'start: "2025-10-19T23:00:00-07:00"\nduration: "1 h"\n'


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate(capsys, *files: str) -> tuple[int, str]:
    code = main(["validate", *files])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err.strip()


CASES = {
    "syntax": (
        HEAD + "toy:\n  count: [1\n",
        "x.yaml:5:1: YAML syntax error: expected ',' or ']', but got '<stream end>'",
    ),
    "unknown_key": (
        "title: x\nseeed: 3\n" + HEAD + "toy: {}\n",
        "x.yaml:2:1: unknown key 'seeed' (did you mean 'seed'?)",
    ),
    "unknown_nested_key": (
        HEAD + "toy:\n  intervall: '1 s'\n",
        "x.yaml:4:3: toy: unknown key 'intervall' (did you mean 'interval'?)",
    ),
    "wrong_type": (
        HEAD + "toy:\n  count: abc\n",
        "x.yaml:4:10: toy.count: expected an integer, got 'abc'",
    ),
    "bad_unit": (
        HEAD + "toy:\n  interval: '3 parsecs'\n",
        "x.yaml:4:13: toy.interval: unknown duration unit 'parsecs' in '3 parsecs' "
        "(known: ns, us, µs, ms, s, sec, min, h, d)",
    ),
    "duration_without_unit": (
        HEAD + "toy:\n  interval: 30\n",
        "x.yaml:4:13: toy.interval: expected a duration with a unit such as '30 s' or '30 min', "
        "got 30",
    ),
    "negative_count": (
        HEAD + "toy:\n  count: -3\n",
        "x.yaml:4:10: toy.count: expected a positive integer, got -3",
    ),
    "timestamp_without_offset": (
        'start: "2025-10-19T23:00:00"\nduration: "1 h"\ntoy: {}\n',
        "x.yaml:1:8: start: time 2025-10-19T23:00:00 has no UTC offset; write it as e.g. "
        "'2025-10-19T23:00:00-07:00'",
    ),
    "missing_start": ('duration: "1 h"\ntoy: {}\n', "x.yaml:1:1: missing required key 'start'"),
    "action_outside_window": (
        HEAD + "toy: {}\noperators:\n  - action: bump\n    at: '2025-10-20T05:00:00-07:00'\n",
        "x.yaml:6:9: operators[0].at: 2025-10-20T05:00:00-07:00 is outside the run's window "
        "(2025-10-19T23:00:00-07:00 + 1 h); move it or change start/duration",
    ),
    "unknown_action": (
        HEAD + "toy: {}\noperators:\n  - action: bumpp\n    at: '+5 min'\n",
        "x.yaml:5:13: operators[0].action: unknown action 'bumpp' (available: bump, note)",
    ),
    "unknown_target": (
        HEAD + "toy: {}\noperators:\n  - action: bump\n    target: region.nothing\n"
        "    at: '+5 min'\n",
        "x.yaml:6:13: operators[0].target: unknown target 'region.nothing' for action 'bump' "
        "(offered by: region.toy)",
    ),
    "unknown_action_param": (
        HEAD + "toy: {}\noperators:\n  - action: bump\n    at: '+5 min'\n    params: {byy: 2}\n",
        "x.yaml:7:14: operators[0].params: unknown parameter 'byy' for 'bump' (accepted: by)",
    ),
    "action_semantic_check": (
        HEAD + "toy: {}\noperators:\n  - action: bump\n    at: '+5 min'\n    params: {by: 5000}\n",
        "x.yaml:7:13: operators[0].params: bump by 5000 is more than 1000",
    ),
    "action_param_wrong_type": (
        HEAD + "toy: {}\noperators:\n  - action: bump\n    at: '+5 min'\n    params: {by: lots}\n",
        "x.yaml:7:18: operators[0].params.by: expected an integer, got 'lots'",
    ),
    "section_build_error": (
        HEAD + "toy:\n  mode: unbuildable\n",
        "x.yaml:4:3: toy: toy cannot be built in mode 'unbuildable'",
    ),
    "action_needs_time": (
        HEAD + "toy: {}\noperators:\n  - action: bump\n",
        "x.yaml:5:5: operators[0]: an action needs exactly one of 'at' (a time) or 'when' "
        "(a condition)",
    ),
    "unknown_milestone": (
        HEAD + "toy: {}\nexpect:\n  - name: a\n    milestone: nope\n    absent: true\n",
        "x.yaml:6:16: expect[0].milestone: unknown milestone 'nope' (this scenario detects: "
        "counter_reached)",
    ),
    "python_tag": (
        "start: !!python/object/apply:os.system ['echo pwned']\nduration: '1 h'\n",
        "x.yaml:1:8: tag '!!python/object/apply:os.system' is not allowed: scenario files hold "
        "plain data only (loaded safely, never executed)",
    ),
    "empty": (
        "",
        "x.yaml:1:1: the file is empty; a scenario is a mapping with at least 'start' and "
        "'duration'",
    ),
    "not_a_mapping": (
        "- a\n- b\n",
        "x.yaml:1:1: expected a mapping of scenario keys at the top level, got a list",
    ),
    "no_section": (
        HEAD,
        "x.yaml:1:1: this scenario sets no model section, so there is nothing to simulate (add e.g. 'labs:' or 'dynamodb_dns:'; see docs/scenario-reference.md)",
    ),
    "duplicate_key": (
        HEAD + "toy: {}\nseed: 1\nseed: 2\n",
        "x.yaml:5:1: duplicate key 'seed' (first at line 4)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_case(case, in_tmp, capsys):
    text, message = CASES[case]
    (in_tmp / "x.yaml").write_text(text, encoding="utf-8")
    code, err = validate(capsys, "x.yaml")
    assert code == 2
    assert err == message


def test_missing_extends(in_tmp, capsys):
    (in_tmp / "x.yaml").write_text("extends: nowhere.yaml\nseed: 2\n")
    code, err = validate(capsys, "x.yaml")
    assert code == 2
    assert err == "x.yaml:1:10: extends: no such file 'nowhere.yaml' (looked for nowhere.yaml)"


def test_extends_cycle(in_tmp, capsys):
    (in_tmp / "a.yaml").write_text("extends: b.yaml\n")
    (in_tmp / "b.yaml").write_text("extends: a.yaml\n")
    code, err = validate(capsys, "a.yaml")
    assert code == 2
    assert err == "b.yaml:1:10: extends: 'extends' makes a cycle: a.yaml -> b.yaml -> a.yaml"


def test_self_extends_is_a_cycle(in_tmp, capsys):
    (in_tmp / "a.yaml").write_text("extends: a.yaml\n")
    code, err = validate(capsys, "a.yaml")
    assert (code, err) == (2, "a.yaml:1:10: extends: 'extends' makes a cycle: a.yaml -> a.yaml")


def test_alias_bomb_refused_fast_with_bounded_memory(in_tmp, capsys):
    # 9^12 (~2.8e11) nodes once expanded: a "billion laughs" document of under 1 KiB.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 13):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    (in_tmp / "x.yaml").write_text("\n".join(lines) + "\n")
    tracemalloc.start()
    t0 = time.perf_counter()
    code, err = validate(capsys, "x.yaml")
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 2
    assert err == (
        "x.yaml:1:25: the document expands to more than 50,000 nodes "
        "(nested anchors/aliases?); refused"
    )
    assert elapsed < 5.0
    assert peak < 200 * 1024 * 1024


def test_binary_file(in_tmp, capsys):
    (in_tmp / "x.yaml").write_bytes(b"\x00\x01\x02binary")
    assert validate(capsys, "x.yaml") == (2, "x.yaml: is a binary file; expected UTF-8 YAML text")


def test_non_utf8_file(in_tmp, capsys):
    (in_tmp / "x.yaml").write_bytes(b"title: ok\ndescription: caf\xe9\n")
    assert validate(capsys, "x.yaml") == (
        2,
        "x.yaml:2: is not UTF-8 text (invalid byte 0xe9); save it as UTF-8",
    )


def test_directory_given_as_file(in_tmp, capsys):
    (in_tmp / "x.yaml").mkdir()
    assert validate(capsys, "x.yaml") == (
        2,
        "x.yaml: is a directory; expected a scenario YAML file",
    )


def test_missing_file(in_tmp, capsys):
    assert validate(capsys, "nope.yaml") == (2, "nope.yaml: no such file")


def test_several_problems_are_all_reported_in_file_order(in_tmp, capsys):
    (in_tmp / "x.yaml").write_text(HEAD + "toy:\n  count: -1\n  mode: 3\nseeed: 1\n")
    code, err = validate(capsys, "x.yaml")
    assert code == 2
    assert err.splitlines() == [
        "x.yaml:4:10: toy.count: expected a positive integer, got -1",
        "x.yaml:5:9: toy.mode: expected a string, got 3",
        "x.yaml:6:1: unknown key 'seeed' (did you mean 'seed'?)",
    ]


def test_bad_set_override(in_tmp, capsys):
    (in_tmp / "x.yaml").write_text(HEAD + "toy: {}\n")
    code = main(["validate", "x.yaml", "--set", "toy.count=-2"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "--set toy.count=-2: toy.count: expected a positive integer, got -2"
    code = main(["validate", "x.yaml", "--set", "nonsense"])
    err = capsys.readouterr().err.strip()
    assert (code, err) == (2, "--set nonsense: expected KEY=VALUE, e.g. --set seed=7")


def test_run_with_bad_input_writes_nothing(in_tmp, capsys):
    (in_tmp / "x.yaml").write_text(HEAD + "toy:\n  count: 0\n")
    code = main(["run", "x.yaml", "--out", "out"])
    assert code == 2
    assert not (in_tmp / "out").exists()
    assert (
        capsys.readouterr().err.strip()
        == "x.yaml:4:10: toy.count: expected a positive integer, got 0"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", "expected a positive number, got 0"), ("-1.5", "expected a positive number, got -1.5")],
)
def test_a_bound_on_a_number_field_does_not_ask_for_an_integer(capsys, value, expected):
    # backlog.headroom is a float with gt=0: a 0 written as an integer is not "a positive integer"
    key = "services.services.4.backlog.headroom"
    code = main(["validate", str(REFERENCE), "--set", f"{key}={value}"])
    err = capsys.readouterr().err.strip()
    assert (code, err) == (
        2,
        f"--set {key}={value}: services.services[4].backlog.headroom: {expected}",
    )
