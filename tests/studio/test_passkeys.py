"""Passkeys (issue 19's WebAuthn): added beside the authenticator app, used as a second factor, attacked.

The answers a browser would send are built by :class:`tests.studio.softkey.SoftKey`, byte by byte, and bent
the way an attacker would bend them: replayed, made for another site, signed by another key, with a counter
that did not move (a copied key), or of another account. The browser test at the end drives Chromium's own
WebAuthn code through its virtual authenticator.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from elicit.db import db
from elicit.models import Passkey, User
from elicit.studio import twofactor
from tests.studio import test_twofactor as tf
from tests.studio.conftest import (
    ADMIN_TOTP,
    PASSWORD,
    People,
    admin_code,
    browser_tab,
    csrf_from,
    login,
    make_user,
    post,
    shooter,
)
from tests.studio.softkey import SoftKey, b64u
from tests.studio.test_twofactor import (
    TURN_OFF,
    Clock,
    _code_step,
    _events,
    _hidden,
    _password_step,
    _signed_in,
    _user,
    _user_id,
)

NEW = "/studio/account/passkeys/new"
ADD = "/studio/account/passkeys"
PASSKEY_STEP = "/studio/login/passkey"
RESEARCHER = "researcher@example.org"
clock = tf.clock  # the fixtures of the two-factor tests: a clock the tests set, the researcher enrolled
enrolled = tf.enrolled
OPTIONS_RE = re.compile(r'data-passkey="(create|get)" data-options="([^"]*)"')


def options_of(page: TestResponse | str) -> str:
    """The options a page gives the browser (the JSON in its form's data-options)."""
    text = page if isinstance(page, str) else page.get_data(as_text=True)
    match = OPTIONS_RE.search(text)
    assert match, "no passkey form on the page"
    return htmllib.unescape(match.group(2))


def add(client: FlaskClient, key: SoftKey, name: str = "Work laptop", password: str = PASSWORD, **bend: Any):
    """Add ``key`` from the account page as a person would: the button, then the page's form with the answer."""
    page = post(client, NEW, {})
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    html = page.get_data(as_text=True)
    data = {
        "csrf_token": csrf_from(html),
        "name": name,
        "current": password,
        "credential": key.create(options_of(html), **bend),
    }
    return client.post(ADD, data=data)


def passkey_step(client: FlaskClient, page: TestResponse, answer: str) -> TestResponse:
    """Send ``answer`` with the passkey form of the second-step page ``page``."""
    html = page.get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "credential": answer, "next": _hidden(html, "next")}
    if _hidden(html, "pending"):
        data["pending"] = _hidden(html, "pending")
    return client.post(PASSKEY_STEP, data=data, environ_base={"REMOTE_ADDR": "192.0.2.1"})


def sign_in_with_code(client: FlaskClient, totp: Any, clock: Clock) -> None:
    clock.step()
    done = _code_step(client, _password_step(client, RESEARCHER), totp.at(clock.now))
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]


def sign_in_admin(app: Flask, clock: Clock) -> FlaskClient:
    """The administrator signed in with their app's code at the tests' clock."""
    client = app.test_client()
    done = _code_step(
        client, _password_step(client, "admin@example.org"), pyotp.TOTP(ADMIN_TOTP).at(clock.now)
    )
    assert done.status_code == 302
    return client


def passkeys_of(app: Flask, email: str = RESEARCHER) -> list[Passkey]:
    with app.app_context():
        keys = list(
            db.session.scalars(select(Passkey).join(User).where(User.email == email).order_by(Passkey.id))
        )
        for key in keys:
            db.session.expunge(key)
        return keys


@pytest.fixture
def with_passkey(app: Flask, clock: Clock, enrolled: Any) -> tuple[FlaskClient, Any, SoftKey]:
    """The researcher with the app and one passkey ("Work laptop"), signed out again."""
    client, totp, _codes = enrolled
    sign_in_with_code(client, totp, clock)
    key = SoftKey()
    assert add(client, key).status_code == 302
    assert post(client, "/studio/logout").status_code == 302
    return client, totp, key


# --------------------------------------------------------------------------------------------------- adding
def test_a_passkey_is_added_from_the_account_page_and_signs_in(
    app: Flask, clock: Clock, enrolled: Any
) -> None:
    client, totp, _codes = enrolled
    sign_in_with_code(client, totp, clock)
    account = client.get("/studio/account").get_data(as_text=True)
    assert "No passkeys yet." in account and 'action="/studio/account/passkeys/new"' in account
    key = SoftKey()
    added = add(client, key)
    assert added.status_code == 302 and added.headers["Location"].endswith("/studio/account#passkeys")
    account = client.get("/studio/account").get_data(as_text=True)
    assert "Work laptop" in account and "never" in account
    [stored] = passkeys_of(app)
    assert stored.credential_id == key.credential_id and stored.sign_count == 0
    assert key.private.private_numbers().private_value.to_bytes(32, "big") not in stored.public_key
    [event] = _events(app, "user.passkey_add")
    assert event.actor == RESEARCHER and json.loads(event.details_json) == {"passkey": stored.id}
    post(client, "/studio/logout")

    page = _password_step(client, RESEARCHER, next_path="/studio/instruments")
    html = page.get_data(as_text=True)
    assert 'data-passkey="get"' in html and 'name="code"' in html  # the code still works beside it
    asked = json.loads(options_of(html))
    assert [c["id"] for c in asked["allowCredentials"]] == [b64u(key.credential_id)]
    assert asked["rpId"] == "localhost" and len(asked["challenge"]) >= 43
    done = passkey_step(client, page, key.get(asked))
    assert done.status_code == 302 and done.headers["Location"] == "/studio/instruments"
    assert _signed_in(client)
    assert json.loads(_events(app, "login")[-1].details_json) == {"factor": "passkey", "source": "192.0.2.1"}
    [used] = passkeys_of(app)
    assert used.sign_count == 1 and used.last_used_at is not None


def test_adding_a_passkey_needs_the_password_and_counts_a_wrong_one(
    app: Flask, clock: Clock, enrolled: Any
) -> None:
    client, totp, _codes = enrolled
    sign_in_with_code(client, totp, clock)
    refused = add(client, SoftKey(), password="not the password")
    assert refused.status_code == 422 and "This is not your password." in refused.get_data(as_text=True)
    assert passkeys_of(app) == []
    assert _user(app, _user_id(app, RESEARCHER)).failed_logins == 1
    unnamed = add(client, SoftKey(), name="   ")
    assert unnamed.status_code == 422 and "Give the passkey a name" in unnamed.get_data(as_text=True)
    assert passkeys_of(app) == []


def test_an_account_without_the_app_cannot_add_a_passkey(app: Flask, people: People) -> None:
    client = app.test_client()
    login(client, "outsider@example.org")  # a researcher without a second factor
    account = client.get("/studio/account").get_data(as_text=True)
    assert "Add a passkey" not in account
    back = post(client, NEW, {})
    assert back.status_code == 302 and "#two-factor" in back.headers["Location"]
    assert "Set up your authenticator app first" in client.get("/studio/account").get_data(as_text=True)


@pytest.mark.parametrize(
    "bend",
    [{"origin": "http://evil.example"}, {"rp_id": "evil.example"}],
    ids=["another-origin", "another-site"],
)
def test_a_passkey_made_for_another_site_is_not_added(
    app: Flask, clock: Clock, enrolled: Any, bend: dict[str, str]
) -> None:
    client, totp, _codes = enrolled
    sign_in_with_code(client, totp, clock)
    refused = add(client, SoftKey(), **bend)
    assert refused.status_code == 422
    assert "not a passkey made for this site" in refused.get_data(as_text=True)
    assert passkeys_of(app) == []


def test_one_passkey_is_added_once_and_a_page_answers_once(app: Flask, clock: Clock, enrolled: Any) -> None:
    client, totp, _codes = enrolled
    sign_in_with_code(client, totp, clock)
    key = SoftKey()
    page = post(client, NEW, {})
    html = page.get_data(as_text=True)
    data = {
        "csrf_token": csrf_from(html),
        "name": "Key",
        "current": PASSWORD,
        "credential": key.create(options_of(html)),
    }
    assert client.post(ADD, data=data).status_code == 302
    again = client.post(ADD, data=data)  # the same answer again: its challenge is used up
    assert again.status_code == 422 and "This page has expired" in again.get_data(as_text=True)
    twice = add(client, key, name="Key again")  # the same authenticator on a new page
    assert twice.status_code == 422 and "added already" in twice.get_data(as_text=True)
    assert len(passkeys_of(app)) == 1


@pytest.mark.parametrize(
    "answer",
    ["", "not json", "{}", '{"id": "x", "rawId": "x", "type": "public-key", "response": {}}', "[" * 100_000],
    ids=["empty", "text", "empty-object", "no-response", "huge"],
)
def test_malformed_answers_are_4xx_with_a_sentence(
    app: Flask, clock: Clock, with_passkey: Any, answer: str
) -> None:
    client, totp, _key = with_passkey
    page = _password_step(client, RESEARCHER)
    refused = passkey_step(client, page, answer)
    assert refused.status_code in (200, 422) and "Traceback" not in refused.get_data(as_text=True)
    assert not _signed_in(client)
    sign_in_with_code(client, totp, clock)
    adding = post(client, NEW, {})
    html = adding.get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "name": "Bad", "current": PASSWORD, "credential": answer}
    bad = client.post(ADD, data=data)
    assert bad.status_code == 422 and "There is a problem" in bad.get_data(as_text=True)
    assert len(passkeys_of(app)) == 1


# ---------------------------------------------------------------------------------------------- signing in
def test_an_answer_signs_in_once(app: Flask, clock: Clock, with_passkey: Any) -> None:
    client, _totp, key = with_passkey
    page = _password_step(client, RESEARCHER)
    answer = key.get(options_of(page))
    assert passkey_step(client, page, answer).status_code == 302
    post(client, "/studio/logout")
    # Replayed, on a new sign-in: the challenge it answers was used up (counters of synced passkeys stay 0,
    # so the counter alone would not stop this).
    page = _password_step(client, RESEARCHER)
    replay = passkey_step(client, page, answer)
    assert replay.status_code == 200 and "This page has expired for passkeys" in replay.get_data(as_text=True)
    assert not _signed_in(client)
    assert _user(app, _user_id(app, RESEARCHER)).failed_logins == 0  # it could not be right: not a guess
    # The page answering it offers a new challenge, which the passkey can answer.
    assert passkey_step(client, replay, key.get(options_of(replay))).status_code == 302


def test_a_kept_form_survives_the_passkey_step(
    app: Flask, clock: Clock, with_passkey: Any, flagship_study: str
) -> None:
    from elicit.studio import access

    client, _totp, key = with_passkey
    with app.test_request_context(
        f"/studio/studies/{flagship_study}/settings", method="POST", data={"title": "Kept title"}
    ):
        pending = access.keep_posted_form(_user_id(app, RESEARCHER))
    page = _password_step(client, RESEARCHER, pending=pending)
    assert _hidden(page.get_data(as_text=True), "pending") == pending
    done = passkey_step(client, page, key.get(options_of(page)))
    assert done.status_code == 200 and "Save it now" in done.get_data(as_text=True)
    assert "Kept title" in done.get_data(as_text=True)


def test_a_captured_sign_in_cannot_be_replayed(app: Flask, clock: Clock, with_passkey: Any) -> None:
    """Whoever copies the half-signed-in cookie and the passkey's answer off the wire cannot sign in with them
    again, even for a synced passkey, whose counter stays 0 (so the counter cannot tell a replay)."""
    client, _totp, key = with_passkey
    name = app.config["SESSION_COOKIE_NAME"]
    page = _password_step(client, RESEARCHER)
    cookie = client.get_cookie(name)
    assert cookie is not None
    answer = key.get(options_of(page), counter=0)
    assert passkey_step(client, page, answer).status_code == 302
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    replay = passkey_step(thief, page, answer)
    assert replay.status_code == 200 and "This page has expired for passkeys" in replay.get_data(as_text=True)
    assert not _signed_in(thief)


def test_a_newer_sign_in_replaces_the_challenge(app: Flask, clock: Clock, with_passkey: Any) -> None:
    client, _totp, key = with_passkey
    first = _password_step(client, RESEARCHER)
    second = _password_step(client, RESEARCHER)
    stale = passkey_step(client, second, key.get(options_of(first)))
    assert stale.status_code == 200 and "expired" in stale.get_data(as_text=True)
    assert passkey_step(client, stale, key.get(options_of(stale))).status_code == 302


@pytest.mark.parametrize(
    "bend",
    ["another-origin", "another-site", "another-key", "copied-key"],
)
def test_bent_answers_are_refused_and_counted_like_wrong_codes(
    app: Flask, clock: Clock, with_passkey: Any, bend: str
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    client, _totp, key = with_passkey
    if bend == "copied-key":  # the real key was used once; a copy of it still counts from where it was copied
        page = _password_step(client, RESEARCHER)
        assert passkey_step(client, page, key.get(options_of(page))).status_code == 302
        post(client, "/studio/logout")
    bends: dict[str, dict[str, Any]] = {
        "another-origin": {"origin": "http://evil.example"},
        "another-site": {"rp_id": "evil.example"},
        "another-key": {"signer": ec.generate_private_key(ec.SECP256R1())},
        "copied-key": {"counter": 1},
    }
    page = _password_step(client, RESEARCHER)
    refused = passkey_step(client, page, key.get(options_of(page), **bends[bend]))
    assert refused.status_code == 200
    assert "This passkey did not sign you in" in refused.get_data(as_text=True)
    assert not _signed_in(client)
    assert _user(app, _user_id(app, RESEARCHER)).failed_logins == 1
    [failed] = _events(app, "login.failed")
    assert json.loads(failed.details_json)["reason"] == "wrong second factor"


def test_wrong_passkeys_lock_the_account(app: Flask, clock: Clock, with_passkey: Any) -> None:
    client, _totp, key = with_passkey
    page = _password_step(client, RESEARCHER)
    for _attempt in range(4):
        page = passkey_step(client, page, key.get(options_of(page), origin="http://evil.example"))
        assert page.status_code == 200
    locked = passkey_step(client, page, key.get(options_of(page), origin="http://evil.example"))
    assert locked.status_code == 429 and "This account is locked" in locked.get_data(as_text=True)
    # Locked: the right passkey is refused too.
    assert passkey_step(client, locked, key.get(options_of(locked))).status_code == 429
    assert not _signed_in(client)


def test_another_accounts_passkey_does_not_sign_in(
    app: Flask, clock: Clock, with_passkey: Any, people: People
) -> None:
    client, _totp, _key = with_passkey
    admin = sign_in_admin(app, clock)
    admins_key = SoftKey()
    assert add(admin, admins_key).status_code == 302
    page = _password_step(client, RESEARCHER)
    refused = passkey_step(client, page, admins_key.get(options_of(page)))
    assert refused.status_code == 200 and not _signed_in(client)
    assert _user(app, _user_id(app, RESEARCHER)).failed_logins == 1


def test_the_passkey_step_needs_the_password_step_in_this_browser(
    app: Flask, clock: Clock, with_passkey: Any
) -> None:
    client, _totp, key = with_passkey
    page = _password_step(client, RESEARCHER)
    answer = key.get(options_of(page))
    html = page.get_data(as_text=True)
    # Another browser posting this browser's answer has neither its CSRF token nor its half-signed-in state.
    other = app.test_client()
    stranger = other.post(PASSKEY_STEP, data={"csrf_token": csrf_from(html), "credential": answer})
    assert stranger.status_code == 400 and not _signed_in(other)
    # This browser, after the five minutes the password step lasts.
    clock.step(11)
    late = passkey_step(client, page, answer)
    assert late.status_code == 401 and "Sign in again" in late.get_data(as_text=True)
    assert not _signed_in(client)


# ------------------------------------------------------------------------------------------------ lifecycle
def test_removing_a_passkey(app: Flask, clock: Clock, with_passkey: Any, people: People) -> None:
    client, totp, key = with_passkey
    sign_in_with_code(client, totp, clock)
    [stored] = passkeys_of(app)
    confirm = client.get(f"/studio/account/passkeys/{stored.id}/remove")
    assert confirm.status_code == 200 and "Remove the passkey “Work laptop”?" in confirm.get_data(
        as_text=True
    )
    unconfirmed = post(client, f"/studio/account/passkeys/{stored.id}/remove", {})
    assert unconfirmed.status_code == 422 and len(passkeys_of(app)) == 1
    outsider = sign_in_admin(app, clock)
    foreign = post(outsider, f"/studio/account/passkeys/{stored.id}/remove", {"confirm": "yes"})
    assert foreign.status_code == 404 and len(passkeys_of(app)) == 1  # only its owner removes a passkey
    done = post(client, f"/studio/account/passkeys/{stored.id}/remove", {"confirm": "yes"})
    assert done.status_code == 302 and passkeys_of(app) == []
    assert [json.loads(e.details_json) for e in _events(app, "user.passkey_remove")] == [
        {"passkey": stored.id}
    ]
    post(client, "/studio/logout")
    assert 'data-passkey="get"' not in _password_step(client, RESEARCHER).get_data(as_text=True)


@pytest.mark.parametrize("how", ["turned-off", "reset"])
def test_turning_off_or_resetting_the_second_factor_removes_the_passkeys(
    app: Flask, clock: Clock, with_passkey: Any, how: str
) -> None:
    client, totp, _key = with_passkey
    assert len(passkeys_of(app)) == 1
    if how == "turned-off":
        sign_in_with_code(client, totp, clock)
        clock.step()
        assert post(client, TURN_OFF, {"code": totp.at(clock.now)}).status_code == 302
    else:
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == RESEARCHER))
            assert user is not None and twofactor.reset(db.session, user, "admin@example.org")
            db.session.commit()
    assert passkeys_of(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Passkey)) == 0


def test_passkeys_are_not_offered_at_an_ip_address(app: Flask, clock: Clock, with_passkey: Any) -> None:
    client, totp, _key = with_passkey
    at = "http://127.0.0.1:5000"  # browsers refuse an IP address as a passkey's site
    login_page = client.get("/studio/login", base_url=at).get_data(as_text=True)
    data = {"email": RESEARCHER, "password": PASSWORD, "csrf_token": csrf_from(login_page)}
    page = client.post("/studio/login", data=data, base_url=at)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="code"' in html and "data-passkey" not in html
    clock.step()
    code = {"csrf_token": csrf_from(html), "code": totp.at(clock.now)}
    assert client.post("/studio/login/code", data=code, base_url=at).status_code == 302
    account = client.get("/studio/account", base_url=at).get_data(as_text=True)
    assert "Work laptop" in account and "not by an IP address" in account and "Add a passkey" not in account
    adding = client.post(NEW, data={"csrf_token": csrf_from(account)}, base_url=at)
    assert adding.status_code == 409 and "reached by a name" in adding.get_data(as_text=True)


def test_without_javascript_the_passkey_controls_are_hidden(
    app: Flask, clock: Clock, with_passkey: Any
) -> None:
    client, _totp, _key = with_passkey
    html = _password_step(client, RESEARCHER).get_data(as_text=True)
    form = re.search(r"<form[^>]*data-passkey=\"get\"[^>]*>", html)
    assert form is not None and " hidden" in form.group(0)
    assert 'src="/static/passkeys.js"' in html


# ----------------------------------------------------------------------------------------------------- the browser
@pytest.mark.browser
@pytest.mark.no_js_on_sqlite_only
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_passkeys_in_a_browser(
    app: Flask, live_server: str, browser: Any, axe_source: str, javascript: bool, database_url: str
) -> None:
    """With JavaScript, Chromium's own WebAuthn (a virtual authenticator over the DevTools protocol) adds a
    passkey from the account page and signs in with it; without, the pages say what needs a script and the
    app's code signs in."""
    from playwright.sync_api import expect

    email = "passkey-user@example.org"
    uid = make_user(app, email, "researcher", second_factor=True)
    site = live_server.replace("127.0.0.1", "localhost")  # a passkey's site is a name, never an IP address
    context, tab = browser_tab(browser, javascript)
    name = f"passkeys-{'js' if javascript else 'nojs'}"
    shoot = shooter(tab, axe_source, name, javascript=javascript, database_url=database_url)

    def sign_in_with_password() -> None:
        tab.goto(f"{site}/studio/login")
        tab.get_by_label("E-mail address").fill(email)
        tab.get_by_label("Password").fill(PASSWORD)
        with tab.expect_navigation():
            tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()

    def code() -> None:
        tab.get_by_label("Code").fill(admin_code(app, email))
        with tab.expect_navigation():
            tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("heading", name="Studies")).to_be_visible()

    try:
        if javascript:
            devtools = context.new_cdp_session(tab)
            devtools.send("WebAuthn.enable")
            options = {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
            devtools.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        sign_in_with_password()
        code()
        tab.goto(f"{site}/studio/account#passkeys")
        expect(tab.get_by_text("No passkeys yet.")).to_be_visible()
        add_button = tab.get_by_role("button", name="Add a passkey")
        if not javascript:
            expect(add_button).to_be_hidden()
            expect(tab.get_by_text("This browser cannot add a passkey here")).to_be_visible()
            shoot("account")
            with app.app_context():  # a passkey added elsewhere: this browser is offered the code only
                db.session.add(
                    Passkey(user_id=uid, credential_id=b"elsewhere", public_key=b"k", name="Phone")
                )
                db.session.commit()
            with tab.expect_navigation():  # signed out before the sign-in page is asked for
                tab.get_by_role("button", name="Sign out").click()
            sign_in_with_password()
            expect(tab.get_by_role("button", name="Use a passkey")).to_be_hidden()
            shoot("code-step")
            code()
            return
        expect(tab.get_by_text("This browser cannot add a passkey here")).to_be_hidden()
        shoot("account")
        with tab.expect_navigation():
            add_button.click()
        expect(tab.get_by_role("heading", name="Add a passkey")).to_be_visible()
        shoot("add")
        tab.get_by_label("Name of the passkey").fill("This laptop")
        tab.get_by_label("Your password").fill(PASSWORD)
        with tab.expect_navigation():
            tab.get_by_role("button", name="Make the passkey").click()
        expect(tab.get_by_text("Passkey “This laptop” added")).to_be_visible()
        expect(tab.get_by_role("cell", name="This laptop", exact=True)).to_be_visible()
        shoot("account-with-passkey")
        assert [key.name for key in passkeys_of(app, email)] == ["This laptop"]
        with tab.expect_navigation():
            tab.get_by_role("button", name="Sign out").click()
        sign_in_with_password()
        expect(tab.get_by_role("button", name="Use a passkey")).to_be_visible()
        shoot("code-step")
        with tab.expect_navigation():
            tab.get_by_role("button", name="Use a passkey").click()
        expect(tab.get_by_role("heading", name="Studies")).to_be_visible()
        assert json.loads(_events(app, "login")[-1].details_json)["factor"] == "passkey"
        [used] = passkeys_of(app, email)
        assert used.last_used_at is not None
    finally:
        context.close()
