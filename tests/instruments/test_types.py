"""The item-type registry: one module and one template per type, values that survive the form and the database,
and the checker's messages for the three newest types (slider, date, dropdown)."""

from __future__ import annotations

import datetime as dt
import importlib
import random
from pathlib import Path

import pytest

import elicit
from elicit.instruments.loading import load_text
from elicit.instruments.model import Definition
from elicit.instruments.schema import InstrumentError
from elicit.instruments.types import (
    ANALYSIS_KINDS,
    FEEDBACK_TYPES,
    ITEM_TYPES,
    REGISTRY,
    DemoContext,
    FieldError,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(elicit.__file__).resolve().parent / "templates"

# One item of every type (a matrix's rows are likert items); every answerable item is required, so a demo answer
# is never left empty.
EVERY_TYPE = """\
id: every-type
version: 1.0.0
languages: [en, ur]
title: {en: Every type, ur: ہر قسم}
choice_sets:
  agree5: {1: A, 2: B, 3: C, 4: D, 5: E}
pages:
  - id: p1
    items:
      - {id: intro, type: note, text: {en: Hello, ur: سلام}}
      - {id: consent, type: consent, required: true, text: {en: "Agree?", ur: "متفق؟"}}
  - id: p2
    relevant: "consent == 'yes'"
    items:
      - {id: one, type: likert, required: true, choices: agree5, text: {en: One, ur: ایک}}
      - id: grid
        type: likert_matrix
        choices: agree5
        text: {en: Grid, ur: جدول}
        rows:
          - {id: row_1, required: true, text: {en: Row, ur: قطار}}
      - {id: pick, type: single_choice, required: true, choices: {a: A, b: B}, text: {en: Pick, ur: چنیں}}
      - id: many
        type: multiple_choice
        required: true
        choices: {a: A, b: B, c: C, d: D, e: E}
        text: {en: Many, ur: متعدد}
      - {id: count, type: integer, required: true, min: 0, max: 60, text: {en: Count, ur: گنتی}}
      - {id: share, type: decimal, required: true, min: 0, max: 1, text: {en: Share, ur: حصہ}}
      - {id: words, type: text, required: true, max_length: 200, text: {en: Words, ur: الفاظ}}
      - {id: order, type: ranking, required: true, choices: {x: X, y: Y, z: Z}, text: {en: Order, ur: ترتیب}}
      - id: split
        type: constant_sum
        required: true
        total: 100
        choices: {x: X, y: Y, z: Z}
        text: {en: Split, ur: تقسیم}
      - {id: guess, type: quantiles, required: true, min: -100, max: 500, text: {en: Guess, ur: اندازہ}}
      - {id: chips, type: roulette, required: true, bins: [0, 10, 20, 30], text: {en: Chips, ur: چپس}}
      - {id: idea, type: four_point, required: true, min: 0, max: 100, text: {en: Idea, ur: اندازہ}}
      - {id: chances, type: probabilities, required: true, points: [10, 20, 30], min: 0, text: {en: Chances, ur: امکانات}}
      - id: level
        type: slider
        required: true
        min: 0
        max: 10
        step: 0.5
        min_label: {en: Low, ur: کم}
        max_label: {en: High, ur: زیادہ}
        text: {en: Level, ur: سطح}
      - {id: score, type: slider, required: true, min: 0, max: 100, step: 5, text: {en: Score, ur: اسکور}}
      - {id: when, type: date, required: true, min: "2026-01-01", max: "2035-12-31", text: {en: When, ur: کب}}
      - id: country
        type: dropdown
        required: true
        choices: {CHN: China, TUR: Türkiye, USA: United States, other: Another}
        text: {en: Country, ur: ملک}
"""


@pytest.fixture(scope="module")
def every_type() -> Definition:
    return load_text(EVERY_TYPE, "every-type.yaml")


def test_every_type_has_its_module_and_its_template() -> None:
    for name in ITEM_TYPES:
        kind = REGISTRY[name]
        module = importlib.import_module(f"elicit.instruments.types.{name}")
        assert type(kind).__module__ == module.__name__, name
        assert kind.name == name
        assert kind.template == f"survey/items/{name}.html"
        assert (TEMPLATES / kind.template).is_file(), f"{kind.template} is missing"


def test_every_type_declares_kinds_the_rest_understands() -> None:
    for name, kind in REGISTRY.items():
        assert kind.analysis in ANALYSIS_KINDS, name
        assert kind.measure in {"nominal", "ordinal", "scale"}, name
        assert kind.feedback in {None, "choice", "number", "quantiles", "distribution"}, name
        assert (name in FEEDBACK_TYPES) == bool(kind.feedback)
    assert {"slider", "dropdown"} <= FEEDBACK_TYPES and "date" not in FEEDBACK_TYPES
    assert REGISTRY["slider"].feedback == "number" and REGISTRY["dropdown"].feedback == "choice"


def test_every_type_is_documented() -> None:
    docs = (ROOT / "docs" / "instruments.md").read_text(encoding="utf-8")
    for name in ITEM_TYPES:
        assert f"| `{name}` |" in docs, name


def test_the_test_instrument_has_every_type(every_type: Definition) -> None:
    shown = [item for page in every_type.pages for item in page.items]
    assert {item.type for item in shown} | {row.type for item in shown for row in item.rows} == set(
        ITEM_TYPES
    )


@pytest.mark.parametrize("seed", range(5))
def test_a_demo_answer_survives_the_form_and_the_answer_rows(every_type: Definition, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311
    for item in every_type.items():
        kind = item.kind
        context = DemoContext("UK" if seed % 2 else "PK", {}, rng)
        value = kind.demo(item, context)
        assert value is not None, item.id
        rows = kind.to_rows(item, value)
        assert rows, item.id
        assert kind.from_rows(item, rows) == value, item.id
        fields = kind.form_fields(item, value)
        assert set(fields) <= set(kind.form_names(item)), item.id
        assert kind.parse(item, fields) == value, (item.id, fields)
        assert kind.sent_fields(item, fields), item.id
        assert kind.describe(item, value, "en", lambda s, **kw: s % kw if kw else s), item.id
        assert kind.dtype([item]) in {"int", "float", "string", "date"}, item.id


def test_the_new_types_store_what_their_docs_say(every_type: Definition) -> None:
    level, score, when, country = (every_type.item(i) for i in ("level", "score", "when", "country"))
    assert level.kind.to_rows(level, 7.5)[0].value_num == 7.5 and level.kind.dtype([level]) == "float"
    assert score.kind.from_rows(score, score.kind.to_rows(score, 35)) == 35
    assert score.kind.dtype([score]) == "int"
    (row,) = when.kind.to_rows(when, "2027-03-31")
    assert (row.value_num, row.value_text) == (None, "2027-03-31") and when.kind.dtype([when]) == "date"
    (row,) = country.kind.to_rows(country, "TUR")
    assert row.value_text == "TUR" and country.kind.dtype([country]) == "string"
    assert country.kind.describe(country, "TUR", "en", str) == "Türkiye"
    assert level.kind.codebook([level], "en") == {"step": 0.5, "min_label": "Low", "max_label": "High"}
    assert when.kind.codebook([when], "en") == {"min": "2026-01-01", "max": "2035-12-31"}


def test_a_slider_counts_only_when_typed_or_moved(every_type: Definition) -> None:
    item = every_type.item("level")
    kind = item.kind
    start = kind.start(item)
    assert start == 5
    untouched = {"level": [""], "level.slider": ["5"], "level.start": ["5"]}
    assert kind.parse(item, untouched) is None
    assert kind.parse(item, {**untouched, "level.slider": ["6.5"]}) == 6.5
    assert kind.parse(item, {**untouched, "level": ["5"]}) == 5  # typed: the midpoint is an answer too
    assert kind.parse(item, {"level": ["2,5"], "level.slider": ["9"], "level.start": ["5"]}) == 2.5
    for bad, message in (("11", "at most 10"), ("7.2", "steps of 0.5"), ("lots", "Enter a number")):
        with pytest.raises(FieldError, match=message):
            kind.parse(item, {"level": [bad]})


def test_a_date_is_iso_and_within_its_bounds(every_type: Definition) -> None:
    item = every_type.item("when")
    kind = item.kind
    assert kind.parse(item, {"when": [" 2030-06-15 "]}) == "2030-06-15"
    assert kind.parse(item, {"when": [""]}) is None
    for bad, message in (
        ("15/06/2030", "year-month-day"),
        ("2030-02-30", "year-month-day"),
        ("2025-12-31", "on or after 2026-01-01"),
        ("2036-01-01", "on or before 2035-12-31"),
    ):
        with pytest.raises(FieldError, match=message):
            kind.parse(item, {"when": [bad]})
    today = load_text(EVERY_TYPE.replace('min: "2026-01-01", max: "2035-12-31"', "max: today"), "t.yaml")
    later = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(FieldError, match="on or before"):
        today.item("when").kind.parse(today.item("when"), {"when": [later]})


def test_a_dropdown_accepts_only_its_choices(every_type: Definition) -> None:
    item = every_type.item("country")
    assert item.kind.parse(item, {"country": ["CHN"]}) == "CHN"
    with pytest.raises(FieldError, match="Choose one of the answers offered"):
        item.kind.parse(item, {"country": ["GBR"]})


BAD = """\
id: bad
version: 1.0.0
languages: [en]
title: Bad
pages:
  - id: p1
    items:
      - id: s1
        type: slider
        text: No bounds
      - id: s2
        type: slider
        min: 0
        max: 10
        step: 0
        text: Zero step
      - id: s3
        type: slider
        min: 0
        max: 10
        step: 20
        text: A step longer than the range
      - id: s4
        type: slider
        min: 10
        max: 0
        text: Backwards
      - id: d1
        type: date
        min: "2026-02-30"
        text: No such day
      - id: d2
        type: date
        min: 2030-01-01
        max: 2026-01-01
        text: Backwards
      - id: d3
        type: date
        max: soon
        text: Not a date
      - id: c1
        type: dropdown
        text: No choices
"""


def test_the_checker_reports_bad_new_items_with_their_lines() -> None:
    with pytest.raises(InstrumentError) as caught:
        load_text(BAD, "bad.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "bad.yaml:8: item 's1' is a slider and needs 'min' and 'max' (e.g. min: 0, max: 10)",
        "bad.yaml:15: 'step' of item 's2' must be positive and at most 'max' - 'min'",
        "bad.yaml:21: 'step' of item 's3' must be positive and at most 'max' - 'min'",
        "bad.yaml:26: 'max' of item 's4' must be greater than 'min'",
        "bad.yaml:30: 'min' of item 'd1' must be a date such as 2020-01-31, or today",
        "bad.yaml:35: 'max' of item 'd2' must be later than 'min'",
        "bad.yaml:39: 'max' of item 'd3' must be a date such as 2020-01-31, or today",
        "bad.yaml:41: item 'c1' (dropdown) needs 'choices'",
    ]


def test_an_impossible_unquoted_date_is_a_problem_not_a_crash() -> None:
    """YAML reads ``2026-13-01`` as a timestamp; a month that does not exist must still be a file:line problem."""
    text = BAD.replace('min: "2026-02-30"', "min: 2026-13-01")
    with pytest.raises(InstrumentError) as caught:
        load_text(text, "bad.yaml")
    assert "bad.yaml:30: 'min' of item 'd1' must be a date such as 2020-01-31, or today" in [
        str(p) for p in caught.value.problems
    ]
