"""Views that ask once (issue 14): each expert request is one call into ``elicit.responding.pages``.

Through the Flask client, every public function of the request API and of ``elicit.responding.flow`` is wrapped:
a page GET, a page POST (saved, refused for errors, a language switch), the review, a submit and a refused CSRF
post each make exactly one call into the request API, and the survey package itself asks ``flow`` for nothing but
the link. Without the web layer, the API decides navigation, the fields a page accepts (from the item types, the
slider's, date's and dropdown's included), the language switch and what a page shows when the database is down.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from elicit.db import db
from elicit.instruments.loading import load_text
from elicit.instruments.versions import publish_version
from elicit.responding import flow, pages
from elicit.studies import create_study
from tests.conftest import StudyHandle
from tests.survey.test_expert_flow import csrf_of

SLUG = "one-call"
INSTRUMENT = """
id: one-call
version: 1.0.0
languages: [en, ur]
title: {en: "One call", ur: "ایک کال"}
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
      - id: share
        type: slider
        min: 0
        max: 100
        step: 5
        text: {en: "What share?", ur: "کتنا حصہ؟"}
      - id: since
        type: date
        min: "2000-01-01"
        max: today
        text: {en: "Since when?", ur: "کب سے؟"}
      - id: country
        type: dropdown
        required: true
        choices:
          GB: {en: "United Kingdom", ur: "برطانیہ"}
          PK: {en: "Pakistan", ur: "پاکستان"}
        text: {en: "Which country?", ur: "کون سا ملک؟"}
      - id: views
        type: likert_matrix
        choices:
          1: {en: "Disagree", ur: "اختلاف"}
          2: {en: "Agree", ur: "اتفاق"}
        text: {en: "Do you agree?", ur: "کیا آپ متفق ہیں؟"}
        rows:
          - id: view_1
            text: {en: "Ties are strong.", ur: "روابط مضبوط ہیں۔"}
  - id: last
    items:
      - id: remarks
        type: text
        text: {en: "Anything else?", ur: "کچھ اور؟"}
"""
DEFINITION = load_text(INSTRUMENT, "one-call.yaml")
ESTIMATES = {
    "share": ["35"],
    "share.slider": ["50"],
    "share.start": ["50"],
    "since": ["2015-03-01"],
    "country": ["PK"],
    "view_1": ["2"],
}


@pytest.fixture
def one_call(app: Flask) -> StudyHandle:
    """A study on a three-page instrument: consent; a slider, a date, a dropdown and a matrix; a text."""
    with app.app_context():
        version, _ = publish_version(db.session, load_text(INSTRUMENT, "one-call.yaml"), "test")
        create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, SLUG)


def _public_functions(module: Any) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    ]


def _recorded(function: Callable[..., Any], label: str, made: list[str], only_from: str | None) -> Any:
    """``function``, noting ``label`` in ``made`` at each call (from a module under ``only_from``, if given)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = inspect.currentframe()
        module = str(caller.f_back.f_globals.get("__name__", "")) if caller and caller.f_back else ""
        if only_from is None or module.startswith(only_from):
            made.append(label)
        return function(*args, **kwargs)

    return wrapper


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls into the request API, and the calls the survey package makes into ``flow`` itself, in order."""
    made: list[str] = []
    for name in _public_functions(pages):
        monkeypatch.setattr(pages, name, _recorded(getattr(pages, name), f"pages.{name}", made, None))
    for name in _public_functions(flow):
        wrapped = _recorded(getattr(flow, name), f"flow.{name}", made, "elicit.survey")
        monkeypatch.setattr(flow, name, wrapped)
    return made


def _asked(calls: list[str], response: Any, status: int, call: str) -> None:
    """The request got ``status`` after opening the link and making the one call ``call``; forget the calls."""
    assert response.status_code == status, response.text[:400]
    assert calls == ["flow.open_by_token", f"pages.{call}"]
    calls.clear()


def test_every_expert_request_makes_one_call_into_responding(
    client: FlaskClient, one_call: StudyHandle, calls: list[str]
) -> None:
    (token,) = one_call.invite("UK")
    landing = client.get(f"/s/{token}")  # the first page, before the response exists
    _asked(calls, landing, 200, "show_landing")
    assert (
        'action="/s/' + token + '/p/welcome"' in landing.text and 'name="language" value="en"' in landing.text
    )
    csrf = csrf_of(landing.text)
    saved = client.post(
        f"/s/{token}/p/welcome", data={"csrf_token": csrf, "language": "en", "consent": "yes", "nav": "next"}
    )
    _asked(calls, saved, 303, "post_page")  # started and saved at once
    assert saved.headers["Location"].endswith("/p/estimates")
    welcome = client.get(f"/s/{token}/p/welcome")
    _asked(calls, welcome, 200, "show_page")
    again = client.post(
        f"/s/{token}", data={"csrf_token": csrf, "language": "en"}
    )  # an earlier landing's form
    _asked(calls, again, 303, "begin")
    assert again.headers["Location"].endswith("/p/estimates")

    skipped = client.get(f"/s/{token}/p/last")
    _asked(calls, skipped, 302, "show_page")
    assert skipped.headers["Location"].endswith("/p/estimates")
    invalid = client.post(f"/s/{token}/p/estimates", data={"csrf_token": csrf, "share": "35", "nav": "next"})
    _asked(calls, invalid, 422, "post_page")
    assert 'value="35"' in invalid.text
    switched = client.post(
        f"/s/{token}/p/estimates", data={"csrf_token": csrf, "share": "35", "switch_language": "ur"}
    )
    _asked(calls, switched, 200, "post_page")
    assert 'lang="ur"' in switched.text and 'value="35"' in switched.text
    switched = client.post(
        f"/s/{token}/p/estimates", data={"csrf_token": csrf, "share": "35", "switch_language": "en"}
    )
    _asked(calls, switched, 200, "post_page")
    assert 'lang="en"' in switched.text
    foreign = client.post(f"/s/{token}/p/estimates", data={"csrf_token": csrf, "nav": "next", "x": "1"})
    _asked(calls, foreign, 400, "post_page")
    unknown = client.post(f"/s/{token}/p/nowhere", data={"csrf_token": csrf, "nav": "next"})
    _asked(calls, unknown, 404, "post_page")
    forged = client.post(
        f"/s/{token}/p/estimates", data={"csrf_token": "forged", "share": "40", "nav": "next"}
    )
    _asked(calls, forged, 400, "show_page_again")
    assert 'value="40"' in forged.text

    data = {"csrf_token": csrf, "nav": "next", **ESTIMATES}
    _asked(calls, client.post(f"/s/{token}/p/estimates", data=data), 303, "post_page")
    last = {"csrf_token": csrf, "nav": "next", "remarks": "none"}
    to_review = client.post(f"/s/{token}/p/last", data=last)
    _asked(calls, to_review, 303, "post_page")
    assert to_review.headers["Location"].endswith(f"/s/{token}/review")

    review = client.get(f"/s/{token}/review")
    _asked(calls, review, 200, "show_review")
    assert "Pakistan" in review.text and "I agree to take part." not in review.text
    version = re.search(r'name="answers-version" value="([^"]+)"', review.text)
    assert version is not None
    form = {"csrf_token": csrf_of(review.text), "nav": "submit", "answers-version": version.group(1)}
    submitted = client.post(f"/s/{token}/review", data=form)
    _asked(calls, submitted, 303, "post_review")
    _asked(calls, client.post(f"/s/{token}/review", data=form), 303, "post_review")  # a replay
    done = client.get(f"/s/{token}")
    _asked(calls, done, 200, "show_landing")
    assert "Your answers have been submitted" in done.text


def _open(app: Flask, token: str) -> flow.ExpertLink:
    return flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"], lock=True)


def test_the_request_api_decides_navigation_fields_and_language(app: Flask, one_call: StudyHandle) -> None:
    (token,) = one_call.invite("PK")
    with app.app_context():
        link = _open(app, token)
        landing = pages.show_landing(link, db.session)
        assert isinstance(landing, pages.PageShown) and landing.landing and landing.page.id == "welcome"
        assert link.response is None  # showing the landing page starts nothing
        began = pages.begin(db.session, link, "en")
        assert link.response is not None
        assert began == pages.Redirect("welcome", language="en", response_id=link.response.id)
        assert pages.show_page(db.session, link, "estimates") == pages.Redirect("welcome")
        with pytest.raises(pages.UnknownPage):
            pages.post_page(db.session, link, "nowhere", {"nav": ["next"]})
        assert pages.post_page(db.session, link, "welcome", {"consent": ["yes"]}) == pages.Redirect(
            "estimates"
        )

        refusals = {
            "share.rationale": pages.FOREIGN_FIELDS,  # the first round asks no rationale
            "consent": pages.FOREIGN_FIELDS,  # a field of another page
            "nav": pages.SENT_TWICE,
        }
        for name, message in refusals.items():
            with pytest.raises(pages.RefusedPost) as refused:
                pages.post_page(db.session, link, "estimates", {name: ["1", "2"]})
            assert refused.value.message == message
        with pytest.raises(pages.RefusedPost) as refused:
            pages.post_page(db.session, link, "estimates", {"switch_language": ["fr"]})
        assert refused.value.message == pages.UNKNOWN_LANGUAGE
        with pytest.raises(pages.RefusedPost):
            pages.post_page(db.session, link, "estimates", {"nav": ["sideways"]})

        typed = {"share.slider": ["50"], "share.start": ["50"], "since": ["2015-03-01"], "nav": ["next"]}
        shown = pages.post_page(db.session, link, "estimates", typed)
        assert isinstance(shown, pages.PageShown)
        assert set(shown.errors) == {"country"} and shown.values == typed and shown.language == "en"
        assert (shown.number, shown.total) == (2, 3)
        back = pages.post_page(db.session, link, "estimates", {**typed, "nav": ["back"]})
        assert back == pages.Redirect("welcome")
        switched = pages.post_page(db.session, link, "estimates", {**typed, "switch_language": ["ur"]})
        assert isinstance(switched, pages.PageShown)
        assert switched.language == "ur" and not switched.errors and link.response.language == "ur"

        saved = pages.post_page(db.session, link, "estimates", {**ESTIMATES, "switch_language": ["en"]})
        assert saved == pages.Redirect("estimates", language="en")
        assert pages.post_page(db.session, link, "estimates", ESTIMATES) == pages.Redirect("last")
        assert pages.show_review(db.session, link) == pages.Redirect("last")
        assert pages.post_page(db.session, link, "last", {"nav": ["back"]}) == pages.Redirect("estimates")

        review = pages.show_review(db.session, link)
        assert isinstance(review, pages.ReviewShown)
        assert [page.id for page, _ in review.sections] == ["estimates", "last"]  # consent is not reviewed
        answers = {item.id: value for _, rows in review.sections for item, value in rows}
        assert answers == {
            "share": 35,
            "since": "2015-03-01",
            "country": "PK",
            "view_1": 2,
            "remarks": None,
        }
        with pytest.raises(pages.RefusedPost):
            pages.post_review(db.session, link, {"nav": ["submit"], "share": ["1"]})
        assert pages.post_review(db.session, link, {"nav": ["back"]}) == pages.Redirect("last")
        stale = pages.post_review(db.session, link, {"nav": ["submit"], "answers-version": ["0" * 32]})
        assert isinstance(stale, pages.ReviewShown) and stale.stale and stale.version == review.version
        assert pages.post_review(db.session, link, {"nav": ["submit"]}) == pages.Redirect(pages.LANDING)
        assert pages.show_landing(link, db.session) == pages.Landing("submitted")
        assert pages.show_page(db.session, link, "estimates") == pages.Redirect(pages.LANDING)


def test_a_consent_refusal_goes_to_the_thank_you_page(app: Flask, one_call: StudyHandle) -> None:
    (token,) = one_call.invite("UK")
    with app.app_context():
        link = _open(app, token)
        pages.begin(db.session, link, "ur")
        assert pages.post_page(
            db.session, link, "welcome", {"consent": ["no"], "confirm_decline": ["yes"]}
        ) == pages.Redirect(pages.LANDING)
        assert pages.show_landing(link, db.session) == pages.Landing("declined")


def test_a_page_is_shown_again_without_the_database() -> None:
    stored = {"consent": "yes"}
    posted = {"share": ["35"], "view_1": ["2"], "country.rationale": ["Most posts are there."]}
    shown = pages.page_from_memory(
        DEFINITION, "estimates", posted, language="ur", answers=stored, rationale_items=frozenset(), k=5
    )
    assert shown is not None
    assert shown.values == posted and shown.language == "ur" and shown.version == ""
    assert shown.always_shown == {"share", "view_1", "views", "country"}
    assert "country" in shown.rationale_items  # the form carried one: the round asked for it
    assert (shown.number, shown.total) == (2, 3)
    for form, page_id in (({"consent": ["yes"]}, "estimates"), ({"share": ["1", "2"]}, "nowhere")):
        assert (
            pages.page_from_memory(
                DEFINITION, page_id, form, language="en", answers=stored, rationale_items=frozenset(), k=5
            )
            is None
        )

    review = pages.review_from_memory(
        DEFINITION, {**stored, "country": "GB"}, "en", {"answers-version": ["v1"]}
    )
    assert review.version == "v1" and not review.missing
    assert [(page.id, [item.id for item, _ in rows]) for page, rows in review.sections] == [
        ("estimates", ["share", "since", "country", "view_1"]),
        ("last", ["remarks"]),
    ]


def test_the_landing_page_starts_the_response_and_the_last_page_submits(
    app: Flask, one_call: StudyHandle
) -> None:
    """Fewer requests: posting the landing page starts the response and saves it; ``nav=submit`` on the last page
    saves it and submits; a switch or an error on the landing starts nothing."""
    (token,) = one_call.invite("PK")
    with app.app_context():
        link = _open(app, token)
        link.negotiated = "en"
        assert pages.post_page(db.session, link, "welcome", {"switch_language": ["ur"]}) == pages.Redirect(
            pages.LANDING, language="ur"
        )
        typed = pages.post_page(db.session, link, "welcome", {"consent": ["yes"], "switch_language": ["ur"]})
        assert isinstance(typed, pages.PageShown) and typed.landing and typed.language == "ur"
        assert typed.values == {"consent": ["yes"], "switch_language": ["ur"]}
        missing = pages.post_page(db.session, link, "welcome", {"nav": ["next"]})
        assert isinstance(missing, pages.PageShown) and set(missing.errors) == {"consent"}
        assert pages.post_page(db.session, link, "estimates", {"nav": ["next"]}) == pages.Redirect(
            pages.LANDING
        )
        assert link.response is None  # nothing of that started the response

        started = pages.post_page(db.session, link, "welcome", {"consent": ["yes"], "language": ["ur"]})
        assert link.response is not None and link.response.language == "ur"
        assert started == pages.Redirect("estimates", language="ur", response_id=link.response.id)
        assert pages.post_page(db.session, link, "estimates", {**ESTIMATES, "nav": ["submit"]}) == (
            pages.Redirect("last")  # not the last page: it saves and goes on, nothing is submitted
        )
        assert not link.submitted
        last = pages.show_page(db.session, link, "last")
        assert isinstance(last, pages.PageShown) and last.last
        done = pages.post_page(db.session, link, "last", {"remarks": ["none"], "nav": ["submit"]})
        assert done == pages.Redirect(pages.LANDING) and link.submitted
        replay = pages.post_page(db.session, link, "last", {"remarks": ["none"], "nav": ["submit"]})
        assert replay == pages.Redirect(pages.LANDING)
        db.session.commit()
        link = _open(app, token)
        assert link.response is not None and link.response.status == "submitted"
        assert link.answers["remarks"] == "none" and link.answers["country"] == "PK"
