"""Studio fixtures: users of every role, a published flagship study, signing in, CSRF tokens, simulated experts."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import ARTIFACTS, FLAGSHIP, axe_violations

PASSWORD = "correct horse battery"
# The authenticator app secret of every administrator these fixtures make: administrators must sign in with a
# second factor, so each has one, and ``login`` enters its code (tests/studio/test_twofactor.py tests the rest).
ADMIN_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
SLUG = "dd-studio"


@dataclass
class People:
    """Ids of one user per role (and a researcher who is not a member of the study)."""

    admin: int
    researcher: int
    outsider: int
    viewer: int


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def csrf(client: FlaskClient, url: str = "/studio/login") -> str:
    """A valid CSRF token for this client's session, from a page that has a form."""
    response = client.get(url)
    return csrf_from(response.get_data(as_text=True))


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> FlaskClient:
    response = client.post(
        "/studio/login", data={"email": email, "password": password, "csrf_token": csrf(client)}
    )
    html = response.get_data(as_text=True)
    if response.status_code == 200 and 'action="/studio/login/code"' in html:
        # An account with a second factor: its second step.
        code = admin_code(client.application, email)
        response = client.post("/studio/login/code", data={"code": code, "csrf_token": csrf_from(html)})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client


def admin_code(app: Flask, email: str) -> str:
    """The code an ADMIN_TOTP app shows now. Tests sign in often, within one 30-second step, and a code is
    accepted once: the account's last accepted step is forgotten first, so this step's code works again."""
    import pyotp
    from sqlalchemy import update

    from elicit.db import db
    from elicit.models import User

    with app.app_context():
        db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
        db.session.commit()
    return pyotp.TOTP(ADMIN_TOTP).now()


def sign_in_directly(app: Flask, client: FlaskClient, user_id: int) -> None:
    """Put a fresh studio session in the client's cookie without a password (fast; used by the matrix)."""
    from elicit.db import db
    from elicit.models import User
    from elicit.studio.access import session_payload

    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        payload = session_payload(user)
    with client.session_transaction() as session:
        session.clear()
        session.update(payload)
        session.permanent = True


def post(
    client: FlaskClient,
    url: str,
    data: dict[str, object] | None = None,
    page: str | None = None,
    **kw: object,
):
    """POST with the session's CSRF token (taken from ``page``, by default the studio home)."""
    form = dict(data or {})
    form["csrf_token"] = csrf(client, page or "/studio/account")
    return client.post(url, data=form, **kw)


@cache
def password_hash() -> str:
    """PASSWORD's argon2 hash, made once per run."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def make_user(app: Flask, email: str, role: str, *, second_factor: bool | None = None) -> int:
    """A user with PASSWORD; administrators (or anyone, with ``second_factor``) have ADMIN_TOTP as a second
    factor, as an administrator must (``second_factor=False``: an administrator who has not set it up)."""
    from elicit.db import db
    from elicit.models import User

    with app.app_context():
        user = User(email=email, role=role, password_hash=password_hash())
        db.session.add(user)
        db.session.flush()
        if role == "admin" and second_factor is None or second_factor:
            give_second_factor(app, user)
        db.session.commit()
        return user.id


def give_second_factor(app: Flask, user: object) -> None:
    """Turn on two-factor sign-in for ``user`` (inside an app context) with the ADMIN_TOTP secret."""
    from elicit.models import User, utcnow
    from elicit.studio.twofactor import seal_secret

    assert isinstance(user, User)
    user.totp_secret = seal_secret(app.config["SECRET_KEY"], user.id, ADMIN_TOTP)
    user.totp_enabled_at = utcnow()


@pytest.fixture
def people(app: Flask) -> People:
    return People(
        admin=make_user(app, "admin@example.org", "admin"),
        researcher=make_user(app, "researcher@example.org", "researcher"),
        outsider=make_user(app, "outsider@example.org", "researcher"),
        viewer=make_user(app, "viewer@example.org", "viewer"),
    )


@pytest.fixture
def flagship_study(app: Flask, people: People) -> str:
    """The flagship instrument published and study SLUG (UK, PK) with the researcher and viewer as members."""
    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.models import StudyMember
    from elicit.studies import create_study

    with app.app_context():
        version, _ = publish_version(db.session, load_file(FLAGSHIP), "test")
        study = create_study(db.session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.add(StudyMember(study_id=study.id, user_id=people.researcher))
        db.session.add(StudyMember(study_id=study.id, user_id=people.viewer))
        db.session.commit()
    return SLUG


def issue(app: Flask, slug: str, cohort: str = "UK", count: int = 1) -> list[str]:
    """Fresh anonymous links (tokens) for a cohort."""
    from elicit.db import db
    from elicit.studies import find_cohort, find_study, issue_links

    with app.app_context():
        study = find_study(db.session, slug)
        links = issue_links(db.session, study, find_cohort(study, cohort), count)
        db.session.commit()
        return [link.token for link in links]


def answer(app: Flask, token: str, pages: int | None = None, seed: int = 1) -> None:
    """An expert answers through the real domain flow: ``pages`` pages then stop, or everything and submit."""
    from elicit.db import db
    from elicit.demo import simulated_value
    from elicit.responding import flow
    from elicit.responding.values import form_fields

    rng = random.Random(seed)  # noqa: S311
    with app.app_context():
        session = db.session
        link = flow.open_by_token(session, token, secret=current_app.config["SECRET_KEY"])
        flow.start(session, link, "en")
        cohort = link.invitation.cohort.code
        latent = {name: 3.5 for name in link.definition.scales}
        saved = 0
        while pages is None or saved < pages:
            page_id = flow.resume_page(link)
            if page_id == flow.REVIEW:
                break
            page = next(p for p in link.definition.pages if p.id == page_id)
            for _attempt in range(20):
                form: dict[str, list[str]] = {}
                answers = dict(link.answers)
                for item in page.answerable_items():
                    if not flow.item_visible(item, answers):
                        continue
                    value = simulated_value(item, link.definition, latent, cohort, rng)
                    answers[item.id] = value
                    form.update(form_fields(item, value))
                if flow.save_page(session, link, page, form).ok:
                    break
            saved += 1
        if pages is None:
            assert flow.submit(session, link)
        session.commit()


@pytest.fixture
def outbox(app: Flask) -> Path:
    return Path(app.config["OUTBOX_PATH"])


def count_rows(app: Flask, model: type, *where: object) -> int:
    from sqlalchemy import func

    from elicit.db import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


Helper = Callable[..., object]


def browser_tab(browser: Any, javascript: bool) -> tuple[Any, Any]:
    """A new context (1280 x 900, JavaScript on or off, CSP bypassed so that axe can be injected) and its tab."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript, bypass_csp=True
    )
    return context, context.new_page()


def shooter(
    tab: Any, axe_source: str, name: str, *, javascript: bool, database_url: str
) -> Callable[[str], None]:
    """``shoot(label)``: with JavaScript, no serious axe violation on the page in ``tab``; on SQLite (how a page
    looks does not depend on the database), screenshots ``NAME-LABEL-{360,1280}.png`` in the artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    on_sqlite = not database_url.startswith("postgresql")

    def shoot(label: str) -> None:
        if javascript:
            assert axe_violations(tab, axe_source) == [], label
        if not on_sqlite:
            return
        for width in (360, 1280):
            tab.set_viewport_size({"width": width, "height": 900})
            tab.screenshot(path=str(ARTIFACTS / f"{name}-{label}-{width}.png"), full_page=True)
        tab.set_viewport_size({"width": 1280, "height": 900})

    return shoot
