"""A safe YAML reader that remembers where every key and list element stands, for `file:line:` messages.

It refuses anchors and aliases (an alias bomb cannot expand), tags, deep nesting, huge documents and duplicate keys,
and reads only YAML 1.2-style booleans (`true`/`false`), so codes such as `yes`, `no`, `on` or `NO` stay strings;
dates stay strings too (the date item type checks them).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50


class YamlProblem(ValueError):
    """The document is not acceptable YAML; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class LineMap(dict[Any, Any]):
    """A mapping that knows the line of itself and of each key."""

    line: int | None = None
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int | None:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LineList(list[Any]):
    """A list that knows the line of itself and of each element."""

    line: int | None = None
    item_lines: list[int]

    def line_of(self, index: int) -> int | None:
        lines = getattr(self, "item_lines", [])
        return lines[index] if index < len(lines) else self.line


# Booleans only as YAML 1.2 writes them (below); dates stay text, so `min: 2026-13-01` is the date checker's
# problem with a line, not PyYAML's ValueError.
_UNRESOLVED = frozenset({"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"})


class _Loader(yaml.SafeLoader):
    """SafeLoader with line tracking and the refusals described in the module docstring."""

    yaml_implicit_resolvers: dict[Any, Any] = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag not in _UNRESOLVED]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # Parser.peek_event is unannotated in types-PyYAML
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YamlProblem("anchors and aliases are not allowed", event.start_mark.line + 1)
        tag = getattr(event, "tag", None)
        implicit = getattr(event, "implicit", True)
        implicit = implicit[0] if isinstance(implicit, tuple) else implicit
        if tag and not implicit and tag != "!":
            raise YamlProblem(f"YAML tags are not allowed: {tag}", event.start_mark.line + 1)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> LineMap:
        result = LineMap()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise YamlProblem("a mapping key must be a plain value", key_node.start_mark.line + 1)
            if key in result.key_lines:
                raise YamlProblem(
                    f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                    key_node.start_mark.line + 1,
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: SequenceNode, deep: bool = False) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def load_yaml(text: str | bytes) -> Any:
    """Parse one YAML document into LineMap/LineList/scalars; raise YamlProblem with a line on any refusal."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_BYTES:
        raise YamlProblem(f"the file is {size} bytes; instruments are limited to {MAX_BYTES} bytes", None)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(f"not UTF-8 text (byte {exc.start})", None) from None
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters such as NUL before parsing starts
        raise YamlProblem(str(exc).splitlines()[0] if str(exc) else "not readable as YAML", None) from None
    try:
        document = loader.get_single_node()
        if document is None:
            raise YamlProblem("the file is empty", 1)
        return loader.construct_document(document)
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlProblem(message or "invalid YAML", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc), None) from None
    except RecursionError:
        raise YamlProblem("nesting too deep", None) from None
    finally:
        loader.dispose()
