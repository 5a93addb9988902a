"""The expert flow through the Flask client on both databases, driven by the page contract alone."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from elicit.db import db
from elicit.instruments.loading import load_file
from elicit.models import (
    Answer,
    FinishMark,
    Invitation,
    InvitationStatus,
    Response,
    ResponseStatus,
    Round,
    RoundStatus,
)
from tests.conftest import FLAGSHIP, StudyHandle
from tests.survey.contract import answers_for_page, current_values, questionnaire_form

DEFINITION = load_file(FLAGSHIP)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def follow(client: FlaskClient, response: Any) -> Any:
    while response.status_code in (302, 303):
        response = client.get(response.headers["Location"])
    return response


def begin(client: FlaskClient, token: str, language: str = "en") -> Any:
    """Open the link as a browser asking for ``language``: the landing page (the first page, in that language;
    posting it starts the response), or, if the response was started already, the page where it was."""
    landing = client.get(f"/s/{token}", headers={"Accept-Language": language})
    if landing.status_code == 302:
        return follow(client, landing)
    assert landing.status_code == 200
    if f'<html lang="{language}"' not in landing.text:  # this browser chose another language before: switch
        form = questionnaire_form(landing.text)
        switch = {"csrf_token": csrf_of(landing.text), "switch_language": language}
        landing = follow(client, client.post(form["action"], data=switch))
    assert f'<html lang="{language}"' in landing.text
    return landing


def consented(client: FlaskClient, token: str) -> Any:
    """Start in English and give consent; returns the page that follows (the background page)."""
    page = begin(client, token)
    data = {"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next"}
    return follow(client, client.post(f"/s/{token}/p/welcome", data=data))


def complete(
    client: FlaskClient, token: str, language: str, cohort: str, seed: int = 1
) -> dict[str, list[str]]:
    """Answer every page through the contract, the last with "Check your answers" (``nav=next``); return all
    fields sent (stops at the review page)."""
    rng = random.Random(seed)
    page = begin(client, token, language)
    sent: dict[str, list[str]] = {}
    for _ in range(30):
        if page.request.path.endswith("/review"):
            break
        assert page.status_code == 200, page.text[:500]
        form = questionnaire_form(page.text)
        data = answers_for_page(DEFINITION, form, rng, cohort)
        sent.update(data)
        data["csrf_token"] = [csrf_of(page.text)]
        data["nav"] = ["next"]
        page = follow(client, client.post(form["action"], data=data))
    assert 'value="submit"' in page.text
    return sent


def submit(client: FlaskClient, token: str) -> Any:
    review = client.get(f"/s/{token}/review")
    return client.post(f"/s/{token}/review", data={"csrf_token": csrf_of(review.text), "nav": "submit"})


def stored(app: Flask) -> dict[str, dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(
            select(Answer.item_id, Answer.part, Answer.value_num, Answer.value_text)
        ).all()
    return {f"{i}.{p}" if p else i: (n if t is None else t) for i, p, n, t in rows}


@pytest.mark.parametrize("language", ["en", "ur"])
def test_scripted_expert_completes_the_flagship(
    app: Flask, client: FlaskClient, study: StudyHandle, language: str
) -> None:
    (token,) = study.invite("PK")
    sent = complete(client, token, language, "PK")
    page = client.get(f"/s/{token}/review")
    assert f'lang="{language}"' in page.text
    if language == "ur":
        assert 'dir="rtl"' in page.text
    done = follow(client, submit(client, token))
    assert done.status_code == 200
    assert ("جمع" in done.text) if language == "ur" else ("submitted" in done.text)
    values = stored(app)
    for name, fields in sent.items():
        item_id = name.split(".")[0]
        item = DEFINITION.item(item_id)
        if item_id == "sector_other":  # irrelevant unless sector is "other": cleared by the server
            assert name not in values
            continue
        if item.type == "multiple_choice":
            for choice in item.choices:
                assert values[f"{item_id}.{choice.key}"] == (1.0 if choice.key in fields else 0.0)
        elif item.type in {"text", "single_choice", "consent"} and not isinstance(values[name], float):
            assert values[name] == fields[0]
        else:
            assert values[name] == float(fields[0]), name
    with app.app_context():
        response = db.session.scalar(select(Response))
        assert response is not None
        assert response.status == ResponseStatus.SUBMITTED.value and response.language == language
        assert response.invitation_id is None and response.lookup_key  # anonymous: never linked
        assert response.started_at.hour == 0 and response.started_at.minute == 0
        assert response.updated_at.hour == 0 and response.duration_minutes is not None
        invitation = db.session.scalar(select(Invitation))
        # The invitation is not written by the expert: its finish waits, as a mark, for k-1 others.
        assert invitation is not None and invitation.status == InvitationStatus.NOT_OPENED.value
        assert db.session.scalar(select(func.count()).select_from(FinishMark)) == 1


def test_resume_in_a_new_browser_continues_with_answers_filled(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page = begin(client, token)
    rng = random.Random(3)
    for _ in range(2):  # consent page, background page
        form = questionnaire_form(page.text)
        data = answers_for_page(DEFINITION, form, rng, "UK")
        data.update(csrf_token=[csrf_of(page.text)], nav=["next"])
        page = follow(client, client.post(form["action"], data=data))
    other = app.test_client()  # a new browser: no cookies
    resumed = follow(other, other.get(f"/s/{token}"))
    assert resumed.request.path == f"/s/{token}/p/lev_tactical"
    background = other.get(f"/s/{token}/p/background")
    assert background.status_code == 200
    values = current_values(questionnaire_form(background.text))
    assert values["state"] == ["UK"] and values["years"] == ["7"]


def test_back_keeps_answers_and_language_switch_keeps_typed_values(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page = begin(client, token)
    form = questionnaire_form(page.text)
    page = follow(
        client,
        client.post(form["action"], data={"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next"}),
    )
    assert page.request.path.endswith("/p/background")
    data = {"csrf_token": csrf_of(page.text), "state": "UK", "years": "12", "switch_language": "ur"}
    switched = follow(client, client.post(f"/s/{token}/p/background", data=data))
    assert 'lang="ur"' in switched.text and 'dir="rtl"' in switched.text
    assert current_values(questionnaire_form(switched.text))["years"] == ["12"]
    back = follow(
        client, client.post(f"/s/{token}/p/background", data={**data, "switch_language": [], "nav": "back"})
    )
    assert back.request.path.endswith("/p/welcome")
    assert current_values(questionnaire_form(back.text))["consent"] == ["yes"]
    forward = client.get(f"/s/{token}/p/background")
    values = current_values(questionnaire_form(forward.text))
    assert values["state"] == ["UK"] and values["years"] == ["12"]


def test_invalid_page_rerenders_with_errors_and_keeps_what_was_typed(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page = consented(client, token)
    bad = client.post(
        f"/s/{token}/p/background",
        data={
            "csrf_token": csrf_of(page.text),
            "years": "seventy",
            "activities": ["none", "exercises"],
            "nav": "next",
        },
    )
    assert bad.status_code == 422
    assert 'class="error-summary"' in bad.text and 'href="#state-UK"' in bad.text
    assert "Enter a whole number." in bad.text
    assert 'aria-describedby="years-error"' in bad.text
    assert current_values(questionnaire_form(bad.text))["years"] == ["seventy"]
    values = stored(app)
    assert "years" not in values and "state" not in values


def test_constant_sum_shows_the_current_total(app: Flask, client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    complete_until(client, token, "priorities")
    page = client.get(f"/s/{token}/p/priorities")
    data = {
        "csrf_token": csrf_of(page.text),
        "alloc.tactical": "50",
        "alloc.strategic": "30",
        "alloc.economic": "10",
    }
    data.update(
        {
            "rank_leverage.tactical": "1",
            "rank_leverage.strategic": "1",
            "rank_leverage.economic": "3",
            "nav": "next",
        }
    )
    bad = client.post(f"/s/{token}/p/priorities", data=data)
    assert bad.status_code == 422
    assert "The points must add up to 100; they now add up to 90." in bad.text
    assert "Use each rank from 1 to 3 exactly once." in bad.text
    assert '<output class="sum"' in bad.text and ">90</output>" in bad.text


def complete_until(client: FlaskClient, token: str, stop_page: str) -> None:
    rng = random.Random(5)
    page = begin(client, token)
    while not page.request.path.endswith(f"/p/{stop_page}"):
        form = questionnaire_form(page.text)
        data = answers_for_page(DEFINITION, form, rng, "UK")
        data.update(csrf_token=[csrf_of(page.text)], nav=["next"])
        page = follow(client, client.post(form["action"], data=data))


def test_answers_to_items_that_became_irrelevant_are_held_not_answers(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page = consented(client, token)
    data = {
        "csrf_token": csrf_of(page.text),
        "state": "UK",
        "sector": "other",
        "sector_other": "Parliament",
        "nav": "next",
    }
    follow(client, client.post(f"/s/{token}/p/background", data=data))
    assert stored(app)["sector_other"] == "Parliament"
    follow(client, client.post(f"/s/{token}/p/background", data={**data, "sector": "academia"}))
    with app.app_context():  # kept in its box (issue 17), but no answer while the sector is not "other"
        from elicit.responding import flow

        link = flow.open_by_token(db.session, token, secret=app.config["SECRET_KEY"])
        assert "sector_other" not in link.answers and link.held == {"sector_other": "Parliament"}


def test_double_submit_replay_and_two_tabs_give_one_response(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    complete(client, token, "en", "UK")
    review = client.get(f"/s/{token}/review")
    body = {"csrf_token": csrf_of(review.text), "nav": "submit"}
    other_tab = app.test_client()
    other_review = other_tab.get(f"/s/{token}/review")
    first = client.post(f"/s/{token}/review", data=body)
    replay = client.post(f"/s/{token}/review", data=body)
    second_tab = other_tab.post(
        f"/s/{token}/review", data={"csrf_token": csrf_of(other_review.text), "nav": "submit"}
    )
    assert {first.status_code, replay.status_code, second_tab.status_code} == {303}
    landing = client.get(f"/s/{token}")
    assert landing.status_code == 200 and "Your answers have been submitted" in landing.text
    late_edit = client.post(
        f"/s/{token}/p/background", data={"csrf_token": body["csrf_token"], "years": "3", "nav": "next"}
    )
    assert late_edit.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 1
        assert db.session.scalar(select(Response.status)) == ResponseStatus.SUBMITTED.value
        assert db.session.scalar(select(Answer.value_num).where(Answer.item_id == "years")) == 7.0


def test_declining_consent_records_only_declined(app: Flask, client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("PK")
    page = begin(client, token)
    refusal = {"csrf_token": csrf_of(page.text), "consent": "no", "nav": "next"}
    # One press asks: nothing ends yet, and the page offers to confirm or to change the answer.
    asked = client.post(f"/s/{token}/p/welcome", data=refusal)
    assert asked.status_code == 200 and "Do you want to stop here?" in asked.text
    assert 'name="confirm_decline" value="yes"' in asked.text
    with app.app_context():  # the landing page asked: the response has not even started
        assert db.session.scalars(select(Response.status)).all() == []
    done = follow(client, client.post(f"/s/{token}/p/welcome", data={**refusal, "confirm_decline": "yes"}))
    assert "You have chosen not to take part" in done.text
    assert "You have chosen not to take part" in client.get(f"/s/{token}").text  # and stays so
    with app.app_context():
        # Anonymous: an empty declined response is the only record, and the invitation is not touched.
        statuses = db.session.scalars(select(Response.status)).all()
        assert statuses == [ResponseStatus.DECLINED.value]
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0
        assert db.session.scalar(select(Invitation.status)) == InvitationStatus.NOT_OPENED.value
        assert db.session.scalar(select(func.count()).select_from(FinishMark)) == 1


def test_unknown_revoked_and_closed_links_get_clear_pages(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    assert client.get("/s/not-a-real-token-at-all-000").status_code == 404
    assert client.get("/s/x").status_code == 404
    revoked, closed = study.invite("UK", 2)
    with app.app_context():
        from elicit.tokens import token_hash

        invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(revoked)))
        assert invitation is not None
        invitation.status = InvitationStatus.REVOKED.value
        db.session.commit()
    page = client.get(f"/s/{revoked}")
    assert page.status_code == 410 and "no longer valid" in page.text
    with app.app_context():
        for rnd in db.session.scalars(select(Round)):
            rnd.status = RoundStatus.CLOSED.value
        db.session.commit()
    page = client.get(f"/s/{closed}")
    assert page.status_code == 410 and "This study is closed" in page.text


def test_pages_cannot_be_skipped_by_url(client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    begin(client, token)  # not started yet: every page sends the expert to the landing page
    jump = client.get(f"/s/{token}/p/outlook")
    assert jump.status_code == 302 and jump.headers["Location"].endswith(f"/s/{token}")
    assert client.get(f"/s/{token}/review").status_code == 302
    consented(client, token)
    jump = client.get(f"/s/{token}/p/outlook")
    assert jump.status_code == 302 and jump.headers["Location"].endswith("/p/background")
    submit = client.post(f"/s/{token}/p/background", data={"nav": "submit"})  # no CSRF token: refused
    assert submit.status_code == 400


def test_every_page_carries_the_security_headers(client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    landing = client.get(f"/s/{token}")
    cookie = landing.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    for response in (landing, client.get("/s/unknown-token-123456789"), client.get("/nowhere")):
        headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in landing.text and "style=" not in landing.text
