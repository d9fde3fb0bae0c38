"""Jinja2 environments for the two report formats, each escaping every value by default.

HTML: autoescape on, so a scenario title `<script>` shows as text; only the SVG pictures (text
escaped by matplotlib) are marked safe. Markdown: every `{{ value }}` goes through `md_escape`
(backslash before Markdown's special characters, no line breaks, `<` and `>` escaped), so a
scenario string cannot open a table cell, a link or raw HTML. Code blocks get a fence longer than
any backtick run inside them.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md_escape(value: Any) -> Any:
    """A value as literal Markdown text (Markup passes through unchanged)."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return ""
    text = str(value)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\s*\n\s*", " ", text)


def md_code(text: str, lang: str = "") -> Markup:
    """A fenced code block whose fence no line of `text` can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{lang}\n{text.rstrip()}\n{fence}")


def css() -> str:
    return (resources.files("simulation.report") / "templates" / "report.css").read_text("utf-8")


@cache
def environment(fmt: str) -> jinja2.Environment:
    """The environment for `html` or `md` templates (package data, strict undefined)."""
    loader = jinja2.PackageLoader("simulation.report", "templates")
    if fmt == "html":
        env = jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    else:
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,
            finalize=md_escape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["code"] = md_code
        env.filters["raw"] = Markup  # the output of a macro, already escaped inside
    env.filters["safe_svg"] = Markup
    return env


def render(fmt: str, context: dict[str, Any]) -> str:
    template = environment(fmt).get_template(f"report.{fmt}.j2")
    text = template.render(**context)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.rstrip("\n") + "\n"
