"""XLSForm's XPath in Elicit's expression language and back: what translates, what is refused and why."""

from __future__ import annotations

import pytest

from elicit.instruments.expressions import parse as parse_elicit
from elicit.instruments.formats.xpath import XPathError, choice_filter, to_elicit, to_xpath


def names(name: str) -> str:
    """Question names as item ids (the reader's Identifiers do the same for these names)."""
    if name == "nowhere":
        raise XPathError("${nowhere} names no question of the form")
    return name.lower()


def elicit(source: str) -> str:
    return to_elicit(source, names, consent={"ack"})


@pytest.mark.parametrize(
    ("xpath", "expected"),
    [
        ("${sector} = 'other'", "sector == 'other'"),
        ("${years} != 5", "years != 5"),
        ("${years} >= 2 and ${years} < 10", "years >= 2 and years < 10"),
        (". >= 0 and . <= 100", ". >= 0 and . <= 100"),
        ("${a} = 'x' or ${b} = 'y' and ${c} = 'z'", "a == 'x' or b == 'y' and c == 'z'"),
        ("(${a} = 'x' or ${b} = 'y') and ${c} = 'z'", "(a == 'x' or b == 'y') and c == 'z'"),
        ("not(${a} = 'x')", "not a == 'x'"),
        ("not(${a} = 'x' or ${b} = 'y')", "not (a == 'x' or b == 'y')"),
        ("selected(${activities}, 'exercises')", "selected(activities, 'exercises')"),
        ("selected(., 'none')", "selected(., 'none')"),
        ("count-selected(${activities}) > 2", "count_selected(activities) > 2"),
        ("count-selected(.) <= 3", "count_selected(.) <= 3"),
        ("${state} != ''", "answered(state)"),
        ("${state} = ''", "not answered(state)"),
        ("'' != ${state}", "answered(state)"),
        ("not(${state} = '')", "answered(state)"),
        ("string-length(${why}) > 0", "answered(why)"),
        ("string-length(${why}) = 0", "not answered(why)"),
        ("${a} + ${b} * 2 > 10", "a + b * 2 > 10"),
        ("(${a} + ${b}) * 2 > 10", "(a + b) * 2 > 10"),
        ("${a} - (${b} - ${c}) = 0", "a - (b - c) == 0"),
        ("${a} div 2 = 1 and ${a} mod 2 = 0", "a / 2 == 1 and a % 2 == 0"),
        ("-${a} < -1.5", "-a < -1.5"),
        ("${flag} = true()", "flag == true"),
        ("false()", "false"),
        ("${a} = ${b} = ${c}", "(a == b) == c"),
        ("not(${a}) = true()", "(not a) == true"),
        (". >= date('2026-01-01')", ". >= '2026-01-01'"),
        ('${name} = "O\'Brien"', "name == 'O\\'Brien'"),
        ("${ack} = 'OK'", "ack == 'yes'"),
        ("${ack} != ''", "ack == 'yes'"),
        ("5. > ${a}", "5.0 > a"),
    ],
)
def test_xpath_translates_to_elicit(xpath: str, expected: str) -> None:
    assert elicit(xpath) == expected
    parse_elicit(expected)  # and it is a valid Elicit expression


def test_a_name_that_is_no_identifier_reads_as_its_renamed_item() -> None:
    assert to_elicit("${Q1-a} = 1 and ${Q1.b} > 2", {"Q1-a": "q1_a", "Q1.b": "q1_b"}.__getitem__) == (
        "q1_a == 1 and q1_b > 2"
    )


@pytest.mark.parametrize(
    ("xpath", "message"),
    [
        ("if(${a} > 1, true(), false())", "if() has no equivalent in Elicit's expressions"),
        ("regex(., '[a-z]+')", "regex() has no equivalent"),
        ("string-length(.) > 5", "string-length() has no equivalent"),
        ("today() > ${d}", "today() has no equivalent"),
        ("jr:choice-name(${a}, '${a}')", "jr:choice-name() has no equivalent"),
        ("concat(${a}, 'x') = 'yx'", "concat() has no equivalent"),
        ("pulldata('x', 'y', 'z', ${a}) = 1", "pulldata() reads an external file"),
        ("/data/a = 1", "paths such as /data/x have no equivalent"),
        ("../a = 1", "'..' (a path to a parent node) has no equivalent"),
        ("a = 1", "'a' is an XPath path, not a question: refer to a question as ${a}"),
        ("${a} | ${b}", "'|' (a union of node sets) has no equivalent"),
        ("${a} = = 1", "expected a value at column 8, found '='"),
        ("${a = 1", "'${' at column 1 must be followed by a question name and '}'"),
        ("${a} = 'open", "the string starting at column 8 is not closed"),
        ("(${a} = 1", "expected ')' at column 10, found end of expression"),
        ("", "the expression is empty"),
        ("${nowhere} = 1", "${nowhere} names no question of the form"),
        ("selected('a', 'b')", "the first argument of selected() must be a question ${name} or '.'"),
        ("date(${a}) > .", "date() is translated only with a literal date"),
        ("(" * 60 + "1" + ")" * 60, "nested more than 50 levels deep"),
    ],
)
def test_what_has_no_equivalent_is_named(xpath: str, message: str) -> None:
    with pytest.raises(XPathError) as caught:
        elicit(xpath)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("sector == 'other'", "${sector} = 'other'"),
        ("answered(state)", "${state} != ''"),
        ("not answered(state)", "${state} = ''"),
        ("consent == 'yes'", "${consent} = 'OK'"),
        ("consent == 'no'", "${consent} != 'OK'"),
        ("answered(consent)", "${consent} = 'OK'"),
        (
            "selected(activities, 'exercises') or count_selected(activities) > 2",
            "selected(${activities}, 'exercises') or count-selected(${activities}) > 2",
        ),
        ("state in ['UK', 'PK']", "${state} = 'UK' or ${state} = 'PK'"),
        ("state not in ['UK', 'PK']", "not(${state} = 'UK' or ${state} = 'PK')"),
        ("'exports' in activities", "selected(${activities}, 'exports')"),
        ("a / 2 % 3 == 1", "${a} div 2 mod 3 = 1"),
        ("(a + b) * 2 > 10 and not (c == 1)", "(${a} + ${b}) * 2 > 10 and not(${c} = 1)"),
        ("a - (b - c) == 0", "${a} - (${b} - ${c}) = 0"),
        ("x == null", "${x} = ''"),
        (". >= '2026-01-01'", ". >= date('2026-01-01')"),
        ("flag == true", "${flag} = true()"),
        ("selected(grid, 3)", "selected(${grid}, '3')"),
        ("share >= 0.25", "${share} >= 0.25"),
    ],
)
def test_elicit_expressions_are_written_as_xpath(source: str, expected: str) -> None:
    assert to_xpath(source, lambda ident: ident, consent={"consent"}) == expected


@pytest.mark.parametrize(
    "xpath",
    [
        "${sector} = 'other'",
        "selected(${activities}, 'exercises') or count-selected(${activities}) > 2",
        "${state} != '' and not(${years} >= 3)",
        "(${a} + ${b}) * 2 > 10 or ${c} = 'no'",
        ". >= ${years} or ${years} = ''",
        ". >= 0 and . + ${share} <= 100",
        "${a} div 2 mod 3 = 1",
    ],
)
def test_xpath_survives_the_round_trip(xpath: str) -> None:
    assert to_xpath(elicit(xpath), lambda ident: ident) == xpath


def test_an_expression_xpath_cannot_hold_is_refused() -> None:
    with pytest.raises(XPathError, match="both kinds of quote"):
        to_xpath("name == 'a\\'b\"c'", lambda ident: ident)
    with pytest.raises(XPathError, match="holds as several questions"):

        def composite(ident: str) -> str:
            raise XPathError(f"'{ident}' is a quantiles item, which XLSForm holds as several questions")

        to_xpath("answered(guess)", composite)


def test_a_static_choice_filter_is_evaluated_on_the_choices() -> None:
    keep = choice_filter("area != 'polar' and (size > 2 or name = 'asia')")
    assert keep({"area": "land", "size": "3", "name": "europe"})
    assert keep({"area": "land", "size": "1", "name": "asia"})
    assert not keep({"area": "polar", "size": "9", "name": "antarctica"})
    assert not keep({"area": "land", "size": "1", "name": "africa"})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("state = ${state}", "it depends on the answer to ${state}; Elicit shows every choice of a question"),
        ("selected(${a}, name)", "it depends on the answer to ${a}"),
        ("starts-with(name, 'a')", "starts-with() is not supported in a choice_filter"),
    ],
)
def test_a_choice_filter_that_reads_answers_is_refused(source: str, message: str) -> None:
    with pytest.raises(XPathError) as caught:
        choice_filter(source)
    assert message in str(caught.value)
