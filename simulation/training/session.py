"""One drill from the command line: load, drive (terminal or script), finish, write, debrief.

The run directory is a normal run directory (`outputs.write_outputs`: summary.json, timeline.csv,
metrics.parquet, report.md/html ...) plus `debrief.md`, `debrief.json` and `drill-script.yaml`
(the session as a script: replay it with `--script`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from simulation.core import ScenarioClock, UserInputError
from simulation.core.files import atomic_write_text
from simulation.core.units import parse_duration

from .debrief import as_json, build_debrief, markdown, verdict
from .engine import DrillSetup, Engine
from .screens import plain
from .script import check_commands, dump_script, read_script, resolve_times

SCRIPT_NAME = "drill-script.yaml"


@dataclass
class DrillOptions:
    """The `outage-sim drill` command line."""

    scenario: Path | None
    out: Path | None = None
    script: Path | None = None
    record: Path | None = None
    seed: int | None = None
    overrides: list[str] = field(default_factory=list)
    hints: str | None = None
    keep_operators: bool = False
    keep: list[str] = field(default_factory=list)
    game_master: bool = False
    counterfactuals: int = 6
    step: str | None = None
    ascii_only: bool = False
    quiet: bool = False


def run_drill(opts: DrillOptions, stdout: TextIO | None = None, console=None, read=None) -> int:
    """Carry out one drill; the exit code (0 done, 1 model failure or interrupted).

    `console` and `read` (a prompt -> line function) replace the terminal, for tests."""
    stdout = stdout or sys.stdout
    script = read_script(opts.script) if opts.script is not None else None
    scenario = opts.scenario or (script.scenario if script is not None else None)
    if scenario is None:
        raise UserInputError("give a SCENARIO (or a --script that names one)")
    setup = DrillSetup(
        scenario,
        seed=opts.seed if opts.seed is not None else (script.seed if script else None),
        overrides=tuple([*(script.overrides if script else []), *opts.overrides]),
        keep_operators=opts.keep_operators or bool(script and script.keep_operators),
        hints=opts.hints or (script.hints if script else None),
        keep=tuple(dict.fromkeys([*(script.keep if script else []), *opts.keep])),
    )
    drilled, historical = setup.load()
    if setup.hints not in (None, "none") and getattr(drilled.model, "drill", None) is None:
        print(f"note: {scenario} has no drill section: no alerts and no hints", file=sys.stderr)
    step = None
    if opts.step is not None:
        try:
            step = parse_duration(opts.step)
        except ValueError as exc:
            raise UserInputError(f"--step {opts.step!r}: {exc}") from None
        if step <= 0:
            raise UserInputError(f"--step {opts.step!r}: expected a positive duration")
    engine = Engine(
        drilled,
        setup.seed,
        step=step,
        game_master=opts.game_master,
        historical_actions=historical_actions(historical, setup.kept(historical)),
        ascii_only=opts.ascii_only or not _utf8(stdout),
    )
    out = opts.out or Path("reports") / "drills" / Path(scenario).stem
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out}: exists and is not a directory")
    wall_start = datetime.now(UTC)
    interrupted = False
    if script is not None:
        timed = resolve_times(script, drilled)
        check_commands(timed, engine.check)
        scripted(engine, [(t.at, t.command) for t in timed], None if opts.quiet else stdout)
    else:
        from rich.console import Console

        from .tui import interactive

        console = console or Console()
        interrupted = interactive(engine, console, read)
    return finish(engine, setup, historical, out, opts, wall_start, interrupted, stdout)


def historical_actions(loaded, inputs: set[str]) -> list[tuple[str, str]]:
    """(when, what) of the scenario's enabled operator entries that are not the fault's inputs,
    for the game master."""
    out = []
    for entry in loaded.model.operators:
        if not entry.enabled or entry.key in inputs:
            continue
        t = loaded.instant(entry.at) if entry.at is not None else float("inf")
        when = (
            ScenarioClock(loaded.model.start).iso(t)
            if entry.at is not None
            else "when a condition holds"
        )
        params = " ".join(f"{k}={v}" for k, v in entry.params.items())
        out.append((t, when, f"{entry.action} {params}".strip()))
    return [(when, what) for _, when, what in sorted(out, key=lambda r: r[0])]


def _utf8(stream: TextIO) -> bool:
    return (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "") == "utf8"


def scripted(engine: Engine, commands: list[tuple[float, str]], stdout: TextIO | None) -> None:
    """Carry out `commands` at their sim times, printing a plain transcript to `stdout`."""
    clock = engine.env.clock

    def show_news() -> None:
        for t, kind, detail in engine.news():
            if stdout is not None:
                label = {"alert": "ALERT", "alert_resolved": "RESOLVED", "hint": "HINT"}[kind]
                print(f"[{clock.iso(t)}] {label} {detail}", file=stdout)

    for t, text in commands:
        engine.advance_to(t)
        show_news()
        if engine.failure is not None:
            break
        reply = engine.execute(text)
        if stdout is not None:
            print(f"[{engine.env.iso()}] > {text}", file=stdout)
            out = plain(reply.body).rstrip("\n")
            if out:
                print("    " + out.replace("\n", "\n    "), file=stdout)
    engine.advance_to(engine.end)
    show_news()


def finish(
    engine: Engine,
    setup: DrillSetup,
    historical,
    out: Path,
    opts: DrillOptions,
    wall_start: datetime,
    interrupted: bool,
    stdout: TextIO,
) -> int:
    from simulation.outputs import write_outputs

    result = engine.finish(interrupted=interrupted)
    written = write_outputs(result, out, wall_start, datetime.now(UTC))
    commands = [(t.at, t.text) for t in engine.typed]
    record = dump_script(
        commands,
        engine.loaded,
        script_path=out / SCRIPT_NAME,
        seed=result.seed,
        keep_operators=setup.keep_operators,
        hints=engine.config.difficulty if engine.drill is not None else "none",
        overrides=list(setup.overrides),
        keep=list(setup.keep),
    )
    atomic_write_text(out / SCRIPT_NAME, record)
    if opts.record is not None:
        atomic_write_text(
            opts.record,
            dump_script(
                commands,
                engine.loaded,
                script_path=opts.record,
                seed=result.seed,
                keep_operators=setup.keep_operators,
                hints=engine.config.difficulty if engine.drill is not None else "none",
                overrides=list(setup.overrides),
                keep=list(setup.keep),
            ),
        )
    print(f"{result.loaded.model.title}: drill {result.status} (seed {result.seed})", file=stdout)
    if result.failure:
        print(f"  {result.failure}", file=sys.stderr)
        print(f"  outputs: {out}/ (no debrief: the drill did not finish)", file=stdout)
        return 1
    started = time.perf_counter()
    data = build_debrief(
        engine,
        result,
        historical,
        counterfactuals=opts.counterfactuals,
        keep_operators=setup.keep_operators,
    )
    cost = time.perf_counter() - started
    atomic_write_text(out / "debrief.md", markdown(data))
    atomic_write_text(out / "debrief.json", as_json(data))
    judged = sum(1 for a in data["actions"] if a["saved"] is not None)
    print(
        f"debrief: {judged + 2} extra runs (historical, nobody acting, {judged} counterfactuals) "
        f"in {cost:.1f} s",
        file=sys.stderr,
    )
    s = data["score"]
    print(f"  {verdict(s)}", file=stdout)
    for key in ("time_to_detect", "time_to_diagnose", "time_to_mitigate"):
        mine, theirs = s["you"][key], s["historical"][key]
        print(
            f"  {key.replace('_', ' ')}: {mine or '-'} (historical: {theirs or '-'})", file=stdout
        )
    names = ", ".join(p.name for p in written)
    print(f"  outputs: {out}/ ({names}, debrief.md, debrief.json, {SCRIPT_NAME})", file=stdout)
    return 0
