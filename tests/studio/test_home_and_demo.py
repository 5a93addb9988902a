"""The page at "/" says what this server is and where to go, and tells an anonymous visitor nothing about
studies; the demo's printed logins have the roles they are printed with."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.studio.conftest import SLUG, People


def test_home_says_what_this_is_and_where_to_go(
    client: FlaskClient, people: People, flagship_study: str
) -> None:
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Elicit: an expert survey platform" in html
    assert "Open the personal link in your invitation" in html
    assert 'href="/studio/"' in html
    # nothing about the studies this server runs: no slug, no title, no count
    assert SLUG not in html and "Defence" not in html and "defence" not in html
    assert "Studies" not in html and "cohort" not in html.lower()


def test_home_speaks_the_browsers_language_or_the_chosen_one(client: FlaskClient) -> None:
    urdu = client.get("/", headers={"Accept-Language": "ur-PK,ur;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'lang="ur"' in urdu and 'dir="rtl"' in urdu and "ماہرین کے سروے کا پلیٹ فارم" in urdu
    assert 'href="/?lang=en"' in urdu  # and a way back to English
    chosen = client.get("/?lang=ur").get_data(as_text=True)
    assert 'dir="rtl"' in chosen and "اسٹوڈیو پر جائیں" in chosen
    english = client.get("/?lang=fr").get_data(as_text=True)
    assert 'lang="en"' in english and "Go to the studio" in english


def test_the_demo_prints_a_researcher_and_an_admin_login_with_those_roles(app: Flask, tmp_path: Path) -> None:
    from elicit.db import db
    from elicit.demo import DEMO_ADMIN, DEMO_RESEARCHER, ensure_demo
    from elicit.models import Role, StudyMember, User
    from elicit.users import add_user

    with app.app_context():
        # an older demo made the "researcher" an administrator: running the demo again sets that right
        add_user(db.session, DEMO_RESEARCHER, Role.ADMIN, "an old demo password")
        lines = ensure_demo(db.session, app.config, tmp_path, responses=0, links=0)
        db.session.commit()
        roles = {u.email: u.role for u in db.session.scalars(select(User))}
        researcher = db.session.scalar(select(User).where(User.email == DEMO_RESEARCHER))
        assert researcher is not None
        assert db.session.scalars(select(StudyMember).where(StudyMember.user_id == researcher.id)).first()
    assert roles == {DEMO_RESEARCHER: Role.RESEARCHER, DEMO_ADMIN: Role.ADMIN}
    text = "\n".join(lines)
    assert f"researcher (manages the demo study): {DEMO_RESEARCHER}" in text
    assert f"administrator (also users and the audit log): {DEMO_ADMIN}" in text
    assert "password: " in text
