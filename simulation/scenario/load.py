"""load -> merge (`extends`, `--set`) -> validate, with every error located.

`load_scenario(path, overrides)` returns a `LoadedScenario`: the validated model, the merged
located tree (for later errors, e.g. an unknown action found at build time) and the document as
run (plain data, for the report's appendix).
"""

from __future__ import annotations

import difflib
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any

import pydantic
from pydantic import BaseModel

from ..core.errors import Location, ScenarioError
from .model import ScenarioBase, parse_instant, scenario_model
from .yamlsource import LDict, LList, load_yaml_file, locate, parse_yaml, to_plain

MAX_EXTENDS_DEPTH = 16


@dataclass
class LoadedScenario:
    """A validated scenario with the located tree it came from."""

    path: Path
    model: ScenarioBase
    tree: LDict
    chain: list[Path]
    """The file and the files it extends, nearest first."""

    @property
    def document(self) -> dict[str, Any]:
        """The scenario as run (after extends and --set), as plain data."""
        data = to_plain(self.tree)
        data.pop("extends", None)
        return data

    def error(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> ScenarioError:
        """A ScenarioError located at `path` of the merged document (at its key with `key`,
        labelled with the parent's path, as for unknown keys)."""
        label = _dotted(path[:-1] if key else path)
        return ScenarioError(message, locate(self.tree, path, key=key), label)

    def instant(self, value: Any) -> float:
        return parse_instant(value, self.model.start)


def display_path(path: Path) -> str:
    """Paths in messages: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# -- extends ---------------------------------------------------------------------------------


def _named_items(seq: list[Any]) -> bool:
    return bool(seq) and all(
        isinstance(i, dict) and isinstance(i.get("name") or i.get("action"), str) for i in seq
    )


def _item_key(item: dict[str, Any]) -> str:
    return item.get("name") or item["action"]


def merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings merge key by key; lists of named entries merge by name
    (an entry repeating a name overrides that entry's keys); other values are replaced."""
    if isinstance(base, LDict) and isinstance(over, LDict):
        out = LDict(loc=over.loc)
        for src in (base, over):
            for k in src:
                out[k] = merge(out[k], src[k]) if (src is over and k in base) else src[k]
                out.key_locs[k] = src.key_locs.get(k)
                out.value_locs[k] = src.value_locs.get(k)
        return out
    if isinstance(base, LList) and isinstance(over, LList) and _named_items(base):
        if not _named_items(over):
            return over
        out_list = LList(loc=over.loc)
        index: dict[str, int] = {}
        for src in (base, over):
            for item, loc in zip(src, src.item_locs, strict=True):
                k = _item_key(item)
                if k in index:
                    i = index[k]
                    out_list[i] = merge(out_list[i], item)
                    out_list.item_locs[i] = loc
                else:
                    index[k] = len(out_list)
                    out_list.append(item)
                    out_list.item_locs.append(loc)
        return out_list
    return over


def _load_chain(path: Path, seen: list[Path]) -> tuple[LDict, list[Path]]:
    resolved = path.resolve()
    shown = display_path(path)
    tree = load_yaml_file(path, shown)
    parent_ref = tree.get("extends")
    if parent_ref is None:
        return tree, [path]
    loc = tree.value_locs.get("extends")
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError("expected a path to another scenario file", loc, "extends")
    parent = (path.parent / parent_ref).resolve()
    if parent in seen or parent == resolved:
        cycle = " -> ".join(display_path(p) for p in [*seen, resolved, parent])
        raise ScenarioError(f"'extends' makes a cycle: {cycle}", loc, "extends")
    if len(seen) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(f"'extends' chain deeper than {MAX_EXTENDS_DEPTH}", loc, "extends")
    if not parent.exists():
        raise ScenarioError(
            f"no such file {parent_ref!r} (looked for {display_path(parent)})", loc, "extends"
        )
    base, chain = _load_chain(parent, [*seen, resolved])
    merged = merge(base, tree)
    for k in ("reference_timeline",):  # inherited paths: re-anchored to this file, still relative
        if k in merged and k not in tree and isinstance(merged[k], str):
            target = parent.parent / merged[k]
            merged[k] = os.path.relpath(target, path.parent)
    return merged, [path, *chain]


# -- --set dotted.key=value ----------------------------------------------------------------


def apply_override(tree: LDict, assignment: str) -> None:
    """Apply one `dotted.key=value` (value parsed as a YAML scalar or flow collection)."""
    where = Location(f"--set {assignment}")
    if "=" not in assignment:
        raise ScenarioError("expected KEY=VALUE, e.g. --set seed=7", where)
    dotted, _, raw = assignment.partition("=")
    parts = [p for p in dotted.strip().split(".")]
    if not dotted.strip() or any(not p for p in parts):
        raise ScenarioError(
            f"bad key {dotted!r}: expected a dotted path such as labs.x.rate", where
        )
    value = parse_yaml(raw, f"--set {assignment}")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, LList):
            idx = _list_index(node, part)
            if idx is None and last and isinstance(value, LDict) and not part.isdigit():
                # a new named entry (operators, expect): appended, as `extends` would merge it
                value.setdefault("name", part)
                node.append(value)
                node.item_locs.append(where)
                return
            if idx is None:
                raise ScenarioError(
                    f"'{'.'.join(parts[:i])}' is a list: address an entry by its name or index, "
                    f"not {part!r}",
                    where,
                )
            if last:
                node[idx] = value
                node.item_locs[idx] = where
                return
            node = node[idx]
        elif isinstance(node, LDict):
            if last:
                node[part] = value
                node.key_locs[part] = node.value_locs[part] = where
                return
            if part not in node or node[part] is None:
                node[part] = LDict(loc=where)
                node.key_locs[part] = node.value_locs[part] = where
            node = node[part]
        else:
            raise ScenarioError(f"'{'.'.join(parts[:i])}' is a plain value, not a mapping", where)


def _list_index(node: LList, part: str) -> int | None:
    if part.isdigit():
        i = int(part)
        return i if i < len(node) else None
    for i, item in enumerate(node):
        if isinstance(item, dict) and (item.get("name") or item.get("action")) == part:
            return i
    return None


# -- validation errors -------------------------------------------------------------------------


def _dotted(path: tuple[Any, ...]) -> str | None:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


def _model_at(model: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `path` (for key suggestions)."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _declared_int(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether the field at `loc` is declared an integer (so a bound's message can say so)."""
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(loc[-1]) if parent is not None and loc else None
    if field is None:
        return False
    args = [a for a in typing.get_args(field.annotation) if a is not type(None)]
    return field.annotation is int or args == [int]


def _unwrap(tp: Any) -> Any:
    """Strip Optional/list/Annotated wrappers down to the model inside, if any."""
    for _ in range(6):
        origin = typing.get_origin(tp)
        if origin is None:
            return tp
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if origin in (typing.Union, UnionType):
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
        elif origin in (list, tuple, typing.Annotated):
            tp = args[0]
        else:
            return tp
    return tp


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def error_message(err: dict[str, Any], model: type[BaseModel]) -> tuple[str, bool]:
    """Human message for one pydantic error; second item: locate at the key, not the value."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    loc = err["loc"]
    if kind == "extra_forbidden":
        name = loc[-1]
        parent = _model_at(model, loc[:-1])
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(str(name), list(parent.model_fields), n=1)
            if close:
                hint = f" (did you mean '{close[0]}'?)"
            else:
                hint = f" (expected one of: {', '.join(parent.model_fields)})"
        return f"unknown key '{name}'{hint}", True
    if kind == "missing":
        return f"missing required key '{loc[-1]}'", True
    if kind in ("value_error", "assertion_error"):
        exc = ctx.get("error")
        return (str(exc) if exc is not None else err["msg"]), False
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected an integer, got {_describe(value)}", False
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {_describe(value)}", False
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_describe(value)}", False
    if kind in ("string_type",):
        return f"expected a string, got {_describe(value)}", False
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {_describe(value)}", False
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}", False
    if kind == "literal_error":
        options = ctx.get("expected", "")
        close = difflib.get_close_matches(
            str(value), [o.strip(" '") for o in str(options).replace(" or ", ",").split(",")], n=1
        )
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"expected one of {options}, got {_describe(value)}{hint}", False
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound_key = {"greater_than": "gt", "greater_than_equal": "ge"}.get(kind)
        if bound_key and ctx.get(bound_key) == 0 and isinstance(value, (int, float)):
            word = "a positive" if kind == "greater_than" else "a non-negative"
            noun = "integer" if _declared_int(model, loc) else "number"
            return f"expected {word} {noun}, got {_describe(value)}", False
        words = {
            "greater_than": ("greater than", "gt"),
            "greater_than_equal": ("at least", "ge"),
            "less_than": ("less than", "lt"),
            "less_than_equal": ("at most", "le"),
        }[kind]
        return f"expected a value {words[0]} {ctx.get(words[1])}, got {_describe(value)}", False
    return f"{err['msg']}, got {_describe(value)}", False


def _validation_error(
    exc: pydantic.ValidationError, tree: LDict, model: type[BaseModel]
) -> ScenarioError:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        # pydantic adds union member tags like 'function-after[...]'; strip them from the path
        message, at_key = error_message({**err, "loc": loc}, model)
        key_path = loc[:-1] if at_key else loc
        problems.append(ScenarioError(message, locate(tree, loc, key=at_key), _dotted(key_path)))
    # one message per location and text, in file order
    unique = {(str(p.location), p.key, p.message): p for p in problems}
    ordered = sorted(
        unique.values(),
        key=lambda p: (p.location.line or 0, p.location.column or 0) if p.location else (0, 0),
    )
    return ScenarioError.many(ordered)


# -- entry point -------------------------------------------------------------------------------


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedScenario:
    """Load, merge and validate a scenario file; raise ScenarioError (located) on any problem."""
    path = Path(path)
    tree, chain = _load_chain(path, [])
    for assignment in overrides:
        apply_override(tree, assignment)
    model_cls = scenario_model()
    try:
        model = model_cls.model_validate(to_plain(tree))
    except pydantic.ValidationError as exc:
        raise _validation_error(exc, tree, model_cls) from None
    loaded = LoadedScenario(path=path, model=model, tree=tree, chain=chain)
    _check_window(loaded)
    return loaded


def _check_window(loaded: LoadedScenario) -> None:
    """Every timed, enabled action and expected time must fall inside [start, start + duration]
    (a disabled entry is kept but never performed, so its time does not matter)."""
    m = loaded.model
    end = m.duration
    problems = []
    for i, action in enumerate(m.operators):
        if action.at is None or not action.enabled:
            continue
        t = loaded.instant(action.at)
        if not 0 <= t <= end:
            problems.append(
                loaded.error(
                    ("operators", i, "at"),
                    f"{action.at} is outside the run's window "
                    f"({m.start.isoformat()} + {_fmt(end)}); move it or change start/duration",
                )
            )
    for i, exp in enumerate(m.expect):
        if exp.at is not None and not 0 <= loaded.instant(exp.at) <= end:
            problems.append(
                loaded.error(("expect", i, "at"), f"{exp.at} is outside the run's window")
            )
    if problems:
        raise ScenarioError.many(problems)


def _fmt(seconds: float) -> str:
    from ..core.units import format_duration

    return format_duration(seconds)
