"""Security review as tests (issue 9): headers, CSRF, session cookies, fresh sessions and bandit, app-wide.

The route lists come from ``app.url_map``, so a new route is covered (or fails) without anyone editing this file.
The studio's own authorization matrix and CSRF check live in tests/studio/test_authorization.py; logout and
password changes killing copied cookies are in tests/studio/test_accounts.py
(``test_sign_in_and_out_with_a_cli_made_account``, ``test_change_own_password_ends_other_sessions``,
``test_session_is_renewed_at_login``). This file does not repeat them; it extends the checks to the whole app.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from tests.conftest import ROOT, StudyHandle, make_test_app
from tests.studio.conftest import PASSWORD, csrf, csrf_from, login, make_user, sign_in_directly

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# The only blueprint without CSRF protection. Its reason: the JSON API authenticates with a bearer token in the
# Authorization header, which a browser never attaches on its own, and it ignores the session cookie (checked in
# test_the_api_is_the_only_csrf_exemption_and_ignores_the_session_cookie), so a cross-site form cannot act as a user.
CSRF_EXEMPT_BLUEPRINTS = {"api": "bearer-token JSON API; no cookie authentication, so no CSRF"}

# How a CSRF refusal reads: the studio's own page, or Flask-WTF's description on the generic error page. A 400
# for any other reason (a form error) does not count as a refusal.
CSRF_REFUSALS = ("This form has expired", "The CSRF token is missing")

# --------------------------------------------------------------------------------------------------- helpers


def _url_values(app: Flask, study: StudyHandle, token: str, page_id: str, admin_id: int) -> dict[str, object]:
    """Plausible values for every URL variable in the map; a new variable name fails loudly below."""
    from elicit.db import db
    from elicit.models import Invitation, MailKind, Study
    from elicit.studio.mailjobs import create_job

    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id).order_by(Invitation.id))
        handle = db.session.scalar(select(Study).where(Study.slug == study.slug))
        job_id = create_job(db.session, handle, MailKind.INVITE, "nothing", "test", []).id
        from elicit.studies import import_roster, parse_roster

        roster = "name,email,organisation,cohort\nHeader Person,header.person@example.org,,UK\n"
        entry_id = import_roster(db.session, handle, parse_roster(roster, handle))[0].roster_entry.id
        db.session.commit()
    return {
        "entry_id": entry_id,
        "job_id": job_id,
        "submission_id": 1,
        "passkey_id": 1,  # none exists: its pages answer 404, with the headers all the same
        "slug": study.slug,
        "token": token,
        "page_id": page_id,
        "key": "defence-diplomacy",
        "version": "1.0.0",
        "language": "en",
        "invitation_id": invitation_id,
        "user_id": admin_id,
        "name": "missing.eml",
        "filename": "elicit.css",
        "rest": "no-such-endpoint",
    }


def _url(app: Flask, rule: Rule, values: dict[str, object]) -> str:
    missing = rule.arguments - set(values)
    assert not missing, f"{rule.rule}: no test value for URL variable(s) {sorted(missing)}; add one above"
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def _started_expert(app: Flask, study: StudyHandle) -> tuple[FlaskClient, str, str]:
    """A browser whose expert has started a response: (client, token, first page id)."""
    token = study.invite("UK")[0]
    expert = app.test_client()
    landing = expert.get(f"/s/{token}")
    assert landing.status_code == 200
    response = expert.post(
        f"/s/{token}", data={"language": "en", "csrf_token": csrf_from(landing.get_data(as_text=True))}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    match = re.search(r"/s/[^/]+/p/([^/?]+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return expert, token, match.group(1)


def _assert_security_headers(response, what: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp, f"{what}: CSP {csp!r} lacks {directive!r}"
    assert headers.get("X-Content-Type-Options") == "nosniff", f"{what}: no nosniff"
    assert headers.get("Referrer-Policy") == "no-referrer", (
        f"{what}: Referrer-Policy {headers.get('Referrer-Policy')}"
    )


def _snapshot(app: Flask) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to show that refused requests change nothing."""
    from elicit.db import Base, db

    with app.app_context():
        return {
            table.name: sorted(
                (tuple(row) for row in db.session.execute(select(table))), key=lambda row: repr(row)
            )
            for table in Base.metadata.sorted_tables
        }


# --------------------------------------------------------------------------------------------------- 1. headers


def test_every_route_answers_with_the_security_headers(app: Flask, study: StudyHandle) -> None:
    admin_id = make_user(app, "admin@example.org", "admin")
    expert, token, page_id = _started_expert(app, study)
    values = _url_values(app, study, token, page_id, admin_id)
    admin = app.test_client()
    sign_in_directly(app, admin, admin_id)
    anonymous = app.test_client()
    rules = list(app.url_map.iter_rules())
    assert {rule.endpoint.partition(".")[0] for rule in rules} >= {"static", "survey", "studio", "api"}
    statuses = set()
    for rule in rules:
        url = _url(app, rule, values)
        for who, client in (("anonymous", anonymous), ("admin", admin), ("expert", expert)):
            # A GET of every rule: POST-only rules answer 405, which must carry the headers too.
            response = client.get(url)
            statuses.add(response.status_code)
            _assert_security_headers(response, f"{who} GET {url} ({response.status_code})")
    assert {200, 302, 405} <= statuses

    # Error pages of every kind, HTML and JSON.
    errors = {
        "404 page": anonymous.get("/no/such/page"),
        "404 survey link": anonymous.get("/s/not-a-real-token"),
        "400 no CSRF token": anonymous.post("/studio/login", data={"email": "x", "password": "y"}),
        "400 malformed form": anonymous.post(
            "/studio/login",
            data=b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
            content_type="multipart/form-data; boundary=b",
        ),
        "401 API": anonymous.get("/api/v1/studies"),
        "404 API": anonymous.get("/api/v1/no-such-endpoint"),
        "405 API": anonymous.post("/api/v1/studies"),
    }
    for what, response in errors.items():
        expected = int(what.split()[0])
        assert response.status_code == expected, f"{what}: {response.status_code}"
        if "API" in what:
            assert response.is_json and "error" in response.get_json(), what
        _assert_security_headers(response, what)


# --------------------------------------------------------------------------------------------------- 2. CSRF


def _state_changing_routes(app: Flask) -> list[tuple[Rule, str]]:
    return sorted(
        (
            (rule, method)
            for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) & STATE_CHANGING
            if rule.endpoint.partition(".")[0] not in CSRF_EXEMPT_BLUEPRINTS
        ),
        key=lambda pair: (pair[0].rule, pair[1]),
    )


def test_every_state_changing_route_refuses_a_post_without_csrf_token(app: Flask, study: StudyHandle) -> None:
    admin_id = make_user(app, "admin@example.org", "admin")
    expert, token, page_id = _started_expert(app, study)
    values = _url_values(app, study, token, page_id, admin_id)
    admin = app.test_client()
    routes = _state_changing_routes(app)
    blueprints = {rule.endpoint.partition(".")[0] for rule, _method in routes}
    assert {"studio", "survey"} <= blueprints and len(routes) >= 25, routes

    before = _snapshot(app)
    failures = []
    for rule, method in routes:
        url = _url(app, rule, values)
        # The survey's routes as the expert with a started response; everything else as a signed-in admin.
        if rule.endpoint.startswith("survey."):
            client = expert
            form = {"nav": "submit" if url.endswith("/review") else "next", "language": "en"}
        else:
            client = admin
            sign_in_directly(app, client, admin_id)
            form = {"email": "new@example.org", "format": "csv", "password": PASSWORD, "role": "viewer"}
        response = client.open(url, method=method, data=form)
        body = response.get_data(as_text=True)
        if response.status_code != 400 or not any(sign in body for sign in CSRF_REFUSALS):
            failures.append(f"{method} {url} ({rule.endpoint}): {response.status_code}")
    assert not failures, "state-changing routes that accept a request without a CSRF token:\n" + "\n".join(
        failures
    )
    assert _snapshot(app) == before, "a request refused for its missing CSRF token changed the database"


def test_the_api_is_the_only_csrf_exemption_and_ignores_the_session_cookie(
    app: Flask, study: StudyHandle
) -> None:
    protect = app.extensions["csrf"]
    assert protect._exempt_views == set(), "a view was exempted from CSRF with @csrf.exempt"
    assert {blueprint.name for blueprint in protect._exempt_blueprints} == set(CSRF_EXEMPT_BLUEPRINTS)
    # Why the exemption is safe: the API never takes a browser's session as authentication.
    admin = app.test_client()
    sign_in_directly(app, admin, make_user(app, "admin@example.org", "admin"))
    assert admin.get("/studio/").status_code == 200
    for path in ("/api/v1/studies", f"/api/v1/studies/{study.slug}", f"/api/v1/studies/{study.slug}/export"):
        response = admin.get(path)
        assert response.status_code == 401 and response.is_json, path
    assert admin.post("/api/v1/studies").status_code in {401, 405}


# --------------------------------------------------------------------------------------------------- 3. cookies


def _set_cookies(response) -> list[str]:
    return [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]


def _cookie_flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def _referer(base_url: str, path: str) -> dict[str, str]:
    """Flask-WTF refuses an HTTPS POST without a same-origin Referer (WTF_CSRF_SSL_STRICT)."""
    return {"Referer": base_url + path} if base_url.startswith("https:") else {}


def _expert_and_studio_cookies(app: Flask, study: StudyHandle, base_url: str) -> dict[str, str]:
    make_user(app, "researcher@example.org", "researcher")
    token = study.invite("UK")[0]
    expert = app.test_client()
    landing = expert.get(f"/s/{token}", base_url=base_url)
    started = expert.post(
        f"/s/{token}",
        data={"language": "en", "csrf_token": csrf_from(landing.get_data(as_text=True))},
        base_url=base_url,
        headers=_referer(base_url, f"/s/{token}"),
    )
    assert started.status_code == 303
    studio = app.test_client()
    form_page = studio.get("/studio/login", base_url=base_url)
    signed_in = studio.post(
        "/studio/login",
        data={
            "email": "researcher@example.org",
            "password": PASSWORD,
            "csrf_token": csrf_from(form_page.get_data(as_text=True)),
        },
        base_url=base_url,
        headers=_referer(base_url, "/studio/login"),
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:1000]
    cookies = {"expert": _set_cookies(started), "studio": _set_cookies(signed_in)}
    for who, values in cookies.items():
        assert len(values) == 1, f"{who}: expected one session cookie, got {values}"
    return {who: values[0] for who, values in cookies.items()}


def test_session_cookies_are_httponly_and_samesite_lax(app: Flask, study: StudyHandle) -> None:
    for who, cookie in _expert_and_studio_cookies(app, study, "http://localhost").items():
        flags = _cookie_flags(cookie)
        assert "httponly" in flags and "samesite=lax" in flags, f"{who}: {cookie}"
        assert "secure" not in flags, f"{who}: Secure without SESSION_COOKIE_SECURE: {cookie}"
    assert "Strict-Transport-Security" not in app.test_client().get("/studio/login").headers


def test_secure_cookies_setting_adds_secure_flag_and_hsts(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elicit.config import from_environment

    monkeypatch.setenv("ELICIT_SECURE_COOKIES", "true")
    monkeypatch.setenv("ELICIT_SECRET_KEY", "from-the-environment")
    assert from_environment(tmp_path)["SESSION_COOKIE_SECURE"] is True

    app = make_test_app(database_url, tmp_path, SESSION_COOKIE_SECURE=True)
    try:
        study = _publish_study(app)
        for who, cookie in _expert_and_studio_cookies(app, study, "https://localhost").items():
            flags = _cookie_flags(cookie)
            assert {"secure", "httponly", "samesite=lax"} <= flags, f"{who}: {cookie}"
        for path in ("/studio/login", "/no/such/page", "/api/v1/studies", "/static/elicit.css"):
            response = app.test_client().get(path, base_url="https://localhost")
            assert response.headers.get("Strict-Transport-Security", "").startswith("max-age="), path
    finally:
        app.extensions["elicit.db"][0].dispose()


def test_https_form_post_works_as_a_browser_sends_it(database_url: str, tmp_path: Path) -> None:
    app = make_test_app(database_url, tmp_path, SESSION_COOKIE_SECURE=True)
    try:
        make_user(app, "researcher@example.org", "researcher")
        browser = app.test_client()
        page = browser.get("/studio/login", base_url="https://localhost")
        policy = page.headers["Referrer-Policy"]
        # What a browser sends under that policy for a same-origin form submission:
        referer = {} if policy == "no-referrer" else {"Referer": "https://localhost/studio/login"}
        response = browser.post(
            "/studio/login",
            data={
                "email": "researcher@example.org",
                "password": PASSWORD,
                "csrf_token": csrf_from(page.get_data(as_text=True)),
            },
            base_url="https://localhost",
            headers=referer,
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    finally:
        app.extensions["elicit.db"][0].dispose()


def _publish_study(app: Flask) -> StudyHandle:
    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.studies import create_study
    from tests.conftest import FLAGSHIP

    with app.app_context():
        version, _ = publish_version(db.session, load_file(FLAGSHIP), "test")
        create_study(db.session, "dd-test", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, "dd-test")


# --------------------------------------------------------------------------------------------------- 4. fixation


def test_the_pre_login_cookie_is_not_a_signed_in_session(app: Flask) -> None:
    """No session fixation: whoever holds the cookie from before the sign-in (planted, or read off the login
    page) is not signed in, and its CSRF token is void afterwards. (A planted session key being dropped, and
    logout killing a copied signed-in cookie, are tested in tests/studio/test_accounts.py.)"""
    make_user(app, "researcher@example.org", "researcher")
    victim = app.test_client()
    token = csrf(victim)  # visiting /studio/login sets a session cookie (it holds the CSRF token)
    before = victim.get_cookie("session")
    assert before is not None
    response = victim.post(
        "/studio/login", data={"email": "researcher@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302 and victim.get("/studio/").status_code == 200
    after = victim.get_cookie("session")
    assert after is not None and after.value != before.value

    attacker = app.test_client()
    attacker.set_cookie("session", before.value)
    response = attacker.get("/studio/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/studio/login")
    # The CSRF token of the pre-login session does not authorize anything in the signed-in one.
    assert victim.post("/studio/logout", data={"csrf_token": token}).status_code == 400
    assert victim.get("/studio/").status_code == 200


def test_logout_kills_the_cookie_for_post_requests_too(app: Flask) -> None:
    """test_accounts checks a copied cookie is refused for a GET after logout; a POST with it (and the CSRF
    token of that session) must be refused as well, before it can change anything."""
    from elicit.db import db
    from elicit.models import User

    user_id = make_user(app, "admin@example.org", "admin")
    client = login(app.test_client(), "admin@example.org")
    page = client.get("/studio/users").get_data(as_text=True)
    copied, form_token = client.get_cookie("session"), csrf_from(page)
    assert copied is not None
    assert client.post("/studio/logout", data={"csrf_token": form_token}).status_code == 302
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None and user.session_version >= 1

    thief = app.test_client()
    thief.set_cookie("session", copied.value)
    response = thief.post(
        "/studio/users", data={"email": "mallory@example.org", "role": "admin", "csrf_token": form_token}
    )
    assert response.status_code == 302 and response.headers["Location"].startswith("/studio/login")
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.email == "mallory@example.org")) is None


# --------------------------------------------------------------------------------------------------- 5. bandit

NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
# `# nosec B101  # reason`: the reason sits in a comment of its own, so bandit does not read its words as test ids.
JUSTIFIED = re.compile(r"^\s+B\d{3}(,\s*B\d{3})*\s+#\s+\S.{8,}")


def test_bandit_reports_no_unjustified_finding() -> None:
    bandit = Path(sys.executable).with_name("bandit")
    result = subprocess.run(
        [str(bandit), "-q", "-c", "pyproject.toml", "-r", "src/elicit", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(result.stdout)
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]
    ]
    assert not findings, (
        "bandit findings (fix them, or justify with `# nosec B<id>  # reason`):\n" + "\n".join(findings)
    )
    assert not report["errors"], report["errors"]
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_nosec_names_the_test_and_gives_a_reason() -> None:
    """A bare ``# nosec`` would hide every future finding on its line; each must name its test and say why."""
    bad = []
    for path in sorted((ROOT / "src" / "elicit").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = NOSEC.search(line)
            if match and not JUSTIFIED.match(match.group("rest")):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bad, "nosec without `B<id>  # reason`:\n" + "\n".join(bad)


def test_bandit_runs_in_make_lint_with_the_pyproject_config() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/bandit -q -c pyproject.toml -r src/elicit" in lint
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["bandit"]
    assert "tests" in config["exclude_dirs"]
    assert not config.get("skips"), (
        "a bandit skip needs a written reason next to it; prefer a line-level nosec"
    )
