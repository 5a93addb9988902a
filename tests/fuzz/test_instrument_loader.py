"""Hostile instrument files: whatever the bytes, ``load_text`` gives a Definition or an InstrumentError.

Three kinds of input: raw bytes and text; random YAML documents; and the flagship instrument with a few random
mutations (the most telling kind: nearly valid documents reach deep into the schema checker). Plus the classic
attacks on YAML readers, each refused quickly with a message that says what is wrong.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicit.instruments.loading import load_text
from elicit.instruments.schema import Definition, InstrumentError
from elicit.instruments.yamlsource import MAX_BYTES, MAX_DEPTH, load_yaml
from tests.conftest import FLAGSHIP

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATH = "fuzz.yaml"


def load_or_refuse(source: str | bytes) -> Definition | InstrumentError:
    """Call the loader; any exception other than InstrumentError fails the test (with the input shown)."""
    try:
        return load_text(source, PATH)
    except InstrumentError as exc:
        assert exc.problems, "an InstrumentError must list at least one problem"
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        lines = text.count("\n") + 2
        for problem in exc.problems:
            assert problem.path == PATH
            assert isinstance(problem.message, str) and problem.message.strip()
            assert problem.line is None or 1 <= problem.line <= lines, (problem.line, lines)
            assert str(problem).startswith(f"{PATH}:")
        return exc


# ------------------------------------------------------------------------------------------------- strategies
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["yes", "no", "en", "ur", "likert", "integer", "quantiles", "agree5", "1.0.0", "==", "'"]
    ),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)


def _plain(value: Any) -> Any:
    """LineMap/LineList → plain dicts and lists, so yaml.safe_dump can write them back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


FLAGSHIP_DOCUMENT = _plain(load_yaml(FLAGSHIP.read_bytes()))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_flagship(draw: st.DrawFn) -> str:
    """The flagship document with 1-4 random edits: a value replaced, a key or element removed or duplicated."""
    import copy

    document = copy.deepcopy(FLAGSHIP_DOCUMENT)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths[1:]))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        operation = draw(st.sampled_from(["replace", "delete", "duplicate", "retype"]))
        if operation == "replace":
            parent[last] = draw(documents)
        elif operation == "delete":
            del parent[last]
        elif operation == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif operation == "retype":
            value = parent[last]
            parent[last] = (
                str(value)
                if not isinstance(value, str)
                else draw(st.sampled_from([0, 1.5, [], {}, None, True]))
            )
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


# ---------------------------------------------------------------------------------------------------- properties
@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_give_a_definition_or_an_instrument_error(data: bytes) -> None:
    load_or_refuse(data)


@FUZZ
@given(st.text(max_size=4096))
def test_any_text_gives_a_definition_or_an_instrument_error(text: str) -> None:
    load_or_refuse(text)


@FUZZ
@given(documents)
def test_any_yaml_document_gives_a_definition_or_an_instrument_error(document: Any) -> None:
    load_or_refuse(yaml.safe_dump(document, allow_unicode=True))


@settings(FUZZ, max_examples=150)
@given(mutated_flagship())
def test_a_mutated_flagship_gives_a_definition_or_an_instrument_error(text: str) -> None:
    load_or_refuse(text)


def test_the_unmutated_flagship_round_trip_still_loads() -> None:
    """The mutation strategy starts from a valid document (else it would only test refusals)."""
    assert isinstance(load_or_refuse(yaml.safe_dump(FLAGSHIP_DOCUMENT, allow_unicode=True)), Definition)


# ---------------------------------------------------------------------------------------------- known attacks
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
)

ATTACKS = [
    ("alias bomb (billion laughs)", BILLION_LAUGHS, "anchors and aliases are not allowed"),
    ("merge key", "base: &b {x: 1}\nother:\n  <<: *b\n", "anchors and aliases are not allowed"),
    ("deep flow nesting", "[" * 100_000 + "]" * 100_000, f"nesting deeper than {MAX_DEPTH} levels"),
    (
        "deep block nesting",
        "".join(f"{'  ' * i}k:\n" for i in range(200)) + "  " * 200 + "v",
        "nesting deeper",
    ),
    ("python object tag", "!!python/object/apply:os.system ['true']", "YAML tags are not allowed"),
    ("custom tag", "id: !include /etc/passwd", "YAML tags are not allowed"),
    ("huge document", "a: " + "x" * (MAX_BYTES + 1), f"limited to {MAX_BYTES} bytes"),
    ("two documents", "id: a\n---\nid: b\n", "expected a single document"),
    ("not utf-8", b"id: \xff\xfe\n", "not UTF-8"),
    ("empty", "", "the file is empty"),
    ("only a comment", "# nothing\n", "the file is empty"),
    ("duplicate key", "id: a\nid: b\n", "duplicate key 'id'"),
    ("a list, not a mapping", "- 1\n- 2\n", ""),
    ("a scalar", "hello", ""),
    ("control characters", "id: \x00\x01", ""),
]


@pytest.mark.parametrize(("case", "source", "message"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_known_attacks_are_refused_quickly_with_a_clear_message(
    case: str, source: str | bytes, message: str
) -> None:
    started = time.perf_counter()
    result = load_or_refuse(source)
    elapsed = time.perf_counter() - started
    assert isinstance(result, InstrumentError), case
    assert message in str(result), str(result)
    assert elapsed < 5, f"{case}: refused only after {elapsed:.1f}s"


def test_a_large_but_allowed_document_is_read_in_reasonable_time() -> None:
    """Just under the size limit, many items: slow parsing would let a few uploads tie up a worker."""
    body = "\n".join(f"  k{i}: v{i}" for i in range(60_000))
    source = f"extra:\n{body}\n"
    assert len(source.encode()) < MAX_BYTES
    started = time.perf_counter()
    load_or_refuse(source)
    assert time.perf_counter() - started < 30
