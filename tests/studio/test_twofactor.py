"""Two-factor sign-in (issue 19): TOTP enrolment and sign-in through the studio pages, recovery codes, lockout.

Codes are computed here with pyotp, as an authenticator app would. The clock the second factor reads
(``elicit.studio.twofactor.clock``) is set by the tests, so that codes of exact time steps can be used without
waiting: nothing sleeps and nothing asserts on how long something took.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from werkzeug.test import TestResponse

from elicit.db import db
from elicit.models import AuditEvent, LoginFailure, RecoveryCode, User
from elicit.studio import twofactor
from tests.studio.conftest import (
    PASSWORD,
    People,
    browser_tab,
    csrf,
    csrf_from,
    login,
    make_user,
    post,
    shooter,
    sign_in_directly,
)

SETUP = "/studio/account/two-factor"
START = "/studio/account/two-factor"
CONFIRM = "/studio/account/two-factor/confirm"
CONTINUE = "/studio/account/two-factor/continue"
REGENERATE = "/studio/account/two-factor/recovery-codes"
TURN_OFF = "/studio/account/two-factor/off"
CODE_STEP = "/studio/login/code"
T0 = 1_800_000_015.0  # 2027-01-15, 15 s into a 30-second step: the tests set the clock, nothing waits
SECRET_RE = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY_RE = re.compile(r'<li><code class="recovery-code">([a-z2-7-]+)</code></li>')


class Clock:
    """The time the second factor sees: starts at T0 and moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def step(self, steps: int = 1) -> None:
        self.now += 30 * steps


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moment = Clock()
    monkeypatch.setattr(twofactor, "clock", moment)
    return moment


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', html
    )
    return match.group(1) if match else ""


def _password_step(
    client: FlaskClient, email: str, *, next_path: str = "", pending: str = "", source: str = "192.0.2.1"
) -> TestResponse:
    data = {"email": email, "password": PASSWORD, "csrf_token": csrf(client), "next": next_path}
    if pending:
        data["pending"] = pending
    return client.post("/studio/login", data=data, environ_base={"REMOTE_ADDR": source})


def _code_step(client: FlaskClient, page: TestResponse, code: str, source: str = "192.0.2.1") -> TestResponse:
    """Send ``code`` with the form of the second-step page ``page`` (its CSRF token, next and pending)."""
    html = page.get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "code": code, "next": _hidden(html, "next")}
    if _hidden(html, "pending"):
        data["pending"] = _hidden(html, "pending")
    return client.post(CODE_STEP, data=data, environ_base={"REMOTE_ADDR": source})


def _sign_in(client: FlaskClient, email: str, code: str, **kw: str) -> TestResponse:
    first = _password_step(client, email, **kw)
    assert first.status_code == 200 and 'name="code"' in first.get_data(as_text=True), first.status_code
    return _code_step(client, first, code, kw.get("source", "192.0.2.1"))


def _enrol(client: FlaskClient, clock: Clock) -> tuple[pyotp.TOTP, list[str]]:
    """Turn on two-factor sign-in from the account page, as a person would; the app's TOTP and recovery codes."""
    setup = post(client, START, {}, page=SETUP)
    assert setup.status_code == 200, setup.get_data(as_text=True)[:3000]
    html = setup.get_data(as_text=True)
    match = SECRET_RE.search(html)
    assert match, "the secret is not shown for manual entry"
    totp = pyotp.TOTP(match.group(1).replace(" ", ""))
    done = client.post(
        CONFIRM, data={"csrf_token": csrf_from(html), "code": totp.at(clock.now), "current": PASSWORD}
    )
    assert done.status_code == 200, done.get_data(as_text=True)[:3000]
    codes = RECOVERY_RE.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return totp, codes


def _user(app: Flask, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        for event in events:
            db.session.expunge(event)
        return events


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/studio/").status_code == 200


@pytest.fixture
def enrolled(app: Flask, clock: Clock, people: People) -> Iterator[tuple[FlaskClient, pyotp.TOTP, list[str]]]:
    """The researcher with two-factor sign-in turned on (enrolled at step T0), signed out again."""
    client = app.test_client()
    login(client, "researcher@example.org")
    totp, codes = _enrol(client, clock)
    assert post(client, "/studio/logout").status_code == 302
    yield client, totp, codes


# ------------------------------------------------------------------------------------------------------- enrolment
def test_enrolment_through_the_account_page(
    app: Flask, client: FlaskClient, clock: Clock, people: People
) -> None:
    login(client, "researcher@example.org")
    account = client.get("/studio/account").get_data(as_text=True)
    assert "Two-factor sign-in" in account and "Off" in account
    setup = post(client, START, {}, page=SETUP)
    html = setup.get_data(as_text=True)
    assert setup.status_code == 200
    assert "<svg" in html and "<script" not in html  # the QR code is drawn on the server
    secret = SECRET_RE.search(html)
    assert secret is not None and len(secret.group(1).replace(" ", "")) == 32
    # Not on yet: a code from a different secret is refused, and the account stays without a second factor.
    other_app = pyotp.TOTP(pyotp.random_base32())
    wrong = client.post(
        CONFIRM, data={"csrf_token": csrf_from(html), "code": other_app.at(clock.now), "current": PASSWORD}
    )
    assert wrong.status_code == 422 and "This code is not right" in wrong.get_data(as_text=True)
    assert _user(app, people.researcher).totp_enabled_at is None
    # Reloading the setup page shows the same secret (what was scanned stays valid) until it is confirmed.
    again = client.get(SETUP).get_data(as_text=True)
    assert SECRET_RE.search(again) is not None and SECRET_RE.search(again).group(1) == secret.group(1)  # type: ignore[union-attr]

    totp = pyotp.TOTP(secret.group(1).replace(" ", ""))
    done = client.post(
        CONFIRM, data={"csrf_token": csrf_from(html), "code": totp.at(clock.now), "current": PASSWORD}
    )
    assert done.status_code == 200
    codes = RECOVERY_RE.findall(done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code) for code in codes)
    user = _user(app, people.researcher)
    assert user.totp_enabled_at is not None and user.totp_last_step == int(T0 // 30)
    account = client.get("/studio/account").get_data(as_text=True)
    assert f"On since {user.totp_enabled_at:%Y-%m-%d}" in account and "10 recovery codes left" in account
    assert codes[0] not in account  # the codes are shown once, never again
    [event] = _events(app, "user.2fa_enable")
    assert (
        event.actor == "researcher@example.org" and secret.group(1).replace(" ", "") not in event.details_json
    )


def test_setting_up_needs_the_password_too(app: Flask, clock: Clock, people: People) -> None:
    """Whoever finds the studio open (a session, without the password) cannot tie the account to their phone."""
    thief = app.test_client()
    sign_in_directly(app, thief, people.researcher)
    setup = post(thief, START, {}, page=SETUP)
    html = setup.get_data(as_text=True)
    totp = pyotp.TOTP(SECRET_RE.search(html).group(1).replace(" ", ""))  # type: ignore[union-attr]
    for current in ("", "not the password"):
        refused = thief.post(
            CONFIRM, data={"csrf_token": csrf_from(html), "code": totp.at(clock.now), "current": current}
        )
        assert refused.status_code == 422
    assert "This is not your password." in refused.get_data(as_text=True)
    user = _user(app, people.researcher)
    assert user.totp_enabled_at is None and user.failed_logins == 1  # a wrong password counts as ever
    [failed] = _events(app, "login.failed")
    assert json.loads(failed.details_json)["reason"] == "wrong password"
    assert "not the password" not in failed.details_json


def test_the_stored_secret_is_not_the_secret(
    app: Flask, client: FlaskClient, clock: Clock, people: People
) -> None:
    """Whoever reads the database (a dump, a replica, a backup) does not get the secret the codes come from."""
    login(client, "researcher@example.org")
    totp, codes = _enrol(client, clock)
    url = app.config["DATABASE_URL"]
    engine = create_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT totp_secret FROM users WHERE email = 'researcher@example.org'")
        ).scalar_one()
        hashes = list(connection.execute(text("SELECT code_hash FROM recovery_codes")).scalars())
    engine.dispose()
    raw = str(stored)
    assert totp.secret not in raw and totp.secret.lower() not in raw
    assert not any(code in " ".join(hashes) or code.replace("-", "") in " ".join(hashes) for code in codes)
    if url.startswith("sqlite:///"):  # every byte of the file (and its WAL), not only the column
        path = Path(url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA wal_checkpoint(FULL)")
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert totp.secret.encode() not in blob
        assert not any(code.encode() in blob or code.replace("-", "").encode() in blob for code in codes)
    # It opens with this app's secret key only, and only for its own account.
    assert twofactor.open_secret(app.config["SECRET_KEY"], people.researcher, raw) == totp.secret
    for key, owner in (("another key", people.researcher), (app.config["SECRET_KEY"], people.admin)):
        with pytest.raises(twofactor.TwoFactorError):
            twofactor.open_secret(key, owner, raw)


# --------------------------------------------------------------------------------------------------------- sign-in
def test_sign_in_needs_the_code(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    first = _password_step(client, "researcher@example.org", next_path="/studio/instruments")
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and 'name="code"' in html and 'autocomplete="one-time-code"' in html
    assert not _signed_in(client)  # the right password alone signs no one in
    assert client.get("/studio/account").status_code == 302
    clock.step()
    done = _code_step(client, first, totp.at(clock.now))
    assert done.status_code == 302 and done.headers["Location"] == "/studio/instruments"
    assert _signed_in(client)
    login_event = _events(app, "login")[-1]
    assert json.loads(login_event.details_json) == {"factor": "totp", "source": "192.0.2.1"}
    assert _user(app, _user_id(app, "researcher@example.org")).failed_logins == 0


def _user_id(app: Flask, email: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def test_a_code_is_accepted_once(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    # The code of the enrolment's own step was used to confirm it: it does not sign in.
    replay = _sign_in(client, "researcher@example.org", totp.at(clock.now))
    assert replay.status_code == 200 and "This code has been used already" in replay.get_data(as_text=True)
    assert not _signed_in(client)
    clock.step()
    code = totp.at(clock.now)
    assert _sign_in(client, "researcher@example.org", code).status_code == 302
    post(client, "/studio/logout")
    # The same code again, still in its step, and then a step later (it is still inside the ±1 window): refused.
    assert "This code has been used already" in _sign_in(client, "researcher@example.org", code).get_data(
        as_text=True
    )
    clock.step()
    assert _sign_in(client, "researcher@example.org", code).status_code == 200
    assert not _signed_in(client)
    # A code of the next step (the phone's clock a little ahead) is fine; once it is used, the current step's
    # code is refused too (steps only move forward).
    ahead = totp.at(clock.now + 30)
    assert _sign_in(client, "researcher@example.org", ahead).status_code == 302
    post(client, "/studio/logout")
    assert _sign_in(client, "researcher@example.org", totp.at(clock.now)).status_code == 200
    # A code two steps off is outside the window.
    assert _sign_in(client, "researcher@example.org", totp.at(clock.now + 90)).status_code == 200
    failed = _events(app, "login.failed")
    assert [json.loads(e.details_json)["reason"] for e in failed] == ["wrong second factor"] * 5
    assert _user(app, _user_id(app, "researcher@example.org")).failed_logins == 2  # since the last sign-in


def test_recovery_codes_are_single_use(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, _totp, codes = enrolled
    typed = " " + codes[3].upper().replace("-", " ") + " "  # read off paper: case and spacing do not matter
    assert _sign_in(client, "researcher@example.org", typed).status_code == 302
    login_event = _events(app, "login")[-1]
    assert json.loads(login_event.details_json)["factor"] == "recovery"
    assert "9 recovery codes left" in client.get("/studio/account").get_data(as_text=True)
    post(client, "/studio/logout")
    again = _sign_in(client, "researcher@example.org", codes[3])
    assert again.status_code == 200 and "not right" in again.get_data(as_text=True)
    assert not _signed_in(client)
    with app.app_context():
        used = db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
        assert len(used) == 1
    failed = _events(app, "login.failed")[-1]
    assert json.loads(failed.details_json)["reason"] == "wrong second factor"
    assert codes[3] not in failed.details_json


def test_wrong_codes_lock_the_account_like_wrong_passwords(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    uid = _user_id(app, "researcher@example.org")
    page = _password_step(client, "researcher@example.org")
    for attempt in range(3):
        wrong = _code_step(client, page, "000000" if attempt else "123456")
        assert wrong.status_code == 200 and "not right" in wrong.get_data(as_text=True)
        page = wrong
    # The right password again does not wipe the count: a known password must not buy new guesses.
    page = _password_step(client, "researcher@example.org")
    assert _user(app, uid).failed_logins == 3
    wrong = _code_step(client, page, "111111")
    assert wrong.status_code == 200
    locked = _code_step(client, wrong, "222222")
    assert locked.status_code == 429
    assert "This account is locked after repeated failed sign-ins" in locked.get_data(as_text=True)
    user = _user(app, uid)
    assert user.failed_logins == 5 and user.locked_until is not None
    # Locked: the right code, or the right password, is refused with the same message.
    clock.step()
    assert _code_step(client, locked, totp.at(clock.now)).status_code == 429
    assert _password_step(client, "researcher@example.org").status_code == 429
    reasons = [json.loads(e.details_json)["reason"] for e in _events(app, "login.failed")]
    assert reasons[:5] == ["wrong second factor"] * 4 + ["wrong second factor; account locked"]
    assert reasons[5:] == ["locked", "locked"]
    assert not any(
        code in e.details_json for e in _events(app, "login.failed") for code in ("123456", "222222")
    )


def test_wrong_codes_are_throttled_per_source(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    app.config.update(STUDIO_SOURCE_FAILURES=3, STUDIO_MAX_FAILURES=100)
    page = _password_step(client, "researcher@example.org", source="203.0.113.9")
    for _ in range(3):
        page = _code_step(client, page, "000000", source="203.0.113.9")
        assert page.status_code == 200
    clock.step()
    refused = _code_step(client, page, totp.at(clock.now), source="203.0.113.9")
    assert refused.status_code == 429
    assert "Too many failed sign-ins have come from your network" in refused.get_data(as_text=True)
    # Another source signs in.
    assert (
        _sign_in(
            app.test_client(), "researcher@example.org", totp.at(clock.now), source="198.51.100.1"
        ).status_code
        == 302
    )
    with app.app_context():
        sources = set(db.session.scalars(select(LoginFailure.source)))
    assert sources == {"203.0.113.9"}


def test_the_half_signed_in_state_lasts_five_minutes(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    page = _password_step(client, "researcher@example.org")
    clock.now += 301
    late = _code_step(client, page, totp.at(clock.now))
    assert late.status_code == 401
    assert "Sign in again" in late.get_data(as_text=True) and 'name="password"' in late.get_data(as_text=True)
    assert not _signed_in(client)
    assert _user(app, _user_id(app, "researcher@example.org")).failed_logins == 0
    # Without a password step at all (a bare post of a code), nothing is signed in either.
    stranger = app.test_client()
    bare = stranger.post(CODE_STEP, data={"csrf_token": csrf(stranger), "code": totp.at(clock.now)})
    assert bare.status_code == 401 and not _signed_in(stranger)


def test_a_password_change_between_the_steps_ends_the_half_sign_in(
    app: Flask, clock: Clock, enrolled: Any
) -> None:
    client, totp, _codes = enrolled
    page = _password_step(client, "researcher@example.org")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "researcher@example.org"))
        assert user is not None
        user.session_version += 1  # a password change, a sign-out everywhere or a deactivation
        db.session.commit()
    clock.step()
    assert _code_step(client, page, totp.at(clock.now)).status_code == 401
    assert not _signed_in(client)


def test_next_and_a_kept_form_survive_the_second_step(
    app: Flask, clock: Clock, enrolled: Any, flagship_study: str
) -> None:
    from elicit.studio import access

    client, totp, _codes = enrolled
    uid = _user_id(app, "researcher@example.org")
    with app.test_request_context(
        f"/studio/studies/{flagship_study}/settings", method="POST", data={"title": "Kept title"}
    ):
        pending = access.keep_posted_form(uid)
    assert pending
    page = _password_step(client, "researcher@example.org", pending=pending)
    assert _hidden(page.get_data(as_text=True), "pending") == pending
    clock.step()
    done = _code_step(client, page, totp.at(clock.now))
    assert done.status_code == 200 and "Save it now" in done.get_data(as_text=True)
    assert "Kept title" in done.get_data(as_text=True)


# ----------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "Enter the 6-digit code"),
        ("12345", "6 digits"),
        ("1234567", "6 digits"),
        ("12a456", "6 digits"),
        ("١٢٣٤٥٦", "6 digits"),  # Arabic-Indic digits are digits to str.isdigit, not to an authenticator app
        ("9" * 5000, "6 digits"),
        ("abcd-efgh", "6 digits"),
    ],
)
def test_malformed_codes_are_told_apart_and_not_counted(
    app: Flask, clock: Clock, enrolled: Any, code: str, message: str
) -> None:
    client, _totp, _codes = enrolled
    page = _password_step(client, "researcher@example.org")
    answer = _code_step(client, page, code)
    assert answer.status_code == 422, answer.status_code
    assert message in answer.get_data(as_text=True)
    assert 'name="code"' in answer.get_data(as_text=True)  # the same step, to try again
    assert _user(app, _user_id(app, "researcher@example.org")).failed_logins == 0
    # and on the enrolment form of another account, the same
    other = app.test_client()
    login(other, "viewer@example.org")
    setup = post(other, START, {}, page=SETUP)
    token = csrf_from(setup.get_data(as_text=True))
    bad = other.post(CONFIRM, data={"csrf_token": token, "code": code, "current": PASSWORD})
    assert bad.status_code == 422 and message in bad.get_data(as_text=True)


def test_posts_without_the_steps_before_are_4xx_not_500(app: Flask, clock: Clock, people: People) -> None:
    client = app.test_client()
    login(client, "researcher@example.org")
    # Confirming, regenerating or turning off with nothing set up: a clear refusal.
    for url in (CONFIRM, REGENERATE, TURN_OFF):
        answer = post(client, url, {"code": "123456"})
        assert 400 <= answer.status_code < 500, (url, answer.status_code)
        assert "Two-factor sign-in is not" in answer.get_data(as_text=True)


# --------------------------------------------------------------------------------------------------- enforcement
def test_an_admin_without_a_second_factor_is_sent_to_enrol(
    app: Flask, client: FlaskClient, clock: Clock, people: People
) -> None:
    make_user(app, "new-admin@example.org", "admin", second_factor=False)
    first = client.post(
        "/studio/login",
        data={
            "email": "new-admin@example.org",
            "password": PASSWORD,
            "csrf_token": csrf(client),
            "next": "/studio/users",
        },
    )
    assert first.status_code == 302 and first.headers["Location"].startswith(SETUP)
    intro = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "Administrators must sign in with a second factor" in intro
    # Nothing else is reachable: pages lead back here, and posts do nothing.
    for path in (
        "/studio/",
        "/studio/users",
        "/studio/audit",
        "/studio/account",
        f"/studio/users/{people.viewer}",
    ):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith(SETUP), path
    refused = client.post(
        f"/studio/users/{people.viewer}",
        data={"csrf_token": csrf_from(intro), "role": "admin", "active": "y"},
    )
    assert refused.status_code == 303 and refused.headers["Location"].startswith(SETUP)
    assert _user(app, people.viewer).role == "viewer"
    # Set up, the admin continues where they were going.
    setup = client.post(START, data={"csrf_token": csrf_from(intro), "next": _hidden(intro, "next")})
    html = setup.get_data(as_text=True)
    totp = pyotp.TOTP(SECRET_RE.search(html).group(1).replace(" ", ""))  # type: ignore[union-attr]
    done = client.post(
        CONFIRM,
        data={
            "csrf_token": csrf_from(html),
            "code": totp.at(clock.now),
            "current": PASSWORD,
            "next": _hidden(html, "next"),
        },
    )
    assert done.status_code == 200
    onward = client.post(
        CONTINUE,
        data={
            "csrf_token": csrf_from(done.get_data(as_text=True)),
            "next": _hidden(done.get_data(as_text=True), "next"),
        },
    )
    assert onward.status_code == 302 and onward.headers["Location"] == "/studio/users"
    assert client.get("/studio/users").status_code == 200
    # An admin cannot turn it off; there is no such button for them.
    assert "Turn off two-factor sign-in" not in client.get("/studio/account").get_data(as_text=True)
    clock.step()
    off = post(client, TURN_OFF, {"code": totp.at(clock.now)})
    assert off.status_code == 403 and _user(app, people.admin).totp_enabled_at is not None


def test_an_admin_signed_in_before_is_held_too(app: Flask, client: FlaskClient, people: People) -> None:
    """A session that began before the rule (or a researcher made admin meanwhile) is held at the next request."""
    sign_in_directly(app, client, people.researcher)
    assert _signed_in(client)
    with app.app_context():
        user = db.session.get(User, people.researcher)
        assert user is not None
        user.role = "admin"
        db.session.commit()
    answer = client.get("/studio/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith(SETUP)


def test_require_2fa_extends_the_rule_to_everyone(
    app: Flask, client: FlaskClient, clock: Clock, people: People
) -> None:
    app.config["REQUIRE_2FA"] = True
    login(client, "viewer@example.org")
    answer = client.get("/studio/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith(SETUP)
    assert "This server requires a second factor for every account" in client.get(SETUP).get_data(
        as_text=True
    )
    totp, _codes = _enrol(client, clock)
    assert _signed_in(client)
    # Required: it cannot be turned off by its user.
    clock.step()
    assert post(client, TURN_OFF, {"code": totp.at(clock.now)}).status_code == 403


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("0", False), ("1", True), ("true", True), ("YES", True), (" no ", False)],
)
def test_the_setting_reads_yes_or_no(
    value: str | None, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elicit.config import from_environment

    monkeypatch.setenv("ELICIT_SECRET_KEY", "from-the-environment")
    if value is None:
        monkeypatch.delenv("ELICIT_REQUIRE_2FA", raising=False)
    else:
        monkeypatch.setenv("ELICIT_REQUIRE_2FA", value)
    assert from_environment(tmp_path)["REQUIRE_2FA"] is expected


@pytest.mark.parametrize("value", ["2", "maybe", "on", "enabled"])
def test_a_bad_setting_stops_the_app_with_one_line(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elicit.config import BadSetting, from_environment

    monkeypatch.setenv("ELICIT_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("ELICIT_REQUIRE_2FA", value)
    with pytest.raises(BadSetting) as caught:
        from_environment(tmp_path)
    message = caught.value.format_message()
    assert message == f"ELICIT_REQUIRE_2FA={value!r} must be 1 or 0 (also true/false, yes/no)"


# ------------------------------------------------------------------------------------------- the user's own controls
def test_new_recovery_codes_need_a_current_code(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, old = enrolled
    clock.step()
    assert _sign_in(client, "researcher@example.org", totp.at(clock.now)).status_code == 302
    wrong = post(client, REGENERATE, {"code": "000000"})
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    assert json.loads(_events(app, "login.failed")[-1].details_json)["reason"] == "wrong second factor"
    replay = post(client, REGENERATE, {"code": totp.at(clock.now)})  # the code that signed in
    assert replay.status_code == 422
    clock.step()
    fresh = post(client, REGENERATE, {"code": totp.at(clock.now)})
    assert fresh.status_code == 200
    new = RECOVERY_RE.findall(fresh.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert len(_events(app, "user.2fa_recovery_codes")) == 1
    post(client, "/studio/logout")
    assert _sign_in(client, "researcher@example.org", old[0]).status_code == 200  # the old ones are gone
    assert _sign_in(client, "researcher@example.org", new[0]).status_code == 302


def test_the_user_turns_it_off_with_a_current_code(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    clock.step()
    _sign_in(client, "researcher@example.org", totp.at(clock.now))
    assert "Turn off two-factor sign-in" in client.get("/studio/account").get_data(as_text=True)
    assert post(client, TURN_OFF, {"code": "000000"}).status_code == 422
    assert _user(app, _user_id(app, "researcher@example.org")).totp_enabled_at is not None
    clock.step()
    off = post(client, TURN_OFF, {"code": totp.at(clock.now)})
    assert off.status_code == 302
    user = _user(app, _user_id(app, "researcher@example.org"))
    assert user.totp_secret is None and user.totp_enabled_at is None
    with app.app_context():
        assert db.session.scalars(select(RecoveryCode)).all() == []
    assert len(_events(app, "user.2fa_disable")) == 1
    post(client, "/studio/logout")
    login(client, "researcher@example.org")  # the password alone again


# ------------------------------------------------------------------------------------------------- administration
def test_an_admin_resets_a_second_factor(app: Flask, clock: Clock, enrolled: Any, people: People) -> None:
    client, totp, _codes = enrolled
    admin = app.test_client()
    sign_in_directly(app, admin, people.admin)
    with app.app_context():  # (this admin has a second factor of their own)
        me = db.session.get(User, people.admin)
        assert me is not None
        me.totp_secret = twofactor.seal_secret(app.config["SECRET_KEY"], me.id, pyotp.random_base32())
        me.totp_enabled_at = me.created_at
        db.session.commit()
    users = admin.get("/studio/users").get_data(as_text=True)
    assert "Two-factor" in users
    page = admin.get(f"/studio/users/{people.researcher}").get_data(as_text=True)
    assert "On since" in page and "10 recovery codes left" in page
    url = f"/studio/users/{people.researcher}/two-factor/reset"
    assert url in page
    confirm = admin.get(url)
    assert (
        confirm.status_code == 200
        and "Reset the second factor of researcher@example.org?" in confirm.get_data(as_text=True)
    )
    bare = post(admin, url, {}, page=f"/studio/users/{people.researcher}")
    assert bare.status_code == 422 and _user(app, people.researcher).totp_enabled_at is not None
    done = post(admin, url, {"confirm": "yes"}, page=f"/studio/users/{people.researcher}")
    assert done.status_code == 302
    user = _user(app, people.researcher)
    assert user.totp_secret is None and user.totp_enabled_at is None and user.totp_last_step is None
    [event] = _events(app, "user.2fa_reset")
    assert event.actor == "admin@example.org" and event.target == "researcher@example.org"
    login(client, "researcher@example.org")  # a researcher signs in with the password alone again
    # A researcher cannot reset anyone's.
    assert (
        post(client, f"/studio/users/{people.viewer}/two-factor/reset", {"confirm": "yes"}).status_code == 403
    )


def test_the_cli_resets_a_second_factor(app: Flask, clock: Clock, enrolled: Any, runner: Any) -> None:
    result = runner.invoke(args=["user", "reset-2fa", "Researcher@Example.org"])
    assert result.exit_code == 0, result.output
    assert "researcher@example.org" in result.output
    user = _user(app, _user_id(app, "researcher@example.org"))
    assert user.totp_enabled_at is None and user.totp_secret is None
    [event] = _events(app, "user.2fa_reset")
    assert event.actor == "cli"
    unknown = runner.invoke(args=["user", "reset-2fa", "nobody@example.org"])
    assert unknown.exit_code == 1
    assert unknown.output.strip().splitlines() == ["elicit: error: no user with e-mail nobody@example.org"]


# ---------------------------------------------------------------------------------------------- what stays the same
def test_api_tokens_are_not_asked_for_a_second_factor(app: Flask, clock: Clock, enrolled: Any) -> None:
    from elicit.api.tokens import create_token

    with app.app_context():
        issued = create_token(db.session, "researcher@example.org", "analysis server")
        db.session.commit()
    answer = app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {issued.secret}"})
    assert answer.status_code == 200


def test_the_demo_says_the_admin_login_sets_up_a_second_factor(app: Flask, tmp_path: Path) -> None:
    from elicit.demo import DEMO_ADMIN, ensure_demo

    with app.app_context():
        lines = ensure_demo(db.session, app.config, tmp_path, responses=0, links=0)
        db.session.rollback()
    [admin_line] = [line for line in lines if DEMO_ADMIN in line]
    assert "authenticator app" in admin_line


# ----------------------------------------------------------------------------------------------------- the browser
@pytest.mark.browser
@pytest.mark.no_js_on_sqlite_only
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_enrolment_and_sign_in_in_a_browser(
    app: Flask,
    live_server: str,
    browser: Any,
    axe_source: str,
    people: People,
    javascript: bool,
    database_url: str,
) -> None:
    from playwright.sync_api import expect

    context, tab = browser_tab(browser, javascript)
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    name = f"twofactor-{'js' if javascript else 'nojs'}-{kind}"
    shoot = shooter(tab, axe_source, name, javascript=javascript, database_url=database_url)

    new_admin = make_user(app, "new-admin@example.org", "admin", second_factor=False)
    try:
        tab.goto(f"{live_server}/studio/login")
        tab.get_by_label("E-mail address").fill("new-admin@example.org")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
        shoot("required")
        tab.get_by_role("button", name="Set up two-factor sign-in").click()
        expect(tab.locator("svg.qr")).to_be_visible()
        shoot("setup")
        secret = tab.locator("#totp-secret").inner_text().replace(" ", "")
        totp = pyotp.TOTP(secret)
        tab.get_by_label("Code from the app").fill("12345")
        tab.get_by_label("Your password").fill(PASSWORD)
        tab.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(tab.locator(".error-summary")).to_be_visible()
        shoot("setup-error")
        tab.get_by_label("Code from the app").fill(totp.now())
        tab.get_by_label("Your password").fill(PASSWORD)
        tab.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(tab.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        codes = tab.locator("code.recovery-code").all_inner_texts()
        assert len(codes) == 10
        shoot("recovery-codes")
        tab.get_by_role("button", name="Continue").click()
        expect(tab.get_by_role("heading", name="Studies")).to_be_visible()
        tab.goto(f"{live_server}/studio/account")
        expect(tab.get_by_text("10 recovery codes left")).to_be_visible()
        shoot("account")
        tab.get_by_role("button", name="Sign out").click()
        tab.get_by_label("E-mail address").fill("new-admin@example.org")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
        shoot("code-step")
        tab.get_by_label("Code").fill(codes[0])
        tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("heading", name="Studies")).to_be_visible()
        tab.goto(f"{live_server}/studio/users")
        expect(tab.get_by_text("required, not set up")).to_have_count(0)
        shoot("users")
        tab.goto(f"{live_server}/studio/users/{new_admin}")
        expect(tab.get_by_text("9 recovery codes left")).to_be_visible()
        shoot("user")
        tab.get_by_role("link", name="Reset the second factor").click()
        shoot("reset-confirm")
    finally:
        context.close()
