"""The roulette and four-point types on the expert pages: answered without JavaScript through the Flask client
(stored rows, review text, the server's chip count and its errors), and in Chromium with JavaScript (clicking chips
into bins), axe-clean, with screenshots in English and Urdu on a phone and a desktop, with and without JavaScript."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.models import Answer
from elicit.studies import create_study
from tests.conftest import ARTIFACTS, StudyHandle, axe_violations
from tests.survey.contract import summary_link
from tests.survey.test_expert_flow import begin, follow
from tests.survey.test_new_item_types import PAGE, assert_fits, attribute, open_page, post_page, review_rows

SLUG = "judgements"
INSTRUMENT = f"""
id: judgements
version: 1.0.0
languages: [en, ur]
title: {{en: "Defence budgets", ur: "دفاعی بجٹ"}}
pages:
  - id: {PAGE}
    title: {{en: "Your estimates", ur: "آپ کے اندازے"}}
    items:
      - id: spend
        type: roulette
        bins: [0, 1, 2, 3, 4, 5]
        chips: 10
        unit: {{en: "% of GDP", ur: "% جی ڈی پی"}}
        dont_know: true
        text:
          en: "What share of GDP will your state spend on defence in 2030?"
          ur: "آپ کا ملک 2030 میں جی ڈی پی کا کتنا حصہ دفاع پر خرچ کرے گا؟"
      - id: visits
        type: four_point
        min: 0
        max: 500
        dont_know: true
        text:
          en: "How many staff visits will take place next year?"
          ur: "اگلے سال عملے کے کتنے دورے ہوں گے؟"
"""
SPEND = "What share of GDP will your state spend on defence in 2030?"
VISITS = "How many staff visits will take place next year?"


@pytest.fixture
def judgements(app: Flask) -> StudyHandle:
    """A published instrument with a roulette and a four-point item, and a study on it (cohorts UK, PK)."""
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "judgements.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def stored(app: Flask) -> dict[tuple[str, str], tuple[float | None, bool]]:
    """Every answers row of the one response, by item id and part."""
    with app.app_context():
        rows = db.session.execute(select(Answer.item_id, Answer.part, Answer.value_num, Answer.dont_know))
        return {(item, part): (num, dont_know) for item, part, num, dont_know in rows}


def chips(**counts: int) -> dict[str, str]:
    """Post fields for the roulette's bins (``b1=3`` -> ``spend.b1``)."""
    return {f"spend__{part}": str(n) for part, n in counts.items()}


FOUR = {"visits__low": "10", "visits__high": "40", "visits__best": "20", "visits__confidence": "80"}


def test_the_page_has_a_box_per_bin_and_the_four_values_in_idea_order(
    client: FlaskClient, judgements: StudyHandle
) -> None:
    (token,) = judgements.invite("UK")
    html = begin(client, token).text
    for part, bounds in zip(("b1", "b2", "b5"), ("0 – 1", "1 – 2", "4 – 5"), strict=True):
        assert f'<label for="spend.{part}">Chips in {bounds} % of GDP</label>' in html
        assert attribute(html, f"spend.{part}", "inputmode") == "numeric"
    assert 'name="spend.b6"' not in html
    assert "Chips placed: 0 of 10" in html
    assert '<div class="roulette-board" id="spend-board" hidden>' in html  # shown only by roulette.js
    assert re.search(r'<script src="/static/roulette\.js" defer></script>', html)
    order = [html.index(f'name="visits.{part}"') for part in ("low", "high", "best", "confidence")]
    assert order == sorted(order)
    assert (
        "Lowest plausible value" in html
        and '<span class="four-point-range" dir="ltr">(50–100 %)</span>' in html
    )
    assert 'name="spend.dont_know"' in html and 'name="visits.dont_know"' in html


def test_answers_are_stored_reviewed_and_shown_again(
    app: Flask, client: FlaskClient, judgements: StudyHandle
) -> None:
    (token,) = judgements.invite("UK")
    page = begin(client, token)
    saved = post_page(client, token, page, **chips(b1="1", b2="3", b3="4", b4="2"), **FOUR)
    assert saved.status_code == 303, saved.text[:2000]
    rows = stored(app)
    assert [rows[("spend", f"b{i}")][0] for i in range(1, 6)] == [1.0, 3.0, 4.0, 2.0, 0.0]
    assert {part: rows[("visits", part)][0] for part in ("low", "high", "best", "confidence")} == {
        "low": 10.0,
        "high": 40.0,
        "best": 20.0,
        "confidence": 80.0,
    }
    answers = review_rows(follow(client, saved).text)
    assert answers[SPEND] == ("0 – 1 % of GDP: 1; 1 – 2 % of GDP: 3; 2 – 3 % of GDP: 4; 3 – 4 % of GDP: 2")
    assert answers[VISITS] == "10 – 40 (best estimate 20), 80 % sure"
    again = client.get(f"/s/{token}/p/{PAGE}").text
    assert attribute(again, "spend.b3", "value") == "4" and attribute(again, "spend.b5", "value") == "0"
    assert "Chips placed: 10 of 10" in again
    assert attribute(again, "visits.confidence", "value") == "80"


def test_dont_know_is_stored_as_such(app: Flask, client: FlaskClient, judgements: StudyHandle) -> None:
    (token,) = judgements.invite("UK")
    page = begin(client, token)
    saved = post_page(client, token, page, spend__dont_know="yes", visits__dont_know="yes")
    assert saved.status_code == 303, saved.text[:2000]
    rows = stored(app)
    assert rows[("spend", "")][1] is True and rows[("visits", "")][1] is True
    answers = review_rows(follow(client, saved).text)
    assert answers[SPEND] == answers[VISITS] == "Don&#39;t know / prefer not to say"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (chips(b1="3", b2="4"), "spend.b1", "Place all 10 chips: you have placed 7 so far."),
        (
            chips(b1="6", b2="7"),
            "spend.b1",
            "There are only 10 chips: you have placed 13, so take 3 away.",
        ),
        (chips(b2="11"), "spend.b2", "A bin can hold at most 10 chips."),
        (chips(b3="2.5"), "spend.b3", "Enter a whole number."),
        (chips(b4="-1"), "spend.b4", "A bin cannot hold fewer than 0 chips."),
        (
            {"visits__low": "10"},
            "visits.high",
            "Give all four: the lowest and highest plausible values, your best estimate and how sure you are.",
        ),
        ({**FOUR, "visits__high": "5"}, "visits.high", "The highest value must be above the lowest value."),
        (
            {**FOUR, "visits__best": "50"},
            "visits.best",
            "Your best estimate must lie between your lowest and highest values.",
        ),
        (
            {**FOUR, "visits__confidence": "40"},
            "visits.confidence",
            "Enter how sure you are as a whole percent from 50 to 100.",
        ),
        ({**FOUR, "visits__confidence": "85.5"}, "visits.confidence", "Enter a whole number."),
        ({**FOUR, "visits__high": "600"}, "visits.high", "Enter a value of at most 500."),
    ],
    ids=[
        "too few chips",
        "too many chips",
        "a bin over the total",
        "half a chip",
        "negative chips",
        "missing values",
        "high below low",
        "best outside",
        "confidence below 50",
        "confidence not whole",
        "above max",
    ],
)
def test_a_wrong_answer_is_explained_on_the_page_and_nothing_is_stored(
    app: Flask, client: FlaskClient, judgements: StudyHandle, fields: dict[str, str], field: str, message: str
) -> None:
    (token,) = judgements.invite("UK")
    page = begin(client, token)
    refused = post_page(client, token, page, **fields)
    assert refused.status_code == 422, refused.text[:2000]
    html = refused.text
    assert (
        f'<p class="field-error" id="{field}-error"><span class="visually-hidden">Error:</span> {message}</p>'
        in html
    )
    anchor = summary_link(html, message)
    assert anchor and re.search(rf'<input\b[^>]*\bid="{re.escape(anchor)}"', html)
    for name, value in fields.items():  # what was posted is shown again
        assert attribute(html, name.replace("__", "."), "value") == value
    assert stored(app) == {}


def test_the_server_counts_the_chips_posted_before_an_error(
    client: FlaskClient, judgements: StudyHandle
) -> None:
    (token,) = judgements.invite("UK")
    page = begin(client, token)
    refused = post_page(client, token, page, **chips(b1="2", b5="۳"))  # Urdu digits count
    assert refused.status_code == 422
    assert "Chips placed: 5 of 10" in refused.text
    assert "Place all 10 chips: you have placed 5 so far." in refused.text


def test_the_page_errors_and_review_in_urdu(client: FlaskClient, judgements: StudyHandle) -> None:
    (token,) = judgements.invite("PK")
    page = begin(client, token, "ur")
    html = page.text
    assert 'dir="rtl"' in html
    assert "کم سے کم ممکنہ قدر" in html  # lowest plausible value
    assert "10 میں سے 0 چپس رکھے گئے" in html  # chips placed: 0 of 10
    refused = post_page(client, token, page, **chips(b1="3"), **{**FOUR, "visits__best": "50"})
    assert "تمام 10 چپس رکھیں" in refused.text
    saved = post_page(client, token, refused, **chips(b1="10"), **FOUR)
    assert saved.status_code == 303, saved.text[:2000]
    answers = review_rows(follow(client, saved).text)
    assert answers["آپ کا ملک 2030 میں جی ڈی پی کا کتنا حصہ دفاع پر خرچ کرے گا؟"] == "0 – 1 % جی ڈی پی: 10"
    assert answers["اگلے سال عملے کے کتنے دورے ہوں گے؟"] == "10 – 40 (بہترین اندازہ 20)، 80 % یقین"


# -- in Chromium --------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.rendering
def test_with_javascript_chips_are_clicked_into_bins(
    browser: Any, live_server: str, judgements: StudyHandle, axe_source: str
) -> None:
    (token,) = judgements.invite("UK")
    tab = open_page(browser, live_server, token, "en", True, 1280)
    assert tab.locator("#spend-board").is_visible()
    adds, removes = tab.locator("#spend-board .roulette-add"), tab.locator("#spend-board .roulette-remove")
    assert adds.count() == 5
    assert adds.nth(0).get_attribute("aria-describedby") == "spend-status"
    for bin_index, times in ((0, 1), (1, 4), (2, 3), (3, 2)):
        for _ in range(times):
            adds.nth(bin_index).click()
    assert tab.locator("#spend-status").inner_text() == "Chips placed: 10 of 10"
    assert adds.nth(4).get_attribute("aria-disabled") == "true"
    adds.nth(4).click(force=True)  # every chip is placed: no eleventh
    assert tab.locator('[name="spend.b5"]').input_value() == ""
    removes.nth(3).click()
    assert tab.locator('[name="spend.b4"]').input_value() == "1"
    assert tab.locator("#spend-status").inner_text() == "Chips placed: 9 of 10"
    tab.locator('[name="spend.b5"]').fill("1")  # typing moves the board too
    assert tab.locator("#spend-board .roulette-column").nth(4).locator(".roulette-chip").count() == 1
    assert [tab.locator(f'[name="spend.b{i}"]').input_value() for i in range(1, 6)] == [
        "1",
        "4",
        "3",
        "1",
        "1",
    ]
    assert tab.locator("#spend-board .roulette-column").nth(1).locator(".roulette-chip").count() == 4
    for name, value in FOUR.items():
        tab.locator(f'[name="{name.replace("__", ".")}"]').fill(value)
    assert not axe_violations(tab, axe_source)
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    assert tab.url.endswith("/review"), tab.inner_text("main")[:500]
    text = tab.inner_text("main")
    assert "1 – 2 % of GDP: 4" in text and "4 – 5 % of GDP: 1" in text and "80 % sure" in text
    tab.context.close()


@pytest.mark.browser
@pytest.mark.rendering
def test_without_javascript_the_boxes_are_the_answer(
    browser: Any, live_server: str, judgements: StudyHandle, axe_source: str
) -> None:
    (token,) = judgements.invite("PK")
    tab = open_page(browser, live_server, token, "ur", False, 360)
    assert not tab.locator("#spend-board").is_visible()
    tab.locator('[name="spend.b2"]').fill("10")
    for name, value in FOUR.items():
        tab.locator(f'[name="{name.replace("__", ".")}"]').fill(value)
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    assert tab.url.endswith("/review"), tab.inner_text("main")[:500]
    assert "1 – 2 % جی ڈی پی: 10" in tab.inner_text("main")
    tab.context.close()


def assert_board_mirrors(tab: Any, language: str) -> None:
    """The lowest bin is at the start of the reading direction: left in English, right in Urdu."""
    first, last = (tab.locator("#spend-board .roulette-column").nth(i).bounding_box() for i in (0, 4))
    assert (first["x"] > last["x"]) == (language == "ur")


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_screenshots_at_phone_and_desktop_widths(
    browser: Any, live_server: str, judgements: StudyHandle, axe_source: str, language: str, javascript: bool
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        (token,) = judgements.invite("UK")
        tab = open_page(browser, live_server, token, language, javascript, width)
        if javascript:
            for bin_index, times in ((1, 3), (2, 4)):
                for _ in range(times):
                    tab.locator("#spend-board .roulette-add").nth(bin_index).click()
            assert_board_mirrors(tab, language)
        else:
            tab.locator('[name="spend.b2"]').fill("3")
            tab.locator('[name="spend.b3"]').fill("4")
        assert_fits(tab)
        tab.screenshot(path=str(ARTIFACTS / f"roulette-{language}-{width}-{js}.png"), full_page=True)
        # sent with chips left over and a best estimate outside the range: the page with its errors
        tab.locator('[name="visits.low"]').fill("10")
        tab.locator('[name="visits.high"]').fill("40")
        tab.locator('[name="visits.best"]').fill("50")
        tab.locator('[name="visits.confidence"]').fill("80")
        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        assert tab.locator(".error-summary").count() == 1
        assert_fits(tab)
        if javascript:
            assert tab.locator("#spend-board .roulette-chip").count() == 7  # the board shows the posted boxes
            assert not axe_violations(tab, axe_source)  # axe needs JavaScript
        tab.screenshot(path=str(ARTIFACTS / f"roulette-{language}-{width}-{js}-errors.png"), full_page=True)
        tab.context.close()
