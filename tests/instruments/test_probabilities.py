"""The probabilities item type (SHELF's probability method): the checker's messages with their lines, parsing and
its errors, values that survive the form and the answer rows, the codebook entry and the cumulative points."""

from __future__ import annotations

import random

import pytest

from elicit.instruments.loading import load_text
from elicit.instruments.model import Definition
from elicit.instruments.schema import InstrumentError
from elicit.instruments.types import ITEM_TYPES, REGISTRY, DemoContext, FieldError
from elicit.instruments.types.probabilities import Phrase
from elicit.stats.judgements import Points, probability_points

GOOD = """\
id: probabilities
version: 1.0.0
languages: [en, ur]
title: {en: Budgets, ur: بجٹ}
pages:
  - id: p1
    items:
      - id: budget_prob
        type: probabilities
        points: [1, 2, 3, 4]
        unit: {en: "% of GDP", ur: "% جی ڈی پی"}
        min: 0
        dont_know: true
        text: {en: "Defence spending in 2030", ur: "2030 میں دفاعی خرچ"}
      - id: plain
        type: probabilities
        points: [-1.5, 0, 2.5]
        families: [normal, t]
        text: {en: Plain, ur: سادہ}
"""

BAD = """\
id: bad
version: 1.0.0
languages: [en]
title: Bad
pages:
  - id: p1
    items:
      - id: a1
        type: probabilities
        text: No points
      - id: a2
        type: probabilities
        points: [1]
        text: One point
      - id: a3
        type: probabilities
        points: [1, 3, 2]
        text: Not increasing
      - id: a4
        type: probabilities
        points:
          - 1
          - two
        text: Not a number
      - id: a5
        type: probabilities
        min: 0
        max: 10
        points: [0, 5]
        text: On the bound
      - id: a6
        type: probabilities
        points: 3
        text: Not a list
      - id: a7
        type: probabilities
        points: [1, 2]
        levels: [5, 95]
        families: [weibull]
        text: Unknown key and family
"""


@pytest.fixture(scope="module")
def good() -> Definition:
    return load_text(GOOD, "probabilities.yaml")


def gettext(message: str, **params: object) -> str:
    return message % params if params else message


def form(*percents: str, item: str = "budget_prob") -> dict[str, list[str]]:
    return {f"{item}.p{i}": [p] for i, p in enumerate(percents, start=1)}


def test_the_type_is_registered_last_as_a_distribution() -> None:
    assert ITEM_TYPES[-1] == "probabilities"
    kind = REGISTRY["probabilities"]
    assert (kind.analysis, kind.measure, kind.feedback, kind.xlsform) == (
        "distribution",
        "scale",
        "quantiles",
        "decimal",
    )
    assert kind.keys == {"points", "min", "max", "unit", "families"}


def test_the_checker_reports_bad_points_with_their_lines() -> None:
    with pytest.raises(InstrumentError) as caught:
        load_text(BAD, "bad.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "bad.yaml:8: item 'a1' is a probabilities item and needs 'points': the values the expert gives the "
        "probability of being at or below (e.g. points: [1, 2, 3, 4])",
        "bad.yaml:13: 'points' of item 'a2' must list 2 to 20 values, not 1",
        "bad.yaml:17: the values in 'points' of item 'a3' must increase: 2 follows 3",
        "bad.yaml:23: the values in 'points' of item 'a4' must be numbers, not 'two'",
        "bad.yaml:29: the values in 'points' of item 'a5' must lie strictly between 'min' and 'max' (the "
        "quantity's range), not 0",
        "bad.yaml:33: 'points' of item 'a6' must be a list of increasing numbers, e.g. [1, 2, 3, 4]",
        "bad.yaml:38: unknown key 'levels' in item 'a7' (probabilities) (expected one of: confidence, constraint, "
        "constraint_message, dont_know, families, help, id, max, min, points, privacy, relevant, required, text, "
        "type, unit)",
        "bad.yaml:39: 'families' of item 'a7' must be one or more of: normal, t, gamma, lognormal, logt, beta, "
        "mirrorgamma, mirrorlognormal, mirrorlogt",
    ]


def test_points_give_the_parts_and_the_codebook_entry(good: Definition) -> None:
    budget, plain = good.item("budget_prob"), good.item("plain")
    assert budget.parts == ("p1", "p2", "p3", "p4") and plain.parts == ("p1", "p2", "p3")
    assert budget.variables == ("budget_prob.p1", "budget_prob.p2", "budget_prob.p3", "budget_prob.p4")
    assert budget.kind.codebook([budget], "en") == {"elicitation": "probabilities", "points": [1, 2, 3, 4]}
    assert plain.kind.codebook([plain], "en") == {
        "elicitation": "probabilities",
        "points": [-1.5, 0, 2.5],
        "families": ["normal", "t"],
    }
    assert budget.kind.dtype([budget]) == "float" and budget.kind.measure == "scale"
    assert budget.kind.part_label(budget, "p3", "en") == "probability (%) of at most 3 % of GDP"
    assert plain.kind.part_label(plain, "p1", "en") == "probability (%) of at most -1.5"
    assert budget.kind.anchor(budget) == "budget_prob.p1"


def test_the_canonical_form_keeps_the_points_and_loads_again(good: Definition) -> None:
    items = {entry["id"]: entry for entry in good.canonical["pages"][0]["items"]}
    assert items["budget_prob"]["points"] == [1, 2, 3, 4] and items["budget_prob"]["min"] == 0
    again = load_text(good.canonical_json(), "canonical.json")
    assert again.item("plain").parts == good.item("plain").parts
    assert again.canonical_json() == good.canonical_json()


def test_parsing_reads_percents_and_checks_their_order(good: Definition) -> None:
    item = good.item("budget_prob")
    kind = item.kind
    assert kind.parse(item, {}) is None
    assert kind.parse(item, form("", "", "", "")) is None
    assert kind.parse(item, form("0", "30 %", "60,5", "١٠٠")) == {
        "p1": 0.0,
        "p2": 30.0,
        "p3": 60.5,
        "p4": 100.0,
    }  # a % sign, a decimal comma and Arabic-Indic digits are read
    assert kind.parse(item, form("10", "10", "10", "90"))["p3"] == 10  # equal probabilities are allowed
    for posted, field, message in (
        (form("10", "", "60", "90"), "budget_prob.p2", "Give a probability for every value"),
        (form("10", "30", "lots", "90"), "budget_prob.p3", "Enter a number, e.g. 12 or 12.5."),
        (form("10", "30", "60", "101"), "budget_prob.p4", "Enter a probability from 0 to 100 %."),
        (form("-1", "30", "60", "90"), "budget_prob.p1", "Enter a probability from 0 to 100 %."),
        (
            form("10", "40", "30", "90"),
            "budget_prob.p3",
            "The probability that the value is at most 3 % of GDP cannot be smaller than the probability that "
            "it is at most 2 % of GDP, which you gave as 40 %.",
        ),
        (form("0", "0", "100", "100"), "budget_prob.p1", "Give at least one probability between 0 and 100 %"),
    ):
        with pytest.raises(FieldError) as caught:
            kind.parse(item, posted)
        assert caught.value.field == field
        assert str(caught.value).startswith(message), str(caught.value)


def test_the_order_error_names_the_points_in_every_language(good: Definition) -> None:
    item = good.item("budget_prob")
    with pytest.raises(FieldError) as caught:
        item.kind.parse(item, form("50", "20", "60", "90"))
    point = caught.value.message.params["point"]
    assert isinstance(point, Phrase) and point == "2 % of GDP"
    assert point.texts == {"en": "2 % of GDP", "ur": "2 % جی ڈی پی"}
    plain = good.item("plain")
    with pytest.raises(FieldError) as caught:
        plain.kind.parse(plain, form("50", "20", "60", item="plain"))
    assert caught.value.message.params["before"] == "-1.5"


def test_answers_become_rows_review_text_and_points(good: Definition) -> None:
    item = good.item("budget_prob")
    kind = item.kind
    value = {"p1": 0.0, "p2": 30.0, "p3": 60.0, "p4": 100.0}
    rows = kind.to_rows(item, value)
    assert [(row.part, row.value_num) for row in rows] == [
        ("p1", 0.0),
        ("p2", 30.0),
        ("p3", 60.0),
        ("p4", 100.0),
    ]
    assert kind.from_rows(item, rows) == value
    assert kind.form_fields(item, {**value, "p3": 62.5}) == {
        "budget_prob.p1": ["0"],
        "budget_prob.p2": ["30"],
        "budget_prob.p3": ["62.5"],
        "budget_prob.p4": ["100"],
    }
    assert kind.describe(item, value, "en", gettext) == (
        "at most 1 % of GDP: 0 %; at most 2 % of GDP: 30 %; at most 3 % of GDP: 60 %; at most 4 % of GDP: 100 %"
    )
    assert kind.cumulative(item, value) == Points((2.0, 3.0), (0.3, 0.6), 1.0, 4.0)


@pytest.mark.parametrize("seed", range(8))
def test_a_demo_answer_survives_the_form_and_the_answer_rows(good: Definition, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311
    for item in good.items():
        kind = item.kind
        value = kind.demo(item, DemoContext("UK" if seed % 2 else "PK", {}, rng))
        percents = [value[part] for part in item.parts]
        assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
        assert any(0 < p < 100 for p in percents)
        rows = kind.to_rows(item, value)
        assert [row.part for row in rows] == list(item.parts)
        assert kind.from_rows(item, rows) == value
        fields = kind.form_fields(item, value)
        assert set(fields) <= set(kind.form_names(item))
        assert kind.parse(item, fields) == value, (item.id, fields)
        assert kind.sent_fields(item, fields)
        points = kind.cumulative(item, value)
        assert points is not None and points.values


def test_probability_points_keep_the_inner_points_and_the_bounds_they_imply() -> None:
    assert probability_points([1, 2, 3, 4], [10, 30, 60, 90]) == Points(
        (1.0, 2.0, 3.0, 4.0), (0.1, 0.3, 0.6, 0.9)
    )
    assert probability_points([1, 2, 3, 4, 5], [0, 0, 25, 100, 100]) == Points((3.0,), (0.25,), 2.0, 4.0)
    assert probability_points([0, 10], [0, 50]) == Points((10.0,), (0.5,), 0.0, None)
    assert probability_points([0, 10], [50, 100]) == Points((0.0,), (0.5,), None, 10.0)
    assert probability_points([1, 2], [0, 100]) == Points((), (), 1.0, 2.0)  # nothing left to fit


@pytest.mark.parametrize(
    ("values", "percents", "message"),
    [
        ([1, 2, 3], [10, 50], "one probability per value"),
        ([], [], "one probability per value"),
        ([1, 3, 2], [10, 50, 90], "the values must increase"),
        ([1, 1, 2], [10, 50, 90], "the values must increase"),
        ([1, 2, 3], [10, 50, 101], "percentages from 0 to 100"),
        ([1, 2, 3], [-5, 50, 90], "percentages from 0 to 100"),
        ([1, 2, 3], [10, float("nan"), 90], "percentages from 0 to 100"),
        ([1, 2, 3], [10, 60, 50], "must not decrease"),
    ],
)
def test_probability_points_refuse_what_is_not_a_distribution(
    values: list[float], percents: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        probability_points(values, percents)


def test_a_fit_to_probability_points_passes_near_them() -> None:
    from elicit.stats.distributions import fit_judgement

    points = probability_points([1, 2, 3, 4], [10, 30, 60, 90])
    best = fit_judgement(points).best
    for value, probability in zip(points.values, points.probabilities, strict=True):
        assert best.dist.cdf(value) == pytest.approx(probability, abs=0.05)
    bounded = probability_points([1, 2, 3, 4], [0, 30, 60, 90])
    fits = fit_judgement(bounded)  # the 0 % at 1 is the support's lower bound: the families above it apply
    above = [fit for fit in fits.fits if fit.family in {"gamma", "lognormal", "logt"}]
    assert fits.lower == 1.0 and len(above) == 3
    assert all(fit.dist.cdf(1.0) == pytest.approx(0, abs=1e-9) for fit in above)
