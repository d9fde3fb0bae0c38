"""The interactive drill in a terminal (rich): one screen per step or command, 80x24 is enough.

The loop reads a line, hands it to the engine and redraws: after a step, the dashboard (alerts,
series with sparklines, the latest hints); after any other command, its output under the
header. Nothing here decides anything about the model: it only reads and types, which is why a
script of the same lines at the same sim times gives the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from simulation.core.units import format_duration

from .engine import Engine
from .screens import dashboard, header, one_line

ReadLine = Callable[[str], str]


def footer(engine: Engine) -> Text:
    step = format_duration(engine.step)
    return one_line(f"Enter=step {step} | next | show | logs | resolve | deps | do | help | end")


def news_line(news: list[tuple[float, str, str]], engine: Engine) -> Text | None:
    fired = [d.split(" ", 2)[1] for _, k, d in news if k == "alert"]
    resolved = [d.split(" ", 1)[0] for _, k, d in news if k == "alert_resolved"]
    hints = sum(1 for _, k, _ in news if k == "hint")
    parts = []
    if fired:
        parts.append(f"PAGED: {', '.join(fired)}")
    if resolved:
        parts.append(f"resolved: {', '.join(resolved)}")
    if hints:
        parts.append(f"{hints} new hint(s)")
    if not parts:
        return None
    return one_line("NEW  " + "; ".join(parts))


def status_screen(engine: Engine, height: int, news: list[tuple[float, str, str]]) -> list[Any]:
    """The dashboard, with as many series rows as the terminal height allows."""
    fixed = 2 + 2 + min(len(engine.firing()), 4) + 3 + 4 + 4 + (1 if engine.game_master else 0)
    limit = max(2, height - fixed)
    body = dashboard(engine, limit=limit)
    line = news_line(news, engine)
    if line is not None:
        body.insert(1, line)
    return body


def interactive(engine: Engine, console: Console, read: ReadLine | None = None) -> bool:
    """Run the drill at the terminal until `end` (False) or Ctrl-C (True: interrupted)."""
    read = read or (lambda prompt: console.input(prompt))
    briefing = engine.config.briefing
    body: list[Any] = [header(engine)]
    if briefing:
        body.append(Text(f"BRIEFING  {briefing}"))
    body.append(Text("Type `help` for the commands. Enter advances the clock one step."))
    showing_dashboard = False
    while not engine.finished:
        news = engine.news()
        if showing_dashboard:
            body = status_screen(engine, console.height, news)
        console.clear()
        for item in body:
            console.print(item)
        console.print(footer(engine))
        try:
            line = read("> ")
        except EOFError:
            line = "end"
        except KeyboardInterrupt:
            return True
        try:
            reply = engine.execute(line)
        except KeyboardInterrupt:  # while simulating a long step
            return True
        stepped = reply.kind == "navigate" and not reply.body
        if stepped or (reply.kind == "view" and line.split()[:1] == ["status"]):
            showing_dashboard = True
        else:
            showing_dashboard = False
            body = [header(engine), Text(f"> {' '.join(line.split())}"), *reply.body]
    console.clear()
    return False
