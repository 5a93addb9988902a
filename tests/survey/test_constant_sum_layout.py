"""Constant-sum questions and units on a phone (issue 17): one part per row at 360 px (its label above its box,
readable), the review lists the parts in the question's order, and a number never wraps away from its unit.

The review order and the unbreakable spaces are checked through the Flask client on both databases; the layout in
Chromium, in English and Urdu, at 360 and 1280 px, with JavaScript on and off.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from elicit.db import db
from elicit.instruments.loading import load_file, load_text
from elicit.instruments.versions import publish_version
from elicit.studies import create_study
from tests.conftest import ARTIFACTS, ROOT, StudyHandle, axe_violations
from tests.survey.contract import answers_for_page, questionnaire_form
from tests.survey.test_expert_flow import begin, csrf_of, follow

FLAGSHIP_1_1 = ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml"

SLUG = "shares"
INSTRUMENT = """
id: shares
version: 1.0.0
languages: [en, ur]
title: {en: "Water management", ur: "پانی کا انتظام"}
pages:
  - id: shares
    title: {en: "Your views", ur: "آپ کی رائے"}
    items:
      - id: split
        type: constant_sum
        total: 100
        choices:
          - {code: rivers, label: {en: Rivers, ur: دریا}}
          - {code: wells, label: {en: Wells, ur: کنویں}}
          - {code: rain, label: {en: Rain, ur: بارش}}
        text: {en: "Share 100 points between the sources of water.", ur: "پانی کے ذرائع میں 100 پوائنٹس تقسیم کریں۔"}
      - id: loss
        type: integer
        min: 0
        max: 100
        unit: "%"
        text: {en: "How much water is lost in pipes?", ur: "پائپوں میں کتنا پانی ضائع ہوتا ہے؟"}
      - id: depth
        type: decimal
        unit: {en: "metres below ground", ur: "میٹر زیرِ زمین"}
        text: {en: "How deep is the water table?", ur: "زیرِ زمین پانی کی سطح کتنی گہری ہے؟"}
"""


@pytest.fixture
def shares(app: Flask) -> StudyHandle:
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "shares.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def answered(client: FlaskClient, token: str, language: str = "en") -> str:
    """Answer the page (parts given in an order the database would not keep) and return the review page."""
    page = begin(client, token, language)
    data = {
        "csrf_token": csrf_of(page.text),
        "nav": "next",
        "split.rivers": "30",
        "split.wells": "50",
        "split.rain": "20",
        "loss": "25",
        "depth": "12.5",
    }
    client.post(f"/s/{token}/p/shares", data=data)
    return str(follow(client, client.get(f"/s/{token}/review")).text)


def test_the_review_lists_the_parts_in_the_question_s_order(client: FlaskClient, shares: StudyHandle) -> None:
    (token,) = shares.invite()
    review = answered(client, token)
    assert "Rivers: 30; Wells: 50; Rain: 20" in review
    (other,) = shares.invite("PK")
    assert "دریا: 30; کنویں: 50; بارش: 20" in answered(client, other, "ur")


def test_a_number_box_and_its_unit_stay_together(client: FlaskClient, shares: StudyHandle) -> None:
    (token,) = shares.invite()
    page = begin(client, token).text
    for name, unit in (("loss", "%"), ("depth", "metres below ground")):
        together = re.search(
            rf'<span class="with-unit"><input[^>]*name="{name}"[^>]*><span class="unit">{unit}</span>', page
        )
        assert together, name


# ------------------------------------------------------------------------------------------------ in Chromium


def flagship_1_1(app: Flask) -> StudyHandle:
    with app.app_context():
        version, _ = publish_version(db.session, load_file(FLAGSHIP_1_1), "test")
        create_study(db.session, "dd-shares", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, "dd-shares")


def to_page(app: Flask, handle: StudyHandle, language: str, stop: str) -> str:
    """A token whose response resumes on page ``stop`` (consent given, practice skipped, pages before answered)."""
    definition = load_file(FLAGSHIP_1_1)
    (token,) = handle.invite("PK" if language == "ur" else "UK")
    client = app.test_client()
    page = begin(client, token, language)
    data = {"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next"}
    page = follow(client, client.post(f"/s/{token}/p/welcome", data=data))
    if stop == "practice":
        return token
    page = follow(
        client, client.post(f"/s/{token}/practice", data={"csrf_token": csrf_of(page.text), "nav": "skip"})
    )
    rng = random.Random(3)
    while not page.request.path.endswith(f"/p/{stop}"):
        form = questionnaire_form(page.text)
        fields: dict[str, Any] = answers_for_page(definition, form, rng, "UK")
        fields.update(csrf_token=[csrf_of(page.text)], nav=["next"])
        page = follow(client, client.post(form["action"], data=fields))
    return token


def open_tab(browser: Any, live_server: str, token: str, javascript: bool, width: int) -> Any:
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
    )
    tab = context.new_page()
    tab.goto(f"{live_server}/s/{token}")
    return tab


def line_height(tab: Any, selector: str) -> float:
    return float(
        tab.evaluate(f"parseFloat(getComputedStyle(document.querySelector('{selector}')).lineHeight)")
    )


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_constant_sum_parts_one_per_row_on_a_phone(
    app: Flask, browser: Any, live_server: str, axe_source: str, language: str, javascript: bool
) -> None:
    from tests.survey.test_new_item_types import assert_fits

    handle = flagship_1_1(app)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        token = to_page(app, handle, language, "priorities")
        tab = open_tab(browser, live_server, token, javascript, width)
        assert tab.url.endswith("/p/priorities")
        labels, boxes = tab.locator("#q-alloc .parts label"), tab.locator("#q-alloc .parts input")
        parts = tab.locator("#q-alloc .parts").bounding_box()
        lines = line_height(tab, "#q-alloc .parts label")
        for index in range(labels.count()):
            label, box = labels.nth(index).bounding_box(), boxes.nth(index).bounding_box()
            if width == 360:
                assert label["y"] + label["height"] <= box["y"] + 1  # the label above its box
                assert label["width"] >= 0.9 * parts["width"]  # the whole width: no squeezed column
                assert label["height"] <= 3.2 * lines, f"{label['height'] / lines:.1f} lines"
            else:
                assert box["y"] < label["y"] + label["height"]  # beside it, on the same row
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.locator("#q-alloc").screenshot(path=str(ARTIFACTS / f"constant-sum-{language}-{width}-{js}.png"))
        tab.context.close()


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("language", ["en", "ur"])
def test_units_never_wrap_away_from_their_numbers_on_the_practice_page(
    app: Flask, browser: Any, live_server: str, language: str
) -> None:
    from tests.survey.test_new_item_types import assert_fits

    handle = flagship_1_1(app)
    token = to_page(app, handle, language, "practice")
    tab = open_tab(browser, live_server, token, False, 360)
    assert tab.url.endswith("/practice")
    together = tab.locator(".with-unit")
    assert together.count() == 9
    for index in range(together.count()):
        box = together.nth(index).locator("input").bounding_box()
        unit = together.nth(index).locator(".unit").bounding_box()
        assert unit["y"] < box["y"] + box["height"] and box["y"] < unit["y"] + unit["height"]  # on one line
    assert_fits(tab)
    tab.screenshot(path=str(ARTIFACTS / f"practice-units-{language}-360.png"), full_page=True)
    values = {"practice_milex": ("1000", "2000", "3000"), "practice_population": ("200", "240", "260")}
    values["practice_everest"] = ("8000", "8800", "9000")
    for item_id, (low, best, high) in values.items():
        tab.locator(f'[name="{item_id}.q05"]').fill(low)
        tab.locator(f'[name="{item_id}.q50"]').fill(best)
        tab.locator(f'[name="{item_id}.q95"]').fill(high)
    tab.locator('button[name="nav"][value="score"]').click()
    tab.wait_for_load_state()
    quantities = tab.locator('.practice-result .quantity, .practice-result bdi[dir="ltr"]')
    assert quantities.count() >= 9
    for index in range(quantities.count()):
        tops = quantities.nth(index).evaluate("e => Array.from(e.getClientRects(), r => r.top)")
        assert max(tops) - min(tops) < 1, quantities.nth(
            index
        ).inner_text()  # on one line, not broken over two
    assert_fits(tab)
    tab.screenshot(path=str(ARTIFACTS / f"practice-score-{language}-360.png"), full_page=True)
    tab.context.close()
