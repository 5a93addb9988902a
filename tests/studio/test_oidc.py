"""Single sign-on with OpenID Connect, against the small provider of ``oidc_provider.py`` on 127.0.0.1.

The studio is driven through the Flask test client; the provider is real HTTP. A sign-in follows the redirects
across the two servers as a browser would: the studio sends the browser to the provider's ``/authorize``, the
provider (which approves its configured person at once) sends it back to the studio's callback, and the studio
exchanges the code with the provider over HTTP (PKCE verified by the provider) and checks the ID token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from elicit.config import BadSetting, from_environment
from elicit.models import AuditEvent, Role, User
from elicit.studio.oidc import (
    UNUSABLE_PASSWORD,
    OidcSettingError,
    OidcSettings,
    mapped_role,
    settings_from_environment,
)
from tests.conftest import ARTIFACTS, make_test_app
from tests.studio.conftest import PASSWORD, csrf, make_user, post, sign_in_directly
from tests.studio.oidc_provider import Person, Provider

CLIENT_ID = "elicit-studio"
CLIENT_SECRET = "provider-given-secret-0123456789"  # noqa: S105 - the test provider's
CALLBACK = "http://elicit.test/studio/login/oidc/callback"
ROLES = (("elicit-admins", Role.ADMIN), ("elicit-research", Role.RESEARCHER), ("elicit-view", Role.VIEWER))


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """One provider for the module (an RSA key is made once); each test resets what it will say."""
    running = Provider(CLIENT_ID, CLIENT_SECRET, [CALLBACK]).start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_provider(provider: Provider) -> None:
    provider.reset()


def settings_for(provider: Provider, **changes: Any) -> OidcSettings:
    values: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "name": "Example University",
        "domains": frozenset({"example.org"}),
        "role_claim": "groups",
        "roles": ROLES,
        "allow_password": True,
    }
    values.update(changes)
    return OidcSettings(**values)


@pytest.fixture
def sso_app(database_url: str, tmp_path: Path, provider: Provider) -> Iterator[Flask]:
    application = make_test_app(database_url, tmp_path, OIDC=settings_for(provider))
    yield application
    application.extensions["elicit.db"][0].dispose()


@pytest.fixture
def sso(sso_app: Flask) -> FlaskClient:
    return sso_app.test_client()


def start(client: FlaskClient, next_path: str | None = None) -> str:
    """Press "Sign in with ...": the provider's authorization URL the studio redirects to."""
    response = client.get("/studio/login/oidc", query_string={"next": next_path} if next_path else None)
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    return response.headers["Location"]


def at_provider(authorize_url: str) -> str:
    """The browser at the provider: the callback URL it is sent back to (the studio's, with code and state)."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return location


def back_at_studio(client: FlaskClient, callback_url: str) -> Any:
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: FlaskClient, next_path: str | None = None) -> Any:
    """The whole round trip; the studio's answer to the callback."""
    return back_at_studio(client, at_provider(start(client, next_path)))


def signed_in_as(client: FlaskClient) -> str | None:
    page = client.get("/studio/account")
    if page.status_code != 200:
        return None
    text = page.get_data(as_text=True)
    return text


def users(app: Flask) -> list[User]:
    from elicit.db import db

    with app.app_context():
        found = list(db.session.scalars(select(User).order_by(User.id)))
        db.session.expunge_all()  # readable after the app context ends
        return found


def events(app: Flask, action: str | None = None) -> list[AuditEvent]:
    from elicit.db import db

    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def make_sso_admin(app: Flask) -> int:
    """An administrator who signs in with single sign-on (so the provider, not the studio, asks a second factor)."""
    from elicit.db import db

    admin = make_user(app, "admin@example.org", Role.ADMIN)
    with app.app_context():
        user = db.session.get(User, admin)
        assert user is not None
        user.password_hash, user.oidc_issuer, user.oidc_subject = (
            UNUSABLE_PASSWORD,
            "http://idp.test",
            "admin",
        )
        db.session.commit()
    return admin


def details(event: AuditEvent) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(event.details_json)
    return result


# -- settings -----------------------------------------------------------------------------------------------------

FULL_ENV = {
    "ELICIT_OIDC_ISSUER": "https://login.example.org/realms/staff",
    "ELICIT_OIDC_CLIENT_ID": "elicit",
    "ELICIT_OIDC_CLIENT_SECRET": "s3cret",
    "ELICIT_OIDC_NAME": "Example University",
    "ELICIT_OIDC_DOMAINS": "Example.org, @ministry.gov.pk",
    "ELICIT_OIDC_ROLE_CLAIM": "groups",
    "ELICIT_OIDC_ROLES": "elicit-admins=admin, elicit-research=researcher,elicit-view=viewer",
    "ELICIT_OIDC_ALLOW_PASSWORD": "no",
}


def test_settings_from_the_environment() -> None:
    assert settings_from_environment({}) is None
    settings = settings_from_environment(FULL_ENV)
    assert settings is not None
    assert settings.issuer == "https://login.example.org/realms/staff"
    assert settings.metadata_url == "https://login.example.org/realms/staff/.well-known/openid-configuration"
    assert settings.domains == frozenset({"example.org", "ministry.gov.pk"})
    assert dict(settings.roles) == {
        "elicit-admins": Role.ADMIN,
        "elicit-research": Role.RESEARCHER,
        "elicit-view": Role.VIEWER,
    }
    assert settings.allow_password is False
    minimal = settings_from_environment({k: FULL_ENV[k] for k in list(FULL_ENV)[:3]})
    assert minimal is not None
    assert (minimal.name, minimal.domains, minimal.role_claim, minimal.allow_password) == (
        "single sign-on",
        frozenset(),
        None,
        True,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ELICIT_OIDC_ISSUER": "https://login.example.org"}, "ELICIT_OIDC_CLIENT_ID"),
        (
            {"ELICIT_OIDC_ISSUER": "https://login.example.org", "ELICIT_OIDC_CLIENT_ID": "x"},
            "ELICIT_OIDC_CLIENT_SECRET",
        ),
        ({"ELICIT_OIDC_CLIENT_ID": "x", "ELICIT_OIDC_CLIENT_SECRET": "y"}, "ELICIT_OIDC_ISSUER"),
        ({"ELICIT_OIDC_ALLOW_PASSWORD": "0"}, "ELICIT_OIDC_ISSUER"),
        ({**FULL_ENV, "ELICIT_OIDC_ROLES": ""}, "ELICIT_OIDC_ROLES"),
        ({**FULL_ENV, "ELICIT_OIDC_ROLE_CLAIM": ""}, "ELICIT_OIDC_ROLE_CLAIM"),
        ({**FULL_ENV, "ELICIT_OIDC_ROLES": "elicit-admins=root"}, "ELICIT_OIDC_ROLES"),
        ({**FULL_ENV, "ELICIT_OIDC_ROLES": "elicit-admins"}, "ELICIT_OIDC_ROLES"),
        ({**FULL_ENV, "ELICIT_OIDC_ALLOW_PASSWORD": "maybe"}, "ELICIT_OIDC_ALLOW_PASSWORD"),
        ({**FULL_ENV, "ELICIT_OIDC_DOMAINS": "example.org, not a domain"}, "ELICIT_OIDC_DOMAINS"),
        ({**FULL_ENV, "ELICIT_OIDC_ISSUER": "http://login.example.org"}, "ELICIT_OIDC_ISSUER"),
        ({**FULL_ENV, "ELICIT_OIDC_ISSUER": "login.example.org"}, "ELICIT_OIDC_ISSUER"),
        ({**FULL_ENV, "ELICIT_OIDC_ISSUER": "https://[::1"}, "ELICIT_OIDC_ISSUER"),
        ({**FULL_ENV, "ELICIT_OIDC_ISSUER": "https://login.example.org:port"}, "ELICIT_OIDC_ISSUER"),
    ],
)
def test_a_half_or_badly_configured_sign_on_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(OidcSettingError) as caught:
        settings_from_environment(env)
    message = str(caught.value)
    assert named in message and "\n" not in message


def test_the_app_does_not_start_half_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ELICIT_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("ELICIT_OIDC_ISSUER", "https://login.example.org")
    with pytest.raises(BadSetting) as caught:
        from_environment(tmp_path)
    caught.value.show()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ELICIT_OIDC_CLIENT_ID" in err and err.startswith("elicit: error: ")
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    assert from_environment(tmp_path)["OIDC"] == settings_from_environment(FULL_ENV)


def test_http_issuer_only_on_the_loopback() -> None:
    env = {**FULL_ENV, "ELICIT_OIDC_ISSUER": "http://127.0.0.1:8080/realms/x"}
    settings = settings_from_environment(env)
    assert settings is not None and settings.issuer == "http://127.0.0.1:8080/realms/x"


def test_the_highest_mapped_role_wins(provider: Provider) -> None:
    settings = settings_for(provider)
    assert mapped_role(settings, {"groups": ["staff", "elicit-view", "elicit-admins"]}) == Role.ADMIN
    assert mapped_role(settings, {"groups": ["elicit-view", "elicit-research"]}) == Role.RESEARCHER
    assert mapped_role(settings, {"groups": "elicit-view"}) == Role.VIEWER
    assert mapped_role(settings, {"groups": ["staff"]}) is None
    assert mapped_role(settings, {"groups": 7}) is None
    assert mapped_role(settings, {}) is None
    nested = settings_for(provider, role_claim="realm_access.roles")
    assert mapped_role(nested, {"realm_access": {"roles": ["elicit-research"]}}) == Role.RESEARCHER
    assert (
        mapped_role(settings_for(provider, role_claim=None, roles=()), {"groups": ["elicit-admins"]}) is None
    )


# -- the sign-in itself -------------------------------------------------------------------------------------------


def test_sign_in_end_to_end_creates_a_mapped_account(
    sso_app: Flask, sso: FlaskClient, provider: Provider
) -> None:
    authorize = start(sso, "/studio/account")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(provider.issuer + "/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["client_id"] == [CLIENT_ID] and query["redirect_uri"] == [CALLBACK]
    assert "openid" in query["scope"][0].split() and query["nonce"][0] and query["state"][0]
    response = back_at_studio(sso, at_provider(authorize))
    assert response.status_code == 302 and response.headers["Location"] == "/studio/account"
    # the provider checked PKCE: the code was exchanged with the verifier matching the S256 challenge
    assert provider.exchanges == [
        {"code": provider.exchanges[0]["code"], "pkce": "S256", "verifier_sent": True}
    ]
    page = signed_in_as(sso)
    assert page is not None and "alice@example.org" in page
    [user] = users(sso_app)
    assert (user.email, user.role, user.is_active, user.approval_pending) == (
        "alice@example.org",
        Role.RESEARCHER,
        True,
        False,
    )
    assert (user.oidc_issuer, user.oidc_subject) == (provider.issuer, "alice-0001")
    from elicit.users import check_password

    assert user.password_hash == UNUSABLE_PASSWORD and not check_password(user, UNUSABLE_PASSWORD)
    [login] = events(sso_app, "login")
    assert details(login)["method"] == "oidc" and login.target == "alice@example.org"
    [added] = events(sso_app, "user.add")
    assert details(added)["role"] == Role.RESEARCHER
    # signing in again finds the same account by (issuer, subject), even with a new e-mail address
    sso.post("/studio/logout", data={"csrf_token": csrf(sso, "/studio/account")})
    provider.reset(Person(email="alice.example@example.org"))
    assert sign_in(sso).status_code == 302
    [again] = users(sso_app)
    assert again.id == user.id and again.email == "alice.example@example.org"


def test_a_password_cannot_sign_in_to_a_sign_on_account(sso_app: Flask, sso: FlaskClient) -> None:
    assert sign_in(sso).status_code == 302
    fresh = sso_app.test_client()
    for password in (UNUSABLE_PASSWORD, PASSWORD, ""):
        answer = fresh.post(
            "/studio/login",
            data={"email": "alice@example.org", "password": password, "csrf_token": csrf(fresh)},
        )
        assert answer.status_code in (200, 422)
    assert signed_in_as(fresh) is None


def test_next_stays_inside_the_studio(sso: FlaskClient) -> None:
    response = sign_in(sso, "//evil.example/studio/")
    assert response.status_code == 302 and response.headers["Location"] == "/studio/"


def test_the_provider_refuses_a_code_without_the_pkce_verifier(provider: Provider, sso: FlaskClient) -> None:
    callback = at_provider(start(sso))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    stolen = requests.post(
        provider.issuer + "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert stolen.status_code == 400 and "code_verifier" in stolen.json()["error_description"]
    wrong = requests.post(
        provider.issuer + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": "x" * 64,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert provider.exchanges == []
    # the studio, holding the verifier, still can
    assert back_at_studio(sso, callback).status_code == 302
    assert provider.exchanges[0]["pkce"] == "S256"


BAD_TOKENS = [
    ("audience", {}, 400, "could not be verified", "aud"),
    # Authlib alone lets this one through (it checks aud only through azp): Elicit asks for its client id in aud
    ("audience", {"azp": CLIENT_ID}, 400, "could not be verified", "aud"),
    ("audiences", {}, 400, "could not be verified", "azp"),
    ("audiences", {"azp": "another-application"}, 400, "could not be verified", "azp"),
    ("issuer", {}, 400, "could not be verified", "iss"),
    ("nonce", {}, 400, "could not be verified", "nonce"),
    ("expired", {}, 400, "could not be verified", "expired"),
    ("signature", {}, 400, "could not be verified", "signature"),
    ("unverified", {}, 403, "not verified", "e-mail not verified"),
    ("domain", {}, 403, "elsewhere.example", "domain not allowed"),
]
BAD_IDS = [defect + ("-azp-" + str(extra["azp"]) if extra else "") for defect, extra, *_rest in BAD_TOKENS]


@pytest.mark.parametrize(("defect", "extra", "status", "says", "reason"), BAD_TOKENS, ids=BAD_IDS)
def test_a_bad_id_token_is_refused(
    sso_app: Flask,
    sso: FlaskClient,
    provider: Provider,
    defect: str,
    extra: dict[str, str],
    status: int,
    says: str,
    reason: str,
) -> None:
    provider.defects = {defect}
    provider.extra_claims = dict(extra)
    response = sign_in(sso)
    text = response.get_data(as_text=True)
    assert response.status_code == status, text[:2000]
    assert "Not signed in" in text and says in text
    assert "Sign in with Example University" in text  # the sign-in page, to try again
    assert signed_in_as(sso) is None
    assert users(sso_app) == []
    assert events(sso_app, "login") == [] and events(sso_app, "user.add") == []
    [failed] = events(sso_app, "login.failed")
    assert details(failed)["method"] == "oidc" and reason in json.dumps(details(failed))
    [minted] = provider.id_tokens
    stored = " ".join(e.details_json + e.target + e.actor for e in events(sso_app))
    assert all(part not in stored for part in minted.split("."))  # never the token, nor any part of it


def test_several_audiences_with_our_azp_are_accepted(sso_app: Flask, provider: Provider) -> None:
    """``azp`` naming this client makes a multi-audience token acceptable (OpenID Connect Core 3.1.3.7)."""
    provider.defects = {"audiences"}
    provider.extra_claims = {"azp": CLIENT_ID}
    assert sign_in(sso_app.test_client()).status_code == 302


def test_a_state_from_another_browser_is_refused(sso_app: Flask, sso: FlaskClient) -> None:
    """Login CSRF: a callback made for one browser (the attacker's) does not sign in another (the victim's)."""
    attacker = sso_app.test_client()
    callback = at_provider(start(attacker))
    victim = sso
    start(victim)  # the victim's own sign-in in progress does not help either
    response = back_at_studio(victim, callback)
    assert response.status_code == 400
    assert "could not be matched" in response.get_data(as_text=True)
    assert signed_in_as(victim) is None and users(sso_app) == []
    [failed] = events(sso_app, "login.failed")
    assert details(failed)["reason"] == "state mismatch"


def test_a_tampered_or_replayed_state_is_refused(sso_app: Flask, sso: FlaskClient) -> None:
    callback = at_provider(start(sso))
    tampered = callback.replace("state=", "state=x")
    assert back_at_studio(sso, tampered).status_code == 400
    # the genuine answer still works once, and a replay of it does not
    fresh = at_provider(start(sso))
    assert back_at_studio(sso, fresh).status_code == 302
    sso.post("/studio/logout", data={"csrf_token": csrf(sso, "/studio/account")})
    assert back_at_studio(sso, fresh).status_code == 400
    assert signed_in_as(sso) is None


def test_a_refusal_at_the_provider_is_shown(sso_app: Flask, sso: FlaskClient) -> None:
    authorize = start(sso)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    response = sso.get("/studio/login/oidc/callback", query_string={"error": "access_denied", "state": state})
    assert response.status_code == 400
    assert "access_denied" in response.get_data(as_text=True)
    [failed] = events(sso_app, "login.failed")
    assert "access_denied" in failed.details_json


def test_an_unreachable_provider_is_a_clear_503(
    database_url: str, tmp_path: Path, provider: Provider
) -> None:
    app = make_test_app(
        database_url, tmp_path, OIDC=settings_for(provider, issuer="http://127.0.0.1:9/nothing-here")
    )
    response = app.test_client().get("/studio/login/oidc")
    assert response.status_code == 503
    assert "identity provider cannot be reached" in response.get_data(as_text=True)
    app.extensions["elicit.db"][0].dispose()


def test_a_discovery_document_of_another_issuer_is_refused(sso: FlaskClient, provider: Provider) -> None:
    provider.defects = {"discovery-issuer"}
    response = sso.get("/studio/login/oidc")
    assert response.status_code == 503
    assert "not set up correctly" in response.get_data(as_text=True)


# -- accounts: roles, approval, linking --------------------------------------------------------------------------


def test_mapped_roles_follow_the_provider_at_each_sign_in(
    sso_app: Flask, sso: FlaskClient, provider: Provider
) -> None:
    assert sign_in(sso).status_code == 302
    provider.reset(Person(groups=["elicit-view", "elicit-admins"]))
    assert sign_in(sso_app.test_client()).status_code == 302
    [user] = users(sso_app)
    assert user.role == Role.ADMIN
    [change] = [e for e in events(sso_app, "user.update") if "role" in details(e)]
    assert details(change)["role"] == [Role.RESEARCHER, Role.ADMIN]
    # a sign-in whose claim maps no role keeps the role an administrator or an earlier claim gave
    provider.reset(Person(groups=["staff"]))
    assert sign_in(sso_app.test_client()).status_code == 302
    assert users(sso_app)[0].role == Role.ADMIN
    assert len([e for e in events(sso_app, "user.update") if "role" in details(e)]) == 1


def test_a_first_sign_in_without_a_mapped_role_waits_for_an_administrator(
    sso_app: Flask, sso: FlaskClient, provider: Provider
) -> None:
    provider.reset(Person(subject="bob-7", email="bob@example.org", groups=["staff"]))
    response = sign_in(sso)
    assert response.status_code == 403
    assert "waiting for an administrator" in response.get_data(as_text=True)
    assert signed_in_as(sso) is None
    [bob] = users(sso_app)
    assert (bob.is_active, bob.approval_pending, bob.oidc_subject) == (False, True, "bob-7")
    assert sign_in(sso_app.test_client()).status_code == 403  # still waiting; no second account
    assert len(users(sso_app)) == 1

    admin = make_sso_admin(sso_app)
    desk = sso_app.test_client()
    sign_in_directly(sso_app, desk, admin)
    listing = desk.get("/studio/users").get_data(as_text=True)
    assert "Waiting for approval" in listing and "bob@example.org" in listing
    assert f"/studio/users/{bob.id}/approve" in listing and f"/studio/users/{bob.id}/refuse" in listing
    page = desk.get(f"/studio/users/{bob.id}/approve")
    assert page.status_code == 200 and 'name="role"' in page.get_data(as_text=True)
    assert desk.post(f"/studio/users/{bob.id}/approve", data={"role": "viewer"}).status_code == 400  # no CSRF
    assert post(desk, f"/studio/users/{bob.id}/approve", {}, page="/studio/users").status_code == 422
    done = post(desk, f"/studio/users/{bob.id}/approve", {"role": "researcher"}, page="/studio/users")
    assert done.status_code == 302
    [approved] = [u for u in users(sso_app) if u.email == "bob@example.org"]
    assert (approved.is_active, approved.approval_pending, approved.role) == (True, False, Role.RESEARCHER)
    [event] = events(sso_app, "user.approve")
    assert event.actor == "admin@example.org" and details(event)["role"] == Role.RESEARCHER
    assert sign_in(sso_app.test_client()).status_code == 302
    assert "Waiting for approval" not in desk.get("/studio/users").get_data(as_text=True)


def test_a_refused_account_stays_refused(sso_app: Flask, provider: Provider) -> None:
    provider.reset(Person(subject="eve-1", email="eve@example.org", groups=[]))
    assert sign_in(sso_app.test_client()).status_code == 403
    [eve] = users(sso_app)
    admin = make_sso_admin(sso_app)
    desk = sso_app.test_client()
    sign_in_directly(sso_app, desk, admin)
    confirm = desk.get(f"/studio/users/{eve.id}/refuse")
    assert confirm.status_code == 200 and "Refuse" in confirm.get_data(as_text=True)
    unconfirmed = post(desk, f"/studio/users/{eve.id}/refuse", {}, page="/studio/users")
    assert unconfirmed.status_code == 422  # the confirmation page again, nothing done
    assert users(sso_app)[0].approval_pending
    refused = post(desk, f"/studio/users/{eve.id}/refuse", {"confirm": "yes"}, page="/studio/users")
    assert refused.status_code == 302
    [after] = [u for u in users(sso_app) if u.email == "eve@example.org"]
    assert (after.is_active, after.approval_pending) == (False, False)
    assert len(events(sso_app, "user.refuse")) == 1
    # even once the provider maps a role, a refused (deactivated) account is not let in
    provider.reset(Person(subject="eve-1", email="eve@example.org", groups=["elicit-admins"]))
    response = sign_in(sso_app.test_client())
    assert response.status_code == 403 and "deactivated" in response.get_data(as_text=True)


def test_a_deactivated_account_stays_refused(sso_app: Flask, sso: FlaskClient) -> None:
    from elicit.db import db

    assert sign_in(sso).status_code == 302
    with sso_app.app_context():
        user = db.session.scalar(select(User))
        assert user is not None
        user.is_active = False
        db.session.commit()
    response = sign_in(sso_app.test_client())
    assert response.status_code == 403 and "deactivated" in response.get_data(as_text=True)
    assert signed_in_as(sso) is None  # the open session ended too


def test_a_pending_account_whose_role_is_mapped_later_is_let_in(sso_app: Flask, provider: Provider) -> None:
    provider.reset(Person(groups=[]))
    assert sign_in(sso_app.test_client()).status_code == 403
    provider.reset(Person(groups=["elicit-view"]))
    assert sign_in(sso_app.test_client()).status_code == 302
    [user] = users(sso_app)
    assert (user.is_active, user.approval_pending, user.role) == (True, False, Role.VIEWER)


def test_an_existing_password_account_is_linked_when_the_role_is_mapped(
    sso_app: Flask, sso: FlaskClient
) -> None:
    from elicit.users import check_password

    existing = make_user(sso_app, "alice@example.org", Role.VIEWER)
    assert sign_in(sso).status_code == 302
    [user] = users(sso_app)
    assert user.id == existing and user.oidc_subject == "alice-0001" and user.role == Role.RESEARCHER
    assert not check_password(user, PASSWORD)  # the password no longer signs in: the provider does
    assert len(events(sso_app, "user.link")) == 1


def test_an_existing_account_without_a_mapped_role_is_linked_only_once_approved(
    sso_app: Flask, provider: Provider
) -> None:
    from elicit.users import check_password

    existing = make_user(sso_app, "alice@example.org", Role.VIEWER)
    provider.reset(Person(groups=[]))
    response = sign_in(sso_app.test_client())
    assert response.status_code == 403 and "waiting for an administrator" in response.get_data(as_text=True)
    [user] = users(sso_app)
    assert (
        user.is_active and user.approval_pending and check_password(user, PASSWORD)
    )  # the password still works
    admin = make_sso_admin(sso_app)
    desk = sso_app.test_client()
    sign_in_directly(sso_app, desk, admin)
    assert (
        post(desk, f"/studio/users/{existing}/approve", {"role": "viewer"}, page="/studio/users").status_code
        == 302
    )
    assert sign_in(sso_app.test_client()).status_code == 302
    [linked] = [u for u in users(sso_app) if u.id == existing]
    assert linked.oidc_subject == "alice-0001" and not linked.approval_pending
    assert not check_password(linked, PASSWORD)


def test_an_account_linked_to_another_identity_is_not_taken_over(sso_app: Flask, provider: Provider) -> None:
    assert sign_in(sso_app.test_client()).status_code == 302
    provider.reset(Person(subject="mallory-2", email="alice@example.org", groups=["elicit-admins"]))
    response = sign_in(sso_app.test_client())
    assert response.status_code == 403 and "another identity" in response.get_data(as_text=True)
    [user] = users(sso_app)
    assert user.oidc_subject == "alice-0001" and user.role == Role.RESEARCHER


def test_a_sign_in_without_an_e_mail_address_is_refused(sso_app: Flask, provider: Provider) -> None:
    provider.reset(Person(email=""))
    response = sign_in(sso_app.test_client())
    assert response.status_code == 403 and "did not give an e-mail address" in response.get_data(as_text=True)
    assert users(sso_app) == []
    assert details(events(sso_app, "login.failed")[0])["reason"] == "no e-mail address"


def test_an_e_mail_address_changed_to_another_accounts_is_refused(sso_app: Flask, provider: Provider) -> None:
    assert sign_in(sso_app.test_client()).status_code == 302
    make_user(sso_app, "carol@example.org", Role.ADMIN)
    provider.reset(Person(email="carol@example.org"))
    response = sign_in(sso_app.test_client())
    assert response.status_code == 403 and "another studio account" in response.get_data(as_text=True)
    emails = sorted(u.email for u in users(sso_app))
    assert emails == ["alice@example.org", "carol@example.org"]


def test_a_source_failing_too_often_is_slowed_without_flooding_the_audit_log(
    database_url: str, tmp_path: Path, provider: Provider
) -> None:
    app = make_test_app(database_url, tmp_path, OIDC=settings_for(provider), STUDIO_SOURCE_FAILURES=3)
    client = app.test_client()
    provider.defects = {"nonce"}
    assert [sign_in(client).status_code for _ in range(3)] == [400, 400, 400]
    provider.reset()
    slowed = back_at_studio(client, at_provider(start(client)))
    assert slowed.status_code == 429 and "Too many" in slowed.get_data(as_text=True)
    assert len(events(app, "login.failed")) == 3 and users(app) == []
    app.extensions["elicit.db"][0].dispose()


def test_only_administrators_approve_or_refuse(sso_app: Flask, provider: Provider) -> None:
    provider.reset(Person(groups=[]))
    sign_in(sso_app.test_client())
    [pending] = users(sso_app)
    researcher = make_user(sso_app, "researcher@example.org", Role.RESEARCHER)
    urls = [f"/studio/users/{pending.id}/approve", f"/studio/users/{pending.id}/refuse"]
    sso_app.config["WTF_CSRF_ENABLED"] = False
    anonymous = sso_app.test_client()
    member = sso_app.test_client()
    sign_in_directly(sso_app, member, researcher)
    for url in urls:
        for method in ("GET", "POST"):
            answer = anonymous.open(url, method=method, data={"role": "admin", "confirm": "yes"})
            assert answer.status_code == 302 and answer.headers["Location"].startswith("/studio/login")
            assert (
                member.open(url, method=method, data={"role": "admin", "confirm": "yes"}).status_code == 403
            )
    assert users(sso_app)[0].approval_pending
    # every route of the sign-on blueprint is in this test or the ones above
    routes = {
        (r.endpoint, m)
        for r in sso_app.url_map.iter_rules()
        if r.endpoint.startswith("studio.sso.")
        for m in r.methods or ()
    }
    assert {e for e, m in routes if m in {"GET", "POST"}} == {
        "studio.sso.login",
        "studio.sso.callback",
        "studio.sso.approve_page",
        "studio.sso.approve",
        "studio.sso.refuse_confirm",
        "studio.sso.refuse",
    }


# -- the sign-in page ---------------------------------------------------------------------------------------------


def test_the_sign_in_page_offers_the_button(sso: FlaskClient, client: FlaskClient) -> None:
    page = sso.get("/studio/login?next=/studio/account").get_data(as_text=True)
    assert 'href="/studio/login/oidc?next=/studio/account"' in page.replace("%2F", "/")
    assert "Sign in with Example University" in page and 'name="password"' in page
    plain = client.get("/studio/login").get_data(as_text=True)
    assert "/studio/login/oidc" not in plain
    assert client.get("/studio/login/oidc").status_code == 404  # no sign-on configured: no such address


def test_password_sign_in_can_be_turned_off(database_url: str, tmp_path: Path, provider: Provider) -> None:
    app = make_test_app(database_url, tmp_path, OIDC=settings_for(provider, allow_password=False))
    make_user(app, "admin@example.org", Role.ADMIN)
    client = app.test_client()
    page = client.get("/studio/login").get_data(as_text=True)
    assert "Sign in with Example University" in page and 'name="password"' not in page
    assert "Signing in with a password is turned off" in page
    app.config["WTF_CSRF_ENABLED"] = False  # the page has no form to take a token from
    answer = client.post("/studio/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert answer.status_code == 403 and "turned off" in answer.get_data(as_text=True)
    assert signed_in_as(client) is None
    with app.app_context():
        from elicit.db import db

        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login")
            )
            == 0
        )
    assert sign_in(client).status_code == 302  # single sign-on still works
    app.extensions["elicit.db"][0].dispose()


def test_the_sign_on_pages_are_studio_pages(sso_app: Flask, provider: Provider) -> None:
    """They run the studio's hooks: here, an administrator who signs in with a password and has no second factor
    yet is sent to set one up first, from the approval pages as from every studio page."""
    provider.reset(Person(groups=[]))
    sign_in(sso_app.test_client())
    [pending] = users(sso_app)
    admin = make_user(sso_app, "admin@example.org", Role.ADMIN, second_factor=False)  # a second factor is due
    desk = sso_app.test_client()
    sign_in_directly(sso_app, desk, admin)
    held = desk.get(f"/studio/users/{pending.id}/approve")
    assert held.status_code == 302 and "/studio/account/two-factor" in held.headers["Location"]
    assert {r.endpoint.rpartition(".")[0] for r in sso_app.url_map.iter_rules() if "/oidc" in r.rule} == {
        "studio.sso"
    }


OVERFLOW_JS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.mark.browser
@pytest.mark.rendering
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_the_sign_on_pages_at_360_and_1280_px(
    database_url: str, tmp_path: Path, provider: Provider, browser: Any, axe_source: str, javascript: bool
) -> None:
    """Screenshots to look at (sign-in page, a refusal, waiting, the administrator's approval pages, password
    sign-in off), each fitting 360 and 1280 px and passing axe; and the whole flow by the button in the browser,
    with or without JavaScript: refused, waiting, approved by an administrator, signed in."""
    import dataclasses
    import threading

    from playwright.sync_api import expect
    from werkzeug.serving import make_server

    from tests.conftest import axe_violations

    app = make_test_app(database_url, tmp_path, OIDC=settings_for(provider))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    provider.client.redirect_uris.append(base + "/studio/login/oidc/callback")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    suffix = "js" if javascript else "nojs"
    problems: list[str] = []

    def look(tab: Any, name: str) -> None:
        for width in (360, 1280):
            tab.set_viewport_size({"width": width, "height": 800})
            if not tab.evaluate(OVERFLOW_JS):
                problems.append(f"{name} overflows at {width} px")
            if javascript:
                problems.extend(f"{name} @{width}: {v['id']}" for v in axe_violations(tab, axe_source))
            tab.screenshot(path=str(ARTIFACTS / f"studio-sso-{name}-{width}-{suffix}.png"), full_page=True)

    def follow(tab: Any, target: Any) -> None:
        """Click a link or button and wait for the page it leads to: reading the page at once can catch the
        navigation mid-way (no document yet, or the old one)."""
        with tab.expect_navigation():
            target.click()

    def browser_tab() -> Any:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=javascript, bypass_csp=True
        )
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        return tab

    button = "Sign in with Example University"
    try:
        tab = browser_tab()
        tab.goto(base + "/studio/login")
        look(tab, "login")
        provider.reset(Person(subject="bob-1", email="bob@elsewhere.example", groups=["elicit-view"]))
        follow(tab, tab.get_by_role("link", name=button))
        assert "may not sign in to this studio" in tab.content()
        look(tab, "refused")
        provider.reset(Person(subject="bob-1", email="bob@example.org", groups=[]))
        follow(tab, tab.get_by_role("link", name=button))
        assert "Waiting for an administrator" in tab.content()
        look(tab, "waiting")

        desk = browser_tab()
        provider.reset(Person(subject="admin-1", email="admin@example.org", groups=["elicit-admins"]))
        desk.goto(base + "/studio/login")
        follow(desk, desk.get_by_role("link", name=button))
        desk.wait_for_url(base + "/studio/")
        desk.goto(base + "/studio/users")
        look(desk, "users-waiting")
        follow(desk, desk.get_by_role("link", name="Refuse bob@example.org"))
        look(desk, "refuse")
        follow(desk, desk.get_by_role("link", name="Cancel"))
        follow(desk, desk.get_by_role("link", name="Approve bob@example.org"))
        look(desk, "approve")
        desk.get_by_label("Researcher — manages the studies they are a member of").check()
        follow(desk, desk.get_by_role("button", name="Approve bob@example.org"))
        expect(desk.get_by_text("is approved as researcher")).to_be_visible()

        provider.reset(Person(subject="bob-1", email="bob@example.org", groups=[]))
        tab.goto(base + "/studio/login")
        follow(tab, tab.get_by_role("link", name=button))
        tab.wait_for_url(base + "/studio/")
        assert "bob@example.org" in tab.content()

        app.config["OIDC"] = dataclasses.replace(app.config["OIDC"], allow_password=False)
        fresh = browser_tab()
        fresh.goto(base + "/studio/login")
        assert fresh.get_by_label("Password").count() == 0
        look(fresh, "login-sso-only")
        for page in (tab, desk, fresh):
            page.context.close()
    finally:
        provider.client.redirect_uris.remove(base + "/studio/login/oidc/callback")
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["elicit.db"][0].dispose()
    assert not problems, "\n".join(problems)
