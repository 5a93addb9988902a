"""The ``hypotheses:`` block of an instrument (declared primary hypotheses): declared, checked as
``file:line: message``, kept in the canonical form, absent from it when an instrument has none, and carried to
the export's codebook."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from elicit.exporting.codebook import codebook_html, hypotheses_entries
from elicit.instruments.loading import load_text
from elicit.instruments.schema import Hypothesis, InstrumentError, build_definition

BASE = """\
id: t
version: 1.0.0
languages: [en, ur]
title: {en: T, ur: ٹ}
pages:
  - id: p1
    items:
      - {id: a, type: likert, text: A, choices: {1: one, 2: two, 3: three}}
      - {id: b, type: likert, text: B, choices: {1: one, 2: two, 3: three}}
      - {id: years, type: integer, text: Years}
      - {id: note, type: text, text: Anything else}
scales:
  eco: {items: [a, b]}
"""
GOOD = (
    BASE
    + """\
hypotheses:
  - id: h1
    text: {en: "PK rate economic leverage higher than UK", ur: "پاکستانی ماہرین"}
    scale: eco
    compare: cohorts
    direction: {greater: PK, less: UK}
  - id: h2
    text: Years differ
    item: years
    direction: {two_sided: true}
  - {id: h3, text: Named pair, item: a, direction: {two_sided: [UK, IN]}}
"""
)


def problems(text: str) -> list[str]:
    with pytest.raises(InstrumentError) as caught:
        load_text(text, "bad.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_declared_hypotheses_become_the_definitions_hypotheses() -> None:
    definition = load_text(GOOD, "good.yaml")
    assert definition.hypotheses == (
        Hypothesis(
            "h1",
            {"en": "PK rate economic leverage higher than UK", "ur": "پاکستانی ماہرین"},
            scale="eco",
            greater="PK",
            less="UK",
            cohorts=("PK", "UK"),
        ),
        Hypothesis("h2", {"en": "Years differ", "ur": "Years differ"}, item="years"),
        Hypothesis("h3", {"en": "Named pair", "ur": "Named pair"}, item="a", cohorts=("UK", "IN")),
    )
    assert not definition.hypotheses[0].two_sided and definition.hypotheses[1].two_sided
    canonical = json.loads(definition.canonical_json())
    assert canonical["hypotheses"] == [
        {
            "compare": "cohorts",
            "direction": {"greater": "PK", "less": "UK"},
            "id": "h1",
            "scale": "eco",
            "text": {"en": "PK rate economic leverage higher than UK", "ur": "پاکستانی ماہرین"},
        },
        {
            "compare": "cohorts",
            "direction": {"two_sided": True},
            "id": "h2",
            "item": "years",
            "text": "Years differ",
        },
        {
            "compare": "cohorts",
            "direction": {"two_sided": ["UK", "IN"]},
            "id": "h3",
            "item": "a",
            "text": "Named pair",
        },
    ]
    again = build_definition(canonical)  # the canonical form is itself a valid instrument
    assert again.canonical_json() == definition.canonical_json() and again.hypotheses == definition.hypotheses


def test_without_hypotheses_the_canonical_form_is_unchanged() -> None:
    plain = load_text(BASE, "plain.yaml")
    assert plain.hypotheses == ()
    assert "hypotheses" not in plain.canonical_json()
    assert load_text(BASE + "hypotheses: []\n", "empty.yaml").sha256 == plain.sha256
    assert load_text(GOOD, "good.yaml").sha256 != plain.sha256


def test_every_problem_of_a_hypothesis_has_its_line_and_owner() -> None:
    text = (
        BASE
        + """\
hypotheses:
  - id: h1
    text: {en: "PK higher"}
    scale: nope
    compare: languages
    direction: {greater: PK, less: PK}
  - id: h2
    text: x
    item: note
    direction: {two_sided: [PK]}
  - id: h3
    text: x
    direction: up
    colour: red
  - id: h4
    text: x
    scale: eco
    item: a
  - {id: h5, text: x, item: ghost, direction: {greater: "P K", less: UK}}
  - {id: h1, text: x, scale: eco, direction: {two_sided: true}}
  - 5
"""
    )
    assert problems(text) == [
        "bad.yaml:16: 'text' of hypothesis 'h1' has no 'ur' translation",
        "bad.yaml:17: hypothesis 'h1' names scale 'nope', which is not a scale of the instrument (scales: eco)",
        "bad.yaml:18: 'compare' of hypothesis 'h1' must be one of: cohorts (the comparisons supported), not 'languages'",
        "bad.yaml:19: 'greater' and 'less' of hypothesis 'h1' name the same cohort 'PK'",
        "bad.yaml:22: hypothesis 'h2' names 'note', a text item; a hypothesis tests an item analysed as ordinal or "
        "interval",
        "bad.yaml:23: 'two_sided' of hypothesis 'h2' must be true or a list of two different cohort codes",
        "bad.yaml:27: unknown key 'colour' in hypothesis 'h3' (expected one of: compare, direction, id, item, scale, "
        "text)",
        "bad.yaml:24: hypothesis 'h3' needs a 'scale' (or an 'item') to test",
        "bad.yaml:26: 'direction' of hypothesis 'h3' must be {greater: COHORT, less: COHORT}, {two_sided: true} or "
        "{two_sided: [COHORT, COHORT]}",
        "bad.yaml:31: hypothesis 'h4' names a scale and an item; a hypothesis tests one of them",
        "bad.yaml:28: hypothesis 'h4' needs a 'direction': {greater: COHORT, less: COHORT}, {two_sided: true} or "
        "{two_sided: [COHORT, COHORT]}",
        "bad.yaml:32: hypothesis 'h5' names item 'ghost', which is not an item",
        "bad.yaml:32: 'greater' of hypothesis 'h5' must be a cohort code (A-Z, 0-9, _), not 'P K'",
        "bad.yaml:33: duplicate id 'h1' (first used at line 15)",
        "bad.yaml:34: each hypothesis must be a mapping with id, text, scale (or item) and direction",
    ]


def test_hypotheses_must_be_a_list() -> None:
    assert problems(BASE + "hypotheses: {h1: x}\n") == [
        "bad.yaml:14: 'hypotheses' must be a list of hypotheses, each with id, text, scale (or item) and direction"
    ]


def test_a_scale_with_problems_is_still_known_to_its_hypotheses() -> None:
    """A hypothesis names the scale as declared, so a scale's own problems are not repeated as an unknown scale."""
    text = BASE.replace("eco: {items: [a, b]}", "eco: {items: [a, ghost]}") + (
        "hypotheses:\n  - {id: h1, text: x, scale: eco, direction: {greater: PK, less: UK}}\n"
    )
    assert problems(text) == ["bad.yaml:13: scale 'eco' lists 'ghost', which is not an item"]


def test_the_codebook_carries_the_hypotheses_of_every_version() -> None:
    older = load_text(GOOD, "1.yaml")
    newer = load_text(
        GOOD.replace("version: 1.0.0", "version: 1.1.0")
        .replace("PK rate economic leverage higher than UK", "PK rate it higher")
        .replace("  - {id: h3, text: Named pair, item: a, direction: {two_sided: [UK, IN]}}\n", ""),
        "2.yaml",
    )
    versions = [
        SimpleNamespace(version="1.0.0", definition=older),
        SimpleNamespace(version="1.1.0", definition=newer),
    ]
    entries = hypotheses_entries(versions, "en")  # type: ignore[arg-type]  # what the codebook reads of a version
    assert entries == [
        {
            "id": "h1",
            "text": "PK rate it higher",  # the newer version's text
            "scale": "eco",
            "item": None,
            "compare": "cohorts",
            "direction": {"greater": "PK", "less": "UK"},
            "versions": ["1.0.0", "1.1.0"],
        },
        {
            "id": "h2",
            "text": "Years differ",
            "scale": None,
            "item": "years",
            "compare": "cohorts",
            "direction": {"two_sided": True},
            "versions": ["1.0.0", "1.1.0"],
        },
        {
            "id": "h3",
            "text": "Named pair",
            "scale": None,
            "item": "a",
            "compare": "cohorts",
            "direction": {"two_sided": ["UK", "IN"]},
            "versions": ["1.0.0"],
        },
    ]
    assert hypotheses_entries(versions, "ur")[0]["text"] == "پاکستانی ماہرین"  # type: ignore[arg-type]
    html = codebook_html(
        {
            "language": "en",
            "study": {"title": "S", "slug": "s", "anonymity": "anonymous"},
            "instrument": {"id": "t", "versions": []},
            "cohorts": [],
            "scales": {},
            "items": [],
            "variables": [],
            "hypotheses": entries,
        }
    )
    assert "Declared hypotheses" in html and "<code>PK</code> higher than <code>UK</code> (one-sided)" in html
    assert "two-sided: UK vs IN" in html
