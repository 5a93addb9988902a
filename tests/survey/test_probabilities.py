"""The probabilities type (SHELF's probability method) on the expert pages: a box per fixed value without
JavaScript through the Flask client (stored rows, review text, errors in English and Urdu, "Show my distribution"
put in words, the export's columns), and in Chromium with and without JavaScript, axe-clean, with screenshots."""

from __future__ import annotations

import csv
import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.exporting import build_export
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.models import Answer, Study
from elicit.studies import create_study
from tests.conftest import ARTIFACTS, StudyHandle, axe_violations
from tests.survey.contract import summary_link
from tests.survey.test_expert_flow import begin, csrf_of, follow, submit
from tests.survey.test_new_item_types import PAGE, assert_fits, attribute, open_page, post_page, review_rows

SLUG = "probabilities"
INSTRUMENT = f"""
id: probabilities
version: 1.0.0
languages: [en, ur]
title: {{en: "Defence budgets", ur: "دفاعی بجٹ"}}
pages:
  - id: {PAGE}
    title: {{en: "Your estimates", ur: "آپ کے اندازے"}}
    items:
      - id: budget_prob
        type: probabilities
        points: [1, 2, 3, 4]
        unit: {{en: "% of GDP", ur: "% جی ڈی پی"}}
        min: 0
        dont_know: true
        text:
          en: "What share of GDP will your state spend on defence in 2030?"
          ur: "آپ کا ملک 2030 میں جی ڈی پی کا کتنا حصہ دفاع پر خرچ کرے گا؟"
"""
QUESTION = "What share of GDP will your state spend on defence in 2030?"
QUESTION_UR = "آپ کا ملک 2030 میں جی ڈی پی کا کتنا حصہ دفاع پر خرچ کرے گا؟"
ANSWER = {"budget_prob__p1": "10", "budget_prob__p2": "40", "budget_prob__p3": "70", "budget_prob__p4": "95"}


@pytest.fixture
def budgets(app: Flask) -> StudyHandle:
    """A published instrument with one probabilities item, and a study on it (cohorts UK, PK)."""
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "probabilities.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def stored(app: Flask) -> dict[str, tuple[float | None, bool]]:
    """Every answers row of the one response, by part."""
    with app.app_context():
        rows = db.session.execute(select(Answer.part, Answer.value_num, Answer.dont_know))
        return {part: (num, dont_know) for part, num, dont_know in rows}


def text_of(html: str) -> str:
    """The visible text of a page, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", html)))


def test_the_page_asks_for_a_probability_at_each_value(client: FlaskClient, budgets: StudyHandle) -> None:
    (token,) = budgets.invite("UK")
    html = begin(client, token).text
    for part, point in (("p1", "1"), ("p4", "4")):
        assert (
            f'<label for="budget_prob.{part}">Probability that the true value is at most '
            f'<bdi dir="ltr">{point} % of GDP</bdi></label>'
        ) in html
        assert attribute(html, f"budget_prob.{part}", "inputmode") == "decimal"
        assert attribute(html, f"budget_prob.{part}", "dir") == "ltr"
    assert 'name="budget_prob.p5"' not in html
    assert attribute(html, "budget_prob.p1", "aria-describedby") == "budget_prob-how"
    assert html.count('<span class="unit">%</span>') == 4
    assert "at most that value" in html
    assert 'name="show" value="budget_prob"' in html  # "Show my distribution"
    assert 'name="budget_prob.dont_know"' in html


def test_answers_are_stored_reviewed_shown_again_and_exported(
    app: Flask, client: FlaskClient, budgets: StudyHandle, tmp_path: Path
) -> None:
    (token,) = budgets.invite("UK")
    page = begin(client, token)
    saved = post_page(client, token, page, **{**ANSWER, "budget_prob__p4": "97.5 %"})
    assert saved.status_code == 303, saved.text[:2000]
    assert stored(app) == {
        "p1": (10.0, False),
        "p2": (40.0, False),
        "p3": (70.0, False),
        "p4": (97.5, False),
    }
    answers = review_rows(follow(client, saved).text)
    assert answers[QUESTION] == (
        "at most 1 % of GDP: 10 %; at most 2 % of GDP: 40 %; at most 3 % of GDP: 70 %; at most 4 % of GDP: 97.5 %"
    )
    again = client.get(f"/s/{token}/p/{PAGE}").text
    assert attribute(again, "budget_prob.p2", "value") == "40"
    assert attribute(again, "budget_prob.p4", "value") == "97.5"
    assert submit(client, token).status_code == 303
    with app.app_context(), db.transaction() as session:
        study = session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None
        build_export(session, study, "csv", tmp_path / "csv", actor="cli")
    with (tmp_path / "csv" / "data.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert [row[f"budget_prob.p{i}"] for i in range(1, 5)] == ["10", "40", "70", "97.5"]
    codebook = json.loads((tmp_path / "csv" / "codebook.json").read_text(encoding="utf-8"))
    (entry,) = [item for item in codebook["items"] if item["id"] == "budget_prob"]
    assert entry["analysis"] == "distribution" and entry["elicitation"] == "probabilities"
    assert entry["points"] == [1, 2, 3, 4] and entry["min"] == 0
    assert entry["columns"] == [*(f"budget_prob.p{i}" for i in range(1, 5)), "budget_prob.dont_know"]


def test_dont_know_is_stored_as_such(app: Flask, client: FlaskClient, budgets: StudyHandle) -> None:
    (token,) = budgets.invite("UK")
    saved = post_page(client, token, begin(client, token), budget_prob__dont_know="yes")
    assert saved.status_code == 303, saved.text[:2000]
    assert stored(app) == {"": (None, True)}
    assert review_rows(follow(client, saved).text)[QUESTION] == "Don&#39;t know / prefer not to say"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"budget_prob__p1": "10"},
            "budget_prob.p2",
            "Give a probability for every value: a percent from 0 to 100, such as 25.",
        ),
        ({**ANSWER, "budget_prob__p3": "120"}, "budget_prob.p3", "Enter a probability from 0 to 100 %."),
        ({**ANSWER, "budget_prob__p2": "some"}, "budget_prob.p2", "Enter a number, e.g. 12 or 12.5."),
        (
            {**ANSWER, "budget_prob__p3": "30"},
            "budget_prob.p3",
            "The probability that the value is at most 3 % of GDP cannot be smaller than the probability that it"
            " is at most 2 % of GDP, which you gave as 40 %.",
        ),
        (
            {
                "budget_prob__p1": "0",
                "budget_prob__p2": "0",
                "budget_prob__p3": "100",
                "budget_prob__p4": "100",
            },
            "budget_prob.p1",
            "Give at least one probability between 0 and 100 %. With only 0 % and 100 %, your answers do not"
            " say how unsure you are.",
        ),
    ],
    ids=["missing", "above 100", "not a number", "going down", "only 0 and 100"],
)
def test_a_wrong_answer_is_explained_on_the_page_and_nothing_is_stored(
    app: Flask, client: FlaskClient, budgets: StudyHandle, fields: dict[str, str], field: str, message: str
) -> None:
    (token,) = budgets.invite("UK")
    refused = post_page(client, token, begin(client, token), **fields)
    assert refused.status_code == 422, refused.text[:2000]
    html = refused.text
    assert (
        f'<p class="field-error" id="{field}-error"><span class="visually-hidden">Error:</span> {message}</p>'
        in html
    )
    anchor = summary_link(html, message)
    assert anchor and re.search(rf'<input\b[^>]*\bid="{re.escape(anchor)}"', html)
    assert f"{field}-error" in attribute(html, "budget_prob.p1", "aria-describedby")
    for name, value in fields.items():  # what was posted is shown again
        assert attribute(html, name.replace("__", "."), "value") == value
    assert stored(app) == {}


def test_the_page_errors_and_review_in_urdu(client: FlaskClient, budgets: StudyHandle) -> None:
    (token,) = budgets.invite("PK")
    page = begin(client, token, "ur")
    html = page.text
    assert 'dir="rtl"' in html
    assert (
        'اس کا امکان کہ اصل قدر <span class="quantity"><bdi dir="ltr">2</bdi> % جی ڈی پی</span> یا اس سے کم ہے'
        in html
    )
    refused = post_page(client, token, page, **{**ANSWER, "budget_prob__p3": "30"})
    assert refused.status_code == 422
    assert (
        "اس کا امکان کہ قدر 3 % جی ڈی پی یا اس سے کم ہو، اس امکان سے کم نہیں ہو سکتا کہ وہ 2 % جی ڈی پی یا اس سے"
        " کم ہو، جو آپ نے 40 % لکھا ہے۔"
    ) in refused.text  # the points are named with the unit in Urdu
    assert "cannot be smaller" not in refused.text
    saved = post_page(client, token, refused, **ANSWER)
    assert saved.status_code == 303, saved.text[:2000]
    answers = review_rows(follow(client, saved).text)
    assert answers[QUESTION_UR] == (
        "1 % جی ڈی پی یا اس سے کم: 10 %; 2 % جی ڈی پی یا اس سے کم: 40 %; 3 % جی ڈی پی یا اس سے کم: 70 %; "
        "4 % جی ڈی پی یا اس سے کم: 95 %"
    )


def show(client: FlaskClient, token: str, page: Any, **fields: str) -> Any:
    """Press "Show my distribution" without JavaScript: the page's fields, then ``fields``."""
    data = {name.replace("__", "."): value for name, value in fields.items()}
    return client.post(
        f"/s/{token}/p/{PAGE}", data={"csrf_token": csrf_of(page.text), "show": "budget_prob", **data}
    )


def test_showing_the_distribution_puts_each_range_in_words(
    app: Flask, client: FlaskClient, budgets: StudyHandle
) -> None:
    (token,) = budgets.invite("UK")
    page = begin(client, token)
    shown = show(client, token, page, **{**ANSWER, "budget_prob__p2": "40", "budget_prob__p3": "70"})
    assert shown.status_code == 200, shown.text[:2000]
    html = shown.text
    assert '<svg class="density" role="img"' in html and 'class="density-curve"' in html
    assert html.count('class="density-point"') == 4
    text = text_of(html)
    assert "You are saying there is a 10 % chance that the true value is below 1 % of GDP." in text
    assert (
        "You are saying there is a 30 % chance that the true value lies between 2 % of GDP and 3 % of GDP."
        in text
    )
    assert "there is a 5 % chance that the true value is above 4 % of GDP." in text
    assert "The curve's median is" in text  # no value at 50 %: the fitted median
    assert "You placed all your chips" not in text and "Your low and high values" not in text
    assert '<bdi dir="ltr">30</bdi>' in html and '<bdi dir="ltr">2 % of GDP</bdi>' in html
    assert stored(app) == {}  # nothing saved


def test_zero_and_hundred_percent_bound_the_drawing_and_are_said(
    client: FlaskClient, budgets: StudyHandle
) -> None:
    (token,) = budgets.invite("UK")
    page = begin(client, token)
    values = {
        "budget_prob__p1": "0",
        "budget_prob__p2": "50",
        "budget_prob__p3": "100",
        "budget_prob__p4": "100",
    }
    shown = show(client, token, page, **values)
    assert shown.status_code == 200, shown.text[:2000]
    text = text_of(shown.text)
    assert "You gave a 0 % probability to values of at most 1 % of GDP" in text
    assert "You gave a 100 % probability to values of at most 3 % of GDP" in text
    assert "a 50 % chance that the true value lies between 1 % of GDP and 2 % of GDP" in text
    assert "a 50 % chance that the true value lies between 2 % of GDP and 3 % of GDP" in text
    assert "You are saying the true value is as likely to lie below 2 % of GDP as above it." in text
    assert "chance that the true value is above" not in text and "is below 1" not in text
    assert shown.text.count('class="density-point"') == 1  # only the 50 % value is fitted and marked


def test_showing_in_urdu_and_an_unshowable_answer(client: FlaskClient, budgets: StudyHandle) -> None:
    (token,) = budgets.invite("PK")
    page = begin(client, token, "ur")
    shown = show(client, token, page, **ANSWER)
    assert shown.status_code == 200
    text = text_of(shown.text)
    assert (
        "آپ کہہ رہے ہیں کہ اس کا 30 % امکان ہے کہ اصل قدر 1 % جی ڈی پی اور 2 % جی ڈی پی کے درمیان ہے۔" in text
    )
    assert "You are saying" not in text
    refused = show(client, token, page, budget_prob__p1="50", budget_prob__p2="20")
    assert refused.status_code == 422 and "<svg" not in refused.text


# -- in Chromium --------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_a_person_gives_probabilities_shows_them_and_saves(
    browser: Any,
    live_server: str,
    app: Flask,
    budgets: StudyHandle,
    axe_source: str,
    language: str,
    javascript: bool,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        (token,) = budgets.invite("PK" if language == "ur" else "UK")
        tab = open_page(browser, live_server, token, language, javascript, width)
        boxes = [tab.locator(f'[name="budget_prob.p{i}"]') for i in range(1, 5)]
        for box, value in zip(boxes, ("10", "40", "30", "95"), strict=True):
            box.fill(value)
        tab.locator('button[name="nav"][value="next"]').click()  # going down: refused beside the third box
        tab.wait_for_load_state()
        assert tab.locator(".error-summary").count() == 1
        assert tab.locator("#budget_prob\\.p3-error").is_visible()
        assert boxes[0].get_attribute("aria-invalid") == "true" and boxes[2].input_value() == "30"
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.screenshot(
            path=str(ARTIFACTS / f"probabilities-{language}-{width}-{js}-errors.png"), full_page=True
        )
        boxes[2].fill("70")
        address = tab.url
        tab.locator('button[name="show"][value="budget_prob"]').click()
        tab.locator("svg.density").wait_for()
        tab.wait_for_load_state("load")
        if javascript:
            assert tab.url == address  # updated in place
        else:
            assert tab.url.endswith("#budget_prob-distribution")
        assert boxes[2].input_value() == "70"
        assert tab.locator(".distribution-checks li").count() >= 5
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.locator("#budget_prob-distribution").scroll_into_view_if_needed()
        tab.screenshot(
            path=str(ARTIFACTS / f"probabilities-{language}-{width}-{js}-shown.png"), full_page=True
        )
        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        assert tab.url.endswith("/review"), tab.inner_text("main")[:500]
        tab.context.close()
        with app.app_context():
            rows = db.session.execute(
                select(Answer.part, Answer.value_num).where(Answer.item_id == "budget_prob")
            ).all()
        assert len(rows) == 4 * (width // 1280 + 1)  # one response per width, each stored once
        assert set(rows) == {("p1", 10.0), ("p2", 40.0), ("p3", 70.0), ("p4", 95.0)}


def test_delphi_feedback_gives_each_group_s_median_probability_at_each_value(app: Flask) -> None:
    from flask import g, get_template_attribute

    from elicit.responding.feedback import GroupResult, ItemFeedback
    from elicit.survey.rendering import PageView

    definition = load_text(INSTRUMENT, "probabilities.yaml")
    item = definition.item("budget_prob")
    pooled = (("p1", 10.0), ("p2", 35.0), ("p3", 72.5), ("p4", 95.0))
    feedback = ItemFeedback(
        "budget_prob",
        1,
        {"p1": 5.0, "p2": 30.0, "p3": 60.0, "p4": 90.0},
        (GroupResult("cohort", 6, False, pooled=pooled), GroupResult("all", 0, True)),
        ("Budgets follow threats.",),
    )
    with app.test_request_context():
        g.language = "en"
        view = PageView(definition, definition.pages[0], "en", {}, feedback={"budget_prob": feedback})
        html = str(get_template_attribute(item.kind.template, "render")(view, item))
    text = text_of(html)
    assert "Results of round 1" in text
    assert "Your answer: at most 1 % of GDP: 5 %; at most 2 % of GDP: 30 %" in text
    assert "Your group (n = 6), median probabilities:" in text
    assert "Probability that the true value is at most 3 % of GDP: 72.5 %" in text
    assert '<bdi dir="ltr">72.5 %</bdi>' in html
    assert "All experts: not shown: fewer than 5 answers" in text
    assert "Budgets follow threats." in text
