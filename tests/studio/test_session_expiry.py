"""A studio form posted after the session ended is kept, and after signing in again it is saved on request.

Issue 13: the form used to be dropped silently with a redirect to the sign-in page. Now the sign-in page carries
the posted form (signed, without the CSRF token, passwords or files) and, once the same user has signed in,
shows "You were signed out before this was saved" with [Save it now] and [Discard].

The same holds when the session cookie is gone altogether (the browser was closed, the cookie expired or was
cleared), which Flask-WTF's CSRF check meets first: a same-origin post is kept for whoever signs in next on that
browser, and still shown back before anything is saved; a cross-site or unattributable post is not kept.
"""

from __future__ import annotations

import io
import re
import time
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.test import TestResponse

from elicit.db import db
from elicit.models import RosterEntry, Study, User
from elicit.studio import access, forms
from tests.studio.conftest import PASSWORD, SLUG, People, admin_code, count_rows, csrf, csrf_from, login

SETTINGS = f"/studio/studies/{SLUG}/settings"
SIGNED_OUT = "You were signed out before this was saved"
EXPIRED = "The form has expired"
RESEARCHER = "researcher@example.org"

# How a post can show where it came from. The test client's host is localhost; the test app's BASE_URL is
# http://elicit.test. Pages send Referrer-Policy: no-referrer, so a browser's same-origin form post carries
# ``Origin: null`` and no Referer, and only Sec-Fetch-Site tells (Chromium does so: the browser test below).
SAME_ORIGIN = {
    "origin": {"Origin": "http://localhost"},
    "base-url": {"Origin": "http://elicit.test"},
    "browser": {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    "referer": {"Referer": f"http://localhost{SETTINGS}"},
}
NOT_SAME_ORIGIN = {
    "other-site": {"Origin": "https://attacker.example"},
    "look-alike-host": {"Origin": "http://localhost.attacker.example"},
    "other-port": {"Origin": "http://localhost:8080"},
    "other-scheme": {"Origin": "https://localhost"},
    "null-cross-site": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    "null-same-site": {"Origin": "null", "Sec-Fetch-Site": "same-site"},
    "null-alone": {"Origin": "null"},
    "referer-other-site": {"Referer": "https://attacker.example/studio/"},
    "contradicting": {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
    "no-headers": {},
}


@pytest.fixture
def researcher(client: FlaskClient, people: People, flagship_study: str) -> FlaskClient:
    """The client signed in as the researcher, a member who manages study SLUG."""
    return login(client, RESEARCHER)


def _end_session(client: FlaskClient, how: str) -> None:
    """End the client's studio session the way a researcher meets it: idle too long, or signed in too long."""
    with client.session_transaction() as session:
        if how == "idle":
            session["studio_seen"] = int(time.time()) - 31 * 60
        else:
            session["studio_signed_in"] = int(time.time()) - 9 * 3600


def _token_then_timeout(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on ``url``, taken before the session goes idle."""
    token = csrf(client, url)
    _end_session(client, "idle")
    return token


def _settings_form(client: FlaskClient, title: str) -> dict[str, str]:
    page = client.get(SETTINGS)
    assert page.status_code == 200
    return {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "title": title,
        "status": "open",
        "opens_on": "",
        "closes_on": "",
    }


def _title(app: Flask) -> str:
    with app.app_context():
        return db.session.scalar(select(Study.title).where(Study.slug == SLUG)) or ""


def _post_after_timeout(app: Flask, client: FlaskClient, title: str, how: str = "idle") -> TestResponse:
    """Post the settings form renaming the study to ``title`` after the session ended ``how``."""
    form = _settings_form(client, title)
    before = _title(app)
    _end_session(client, how)
    response = client.post(SETTINGS, data=form)
    assert _title(app) == before, "a form posted without a session changed the study"
    return response


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field"
    return unescape(match.group(1))


def _sign_in_again(
    client: FlaskClient, signed_out_page: str, email: str, password: str = PASSWORD, **kw: Any
) -> TestResponse:
    response = client.post(
        "/studio/login",
        data={
            "csrf_token": csrf_from(signed_out_page),
            "email": email,
            "password": password,
            "pending": _hidden(signed_out_page, "pending"),
        },
        **kw,
    )
    html = response.get_data(as_text=True)
    if response.status_code == 200 and 'action="/studio/login/code"' in html:
        # An administrator's second step, which carries the kept form on.
        data = {"csrf_token": csrf_from(html), "code": admin_code(client.application, email)}
        if _hidden(html, "pending"):
            data["pending"] = _hidden(html, "pending")
        response = client.post("/studio/login/code", data=data, **kw)
    return response


def _kept_form(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The action and the hidden fields of the [Save it now] form."""
    form = html.split('id="kept-form"', 1)[1].split("</form>", 1)[0]
    action = unescape(re.search(r'action="([^"]+)"', form).group(1))  # type: ignore[union-attr]
    fields = [
        (unescape(name), unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    ]
    return action, fields


def _save_kept(client: FlaskClient, page: str) -> TestResponse:
    """Press [Save it now] on the page that shows a kept form back."""
    action, fields = _kept_form(page)
    return client.post(action, data=dict(fields))


def _shown_back_then_saved(
    app: Flask, client: FlaskClient, signed_out_page: str, title: str, email: str = RESEARCHER
) -> None:
    """Sign in from a page carrying a kept settings form: it is shown back, not applied, and saved on request."""
    before = _title(app)
    confirm = _sign_in_again(client, signed_out_page, email)
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200, page[:2000]
    assert SIGNED_OUT in page and "Save it now" in page and "Discard" in page
    assert title in page  # what will be sent is shown
    assert _title(app) == before, "nothing is applied before the researcher says so"
    action, fields = _kept_form(page)
    assert action == SETTINGS
    names = [name for name, _ in fields]
    assert names.count("csrf_token") == 1 and ("title", title) in fields
    saved = client.post(action, data=dict(fields))
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/studio/studies/{SLUG}")
    assert _title(app) == title


def _refused_as_expired(response: TestResponse) -> None:
    """The plain "form has expired" page, carrying nothing that could be saved later."""
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and EXPIRED in html, html[:2000]
    assert 'name="pending"' not in html and "Save it now" not in html


# ------------------------------------------------------------------------------- the session timed out


@pytest.mark.parametrize("how", ["idle", "lifetime"])
def test_settings_posted_after_the_session_ended_are_saved_after_signing_in_again(
    app: Flask, researcher: FlaskClient, how: str
) -> None:
    refused = _post_after_timeout(app, researcher, "Renamed after a long lunch", how)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401
    assert SIGNED_OUT in html and 'name="password"' in html
    _shown_back_then_saved(app, researcher, html, "Renamed after a long lunch")


def test_discarding_the_kept_form_changes_nothing(app: Flask, researcher: FlaskClient) -> None:
    html = _post_after_timeout(app, researcher, "Never saved").get_data(as_text=True)
    page = _sign_in_again(researcher, html, RESEARCHER).get_data(as_text=True)
    discard = re.search(r'<a class="button secondary" href="([^"]+)">Discard</a>', page)
    assert discard, page[:3000]
    assert researcher.get(unescape(discard.group(1))).status_code == 200
    assert _title(app) != "Never saved"


def test_a_wrong_password_keeps_the_form_for_the_next_try(app: Flask, researcher: FlaskClient) -> None:
    html = _post_after_timeout(app, researcher, "Kept across a typo").get_data(as_text=True)
    wrong = _sign_in_again(researcher, html, RESEARCHER, password="not the password")
    again = wrong.get_data(as_text=True)
    assert "The e-mail address or the password is not right." in again and SIGNED_OUT in again
    _shown_back_then_saved(app, researcher, again, "Kept across a typo")


def test_another_user_signing_in_never_sees_the_kept_form(app: Flask, researcher: FlaskClient) -> None:
    html = _post_after_timeout(app, researcher, "Someone else's change").get_data(as_text=True)
    other = _sign_in_again(researcher, html, "admin@example.org")
    assert other.status_code == 302  # the normal sign-in, nothing about the researcher's form
    assert "Someone else" not in researcher.get(other.headers["Location"]).get_data(as_text=True)
    assert _title(app) != "Someone else's change"


def test_a_kept_form_that_was_tampered_with_is_ignored(app: Flask, researcher: FlaskClient) -> None:
    html = _post_after_timeout(app, researcher, "Tampered").get_data(as_text=True)
    pending = _hidden(html, "pending")
    forged = html.replace(pending, pending[:-3] + ("AAA" if not pending.endswith("AAA") else "BBB"))
    response = _sign_in_again(researcher, forged, RESEARCHER)
    assert response.status_code == 302
    assert _title(app) != "Tampered"


def test_passwords_and_the_csrf_token_are_never_kept(
    app: Flask, researcher: FlaskClient, people: People
) -> None:
    token = _token_then_timeout(researcher, "/studio/account")
    secret = "a brand new password 42"
    refused = researcher.post(
        "/studio/account/password",
        data={"csrf_token": token, "current": PASSWORD, "password": secret, "confirm": secret},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401 and secret not in html and PASSWORD not in html
    with app.test_request_context():
        kept = access.read_pending(_hidden(html, "pending"), people.researcher)
    assert kept is not None and kept.path == "/studio/account/password"
    assert kept.fields == [], kept.fields
    page = _sign_in_again(researcher, html, RESEARCHER).get_data(as_text=True)
    assert secret not in page and "Save it now" in page


def test_every_password_field_of_the_studio_is_never_kept() -> None:
    names = {
        name
        for form in vars(forms).values()
        if isinstance(form, type) and issubclass(form, forms.StudioForm)
        for name, field in vars(form).items()
        if getattr(field, "field_class", None) is forms.PasswordField
    }
    assert names and names <= access.NEVER_KEPT


def test_files_are_not_kept_and_are_asked_for_again(app: Flask, researcher: FlaskClient) -> None:
    roster_url = f"/studio/studies/{SLUG}/roster"
    token = _token_then_timeout(researcher, roster_url)
    csv = "name,email,organisation,cohort\nAyesha Khan,ayesha@example.org,MoD,PK\n"
    refused = researcher.post(
        roster_url,
        data={
            "csrf_token": token,
            "delivery": "links",
            "default_cohort": "",
            "file": (io.BytesIO(csv.encode()), "roster.csv"),
        },
        content_type="multipart/form-data",
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401 and "ayesha@example.org" not in html
    page = _sign_in_again(researcher, html, RESEARCHER).get_data(as_text=True)
    assert "ayesha@example.org" not in page and "roster.csv" in page
    kept = page.split('id="kept-form"', 1)[1].split("</form>", 1)[0]
    assert 'enctype="multipart/form-data"' in kept and '<input type="file" name="file"' in kept
    assert count_rows(app, RosterEntry) == 0
    action, fields = _kept_form(page)
    resent = researcher.post(
        action,
        data={**dict(fields), "file": (io.BytesIO(csv.encode()), "roster.csv")},
        content_type="multipart/form-data",
    )
    assert resent.status_code in {200, 302, 303}, resent.get_data(as_text=True)[:2000]
    assert count_rows(app, RosterEntry) == 1


def test_a_form_too_large_to_keep_says_so(app: Flask, researcher: FlaskClient) -> None:
    refused = _post_after_timeout(app, researcher, "x" * (access.PENDING_MAX_BYTES + 1))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401
    assert "too large to keep" in html and 'name="pending"' not in html


def test_a_cookie_that_was_signed_out_keeps_nothing(
    app: Flask, researcher: FlaskClient, people: People
) -> None:
    """A session ended on purpose (sign-out, a new password) is not an expiry: its cookie's form is refused."""
    form = _settings_form(researcher, "From a dead cookie")
    with app.app_context():
        user = db.session.get(User, people.researcher)
        assert user is not None
        user.session_version += 1
        db.session.commit()
    response = researcher.post(SETTINGS, data=form)
    assert response.status_code == 302 and "/studio/login" in response.headers["Location"]
    assert _title(app) != "From a dead cookie"


def test_signing_out_after_the_timeout_keeps_nothing(researcher: FlaskClient) -> None:
    token = _token_then_timeout(researcher, "/studio/account")
    response = researcher.post("/studio/logout", data={"csrf_token": token})
    assert response.status_code == 302 and "/studio/login" in response.headers["Location"]


# ------------------------------------------------------------------------------- the cookie is gone


@pytest.mark.parametrize("headers", SAME_ORIGIN.values(), ids=SAME_ORIGIN.keys())
def test_a_form_posted_after_the_cookie_is_gone_is_kept_and_saved_after_signing_in(
    app: Flask, researcher: FlaskClient, headers: dict[str, str]
) -> None:
    form = _settings_form(researcher, "Typed before the browser closed")
    browser = app.test_client()  # the same browser once its cookie is gone: closed, expired or cleared
    refused = browser.post(SETTINGS, data=form, headers=headers)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401, html[:2000]
    assert SIGNED_OUT in html and "Sign in again to save it" in html and 'name="password"' in html
    assert _title(app) != "Typed before the browser closed"
    _shown_back_then_saved(app, browser, html, "Typed before the browser closed")


@pytest.mark.parametrize("headers", NOT_SAME_ORIGIN.values(), ids=NOT_SAME_ORIGIN.keys())
def test_a_post_without_a_cookie_from_another_site_or_nowhere_is_not_kept(
    app: Flask, researcher: FlaskClient, headers: dict[str, str]
) -> None:
    """Keeping it would let another site plant a form for the researcher to "save" after signing in."""
    form = _settings_form(researcher, "Planted by another site")
    del form["csrf_token"]  # another site has no token to send
    refused = app.test_client().post(SETTINGS, data=form, headers=headers)
    _refused_as_expired(refused)
    assert "Planted by another site" not in refused.get_data(as_text=True)


def test_a_present_session_with_a_wrong_token_still_gets_the_expired_page(
    app: Flask, researcher: FlaskClient
) -> None:
    """A page from an older session of a browser that has a newer one: not a lost cookie, nothing kept."""
    form = _settings_form(researcher, "From an older session")
    form["csrf_token"] = csrf(app.test_client())  # a valid token, of another session
    _refused_as_expired(researcher.post(SETTINGS, data=form, headers=SAME_ORIGIN["origin"]))
    assert _title(app) != "From an older session"


def test_a_form_kept_without_a_session_is_shown_to_whoever_signs_in_but_never_applied(
    app: Flask, researcher: FlaskClient, people: People
) -> None:
    form = _settings_form(researcher, "Whoever signs in next")
    browser = app.test_client()
    html = browser.post(SETTINGS, data=form, headers=SAME_ORIGIN["origin"]).get_data(as_text=True)
    with app.test_request_context():
        assert access.read_pending(_hidden(html, "pending"), people.admin) is not None
    confirm = _sign_in_again(browser, html, "admin@example.org")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and SIGNED_OUT in page and "Save it now" in page
    assert _title(app) != "Whoever signs in next", "a kept form was applied without being confirmed"


def test_passwords_are_never_kept_from_a_post_without_a_cookie(
    app: Flask, researcher: FlaskClient, people: People
) -> None:
    token = csrf(researcher, "/studio/account")
    secret = "a brand new password 42"
    refused = app.test_client().post(
        "/studio/account/password",
        data={"csrf_token": token, "current": PASSWORD, "password": secret, "confirm": secret},
        headers=SAME_ORIGIN["browser"],
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401 and secret not in html and PASSWORD not in html
    with app.test_request_context():
        kept = access.read_pending(_hidden(html, "pending"), people.researcher)
    assert kept is not None and kept.path == "/studio/account/password" and kept.fields == []


def test_a_kept_form_survives_the_cookie_going_again_before_signing_in(
    app: Flask, researcher: FlaskClient
) -> None:
    """The sign-in page that carries a kept form, itself posted once its cookie is gone, still carries it."""
    form = _settings_form(researcher, "Kept twice over")
    first = app.test_client().post(SETTINGS, data=form, headers=SAME_ORIGIN["origin"]).get_data(as_text=True)
    browser = app.test_client()
    again = _sign_in_again(browser, first, RESEARCHER, headers=SAME_ORIGIN["browser"])
    html = again.get_data(as_text=True)
    assert again.status_code == 401 and SIGNED_OUT in html, html[:2000]
    assert _hidden(html, "pending") == _hidden(first, "pending")
    _shown_back_then_saved(app, browser, html, "Kept twice over")


def test_a_sign_in_or_sign_out_posted_without_a_cookie_keeps_nothing(researcher: FlaskClient) -> None:
    """Neither is a form to save later: the sign-in form itself is never kept (its password least of all)."""
    token = csrf(researcher, "/studio/account")
    browser = researcher.application.test_client()
    data = {"csrf_token": token, "email": RESEARCHER, "password": PASSWORD}
    _refused_as_expired(browser.post("/studio/login", data=data, headers=SAME_ORIGIN["origin"]))
    _refused_as_expired(
        browser.post("/studio/logout", data={"csrf_token": token}, headers=SAME_ORIGIN["origin"])
    )


@pytest.mark.browser
def test_in_chromium_a_form_survives_the_cookie_being_cleared(
    app: Flask, live_server: str, page: Any, people: People, flagship_study: str
) -> None:
    """A real browser's same-origin post (``Origin: null`` under no-referrer, Sec-Fetch-Site) is recognised."""
    page.set_default_timeout(10_000)

    def sign_in() -> None:
        page.get_by_label("E-mail address").fill(RESEARCHER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/studio/login")
    sign_in()
    page.goto(f"{live_server}{SETTINGS}")
    page.get_by_label("Title").fill("Typed in Chromium")
    page.context.clear_cookies()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("heading", name=SIGNED_OUT)).to_be_visible()
    sign_in()
    expect(page.get_by_text("Typed in Chromium")).to_be_visible()
    assert _title(app) != "Typed in Chromium"
    page.get_by_role("button", name="Save it now").click()
    expect(page.get_by_text("The study's settings are saved.")).to_be_visible()
    assert _title(app) == "Typed in Chromium"
