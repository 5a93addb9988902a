"""Signing in and out: argon2 passwords, sessions that die at logout or when idle, lockout and throttling."""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import AuditEvent, LoginFailure, User
from tests.studio.conftest import PASSWORD, People, csrf, login, post


def _attempt(client: FlaskClient, email: str, password: str, **environ: str):
    return client.post(
        "/studio/login",
        data={"email": email, "password": password, "csrf_token": csrf(client)},
        environ_base=environ,
    )


def test_login_page_has_the_contract_fields(client: FlaskClient) -> None:
    html = client.get("/studio/login").get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html
    assert 'for="email"' in html and 'for="password"' in html
    # anything else in the studio sends a stranger to the sign-in page, and back afterwards
    response = client.get("/studio/instruments")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/studio/login?next=/studio/instruments")


def test_sign_in_and_out_with_a_cli_made_account(app: Flask, client: FlaskClient, runner) -> None:
    result = runner.invoke(
        args=["user", "add", "Ada@Example.org", "--role", "researcher", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
        assert user is not None and user.password_hash.startswith("$argon2")

    response = client.post(
        "/studio/login",
        data={
            "email": "ADA@example.org",
            "password": PASSWORD,
            "csrf_token": csrf(client),
            "next": "/studio/instruments",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/studio/instruments"
    assert "ada@example.org" in client.get("/studio/").get_data(as_text=True)

    copied = client.get_cookie("session")
    assert copied is not None
    response = post(client, "/studio/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/studio/login"
    assert client.get("/studio/").status_code == 302

    # A copy of the cookie taken before signing out is dead too (the session version moved on).
    thief = app.test_client()
    thief.set_cookie("session", copied.value)
    assert thief.get("/studio/").status_code == 302
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["login", "logout"]


def test_next_cannot_leave_the_studio(client: FlaskClient, people: People) -> None:
    for target in ("https://evil.example/", "//evil.example/studio/", "/s/token", "/studio\\..\\x"):
        client.post("/studio/logout")  # (refused without a token; the session is cleared below anyway)
        client.delete_cookie("session")
        response = client.post(
            "/studio/login",
            data={
                "email": "researcher@example.org",
                "password": PASSWORD,
                "csrf_token": csrf(client),
                "next": target,
            },
        )
        assert response.headers["Location"] == "/studio/"


def test_wrong_password_says_so_without_telling_which_part(client: FlaskClient, people: People) -> None:
    for email in ("researcher@example.org", "nobody@example.org"):
        response = _attempt(client, email, "wrong password!")
        assert response.status_code == 200
        assert "The e-mail address or the password is not right." in response.get_data(as_text=True)


def test_session_is_renewed_at_login(app: Flask, client: FlaskClient, people: People) -> None:
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, "researcher@example.org")
    with client.session_transaction() as session:
        assert "planted" not in session


def test_five_failures_lock_the_account_with_429_and_audit_without_password(
    app: Flask, client: FlaskClient, people: People
) -> None:
    for _ in range(4):
        assert _attempt(client, "viewer@example.org", "not-the-password-1").status_code == 200
    response = _attempt(client, "viewer@example.org", "not-the-password-1")
    assert response.status_code == 429
    assert "This account is locked after repeated failed sign-ins" in response.get_data(as_text=True)
    # locked: even the right password is refused now, with the same clear message
    response = _attempt(client, "viewer@example.org", PASSWORD)
    assert response.status_code == 429
    assert "ask an administrator to unlock it" in response.get_data(as_text=True)
    with app.app_context():
        user = db.session.get(User, people.viewer)
        assert user is not None and user.failed_logins == 5 and user.locked_until is not None
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")))
        assert len(events) == 6
        assert all(
            "not-the-password" not in e.details_json and PASSWORD not in e.details_json for e in events
        )
        assert "account locked" in events[4].details_json and '"locked"' in events[5].details_json

    # an administrator unlocks; the right password works again
    admin = login(app.test_client(), "admin@example.org")
    assert post(admin, f"/studio/users/{people.viewer}/unlock").status_code == 302
    assert _attempt(client, "viewer@example.org", PASSWORD).status_code == 302


def test_the_lock_grows_with_each_lock(app: Flask) -> None:
    from elicit.studio.accounts import LoginPolicy

    policy = LoginPolicy()
    assert [policy.lock_period(n).total_seconds() / 60 for n in (5, 10, 15, 20)] == [15, 30, 60, 120]
    assert policy.lock_period(500).total_seconds() / 60 == 24 * 60


def test_a_source_trying_many_accounts_is_slowed(app: Flask, client: FlaskClient, people: People) -> None:
    app.config["STUDIO_SOURCE_FAILURES"] = 6
    for i in range(6):
        response = _attempt(client, f"guess{i}@example.org", "whatever-password", REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 200
    response = _attempt(client, "researcher@example.org", PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 429
    assert "Too many failed sign-ins have come from your network" in response.get_data(as_text=True)
    # another source is not affected
    assert _attempt(client, "researcher@example.org", PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(LoginFailure.source).limit(1)) == "203.0.113.9"


def test_idle_and_absolute_timeouts(app: Flask, client: FlaskClient, people: People) -> None:
    login(client, "researcher@example.org")
    with client.session_transaction() as session:
        session["studio_seen"] = int(time.time()) - 31 * 60
    response = client.get("/studio/")
    assert response.status_code == 302
    assert "Your session has expired" in client.get("/studio/login").get_data(as_text=True)

    login(client, "researcher@example.org")
    with client.session_transaction() as session:
        session["studio_signed_in"] = int(time.time()) - 9 * 3600
    assert client.get("/studio/").status_code == 302


def test_login_without_csrf_token_is_refused(client: FlaskClient, people: People) -> None:
    response = client.post("/studio/login", data={"email": "researcher@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_change_own_password_ends_other_sessions(app: Flask, people: People) -> None:
    first, second = app.test_client(), app.test_client()
    login(first, "researcher@example.org")
    login(second, "researcher@example.org")
    response = post(
        first,
        "/studio/account/password",
        {"current": PASSWORD, "password": "a brand new password", "confirm": "a brand new password"},
    )
    assert response.status_code == 302
    assert first.get("/studio/").status_code == 200
    assert second.get("/studio/").status_code == 302
    wrong = post(
        first, "/studio/account/password", {"current": "nope", "password": "x" * 12, "confirm": "x" * 12}
    )
    assert wrong.status_code == 422 and "This is not your current password." in wrong.get_data(as_text=True)
