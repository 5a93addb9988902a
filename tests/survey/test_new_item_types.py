"""The slider, date and dropdown types on the expert pages: answered without JavaScript through the Flask client
(on both databases), and in Chromium with and without JavaScript, in English and Urdu, on a phone and a desktop."""

from __future__ import annotations

import datetime as dt
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
from tests.survey.contract import choose_language, current_values, questionnaire_form, summary_link
from tests.survey.test_expert_flow import begin, csrf_of, follow

SLUG = "new-types"
PAGE = "estimates"
INSTRUMENT = """
id: new-types
version: 1.0.0
languages: [en, ur]
title: {en: "Defence exports", ur: "دفاعی برآمدات"}
pages:
  - id: estimates
    title: {en: "Shares, dates and places", ur: "حصے، تاریخیں اور مقامات"}
    items:
      - id: share
        type: slider
        min: 0
        max: 100
        step: 5
        unit: {en: "%", ur: "%"}
        min_label: {en: "None of them", ur: "کوئی بھی نہیں"}
        max_label: {en: "All of them", ur: "سب کے سب"}
        dont_know: true
        text:
          en: "What share of your state's defence exports follows from defence diplomacy?"
          ur: "آپ کے ملک کی دفاعی برآمدات کا کتنا حصہ دفاعی سفارت کاری کا نتیجہ ہے؟"
        help: {en: "Move the slider or type a number.", ur: "سلائیڈر کو حرکت دیں یا عدد لکھیں۔"}
      - id: weight
        type: slider
        min: 0
        max: 1
        step: 0.1
        text: {en: "How much weight do you give to exports?", ur: "آپ برآمدات کو کتنی اہمیت دیتے ہیں؟"}
      - id: since
        type: date
        min: "2000-01-01"
        max: today
        text: {en: "When did your current post begin?", ur: "آپ کا موجودہ عہدہ کب شروع ہوا؟"}
      - id: country
        type: dropdown
        required: true
        choices:
          GB: {en: "United Kingdom", ur: "برطانیہ"}
          PK: {en: "Pakistan", ur: "پاکستان"}
          IN: {en: "India", ur: "بھارت"}
          CN: {en: "China", ur: "چین"}
          US: {en: "United States of America", ur: "ریاست ہائے متحدہ امریکہ"}
        text: {en: "In which country is your post?", ur: "آپ کا عہدہ کس ملک میں ہے؟"}
"""


@pytest.fixture
def new_types(app: Flask) -> StudyHandle:
    """A published instrument with two sliders, a date and a dropdown, and a study on it (cohorts UK, PK)."""
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "new-types.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def post_page(client: FlaskClient, token: str, page: Any, **fields: str) -> Any:
    """Post the estimates page as a browser without JavaScript would: the page's own fields, then ``fields``."""
    data = current_values(questionnaire_form(page.text))
    data.update({name.replace("__", "."): [value] for name, value in fields.items()})
    data["nav"] = ["next"]
    data["csrf_token"] = [csrf_of(page.text)]
    return client.post(f"/s/{token}/p/{PAGE}", data=data)


def stored(app: Flask) -> dict[str, tuple[float | None, str | None, bool]]:
    """Every answers row of the one response, by item id."""
    with app.app_context():
        rows = db.session.execute(
            select(Answer.item_id, Answer.value_num, Answer.value_text, Answer.dont_know)
        )
        return {item: (num, text, dont_know) for item, num, text, dont_know in rows}


def review_rows(html: str) -> dict[str, str]:
    """The review page's question -> answer pairs."""
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd><bdi>(.*?)</bdi></dd>", html, re.S)
    return {question.strip(): answer.strip() for question, answer in pairs}


def attribute(html: str, name: str, attr: str) -> str:
    """An attribute of the element whose ``name`` is given."""
    tag = re.search(rf'<(?:input|select)\b[^>]*\bname="{re.escape(name)}"[^>]*>', html)
    assert tag, f"no field {name}"
    value = re.search(rf'\b{attr}="([^"]*)"', tag.group(0))
    assert value, f"{name} has no {attr}"
    return value.group(1)


def test_the_page_shows_a_range_a_number_box_a_date_field_and_a_select(
    client: FlaskClient, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("UK")
    html = begin(client, token).text
    assert 'type="range"' in html and 'name="share.slider"' in html
    assert (attribute(html, "share.slider", "min"), attribute(html, "share.slider", "max")) == ("0", "100")
    assert attribute(html, "share.slider", "step") == "5"
    assert attribute(html, "share.slider", "value") == "50" == attribute(html, "share.start", "value")
    assert attribute(html, "share", "inputmode") == "decimal" and attribute(html, "share", "value") == ""
    assert attribute(html, "weight.slider", "step") == "0.1"
    assert attribute(html, "weight.slider", "value") == "0.5"
    assert "None of them" in html and "All of them" in html
    assert "The number in the box counts." in html  # the hint for browsers without JavaScript
    assert attribute(html, "since", "type") == "date"
    assert attribute(html, "since", "min") == "2000-01-01"
    assert attribute(html, "since", "max") == dt.date.today().isoformat()
    assert "type the date as year-month-day, e.g. 2026-03-31." in html
    assert re.search(r'<select id="[^"]+" name="country"[^>]*>\s*<option value="">Choose…</option>', html)
    assert '<option value="PK">Pakistan</option>' in html
    assert 'name="share.dont_know"' in html


def test_a_typed_number_counts_and_everything_is_stored_and_reviewed(
    app: Flask, client: FlaskClient, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("UK")
    page = begin(client, token)
    saved = post_page(
        client, token, page, share="35", share__slider="80", weight="0,3", since="2010-05-01", country="PK"
    )
    assert saved.status_code == 303, saved.text[:2000]
    rows = stored(app)
    assert rows["share"] == (35.0, None, False)  # the typed number wins over the moved slider
    assert rows["weight"][0] == pytest.approx(0.3)
    assert rows["since"] == (None, "2010-05-01", False)
    assert rows["country"][1] == "PK"
    review = follow(client, saved)
    assert review.request.path.endswith("/review")
    answers = review_rows(review.text)
    assert answers["What share of your state&#39;s defence exports follows from defence diplomacy?"] == "35 %"
    assert answers["How much weight do you give to exports?"] == "0.3"
    assert answers["When did your current post begin?"] == "2010-05-01"
    assert answers["In which country is your post?"] == "Pakistan"
    again = client.get(f"/s/{token}/p/{PAGE}").text  # back on the page: the answers are shown again
    assert attribute(again, "share", "value") == "35"
    assert attribute(again, "share.slider", "value") == "35" == attribute(again, "share.start", "value")
    assert attribute(again, "since", "value") == "2010-05-01"
    assert '<option value="PK" selected>Pakistan</option>' in again


def test_a_moved_slider_counts_without_a_typed_number(
    app: Flask, client: FlaskClient, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("UK")
    page = begin(client, token)
    saved = post_page(client, token, page, share__slider="80", weight__slider="0.7", country="GB")
    assert saved.status_code == 303, saved.text[:2000]
    rows = stored(app)
    assert rows["share"][0] == 80.0 and rows["weight"][0] == pytest.approx(0.7)
    assert "since" not in rows
    answers = review_rows(follow(client, saved).text)
    assert answers["How much weight do you give to exports?"] == "0.7"
    assert answers["When did your current post begin?"] == "Not answered"


def test_an_untouched_slider_stays_unanswered(
    app: Flask, client: FlaskClient, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("UK")
    page = begin(client, token)
    saved = post_page(client, token, page, country="IN")  # both sliders posted where the page put them
    assert saved.status_code == 303, saved.text[:2000]
    rows = stored(app)
    assert "share" not in rows and "weight" not in rows and rows["country"][1] == "IN"
    answers = review_rows(follow(client, saved).text)
    assert answers["How much weight do you give to exports?"] == "Not answered"
    assert answers["In which country is your post?"] == "India"


def test_dont_know_on_a_slider_is_stored_as_such(
    app: Flask, client: FlaskClient, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("UK")
    page = begin(client, token)
    saved = post_page(client, token, page, share__dont_know="yes", country="GB")
    assert saved.status_code == 303, saved.text[:2000]
    assert stored(app)["share"][2] is True
    answers = review_rows(follow(client, saved).text)
    assert (
        answers["What share of your state&#39;s defence exports follows from defence diplomacy?"]
        == "Don&#39;t know / prefer not to say"
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"since": "1999-12-31"}, "since", "Enter a date on or after 2000-01-01."),
        (
            {"since": (dt.date.today() + dt.timedelta(days=1)).isoformat()},
            "since",
            f"Enter a date on or before {dt.date.today().isoformat()}.",
        ),
        ({"since": "31/03/2010"}, "since", "Enter a date as year-month-day, e.g. 2026-03-31."),
        ({"since": "2010-02-30"}, "since", "Enter a date as year-month-day, e.g. 2026-03-31."),
        ({"share": "101"}, "share", "Enter a value of at most 100."),
        ({"share": "33"}, "share", "Choose a value in steps of 5 from 0."),
        ({"share": "a third"}, "share", "Enter a number, e.g. 12 or 12.5."),
        ({"weight__slider": "0.35"}, "weight", "Choose a value in steps of 0.1 from 0."),
        ({"country": "FR"}, "country", "Choose one of the answers offered."),
        ({"country": ""}, "country", "This question needs an answer."),
    ],
    ids=[
        "date too early",
        "date after today",
        "date not iso",
        "date that does not exist",
        "slider above max",
        "slider off step",
        "slider not a number",
        "float slider off step",
        "unknown country",
        "no country",
    ],
)
def test_a_wrong_answer_is_explained_on_the_page_and_nothing_is_stored(
    app: Flask, client: FlaskClient, new_types: StudyHandle, fields: dict[str, str], field: str, message: str
) -> None:
    (token,) = new_types.invite("UK")
    page = begin(client, token)
    refused = post_page(client, token, page, **{"country": "PK", **fields})
    assert refused.status_code == 422, refused.text[:2000]
    html = refused.text
    assert (
        f'<p class="field-error" id="{field}-error"><span class="visually-hidden">Error:</span> {message}</p>'
        in html
    )
    anchor = summary_link(html, message)
    assert anchor, "the error summary lists the message"
    assert re.search(rf'<(?:input|select)\b[^>]*\bid="{re.escape(anchor)}"', html), "its link has a target"
    for name, value in fields.items():  # what was posted is shown again
        if name != "country":
            assert attribute(html, name.replace("__", "."), "value") == value
    assert stored(app) == {}


def test_a_slider_moved_before_an_error_elsewhere_keeps_its_position_and_its_start(
    app: Flask, client: FlaskClient, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("UK")
    page = begin(client, token)
    refused = post_page(client, token, page, share__slider="75", country="")
    assert refused.status_code == 422
    assert attribute(refused.text, "share.slider", "value") == "75"
    assert (
        attribute(refused.text, "share.start", "value") == "50"
    )  # so sending it again still counts the move
    saved = post_page(client, token, refused, country="GB")
    assert saved.status_code == 303, saved.text[:2000]
    assert stored(app)["share"][0] == 75.0


def test_the_page_and_the_review_in_urdu(client: FlaskClient, new_types: StudyHandle) -> None:
    (token,) = new_types.invite("PK")
    page = begin(client, token, "ur")
    html = page.text
    assert 'dir="rtl"' in html
    for urdu in (
        "منتخب کریں…",
        "آپ کا جواب (عدد میں)",
        "سال-مہینہ-دن",
        "خانے میں لکھا عدد ہی شمار ہوگا۔",
    ):
        assert urdu in html
    assert "کوئی بھی نہیں" in html and "سب کے سب" in html
    refused = post_page(client, token, page, since="1999-01-01", country="PK")
    assert "یا اس کے بعد کی تاریخ درج کریں۔" in refused.text and "2000-01-01" in refused.text
    saved = post_page(client, token, refused, since="2012-01-15", share="40", country="PK")
    assert saved.status_code == 303, saved.text[:2000]
    answers = review_rows(follow(client, saved).text)
    assert answers["آپ کا عہدہ کس ملک میں ہے؟"] == "پاکستان"
    assert answers["آپ کا موجودہ عہدہ کب شروع ہوا؟"] == "2012-01-15"
    assert answers["آپ کے ملک کی دفاعی برآمدات کا کتنا حصہ دفاعی سفارت کاری کا نتیجہ ہے؟"] == "40 %"


def test_the_studio_preview_shows_the_new_types(
    app: Flask, client: FlaskClient, new_types: StudyHandle
) -> None:
    from tests.studio.conftest import make_user, sign_in_directly

    sign_in_directly(app, client, make_user(app, "researcher@example.org", "researcher"))
    response = client.get("/studio/instruments/new-types/1.0.0/preview/ur")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'class="flash preview-banner"' in html
    assert 'name="share.slider"' in html and 'type="date"' in html and "منتخب کریں…" in html


# -- in Chromium --------------------------------------------------------------------------------------------


def open_page(browser: Any, live_server: str, token: str, language: str, javascript: bool, width: int) -> Any:
    """A fresh context on the estimates page in ``language`` (the landing page: the instrument's first page)."""
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
    )  # lets axe be injected
    tab = context.new_page()
    tab.goto(f"{live_server}/s/{token}")
    choose_language(tab, language)
    assert tab.locator(f'form#questionnaire[action$="/p/{PAGE}"]').count() == 1
    return tab


def assert_fits(tab: Any) -> None:
    """Nothing sticks out sideways (no horizontal scrolling on a phone)."""
    overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def assert_ends_mirror(tab: Any, language: str) -> None:
    """The lower end is at the start of the reading direction: left in English, right in Urdu, like the range."""
    low, high = (
        box["x"] for box in (tab.locator("#share-ends .slider-end").nth(i).bounding_box() for i in (0, 1))
    )
    assert (low > high) == (language == "ur")
    direction = tab.evaluate("getComputedStyle(document.getElementById('share.slider')).direction")
    assert direction == ("rtl" if language == "ur" else "ltr")


@pytest.mark.browser
@pytest.mark.rendering
def test_with_javascript_the_slider_and_the_box_follow_each_other(
    browser: Any, live_server: str, new_types: StudyHandle, axe_source: str
) -> None:
    (token,) = new_types.invite("UK")
    tab = open_page(browser, live_server, token, "en", True, 1280)
    assert not tab.locator("#q-share noscript .hint").is_visible()
    assert not tab.locator("#since-format").is_visible()  # Chromium has a calendar: no typing hint
    assert tab.locator("#since").get_attribute("aria-describedby") is None
    slider, box = tab.locator('[name="share.slider"]'), tab.locator('[name="share"]')
    slider.focus()
    for _ in range(3):
        tab.keyboard.press("ArrowUp")
    assert box.input_value() == "65"  # 50 + 3 steps of 5
    box.fill("20")
    assert slider.input_value() == "20"
    box.fill("")
    assert slider.input_value() == "50"  # an empty box puts the thumb back: unanswered again
    box.fill("۳۰")  # Urdu digits move it too
    assert slider.input_value() == "30"
    tab.locator('[name="weight.slider"]').focus()
    tab.keyboard.press("ArrowDown")
    assert tab.locator('[name="weight"]').input_value() == "0.4"
    tab.locator('[name="since"]').fill("2015-06-30")
    tab.locator('[name="country"]').select_option("GB")
    assert not axe_violations(tab, axe_source)
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    assert tab.url.endswith("/review"), tab.inner_text("main")[:500]
    text = tab.inner_text("main")
    assert "30 %" in text and "0.4" in text and "2015-06-30" in text and "United Kingdom" in text
    tab.context.close()


@pytest.mark.browser
@pytest.mark.rendering
def test_without_javascript_a_moved_slider_is_the_answer(
    browser: Any, live_server: str, new_types: StudyHandle
) -> None:
    (token,) = new_types.invite("PK")
    tab = open_page(browser, live_server, token, "ur", False, 360)
    tab.locator('[name="share.slider"]').focus()
    tab.keyboard.press("ArrowUp")
    assert tab.locator('[name="share"]').input_value() == ""  # nothing fills the box without JavaScript
    assert tab.locator("#q-share noscript .hint").is_visible()  # the hint for browsers without JavaScript
    assert tab.locator("#since-format").is_visible()
    tab.locator('[name="country"]').select_option("PK")
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    assert tab.url.endswith("/review")
    text = tab.inner_text("main")
    assert "55 %" in text and "پاکستان" in text
    tab.context.close()


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_screenshots_at_phone_and_desktop_widths(
    browser: Any, live_server: str, new_types: StudyHandle, language: str, javascript: bool
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        (token,) = new_types.invite("UK")
        tab = open_page(browser, live_server, token, language, javascript, width)
        assert_fits(tab)
        assert_ends_mirror(tab, language)
        tab.screenshot(path=str(ARTIFACTS / f"new-types-{language}-{width}-{js}.png"), full_page=True)
        # the same page after a wrong date and a moved slider, as the expert sees it with the errors
        tab.locator('[name="share.slider"]').focus()
        tab.keyboard.press("ArrowUp")
        tab.locator('[name="since"]').fill("1999-12-31")
        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        assert tab.locator(".error-summary").count() == 1
        assert_fits(tab)
        tab.screenshot(path=str(ARTIFACTS / f"new-types-{language}-{width}-{js}-errors.png"), full_page=True)
        tab.context.close()
