"""A studio form posted after the session ended is kept, and after signing in again it is saved on request.

Issue 13: the form used to be dropped silently with a redirect to the sign-in page. Now the sign-in page carries
the posted form (signed, without the CSRF token, passwords or files) and, once the same user has signed in,
shows "You were signed out before this was saved" with [Save it now] and [Discard].
"""

from __future__ import annotations

import io
import re
import time
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import RosterEntry, Study, User
from elicit.studio import access, forms
from tests.studio.conftest import PASSWORD, SLUG, People, count_rows, csrf_from, login

SETTINGS = f"/studio/studies/{SLUG}/settings"
SIGNED_OUT = "You were signed out before this was saved"


def _end_session(app: Flask, client: FlaskClient, how: str) -> None:
    """End the client's studio session the way a researcher meets it: idle too long, or signed in too long."""
    with client.session_transaction() as session:
        if how == "idle":
            session["studio_seen"] = int(time.time()) - 31 * 60
        else:
            session["studio_signed_in"] = int(time.time()) - 9 * 3600


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


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field"
    return unescape(match.group(1))


def _sign_in_again(client: FlaskClient, signed_out_page: str, email: str, password: str = PASSWORD):
    return client.post(
        "/studio/login",
        data={
            "csrf_token": csrf_from(signed_out_page),
            "email": email,
            "password": password,
            "pending": _hidden(signed_out_page, "pending"),
        },
    )


def _kept_form(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The action and the hidden fields of the [Save it now] form."""
    form = html.split('id="kept-form"', 1)[1].split("</form>", 1)[0]
    action = unescape(re.search(r'action="([^"]+)"', form).group(1))  # type: ignore[union-attr]
    fields = [
        (unescape(name), unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    ]
    return action, fields


@pytest.mark.parametrize("how", ["idle", "lifetime"])
def test_settings_posted_after_the_session_ended_are_saved_after_signing_in_again(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, how: str
) -> None:
    login(client, "researcher@example.org")
    form = _settings_form(client, "Renamed after a long lunch")
    before = _title(app)
    _end_session(app, client, how)
    refused = client.post(SETTINGS, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401
    assert SIGNED_OUT in html and 'name="password"' in html
    assert _title(app) == before, "a form posted without a session changed the study"

    confirm = _sign_in_again(client, html, "researcher@example.org")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200, page[:2000]
    assert SIGNED_OUT in page and "Save it now" in page and "Discard" in page
    assert "Renamed after a long lunch" in page  # what will be sent is shown
    assert _title(app) == before, "nothing is applied before the researcher says so"
    action, fields = _kept_form(page)
    assert action == SETTINGS
    names = [name for name, _ in fields]
    assert names.count("csrf_token") == 1 and ("title", "Renamed after a long lunch") in fields
    saved = client.post(action, data=dict(fields))
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/studio/studies/{SLUG}")
    assert _title(app) == "Renamed after a long lunch"


def test_discarding_the_kept_form_changes_nothing(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    form = _settings_form(client, "Never saved")
    _end_session(app, client, "idle")
    html = client.post(SETTINGS, data=form).get_data(as_text=True)
    page = _sign_in_again(client, html, "researcher@example.org").get_data(as_text=True)
    discard = re.search(r'<a class="button secondary" href="([^"]+)">Discard</a>', page)
    assert discard, page[:3000]
    assert client.get(unescape(discard.group(1))).status_code == 200
    assert _title(app) != "Never saved"


def test_a_wrong_password_keeps_the_form_for_the_next_try(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    form = _settings_form(client, "Kept across a typo")
    _end_session(app, client, "idle")
    html = client.post(SETTINGS, data=form).get_data(as_text=True)
    wrong = _sign_in_again(client, html, "researcher@example.org", password="not the password")
    again = wrong.get_data(as_text=True)
    assert "The e-mail address or the password is not right." in again and SIGNED_OUT in again
    page = _sign_in_again(client, again, "researcher@example.org").get_data(as_text=True)
    action, fields = _kept_form(page)
    assert client.post(action, data=dict(fields)).status_code == 302
    assert _title(app) == "Kept across a typo"


def test_another_user_signing_in_never_sees_the_kept_form(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    form = _settings_form(client, "Someone else's change")
    _end_session(app, client, "idle")
    html = client.post(SETTINGS, data=form).get_data(as_text=True)
    other = _sign_in_again(client, html, "admin@example.org")
    assert other.status_code == 302  # the normal sign-in, nothing about the researcher's form
    assert "Someone else" not in client.get(other.headers["Location"]).get_data(as_text=True)
    assert _title(app) != "Someone else's change"


def test_a_kept_form_that_was_tampered_with_is_ignored(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    form = _settings_form(client, "Tampered")
    _end_session(app, client, "idle")
    html = client.post(SETTINGS, data=form).get_data(as_text=True)
    pending = _hidden(html, "pending")
    forged = html.replace(pending, pending[:-3] + ("AAA" if not pending.endswith("AAA") else "BBB"))
    response = _sign_in_again(client, forged, "researcher@example.org")
    assert response.status_code == 302
    assert _title(app) != "Tampered"


def test_passwords_and_the_csrf_token_are_never_kept(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    token = csrf_from(client.get("/studio/account").get_data(as_text=True))
    _end_session(app, client, "idle")
    secret = "a brand new password 42"
    refused = client.post(
        "/studio/account/password",
        data={"csrf_token": token, "current": PASSWORD, "password": secret, "confirm": secret},
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401 and secret not in html and PASSWORD not in html
    with app.test_request_context():
        kept = access.read_pending(_hidden(html, "pending"), people.researcher)
    assert kept is not None and kept.path == "/studio/account/password"
    assert kept.fields == [], kept.fields
    page = _sign_in_again(client, html, "researcher@example.org").get_data(as_text=True)
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


def test_files_are_not_kept_and_are_asked_for_again(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    roster_url = f"/studio/studies/{SLUG}/roster"
    token = csrf_from(client.get(roster_url).get_data(as_text=True))
    _end_session(app, client, "idle")
    csv = "name,email,organisation,cohort\nAyesha Khan,ayesha@example.org,MoD,PK\n"
    refused = client.post(
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
    page = _sign_in_again(client, html, "researcher@example.org").get_data(as_text=True)
    assert "ayesha@example.org" not in page and "roster.csv" in page
    kept = page.split('id="kept-form"', 1)[1].split("</form>", 1)[0]
    assert 'enctype="multipart/form-data"' in kept and '<input type="file" name="file"' in kept
    assert count_rows(app, RosterEntry) == 0
    action, fields = _kept_form(page)
    resent = client.post(
        action,
        data={**dict(fields), "file": (io.BytesIO(csv.encode()), "roster.csv")},
        content_type="multipart/form-data",
    )
    assert resent.status_code in {200, 302, 303}, resent.get_data(as_text=True)[:2000]
    assert count_rows(app, RosterEntry) == 1


def test_a_form_too_large_to_keep_says_so(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    form = _settings_form(client, "x" * (access.PENDING_MAX_BYTES + 1))
    _end_session(app, client, "idle")
    refused = client.post(SETTINGS, data=form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401
    assert "too large to keep" in html and 'name="pending"' not in html


def test_a_cookie_that_was_signed_out_keeps_nothing(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    """A session ended on purpose (sign-out, a new password) is not an expiry: its cookie's form is refused."""
    login(client, "researcher@example.org")
    form = _settings_form(client, "From a dead cookie")
    with app.app_context():
        user = db.session.get(User, people.researcher)
        assert user is not None
        user.session_version += 1
        db.session.commit()
    response = client.post(SETTINGS, data=form)
    assert response.status_code == 302 and "/studio/login" in response.headers["Location"]
    assert _title(app) != "From a dead cookie"


def test_signing_out_after_the_timeout_keeps_nothing(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    token = csrf_from(client.get("/studio/account").get_data(as_text=True))
    _end_session(app, client, "idle")
    response = client.post("/studio/logout", data={"csrf_token": token})
    assert response.status_code == 302 and "/studio/login" in response.headers["Location"]
