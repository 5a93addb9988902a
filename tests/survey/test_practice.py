"""Calibration training (issue 15): the practice page between consent and the questions, scored at once, stored
apart, never exported; in English and Urdu, on a phone and a desktop, with and without JavaScript."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.models import Answer, PracticeAnswer, PracticeRecord, Response
from elicit.responding import flow, pages
from elicit.studies import create_study
from tests.conftest import ARTIFACTS, StudyHandle, axe_violations
from tests.survey.contract import choose_language
from tests.survey.test_expert_flow import csrf_of, follow
from tests.survey.test_new_item_types import assert_fits
from tests.survey.test_one_call import calls  # noqa: F401  # the fixture that records the calls

SLUG = "practice"
INSTRUMENT = """
id: practice-test
version: 1.0.0
languages: [en, ur]
anonymity: anonymous
title: {en: "Defence budgets", ur: "دفاعی بجٹ"}
pages:
  - id: welcome
    items:
      - id: consent
        type: consent
        required: true
        text: {en: "I agree to take part.", ur: "میں حصہ لینے پر رضامند ہوں۔"}
  - id: estimates
    title: {en: "Estimates", ur: "اندازے"}
    items:
      - id: growth
        type: quantiles
        unit: "%"
        text: {en: "How much will defence spending grow?", ur: "دفاعی اخراجات کتنے بڑھیں گے؟"}
  - id: last
    items:
      - id: remarks
        type: text
        text: {en: "Anything else?", ur: "کچھ اور؟"}
practice:
  intro: {en: "A warm-up with known answers.", ur: "معلوم جوابات کے ساتھ ایک مشق۔"}
  items:
    - id: p_everest
      type: quantiles
      unit: m
      text: {en: "How high is Mount Everest?", ur: "ماؤنٹ ایورسٹ کتنا اونچا ہے؟"}
      answer: 8849
      source: {en: "Nepal and China, 2020 survey", ur: "نیپال اور چین، 2020 کا سروے"}
    - id: p_nile
      type: quantiles
      unit: km
      text: {en: "How long is the Nile?", ur: "دریائے نیل کتنا لمبا ہے؟"}
      answer: 6650
    - id: p_moon
      type: quantiles
      unit: km
      text: {en: "How far is the Moon, on average?", ur: "چاند اوسطاً کتنا دور ہے؟"}
      answer: 384400
      source: {en: "NASA", ur: "ناسا"}
"""
# Two true values inside (Everest, the Nile), one outside (the Moon).
SCORED = {
    "p_everest.q05": "8000",
    "p_everest.q50": "8800",
    "p_everest.q95": "9000",
    "p_nile.q05": "5000",
    "p_nile.q50": "6000",
    "p_nile.q95": "7000",
    "p_moon.q05": "100000",
    "p_moon.q50": "200000",
    "p_moon.q95": "300000",
}


def publish(app: Flask, anonymity: str) -> StudyHandle:
    """A study on an instrument with consent, two pages of questions and a practice block of three questions."""
    text = INSTRUMENT.replace("anonymity: anonymous", f"anonymity: {anonymity}")
    with app.app_context():
        version, _ = publish_version(db.session, load_text(text, "practice.yaml"), "test")
        study = create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        assert study.anonymity == anonymity
        db.session.commit()
    return StudyHandle(app, SLUG)


@pytest.fixture(params=["anonymous", "pseudonymous"])
def practising(app: Flask, request: pytest.FixtureRequest) -> StudyHandle:
    """The practice study, anonymous and pseudonymous."""
    return publish(app, request.param)


def consent(client: FlaskClient, token: str, language: str = "en") -> Any:
    """Start and give consent; returns the redirect that follows the consent page."""
    landing = client.get(f"/s/{token}")
    started = client.post(f"/s/{token}", data={"csrf_token": csrf_of(landing.text), "language": language})
    assert started.headers["Location"].endswith(f"/s/{token}/p/welcome")  # consent comes first
    welcome = client.get(started.headers["Location"])
    return client.post(
        f"/s/{token}/p/welcome", data={"csrf_token": csrf_of(welcome.text), "consent": "yes", "nav": "next"}
    )


def practice_form(page: Any, **fields: str) -> dict[str, str]:
    version = re.search(r'name="answers-version" value="([^"]+)"', page.text)
    assert version is not None
    return {"csrf_token": csrf_of(page.text), "answers-version": version.group(1), **fields}


def counts(app: Flask) -> tuple[int, int, list[str]]:
    """Practice rows, practice records and the statuses recorded."""
    with app.app_context():
        answers = db.session.scalar(select(func.count()).select_from(PracticeAnswer)) or 0
        statuses = list(db.session.scalars(select(PracticeRecord.status)))
        return answers, len(statuses), [str(s) for s in statuses]


def test_consent_then_practice_then_the_questions(
    app: Flask, client: FlaskClient, practising: StudyHandle
) -> None:
    (token,) = practising.invite("UK")
    after_consent = consent(client, token)
    assert after_consent.status_code == 303
    practice = follow(client, after_consent)
    assert practice.request.path == f"/s/{token}/practice"
    assert practice.status_code == 200
    assert "A warm-up with known answers." in practice.text
    assert "How high is Mount Everest?" in practice.text and 'name="p_moon.q95"' in practice.text
    assert 'value="score"' in practice.text and 'value="skip"' in practice.text
    # The questions wait until the practice is scored or skipped; the landing page sends the expert here too.
    assert client.get(f"/s/{token}/p/estimates").headers["Location"].endswith(f"/s/{token}/practice")
    assert follow(client, client.get(f"/s/{token}")).request.path == f"/s/{token}/practice"

    # Errors come back on the page, like a page's, and nothing is stored.
    wrong = {**SCORED, "p_nile.q05": "", "p_nile.q50": "", "p_nile.q95": "", "p_moon.q50": "1"}
    refused = client.post(f"/s/{token}/practice", data=practice_form(practice, nav="score", **wrong))
    assert refused.status_code == 422
    assert "This question needs an answer." in refused.text
    assert "Each value must be larger than the one before it." in refused.text
    assert 'value="8000"' in refused.text  # what was typed stays
    assert counts(app) == (0, 0, [])

    scored = client.post(f"/s/{token}/practice", data=practice_form(practice, nav="score", **SCORED))
    assert scored.status_code == 303 and scored.headers["Location"].endswith(f"/s/{token}/practice")
    result = client.get(scored.headers["Location"])
    assert result.status_code == 200
    text = re.sub(r"<[^>]+>", "", result.text)
    assert "2 of 3 true values fell inside your 90 % ranges." in text
    assert "A well-calibrated expert catches about 9 in 10" in text
    assert text.count("Inside your range") == 2 and text.count("Outside your range") == 1
    assert "Your range (5 %–95 %): 8000 m – 9000 m" in text and "True value: 8849 m" in text
    assert "Nepal and China, 2020 survey" in text and "NASA" in text
    assert f'href="/s/{token}/p/estimates"' in result.text  # Continue to the questions
    assert counts(app) == (9, 1, ["scored"])

    # The questions now; practice is not a page of the questionnaire's count, and Back goes to the score.
    estimates = client.get(f"/s/{token}/p/estimates")
    assert estimates.status_code == 200 and "Page 2 of 3" in estimates.text
    back = client.post(f"/s/{token}/p/estimates", data={"csrf_token": csrf_of(estimates.text), "nav": "back"})
    assert back.headers["Location"].endswith(f"/s/{token}/practice")
    assert "2 of 3 true values" in re.sub(r"<[^>]+>", "", follow(client, back).text)
    # Back saved the (optional) estimates page: the expert resumes after it, not at the practice page.
    assert follow(client, client.get(f"/s/{token}")).request.path == f"/s/{token}/p/last"

    # A second window that still showed the questions: its score is not taken; the stored score is shown.
    other = {**SCORED, "p_moon.q95": "400000"}
    stale = client.post(f"/s/{token}/practice", data=practice_form(practice, nav="score", **other))
    assert stale.status_code == 409
    assert "scored in another window" in stale.text and "2 of 3 true values" in re.sub(
        r"<[^>]+>", "", stale.text
    )
    assert counts(app) == (9, 1, ["scored"])


def test_skipping_goes_to_the_questions_and_the_practice_stays_open(
    app: Flask, client: FlaskClient, practising: StudyHandle
) -> None:
    (token,) = practising.invite("PK")
    practice = follow(client, consent(client, token))
    skipped = client.post(f"/s/{token}/practice", data=practice_form(practice, nav="skip"))
    assert skipped.status_code == 303 and skipped.headers["Location"].endswith(f"/s/{token}/p/estimates")
    assert counts(app) == (0, 1, ["skipped"])
    assert client.get(f"/s/{token}/p/estimates").status_code == 200
    again = client.get(f"/s/{token}/practice")  # still there, to be scored later
    assert again.status_code == 200 and 'name="p_everest.q05"' in again.text
    scored = client.post(f"/s/{token}/practice", data=practice_form(again, nav="score", **SCORED))
    assert scored.status_code == 303
    assert counts(app) == (9, 1, ["scored"])
    # Skipping after scoring keeps the score.
    client.post(f"/s/{token}/practice", data=practice_form(again, nav="skip"))
    assert counts(app) == (9, 1, ["scored"])


def test_the_practice_page_in_urdu_keeps_numbers_left_to_right(
    client: FlaskClient, practising: StudyHandle
) -> None:
    (token,) = practising.invite("UK")
    practice = follow(client, consent(client, token, "ur"))
    assert 'lang="ur"' in practice.text and 'dir="rtl"' in practice.text
    assert "معلوم جوابات کے ساتھ ایک مشق۔" in practice.text
    # Switching language keeps what was typed and stores nothing.
    switched = client.post(
        f"/s/{token}/practice", data=practice_form(practice, switch_language="en", **{"p_nile.q05": "5000"})
    )
    assert switched.status_code == 200 and 'lang="en"' in switched.text and 'value="5000"' in switched.text
    switched = client.post(f"/s/{token}/practice", data=practice_form(switched, switch_language="ur"))
    assert 'lang="ur"' in switched.text
    scored = client.post(f"/s/{token}/practice", data=practice_form(switched, nav="score", **SCORED))
    result = client.get(scored.headers["Location"])
    assert 'lang="ur"' in result.text
    assert '<bdi dir="ltr">8849 m</bdi>' in result.text and "ناسا" in result.text
    assert '<bdi dir="ltr">2</bdi>' in result.text and '<bdi dir="ltr">90</bdi>' in result.text


def test_show_my_distribution_on_a_practice_question_stores_nothing(
    app: Flask, client: FlaskClient, practising: StudyHandle
) -> None:
    (token,) = practising.invite("UK")
    practice = follow(client, consent(client, token))
    fields = {"p_everest.q05": "8000", "p_everest.q50": "8800", "p_everest.q95": "9000"}
    drawn = client.post(f"/s/{token}/practice", data=practice_form(practice, show="p_everest", **fields))
    assert (
        drawn.status_code == 200
        and 'id="p_everest-density-title"' in drawn.text
        and 'value="8800"' in drawn.text
    )
    fragment = client.post(
        f"/s/{token}/practice",
        data=practice_form(practice, show="p_everest", **fields),
        headers={"Elicit-Fragment": "distribution"},
    )
    assert fragment.headers["Elicit-Fragment"] == "distribution" and "<form" not in fragment.text
    empty = client.post(f"/s/{token}/practice", data=practice_form(practice, show="p_nile"))
    assert empty.status_code == 422 and "Give your values first" in empty.text
    assert counts(app) == (0, 0, [])


def test_posts_the_practice_page_could_not_have_sent_are_refused(
    app: Flask, client: FlaskClient, practising: StudyHandle
) -> None:
    (token,) = practising.invite("UK")
    landing = client.get(f"/s/{token}")
    client.post(f"/s/{token}", data={"csrf_token": csrf_of(landing.text), "language": "en"})
    # Before consent the practice page is not open: the expert goes where they resume.
    assert client.get(f"/s/{token}/practice").headers["Location"].endswith("/p/welcome")
    csrf = csrf_of(client.get(f"/s/{token}/p/welcome").text)
    posted = client.post(f"/s/{token}/practice", data={"csrf_token": csrf, "nav": "score", **SCORED})
    assert posted.headers["Location"].endswith("/p/welcome") and counts(app) == (0, 0, [])
    consented = client.post(
        f"/s/{token}/p/welcome", data={"csrf_token": csrf, "consent": "yes", "nav": "next"}
    )
    practice = follow(client, consented)
    for extra in ({"growth.q05": "1"}, {"nav": "sideways"}, {"switch_language": "fr"}, {"show": "growth"}):
        refused = client.post(f"/s/{token}/practice", data=practice_form(practice, **extra))
        assert refused.status_code == 400, extra
    twice = client.post(f"/s/{token}/practice", data={**practice_form(practice), "nav": ["score", "skip"]})
    assert twice.status_code == 400
    assert client.post(f"/s/{token}/practice", data={"nav": "score", **SCORED}).status_code == 400  # no CSRF
    assert counts(app) == (0, 0, [])


def test_an_instrument_without_practice_has_no_practice_page(client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    landing = client.get(f"/s/{token}")
    started = client.post(f"/s/{token}", data={"csrf_token": csrf_of(landing.text), "language": "en"})
    assert started.headers["Location"].endswith("/p/welcome")
    assert client.get(f"/s/{token}/practice").headers["Location"].endswith("/p/welcome")
    csrf = csrf_of(client.get(f"/s/{token}/p/welcome").text)
    assert client.post(f"/s/{token}/practice", data={"csrf_token": csrf, "nav": "skip"}).status_code == 404


def test_a_refused_consent_takes_the_practice_answers_with_it(
    app: Flask, client: FlaskClient, practising: StudyHandle
) -> None:
    (token,) = practising.invite("UK")
    practice = follow(client, consent(client, token))
    client.post(f"/s/{token}/practice", data=practice_form(practice, nav="score", **SCORED))
    assert counts(app) == (9, 1, ["scored"])
    welcome = client.get(f"/s/{token}/p/welcome")
    declined = client.post(
        f"/s/{token}/p/welcome",
        data={"csrf_token": csrf_of(welcome.text), "consent": "no", "nav": "next", "confirm_decline": "yes"},
    )
    assert declined.status_code == 303
    assert counts(app) == (0, 0, [])
    assert client.get(f"/s/{token}/practice").headers["Location"].endswith(f"/s/{token}")


# Practice values no real answer, export column or count could hold by chance.
DISTINCT = {
    "p_everest.q05": "71717.25",
    "p_everest.q50": "72727.25",
    "p_everest.q95": "73737.25",
    "p_nile.q05": "81818.5",
    "p_nile.q50": "82828.5",
    "p_nile.q95": "83838.5",
    "p_moon.q05": "91919.75",
    "p_moon.q50": "92929.75",
    "p_moon.q95": "93939.75",
}


def practice_values_in(content: str | bytes) -> list[str]:
    """The practice values written in content as numbers of their own.

    A hex digest in a manifest or an answers-version holds any five digits about once in two thousand
    hashes, so a value counts only with no letter or digit either side, as a number in CSV, JSON or HTML.
    """
    text = content if isinstance(content, str) else content.decode("latin-1")
    whole = [value.split(".")[0] for value in DISTINCT.values()]
    return [number for number in whole if re.search(rf"(?<![0-9A-Za-z]){number}(?![0-9A-Za-z])", text)]


def test_practice_answers_never_reach_the_answers_the_review_or_the_export(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, practising: StudyHandle, tmp_path: Path
) -> None:
    (token,) = practising.invite("UK")
    practice = follow(client, consent(client, token))
    client.post(f"/s/{token}/practice", data=practice_form(practice, nav="score", **DISTINCT))
    estimates = client.get(f"/s/{token}/p/estimates")
    csrf = csrf_of(estimates.text)
    growth = {"growth.q05": "1", "growth.q50": "2", "growth.q95": "3"}
    client.post(f"/s/{token}/p/estimates", data={"csrf_token": csrf, "nav": "next", **growth})
    to_review = client.post(f"/s/{token}/p/last", data={"csrf_token": csrf, "nav": "next", "remarks": "none"})
    review = client.get(to_review.headers["Location"])
    assert review.status_code == 200
    assert not practice_values_in(review.text)
    assert "Mount Everest" not in review.text
    version = re.search(r'name="answers-version" value="([^"]+)"', review.text)
    assert version is not None
    form = {"csrf_token": csrf_of(review.text), "nav": "submit", "answers-version": version.group(1)}
    assert client.post(f"/s/{token}/review", data=form).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 1
        items = set(db.session.scalars(select(Answer.item_id)))
        assert items == {"consent", "growth", "remarks"}
        assert db.session.scalar(select(func.count()).select_from(PracticeAnswer)) == 9

    out = tmp_path / "export"
    result = runner.invoke(args=["export", SLUG, "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.name == "data.csv" for path in files) and any(path.name == "long.csv" for path in files)
    names = [b"p_everest", b"p_nile", b"p_moon", b"Mount Everest"]
    for path in files:
        content = path.read_bytes()
        found = practice_values_in(content) + [name.decode() for name in names if name in content]
        assert not found, f"{path.name} holds practice data: {found}"


def test_the_request_api_decides_where_practice_goes(app: Flask, practising: StudyHandle) -> None:
    (token,) = practising.invite("UK")
    with app.app_context():
        link = flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"], lock=True)
        began = pages.begin(db.session, link, "en")
        assert began.target == "welcome"
        assert pages.show_practice(db.session, link) == pages.Redirect("welcome")
        assert pages.post_page(db.session, link, "welcome", {"consent": ["yes"]}) == pages.Redirect(
            pages.PRACTICE
        )
        assert pages.show_page(db.session, link, "last") == pages.Redirect(pages.PRACTICE)
        assert pages.show_review(db.session, link) == pages.Redirect(pages.PRACTICE)
        shown = pages.show_practice(db.session, link)
        assert isinstance(shown, pages.PracticeShown) and shown.score is None and shown.onward == "estimates"
        form = {name: [value] for name, value in SCORED.items()}
        assert pages.post_practice(db.session, link, {**form, "nav": ["score"]}) == pages.Redirect(
            pages.PRACTICE
        )
        shown = pages.show_practice(db.session, link)
        assert isinstance(shown, pages.PracticeShown) and shown.score is not None
        assert (shown.score.caught, shown.score.total, shown.score.coverage) == (2, 3, 90)
        assert [q.inside for q in shown.score.questions] == [True, True, False]
        assert pages.show_page(db.session, link, "last") == pages.Redirect("estimates")
        assert pages.post_page(db.session, link, "estimates", {"nav": ["back"]}) == pages.Redirect(
            pages.PRACTICE
        )


def test_each_practice_request_makes_one_call_into_responding(
    client: FlaskClient,
    practising: StudyHandle,
    calls: list[str],  # noqa: F811  # the fixture imported above
) -> None:
    (token,) = practising.invite("UK")
    practice = follow(client, consent(client, token))
    calls.clear()
    shown = client.get(f"/s/{token}/practice")
    assert shown.status_code == 200 and calls == ["flow.open_by_token", "pages.show_practice"]
    calls.clear()
    client.post(f"/s/{token}/practice", data=practice_form(practice, nav="skip"))
    assert calls == ["flow.open_by_token", "pages.post_practice"]


# ---------------------------------------------------------------------------------------------------- browser


def open_practice(
    browser: Any, live_server: str, token: str, language: str, javascript: bool, width: int
) -> Any:
    """A fresh context that started in ``language``, gave consent and stands on the practice page."""
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": 900}, bypass_csp=True
    )
    tab = context.new_page()
    tab.goto(f"{live_server}/s/{token}")
    choose_language(tab, language)
    tab.wait_for_load_state()
    tab.locator('input[name="consent"][value="yes"]').check()
    tab.locator('button[name="nav"][value="next"]').click()
    tab.wait_for_load_state()
    assert tab.url.endswith(f"/s/{token}/practice")
    return tab


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("language", ["en", "ur"])
def test_screenshots_of_the_practice_page_and_its_score(
    app: Flask, browser: Any, live_server: str, axe_source: str, language: str, javascript: bool
) -> None:
    practising = publish(app, "anonymous")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    js = "js" if javascript else "nojs"
    for width in (360, 1280):
        (token,) = practising.invite("UK")
        tab = open_practice(browser, live_server, token, language, javascript, width)
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        name = f"practice-{language}-{width}-{js}"
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        for field, value in SCORED.items():
            tab.locator(f'[name="{field}"]').fill(value)
        tab.locator('[name="p_moon.q50"]').fill("1")  # out of order: the page with its error first
        tab.locator('button[name="nav"][value="score"]').click()
        tab.wait_for_load_state()
        assert tab.locator(".error-summary").count() == 1
        tab.locator('[name="p_moon.q50"]').fill("200000")
        tab.locator('[name="p_moon.q95"]').press("Enter")  # Enter scores the answers
        tab.wait_for_load_state()
        assert tab.url.endswith(f"/s/{token}/practice")
        assert tab.locator(".practice-result").count() == 3
        assert_fits(tab)
        if javascript:
            assert not axe_violations(tab, axe_source)
        tab.screenshot(path=str(ARTIFACTS / f"{name}-score.png"), full_page=True)
        tab.locator("a.button.forward").click()
        tab.wait_for_load_state()
        assert tab.url.endswith(f"/s/{token}/p/estimates")
        tab.context.close()


def test_an_expired_session_keeps_the_typed_practice_answers(
    app: Flask, client: FlaskClient, practising: StudyHandle
) -> None:
    """A refused CSRF token on the practice post lists what was typed, with a button that sends it again."""
    (token,) = practising.invite("UK")
    follow(client, consent(client, token))
    stranger = app.test_client()  # no session: the token cannot be checked
    refused = stranger.post(f"/s/{token}/practice", data={"csrf_token": "stale", "nav": "score", **SCORED})
    assert refused.status_code == 400
    for value in SCORED.values():
        assert f'value="{value}"' in refused.text
    assert counts(app) == (0, 0, [])
