"""The drill engine: a prepared scenario advanced step by step, with the trainee's commands.

`DrillSetup.load()` loads the scenario twice: as drilled (its own operator actions switched off
with `enabled=false`, unless `keep_operators`, except the fault's inputs named in
`drill.inputs` or `--keep`; hints at the difficulty asked) and as it happened
(operator actions on, no hints: the historical run of the debrief). `Engine` builds the first
with `runner.prepare`, advances it with `env.run(until=...)`, and carries out commands typed by
the trainee (`execute`) at the current sim time. Every command that investigates or acts is a
`drill_command` event; an action also goes through the component's `Action` exactly as an
operator entry would (parameters validated by `action.params`, `action.check`, an
`operator_action` event with the actor `trainee`, a row of the summary's operator actions).

Interactive and scripted drills drive the same `Engine` with the same calls (`advance_to(t)`,
then `execute(text)`), so a script of the commands at their times reproduces a session byte
for byte. Investigations never change the model (the `resolve` command has its own RNG stream).
"""

from __future__ import annotations

import fnmatch
import shlex
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml
from rich.text import Text

from simulation.core import Component, Results, ScenarioError, UserInputError
from simulation.core.units import format_duration, parse_duration
from simulation.runner import RunResult, evaluate, prepare
from simulation.scenario.load import LoadedScenario, load_scenario
from simulation.scenario.operators import NOTE, offered_actions

from . import investigate as inv
from .impact import impact_total
from .investigate import CommandError
from .section import COMMAND_EVENT, Config, Drill

NAVIGATE = ("step", "next", "end")
VIEW = ("help", "status", "dash", "alerts", "actions", "truth")
INVESTIGATE = ("ack", "resolve", "show", "logs", "deps")
ACT = ("do",)
NEXT_LIMIT_STEPS = 12
"""`next` stops after this many steps without an alert change."""

HELP = [
    ("Enter, step [DURATION]", "advance one step, or DURATION (`step 15 min`)"),
    ("next", "advance until an alert fires or resolves"),
    ("status, dash", "the dashboard; every dashboard series"),
    ("alerts", "alerts firing and resolved so far"),
    ("ack [ALERT|all]", "acknowledge alerts: you are on it"),
    ("resolve NAME [TYPE]", "ask the name servers, as a fresh client"),
    ("show [SCOPE]", "a component's series and children"),
    ("logs SCOPE [N]", "its last N (10) events, and its children's"),
    ("deps SERVICE", "what a service needs, what needs it"),
    ("actions [NAME]", "the operator actions you can take"),
    ("do ACTION [@SCOPE] [k=v]", "act: `do pin_endpoint services=[sts]`"),
    ("truth", "game master only: what is really going on"),
    ("end", "stop acting: run to the end, debrief"),
]


@dataclass(frozen=True)
class DrillSetup:
    """What a drill is run on: scenario, seed, `--set` overrides and options."""

    scenario: Path
    seed: int | None = None
    overrides: tuple[str, ...] = ()
    keep_operators: bool = False
    hints: str | None = None
    """`none`, `nudges` or `guided`; None: the scenario's `drill.difficulty`."""
    keep: tuple[str, ...] = ()
    """Operator entries kept on by name (`--keep`), besides the drill section's `inputs`."""

    def load(self) -> tuple[LoadedScenario, LoadedScenario]:
        """(as drilled, as it happened): see module docstring."""
        base = load_scenario(self.scenario, list(self.overrides))
        drill = getattr(base.model, "drill", None)
        kept = self.kept(base)
        extra: list[str] = []
        if not self.keep_operators:
            extra += [
                f"operators.{i}.enabled=false"
                for i, entry in enumerate(base.model.operators)
                if entry.enabled and entry.key not in kept
            ]
        if self.hints is not None and drill is not None:
            extra.append(f"drill.difficulty={self.hints}")
        drilled = load_scenario(self.scenario, [*self.overrides, *extra]) if extra else base
        historical = base
        if drill is not None and drill.difficulty != "none":
            historical = load_scenario(self.scenario, [*self.overrides, "drill.difficulty=none"])
        return drilled, historical

    def kept(self, loaded: LoadedScenario) -> set[str]:
        """Names of the operator entries a drill keeps on: the fault's inputs (`drill.inputs`,
        `--keep`) and the `note` entries (published facts with no effect on the model, nothing
        for a trainee to do), not the responders' actions. Unknown names are errors."""
        names = [e.key for e in loaded.model.operators]
        listing = ", ".join(names) or "none"
        for name in self.keep:
            if name not in names:
                raise UserInputError(f"--keep {name}: no operator entry of that name ({listing})")
        drill = getattr(loaded.model, "drill", None)
        inputs = list(drill.inputs) if drill is not None else []
        problems = [
            loaded.error(("drill", "inputs", i), f"no operator entry {name!r} (entries: {listing})")
            for i, name in enumerate(inputs)
            if name not in names
        ]
        if problems:
            raise ScenarioError.many(problems)
        notes = [e.key for e in loaded.model.operators if e.action == NOTE]
        return {*self.keep, *inputs, *notes}


@dataclass
class Reply:
    """What a command gives back: renderables to show, and what it did."""

    kind: str
    body: list[Any] = field(default_factory=list)
    error: bool = False


@dataclass(frozen=True)
class Typed:
    """A command the trainee typed that investigated or acted (what a script replays)."""

    at: float
    text: str
    kind: str
    touched: tuple[str, ...] = ()


def locate(exc: ScenarioError, loaded: LoadedScenario) -> ScenarioError:
    """Locate keyed, unlocated problems (raised while building) in the scenario file."""
    problems = []
    for p in exc.problems:
        if p.location is None and p.key:
            path: list[Any] = []
            for part in p.key.replace("]", "").replace("[", ".").split("."):
                path.append(int(part) if part.isdigit() else part)
            try:
                problems.append(loaded.error(tuple(path), p.message))
                continue
            except Exception:  # a key the tree does not have: keep the problem as it is
                pass
        problems.append(p)
    return ScenarioError.many(problems)


class Engine:
    """A scenario being drilled (see module docstring)."""

    def __init__(
        self,
        loaded: LoadedScenario,
        seed: int | None = None,
        *,
        step: float | None = None,
        game_master: bool = False,
        historical_actions: list[tuple[str, str]] | None = None,
        ascii_only: bool = False,
    ) -> None:
        self.loaded = loaded
        try:
            self.prep = prepare(loaded, seed)
        except ScenarioError as exc:
            raise locate(exc, loaded) from None
        self.env, self.root = self.prep.env, self.prep.root
        self.drill: Drill | None = next((c for c in self.root.walk() if isinstance(c, Drill)), None)
        self.config: Config = self.drill.config if self.drill is not None else Config()
        self.step = float(step or self.config.step)
        self.end = float(loaded.model.duration)
        self.game_master = game_master
        self.historical_actions = historical_actions or []
        """(when, what) of the scenario's own operator actions, for the game master."""
        self.ascii_only = ascii_only
        self.offered = offered_actions(self.root)
        self.typed: list[Typed] = []
        self.acked: set[str] = set()
        self.rng = self.env.rng("trainee", "investigations")
        self.failure: str | None = None
        self.failure_detail: str | None = None
        self._news = 0
        self.rows = self._dashboard_rows()

    # -- time --------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return float(self.env.now)

    @property
    def finished(self) -> bool:
        return self.failure is not None or self.now >= self.end

    def advance_to(self, t: float) -> None:
        """Simulate up to sim time `t` (capped at the end); a model error ends the drill."""
        t = min(float(t), self.end)
        if t <= self.env.now or self.failure is not None:
            return
        try:
            self.env.run(until=t)
        except Exception as exc:  # a model bug: keep what was recorded, say what broke
            self.failure = (
                f"model error at sim time {self.env.now:.0f} s: {type(exc).__name__}: {exc}"
            )
            self.failure_detail = traceback.format_exc()

    def advance(self, seconds: float | None = None) -> None:
        self.advance_to(self.now + (self.step if seconds is None else seconds))

    def next_alert(self) -> bool:
        """Advance until an alert fires or resolves (True) or `NEXT_LIMIT_STEPS` steps pass."""
        limit = min(self.end, self.now + NEXT_LIMIT_STEPS * self.step)
        chunk = self.config.evaluate_every
        seen = self._alert_count()
        while self.now < limit and not self.finished:
            self.advance_to(min(limit, self.now + chunk))
            if self._alert_count() != seen:
                return True
        return False

    def _alert_count(self) -> int:
        return sum(1 for e in self.env.recorder.events if e[2] in ("alert", "alert_resolved"))

    def news(self) -> list[tuple[float, str, str]]:
        """Alerts, resolutions and hints recorded since the last call: (time, kind, detail)."""
        events = self.env.recorder.events
        out = [
            (t, kind, detail)
            for t, _, kind, detail in events[self._news :]
            if kind in ("alert", "alert_resolved", "hint")
        ]
        self._news = len(events)
        return out

    # -- commands ----------------------------------------------------------------------------
    @staticmethod
    def split(text: str) -> list[str]:
        try:
            return shlex.split(text)
        except ValueError as exc:
            raise CommandError(f"cannot read the command: {exc}") from None

    def kind_of(self, words: list[str]) -> str:
        if not words:
            return "navigate"
        verb = words[0]
        if verb in NAVIGATE or verb == "quit":
            return "navigate"
        if verb in VIEW:
            return "view"
        if verb in INVESTIGATE:
            return "investigate"
        if verb in ACT or verb in self.offered:
            return "act"
        return "unknown"

    def check(self, text: str) -> str:
        """Validate a command without carrying it out; its kind, or CommandError."""
        words = self.split(text)
        kind = self.kind_of(words)
        if kind == "unknown":
            raise CommandError(f"unknown command {words[0]!r}; `help` lists the commands")
        if kind == "act":
            self._bind(words)
        elif kind == "navigate" and words and words[0] == "step" and len(words) > 1:
            self._duration(" ".join(words[1:]))
        elif kind == "investigate":
            self._investigate(words, dry=True)
        return kind

    def execute(self, text: str) -> Reply:
        """Carry out one command at the current sim time."""
        text = " ".join(text.split())
        try:
            words = self.split(text)
            kind = self.check(text)
            if kind == "navigate":
                return self._navigate(words)
            if kind == "view":
                return Reply("view", self._view(words))
            if kind == "investigate":
                finding = self._investigate(words)
                self._record(text, kind, finding.touched)
                return Reply(kind, finding.body)
            targets, params, shown = self._bind(words)
            self._record(text, kind, tuple(c.scope for c, _ in targets))
            return Reply(kind, self._perform(text, targets, params, shown))
        except CommandError as exc:
            return Reply("error", [Text(f"error: {exc}")], error=True)

    def _record(self, text: str, kind: str, touched: tuple[str, ...] | list[str]) -> None:
        self.typed.append(Typed(self.now, text, kind, tuple(touched)))
        self.env.recorder.event(self.prep.operators.scope, COMMAND_EVENT, text)

    def _duration(self, text: str) -> float:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if seconds <= 0:
            raise CommandError("step needs a positive duration, e.g. `step 10 min`")
        return seconds

    def _navigate(self, words: list[str]) -> Reply:
        verb = words[0] if words else "step"
        if verb in ("end", "quit"):
            self.advance_to(self.end)
            return Reply("navigate", [Text("drill over: simulated to the end")])
        if verb == "next":
            changed = self.next_alert()
            quiet = format_duration(self.step * NEXT_LIMIT_STEPS)
            note = "" if changed else f" (no alert change in {quiet})"
            return Reply("navigate", [Text(f"now {self.env.iso()}{note}")])
        seconds = self._duration(" ".join(words[1:])) if len(words) > 1 else None
        self.advance(seconds)
        return Reply("navigate", [])

    # -- investigations ----------------------------------------------------------------------
    def _investigate(self, words: list[str], dry: bool = False) -> inv.Finding:
        verb, args = words[0], words[1:]
        root = self.root
        if verb == "ack":
            names = [a.name for a in self.config.alerts]
            want = args or ["all"]
            unknown = [w for w in want if w != "all" and w not in names]
            if unknown:
                raise CommandError(f"no alert {unknown[0]!r} (alerts: {', '.join(names)})")
            if dry:
                return inv.Finding()
            firing = self.firing()
            picked = list(firing) if "all" in want else [w for w in want if w in firing]
            self.acked.update(picked)
            text = f"acknowledged: {', '.join(picked)}" if picked else "no alert firing to ack"
            return inv.Finding([Text(text)])
        if verb == "resolve":
            if not 1 <= len(args) <= 2:
                raise CommandError("usage: resolve NAME [TYPE], e.g. resolve example.com A")
            if dry:
                return inv.Finding()
            return inv.resolve(root, args[0], args[1] if len(args) > 1 else "A", self.rng)
        if verb == "show":
            if len(args) > 1:
                raise CommandError("usage: show [SCOPE]")
            scope = args[0] if args else None
            if scope is not None:
                inv.component(root, scope)
            if dry:
                return inv.Finding()
            return inv.show(root, scope, self.now, self.step, 20, self.ascii_only)
        if verb == "logs":
            if not 1 <= len(args) <= 2 or (len(args) == 2 and not args[1].isdigit()):
                raise CommandError("usage: logs SCOPE [N]")
            inv.component(root, args[0])
            if dry:
                return inv.Finding()
            return inv.logs(root, args[0], self.now, int(args[1]) if len(args) > 1 else 10)
        if len(args) != 1:
            raise CommandError("usage: deps SERVICE")
        finding = inv.deps(root, args[0])
        return inv.Finding() if dry else finding

    def firing(self) -> dict[str, float]:
        return dict(self.drill.firing) if self.drill is not None else {}

    # -- actions -----------------------------------------------------------------------------
    def _bind(self, words: list[str]) -> tuple[list[tuple[Component, Any]], Any, str]:
        """(targets, validated params, params as shown) of `do ACTION [@SCOPE] [k=v ...]`."""
        if words[0] == "do":
            words = words[1:]
            if not words:
                raise CommandError("usage: do ACTION [@SCOPE] [key=value ...]; see `actions`")
        name, rest = words[0], words[1:]
        candidates = self.offered.get(name)
        if not candidates:
            known = ", ".join(sorted(self.offered)) or "none: this scenario offers no action"
            raise CommandError(f"unknown action {name!r} (available: {known})")
        target, raw = None, {}
        for word in rest:
            if word.startswith("@"):
                target = word[1:]
            elif "=" in word and word.split("=", 1)[0]:
                key, value = word.split("=", 1)
                try:
                    raw[key] = yaml.safe_load(value) if value else None
                except yaml.YAMLError:
                    raise CommandError(f"{key}: cannot read the value {value!r}") from None
            else:
                raise CommandError(f"expected KEY=VALUE or @SCOPE, got {word!r}")
        targets = candidates
        if target is not None:
            targets = [
                (c, a)
                for c, a in candidates
                if c.scope == target or fnmatch.fnmatchcase(c.scope, target)
            ]
            if not targets:
                scopes = ", ".join(c.scope for c, _ in candidates)
                raise CommandError(f"no {target!r} offers {name!r} (offered by: {scopes})")
        model = targets[0][1].params
        try:
            params = model.model_validate(raw)
        except pydantic.ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                accepted = ", ".join(model.model_fields) or "none"
                raise CommandError(
                    f"unknown parameter {key!r} for {name!r} (accepted: {accepted})"
                ) from None
            raise CommandError(f"{name} {key}: {err['msg']}") from None
        for _, action in targets:
            if action.check is not None and (msg := action.check(params)) is not None:
                raise CommandError(f"{name}: {msg}")
        shown = " ".join(f"{k}={v}" for k, v in raw.items())
        return targets, params, shown

    def _perform(
        self, text: str, targets: list[tuple[Component, Any]], params: Any, shown: str
    ) -> list[Any]:
        ops, lines = self.prep.operators, []
        for comp, action in targets:
            detail = f"trainee: {action.name} on {comp.scope}" + (f" ({shown})" if shown else "")
            ops.event("operator_action", detail)
            ops.performed.append(
                {
                    "name": action.name,
                    "action": action.name,
                    "target": comp.scope,
                    "time": self.env.iso(),
                    "note": f"trainee: {text}",
                    "actor": "trainee",
                }
            )
            try:
                action.run(params)
            except Exception as exc:  # a model bug: the drill ends, its outputs say what broke
                self.failure = (
                    f"model error in {action.name} at sim time {self.now:.0f} s: "
                    f"{type(exc).__name__}: {exc}"
                )
                self.failure_detail = traceback.format_exc()
                lines.append(f"the model failed: {self.failure}")
                break
            lines.append(f"done: {action.name} on {comp.scope} at {self.env.iso()}")
        return [Text("\n".join(lines))]

    # -- views -------------------------------------------------------------------------------
    def _dashboard_rows(self) -> list[tuple[str, str, str]]:
        """(scope, metric, label) of the dashboard: the drill's list, or the plots' series."""
        plots = [p for c in self.root.walk() for p in c.plots()]
        labels: dict[tuple[str, str], str] = {}
        for plot in sorted(plots, key=lambda p: (p.order, p.key)):
            for s in plot.series:
                labels.setdefault((s.scope, s.metric), s.label)
        if not self.config.dashboard:
            return [(scope, metric, label) for (scope, metric), label in labels.items()]
        rows = []
        for row in self.config.dashboard:
            scope, metric = row.series.rsplit(":", 1)
            short = scope.removeprefix(self.root.scope + ".")
            label = row.label or labels.get((scope, metric)) or f"{short} {metric}"
            rows.append((scope, metric, label))
        return rows

    def _view(self, words: list[str]) -> list[Any]:
        from .screens import (
            action_detail,
            actions_table,
            alerts_table,
            dashboard,
            help_table,
            truth,
        )

        verb = words[0]
        if verb == "help":
            return [help_table(HELP)]
        if verb == "status":
            return dashboard(self, limit=9)
        if verb == "dash":
            return dashboard(self, limit=None)
        if verb == "alerts":
            return [alerts_table(self)]
        if verb == "actions":
            if len(words) > 2:
                raise CommandError("usage: actions [NAME]")
            return action_detail(self, words[1]) if len(words) > 1 else [actions_table(self)]
        if not self.game_master:
            raise CommandError("`truth` is for the game master (outage-sim drill --game-master)")
        return truth(self)

    # -- the end -------------------------------------------------------------------------------
    def finish(self, interrupted: bool = False) -> RunResult:
        """Simulate to the end (unless interrupted) and evaluate like `outage-sim run`."""
        if not interrupted:
            self.advance_to(self.end)
        failure, end = self.failure, self.end
        if interrupted and failure is None:
            failure = f"interrupted at sim time {self.now:.0f} s ({self.env.iso()})"
        if failure is not None:
            end = self.now
        return evaluate(self.prep, end, interrupted, failure, self.failure_detail)

    def impact_so_far(self) -> float:
        return impact_total(self.root, Results(self.env, self.now), self.config.impact)


def actions_table_rows(engine: Engine) -> list[tuple[str, str, str, str]]:
    """(action, offered by, parameters, doc) of every action the scenario offers."""
    rows = []
    for name in sorted(engine.offered):
        pairs = engine.offered[name]
        action = pairs[0][1]
        params = ", ".join(action.params.model_fields)
        scopes = ", ".join(c.scope for c, _ in pairs)
        rows.append((name, scopes, params or "-", action.doc))
    return rows
