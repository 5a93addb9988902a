"""Tests of the instruments' expression language: syntax, semantics, error messages and hostile input."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicit.instruments.expressions import FUNCTIONS, Expression, ExpressionError, parse

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def value(source: str, answers: Mapping[str, object] | None = None, current: object = None) -> object:
    return parse(source).evaluate(answers or {}, current)


# Precedence and operators


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("2 * 3 % 4", 2),
        ("20 / 2 / 5", 2.0),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("-2 * 3", -6),
        ("- (2 + 3)", -5),
        ("- - 4", 4),
        ("1 - -1", 2),
        ("0.5 + .25", 0.75),
        ("1 + 2 == 3", True),
        ("2 * 3 > 5", True),
        ("not 1 == 2", True),
        ("not not true", True),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("not true or true", True),
        ("not (true or true)", False),
        ("1 < 2 and 2 < 3", True),
        ("'abc'", "abc"),
        ('"it\\"s"', 'it"s'),
        ("'back\\\\slash'", "back\\slash"),
        ("'it\\'s'", "it's"),
        ("[1, 'a', null, true]", [1, "a", None, True]),
        ("[]", []),
        ("[1, 2,]", [1, 2]),
        ("null", None),
        ("false", False),
        ("1000000000000000000", 10**18),
    ],
)
def test_precedence_and_operators(source: str, expected: object) -> None:
    result = value(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        ("consent == 'yes'", {"consent": "yes"}, True),
        ("consent == 'yes'", {"consent": "no"}, False),
        ("consent != 'yes'", {"consent": "no"}, True),
        ("answered(years) and years >= 5", {"years": 7}, True),
        ("answered(years) and years >= 5", {"years": 3}, False),
        ("answered(years) and years >= 5", {}, False),
        (
            "selected(activities, 'exercises') or count_selected(activities) > 2",
            {"activities": ["exercises"]},
            True,
        ),
        (
            "selected(activities, 'exercises') or count_selected(activities) > 2",
            {"activities": ["a", "b", "c"]},
            True,
        ),
        (
            "selected(activities, 'exercises') or count_selected(activities) > 2",
            {"activities": ["a", "b"]},
            False,
        ),
        ("state in ['UK', 'PK']", {"state": "PK"}, True),
        ("state in ['UK', 'PK']", {"state": "US"}, False),
        ("state not in ['UK', 'PK']", {"state": "US"}, True),
        ("not (tac_1 == 3) and (years * 2 + 1) % 2 == 1", {"tac_1": 2, "years": 4}, True),
        ("not (tac_1 == 3) and (years * 2 + 1) % 2 == 1", {"tac_1": 3, "years": 4}, False),
        ("a <= 2", {"a": 2}, True),
        ("a < 2", {"a": 2}, False),
        ("a >= 2.5", {"a": 3}, True),
        ("a > 2.5", {"a": 2.5}, False),
        ("when < '2024-06-01'", {"when": "2024-05-31"}, True),
        ("'b' > 'a'", {}, True),
        ("rank == 2", {"rank": 2.0}, True),
    ],
)
def test_evaluates_examples(source: str, answers: dict[str, object], expected: bool) -> None:
    assert parse(source).evaluate(answers) is expected
    assert parse(source).truthy(answers) is expected


@pytest.mark.parametrize(
    ("current", "expected"),
    [(0, True), (50, True), (100, True), (100.5, False), (-1, False), (None, False), ("50", False)],
)
def test_dot_is_the_current_value(current: object, expected: bool) -> None:
    assert parse(". >= 0 and . <= 100").truthy({}, current) is expected


def test_and_or_short_circuit_and_return_bools() -> None:
    assert value("x or y", {"x": 0, "y": "text"}) is True
    assert value("x and y", {"x": 5, "y": []}) is False
    assert value("not x", {}) is True
    # Division by zero in the right operand is never reached, and would only give null anyway.
    assert value("false and 1 / 0 == 1") is False


# Unanswered items and runtime data problems


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x == null", True),
        ("null == null", True),
        ("x != null", False),
        ("x == 0", False),
        ("x != 0", True),
        ("x < 1", False),
        ("x <= 1", False),
        ("x > 1", False),
        ("x >= 1", False),
        ("x + 1", None),
        ("x * 2 > 0", False),
        ("-x", None),
        ("x in [1, null]", False),
        ("x not in [1]", True),
        ("1 in x", False),
        ("not x", True),
        ("answered(x)", False),
        ("selected(x, 'a')", False),
        ("count_selected(x)", 0),
    ],
)
def test_unanswered_is_null(source: str, expected: object) -> None:
    assert value(source, {}) == expected
    assert value(source, {"x": None}) == expected


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        ("1 / 0", {}, None),
        ("1 % 0", {}, None),
        ("x / 0.0", {"x": 1.5}, None),
        ("x + 1", {"x": "5"}, None),
        ("x * 2", {"x": [1, 2]}, None),
        ("x + 1", {"x": True}, None),
        ("-x", {"x": "a"}, None),
        ("'a' + 'b'", {}, None),
        ("x < 5", {"x": "3"}, False),
        ("x > 'a'", {"x": 3}, False),
        ("x < 5", {"x": True}, False),
        ("x < [1]", {"x": [0]}, False),
        ("x * 10", {"x": 10**18}, None),
        ("x + 1", {"x": 10**400}, None),
        ("x > 1", {"x": 10**400}, True),
        ("x + 1", {"x": float("inf")}, None),
        ("x * x", {"x": 1e200}, None),
        ("x == x", {"x": float("nan")}, False),
    ],
)
def test_data_problems_give_null_or_false(source: str, answers: dict[str, object], expected: object) -> None:
    assert parse(source).evaluate(answers) == expected


def test_large_arithmetic_is_capped() -> None:
    assert value("999999999 * 999999999") == 999999998000000001
    assert value("999999999 * 999999999 * 999999999") is None
    assert value(" * ".join(["9999999999"] * 40)) is None
    assert value("1000000000000000000 + 1") is None
    assert value("-1000000000000000000 - 1") is None


# Equality of codes, numbers, booleans and collections


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (1, "1", True),
        ("1", 1, True),
        (1, 1.0, True),
        (1, "01", False),
        (1.0, "1", False),
        ("5", 5.0, False),
        (True, 1, False),
        (True, "true", False),
        (True, True, True),
        (False, 0, False),
        ([1, 2], [1, 2], True),
        ([1, 2], ["1", "2"], True),
        ([1, 2], [2, 1], False),
        ({"a": 1}, {"a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        (None, 0, False),
        (None, "", False),
    ],
)
def test_equality_rule(left: object, right: object, expected: bool) -> None:
    answers = {"a": left, "b": right}
    assert value("a == b", answers) is expected
    assert value("a != b", answers) is (not expected)


@pytest.mark.parametrize(
    ("answers", "source", "expected"),
    [
        ({"state": 1}, "state == '1'", True),
        ({"state": "1"}, "state == 1", True),
        ({"state": "1"}, "state in [1, 2]", True),
        ({"state": 2}, "state in ['1', '2']", True),
        ({"state": 3}, "state in ['1', '2']", False),
        ({"chosen": [1, 3]}, "3 in chosen", True),
        ({"chosen": [1, 3]}, "'3' in chosen", True),
        ({"chosen": ["a", "b"]}, "'c' in chosen", False),
        ({"chosen": ["a", "b"]}, "'c' not in chosen", True),
        ({"ranking": {"a": 1, "b": 2}}, "'b' in ranking", True),
        ({"chosen": "a"}, "'a' in chosen", False),
    ],
)
def test_choice_codes_compare_as_text(answers: dict[str, object], source: str, expected: bool) -> None:
    assert value(source, answers) is expected


# Functions


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, False),
        ("", False),
        ([], False),
        ({}, False),
        (0, True),
        (False, True),
        ("no", True),
        (["a"], True),
        ({"a": 1}, True),
    ],
)
def test_answered(answer: object, expected: bool) -> None:
    assert value("answered(x)", {"x": answer}) is expected


@pytest.mark.parametrize(
    ("answer", "code", "expected"),
    [
        (["a", "b"], "'a'", True),
        (["a", "b"], "'c'", False),
        ([1, 2], "1", True),
        ([1, 2], "'1'", True),
        (["1", "2"], "2", True),
        ("a", "'a'", True),
        (1, "'1'", True),
        ("1", "1", True),
        ("b", "'a'", False),
        ({"a": 1}, "'a'", True),
        (None, "'a'", False),
        ([], "'a'", False),
        (["a"], "null", False),
    ],
)
def test_selected(answer: object, code: str, expected: bool) -> None:
    assert value(f"selected(x, {code})", {"x": answer}) is expected


def test_selected_accepts_any_expression_as_the_code() -> None:
    assert value("selected(x, y)", {"x": ["a", "b"], "y": "b"}) is True
    assert value("selected(., 'b')", {}, ["b"]) is True


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(None, 0), ("", 0), ([], 0), (["a", "b", "c"], 3), ({"a": 1, "b": 2}, 2), ("a", 1), (0, 1)],
)
def test_count_selected(answer: object, expected: int) -> None:
    assert value("count_selected(x)", {"x": answer}) == expected


def test_a_parenthesised_reference_is_a_reference() -> None:
    assert value("count_selected((x))", {"x": [1, 2]}) == 2


def test_functions_constant() -> None:
    assert frozenset({"answered", "selected", "count_selected"}) == FUNCTIONS


# Syntax errors and their messages


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("a == 1)", "unexpected ')' at column 7"),
        ("1 +", "expected an expression at column 4"),
        ("a == and", "expected an expression, found 'and' at column 6"),
        ("(a == 1", "expected ')' to close the '(' at column 1, found end of expression at column 8"),
        ("[1, 2", "expected ']' to close the '[' at column 1, found end of expression at column 6"),
        ("a < b < c", "'<' cannot be chained; use 'and' at column 7"),
        ("a == b in c", "'in' cannot be chained; use 'and' at column 8"),
        ("a < b not in c", "'not in' cannot be chained; use 'and' at column 7"),
        ("a == 'abc", "unterminated string starting at column 6"),
        ("'abc\\", "unterminated string starting at column 1"),
        ("'a\\nb'", "invalid escape '\\n' (only \\', \\\" and \\\\ are escapes) at column 3"),
        ("foo(x)", "unknown function 'foo' at column 1"),
        ("len(x) > 2", "unknown function 'len' at column 1"),
        ("answered()", "answered() takes 1 argument (0 given) at column 1"),
        ("answered(x, y)", "answered() takes 1 argument (2 given) at column 1"),
        ("x and selected(x)", "selected() takes 2 arguments (1 given) at column 7"),
        ("selected(x, 'a', 'b')", "selected() takes 2 arguments (3 given) at column 1"),
        ("count_selected(x, 1)", "count_selected() takes 1 argument (2 given) at column 1"),
        ("answered('x')", "the first argument of answered() must be an item id or '.' at column 10"),
        ("selected(1, x)", "the first argument of selected() must be an item id or '.' at column 10"),
        ("answered == 1", "'answered' is a function; write answered(...) at column 1"),
        ("a = 1", "use '==' to compare, not '=' at column 3"),
        ("!a", "use 'not', not '!' at column 1"),
        ("a && b", "use 'and', not '&&' at column 3"),
        ("a || b", "use 'or', not '||' at column 3"),
        ("2 ** 3", "there is no power operator at column 3"),
        ("x == True", "write 'true', not 'True' at column 6"),
        ("x == None", "write 'null', not 'None' at column 6"),
        (
            "Consent == 1",
            "invalid name 'Consent' (item ids are lowercase letters, digits and '_', starting with a letter)"
            " at column 1",
        ),
        ("1e5", "invalid number '1e5' at column 1"),
        ("1.", "expected digits after the decimal point at column 3"),
        ("1.2.3", "invalid number '1.2.3' at column 1"),
        ("12abc", "invalid number '12abc' at column 1"),
        ("a @ b", "unexpected character '@' at column 3"),
        ("a not b", "unexpected 'not' at column 3"),
        ("x == 'é' and ü", "unexpected character 'ü' at column 14"),
        ("+1", "expected an expression, found '+' at column 1"),
        ("1000000000000000001", "number is too large (at most 10**18) at column 1"),
        ("0" * 33, "number is longer than 32 characters at column 1"),
    ],
)
def test_error_messages(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert str(caught.value) == message


def test_error_carries_message_and_zero_based_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("a == 1)")
    assert caught.value.message == "unexpected ')'"
    assert caught.value.position == 6
    assert isinstance(caught.value, ValueError)


def test_error_without_position_and_pickling() -> None:
    error = ExpressionError("empty expression")
    assert str(error) == "empty expression"
    assert error.position is None
    copy = pickle.loads(pickle.dumps(ExpressionError("bad", 3)))  # noqa: S301 - our own object
    assert (copy.message, copy.position, str(copy)) == ("bad", 3, "bad at column 4")


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "__import__('os').system('ls')",
        "a.b",
        "a.__class__",
        "().__class__.__bases__",
        "x[0]",
        "[1, 2][0]",
        "'abc'[0]",
        "lambda: 1",
        "lambda x: x",
        "x if y else z",
        "(x for x in y)",
        "[x for x in y]",
        "open('/etc/passwd')",
        "eval('1')",
        "exec('1')",
        "getattr(x, 'y')",
        "{'a': 1}",
        "f'{x}'",
        "x := 1",
        "x; y",
        "x, y",
        "x ** 2",
        "~x",
        "x // 2",
        "x is null",
        "x is not null",
        "1 if x else 2",
        "b'abc'",
        "1e9",
        "0x1f",
        "1_000",
        "print(1)",
        "answered(x)(y)",
        "(x)(y)",
        "x.y(z)",
        "# comment",
        "x == 1 # comment",
        "`x`",
        "$x",
    ],
)
def test_python_constructs_are_syntax_errors(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse(source)


# References, caching and immutability


@pytest.mark.parametrize(
    ("source", "references", "uses_self"),
    [
        ("consent == 'yes'", {"consent"}, False),
        ("answered(years) and years >= 5", {"years"}, False),
        ("selected(activities, other) or count_selected(b2) > 2", {"activities", "other", "b2"}, False),
        (". >= 0 and . <= max_value", {"max_value"}, True),
        ("selected(., 'a')", set(), True),
        ("1 + 2 == 3", set(), False),
        ("state in [a, b, 'c']", {"state", "a", "b"}, False),
        ("not (tac_1 == 3) and -(years * 2) < x_y", {"tac_1", "years", "x_y"}, False),
        ("'answered(x)' == text", {"text"}, False),
    ],
)
def test_references_and_uses_self(source: str, references: set[str], uses_self: bool) -> None:
    expression = parse(source)
    assert expression.references() == frozenset(references)
    assert expression.uses_self() is uses_self


def test_parse_is_cached() -> None:
    first = parse("cached_item == 1")
    assert parse("cached_item == 1") is first
    assert parse.cache_info().maxsize == 4096


def test_expression_is_immutable_and_compares_by_source() -> None:
    expression = parse("a == 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expression.source = "b == 1"  # type: ignore[misc]
    assert Expression("a == 1") == expression
    assert hash(Expression("a == 1")) == hash(expression)
    assert Expression("a == 1") != parse("a == 2")
    assert repr(expression) == "Expression(source='a == 1')"
    assert pickle.loads(pickle.dumps(expression)).evaluate({"a": 1}) is True  # noqa: S301 - our own object


def test_constructing_directly_validates() -> None:
    with pytest.raises(ExpressionError):
        Expression("a ==")
    with pytest.raises(ExpressionError, match="must be text"):
        parse(5)


def test_evaluate_does_not_mutate_answers() -> None:
    answers: dict[str, object] = {"chosen": ["a"], "n": 1}
    parse("selected(chosen, 'a') and n + 1 == 2 and chosen in [['a']]").evaluate(answers)
    assert answers == {"chosen": ["a"], "n": 1}


# Limits on hostile input


@pytest.mark.parametrize(
    "source",
    [
        "(" * 51 + "1" + ")" * 51,
        "-" * 51 + "1",
        "not " * 51 + "x",
        "[" * 51 + "]" * 51,
        "answered(" * 51 + "x" + ")" * 51,
        "(" * 400 + "1" + ")" * 400,
        "-" * 1999 + "1",
    ],
)
def test_nesting_depth_is_limited(source: str) -> None:
    with pytest.raises(ExpressionError, match="nested more than 50 levels"):
        parse(source)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert value("(" * 50 + "1" + ")" * 50) == 1
    assert value("not " * 49 + "x", {}) is True
    assert value("not " * 50 + "x", {}) is False
    assert value("-" * 50 + "1") == 1


def test_source_length_is_limited() -> None:
    with pytest.raises(ExpressionError, match="longer than 2000 characters"):
        parse("x == 1 or " * 200 + "x == 1")
    assert value(" " * 1990 + "x == 1", {"x": 1}) is True


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        ("1 +" * 666 + " 1", {}, 667),
        ("x == 1 or " * 199 + "x == 2", {"x": 2}, True),
        ("x and " * 330 + "x", {"x": 1}, True),
        ("x * " * 499 + "x", {"x": 1}, 1),
    ],
)
def test_long_flat_chains_do_not_recurse(source: str, answers: dict[str, object], expected: object) -> None:
    assert len(source) <= 2000
    assert value(source, answers) == expected


def test_deeply_nested_answers_do_not_recurse() -> None:
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    assert value("x == y", {"x": deep, "y": deep}) is False
    assert value("x in [y]", {"x": deep, "y": deep}) is False


# Properties

NAMES = ["a", "b", "x1", "item_2"]
TOKENS = [
    *NAMES,
    *sorted(FUNCTIONS),
    "and", "or", "not", "in", "true", "false", "null",
    "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%",
    "(", ")", "[", "]", ",", ".", "'a'", '"b"', "'", "0", "12", "3.5", ".5", "1000000000000000000",
]  # fmt: skip


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_expression_error(source: str) -> None:
    try:
        expression = parse(source)
    except ExpressionError as error:
        assert error.position is None or 0 <= error.position <= len(source)
    else:
        assert isinstance(expression, Expression)


@PROPERTY_SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup_parses_or_raises_expression_error(source: str) -> None:
    try:
        expression = parse(source)
    except ExpressionError as error:
        assert error.position is None or 0 <= error.position <= len(source)
    else:
        expression.evaluate({})


def _numbers() -> st.SearchStrategy[str]:
    integers = st.integers(min_value=0, max_value=10**18).map(str)
    decimals = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False).map(str)
    return st.one_of(integers, decimals)


def _strings() -> st.SearchStrategy[str]:
    def quote(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return st.text(max_size=5).map(quote)


def _atoms() -> st.SearchStrategy[str]:
    names = st.sampled_from(NAMES)
    return st.one_of(
        _numbers(),
        _strings(),
        st.sampled_from(["true", "false", "null", "."]),
        names,
        names.map(lambda name: f"answered({name})"),
        names.map(lambda name: f"count_selected({name})"),
        st.tuples(names, st.one_of(_numbers(), _strings(), names)).map(
            lambda pair: f"selected({pair[0]}, {pair[1]})"
        ),
    )


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operators = ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or", "+", "-", "*", "/", "%"]
    return st.one_of(
        st.tuples(children, st.sampled_from(operators), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda child: f"(not {child})"),
        children.map(lambda child: f"-{child}"),
        st.lists(children, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
    )


EXPRESSIONS = st.recursive(_atoms(), _combine, max_leaves=12)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(max_size=5),
)
ANSWER_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
    ),
    max_leaves=10,
)
ANSWERS = st.dictionaries(st.sampled_from(NAMES), ANSWER_VALUES)


@PROPERTY_SETTINGS
@given(EXPRESSIONS, ANSWERS, ANSWER_VALUES)
def test_generated_expressions_parse_and_evaluate(
    source: str, answers: dict[str, object], current: object
) -> None:
    expression = parse(source)
    assert expression.references() <= frozenset(NAMES)
    expression.evaluate(answers, current)
    assert isinstance(expression.truthy(answers, current), bool)


@PROPERTY_SETTINGS
@given(EXPRESSIONS)
def test_parsing_ignores_surrounding_whitespace(source: str) -> None:
    assert parse(f"  {source}\n").references() == parse(source).references()


@PROPERTY_SETTINGS
@given(st.integers(min_value=-(10**18), max_value=10**18), st.integers(min_value=-(10**18), max_value=10**18))
def test_arithmetic_matches_python_within_range(a: int, b: int) -> None:
    answers = {"a": a, "b": b}
    for source, expected in [("a + b", a + b), ("a - b", a - b), ("a * b", a * b)]:
        assert value(source, answers) == (expected if abs(expected) <= 10**18 else None)
    assert value("a < b", answers) is (a < b)
    assert value("a == b", answers) is (a == b)
    assert value("a % b", answers) == (a % b if b else None)
