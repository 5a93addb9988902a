"""The schema declared as pydantic models gives what the hand-written checker gave, byte for byte and word for word.

The sha256 values and the problem list below were recorded by running the checker this replaced (the
hand-walked ``_Checker`` in ``elicit.instruments.schema``) on the same documents, before it was replaced: a
published version's sha256 identifies it, so the canonical form must not move by a byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.instruments.test_schema import MINIMAL

from elicit.instruments.loading import load_file, load_text
from elicit.instruments.schema import InstrumentError, build_definition
from elicit.instruments.types import REGISTRY
from elicit.instruments.types.document import ItemDocument

ROOT = Path(__file__).resolve().parents[2]


VARIED = {
    "every-key": """\
id: every-key
version: 2.3.4
languages: [en, ur]
title: {en: Every key, ur: ہر کلید}
description: Shown on the first page
anonymity: pseudonymous
choice_sets:
  agree3:
    - {code: 1, label: {en: Disagree, ur: متفق نہیں}}
    - {code: 2, label: Neutral}
    - {code: 3, label: {en: Agree, ur: متفق}}
scales:
  mood: {label: {en: Mood, ur: مزاج}, items: [m1, m2, m3], reverse: [m3]}
pages:
  - id: start
    title: Start
    intro: {en: Welcome, ur: خوش آمدید}
    items:
      - {id: consent, type: consent, text: "Agree?", required: true}
      - {id: age, type: integer, text: Age, min: 18, max: 99, unit: years, privacy: {quasi_identifier: {bins: [18, 30, 50, 99]}}}
      - {id: staff, type: decimal, text: Staff, min: 0.5, max: 10.0, privacy: {quasi_identifier: {top_code: 8}}, dont_know: true, confidence: true}
      - {id: region, type: single_choice, text: Region, choices: {n: North, s: South, e: East}, privacy: {quasi_identifier: {merge: {ns: [n, s]}}}}
      - {id: email, type: text, text: Email, privacy: direct_identifier, max_length: 120, help: Optional}
  - id: views
    relevant: "consent == 'yes' and age >= 18"
    items:
      - {id: m1, type: likert, choices: agree3, text: One, constraint: ". != 2", constraint_message: {en: Pick a side, ur: ایک طرف}}
      - id: grid
        type: likert_matrix
        choices: agree3
        text: Grid
        help: {en: One per row, ur: ہر قطار}
        rows:
          - {id: m2, text: Two, required: true}
          - {id: m3, text: {en: Three, ur: تین}, relevant: "m1 > 1", help: Row help}
      - {id: pick, type: multiple_choice, text: Pick, choices: [{code: a, label: A}, {code: b, label: B}, {code: c, label: C}], min_selected: 1, max_selected: 2}
      - {id: order, type: ranking, text: Order, choices: {x: X, y: Y, z: Z}}
      - {id: split, type: constant_sum, text: Split, total: 10, choices: {x: X, y: Y}}
      - {id: guess, type: quantiles, text: Guess, levels: [10, 50, 90], min: 0, max: 1000, unit: {en: units, ur: اکائیاں}, seed: true, background: loguniform}
      - {id: level, type: slider, text: Level, min: 0, max: 1, step: 0.1, min_label: Low, max_label: {en: High, ur: اونچا}, unit: "%"}
      - {id: when, type: date, text: When, min: 2020-01-01, max: today}
      - {id: where, type: dropdown, text: Where, choices: {a: Here, b: There}, required: true}
      - {id: why, type: text, text: Why, multiline: true, privacy: free_text}
      - {id: bye, type: note, text: Thanks}
""",
    "defaults-spelled-out": """\
id: defaults
version: 0.0.1
title: Defaults
anonymity: anonymous
choice_sets: {}
scales: {}
pages:
  - id: only
    relevant: true
    items:
      - {id: q, type: quantiles, text: Q, levels: [5, 50, 95], background: uniform, seed: false, required: false, privacy: none}
      - {id: n, type: integer, text: N, dont_know: false, confidence: false}
""",
}

MISTAKES = """\
id: Bad_Id
version: 1.0
languages: [en, ur]
title: {en: Bad}
colour: blue
choice_sets:
  Agree: {1: A}
  ok5: {1: A, 1.5: B, 2: "", 3: {en: C}}
scales:
  s: {items: [a, nope], reverse: [zz], extra: 1}
  t: {items: [a]}
pages:
  - id: p1
    relevant: "a > 1"
    items:
      - {id: a, type: likert, choices: {x: X}, text: A, requird: true}
      - {id: a, type: integer, text: "", min: 1.5, max: 0}
      - {id: s1, type: slider, text: S, step: -1}
      - {id: t1, type: text, text: T, max_length: 0, multiline: "yes"}
      - {id: q1, type: quantiles, text: Q, levels: [50, 5], background: normal}
      - {id: c1, type: constant_sum, text: C, choices: {x: X}, total: "ten"}
      - {id: g1, type: likert_matrix, text: G, choices: {a: A}, rows: [{id: r1, text: R, type: likert}, 5]}
      - {id: p_x, type: single_choice, choices: nope, text: {en: P, ur: پ, fr: P}, privacy: {quasi_identifier: {bins: [1, 2]}}}
      - {type: pie, text: P}
      - 7
  - just a string
  - id: p2
    items: []
"""

#: sha256 of the canonical JSON, as the hand-walked checker computed it.
OLD_SHA256 = {
    "defence-diplomacy/1.0.0.yaml": "307b0db446fd5b1e3c823998cf71cd6c446352a418ed551be6271f2ad9bc7454",
    "minimal": "1894a848736846237e8ed62c8b62504213063f77f61e6ffd5a9a7b4baa2bc0e2",
    "every-key": "be9e5b6e490c11e87e552168ba6db950143d203344b715a86d124c4151a9c269",
    "defaults-spelled-out": "40f6cf1759b27cb47e38e7ef3fea3bba3fbf6f7da9459597d91521c9238026d7",
}

#: Every problem of MISTAKES, in order, as the hand-walked checker reported them.
OLD_PROBLEMS = [
    "bad.yaml:5: unknown key 'colour' in the instrument (expected one of: anonymity, choice_sets, description, hypotheses, id, languages, pages, practice, scales, title, version)",
    "bad.yaml:1: instrument id 'Bad_Id' must be lowercase letters, digits and -",
    "bad.yaml:2: version 1.0 must look like 1.0.0 (in quotes if needed)",
    "bad.yaml:4: 'title' of the instrument has no 'ur' translation",
    "bad.yaml:7: choice set name 'Agree' must be lowercase letters, digits and _",
    "bad.yaml:8: choice code 1.5 of choice set 'ok5' must be a number or a word of A-Z, 0-9, _",
    "bad.yaml:8: choice 2 of choice set 'ok5' needs a label",
    "bad.yaml:8: choice 3 of choice set 'ok5' has no 'ur' translation",
    "bad.yaml:16: unknown key 'requird' in item 'a' (likert) (expected one of: choices, confidence, constraint, constraint_message, dont_know, help, id, privacy, relevant, required, text, type)",
    "bad.yaml:16: item 'a' is likert, so its choice codes must be numbers",
    "bad.yaml:17: duplicate id 'a' (first used at line 16)",
    "bad.yaml:17: 'text' of an item is empty",
    "bad.yaml:17: 'min' of an item must be a whole number, not 1.5",
    "bad.yaml:18: item 's1' is a slider and needs 'min' and 'max' (e.g. min: 0, max: 10)",
    "bad.yaml:18: 'step' of item 's1' must be positive and at most 'max' - 'min'",
    "bad.yaml:19: 'max_length' of item 't1' must be 1 to 20000",
    "bad.yaml:19: 'multiline' of item 't1' must be true or false",
    "bad.yaml:20: 'levels' of item 'q1' must be strictly increasing, e.g. [5, 50, 95]",
    "bad.yaml:20: 'background' of item 'q1' must be uniform or loguniform",
    "bad.yaml:21: 'total' of item 'c1' must be a number, not 'ten'",
    "bad.yaml:21: item 'c1' is a constant_sum and needs a 'total' (e.g. total: 100)",
    "bad.yaml:22: item 'g1' is a likert matrix, so its codes must be numbers",
    "bad.yaml:22: unknown key 'type' in row 'r1' of a likert matrix (expected one of: help, id, privacy, relevant, required, text)",
    "bad.yaml:22: each item must be a mapping with id and type",
    "bad.yaml:23: 'text' of item 'p_x' has text in undeclared language 'fr'",
    "bad.yaml:23: 'bins' of item 'p_x' must be increasing numbers on a numeric item",
    "bad.yaml:23: item 'p_x' uses choice set 'nope', which is not defined in choice_sets",
    "bad.yaml:24: item has no 'id'",
    "bad.yaml:24: an item has unknown type 'pie' (expected one of: likert, likert_matrix, single_choice, multiple_choice, integer, decimal, text, ranking, constant_sum, quantiles, consent, note, slider, date, dropdown, roulette, four_point, probabilities)",
    "bad.yaml:25: each item must be a mapping with id and type",
    "bad.yaml:26: each page must be a mapping with id and items",
    "bad.yaml:28: page 'p2' needs a non-empty list of items",
    "bad.yaml:10: unknown key 'extra' in scale 's' (expected one of: items, label, reverse)",
    "bad.yaml:10: scale 's' lists 'nope', which is not an item",
    "bad.yaml:10: reverse item 'zz' of scale 's' is not in its items",
    "bad.yaml:11: scale 't' needs a list of at least two items",
    "bad.yaml:14: 'relevant' of page 'p1' names 'a', which is not on an earlier page",
]


@pytest.mark.parametrize("name", ["defence-diplomacy/1.0.0.yaml"])
def test_the_published_flagship_keeps_its_sha256(name: str) -> None:
    definition = load_file(ROOT / "instruments" / name)
    assert definition.sha256 == OLD_SHA256[name]


@pytest.mark.parametrize("name", ["minimal", *VARIED])
def test_varied_instruments_keep_their_sha256(name: str) -> None:
    text = MINIMAL if name == "minimal" else VARIED[name]
    definition = load_text(text, f"{name}.yaml")
    assert definition.sha256 == OLD_SHA256[name]
    again = build_definition(json.loads(definition.canonical_json()))
    assert again.canonical_json() == definition.canonical_json()


def test_every_problem_keeps_its_line_wording_and_place_in_the_list() -> None:
    with pytest.raises(InstrumentError) as caught:
        load_text(MISTAKES, "bad.yaml")
    assert [str(p) for p in caught.value.problems] == OLD_PROBLEMS


def test_the_runtime_items_carry_what_the_file_says() -> None:
    definition = load_text(VARIED["every-key"], "every-key.yaml")
    level = definition.item("level")
    assert (level.min, level.max, level.option("step")) == (0, 1, 0.1)
    assert level.option("max_label") == {"en": "High", "ur": "اونچا"}
    assert definition.item("when").option("min") == "2020-01-01" and definition.item("when").min is None
    assert [c.key for c in definition.item("m2").choices] == ["1", "2", "3"]
    assert definition.item("m2").matrix == "grid" and definition.item("m2").type == "likert"
    assert [c.code for c in definition.item("consent").choices] == ["yes", "no"]
    assert definition.item("age").privacy.bins == (18, 30, 50, 99)
    assert definition.item("guess").levels == (10, 50, 90) and definition.item("guess").seed
    assert type(definition.item("pick").choices) is tuple
    with pytest.raises(AttributeError):
        definition.item("age").min = 3  # type: ignore[misc]


def test_each_type_declares_its_keys_in_its_own_module() -> None:
    common = set(ItemDocument.model_fields)
    for name, kind in REGISTRY.items():
        assert issubclass(kind.document, ItemDocument), name
        assert kind.document.__module__.startswith("elicit.instruments.types."), name
        assert kind.keys == set(kind.document.model_fields) - common, name
