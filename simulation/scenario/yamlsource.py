"""Safe YAML loading that remembers where every key and value came from.

`load_yaml_file(path)` returns a tree of `LDict` / `LList` (plain dict and list subclasses) whose
nodes carry the `Location` (file, line, column) of each key and value, so a validation error deep
in the tree can still say `scenarios/x.yaml:12:5`. Loading is safe: only plain YAML data (mappings,
sequences, strings, numbers, booleans, null, timestamps as strings); any other tag, `!!python/...`
first among them, is refused and nothing is ever constructed or executed. Anchors and aliases are
allowed, but the expanded tree is bounded (`MAX_NODES`), so a "billion laughs" alias bomb is
refused in milliseconds with bounded memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from ..core.errors import Location, ScenarioError

MAX_NODES = 50_000
"""Largest expanded tree accepted (every mapping, sequence and scalar counts one)."""
MAX_BYTES = 8 * 1024 * 1024
"""Largest scenario file accepted."""

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}


class LDict(dict):
    """A mapping that knows where it, each key and each value stand in the source."""

    def __init__(self, *args: Any, loc: Location | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc = loc
        self.key_locs: dict[Any, Location] = {}
        self.value_locs: dict[Any, Location] = {}


class LList(list):
    """A sequence that knows where it and each item stand in the source."""

    def __init__(self, *args: Any, loc: Location | None = None) -> None:
        super().__init__(*args)
        self.loc = loc
        self.item_locs: list[Location | None] = []


def _loc(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed node graph into located plain data, counting expanded nodes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0
        self.constructor = SafeConstructor()

    def build(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ScenarioError(
                f"the document expands to more than {MAX_NODES:,} nodes "
                "(nested anchors/aliases?); refused",
                _loc(self.file, node),
            )
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise ScenarioError(
                f"tag '{tag}' is not allowed: scenario files hold plain data only "
                "(loaded safely, never executed)",
                _loc(self.file, node),
            )
        if isinstance(node, yaml.MappingNode):
            out = LDict(loc=_loc(self.file, node))
            self.constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ScenarioError("a key must be a plain value", _loc(self.file, key_node))
                # Keys are names: take the text as written, so YAML 1.1's `on`/`no`/`yes` or
                # `1` stay the keys `"on"`, `"no"`, `"1"` instead of booleans and numbers.
                self.build(key_node)  # counts the node and refuses foreign tags
                key = key_node.value
                if key in out:
                    raise ScenarioError(
                        f"duplicate key {key!r} (first at line {out.key_locs[key].line})",
                        _loc(self.file, key_node),
                    )
                out[key] = self.build(value_node)
                out.key_locs[key] = _loc(self.file, key_node)
                out.value_locs[key] = _loc(self.file, value_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = LList(loc=_loc(self.file, node))
            for item in node.value:
                seq.append(self.build(item))
                seq.item_locs.append(_loc(self.file, item))
            return seq
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # keep the text: our Timestamp type insists on an offset
        return self.constructor.construct_object(node, deep=True)


def read_text(path: Path, shown: str) -> str:
    """Read a scenario file as UTF-8 text, refusing directories, binaries and huge files."""
    if path.is_dir():
        raise ScenarioError("is a directory; expected a scenario YAML file", Location(shown))
    if not path.exists():
        raise ScenarioError("no such file", Location(shown))
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ScenarioError(
            f"file is {size:,} bytes; scenario files are at most {MAX_BYTES:,}", Location(shown)
        )
    data = path.read_bytes()
    if b"\x00" in data:
        raise ScenarioError("is a binary file; expected UTF-8 YAML text", Location(shown))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"is not UTF-8 text (invalid byte 0x{data[exc.start]:02x}); save it as UTF-8",
            Location(shown, line),
        ) from None


def parse_yaml(text: str, shown: str) -> Any:
    """Parse one YAML document into located plain data (see module docstring)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(shown, mark.line + 1, mark.column + 1) if mark else Location(shown)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(f"YAML syntax error: {problem}", where) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {exc}", Location(shown)) from None
    if node is None:
        return None
    return _Builder(shown).build(node)


def load_yaml_file(path: Path, shown: str | None = None) -> LDict:
    """Load a scenario file: a non-empty mapping at the top, located (see module docstring)."""
    shown = shown or str(path)
    data = parse_yaml(read_text(path, shown), shown)
    if data is None:
        raise ScenarioError(
            "the file is empty; a scenario is a mapping with at least 'start' and 'duration'",
            Location(shown, 1, 1),
        )
    if not isinstance(data, LDict):
        raise ScenarioError(
            f"expected a mapping of scenario keys at the top level, got a {_kind(data)}",
            Location(shown, 1, 1),
        )
    return data


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def to_plain(value: Any) -> Any:
    """Strip locations: nested plain dicts and lists (what pydantic validates)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def locate(tree: Any, path: tuple[Any, ...], *, key: bool = False) -> Location | None:
    """The location of `path` in a located tree: of the value, or of the key with `key=True`.

    Walks as deep as the path exists and returns the deepest known location, so an error about
    a missing key points at the mapping that lacks it.
    """
    node, best = tree, getattr(tree, "loc", None)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, LDict) and part in node:
            loc = node.key_locs.get(part) if (last and key) else node.value_locs.get(part)
            best = loc or best
            node = node[part]
        elif isinstance(node, LList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locs[part] or best
            node = node[part]
        else:
            break
    return best
