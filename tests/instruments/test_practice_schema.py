"""The ``practice:`` block of an instrument (calibration training): declared, checked as ``file:line: message``,
kept in the canonical form, and absent from it (byte for byte) when an instrument has none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elicit.instruments.loading import load_file, load_text
from elicit.instruments.schema import InstrumentError, build_definition

ROOT = Path(__file__).resolve().parents[2]
BASE = """\
id: t
version: 1.0.0
languages: [en, ur]
title: {en: T, ur: ٹ}
pages:
  - id: p1
    items:
      - {id: a, type: integer, text: A}
"""
GOOD = (
    BASE
    + """\
practice:
  intro: {en: Warm up, ur: مشق}
  items:
    - id: p_everest
      type: quantiles
      text: {en: "How high is Everest?", ur: "ایورسٹ کتنا اونچا ہے؟"}
      unit: m
      min: 0
      answer: 8849
      source: {en: Survey of 2020, ur: 2020 کا سروے}
    - {id: p_nile, type: quantiles, text: "Nile?", levels: [5, 95], answer: 6650.5}
"""
)


def problems(text: str) -> list[str]:
    with pytest.raises(InstrumentError) as caught:
        load_text(text, "bad.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_a_practice_block_becomes_the_definitions_practice() -> None:
    definition = load_text(GOOD, "good.yaml")
    practice = definition.practice
    assert practice is not None
    assert practice.intro == {"en": "Warm up", "ur": "مشق"}
    assert [item.id for item in practice.items] == ["p_everest", "p_nile"]
    assert practice.answers == {"p_everest": 8849.0, "p_nile": 6650.5}
    assert practice.sources == {"p_everest": {"en": "Survey of 2020", "ur": "2020 کا سروے"}}
    everest = practice.item("p_everest")
    assert everest.type == "quantiles" and everest.levels == (5, 50, 95) and everest.min == 0
    assert everest.variables == ("p_everest.q05", "p_everest.q50", "p_everest.q95")
    assert everest.extra == {}  # the true value is not an option of the item
    assert practice.item("p_nile").levels == (5, 95)
    # Practice items are not questions of the questionnaire: not in its items, pages or export variables.
    assert [item.id for item in definition.items()] == ["a"]
    with pytest.raises(KeyError):
        definition.item("p_everest")
    # The canonical form keeps the block, and is itself a valid instrument with the same practice.
    canonical = json.loads(definition.canonical_json())
    assert canonical["practice"]["items"][0]["answer"] == 8849
    again = build_definition(canonical)
    assert again.canonical_json() == definition.canonical_json() and again.practice == practice


def test_without_a_practice_block_nothing_changes() -> None:
    definition = load_text(BASE, "plain.yaml")
    assert definition.practice is None
    assert "practice" not in definition.canonical_json()
    assert load_text(GOOD, "good.yaml").sha256 != definition.sha256


def test_the_flagship_1_1_0_has_three_practice_questions_with_sources() -> None:
    definition = load_file(ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml")
    practice = definition.practice
    assert practice is not None and len(practice.items) == 3
    assert set(practice.sources) == {item.id for item in practice.items}
    for item in practice.items:
        assert item.text is not None and set(item.text) == {"en", "ur"}
        assert item.levels == (5, 50, 95)
    assert practice.answers["practice_everest"] == 8848.86  # Nepal and China's 2020 survey
    assert load_file(ROOT / "instruments" / "defence-diplomacy" / "1.0.0.yaml").practice is None


MISTAKES = (
    BASE
    + """\
practice:
  colour: red
  intro: {en: Warm up}
  items:
    - {id: a, type: quantiles, text: X, answer: 1}
    - {id: p2, type: likert, text: X}
    - id: p3
      type: quantiles
      text: X
      relevant: "a > 1"
      seed: true
      answer: abc
    - {id: p4, type: quantiles, text: X}
    - {id: p5, type: quantiles, text: X, min: 0, max: 10, answer: 11, wrong: 1}
    - 7
    - {id: p6, text: X, answer: 1}
    - {id: p7, type: quantiles, text: X, answer: .inf}
    - {id: p8, type: quantiles, text: X, answer: true}
"""
)


def test_every_problem_of_a_practice_block_is_reported_with_its_line() -> None:
    assert problems(MISTAKES) == [
        "bad.yaml:10: unknown key 'colour' in the practice page (expected one of: intro, items)",
        "bad.yaml:11: 'intro' of the practice page has no 'ur' translation",
        "bad.yaml:13: duplicate id 'a' (first used at line 8)",
        "bad.yaml:14: practice item 'p2' has type 'likert'; practice questions must be: quantiles",
        "bad.yaml:18: 'relevant' has no meaning in practice item 'p3'",
        "bad.yaml:19: 'seed' has no meaning in practice item 'p3'",
        "bad.yaml:20: 'answer' of practice item 'p3' must be a number, not 'abc'",
        "bad.yaml:21: practice item 'p4' needs an 'answer': the known true value",
        "bad.yaml:22: unknown key 'wrong' in practice item 'p5' (quantiles) (expected one of: answer, background,"
        " families, help, id, levels, max, min, source, text, type, unit)",
        "bad.yaml:22: 'answer' of practice item 'p5' must lie between its 'min' and 'max'",
        "bad.yaml:23: each practice item must be a mapping with id, type, text and answer",
        "bad.yaml:24: practice item 'p6' needs a 'type' (practice questions are: quantiles)",
        "bad.yaml:25: 'answer' of practice item 'p7' must be a finite number, not inf",
        "bad.yaml:26: 'answer' of practice item 'p8' must be a number, not True",
    ]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("practice: 3\n", "bad.yaml:9: 'practice' must be a mapping with items (and an intro)"),
        ("practice: {items: []}\n", "bad.yaml:9: the practice page needs a non-empty list of items"),
        (
            "practice:\n  items:\n    - {id: x, type: quantiles, text: X, answer: 1}\n"
            "    - {id: y, type: quantiles, text: X, levels: [10, 90], answer: 1}\n",
            "bad.yaml:12: practice item 'y' asks for a 10-90 range; every practice item must span the same levels"
            " as the first (5-95)",
        ),
        (
            "practice:\n  items:\n    - {id: x, type: quantiles, text: X, answer: 1, source: 5}\n",
            "bad.yaml:11: 'source' of practice item 'x' must be a text or a {language: text} map",
        ),
    ],
)
def test_a_practice_block_of_the_wrong_shape(block: str, expected: str) -> None:
    assert problems(BASE + block) == [expected]


def test_a_question_may_not_take_a_practice_id_either() -> None:
    text = GOOD.replace("{id: a, type: integer, text: A}", "{id: p_nile, type: integer, text: A}")
    assert problems(text) == ["bad.yaml:19: duplicate id 'p_nile' (first used at line 8)"]
