"""A safe YAML reader that remembers where every key and list element stands, for `file:line:` messages.

It refuses anchors and aliases (an alias bomb cannot expand), tags, deep nesting, huge documents and duplicate keys,
and reads only YAML 1.2-style booleans (`true`/`false`), so codes such as `yes`, `no`, `on` or `NO` stay strings;
dates stay strings too (the date item type checks them). A syntax error is reported as a sentence saying what to
change, with its line and column, rather than in the parser's terms.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50


class YamlProblem(ValueError):
    """The document is not acceptable YAML; ``line`` and ``column`` are 1-based or None."""

    def __init__(self, message: str, line: int | None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


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
                    f"duplicate key {key!r} (first at line {result.key_lines[key]}): a key may appear only "
                    "once in the same mapping",
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
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


# -- syntax errors in words: PyYAML names its own states ("while parsing a block collection expected <block end>");
# the author needs to hear what to change in the file. Each keeps the parser's position (line and column).
INDENTATION = "the indentation of this line does not match the lines above it (check spaces: YAML uses indentation to nest)"
_CANNOT_START = re.compile(r"found character (?P<char>.+?) that cannot start any token")
_BLOCK = {"while parsing a block collection": "list", "while parsing a block mapping": "mapping"}
_FLOW = {"while parsing a flow mapping": ("{", "}"), "while parsing a flow sequence": ("[", "]")}


def _at(mark: Any, message: str) -> YamlProblem:
    return YamlProblem(message, mark.line + 1 if mark else None, mark.column + 1 if mark else None)


def _syntax(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    """A syntax error as a sentence saying what to change, at the place the parser stopped (or, for an unclosed
    quote or a key without ':', where the thing began)."""
    problem, context = exc.problem or "", exc.context or ""
    mark, opened = exc.problem_mark or exc.context_mark, exc.context_mark
    where = f"line {opened.line + 1}, column {opened.column + 1}" if opened else ""
    if "'\\t'" in problem:
        return _at(
            mark, "a tab character: YAML indentation must use spaces, not tabs (replace it with spaces)"
        )
    cannot_start = _CANNOT_START.search(problem)
    if cannot_start:
        char = cannot_start["char"]
        return _at(mark, f"a value cannot begin with {char}: put the whole value in quotes")
    if context == "while scanning a quoted scalar" and "end of stream" in problem:
        column = opened.column + 1 if opened else "?"
        return _at(opened, f"the quote opened at column {column} is never closed: add the closing quote")
    if context == "while scanning a double-quoted scalar" and "escape" in problem:
        return _at(
            mark,
            "inside double quotes a backslash starts an escape such as \\n, and this one is not valid: write "
            "\\\\ for a backslash, or put the value in single quotes",
        )
    if problem == "mapping values are not allowed here":
        return _at(
            mark,
            "a ':' here cannot start a key: either this line is indented more than the key it belongs to, or "
            "the value contains ': ' and needs quotes (e.g. text: \"Note: this\")",
        )
    if problem.startswith(("sequence entries are not allowed", "block sequence entries are not allowed")):
        return _at(
            mark,
            "a list item ('- ') cannot start on the line of its key: put it on the next line, indented under "
            "the key, or write the list as [a, b]",
        )
    if problem == "could not find expected ':'":
        return _at(
            opened or mark,
            "a ':' is missing after the key on this line, or the line continues the text above and must be "
            "indented like it",
        )
    if context in _FLOW:
        opening, closing = _FLOW[context]
        return _at(
            mark,
            f"the '{opening}' opened at {where} is not closed, or a ',' is missing between its entries "
            f"(close it with '{closing}')",
        )
    if problem.startswith("expected the node content"):
        return _at(mark, "a value is missing here (two ',' in a row, or a ',' just before a closing bracket)")
    if problem.startswith("expected <block end>"):
        found = problem.rsplit("but found ", 1)[-1]
        if found in ("']'", "'}'"):
            return _at(mark, f"a {found} that closes nothing: remove it, or add the opening bracket")
        if found == "'<scalar>'" and mark is not None:
            start = text.rfind("\n", 0, mark.pointer) + 1
            if text[start : mark.pointer].rstrip().endswith(("'", '"')):
                return _at(
                    mark,
                    "text after the closing quote of a value: a value in quotes ends at its closing quote, so "
                    "put the whole value in quotes (inside '...' write an apostrophe as '', or use \"...\")",
                )
        kind = _BLOCK.get(context)
        detail = f"; it does not fit the {kind} that begins at {where}" if kind and where else ""
        return _at(mark, INDENTATION + detail)
    if problem.startswith(("did not find expected key", "did not find expected '-' indicator")):
        kind = _BLOCK.get(context)
        detail = f"; it does not fit the {kind} that begins at {where}" if kind and where else ""
        return _at(mark, INDENTATION + detail)
    if context.startswith("expected a single document"):
        return _at(
            mark,
            "expected a single document, but a second one starts here ('---'): an instrument is one document",
        )
    return _at(mark, " ".join(part for part in (context, problem) if part) or "invalid YAML")


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
    except yaml.reader.ReaderError as exc:  # control characters such as NUL are refused before parsing starts
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        message = f"a control character ({code}) that YAML does not allow: delete it"
        raise YamlProblem(message, line, column) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc).splitlines()[0] if str(exc) else "not readable as YAML", None) from None
    try:
        document = loader.get_single_node()
        if document is None:
            raise YamlProblem("the file is empty", 1)
        return loader.construct_document(document)
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        raise _syntax(exc, text) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc), None) from None
    except RecursionError:
        raise YamlProblem("nesting too deep", None) from None
    finally:
        loader.dispose()
