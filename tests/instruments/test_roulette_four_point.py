"""The roulette and four-point item types: the checker's messages with their lines, values that survive the form
and the answer rows, the cumulative points a fit uses, the review text and the codebook entry."""

from __future__ import annotations

import random

import pytest

from elicit.instruments.loading import load_text
from elicit.instruments.model import Definition
from elicit.instruments.schema import InstrumentError
from elicit.instruments.types import ITEM_TYPES, REGISTRY, DemoContext, FieldError
from elicit.stats.judgements import four_point_points, roulette_points

GOOD = """\
id: judgements
version: 1.0.0
languages: [en, ur]
title: {en: Judgements, ur: اندازے}
pages:
  - id: p1
    items:
      - id: spend
        type: roulette
        bins: [0, 1, 2, 3, 4, 5]
        chips: 10
        unit: {en: "%", ur: "%"}
        dont_know: true
        text: {en: Spend, ur: خرچ}
      - id: equal
        type: roulette
        min: 0
        max: 60
        bins: 4
        text: {en: Equal, ur: برابر}
      - id: visits
        type: four_point
        min: 0
        max: 500
        unit: {en: visits, ur: دورے}
        text: {en: Visits, ur: دورے}
"""

BAD = """\
id: bad
version: 1.0.0
languages: [en]
title: Bad
pages:
  - id: p1
    items:
      - id: r1
        type: roulette
        text: No bins
      - id: r2
        type: roulette
        bins: [0, 10, 10, 30]
        text: Not increasing
      - id: r3
        type: roulette
        bins: [0, 10, 20]
        text: Two bins
      - id: r4
        type: roulette
        bins: 5
        text: No range
      - id: r5
        type: roulette
        bins: [0, 1, 2, 3]
        min: 0
        text: Edges and a min
      - id: r6
        type: roulette
        bins: [0, 1, 2, 3, 4]
        chips: 2
        text: Fewer chips than bins
      - id: r7
        type: roulette
        bins:
          - 0
          - ten
          - 20
          - 30
        text: Not a number
      - id: r8
        type: roulette
        min: 0
        max: 10
        bins: 30
        chips: 0
        text: Too many bins, no chips
      - id: f1
        type: four_point
        min: 10
        max: 0
        text: Backwards
      - id: f2
        type: four_point
        levels: [5, 95]
        text: Not a quantiles item
"""


@pytest.fixture(scope="module")
def good() -> Definition:
    return load_text(GOOD, "judgements.yaml")


def gettext(message: str, **params: object) -> str:
    return message % params if params else message


def test_both_types_are_registered_as_distributions() -> None:
    assert ITEM_TYPES[ITEM_TYPES.index("roulette") :][:2] == ("roulette", "four_point")
    for name in ("roulette", "four_point"):
        kind = REGISTRY[name]
        assert (kind.analysis, kind.measure, kind.feedback) == ("distribution", "scale", "distribution")
    assert REGISTRY["roulette"].xlsform == "integer"


def test_the_checker_reports_bad_bins_chips_and_bounds_with_their_lines() -> None:
    with pytest.raises(InstrumentError) as caught:
        load_text(BAD, "bad.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "bad.yaml:8: item 'r1' is a roulette and needs 'bins': the bin edges (e.g. bins: [0, 10, 20, 30]) "
        "or a number of equal bins between 'min' and 'max'",
        "bad.yaml:13: the edges in 'bins' of item 'r2' must increase: 10 follows 10",
        "bad.yaml:17: 'bins' of item 'r3' must list 4 to 21 edges (3 to 20 bins), not 3",
        "bad.yaml:21: item 'r4' has bins: 5 and needs 'min' and 'max' to divide into equal bins",
        "bad.yaml:25: item 'r5' gives its bins as edges: leave out 'min' and 'max' (the first and last edge "
        "are the range)",
        "bad.yaml:31: 'chips' of item 'r6' must be at least the number of bins (4), not 2",
        "bad.yaml:37: the edges in 'bins' of item 'r7' must be numbers, not 'ten'",
        "bad.yaml:45: 'bins' of item 'r8' must be 3 to 20 bins, not 30",
        "bad.yaml:46: 'chips' of item 'r8' must be a whole number from 1 to 100, not 0",
        "bad.yaml:51: 'max' of item 'f1' must be greater than 'min'",
        "bad.yaml:55: unknown key 'levels' in item 'f2' (four_point) (expected one of: confidence, "
        "constraint, constraint_message, dont_know, families, help, id, max, min, privacy, relevant, required, text, "
        "type, unit)",
    ]


def test_bins_as_edges_or_as_a_count_give_the_parts_and_the_range(good: Definition) -> None:
    spend, equal, visits = (good.item(i) for i in ("spend", "equal", "visits"))
    assert spend.parts == ("b1", "b2", "b3", "b4", "b5") and (spend.min, spend.max) == (0, 5)
    assert equal.parts == ("b1", "b2", "b3", "b4") and (equal.min, equal.max) == (0, 60)
    assert visits.parts == ("low", "high", "best", "confidence")
    assert spend.kind.codebook([spend], "en") == {
        "elicitation": "roulette",
        "edges": [0, 1, 2, 3, 4, 5],
        "chips": 10,
    }
    assert equal.kind.codebook([equal], "en") == {
        "elicitation": "roulette",
        "edges": [0, 15, 30, 45, 60],
        "chips": 20,
    }
    assert visits.kind.codebook([visits], "en") == {"elicitation": "four_point"}
    assert spend.kind.part_label(spend, "b2", "en") == "chips in 1 – 2"
    assert visits.kind.part_label(visits, "confidence", "en").startswith("confidence (%)")
    assert spend.kind.dtype([spend]) == "int" and visits.kind.dtype([visits]) == "float"


def test_the_canonical_form_keeps_the_bins_as_written_and_loads_again(good: Definition) -> None:
    items = {entry["id"]: entry for entry in good.canonical["pages"][0]["items"]}
    assert items["spend"]["bins"] == [0, 1, 2, 3, 4, 5] and "min" not in items["spend"]
    assert items["equal"]["bins"] == 4 and "chips" not in items["equal"]  # the default is not written
    again = load_text(good.canonical_json(), "canonical.json")
    assert again.item("equal").parts == good.item("equal").parts
    assert again.canonical_json() == good.canonical_json()


@pytest.mark.parametrize("seed", range(6))
def test_a_demo_answer_survives_the_form_and_the_answer_rows(good: Definition, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311
    for item in good.items():
        kind = item.kind
        value = kind.demo(item, DemoContext("UK" if seed % 2 else "PK", {}, rng))
        rows = kind.to_rows(item, value)
        assert [row.part for row in rows] == list(item.parts)
        assert kind.from_rows(item, rows) == value, item.id
        fields = kind.form_fields(item, value)
        assert set(fields) <= set(kind.form_names(item))
        assert kind.parse(item, fields) == value, (item.id, fields)
        assert kind.sent_fields(item, fields)
        assert kind.describe(item, value, "en", gettext)
        assert kind.cumulative(item, value) is not None
        if item.type == "roulette":
            assert sum(value.values()) == item.option("chips", 20)
            peak = max(range(len(item.parts)), key=lambda i: value[item.parts[i]])
            counts = [value[p] for p in item.parts]
            assert counts[: peak + 1] == sorted(counts[: peak + 1])  # a hump: up to the peak ...
            assert counts[peak:] == sorted(counts[peak:], reverse=True)  # ... and down after it


def test_roulette_parsing_counts_every_chip(good: Definition) -> None:
    item = good.item("spend")
    kind = item.kind
    assert kind.parse(item, {}) is None
    assert kind.parse(item, {"spend.b2": ["４"], "spend.b3": ["۶"]}) == {
        "b1": 0,
        "b2": 4,
        "b3": 6,
        "b4": 0,
        "b5": 0,
    }  # empty boxes hold no chips; full-width and Urdu digits count
    for form, field, message in (
        ({"spend.b1": ["9"]}, "spend.b1", "Place all 10 chips: you have placed 9 so far."),
        ({"spend.b1": ["9"], "spend.b2": ["2"]}, "spend.b1", "There are only 10 chips"),
        ({"spend.b3": ["11"]}, "spend.b3", "A bin can hold at most 10 chips."),
        ({"spend.b4": ["-2"]}, "spend.b4", "fewer than 0 chips"),
        ({"spend.b5": ["two"]}, "spend.b5", "Enter a whole number."),
    ):
        with pytest.raises(FieldError, match=message) as caught:
            kind.parse(item, form)
        assert caught.value.field == field
    assert kind.placed(item, {"spend.b1": ["3"], "spend.b2": ["۲"]}) == "5"
    assert kind.placed(item, {"spend.b1": ["a few"]}) == "?"


def test_roulette_answers_become_cumulative_points_and_review_text(good: Definition) -> None:
    item = good.item("spend")
    value = {"b1": 0, "b2": 3, "b3": 4, "b4": 2, "b5": 1}
    assert item.kind.cumulative(item, value) == roulette_points([0, 1, 2, 3, 4, 5], [0, 3, 4, 2, 1])
    points = item.kind.cumulative(item, value)
    assert points is not None and points.values == (2.0, 3.0, 4.0) and points.lower == 1.0
    assert points.probabilities == pytest.approx((0.3, 0.7, 0.9))
    assert item.kind.describe(item, value, "en", gettext) == "1 – 2 %: 3; 2 – 3 %: 4; 3 – 4 %: 2; 4 – 5 %: 1"


def test_four_point_parsing_checks_the_order_and_the_confidence(good: Definition) -> None:
    item = good.item("visits")
    kind = item.kind
    form = {
        "visits.low": ["10"],
        "visits.high": ["40"],
        "visits.best": ["20,5"],
        "visits.confidence": ["80 %"],
    }
    assert kind.parse(item, form) == {"low": 10.0, "high": 40.0, "best": 20.5, "confidence": 80}
    assert kind.parse(item, {}) is None
    assert kind.parse(item, {**form, "visits.best": ["10"]})["best"] == 10  # the best at an end is allowed
    for change, field, message in (
        ({"visits.confidence": [""]}, "visits.confidence", "Give all four"),
        ({"visits.high": ["10"]}, "visits.high", "must be above the lowest"),
        ({"visits.best": ["45"]}, "visits.best", "between your lowest and highest"),
        ({"visits.confidence": ["49"]}, "visits.confidence", "whole percent from 50 to 100"),
        ({"visits.confidence": ["101"]}, "visits.confidence", "whole percent from 50 to 100"),
        ({"visits.confidence": ["75.5"]}, "visits.confidence", "Enter a whole number."),
        ({"visits.low": ["-1"]}, "visits.low", "at least 0"),
        ({"visits.high": ["501"]}, "visits.high", "at most 500"),
    ):
        with pytest.raises(FieldError, match=message) as caught:
            kind.parse(item, {**form, **change})
        assert caught.value.field == field


def test_four_point_answers_become_cumulative_points_and_review_text(good: Definition) -> None:
    item = good.item("visits")
    value = {"low": 10.0, "high": 40.0, "best": 20.0, "confidence": 80}
    assert item.kind.cumulative(item, value) == four_point_points(10, 20, 40, 80)
    assert item.kind.describe(item, value, "en", gettext) == "10 – 40 visits (best estimate 20), 80 % sure"
    rows = item.kind.to_rows(item, value)
    assert [(row.part, row.value_num) for row in rows] == [
        ("low", 10.0),
        ("high", 40.0),
        ("best", 20.0),
        ("confidence", 80.0),
    ]


FAMILIES_INSTRUMENT = """\
id: fams
version: 1.0.0
title: Families
pages:
  - id: p1
    items:
      - {id: q, type: quantiles, min: 0, families: [gamma, lognormal], text: Q}
      - {id: r, type: roulette, bins: [0, 10, 20, 30], families: normal, text: R}
      - {id: f, type: four_point, text: F}
"""


def test_an_instrument_may_fix_the_families_a_judgement_is_fitted_with() -> None:
    from elicit.instruments.loading import load_text

    definition = load_text(FAMILIES_INSTRUMENT, "fams.yaml")
    q, r, f = (definition.item(i) for i in ("q", "r", "f"))
    assert q.option("families") == ("gamma", "lognormal") and r.option("families") == ("normal",)
    assert f.option("families") is None
    assert q.kind.codebook([q], "en")["families"] == ["gamma", "lognormal"]
    assert r.kind.codebook([r], "en")["families"] == ["normal"]
    assert "families" not in f.kind.codebook([f], "en")
    items = {i["id"]: i for p in definition.canonical["pages"] for i in p["items"]}
    assert items["q"]["families"] == ["gamma", "lognormal"] and "families" not in items["f"]


def test_an_unknown_family_is_a_problem_with_its_line() -> None:
    from elicit.instruments.loading import load_text
    from elicit.instruments.schema import InstrumentError

    bad = FAMILIES_INSTRUMENT.replace("families: [gamma, lognormal]", "families: [gamma, weibull]")
    with pytest.raises(InstrumentError) as caught:
        load_text(bad, "fams.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "fams.yaml:7: 'families' of item 'q' must be one or more of: normal, t, gamma, lognormal, logt, beta, "
        "mirrorgamma, mirrorlognormal, mirrorlogt"
    ]
