"""The instrument language: the flagship is valid, and mistakes are reported with their lines, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elicit.instruments.loading import load_file, load_text
from elicit.instruments.schema import InstrumentError, build_definition

MINIMAL = """\
id: mini
version: 1.0.0
languages: [en, ur]
title: {en: Mini, ur: منی}
choice_sets:
  agree5: {1: A, 2: B, 3: C, 4: D, 5: E}
scales:
  s: {items: [a1, a2], reverse: [a2]}
pages:
  - id: p1
    items:
      - {id: consent, type: consent, text: {en: "Agree?", ur: "متفق؟"}, required: true}
  - id: p2
    relevant: "consent == 'yes'"
    items:
      - {id: a1, type: likert, choices: agree5, text: {en: One, ur: ایک}}
      - {id: a2, type: likert, choices: agree5, text: {en: Two, ur: دو}}
      - {id: alloc, type: constant_sum, total: 100, choices: {x: X, y: Y}, text: {en: Split, ur: تقسیم}}
      - {id: q, type: quantiles, text: {en: Guess, ur: اندازہ}}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(InstrumentError) as caught:
        load_text(text, "mini.yaml")
    return [str(p) for p in caught.value.problems]


def test_flagship_is_valid_and_complete(flagship_path: Path) -> None:
    definition = load_file(flagship_path)
    assert definition.ref == "defence-diplomacy@1.0.0"
    assert definition.languages == ("en", "ur")
    assert set(definition.scales) == {"tactical", "strategic", "economic"}
    for scale in definition.scales.values():
        assert 5 <= len(scale.items) <= 6 and scale.reverse
    types = {item.type for item in definition.items()}
    assert {
        "consent",
        "single_choice",
        "multiple_choice",
        "integer",
        "likert",
        "constant_sum",
        "ranking",
    } <= types
    assert {"quantiles", "text"} <= types
    assert definition.item("state").privacy.kind == "quasi_identifier"
    assert definition.item("years").privacy.bins is not None
    assert definition.item("rationale").privacy.kind == "free_text"
    for item in definition.items():
        assert item.text is None or set(item.text) == {"en", "ur"}


def test_minimal_instrument_loads() -> None:
    definition = load_text(MINIMAL, "mini.yaml")
    assert [i.id for i in definition.items()] == ["consent", "a1", "a2", "alloc", "q"]
    assert definition.item("q").levels == (5, 50, 95)
    assert definition.item("alloc").variables == ("alloc.x", "alloc.y")


def test_canonical_form_is_a_fixpoint_and_hash_is_stable(flagship_path: Path) -> None:
    first = load_file(flagship_path)
    again = build_definition(json.loads(first.canonical_json()))
    assert again.canonical_json() == first.canonical_json()
    assert again.sha256 == first.sha256 and len(first.sha256) == 64


def test_three_independent_mistakes_in_the_flagship_give_three_lines(
    flagship_path: Path, tmp_path: Path
) -> None:
    text = flagship_path.read_text(encoding="utf-8")
    lines = text.splitlines()
    # 1: an unknown item type; 2: a duplicate id; 3: a relevance naming an unknown item.
    type_line = next(i for i, line in enumerate(lines) if "type: quantiles" in line)
    lines[type_line] = lines[type_line].replace("quantiles", "quantile")
    dup_line = next(i for i, line in enumerate(lines) if line.strip() == "- id: str_1")
    lines[dup_line] = lines[dup_line].replace("str_1", "tac_1")
    rel_line = next(i for i, line in enumerate(lines) if "relevant:" in line and "sector" in line)
    lines[rel_line] = lines[rel_line].replace("sector ==", "sektor ==")
    broken = tmp_path / "broken.yaml"
    broken.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InstrumentError) as caught:
        load_file(broken)
    found = [(p.line, p.message) for p in caught.value.problems]
    assert any(line == type_line + 1 and "unknown type 'quantile'" in msg for line, msg in found), found
    assert any(line == dup_line + 1 and "duplicate id 'tac_1'" in msg for line, msg in found), found
    assert any(line == rel_line + 1 and "unknown item 'sektor'" in msg for line, msg in found), found
    assert all(str(p).startswith(f"{broken}:") for p in caught.value.problems)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("choices: agree5, text: {en: One", "choices: agree7, text: {en: One"),
            ":16: item 'a1' uses choice set 'agree7'",
        ),
        (("{en: Two, ur: دو}", "{en: Two}"), ":17: 'text' of item 'a2' has no 'ur' translation"),
        (("total: 100, ", ""), ":18: item 'alloc' is a constant_sum and needs a 'total'"),
        (
            ("type: quantiles,", "type: quantiles, levels: [50, 5, 95],"),
            ":19: 'levels' of item 'q' must be strictly increasing",
        ),
        (
            ("items: [a1, a2]", "items: [a1, alloc]"),
            ":8: scale 's' lists 'alloc', a constant_sum item; scale items must be likert",
        ),
        (
            ("consent == 'yes'", "consent == 'yes' and a1 > 2"),
            ":14: 'relevant' of page 'p2' names 'a1', which is not on an earlier page",
        ),
        (("consent == 'yes'", "consent == "), ":14: 'relevant' of page 'p2' does not parse"),
        (
            (
                "type: likert, choices: agree5, text: {en: One",
                "type: likret, choices: agree5, text: {en: One",
            ),
            ":16: item 'a1' has unknown type 'likret'",
        ),
        (("id: a2,", "id: a1,"), ":17: duplicate id 'a1' (first used at line 16)"),
        (("required: true}", "requird: true}"), ":12: unknown key 'requird' in item 'consent'"),
        (("reverse: [a2]", "reverse: [a3]"), ":8: reverse item 'a3' of scale 's' is not in its items"),
        (("version: 1.0.0", "version: one"), ":2: version 'one' must look like 1.0.0"),
    ],
)
def test_each_mistake_is_reported_at_its_line(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    found = problems_of(MINIMAL.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_yaml_syntax_error_has_its_line() -> None:
    found = problems_of(MINIMAL.replace("  - id: p2\n", "  - id: p2\n   bad: [\n"))
    assert len(found) == 1 and found[0].startswith("mini.yaml:")
    assert int(found[0].split(":")[1]) >= 14


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x [1, 2]\nb: *x\n", "anchors and aliases are not allowed"),
        ("a: !!python/object/apply:os.system ['true']\n", "YAML tags are not allowed"),
        ("x: " + "[" * 80 + "]" * 80 + "\n", "nesting deeper than 50"),
        ("", "the file is empty"),
        ("id: a\nid: b\n", "duplicate key 'id'"),
    ],
)
def test_hostile_yaml_is_refused_with_a_message(text: str, expected: str) -> None:
    found = problems_of(text)
    assert any(expected in p for p in found), found


def test_huge_document_is_refused() -> None:
    found = problems_of("a: '" + "x" * (1024 * 1024 + 10) + "'\n")
    assert "limited to" in found[0]


def test_yes_and_no_stay_strings() -> None:
    text = MINIMAL.replace("choices: {x: X, y: Y}", "choices: {yes: X, NO: Y}")
    definition = load_text(text, "mini.yaml")
    assert [c.code for c in definition.item("alloc").choices] == ["yes", "NO"]
