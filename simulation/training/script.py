"""Drill scripts: timed commands, written exactly as typed, that replay a drill without a terminal.

A script is YAML, either a bare list of `{at, command}` entries or a mapping:

    scenario: ../dns-race-drill.yaml   # relative to this file; used when none is given
    seed: 20                           # these apply unless the command line says otherwise
    keep_operators: false
    keep: []                           # operator entries kept on (fault inputs), as --keep
    hints: guided
    set: []                            # `--set` overrides, applied before the command line's
    commands:
      - {at: "+55 min", command: "ack all"}
      - {at: "2025-10-20T00:10:00-07:00", command: "resolve dynamodb.us-east-1.amazonaws.com"}

`at` is `+DURATION` after the scenario's start or an ISO-8601 time with offset; times must not
go back. `--record FILE` writes an interactive session in this format (exact sim seconds), so a
recording replays to the same bytes. Every problem is a located error (file:line:col).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.core import Location, ScenarioError, UserInputError
from simulation.core.units import format_duration
from simulation.scenario.load import LoadedScenario, display_path
from simulation.scenario.yamlsource import LDict, LList, parse_yaml, read_text

from .investigate import CommandError
from .section import DIFFICULTIES

TOP_KEYS = ("scenario", "seed", "keep_operators", "keep", "hints", "set", "commands")
ENTRY_KEYS = ("at", "command")


@dataclass(frozen=True)
class Entry:
    at: Any
    command: str
    at_loc: Location | None
    command_loc: Location | None
    index: int


@dataclass
class Script:
    """A script as read: its settings (None: not given) and its entries, times not yet resolved."""

    path: Path
    entries: list[Entry] = field(default_factory=list)
    scenario: Path | None = None
    seed: int | None = None
    keep_operators: bool | None = None
    hints: str | None = None
    overrides: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)


def _err(message: str, loc: Location | None, key: str | None) -> ScenarioError:
    return ScenarioError(message, loc, key)


def read_script(path: Path) -> Script:
    """Read and check the structure of a script file (located ScenarioError on problems)."""
    if not path.is_file():
        raise UserInputError(f"--script {path}: no such file")
    shown = display_path(path)
    tree = parse_yaml(read_text(path, shown), shown)
    script = Script(path)
    problems: list[ScenarioError] = []
    if isinstance(tree, LList):
        items, items_key = tree, "commands"
    elif isinstance(tree, LDict):
        for key in tree:
            if key not in TOP_KEYS:
                close = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                hint = hint or f" (expected one of: {', '.join(TOP_KEYS)})"
                problems.append(_err(f"unknown key '{key}'{hint}", tree.key_locs.get(key), None))
        _settings(tree, script, problems)
        items, items_key = tree.get("commands", LList()), "commands"
        if not isinstance(items, LList):
            problems.append(
                _err(
                    "expected a list of {at, command}", tree.value_locs.get("commands"), "commands"
                )
            )
            items = LList()
    else:
        raise _err(
            "expected a list of {at, command} entries, or a mapping with 'commands'",
            Location(shown, 1, 1),
            None,
        )
    for i, item in enumerate(items):
        where = f"{items_key}[{i}]"
        loc = items.item_locs[i] if i < len(items.item_locs) else None
        if not isinstance(item, LDict):
            problems.append(_err("expected a mapping with 'at' and 'command'", loc, where))
            continue
        unknown = [k for k in item if k not in ENTRY_KEYS]
        for k in unknown:
            close = difflib.get_close_matches(str(k), ENTRY_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else " (expected: at, command)"
            problems.append(_err(f"unknown key '{k}'{hint}", item.key_locs.get(k), where))
        missing = [k for k in ENTRY_KEYS if k not in item]
        for k in missing:
            problems.append(_err(f"missing required key '{k}'", loc, where))
        if unknown or missing:
            continue
        command = item["command"]
        if not isinstance(command, str) or not command.strip():
            problems.append(
                _err(
                    "expected the command as typed (a string)",
                    item.value_locs.get("command"),
                    f"{where}.command",
                )
            )
            continue
        script.entries.append(
            Entry(
                item["at"],
                " ".join(command.split()),
                item.value_locs.get("at"),
                item.value_locs.get("command"),
                i,
            )
        )
    if problems:
        raise ScenarioError.many(problems)
    return script


def _settings(tree: LDict, script: Script, problems: list[ScenarioError]) -> None:
    def bad(key: str, what: str) -> None:
        problems.append(_err(f"expected {what}, got {tree[key]!r}", tree.value_locs.get(key), key))

    if "scenario" in tree:
        if isinstance(tree["scenario"], str) and tree["scenario"].strip():
            script.scenario = (script.path.parent / tree["scenario"]).resolve()
        else:
            bad("scenario", "a path relative to the script")
    if "seed" in tree:
        value = tree["seed"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            script.seed = value
        else:
            bad("seed", "a non-negative integer")
    if "keep_operators" in tree:
        if isinstance(tree["keep_operators"], bool):
            script.keep_operators = tree["keep_operators"]
        else:
            bad("keep_operators", "true or false")
    if "hints" in tree:
        if tree["hints"] in DIFFICULTIES:
            script.hints = tree["hints"]
        else:
            bad("hints", f"one of {', '.join(DIFFICULTIES)}")
    if "keep" in tree:
        value = tree["keep"]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            script.keep = list(value)
        else:
            bad("keep", "a list of operator entry names")
    if "set" in tree:
        value = tree["set"]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            script.overrides = list(value)
        else:
            bad("set", "a list of KEY=VALUE strings")


@dataclass(frozen=True)
class Timed:
    """A script entry at its sim time."""

    at: float
    command: str
    entry: Entry


def resolve_times(script: Script, loaded: LoadedScenario) -> list[Timed]:
    """Entries with their sim times; located errors for bad, out-of-window or backward times."""
    out: list[Timed] = []
    problems: list[ScenarioError] = []
    end = float(loaded.model.duration)
    last = 0.0
    for e in script.entries:
        where = f"commands[{e.index}].at"
        try:
            t = loaded.instant(e.at)
        except (ValueError, TypeError) as exc:
            problems.append(
                _err(f"{exc}; write '+DURATION' or an ISO-8601 time with offset", e.at_loc, where)
            )
            continue
        if not 0 <= t <= end:
            problems.append(
                _err(
                    f"{e.at} is outside the scenario ({loaded.model.start.isoformat()} + "
                    f"{format_duration(end)})",
                    e.at_loc,
                    where,
                )
            )
            continue
        if t < last:
            problems.append(
                _err(
                    f"{e.at} is before the previous command ({format_duration(last)} after the "
                    "start): commands run in order",
                    e.at_loc,
                    where,
                )
            )
            continue
        last = t
        out.append(Timed(t, e.command, e))
    if problems:
        raise ScenarioError.many(problems)
    return out


def check_commands(timed: list[Timed], check: Any) -> None:
    """Every command must be one a trainee could type (`check(text)` raises CommandError)."""
    problems = []
    for item in timed:
        try:
            kind = check(item.command)
        except CommandError as exc:
            problems.append(
                _err(str(exc), item.entry.command_loc, f"commands[{item.entry.index}].command")
            )
            continue
        if kind == "navigate":
            problems.append(
                _err(
                    f"{item.command.split()[0] if item.command.split() else 'step'!r} is not "
                    "scripted: `at` says when each command runs",
                    item.entry.command_loc,
                    f"commands[{item.entry.index}].command",
                )
            )
    if problems:
        raise ScenarioError.many(problems)


def _at(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"+{text} s"


def _quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def dump_script(
    commands: list[tuple[float, str]],
    loaded: LoadedScenario,
    *,
    script_path: Path | None,
    seed: int,
    keep_operators: bool,
    hints: str,
    overrides: list[str],
    keep: list[str] | None = None,
) -> str:
    """A script of `commands` (sim seconds, text) that replays the session exactly."""
    clock_iso = loaded.model.start
    from simulation.core.clock import ScenarioClock

    clock = ScenarioClock(clock_iso)
    scenario = loaded.path.resolve()
    scenario_text = str(scenario)
    if script_path is not None:
        import os

        folder = script_path.resolve().parent
        if Path(os.path.commonpath([scenario, folder])) != Path(scenario.anchor):
            # in the same tree (a checkout): relative, so it stays valid when the tree moves
            scenario_text = os.path.relpath(scenario, folder)
    lines = [
        "# outage-sim drill script: replay with `outage-sim drill --script THIS_FILE`",
        f"scenario: {_quote(scenario_text)}",
        f"seed: {seed}",
        f"keep_operators: {'true' if keep_operators else 'false'}",
        "keep: [" + ", ".join(_quote(k) for k in keep or []) + "]",
        f"hints: {hints}",
        "set: [" + ", ".join(_quote(o) for o in overrides) + "]",
        "commands:" + ("" if commands else " []"),
    ]
    for t, text in commands:
        lines.append(f"  - at: {_quote(_at(t))}  # {clock.iso(t)}")
        lines.append(f"    command: {_quote(text)}")
    return "\n".join(lines) + "\n"
