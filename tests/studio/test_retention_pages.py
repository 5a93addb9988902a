"""Retention, erasure and subject access through the studio's pages (issue 19), on both databases.

The settings page sets, checks and removes a study's retention date and purges it on request (confirmed, closed
studies only); a study whose date has passed is purged on the next studio request; the roster page erases one
person and downloads what is held about them. Then the attacks: a whole studio run (roster e-mailed, reminded,
reissued, revoked, erased, purged) leaves no roster name or address in any audit event, and the web server's
log of the same requests holds none either. The browser test at the end only takes screenshots to look at.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from elicit.db import db
from elicit.models import AuditEvent, Invitation, RosterEntry, Study
from tests.conftest import ARTIFACTS, make_test_app
from tests.studio.conftest import PASSWORD, SLUG, People, count_rows, csrf, login, post
from tests.test_lifecycle import Person, found

SETTINGS = f"/studio/studies/{SLUG}/settings"
ROSTER_PAGE = f"/studio/studies/{SLUG}/roster"


@pytest.fixture
def app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app with its instance folder (ledger, outbox) in this test's folder."""
    monkeypatch.chdir(tmp_path)
    application = make_test_app(database_url, tmp_path, OUTBOX_PATH=str(tmp_path / "instance" / "outbox"))
    yield application
    application.extensions["elicit.db"][0].dispose()


@pytest.fixture
def researcher(client: FlaskClient, people: People, flagship_study: str) -> FlaskClient:
    return login(client, "researcher@example.org")


def cast() -> tuple[Person, Person, Person]:
    return (
        Person.make("Ignatius", "Vandermolen", "UK"),
        Person.make("Perpetua", "Okonkwo", "UK"),
        Person.make("Shahrukh", "Durranikhel", "PK"),
    )


def upload(client: FlaskClient, people_: tuple[Person, ...], delivery: str = "links") -> Any:
    body = "name,email,organisation,cohort\n" + "".join(
        f"{p.name},{p.email},{p.organisation},{p.cohort}\n" for p in people_
    )
    return client.post(
        ROSTER_PAGE,
        data={
            "file": (io.BytesIO(body.encode()), "roster.csv"),
            "delivery": delivery,
            "csrf_token": csrf(client, ROSTER_PAGE),
        },
        content_type="multipart/form-data",
    )


def settle(app: Flask, **values: Any) -> None:
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None
        for name, value in values.items():
            setattr(study, name, value)
        db.session.commit()


def study_row(app: Flask) -> Study:
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None
        db.session.expunge(study)
        return study


def entry_ids(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(RosterEntry.id).order_by(RosterEntry.id)))


def retention(client: FlaskClient, **data: str) -> Any:
    return post(client, SETTINGS, {"form": "retention", **data}, SETTINGS)


# ------------------------------------------------------------------------------------------- retention date
def test_the_retention_date_is_set_checked_and_removed(app: Flask, researcher: FlaskClient) -> None:
    page = researcher.get(SETTINGS).get_data(as_text=True)
    assert 'id="retention"' in page and "Keep personal data until" in page and "Purge now" in page
    assert "close the study first" in page  # it is open

    past = (date.today() - timedelta(days=1)).isoformat()
    response = retention(researcher, retain_until=past, save="y")
    assert response.status_code == 422
    assert "is in the past" in response.get_data(as_text=True)
    assert study_row(app).retain_until is None

    settle(app, closes_on=date.today() + timedelta(days=20))
    early = (date.today() + timedelta(days=10)).isoformat()
    response = retention(researcher, retain_until=early, save="y")
    assert response.status_code == 422 and "is before the study closes" in response.get_data(as_text=True)

    day = date.today() + timedelta(days=400)
    response = retention(researcher, retain_until=day.isoformat(), save="y")
    assert response.status_code == 303 and response.headers["Location"].endswith("/settings#retention")
    assert study_row(app).retain_until == day
    assert "Personal data is kept until" in researcher.get(SETTINGS).get_data(as_text=True)
    response = retention(researcher, retain_until=day.isoformat(), clear="y")
    assert response.status_code == 303 and study_row(app).retain_until is None
    with app.app_context():
        details = [
            json.loads(e.details_json)
            for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "study.retention"))
        ]
    assert details == [{"retain_until": [None, day.isoformat()]}, {"retain_until": [day.isoformat(), None]}]


def test_purge_now_asks_first_and_only_for_closed_studies(
    app: Flask, researcher: FlaskClient, people: People
) -> None:
    assert upload(researcher, cast()).status_code in (302, 303)
    purge = f"/studio/studies/{SLUG}/purge"
    response = researcher.get(purge)
    assert response.status_code == 409 and "Close it first" in response.get_data(as_text=True)
    settle(app, status="closed")
    viewer = login(app.test_client(), "viewer@example.org")
    assert viewer.get(purge).status_code == 403
    assert login(app.test_client(), "outsider@example.org").get(purge).status_code == 404

    page = researcher.get(purge).get_data(as_text=True)
    assert "Purge the personal data of" in page and "roster entries 3" in page and 'name="confirm"' in page
    response = post(researcher, purge, {}, SETTINGS)  # a bare POST: the confirmation page, nothing done
    assert response.status_code == 422 and count_rows(app, RosterEntry) == 3
    response = post(researcher, purge, {"confirm": "yes"}, SETTINGS)
    assert response.status_code == 303
    assert count_rows(app, RosterEntry) == 0
    study = study_row(app)
    assert study.purged_at is not None and study.retain_until == date.today() - timedelta(days=1)
    page = researcher.get(SETTINGS).get_data(as_text=True)
    assert "was purged on" in page and "The personal data is purged: roster entries 3" in page
    roster = researcher.get(ROSTER_PAGE).get_data(as_text=True)
    assert "no new roster can be uploaded" in roster and "Upload a roster" not in roster
    response = upload(researcher, cast())
    assert response.status_code == 422 and "it takes no new roster" in response.get_data(as_text=True)
    assert count_rows(app, RosterEntry) == 0
    assert researcher.get(purge).status_code == 409


def test_a_study_past_its_date_is_purged_on_the_next_studio_request(
    app: Flask, researcher: FlaskClient
) -> None:
    assert upload(researcher, cast()).status_code in (302, 303)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert researcher.get("/studio/account").status_code == 200
        due_checks = [s for s in statements if "retain_until <" in s]
        assert len(due_checks) == 1, due_checks  # nothing is due: one query
        assert count_rows(app, RosterEntry) == 3
        settle(app, retain_until=date.today() - timedelta(days=1))
        statements.clear()
        assert researcher.get("/studio/account").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert count_rows(app, RosterEntry) == 0
    study = study_row(app)
    assert study.purged_at is not None and study.status == "closed"  # it was open: a purge closes it
    with app.app_context():
        actors = list(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "study.purge")))
    assert actors == ["retention"]
    ledger = Path("instance") / "lifecycle.jsonl"
    assert json.loads(ledger.read_text().splitlines()[0])["kind"] == "purge"


# ------------------------------------------------------------------------------- erasure and subject access
def test_one_person_is_erased_from_the_roster_page(app: Flask, researcher: FlaskClient) -> None:
    people_ = cast()
    assert upload(researcher, people_).status_code in (302, 303)
    first = entry_ids(app)[0]
    page = researcher.get(ROSTER_PAGE).get_data(as_text=True)
    erase = f"/studio/studies/{SLUG}/roster/{first}/erase"
    access_url = f"/studio/studies/{SLUG}/roster/{first}/subject-access.json"
    assert erase in page and access_url in page

    viewer = login(app.test_client(), "viewer@example.org")
    assert erase not in viewer.get(ROSTER_PAGE).get_data(as_text=True)
    assert viewer.get(erase).status_code == 403 and viewer.get(access_url).status_code == 403

    download = researcher.get(access_url)
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    document = download.get_json()
    assert document["format"] == "elicit-subject-access/1"
    (entry,) = document["entries"]
    assert entry["roster_entry"]["email"] == people_[0].email and "cannot find" in entry["statement"]

    confirm = researcher.get(erase).get_data(as_text=True)
    assert people_[0].email in confirm and "cannot be found" in confirm and 'name="confirm"' in confirm
    assert post(researcher, erase, {}, ROSTER_PAGE).status_code == 422 and len(entry_ids(app)) == 3
    response = post(researcher, erase, {"confirm": "yes"}, ROSTER_PAGE, follow_redirects=True)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f"Roster entry #{first} is erased" in text and "stay in the study, anonymous" in text
    assert people_[0].email not in text
    assert entry_ids(app) == entry_ids(app)[:2] and first not in entry_ids(app)
    assert researcher.get(erase).status_code == 404 and researcher.get(access_url).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Invitation).where(Invitation.roster_entry_id == first)) is None


# ------------------------------------------------------------------------------------------------- attacks
def test_no_audit_event_of_a_studio_run_holds_a_roster_name_or_address(
    app: Flask, researcher: FlaskClient
) -> None:
    """The chain cannot be edited, so an erasure could never take a name out of it: none may go in."""
    people_ = cast()
    assert upload(researcher, people_, delivery="email").status_code in (302, 303)  # e-mailed as a batch
    remind = f"/studio/studies/{SLUG}/invitations/remind"
    invitations = f"/studio/studies/{SLUG}/invitations"
    assert post(researcher, remind, {"cohort": "", "in_progress": "y"}, invitations).status_code in (302, 303)
    with app.app_context():
        live = list(db.session.scalars(select(Invitation.id).where(Invitation.status == "not_opened")))
    reissue = f"/studio/studies/{SLUG}/invitations/{live[0]}/reissue"
    assert post(researcher, reissue, {"confirm": "yes", "delivery": "email"}, invitations).status_code < 400
    revoke = f"/studio/studies/{SLUG}/invitations/{live[-1]}/revoke"
    assert post(researcher, revoke, {"confirm": "yes"}, invitations).status_code < 400
    first = entry_ids(app)[0]
    assert researcher.get(f"/studio/studies/{SLUG}/roster/{first}/subject-access.json").status_code == 200
    erase = f"/studio/studies/{SLUG}/roster/{first}/erase"
    assert post(researcher, erase, {"confirm": "yes"}, ROSTER_PAGE).status_code == 303
    settle(app, status="closed")
    assert post(researcher, f"/studio/studies/{SLUG}/purge", {"confirm": "yes"}, SETTINGS).status_code == 303
    with app.app_context(), db.engine.connect() as connection:
        events = [row._mapping for row in connection.execute(AuditEvent.__table__.select())]
    rows = [" ".join(map(str, event.values())) for event in events]
    actions = {event["action"] for event in events}
    assert {"roster.upload", "invitations.remind", "invitation.reissue", "invitation.revoke"} <= actions
    assert {"participant.erase", "participant.subject_access", "study.purge"} <= actions
    needles = set().union(*(p.needles for p in people_))
    assert found(needles, [(f"audit event {row[:5]}", row.casefold()) for row in rows]) == []


def test_the_web_server_log_holds_no_address(
    app: Flask, live_server: str, people: People, flagship_study: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The pages name roster entries by id, so the request lines the server logs name nobody."""
    caplog.set_level(logging.DEBUG)
    people_ = cast()
    token_re = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
    with httpx.Client(base_url=live_server, follow_redirects=True, timeout=30) as browser:
        page = browser.get("/studio/login").text
        signed_in = browser.post(
            "/studio/login",
            data={
                "email": "researcher@example.org",
                "password": PASSWORD,
                "csrf_token": token_re.search(page)[1],
            },
        )
        assert signed_in.status_code == 200
        body = "name,email,organisation,cohort\n" + "".join(
            f"{p.name},{p.email},{p.organisation},{p.cohort}\n" for p in people_
        )
        token = token_re.search(browser.get(ROSTER_PAGE).text)[1]
        made = browser.post(
            ROSTER_PAGE,
            data={"delivery": "email", "csrf_token": token},
            files={"file": ("roster.csv", body.encode(), "text/csv")},
        )
        assert made.status_code == 200
        first = entry_ids(app)[0]
        assert browser.get(f"/studio/studies/{SLUG}/roster/{first}/subject-access.json").status_code == 200
        confirm = browser.get(f"/studio/studies/{SLUG}/roster/{first}/erase").text
        done = browser.post(
            f"/studio/studies/{SLUG}/roster/{first}/erase",
            data={"confirm": "yes", "csrf_token": token_re.search(confirm)[1]},
        )
        assert done.status_code == 200 and f"Roster entry #{first} is erased" in done.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/studio/studies/{SLUG}/roster/{first}/erase" in logged  # the request lines were captured
    needles = set().union(*(p.needles for p in people_))
    assert found(needles, [("the server's log", logged.casefold())]) == []


# ------------------------------------------------------------------------------------------------ rendering
@pytest.mark.rendering
@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_screenshots_of_the_retention_block_and_the_erasure_confirmation(
    app: Flask, live_server: str, browser: Any, people: People, flagship_study: str, javascript: bool
) -> None:
    """For looking at: the retention block (date set, study closed), the erasure and the purge confirmations."""
    from playwright.sync_api import expect

    client = login(app.test_client(), "researcher@example.org")
    assert upload(client, cast()).status_code in (302, 303)
    settle(app, status="closed", retain_until=date.today() + timedelta(days=365))
    first = entry_ids(app)[0]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=javascript)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(f"{live_server}/studio/login")
    tab.get_by_label("E-mail address").fill("researcher@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Studies")).to_be_visible()
    mode = "js" if javascript else "nojs"
    for width in (360, 1280):
        tab.set_viewport_size({"width": width, "height": 900})
        tab.goto(f"{live_server}{SETTINGS}#retention")
        block = tab.locator("#retention")
        expect(block.get_by_role("heading", name="Retention of personal data")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        block.screenshot(path=str(ARTIFACTS / f"studio-retention-block-{mode}-{width}.png"))
        tab.goto(f"{live_server}/studio/studies/{SLUG}/roster/{first}/erase")
        expect(tab.get_by_role("button", name="Erase this person")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        tab.screenshot(path=str(ARTIFACTS / f"studio-erase-confirm-{mode}-{width}.png"), full_page=True)
        tab.goto(f"{live_server}/studio/studies/{SLUG}/purge")
        expect(tab.get_by_role("button", name="Purge the personal data now")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        tab.screenshot(path=str(ARTIFACTS / f"studio-purge-confirm-{mode}-{width}.png"), full_page=True)
    context.close()
