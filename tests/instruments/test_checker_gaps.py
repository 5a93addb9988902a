"""Mistakes the checker used to let through or word badly (issue 17): a choice code misspelt in skip logic, YAML
syntax errors in parser jargon, a misspelt type that also blamed the scales, and consent's blank "no" label."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import ROOT

from elicit.instruments.loading import load_file, load_text
from elicit.instruments.schema import InstrumentError
from elicit.instruments.versions import diff_definitions

BASE = """\
id: gaps
version: 1.0.0
languages: [en, ur]
title: {en: Gaps, ur: خلا}
choice_sets:
  agree5: {1: A, 2: B, 3: C, 4: D, 5: E}
scales:
  s: {items: [m1, m2], reverse: [m2]}
pages:
  - id: p1
    items:
      - {id: consent, type: consent, text: {en: "Agree?", ur: "متفق؟"}}
      - id: role
        type: single_choice
        text: {en: Role, ur: کردار}
        choices: {academic: Academic, military: Military, other: Other}
      - {id: country, type: dropdown, text: {en: Country, ur: ملک}, choices: {UK: UK, PK: PK}}
      - {id: acts, type: multiple_choice, text: {en: Acts, ur: کام}, choices: {talks: Talks, none: None}}
      - {id: years, type: integer, min: 0, max: 60, text: {en: Years, ur: سال}}
      - {id: a1, type: likert, choices: agree5, text: {en: One, ur: ایک}}
      - id: grid
        type: likert_matrix
        choices: agree5
        text: {en: Grid, ur: جال}
        rows:
          - {id: m1, text: {en: M1, ur: ایم۱}}
          - {id: m2, text: {en: M2, ur: ایم۲}}
      - id: follow
        type: text
        text: {en: Specify, ur: وضاحت}
        relevant: "EXPRESSION"
"""
FOLLOW_LINE = BASE.splitlines().index('        relevant: "EXPRESSION"') + 1


def problems_of(text: str, name: str = "gaps.yaml") -> list[str]:
    with pytest.raises(InstrumentError) as caught:
        load_text(text, name)
    return [str(p) for p in caught.value.problems]


def with_expression(expression: str) -> str:
    return BASE.replace("EXPRESSION", expression)


def test_the_base_instrument_is_valid() -> None:
    load_text(with_expression("role == 'other'"), "gaps.yaml")


@pytest.mark.parametrize(
    "expression",
    [
        "role == 'other'",
        "role != 'military'",
        "role in ['academic', 'other']",
        "role not in ['military']",
        "'UK' == country",
        "selected(acts, 'talks') and not selected(acts, 'none')",
        "'talks' in acts",
        "a1 == 3 or a1 == '4' or a1 >= 4 or 2 < a1",
        "m1 != 5 and m2 <= 1",
        "consent == 'yes' and years >= 5 and years == 61",
        "role == null or answered(role)",
    ],
)
def test_codes_that_exist_pass(expression: str) -> None:
    load_text(with_expression(expression), "gaps.yaml")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "role == 'othr'",
            "'relevant' of item 'follow' compares 'role' with 'othr', which is not a code of 'role' "
            "(its codes: academic, military, other); did you mean 'other'?",
        ),
        ("role != 'Other'", "compares 'role' with 'Other', which is not a code of 'role'"),
        ("role in ['academic', 'othr']", "compares 'role' with 'othr', which is not a code of 'role'"),
        (
            "'PKK' == country",
            "compares 'country' with 'PKK', which is not a code of 'country' (its codes: UK, PK)",
        ),
        ("selected(acts, 'talk')", "compares 'acts' with 'talk', which is not a code of 'acts'"),
        ("'nonee' in acts", "compares 'acts' with 'nonee', which is not a code of 'acts'"),
        ("a1 == 6", "compares 'a1' with 6, which is not a code of 'a1' (its codes: 1, 2, 3, 4, 5)"),
        ("m2 == 0", "compares 'm2' with 0, which is not a code of 'm2' (its codes: 1, 2, 3, 4, 5)"),
        ("consent == 'yse'", "compares 'consent' with 'yse', which is not a code of 'consent' (its codes: "),
        ("consent == true", "compares 'consent' with true, which is not a code of 'consent'"),
        ("a1 > 5", "compares 'a1' > 5, which no code of 'a1' satisfies (its codes: 1, 2, 3, 4, 5)"),
        ("0 >= m1", "compares 'm1' <= 0, which no code of 'm1' satisfies"),
        ("acts == 'talks'", "'acts' is a multiple_choice item, whose answer holds several codes"),
    ],
)
def test_a_misspelt_code_in_skip_logic_is_reported_at_its_line(expression: str, expected: str) -> None:
    found = problems_of(with_expression(expression))
    assert len(found) == 1, found
    assert found[0].startswith(f"gaps.yaml:{FOLLOW_LINE}: "), found
    assert expected in found[0], found


def test_a_code_in_a_constraint_and_in_a_page_relevance_is_checked() -> None:
    text = with_expression("role == 'other'").replace(
        "choices: {talks: Talks, none: None}}",
        "choices: {talks: Talks, none: None}, constraint: \"not (selected(., 'non') and count_selected(.) > 1)\"}",
    )
    text += (
        "  - id: p2\n    relevant: \"country == 'uk'\"\n    items:\n      - {id: n, type: note, text: Hi}\n"
    )
    found = problems_of(text)
    assert any(
        "'constraint' of item 'acts' compares 'acts' with 'non', which is not a code of 'acts'" in p
        and "did you mean 'none'?" in p
        for p in found
    ), found
    assert any(
        "'relevant' of page 'p2' compares 'country' with 'uk', which is not a code of 'country'" in p
        and "did you mean 'UK'?" in p
        for p in found
    ), found


def test_bundled_instruments_check_clean() -> None:
    paths = sorted((ROOT / "instruments").glob("*/*.yaml"))
    assert paths
    for path in paths:
        load_file(path)


# -- YAML syntax ----------------------------------------------------------------------------------------------
JARGON = ("while parsing", "while scanning", "<block end>", "<block mapping start>", "expected <", "token")


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "id: x\npages:\n  - id: p1\n    items:\n      - id: a\n       type: note\n",
            6,
            "column 8: the indentation of this line does not match the lines above it (check spaces: YAML "
            "uses indentation to nest)",
        ),
        (
            "id: x\npages:\n  - id: a\n    items: []\n   - id: b\n",
            5,
            "the indentation of this line does not match the lines above it",
        ),
        ("id: x\ntitle:\n  en: A\n ur: B\n", 4, "the indentation of this line does not match"),
        ("id: x\npages:\n  - id: a\n     type: note\n", 4, "a ':' here cannot start a key"),
        ("id: x\ntitle: Note: this\n", 2, "needs quotes"),
        ("id: x\npages:\n\t- id: a\n", 3, "a tab character: YAML indentation must use spaces"),
        ('id: x\ntitle: "Hello\nversion: 1.0.0\n', 2, "the quote opened at column 8 is never closed"),
        ("id: x\ntitle: 'It's here'\n", 2, "text after the closing quote"),
        (
            "id: x\ntitle: {en: A, ur: B\nversion: 1.0.0\n",
            3,
            "the '{' opened at line 2, column 8 is not closed",
        ),
        (
            "id: x\nlanguages: [en, ur\nversion: 1.0.0\n",
            3,
            "the '[' opened at line 2, column 12 is not closed",
        ),
        ("id: x\ntitle\nversion: 1.0.0\n", 2, "a ':' is missing"),
        ("id: x\nlanguages: - en\n", 2, "a list item ('- ') cannot start on the line of its key"),
        ("id: x\ntitle: @home\n", 2, "a value cannot begin with '@'"),
        ('id: x\ntitle: "C:\\path"\n', 2, "a backslash"),
        ("id: x\nid: y\n", 2, "duplicate key 'id' (first at line 1)"),
    ],
)
def test_yaml_errors_are_plain_sentences_at_their_line(text: str, line: int, expected: str) -> None:
    found = problems_of(text, "bad.yaml")
    assert len(found) == 1, found
    assert found[0].startswith(f"bad.yaml:{line}: "), found
    assert expected in found[0], found
    assert not any(word in found[0] for word in JARGON), found


def test_a_yaml_error_keeps_its_column() -> None:
    found = problems_of("id: x\npages:\n  - id: p1\n    items:\n      - id: a\n       type: note\n")
    assert found[0].startswith("gaps.yaml:6: column 8: ")
    assert "list that begins at line 5" in found[0], found


# -- a misspelt type ------------------------------------------------------------------------------------------
def test_a_misspelt_type_is_the_only_problem_and_names_the_closest_type(tmp_path: Path) -> None:
    text = (ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("type: likert_matrix", "type: likret_matrix", 1), encoding="utf-8")
    with pytest.raises(InstrumentError) as caught:
        load_file(broken)
    found = [str(p) for p in caught.value.problems]
    assert len(found) == 1, found
    assert "item 'tac_grid' has unknown type 'likret_matrix'; did you mean 'likert_matrix'?" in found[0]


@pytest.mark.parametrize("where", ["scale", "relevance", "hypothesis"])
def test_what_names_an_item_of_a_misspelt_type_is_not_blamed(where: str) -> None:
    expression = "a1 == 3" if where == "relevance" else "role == 'other'"
    text = with_expression(expression).replace(
        "type: likert, choices: agree5", "type: likret, choices: agree5"
    )
    if where == "scale":
        text = text.replace("items: [m1, m2], reverse: [m2]", "items: [a1, m1, m2], reverse: [a1]")
    elif where == "hypothesis":
        text += "hypotheses:\n  - {id: h1, text: H, item: a1, direction: {two_sided: true}}\n"
    found = problems_of(text)
    assert len(found) == 1, found
    assert "item 'a1' has unknown type 'likret'; did you mean 'likert'?" in found[0]


def test_an_unknown_type_without_a_close_name_gets_no_guess() -> None:
    found = problems_of(with_expression("a1 == 3").replace("type: integer", "type: pie"))
    assert len(found) == 1 and "unknown type 'pie' (expected one of: likert," in found[0], found
    assert "did you mean" not in found[0]


# -- consent's labels -----------------------------------------------------------------------------------------
def test_consent_choices_carry_the_labels_experts_see_in_every_language() -> None:
    definition = load_text(with_expression("role == 'other'"), "gaps.yaml")
    labels = {c.key: dict(c.label) for c in definition.item("consent").choices}
    assert labels["yes"]["en"] == "Yes, I agree to take part"
    assert labels["no"]["en"] == "No, I do not wish to take part"
    assert labels["yes"]["ur"] and labels["no"]["ur"] and labels["no"]["ur"] != labels["no"]["en"]


def test_consent_labels_do_not_change_the_published_sha256_or_count_as_a_change() -> None:
    old = load_file(ROOT / "instruments" / "defence-diplomacy" / "1.0.0.yaml")
    new = load_file(ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml")
    assert "consent" not in {c.item for c in diff_definitions(old, new).changed}
    assert "Yes, I agree" not in old.canonical_json()
