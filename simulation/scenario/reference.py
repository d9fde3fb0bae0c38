"""Generate docs/scenario-reference.md from the scenario models (every key: type, unit, default,
meaning). `python -m simulation.scenario.reference > docs/scenario-reference.md` regenerates it;
a test fails when the committed file is stale."""

from __future__ import annotations

import typing
from types import UnionType
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .model import Condition, Expectation, OperatorAction, scenario_model

HEADER = """\
# Scenario reference

Generated from the models by `python -m simulation.scenario.reference`; do not edit by hand
(`tests/scenario/test_reference_doc.py` fails when this file is stale).

Units: durations are written with a unit (`250 ms`, `30 s`, `5 min`, `2 h`, `1 d`; a bare `0` is
allowed), rates as `N/UNIT` (`100/s`, `5/min`), sizes with binary or decimal units (`4 KiB`,
`16 GiB`, `1 MB`), times as ISO-8601 with a UTC offset (`2025-10-19T23:48:00-07:00`). In
`operators[].at` and `expect[].at` a time may also be `+DURATION` after `start`.

A scenario may `extends:` another file and override some of its keys. Mappings merge key by key;
`operators` and `expect` entries merge by `name` (an entry repeating a name overrides that entry's
keys; `enabled: false` switches an inherited action off). On the command line,
`--set dotted.key=value` does the same (`--set operators.dns_manual_repair.at='+3 h'`).
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        args = typing.get_args(tp)
        for meta in args[1:]:
            schema = getattr(meta, "json_schema", None)
            if isinstance(schema, dict) and "unit" in schema:
                return schema["unit"]
        return _type_name(args[0])
    if origin in (typing.Union, UnionType):
        parts = [_type_name(a) for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    return getattr(tp, "__name__", str(tp)).replace("datetime", "timestamp")


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined or value is None:
        return "-"
    if isinstance(value, BaseModel):
        return "(see below)"
    if value in ([], {}):
        return "empty"
    if value == "":
        return "empty text"
    return f"`{value}`"


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models_in(a)]


def _document(model: type[BaseModel], path: str, out: list[str], seen: set[str]) -> None:
    title = f"`{path}`" if path else "Top level"
    out += ["", f"## {title}", ""]
    doc = (model.__doc__ or "").strip()
    if doc:
        out += [doc.splitlines()[0], ""]
    out += ["| key | type | default | meaning |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        unit = next(
            (
                m.json_schema["unit"]
                for m in field.metadata
                if isinstance(getattr(m, "json_schema", None), dict) and "unit" in m.json_schema
            ),
            None,
        )
        type_name = (unit or _type_name(field.annotation)).replace("|", "\\|")
        out.append(f"| `{name}` | {type_name} | {_default(field)} | {desc} |")
        for sub in _models_in(field.annotation):
            sub_path = f"{path}.{name}" if path else name
            if typing.get_origin(field.annotation) is list:
                sub_path += "[]"
            nested.append((sub, sub_path))
    for sub, sub_path in nested:
        if sub_path not in seen:
            seen.add(sub_path)
            _document(sub, sub_path, out, seen)


def render() -> str:
    out = [HEADER.rstrip()]
    _document(scenario_model(), "", out, {"operators[]", "expect[]"})
    for model, path in ((OperatorAction, "operators[]"), (Expectation, "expect[]")):
        _document(model, path, out, {"operators[].when"})
    _document(Condition, "operators[].when", out, set())
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
