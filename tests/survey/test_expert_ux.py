"""What experts meet on the questionnaire pages (issue 17): the error summary names each question, the page
language follows the expert's last choice and then the browser's, and a resumed link welcomes the expert back.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.studies import create_study
from tests.conftest import StudyHandle
from tests.survey.contract import choose_language
from tests.survey.test_expert_flow import begin, csrf_of, follow

SLUG = "ux-study"
INSTRUMENT = """
id: ux
version: 1.0.0
languages: [en, ur]
title: {en: "Water management", ur: "پانی کا انتظام"}
pages:
  - id: first
    title: {en: "About you", ur: "آپ کے بارے میں"}
    items:
      - id: years
        type: integer
        required: true
        min: 0
        max: 60
        text: {en: "How many years have you worked on water policy?", ur: "آپ نے پانی کی پالیسی پر کتنے سال کام کیا ہے؟"}
      - id: sector
        type: single_choice
        required: true
        choices:
          - {code: gov, label: {en: Government, ur: حکومت}}
          - {code: ngo, label: {en: NGO, ur: غیر سرکاری تنظیم}}
        text: {en: "Where do you work?", ur: "آپ کہاں کام کرتے ہیں؟"}
  - id: second
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
      - id: remarks
        type: text
        text: {en: "Anything else?", ur: "کچھ اور؟"}
"""


@pytest.fixture
def ux(app: Flask) -> StudyHandle:
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "ux.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def summary_entries(html: str) -> list[str]:
    """The error summary's entries as text, tags removed."""
    block = re.search(r'<div class="error-summary".*?</ul>', html, re.S)
    assert block, "no error summary"
    items = re.findall(r"<li>(.*?)</li>", block.group(0), re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in items]


def test_the_error_summary_names_each_question(client: FlaskClient, ux: StudyHandle) -> None:
    (token,) = ux.invite()
    page = begin(client, token)
    posted = client.post(
        f"/s/{token}/p/first",
        data={"csrf_token": csrf_of(page.text), "nav": "next", "years": "", "sector": ""},
    )
    assert posted.status_code == 422
    entries = summary_entries(posted.text)
    assert entries == [
        "How many years have you worked on water policy? This question needs an answer.",
        "Where do you work? This question needs an answer.",
    ]
    assert 'href="#years"' in posted.text


def test_the_error_summary_names_the_question_in_urdu(client: FlaskClient, ux: StudyHandle) -> None:
    (token,) = ux.invite()
    page = begin(client, token, "ur")
    posted = client.post(
        f"/s/{token}/p/first", data={"csrf_token": csrf_of(page.text), "nav": "next", "years": "x"}
    )
    entries = summary_entries(posted.text)
    assert entries[0].startswith("آپ نے پانی کی پالیسی پر کتنے سال کام کیا ہے؟ ")
    assert entries[1].startswith("آپ کہاں کام کرتے ہیں؟ ")


def test_the_landing_page_follows_the_browser_s_languages(app: Flask, ux: StudyHandle) -> None:
    (token,) = ux.invite()
    urdu = app.test_client().get(f"/s/{token}", headers={"Accept-Language": "ur-PK,ur;q=0.9,en;q=0.5"})
    assert urdu.status_code == 200 and '<html lang="ur" dir="rtl">' in urdu.text
    english = app.test_client().get(f"/s/{token}", headers={"Accept-Language": "de-DE,en-GB;q=0.8"})
    assert '<html lang="en" dir="ltr">' in english.text
    nothing = app.test_client().get(f"/s/{token}", headers={"Accept-Language": "fr"})
    assert '<html lang="en" dir="ltr">' in nothing.text  # the instrument's first language
    # The expert's own choice wins over the browser's.
    client = app.test_client()
    begin(client, token, "en")
    again = follow(client, client.get(f"/s/{token}", headers={"Accept-Language": "ur"}))
    assert '<html lang="en" dir="ltr">' in again.text


def test_an_urdu_expert_returning_for_round_two_is_asked_in_urdu(app: Flask) -> None:
    from elicit.rounds import close_round, open_round
    from elicit.studies import find_study

    text = INSTRUMENT.replace("id: ux\n", "id: ux-delphi\n", 1).replace(
        "languages: [en, ur]\n", "languages: [en, ur]\nanonymity: pseudonymous\n", 1
    )
    with app.app_context():
        version, _ = publish_version(db.session, load_text(text, "ux-delphi.yaml"), "test")
        create_study(db.session, "ux-delphi", version, [("UK", "United Kingdom")])
        db.session.commit()
    handle = StudyHandle(app, "ux-delphi")
    (token,) = handle.invite()
    client = app.test_client()
    page = begin(client, token, "ur")
    client.post(
        f"/s/{token}/p/first",
        data={"csrf_token": csrf_of(page.text), "nav": "next", "years": "4", "sector": "gov"},
    )
    with app.app_context():
        study = find_study(db.session, "ux-delphi")
        close_round(db.session, study)
        open_round(db.session, study)
        db.session.commit()
    fresh = app.test_client()  # another computer, an English browser
    landing = fresh.get(f"/s/{token}", headers={"Accept-Language": "en-GB"})
    assert landing.status_code == 200 and '<html lang="ur" dir="rtl">' in landing.text


def test_a_resumed_link_welcomes_the_expert_back_once(client: FlaskClient, ux: StudyHandle) -> None:
    (token,) = ux.invite()
    page = begin(client, token)
    assert "Welcome back" not in page.text  # starting is not resuming
    client.post(
        f"/s/{token}/p/first",
        data={"csrf_token": csrf_of(page.text), "nav": "next", "years": "4", "sector": "gov"},
    )
    resumed = follow(client, client.get(f"/s/{token}"))
    assert resumed.request.path == f"/s/{token}/p/second"
    assert (
        "Welcome back. You can continue where you left off: your earlier answers are saved." in resumed.text
    )
    assert "Welcome back" not in client.get(f"/s/{token}/p/second").text


def test_link_pages_explain_without_error_codes_or_false_claims(app: Flask, ux: StudyHandle) -> None:
    from elicit.studio.invitations import revoke

    client = app.test_client()
    unknown = client.get("/s/" + "A" * 32)
    assert unknown.status_code == 404 and "Error 404" not in unknown.text
    assert "This link is not known" in unknown.text
    (token,) = ux.invite()
    with app.app_context():
        from elicit.models import Invitation
        from elicit.tokens import token_hash

        revoke(db.session.scalars(select(Invitation).where(Invitation.token_hash == token_hash(token))).one())
        db.session.commit()
    revoked = client.get(f"/s/{token}")
    assert revoked.status_code == 410 and "Error 410" not in revoked.text
    assert "replaced" not in revoked.text and "withdrawn this link" in revoked.text


def test_without_javascript_the_total_is_the_server_s_and_says_so(
    client: FlaskClient, ux: StudyHandle
) -> None:
    (token,) = ux.invite()
    page = begin(client, token)
    second = follow(
        client,
        client.post(
            f"/s/{token}/p/first",
            data={"csrf_token": csrf_of(page.text), "nav": "next", "years": "4", "sector": "gov"},
        ),
    )
    assert "Total: <output" in second.text and ">0</output> / 100" in second.text
    assert "This total is the one last saved; it is checked again when you continue." in second.text
    fields = {"split.rivers": "30", "split.wells": "50", "split.rain": "30", "remarks": ""}
    refused = client.post(
        f"/s/{token}/p/second", data={"csrf_token": csrf_of(second.text), "nav": "next", **fields}
    )
    assert refused.status_code == 422 and ">110</output> / 100" in refused.text
    fields["split.rain"] = "20"
    client.post(f"/s/{token}/p/second", data={"csrf_token": csrf_of(second.text), "nav": "next", **fields})
    again = client.get(f"/s/{token}/p/second")
    assert ">100</output> / 100" in again.text  # the saved total, shown when the page comes back


DELPHI = """
id: ux-feedback
version: 1.0.0
languages: [en, ur]
anonymity: pseudonymous
title: {en: "Water management", ur: "پانی کا انتظام"}
pages:
  - id: first
    title: {en: "About you", ur: "آپ کے بارے میں"}
    items:
      - id: sector
        type: single_choice
        required: true
        choices:
          - {code: gov, label: {en: Government ministry, ur: سرکاری وزارت}}
          - {code: ngo, label: {en: Non-governmental organisation, ur: غیر سرکاری تنظیم}}
          - {code: uni, label: {en: University, ur: جامعہ}}
        text: {en: "Where do you work?", ur: "آپ کہاں کام کرتے ہیں؟"}
"""


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_round_two_chart_in_urdu_keeps_its_labels_and_counts_inside(
    app: Flask, browser: object, live_server: str, axe_source: str, javascript: bool
) -> None:
    from elicit.rounds import close_round, open_round
    from elicit.studies import find_study
    from tests.conftest import ARTIFACTS, axe_violations

    with app.app_context():
        version, _ = publish_version(db.session, load_text(DELPHI, "ux-feedback.yaml"), "test")
        create_study(db.session, "ux-feedback", version, [("UK", "United Kingdom")])
        db.session.commit()
    handle = StudyHandle(app, "ux-feedback")
    tokens = handle.invite("UK", 6)
    for token, code in zip(tokens, ["gov", "gov", "ngo", "uni", "gov", "ngo"], strict=True):
        client = app.test_client()
        page = begin(client, token, "ur")
        review = follow(
            client,
            client.post(
                f"/s/{token}/p/first", data={"csrf_token": csrf_of(page.text), "nav": "next", "sector": code}
            ),
        )
        client.post(f"/s/{token}/review", data={"csrf_token": csrf_of(review.text), "nav": "submit"})
    with app.app_context():
        study = find_study(db.session, "ux-feedback")
        close_round(db.session, study)
        open_round(db.session, study, None, ["sector"])
        db.session.commit()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        context = browser.new_context(  # type: ignore[attr-defined]
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{tokens[0]}")
        choose_language(tab, "ur")  # round 2's landing page: in Urdu already, the expert's earlier choice
        charts = tab.locator("svg.distribution")
        assert charts.count() == 2  # the expert's group and all experts
        for index in range(charts.count()):
            chart = charts.nth(index)
            box = chart.bounding_box()
            labels = chart.locator("text.bar-label")
            counts = chart.locator("text.bar-count")
            bars = chart.locator("rect.bar")
            for row in range(labels.count()):
                for text in (labels.nth(row), counts.nth(row)):
                    inner = text.bounding_box()
                    assert (
                        box["x"] - 0.5 <= inner["x"]
                        and inner["x"] + inner["width"] <= box["x"] + box["width"] + 0.5
                    )
                count, bar = counts.nth(row).bounding_box(), bars.nth(row).bounding_box()
                assert count["x"] + count["width"] <= bar["x"] + 0.5  # the count stands left of its bar
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.screenshot(path=str(ARTIFACTS / f"feedback-ur-{width}-{js}.png"), full_page=True)
        context.close()


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_errors_name_their_questions_on_a_phone_and_a_desktop(
    app: Flask,
    ux: StudyHandle,
    browser: object,
    live_server: str,
    axe_source: str,
    language: str,
    javascript: bool,
) -> None:
    from tests.conftest import ARTIFACTS, axe_violations
    from tests.survey.test_new_item_types import assert_fits

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        (token,) = ux.invite()
        context = browser.new_context(  # type: ignore[attr-defined]
            java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{token}")
        choose_language(tab, language)
        tab.wait_for_load_state()
        tab.locator('button[name="nav"][value="next"]').click()
        tab.wait_for_load_state()
        entries = tab.locator(".error-summary li")
        assert entries.count() == 2
        question = "آپ کہاں کام کرتے ہیں؟" if language == "ur" else "Where do you work?"
        assert entries.nth(1).locator(".error-question").inner_text() == question
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.screenshot(path=str(ARTIFACTS / f"error-summary-{language}-{width}-{js}.png"), full_page=True)
        context.close()


CONSENTING = INSTRUMENT.replace(
    "  - id: first\n",
    "  - id: welcome\n    items:\n      - id: consent\n        type: consent\n        required: true\n"
    '        text: {en: "I agree to take part.", ur: "میں حصہ لینے پر رضامند ہوں۔"}\n  - id: first\n',
    1,
).replace("id: ux\n", "id: ux-consent\n", 1)


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("language", ["en", "ur"])
def test_the_decline_question_on_a_phone_without_javascript(
    app: Flask, browser: object, live_server: str, language: str
) -> None:
    from tests.conftest import ARTIFACTS
    from tests.survey.test_new_item_types import assert_fits

    with app.app_context():
        version, _ = publish_version(db.session, load_text(CONSENTING, "ux-consent.yaml"), "test")
        create_study(db.session, "ux-consent", version, [("UK", "United Kingdom")])
        db.session.commit()
    (token,) = StudyHandle(app, "ux-consent").invite()
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.goto(f"{live_server}/s/{token}")
    choose_language(tab, language)
    tab.locator('input[name="consent"][value="no"]').check()
    tab.locator('button[name="nav"][value="next"]').click()
    assert tab.locator(".confirm-decline").count() == 1
    assert_fits(tab)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"decline-{language}-360-nojs.png"), full_page=True)
    context.close()
