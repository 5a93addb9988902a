"""Follow-up questions (issue 17): a question whose ``relevant`` condition reads answers on its own page.

With JavaScript it stays hidden until its condition holds; without JavaScript it is shown with a note saying when to
answer it. What the expert typed in it is kept when the condition turns false, and is there again when the expert
changes the condition back (on the same page, or on a later visit), but it is no answer while the condition is
false: not on the review page, not among the required checks, and it is discarded at submit, so no export holds
it. Client tests run on both databases; the browser tests look at the pages in English and Urdu, at 360 and 1280 px,
with JavaScript on and off.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.loading import load_file, load_text
from elicit.instruments.versions import publish_version
from elicit.models import Answer
from elicit.responding import flow
from elicit.studies import create_study
from tests.conftest import ARTIFACTS, ROOT, StudyHandle, axe_violations
from tests.survey.contract import choose_language
from tests.survey.test_expert_flow import begin, consented, csrf_of, follow, stored

FLAGSHIP_1_1 = ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml"
SECTOR_NOTE = "Answer this only if you answered “In which sector do you mainly work?” with “Other”."
SECTOR_NOTE_UR = (
    "اس سوال کا جواب صرف اس صورت میں دیں اگر آپ نے ‘آپ بنیادی طور پر کس شعبے سے وابستہ ہیں؟’"
    " کے جواب میں ‘دیگر’ منتخب کیا ہو۔"
)

SLUG = "follow"
INSTRUMENT = """
id: follow
version: 1.0.0
languages: [en, ur]
title: {en: "Water management", ur: "پانی کا انتظام"}
pages:
  - id: first
    title: {en: "Your work", ur: "آپ کا کام"}
    items:
      - id: role
        type: single_choice
        required: true
        text: {en: "What is your role?", ur: "آپ کا کردار کیا ہے؟"}
        choices:
          - {code: engineer, label: {en: Engineer, ur: انجینئر}}
          - {code: planner, label: {en: Planner, ur: منصوبہ ساز}}
          - {code: other, label: {en: Other, ur: دیگر}}
      - id: role_other
        type: text
        required: true
        relevant: "role == 'other'"
        text: {en: "Please specify your role.", ur: "براہِ کرم اپنے کردار کی وضاحت کریں۔"}
      - id: sources
        type: multiple_choice
        text: {en: "Which sources do you manage?", ur: "آپ کن ذرائع کا انتظام کرتے ہیں؟"}
        choices:
          - {code: rivers, label: {en: Rivers, ur: دریا}}
          - {code: wells, label: {en: Wells, ur: کنویں}}
          - {code: rain, label: {en: Rain, ur: بارش}}
      - id: wells_depth
        type: integer
        min: 0
        max: 2000
        unit: {en: "m", ur: "میٹر"}
        relevant: "selected(sources, 'wells')"
        text: {en: "How deep is your deepest well?", ur: "آپ کا سب سے گہرا کنواں کتنا گہرا ہے؟"}
      - id: deep_note
        type: text
        relevant: "wells_depth >= 100"
        text: {en: "What makes such a deep well worth it?", ur: "اتنا گہرا کنواں کیوں فائدہ مند ہے؟"}
      - id: not_rain
        type: text
        relevant: "role in ['engineer', 'planner'] and not selected(sources, 'rain')"
        text: {en: "Why not rain water?", ur: "بارش کا پانی کیوں نہیں؟"}
  - id: second
    title: {en: "Your views", ur: "آپ کی رائے"}
    items:
      - id: engineer_years
        type: integer
        relevant: "role == 'engineer'"
        text: {en: "How many years have you worked as an engineer?", ur: "آپ نے کتنے سال انجینئر کے طور پر کام کیا ہے؟"}
      - id: remarks
        type: text
        text: {en: "Anything else?", ur: "کچھ اور؟"}
"""


@pytest.fixture
def follow_study(app: Flask) -> StudyHandle:
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "follow.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def post(client: FlaskClient, token: str, page_id: str, **fields: Any) -> Any:
    """Post a questionnaire page from its current form (CSRF and version taken from a fresh GET; before the
    response exists, the first page is the landing page)."""
    shown = follow(client, client.get(f"/s/{token}/p/{page_id}"))
    data: dict[str, Any] = {"csrf_token": csrf_of(shown.text), "nav": "next", **fields}
    return client.post(f"/s/{token}/p/{page_id}", data=data)


def input_value(page: str, name: str) -> str | None:
    """The value a text box of the page shows (None when the page has no such box)."""
    found = re.search(rf'<input type="text"[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    if found:
        return found.group(1)
    area = re.search(rf'<textarea[^>]*name="{re.escape(name)}"[^>]*>([^<]*)</textarea>', page)
    return area.group(1) if area else None


def review_text(client: FlaskClient, token: str) -> str:
    review = client.get(f"/s/{token}/review")
    assert review.status_code == 200, review.headers.get("Location")
    return review.text


def open_link(app: Flask, token: str) -> flow.ExpertLink:
    with app.app_context():
        return flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"])


# ------------------------------------------------------------------------------------------------ keeping text


def test_typed_text_survives_the_condition_turning_false_and_back(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    consented(client, token)
    background = {"state": "UK", "sector": "other", "sector_other": "Parliamentary liaison"}
    follow(client, post(client, token, "background", **background))
    # The expert changes their mind; with JavaScript the box was hidden, but it still holds the text.
    follow(client, post(client, token, "background", **{**background, "sector": "academia"}))
    link = open_link(app, token)
    assert "sector_other" not in link.answers  # not an answer while the sector is not "other"
    again = client.get(f"/s/{token}/p/background")  # a later visit: the text is there again
    assert input_value(again.text, "sector_other") == "Parliamentary liaison"
    follow(client, post(client, token, "background", **background))  # the condition back: an answer again
    assert open_link(app, token).answers["sector_other"] == "Parliamentary liaison"


def test_a_follow_up_left_out_of_the_post_keeps_nothing(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    """Emptying the box (or a client that does not send it) is what the expert typed now: nothing is kept."""
    (token,) = study.invite("UK")
    consented(client, token)
    follow(client, post(client, token, "background", state="UK", sector="other", sector_other="Liaison"))
    follow(client, post(client, token, "background", state="UK", sector="academia", sector_other=""))
    assert "sector_other" not in stored(app)
    assert input_value(client.get(f"/s/{token}/p/background").text, "sector_other") == ""


def complete_follow(client: FlaskClient, token: str, **first: Any) -> None:
    begin(client, token)
    assert follow(client, post(client, token, "first", **first)).status_code == 200
    follow(client, post(client, token, "second", remarks="None"))


def test_held_text_is_no_answer_and_is_discarded_at_submit(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, follow_study: StudyHandle, tmp_path: Path
) -> None:
    (token,) = follow_study.invite("UK")
    typed = {
        "role": "other",
        "role_other": "Hydrologist Quixotic",
        "sources": ["wells"],
        "wells_depth": "120",
        "deep_note": "Artesian zephyr",
    }
    complete_follow(client, token, **typed)
    assert "Hydrologist Quixotic" in review_text(client, token)
    # Back on the first page the expert changes both conditions: the typed answers stay in their boxes.
    follow(client, post(client, token, "first", **{**typed, "role": "planner", "sources": ["rivers"]}))
    first = client.get(f"/s/{token}/p/first").text
    assert input_value(first, "role_other") == "Hydrologist Quixotic"
    assert input_value(first, "wells_depth") == "120"
    assert input_value(first, "deep_note") == "Artesian zephyr"
    review = review_text(client, token)
    for text in ("Hydrologist Quixotic", "Artesian zephyr", "How deep is your deepest well?"):
        assert text not in review
    assert flow.missing_required(open_link(app, token)) == []
    submitted = client.post(f"/s/{token}/review", data={"csrf_token": csrf_of(review), "nav": "submit"})
    assert submitted.status_code == 303
    # The adversary reads the table: a submitted response holds no answer to an item that did not apply.
    with app.app_context():
        rows = db.session.execute(select(Answer.item_id, Answer.value_text)).all()
    assert {item for item, _ in rows} == {"role", "sources", "remarks"}
    assert not any(text and ("Quixotic" in text or "zephyr" in text) for _, text in rows)
    out = tmp_path / "export"
    result = runner.invoke(args=["export", SLUG, "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for path in out.rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            assert b"Quixotic" not in body and b"zephyr" not in body, path.name


def test_a_required_follow_up_is_required_only_while_it_applies(
    app: Flask, client: FlaskClient, follow_study: StudyHandle
) -> None:
    (token,) = follow_study.invite("UK")
    begin(client, token)
    refused = post(client, token, "first", role="other", role_other="")
    assert refused.status_code == 422
    assert "Please specify your role." in refused.text and "This question needs an answer." in refused.text
    assert follow(client, post(client, token, "first", role="planner", role_other="")).status_code == 200


def test_an_answer_on_a_later_page_is_kept_while_an_earlier_answer_makes_it_not_apply(
    app: Flask, client: FlaskClient, follow_study: StudyHandle
) -> None:
    (token,) = follow_study.invite("UK")
    complete_follow(client, token, role="engineer")
    follow(client, post(client, token, "second", engineer_years="12", remarks="None"))
    assert "How many years have you worked as an engineer?" in review_text(client, token)
    follow(client, post(client, token, "first", role="planner"))
    second = client.get(f"/s/{token}/p/second").text
    assert input_value(second, "engineer_years") is None  # decided by an earlier page: not shown at all
    follow(client, post(client, token, "second", remarks="Still none"))  # saving the page keeps it held
    assert "How many years have you worked as an engineer?" not in review_text(client, token)
    follow(client, post(client, token, "first", role="engineer"))
    assert input_value(client.get(f"/s/{token}/p/second").text, "engineer_years") == "12"
    assert "How many years have you worked as an engineer?" in review_text(client, token)


# ------------------------------------------------------------------------------------------------ the page


def follow_up_of(page: str, item_id: str) -> str:
    """The follow-up block of an item: from its wrapper to the next follow-up or the page's buttons."""
    start = page.find(f'data-item="{item_id}"')
    assert start >= 0, f"{item_id} is not a follow-up"
    ends = [
        i for i in (page.find('class="follow-up"', start), page.find('<div class="actions"', start)) if i >= 0
    ]
    return page[start : min(ends)]


def test_without_javascript_a_follow_up_says_when_to_answer_it(
    client: FlaskClient, study: StudyHandle, follow_study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    background = consented(client, token).text
    block = follow_up_of(background, "sector_other")
    assert SECTOR_NOTE in block
    box = re.search(r'<input[^>]*name="sector_other"[^>]*>', block)
    assert box and "sector_other-condition" in box.group(0)  # the note describes the box
    (other,) = follow_study.invite("UK")
    first = begin(client, other).text
    assert "Answer this only if you chose “Wells” in “Which sources do you manage?”." in first
    assert "Answer this only if it applies to your earlier answers." in follow_up_of(first, "deep_note")
    assert "Answer this only if it applies to your earlier answers." in follow_up_of(first, "not_rain")
    assert 'data-item="engineer_years"' not in client.get(f"/s/{other}/p/first").text


def test_the_note_is_in_urdu_on_urdu_pages(client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("PK")
    page = begin(client, token, "ur")
    data = {"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next"}
    background = follow(client, client.post(f"/s/{token}/p/welcome", data=data)).text
    assert SECTOR_NOTE_UR in follow_up_of(background, "sector_other")


def test_the_browser_gets_the_condition_it_can_judge(client: FlaskClient, follow_study: StudyHandle) -> None:
    (token,) = follow_study.invite("UK")
    first = begin(client, token).text

    def rule(item_id: str) -> Any:
        found = re.search(r'data-relevant="([^"]*)"', follow_up_of(first, item_id))
        assert found, item_id
        return json.loads(html.unescape(found.group(1)))

    assert rule("role_other")["e"] == ["cmp", "==", ["ref", "role"], ["lit", "other"]]
    assert rule("role_other")["r"]["role"]["k"] == "one"
    assert rule("wells_depth")["e"] == ["call", "selected", ["ref", "sources"], ["lit", "wells"]]
    assert rule("deep_note")["r"]["wells_depth"] == {"k": "int", "min": 0, "max": 2000, "dk": False}


# ------------------------------------------------------------------------------------------------ in Chromium


def flagship_1_1(app: Flask) -> StudyHandle:
    with app.app_context():
        version, _ = publish_version(db.session, load_file(FLAGSHIP_1_1), "test")
        create_study(db.session, "dd-follow", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, "dd-follow")


def to_background(app: Flask, token: str, language: str) -> None:
    """Consent and skip the practice through the Flask client, so the link resumes on the background page."""
    client = app.test_client()
    page = begin(client, token, language)
    data = {"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next"}
    practice = follow(client, client.post(f"/s/{token}/p/welcome", data=data))
    skipped = follow(
        client,
        client.post(f"/s/{token}/practice", data={"csrf_token": csrf_of(practice.text), "nav": "skip"}),
    )
    assert skipped.request.path.endswith("/p/background")


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_please_specify_your_sector_in_chromium(
    app: Flask, browser: Any, live_server: str, axe_source: str, language: str, javascript: bool
) -> None:
    from tests.survey.test_new_item_types import assert_fits

    handle = flagship_1_1(app)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    note = SECTOR_NOTE_UR if language == "ur" else SECTOR_NOTE
    other = "Parliamentary liaison"
    for width in (360, 1280):
        (token,) = handle.invite("PK" if language == "ur" else "UK")
        to_background(app, token, language)
        context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{token}")
        assert tab.url.endswith("/p/background")
        block = tab.locator('.follow-up[data-item="sector_other"]')
        box = tab.locator("#sector_other")
        if not javascript:
            assert block.is_visible() and tab.locator("#sector_other-condition").inner_text() == note
            tab.screenshot(path=str(ARTIFACTS / f"follow-up-{language}-{width}-{js}.png"), full_page=True)
            assert_fits(tab)
            context.close()
            continue
        assert block.is_hidden() and block.get_attribute("hidden") is not None
        assert "follow-sector_other" in (tab.locator("#sector-other").get_attribute("aria-controls") or "")
        tab.locator("#sector-other").check()
        assert block.is_visible() and not tab.locator("#sector_other-condition").is_visible()
        live = tab.locator("[data-follow-up-status]")
        assert live.get_attribute("aria-live") == "polite"
        assert (
            "براہِ کرم اپنے شعبے کی وضاحت کریں۔" if language == "ur" else "Please specify your sector."
        ) in (live.inner_text())
        box.fill(other)
        tab.screenshot(path=str(ARTIFACTS / f"follow-up-{language}-{width}-{js}.png"), full_page=True)
        assert not axe_violations(tab, axe_source)
        assert_fits(tab)
        tab.locator("#sector-academia").check()
        assert block.is_hidden() and box.input_value() == other  # hiding does not clear what was typed
        tab.locator("#state-UK").check()
        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        assert "/p/lev_tactical" in tab.url
        tab.goto(f"{live_server}/s/{token}/p/background")  # a later visit: still hidden, still there
        assert block.is_hidden() and box.input_value() == other
        tab.locator("#sector-other").check()
        assert block.is_visible() and box.input_value() == other
        context.close()


@pytest.mark.browser
@pytest.mark.rendering
def test_the_browser_judges_conditions_as_the_server_does(
    app: Flask, follow_study: StudyHandle, browser: Any, live_server: str
) -> None:
    """Chained, numeric and multiple-choice conditions: what the page hides is what the server then holds back."""
    (token,) = follow_study.invite("UK")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(f"{live_server}/s/{token}")
    choose_language(tab, "en")
    tab.wait_for_load_state()

    def shown() -> set[str]:
        blocks = tab.locator(".follow-up")
        return {
            blocks.nth(i).get_attribute("data-item") or ""
            for i in range(blocks.count())
            if blocks.nth(i).is_visible()
        }

    assert shown() == set()
    tab.locator("#role-engineer").check()
    assert shown() == {"not_rain"}
    tab.locator("#sources-wells").check()
    assert shown() == {"not_rain", "wells_depth"}
    tab.locator("#wells_depth").fill("150")
    assert shown() == {"not_rain", "wells_depth", "deep_note"}
    tab.locator("#deep_note").fill("Artesian")
    tab.locator("#wells_depth").fill("٥٠")  # Urdu digits: 50, below 100
    assert shown() == {"not_rain", "wells_depth"}
    tab.locator("#wells_depth").fill("150")
    tab.locator("#sources-rain").check()
    assert shown() == {"wells_depth", "deep_note"}
    tab.locator("#sources-wells").uncheck()  # the chain: deep_note reads a hidden question, so it hides too
    assert shown() == set()
    tab.locator("#sources-wells").check()
    assert shown() == {"wells_depth", "deep_note"}
    tab.locator("#wells_depth").fill("abc")  # the browser cannot judge it: the question reading it shows
    assert shown() == {"wells_depth", "deep_note"}
    tab.locator("#wells_depth").fill("")
    assert shown() == {"wells_depth"}
    tab.locator("#wells_depth").fill("150")
    tab.locator("#sources-wells").uncheck()
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    assert "/p/second" in tab.url
    link = open_link(app, token)
    assert set(link.answers) == {"role", "sources"}
    assert link.held == {"wells_depth": 150, "deep_note": "Artesian"}
    context.close()
