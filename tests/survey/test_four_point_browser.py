"""The four-point item in Chromium, as a person answers it: in English and Urdu, with and without JavaScript, on a
phone and a desktop. The four boxes are filled, a lowest value above the best estimate is refused beside the best
estimate, "Show my distribution" draws the judgement (in place with JavaScript, by posting the page without it),
and saving stores the four values. Axe-clean (with JavaScript, which axe needs), screenshots in tests/artifacts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.models import Answer
from elicit.studies import create_study
from tests.conftest import ARTIFACTS, StudyHandle, axe_violations
from tests.survey.test_new_item_types import PAGE, assert_fits, open_page

SLUG = "four-point"
INSTRUMENT = f"""
id: four-point
version: 1.0.0
languages: [en, ur]
title: {{en: "Staff visits", ur: "عملے کے دورے"}}
pages:
  - id: {PAGE}
    title: {{en: "Your estimate", ur: "آپ کا اندازہ"}}
    items:
      - id: visits
        type: four_point
        min: 0
        max: 500
        unit: {{en: visits, ur: دورے}}
        dont_know: true
        text:
          en: "How many staff visits will take place next year?"
          ur: "اگلے سال عملے کے کتنے دورے ہوں گے؟"
"""
ORDER_ERROR = "Your best estimate must lie between your lowest and highest values."
REVIEW = {
    "en": "10 – 40 visits (best estimate 20), 80 % sure",
    "ur": "10 – 40 دورے (بہترین اندازہ 20)، 80 % یقین",
}


@pytest.fixture
def visits(app: Flask) -> StudyHandle:
    """A published instrument with one four-point item (0 to 500 visits), and a study on it (cohorts UK, PK)."""
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "four-point.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def order_error(app: Flask, language: str) -> str:
    """The refusal of a best estimate outside the range, in ``language``."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale(language):
        return str(gettext(ORDER_ERROR))  # noqa: INT001 - the msgid is the type's, marked where it is raised


def stored_values(app: Flask) -> list[dict[str, float | None]]:
    """The four-point answer of each response, by part."""
    with app.app_context():
        rows = db.session.execute(
            select(Answer.response_id, Answer.part, Answer.value_num).where(Answer.item_id == "visits")
        ).all()
    by_response: dict[Any, dict[str, float | None]] = {}
    for response_id, part, value in rows:
        by_response.setdefault(response_id, {})[part] = value
    return [by_response[key] for key in sorted(by_response)]


def fill(tab: Any, low: str, high: str, best: str, confidence: str) -> None:
    for part, value in (("low", low), ("high", high), ("best", best), ("confidence", confidence)):
        tab.locator(f'[name="visits.{part}"]').fill(value)


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_a_person_answers_a_four_point_item(
    browser: Any,
    live_server: str,
    app: Flask,
    visits: StudyHandle,
    axe_source: str,
    language: str,
    javascript: bool,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    refusal = order_error(app, language)
    assert (refusal == ORDER_ERROR) == (language == "en")  # translated in Urdu
    for number, width in enumerate((360, 1280), start=1):
        (token,) = visits.invite("PK" if language == "ur" else "UK")
        tab = open_page(browser, live_server, token, language, javascript, width)
        assert tab.locator("html").get_attribute("dir") == ("rtl" if language == "ur" else "ltr")
        order = [
            tab.locator(f'[name="visits.{part}"]').bounding_box()["y"] for part in ("low", "high", "best")
        ]
        assert order == sorted(order)  # IDEA's order: lowest, highest, then the best estimate
        fill(tab, "30", "40", "20", "80")  # the lowest value above the best estimate
        tab.locator(
            'button[name="show"][value="visits"]'
        ).click()  # with JS the refusal falls back to the page
        tab.locator("#visits\\.best-error").wait_for()
        tab.wait_for_load_state("load")
        assert tab.locator("#visits\\.best-error").inner_text().strip().endswith(refusal)
        assert tab.locator(".error-summary").count() == 1
        assert tab.locator("svg.density").count() == 0
        assert tab.locator('[name="visits.low"]').input_value() == "30"  # what was typed comes back
        assert tab.locator('[name="visits.low"]').get_attribute("aria-invalid") == "true"
        assert_fits(tab)
        if javascript:
            assert axe_violations(tab, axe_source) == []
        tab.screenshot(path=str(ARTIFACTS / f"four-point-{language}-{width}-{js}-errors.png"), full_page=True)

        fill(tab, "10", "40", "20", "80")
        address = tab.url
        tab.locator('button[name="show"][value="visits"]').click()
        tab.locator("svg.density").wait_for()
        tab.wait_for_load_state("load")
        if javascript:
            assert tab.url == address  # the drawing was put in place, the page was not posted
        else:
            assert tab.url.endswith("#visits-distribution")
        assert tab.locator("svg.density .density-point").count() == 3
        labels = tab.locator("svg.density .density-point-label").evaluate_all(
            "els => els.map(e => e.textContent)"
        )
        assert labels == ["10", "20", "40"]
        checks = tab.locator(".distribution-checks").inner_text()
        if language == "en":
            assert "10 visits and 40 visits, are 30 visits apart" in checks
            assert "you are 80 % sure" in checks
        else:
            assert "80" in checks and "You are" not in checks
        xs = [
            box["x"]
            for box in (tab.locator("svg.density .density-point").nth(i).bounding_box() for i in (0, 2))
        ]
        assert (xs[0] > xs[1]) == (language == "ur")  # the scale runs in the reading direction
        assert tab.locator('[name="visits.best"]').input_value() == "20"
        assert_fits(tab)
        if javascript:
            assert axe_violations(tab, axe_source) == []
        tab.locator("#visits-distribution").scroll_into_view_if_needed()
        tab.screenshot(path=str(ARTIFACTS / f"four-point-{language}-{width}-{js}-shown.png"), full_page=True)

        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        assert tab.url.endswith("/review"), tab.inner_text("main")[:500]
        assert REVIEW[language] in re.sub(r"\s+", " ", tab.inner_text("main"))
        tab.context.close()
        answers = stored_values(app)
        assert len(answers) == number
        assert answers[-1] == {"low": 10.0, "high": 40.0, "best": 20.0, "confidence": 80.0}
