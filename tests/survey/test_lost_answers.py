"""Answers that vanish (issue 13): a refused expert POST shows the page again with what was typed, a page left
open in another window is never applied blindly, and a double-clicked Start makes one response and no error.

Every refusal is made real where it can be: a browser without the session cookie, a database that cannot be
reached, a read-only database, a PostgreSQL connection killed at the commit, a source over the rate limit. Only a
full disk is simulated (the commit raises the error SQLite and PostgreSQL give then).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from flask.wrappers import Response as FlaskResponse
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from elicit.db import db, make_engine
from elicit.models import Response, ResponseStatus
from tests.conftest import ARTIFACTS, FLAGSHIP, StudyHandle, axe_violations
from tests.survey.contract import current_values, questionnaire_form
from tests.survey.test_expert_flow import complete, consented, csrf_of, stored

# What the expert typed on the background page before pressing "Save and continue".
TYPED = {
    "state": ["PK"],
    "sector": ["other"],
    "sector_other": ["Parliamentary liaison office"],
    "seniority": ["senior"],
    "years": ["17"],
}
QUESTION = "How many years of experience do you have in defence or foreign affairs?"
SESSION_EXPIRED = "Your session had expired"
DATABASE_DOWN = "The service cannot reach its database at the moment"
STALE_REVIEW = "Your answers were changed in another window; please check them before you submit."
STALE_PAGE = "changed in another window"


def filled_background(client: FlaskClient, token: str) -> tuple[str, dict[str, list[str]]]:
    """Consent, then fill the background page: (its action, everything the form sends)."""
    page = consented(client, token)
    assert page.request.path.endswith("/p/background")
    form = questionnaire_form(page.text)
    data = {**current_values(form), **TYPED, "nav": ["next"]}
    return form["action"], data


def assert_page_shows_what_was_typed(html: str) -> dict[str, list[str]]:
    """The questionnaire page itself (not a bare error page) holds every typed value and a fresh CSRF token."""
    assert QUESTION in html, html[:3000]
    values = current_values(questionnaire_form(html))
    for name, typed in TYPED.items():
        assert values.get(name) == typed, (name, values.get(name))
    assert values.get("csrf_token"), "no fresh CSRF token"
    return values


def response_status(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Response.status)))


def resend(client: FlaskClient, action: str, html: str, nav: str = "next") -> Any:
    """Press the forward button again on a page that was shown back."""
    values = current_values(questionnaire_form(html))
    values["nav"] = [nav]
    return client.post(action, data=values)


# ------------------------------------------------------------------------------- 1. CSRF refusals keep the page


@pytest.mark.parametrize("how", ["fresh browser", "cookie cleared", "forged token"])
def test_a_csrf_refusal_shows_the_page_again_with_what_was_typed(
    app: Flask, client: FlaskClient, study: StudyHandle, how: str
) -> None:
    (token,) = study.invite("PK")
    action, data = filled_background(client, token)
    browser = client
    if how == "fresh browser":
        browser = app.test_client()
    elif how == "cookie cleared":
        client.delete_cookie("session")
    else:
        data["csrf_token"] = ["forged-token"]
    refused = browser.post(action, data=data)
    assert refused.status_code == 400
    assert SESSION_EXPIRED in refused.text and "press “Save and continue” again" in refused.text
    assert_page_shows_what_was_typed(refused.text)
    assert "years" not in stored(app), "a request refused for its CSRF token saved answers"
    saved = resend(browser, action, refused.text)
    assert saved.status_code == 303, saved.text[:2000]
    values = stored(app)
    assert values["years"] == 17.0 and values["sector_other"] == "Parliamentary liaison office"


def test_a_csrf_refusal_on_the_review_page_submits_nothing_and_says_what_to_do(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    complete(client, token, "en", "UK")
    review = client.get(f"/s/{token}/review")
    data = {**current_values(questionnaire_form(review.text)), "nav": ["submit"]}
    fresh = app.test_client()
    refused = fresh.post(f"/s/{token}/review", data=data)
    assert refused.status_code == 400
    assert SESSION_EXPIRED in refused.text and "Check your answers" in refused.text
    assert response_status(app) == [ResponseStatus.IN_PROGRESS.value]
    submitted = resend(fresh, f"/s/{token}/review", refused.text, nav="submit")
    assert submitted.status_code == 303
    assert response_status(app) == [ResponseStatus.SUBMITTED.value]


def test_a_csrf_refusal_on_the_landing_page_shows_it_again_and_starts_nothing(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    landing = client.get(f"/s/{token}", headers={"Accept-Language": "ur"})
    sent = {**current_values(questionnaire_form(landing.text)), "consent": ["yes"], "nav": ["next"]}
    fresh = app.test_client()  # a browser without the session: the CSRF token is not its own
    refused = fresh.post(f"/s/{token}/p/welcome", data=sent)
    assert refused.status_code == 400
    assert "آپ کے سیشن کی میعاد ختم ہو گئی تھی" in refused.text  # in the language the page was shown in
    form = questionnaire_form(refused.text)
    assert current_values(form)["consent"] == ["yes"] and current_values(form)["language"] == ["ur"]
    assert response_status(app) == []  # nothing started
    started = resend(fresh, f"/s/{token}/p/welcome", refused.text)
    assert started.status_code == 303 and started.headers["Location"].endswith("/p/background")
    assert response_status(app) == [ResponseStatus.IN_PROGRESS.value]
    # An earlier landing page's language choice (a tab left open) with an expired session: the landing page
    # again, saying so, and nothing started.
    (other,) = study.invite("UK")
    again = app.test_client().post(f"/s/{other}", data={"language": "ur"})
    assert again.status_code == 400 and SESSION_EXPIRED in again.text
    assert f'action="/s/{other}/p/welcome"' in again.text
    assert response_status(app) == [ResponseStatus.IN_PROGRESS.value]


# ---------------------------------------------------------------------- 1. the 503 pages keep the page as well


def _unreachable(database_url: str, tmp_path: Path) -> Engine:
    """An engine whose database cannot be reached: a missing SQLite file, or a closed PostgreSQL port."""
    if database_url.startswith("sqlite"):
        return create_engine(f"sqlite:///{tmp_path / 'no-such-directory' / 'elicit.db'}")
    return create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:9/elicit", connect_args={"connect_timeout": 3}
    )


def _read_only(database_url: str) -> Engine:
    """The same database, opened read-only (SQLite ``mode=ro``; PostgreSQL ``default_transaction_read_only``)."""
    if database_url.startswith("sqlite"):
        return make_engine(f"sqlite:///file:{make_url(database_url).database}?mode=ro&uri=true")
    return create_engine(database_url, connect_args={"options": "-c default_transaction_read_only=on"})


def _swap_engine(app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.extensions, "elicit.db", (engine, sessionmaker(engine, expire_on_commit=False)))


@pytest.mark.parametrize("outage", ["unreachable", "read-only"])
def test_a_database_outage_shows_the_page_again_with_what_was_typed(
    app: Flask,
    client: FlaskClient,
    study: StudyHandle,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outage: str,
) -> None:
    (token,) = study.invite("PK")
    action, data = filled_background(client, token)
    engine = _unreachable(database_url, tmp_path) if outage == "unreachable" else _read_only(database_url)
    with monkeypatch.context() as patch:
        _swap_engine(app, engine, patch)
        refused = client.post(action, data=data)
    engine.dispose()
    assert refused.status_code == 503, refused.text[:2000]
    assert DATABASE_DOWN in refused.text and "press “Save and continue” again" in refused.text
    assert "Traceback" not in refused.text
    assert_page_shows_what_was_typed(refused.text)
    assert "years" not in stored(app)
    assert resend(client, action, refused.text).status_code == 303
    assert stored(app)["years"] == 17.0


def test_an_outage_in_a_browser_the_server_cannot_place_still_keeps_what_was_sent(
    app: Flask,
    client: FlaskClient,
    study: StudyHandle,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new browser and no database: the page cannot be drawn, so what was sent is listed and sent again."""
    (token,) = study.invite("PK")
    action, data = filled_background(client, token)
    fresh = app.test_client()  # no cookie: nothing says which instrument this link answers
    engine = _unreachable(database_url, tmp_path)
    with monkeypatch.context() as patch:
        _swap_engine(app, engine, patch)
        refused = fresh.post(action, data=data)
    engine.dispose()
    assert refused.status_code == 503
    assert DATABASE_DOWN in refused.text and "Parliamentary liaison office" in refused.text
    again = current_values(questionnaire_form(refused.text))
    for name, typed in TYPED.items():
        assert again[name] == typed
    assert again["csrf_token"] != data["csrf_token"]
    assert fresh.post(action, data=again).status_code == 303
    assert stored(app)["sector_other"] == "Parliamentary liaison office"


def _disk_full(database_url: str) -> OperationalError:
    if database_url.startswith("sqlite"):
        import sqlite3

        return OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
    import psycopg

    return OperationalError("COMMIT", {}, psycopg.errors.DiskFull("could not extend file: No space left"))


def test_a_full_disk_at_the_commit_shows_the_page_again_with_what_was_typed(
    app: Flask, client: FlaskClient, study: StudyHandle, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production
    (token,) = study.invite("PK")
    action, data = filled_background(client, token)
    error = _disk_full(database_url)

    def full(_session: Session) -> None:
        raise error

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", full)
        refused = client.post(action, data=data)
    assert refused.status_code == 503, refused.text[:2000]
    assert DATABASE_DOWN in refused.text
    assert_page_shows_what_was_typed(refused.text)
    assert "years" not in stored(app)
    assert resend(client, action, refused.text).status_code == 303


def test_a_full_disk_at_the_submit_shows_the_review_again_and_submits_nothing(
    app: Flask, client: FlaskClient, study: StudyHandle, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    (token,) = study.invite("UK")
    complete(client, token, "en", "UK")
    review = client.get(f"/s/{token}/review")
    data = {**current_values(questionnaire_form(review.text)), "nav": ["submit"]}
    error = _disk_full(database_url)

    def full(_session: Session) -> None:
        raise error

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", full)
        refused = client.post(f"/s/{token}/review", data=data)
    assert refused.status_code == 503
    assert DATABASE_DOWN in refused.text and "Check your answers" in refused.text
    assert response_status(app) == [ResponseStatus.IN_PROGRESS.value]
    assert resend(client, f"/s/{token}/review", refused.text, nav="submit").status_code == 303
    assert response_status(app) == [ResponseStatus.SUBMITTED.value]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_going_away_at_the_commit_shows_the_page_again_with_what_was_typed(
    app: Flask, client: FlaskClient, study: StudyHandle, database_url: str
) -> None:
    """The connection dies between the view and the commit, as when PostgreSQL restarts (see tests/load)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    cut = {"path": ""}

    @app.after_request  # registered after the database's own hook, so it runs just before the commit
    def _terminate_backend(response: FlaskResponse) -> FlaskResponse:
        if request.path == cut["path"] and request.method == "POST":
            pid = db.session.connection().connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
        return response

    (token,) = study.invite("PK")
    action, data = filled_background(client, token)
    cut["path"] = action
    refused = client.post(action, data=data)
    cut["path"] = ""
    assert refused.status_code == 503, refused.text[:2000]
    assert DATABASE_DOWN in refused.text
    assert_page_shows_what_was_typed(refused.text)
    assert "years" not in stored(app)
    assert resend(client, action, refused.text).status_code == 303


# --------------------------------------------------------------------------------------- 1. the rate limit too


def test_a_rate_limited_post_shows_the_page_again_with_what_was_typed(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("PK")
    action, data = filled_background(client, token)
    app.config["UNKNOWN_LINK_LIMIT"] = "3 per minute"
    for i in range(3):  # someone on the same network mistyped links
        assert client.get(f"/s/unknown-link-{i:020d}").status_code == 404
    refused = client.post(action, data=data)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "press “Save and continue” again" in refused.text
    assert_page_shows_what_was_typed(refused.text)
    assert "years" not in stored(app)


def test_posts_without_a_csrf_token_still_count_against_the_unknown_link_limit(
    app: Flask, study: StudyHandle
) -> None:
    """Showing a page back needs the link; looking it up must not become a way around the guessing limit."""
    app.config["UNKNOWN_LINK_LIMIT"] = "3 per minute"
    guesser = app.test_client()
    statuses = [
        guesser.post(
            f"/s/guessed-link-{i:020d}/p/background", data={"state": "UK", "nav": "next"}
        ).status_code
        for i in range(4)
    ]
    assert statuses == [404, 404, 404, 429]
    (token,) = study.invite("UK")
    assert guesser.post(f"/s/{token}/p/background", data={"nav": "next"}).status_code == 429


# ------------------------------------------------------------------------------------ 2. two windows, one link


def test_a_review_left_open_while_another_window_changed_an_answer_is_not_submitted(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    complete(client, token, "en", "UK")
    tab_a = client.get(f"/s/{token}/review")
    submit_a = {**current_values(questionnaire_form(tab_a.text)), "nav": ["submit"]}
    tab_b = client.get(f"/s/{token}/p/background")
    save_b = {**current_values(questionnaire_form(tab_b.text)), "years": ["41"], "nav": ["next"]}
    assert client.post(f"/s/{token}/p/background", data=save_b).status_code == 303
    stale = client.post(f"/s/{token}/review", data=submit_a)
    assert stale.status_code == 409
    assert STALE_REVIEW in stale.text
    assert "<dd><bdi>41 years</bdi></dd>" in stale.text  # the review shows what is stored now
    assert response_status(app) == [ResponseStatus.IN_PROGRESS.value]
    assert resend(client, f"/s/{token}/review", stale.text, nav="submit").status_code == 303
    assert response_status(app) == [ResponseStatus.SUBMITTED.value]
    assert stored(app)["years"] == 41.0


def test_a_page_changed_in_another_window_is_shown_before_this_window_overwrites_it(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page = consented(client, token)
    url = f"/s/{token}/p/background"
    tab_a = current_values(questionnaire_form(page.text))
    tab_b = current_values(questionnaire_form(client.get(url).text))
    assert (
        client.post(url, data={**tab_b, "state": ["UK"], "years": ["20"], "nav": ["next"]}).status_code == 303
    )
    stale = client.post(url, data={**tab_a, "state": ["PK"], "years": ["30"], "nav": ["next"]})
    assert stale.status_code == 409
    assert STALE_PAGE in stale.text
    shown = current_values(questionnaire_form(stale.text))
    assert shown["state"] == ["PK"] and shown["years"] == ["30"]  # what this window typed is kept
    changes = stale.text.split('id="changes"', 1)[1].split("</ul>", 1)[0]
    assert "United Kingdom" in changes and "20 years" in changes  # what the other window saved
    assert stored(app)["years"] == 20.0 and stored(app)["state"] == "UK"  # nothing applied blindly
    assert resend(client, url, stale.text).status_code == 303
    assert stored(app)["years"] == 30.0 and stored(app)["state"] == "PK"


def test_a_page_whose_answers_another_window_saved_identically_saves_normally(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    (token,) = study.invite("UK")
    page = consented(client, token)
    url = f"/s/{token}/p/background"
    tab_a = current_values(questionnaire_form(page.text))
    tab_b = current_values(questionnaire_form(client.get(url).text))
    same = {"state": ["UK"], "years": ["20"], "nav": ["next"]}
    assert client.post(url, data={**tab_b, **same}).status_code == 303
    assert client.post(url, data={**tab_a, **same}).status_code == 303


def test_the_page_version_is_stable_and_links_no_two_responses(
    app: Flask, client: FlaskClient, study: StudyHandle
) -> None:
    """Two experts with the same answers get different versions; a reload gives the same one."""
    versions = []
    for token in study.invite("UK", 2):
        expert = app.test_client()
        page = consented(expert, token)
        url = f"/s/{token}/p/background"
        data = {
            **current_values(questionnaire_form(page.text)),
            "state": ["UK"],
            "years": ["9"],
            "nav": ["next"],
        }
        assert expert.post(url, data=data).status_code == 303
        first = current_values(questionnaire_form(expert.get(url).text))["answers-version"]
        again = current_values(questionnaire_form(expert.get(url).text))["answers-version"]
        assert first == again
        versions.append(first[0])
    assert versions[0] != versions[1]
    with app.app_context():  # the version is stored nowhere
        for version in versions:
            for table in ("responses", "answers"):
                rows = db.session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 - fixed names
                assert version not in repr(rows)


# ------------------------------------------------------------------------------- 3. a double-clicked Start


def _pseudonymous_study(app: Flask, tmp_path: Path) -> StudyHandle:
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.studies import create_study

    source = FLAGSHIP.read_text(encoding="utf-8").replace(
        "anonymity: anonymous", "anonymity: pseudonymous", 1
    )
    source = source.replace("id: defence-diplomacy\n", "id: defence-diplomacy-pseudo\n", 1)
    path = tmp_path / "pseudonymous.yaml"
    path.write_text(source, encoding="utf-8")
    with app.app_context():
        version, _ = publish_version(db.session, load_file(path), "test")
        create_study(db.session, "dd-pseudo", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, "dd-pseudo")


def _double_click_start(live_server: str, token: str) -> list[int]:
    """Open the landing page, then press the language button twice at the same moment (two connections)."""
    with httpx.Client(base_url=live_server, timeout=30) as browser:
        landing = browser.get(f"/s/{token}")
        assert landing.status_code == 200
        form = {"csrf_token": csrf_of(landing.text), "language": "en"}
        cookies = httpx.Cookies(browser.cookies)
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    lock = threading.Lock()

    def click() -> None:
        with httpx.Client(base_url=live_server, cookies=cookies, timeout=30) as tab:
            barrier.wait()
            status = tab.post(f"/s/{token}", data=form).status_code
        with lock:
            statuses.append(status)

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(60)
    return statuses


@pytest.mark.parametrize("anonymity", ["anonymous", "pseudonymous"])
def test_a_double_clicked_start_gives_one_response_and_no_error(
    app: Flask, live_server: str, study: StudyHandle, tmp_path: Path, anonymity: str
) -> None:
    handle = study if anonymity == "anonymous" else _pseudonymous_study(app, tmp_path)
    tries = 24
    statuses = [
        status for token in handle.invite("UK", tries) for status in _double_click_start(live_server, token)
    ]
    assert statuses == [303] * (2 * tries), {s: statuses.count(s) for s in set(statuses)}
    with app.app_context():
        rows = db.session.execute(select(Response.invitation_id, Response.lookup_key)).all()
    assert len(rows) == tries
    keys = {invitation if anonymity == "pseudonymous" else key for invitation, key in rows}
    assert len(keys) == tries and None not in keys


# -------------------------------------------------------------------------------------------- screenshots


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language", ["en", "ur"])
def test_screenshots_of_the_page_after_a_csrf_refusal_and_of_the_stale_review(
    app: Flask, live_server: str, study: StudyHandle, browser: Any, axe_source: str, language: str
) -> None:
    from tests.studio.conftest import answer

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    refused_token, stale_token = study.invite("PK", 2)
    answer(app, refused_token, pages=1)  # consent given; the expert is at the background page
    answer(app, stale_token, pages=99)  # every page saved; the expert is at the review page
    with app.app_context():
        db.session.execute(update(Response).values(language=language))
        db.session.commit()
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        tab = context.new_page()
        tab.goto(f"{live_server}/s/{refused_token}")
        assert tab.url.endswith("/p/background")
        tab.check("#state-PK")
        tab.fill("#years", "17")
        context.clear_cookies()  # a cleared cookie, or the link opened in another browser
        with tab.expect_navigation():
            tab.click('button[name="nav"][value="next"]')
        assert tab.input_value("#years") == "17" and tab.is_checked("#state-PK")
        assert tab.locator(".error-summary").is_visible()
        tab.screenshot(path=str(ARTIFACTS / f"lost-answers-csrf-{language}-{width}.png"), full_page=True)
        assert axe_violations(tab, axe_source) == []

        review = context.new_page()
        review.goto(f"{live_server}/s/{stale_token}")
        assert review.url.endswith("/review")
        other = context.new_page()
        other.goto(f"{live_server}/s/{stale_token}/p/background")
        other.fill("#years", str(30 + width % 7))
        with other.expect_navigation():
            other.click('button[name="nav"][value="next"]')
        with review.expect_navigation():
            review.click('button[name="nav"][value="submit"]')
        assert review.locator(".error-summary").is_visible()
        assert STALE_REVIEW.split(";")[0] in review.content() or language == "ur"
        review.screenshot(
            path=str(ARTIFACTS / f"lost-answers-stale-review-{language}-{width}.png"), full_page=True
        )
        assert axe_violations(review, axe_source) == []
        context.close()
    assert response_status(app).count(ResponseStatus.SUBMITTED.value) == 0
