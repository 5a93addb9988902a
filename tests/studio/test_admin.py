"""Administration: users, roles, deactivation, memberships, and the audit log with its CSV download."""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import StudyMember, User
from tests.studio.conftest import PASSWORD, SLUG, People, count_rows, csrf, login, post


def test_admin_adds_a_user_who_can_then_sign_in(app: Flask, client: FlaskClient, people: People) -> None:
    login(client, "admin@example.org")
    response = post(
        client,
        "/studio/users",
        {
            "email": "New@Example.org",
            "role": "viewer",
            "password": "long enough pw",
            "confirm": "long enough pw",
        },
    )
    assert response.status_code == 302
    taken = post(
        client,
        "/studio/users",
        {
            "email": "new@example.org",
            "role": "viewer",
            "password": "long enough pw",
            "confirm": "long enough pw",
        },
    )
    assert taken.status_code == 422 and "exists already" in taken.get_data(as_text=True)
    short = post(
        client,
        "/studio/users",
        {"email": "x@example.org", "role": "viewer", "password": "short", "confirm": "short"},
    )
    assert short.status_code == 422 and 'aria-invalid="true"' in short.get_data(as_text=True)
    login(app.test_client(), "new@example.org", "long enough pw")


def test_roles_deactivation_and_memberships(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "admin@example.org")
    outsider = login(app.test_client(), "outsider@example.org")
    assert outsider.get(f"/studio/studies/{SLUG}").status_code == 404
    assert SLUG not in outsider.get("/studio/").get_data(as_text=True)

    assert post(client, f"/studio/users/{people.outsider}/memberships", {"study": SLUG}).status_code == 302
    assert outsider.get(f"/studio/studies/{SLUG}").status_code == 200
    assert SLUG in outsider.get("/studio/").get_data(as_text=True)

    # demoted to viewer: reads, cannot manage
    assert (
        post(client, f"/studio/users/{people.outsider}", {"role": "viewer", "active": "y"}).status_code == 302
    )
    assert outsider.get(f"/studio/studies/{SLUG}/settings").status_code == 403

    # deactivated: the open session ends at once
    assert post(client, f"/studio/users/{people.outsider}", {"role": "viewer"}).status_code == 302
    assert outsider.get("/studio/").status_code == 302
    response = outsider.post(
        "/studio/login",
        data={"email": "outsider@example.org", "password": PASSWORD, "csrf_token": csrf(outsider)},
    )
    assert "deactivated" in response.get_data(as_text=True)

    # removing a member asks first: a bare POST gets the confirmation page and removes nobody
    removal = f"/studio/users/{people.outsider}/memberships/{SLUG}/remove"
    unconfirmed = post(client, removal)
    assert unconfirmed.status_code == 422 and "Remove outsider@example.org from" in unconfirmed.text
    assert count_rows(app, StudyMember, StudyMember.user_id == people.outsider) == 1
    page = client.get(removal)
    assert page.status_code == 200 and 'name="confirm" type="hidden" value="yes"' in page.text
    remove = post(client, removal, {"confirm": "yes"}, page=removal)
    assert remove.status_code == 302
    with app.app_context():
        user = db.session.get(User, people.outsider)
        assert user is not None and not user.is_active and user.role == "viewer"
        assert db.session.scalar(select(StudyMember).where(StudyMember.user_id == people.outsider)) is None

    # an admin cannot lock themselves out
    self_demote = post(client, f"/studio/users/{people.admin}", {"role": "viewer", "active": "y"})
    assert self_demote.status_code == 422


def test_audit_log_view_and_download(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    client.post(
        "/studio/login", data={"email": "admin@example.org", "password": "wrong!", "csrf_token": csrf(client)}
    )
    login(client, "admin@example.org")
    page = client.get("/studio/audit").get_data(as_text=True)
    assert "login.failed" in page and "<code>login</code>" in page
    filtered = client.get("/studio/audit?action=login.failed").get_data(as_text=True)
    assert "1 event" in filtered
    response = client.get("/studio/audit.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["action"] for r in rows] == ["login.failed", "login", "audit.download"]  # the download too
    assert rows[0]["actor"] == "anonymous" and rows[0]["target"] == "admin@example.org"
    assert rows[1]["actor"] == "admin@example.org" and len(rows[1]["hash"]) == 64
    assert "wrong!" not in response.get_data(as_text=True)

    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
