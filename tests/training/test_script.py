"""Drill scripts: located errors for every bad entry, settings, and the recording format."""

from __future__ import annotations

import pytest

from simulation.core import ScenarioError
from simulation.training.engine import DrillSetup, Engine
from simulation.training.script import (
    check_commands,
    dump_script,
    read_script,
    resolve_times,
)

from .conftest import DRILL, EARLY_SCRIPT, HISTORICAL_SCRIPT


def _load(tmp_path, text: str):
    path = tmp_path / "s.yml"
    path.write_text(text)
    script = read_script(path)
    drilled, _ = DrillSetup(DRILL).load()
    timed = resolve_times(script, drilled)
    check_commands(timed, Engine(drilled).check)
    return script, timed


def _error(tmp_path, monkeypatch, text: str) -> list[str]:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, text)
    return str(err.value).splitlines()


def test_shipped_scripts_read_and_check():
    for path in (HISTORICAL_SCRIPT, EARLY_SCRIPT):
        script = read_script(path)
        assert script.scenario == DRILL
        drilled, _ = DrillSetup(DRILL).load()
        check_commands(resolve_times(script, drilled), Engine(drilled).check)
    early = read_script(EARLY_SCRIPT)
    assert early.hints == "nudges" and early.seed is None and len(early.entries) == 6


def test_a_bare_list_is_a_script(tmp_path):
    script, timed = _load(tmp_path, '- {at: "+1 h", command: "  ack   all "}\n')
    assert [(t.at, t.command) for t in timed] == [(3600.0, "ack all")]
    assert script.scenario is None


def test_structure_errors_are_located(tmp_path, monkeypatch):
    lines = _error(
        tmp_path,
        monkeypatch,
        "seed: -1\nhint: guided\ncommands:\n"
        "  - {at: '+1 h', comand: 'ack all'}\n"
        "  - {command: 'ack all'}\n"
        "  - {at: '+1 h', command: 3}\n",
    )
    assert lines == [
        "s.yml:2:1: unknown key 'hint' (did you mean 'hints'?)",
        "s.yml:1:7: seed: expected a non-negative integer, got -1",
        "s.yml:4:18: commands[0]: unknown key 'comand' (did you mean 'command'?)",
        "s.yml:4:5: commands[0]: missing required key 'command'",
        "s.yml:5:5: commands[1]: missing required key 'at'",
        "s.yml:6:27: commands[2].command: expected the command as typed (a string)",
    ]


def test_time_errors_are_located(tmp_path, monkeypatch):
    lines = _error(
        tmp_path,
        monkeypatch,
        "commands:\n"
        "  - {at: '+2 h', command: 'ack all'}\n"
        "  - {at: '+1 h', command: 'ack all'}\n"
        "  - {at: '+9 h', command: 'ack all'}\n"
        "  - {at: 'soon', command: 'ack all'}\n",
    )
    assert lines[0] == (
        "s.yml:3:10: commands[1].at: +1 h is before the previous command (2 h after the start): "
        "commands run in order"
    )
    assert lines[1] == (
        "s.yml:4:10: commands[2].at: +9 h is outside the scenario (2025-10-19T23:00:00-07:00 + 5 h)"
    )
    assert lines[2].startswith("s.yml:5:10: commands[3].at: ")
    assert lines[2].endswith("; write '+DURATION' or an ISO-8601 time with offset")


def test_commands_are_checked_before_the_drill_runs(tmp_path, monkeypatch):
    lines = _error(
        tmp_path,
        monkeypatch,
        "- {at: '+1 h', command: 'do dns_manual_repair disable=true'}\n"
        "- {at: '+1 h', command: 'step 5 min'}\n"
        "- {at: '+1 h', command: 'show region.servicez'}\n",
    )
    assert lines == [
        "s.yml:1:25: commands[0].command: unknown parameter 'disable' for 'dns_manual_repair' "
        "(accepted: generation, disable_automation)",
        "s.yml:2:25: commands[1].command: 'step' is not scripted: `at` says when each command runs",
        "s.yml:3:25: commands[2].command: no component 'region.servicez' (did you mean "
        "region.services, region.services.sts, region.services.lambda?); `show` lists the top level",
    ]


def test_a_recording_reads_back_as_the_same_commands(tmp_path):
    drilled, _ = DrillSetup(DRILL).load()
    commands = [
        (3000.0, "ack all"),
        (3000.0, 'do pin_endpoint services="[sts, lambda]"'),
        (4512.5, "deps sts"),
    ]
    path = tmp_path / "rec" / "r.yaml"
    path.parent.mkdir()
    text = dump_script(
        commands,
        drilled,
        script_path=path,
        seed=7,
        keep_operators=True,
        hints="guided",
        overrides=["duration=6 h"],
        keep=["partial_mitigation"],
    )
    path.write_text(text)
    script = read_script(path)
    settings = (script.seed, script.keep_operators, script.hints, script.overrides, script.keep)
    assert settings == (7, True, "guided", ["duration=6 h"], ["partial_mitigation"])
    assert script.scenario == DRILL.resolve()
    assert [(t.at, t.command) for t in resolve_times(script, drilled)] == commands
    assert '  - at: "+4512.5 s"  # 2025-10-20T00:15:12' in text
