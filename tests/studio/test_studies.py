"""Studies in the studio: create, settings and cohorts, roster upload, links, e-mail, revoke and reissue."""

from __future__ import annotations

import base64
import csv
import html as html_module
import io
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from elicit.db import db
from elicit.models import AuditEvent, FinishMark, Invitation, Response, RosterEntry, Study, StudyMember
from tests.studio.conftest import SLUG, People, answer, count_rows, csrf, issue, login, post

ROSTER = (
    "name,email,organisation,cohort\n"
    "Ayesha Khan,ayesha@example.org,NDU,PK\n"
    "Tom Hardy,tom@example.org,MoD,UK\n"
    "=cmd|' /C calc'!A0,sam@example.org,,UK\n"
)


def links_from(html: str) -> list[dict[str, str]]:
    """The rows of the one-time links CSV offered on the page (a data: URL)."""
    match = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', html)
    assert match, "no links download on the page"
    text = base64.b64decode(match.group(1)).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def upload_roster(client: FlaskClient, text: str | bytes, delivery: str = "links", slug: str = SLUG):
    token = csrf(client, f"/studio/studies/{slug}/roster")
    content = text.encode() if isinstance(text, str) else text
    return client.post(
        f"/studio/studies/{slug}/roster",
        data={"file": (io.BytesIO(content), "roster.csv"), "delivery": delivery, "csrf_token": token},
        content_type="multipart/form-data",
        follow_redirects=True,  # e-mail is sent as a batch: the upload redirects to the batch's page
    )


def test_create_a_study_from_a_published_version(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    form = client.get("/studio/studies/new?version=defence-diplomacy@1.0.0").get_data(as_text=True)
    assert "defence-diplomacy@1.0.0 — Defence diplomacy" in form and "(anonymous)" in form
    data = {
        "version": "defence-diplomacy@1.0.0",
        "slug": "dd-2027",
        "title": "",
        "cohorts": ["UK", "PK"],
        "other_cohorts": "US=United States\n",
        "status": "draft",
        "opens_on": "2027-01-10",
        "closes_on": "2027-03-31",
    }
    response = post(client, "/studio/studies/new", data)
    assert response.status_code == 302 and response.headers["Location"] == "/studio/studies/dd-2027"
    page = client.get("/studio/studies/dd-2027").get_data(as_text=True)
    assert "Anonymity: anonymous" in page and "not even an administrator" in page
    assert "US (United States)" in page and "2027-03-31" in page and "tag-draft" in page
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == "dd-2027"))
        assert study is not None and study.status == "draft" and study.k_threshold == 5
        assert db.session.get(StudyMember, (study.id, people.researcher)) is not None
        assert (
            db.session.scalar(select(AuditEvent.action).where(AuditEvent.study_id == study.id))
            == "study.create"
        )

    # mistakes are explained beside the fields and nothing is created
    bad = post(client, "/studio/studies/new", {**data, "slug": "dd-2027", "closes_on": "2026-01-01"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "The closing date is before the opening date." in text
    bad = post(client, "/studio/studies/new", {**data, "slug": "Bad Name"})
    assert bad.status_code == 422 and "must be 3-64 lowercase letters" in bad.get_data(as_text=True)
    bad = post(client, "/studio/studies/new", {**data, "slug": "dd-2028", "cohorts": [], "other_cohorts": ""})
    assert bad.status_code == 422 and "at least one cohort" in bad.get_data(as_text=True)


def test_settings_status_dates_and_cohorts(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    response = post(
        client,
        f"/studio/studies/{SLUG}/settings",
        {"title": "Defence diplomacy 2026", "status": "closed", "opens_on": "", "closes_on": "2026-12-31"},
    )
    assert response.status_code == 302
    response = post(client, f"/studio/studies/{SLUG}/cohorts", {"code": "US", "label": "United States"})
    assert response.status_code == 302
    again = post(client, f"/studio/studies/{SLUG}/cohorts", {"code": "US", "label": ""})
    assert again.status_code == 422 and "has a cohort US already" in again.get_data(as_text=True)
    with app.app_context():
        study = db.session.scalar(select(Study).where(Study.slug == SLUG))
        assert study is not None and study.status == "closed" and study.title == "Defence diplomacy 2026"
        assert [c.code for c in study.cohorts] == ["UK", "PK", "US"]
        update = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "study.update"))
        assert update is not None and '"status":["open","closed"]' in update.details_json


def test_a_bad_roster_imports_nothing_and_lists_each_line(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    bad = (
        "name,email,organisation,cohort\n"
        "Ayesha Khan,ayesha@example.org,NDU,PK\n"
        "Tom,not-an-address,MoD,UK\n"
        "Ayesha Again,AYESHA@example.org,NDU,PK\n"
        "Sam,sam@example.org,,FR\n"
    )
    response = upload_roster(client, bad)
    html = html_module.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "The roster has 3 problems; nothing was imported" in html
    assert "line 3: 'not-an-address' is not an e-mail address" in html
    assert "line 4: duplicate e-mail ayesha@example.org (also on line 2)" in html
    assert "line 5: unknown cohort 'FR'" in html
    assert count_rows(app, RosterEntry) == 0 and count_rows(app, Invitation) == 0
    latin1 = upload_roster(client, "name,email,cohort\nJos\xe9,j@example.org,UK\n".encode("latin-1"))
    assert latin1.status_code == 422
    assert "not UTF-8 text" in latin1.get_data(as_text=True)


def test_roster_upload_shows_links_once_as_a_csv(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    response = upload_roster(client, ROSTER)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "They are shown only this once." in html
    rows = links_from(html)
    assert [r["email"] for r in rows] == ["ayesha@example.org", "tom@example.org", "sam@example.org"]
    assert rows[2]["name"].startswith("'=")  # spreadsheet formulas are neutralised
    assert all(r["url"].startswith("http://elicit.test/s/") for r in rows)
    token = rows[0]["url"].rsplit("/", 1)[1]
    with app.app_context():
        stored = list(db.session.scalars(select(Invitation.token_hash)))
        assert len(stored) == 3 and all(token not in h for h in stored)  # only hashes are kept
    # never shown again: the roster and invitation pages carry no link
    for page in (f"/studio/studies/{SLUG}/roster", f"/studio/studies/{SLUG}/invitations"):
        assert token not in client.get(page).get_data(as_text=True)
    # uploading the same people again is refused row by row
    again = upload_roster(client, ROSTER)
    assert again.status_code == 422
    assert "is on this study's roster already" in html_module.unescape(again.get_data(as_text=True))
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "roster.upload"))
        assert event is not None and '"rows":3' in event.details_json


def test_generate_revoke_and_reissue(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.responding import flow

    login(client, "researcher@example.org")
    response = post(
        client, f"/studio/studies/{SLUG}/invitations", {"cohort": "PK", "count": "3"}, follow_redirects=True
    )
    rows = links_from(response.get_data(as_text=True))
    assert len(rows) == 3 and {r["cohort"] for r in rows} == {"PK"}
    first, second = (r["url"].rsplit("/", 1)[1] for r in rows[:2])
    ids = [int(r["invitation"]) for r in rows]

    answer(app, second, pages=2)  # started: two pages saved
    revoke = f"/studio/studies/{SLUG}/invitations/{ids[0]}/revoke"
    unconfirmed = post(client, revoke)  # not from the confirmation page: that page, and nothing revoked
    assert unconfirmed.status_code == 422 and "Its link stops working at once" in unconfirmed.text
    with app.app_context():
        flow.open_by_token(db.session, first, secret=app.config["SECRET_KEY"])
    assert client.get(revoke).status_code == 200
    response = post(client, revoke, {"confirm": "yes"})
    assert response.status_code == 302
    with app.app_context(), pytest.raises(flow.LinkError):
        flow.open_by_token(db.session, first, secret=app.config["SECRET_KEY"])

    # reissue keeps what was saved: the expert continues on the new link
    response = post(
        client,
        f"/studio/studies/{SLUG}/invitations/{ids[1]}/reissue",
        {"delivery": "links", "confirm": "yes"},
        follow_redirects=True,
    )
    new = links_from(response.get_data(as_text=True))
    assert len(new) == 1
    new_token = new[0]["url"].rsplit("/", 1)[1]
    with app.app_context():
        link = flow.open_by_token(db.session, new_token, secret=app.config["SECRET_KEY"])
        assert link.response is not None and len(link.pages_done) == 2
        assert link.invitation.status == "not_opened"  # anonymous: nobody learns that the expert started
        old = db.session.get(Invitation, ids[1])
        assert old is not None and old.status == "revoked"
    # a finished or revoked invitation is not reissued twice
    again = post(
        client,
        f"/studio/studies/{SLUG}/invitations/{ids[1]}/reissue",
        {"delivery": "links", "confirm": "yes"},
    )
    assert again.status_code == 409
    listing = client.get(f"/studio/studies/{SLUG}/invitations?status=revoked").get_data(as_text=True)
    assert "2 invitations" in listing
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert actions == ["login", "invitations.issue", "invitation.revoke", "invitation.reissue"]


def test_email_invitations_and_reminders_go_to_the_outbox(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, outbox: Path
) -> None:
    login(client, "researcher@example.org")
    response = upload_roster(client, ROSTER, delivery="email")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "3 messages sent." in html and "written to the outbox" in html
    assert "data:text/csv" not in html  # e-mailed links are not shown
    files = sorted((outbox / SLUG).glob("*.eml"))
    assert len(files) == 3
    message = BytesParser(policy=policy.default).parse(files[0].open("rb"))
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Subject"].strip().startswith("Invitation: ")
    url = re.search(r"http://elicit\.test/s/\S+", body)
    assert url is not None
    token = url.group(0).rsplit("/", 1)[1]

    # the outbox can be read in the studio
    listing = client.get(f"/studio/studies/{SLUG}/outbox").get_data(as_text=True)
    assert listing.count("Invitation: ") == 3
    shown = client.get(f"/studio/studies/{SLUG}/outbox/{files[0].name}").get_data(as_text=True)
    assert token in shown
    assert client.get(f"/studio/studies/{SLUG}/outbox/..%2F..%2Fsecret_key").status_code == 404

    # one expert submits; in an anonymous study nobody can tell who, so reminders go to all three, each with a
    # new link that says so; the submitter's new link still finds their finished response
    submitter = message["To"].addresses[0].addr_spec
    answer(app, token)
    response = post(
        client,
        f"/studio/studies/{SLUG}/invitations/remind",
        {"cohort": "", "in_progress": "y"},
        follow_redirects=True,
    )
    assert response.status_code == 200 and "3 messages sent." in response.get_data(as_text=True)
    reminders = [f for f in (outbox / SLUG).glob("*.eml") if f not in files]
    assert len(reminders) == 3
    recipients = {}
    for path in reminders:
        reminder = BytesParser(policy=policy.default).parse(path.open("rb"))
        assert reminder["Subject"].strip().startswith("Reminder: ")
        text = reminder.get_body(preferencelist=("plain",)).get_content()
        assert "If you have already answered, thank you" in text
        recipients[reminder["To"].addresses[0].addr_spec] = re.search(r"/s/(\S+)", text).group(1)
    assert submitter in recipients and len(recipients) == 3
    assert "submitted" in client.get(f"/s/{recipients[submitter]}").get_data(as_text=True)
    with app.app_context():
        live = list(db.session.scalars(select(Invitation).where(Invitation.status != "revoked")))
        assert len(live) == 3 and sum(1 for i in live if i.reminded_at is not None) == 3
        assert all(i.sent_at is not None for i in live)


def test_smtp_failure_says_who_was_not_sent_and_hands_their_links_over(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # nothing listens on the discard port
    login(client, "researcher@example.org")
    response = upload_roster(client, ROSTER, delivery="email")
    html = html_module.unescape(response.get_data(as_text=True))
    assert (
        response.status_code == 200
        and "Sending stopped" in html
        and "cannot connect to the mail server" in html
    )
    assert html.count('data-state="failed"') + html.count('data-state="pending"') == 3
    assert "data:text/csv" not in html  # no link is shown before it is asked for
    with app.app_context():
        invitations = db.session.scalars(select(Invitation)).all()
        assert len(invitations) == 3 and all(i.sent_at is None for i in invitations)
    job = re.search(r"/mail/(\d+)/links", html)
    assert job is not None
    page = post(client, f"/studio/studies/{SLUG}/mail/{job.group(1)}/links", {}, follow_redirects=True)
    links = links_from(page.get_data(as_text=True))
    assert len(links) == 3 and {row["email"] for row in links} == {
        "ayesha@example.org",
        "tom@example.org",
        "sam@example.org",
    }
    for row in links:  # each handed-over link opens
        assert client.get(row["url"].replace("http://elicit.test", "")).status_code == 200


def test_anonymous_study_confirms_finished_invitations_in_groups_of_k(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "viewer@example.org")
    tokens = issue(app, SLUG, "UK", 6)
    for token in tokens[:4]:
        answer(app, token)
    page = client.get(f"/studio/studies/{SLUG}/invitations").get_data(as_text=True)
    assert 'data-status="finished"' not in page  # 4 < k = 5: no invitation may say it finished
    assert page.count('data-status="not_opened"') == 6
    answer(app, tokens[4])
    page = client.get(f"/studio/studies/{SLUG}/invitations").get_data(as_text=True)
    assert page.count('data-status="finished"') == 5 and page.count('data-status="not_opened"') == 1
    assert "Revoke" not in page  # viewers read only
    with app.app_context():
        responses = db.session.scalars(select(Response)).all()
        assert len(responses) == 5 and all(r.invitation_id is None for r in responses)
        assert not any(r.id in page for r in responses)
        assert db.session.scalar(select(func.count()).select_from(FinishMark)) == 0  # used up by the group


def test_anonymized_export_download(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    import zipfile

    answer(app, issue(app, SLUG, "UK", 1)[0])
    login(client, "researcher@example.org")
    assert "Download anonymized export" in client.get(f"/studio/studies/{SLUG}").get_data(as_text=True)
    response = post(client, f"/studio/studies/{SLUG}/export", {"format": "csv"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    names = zipfile.ZipFile(io.BytesIO(response.get_data())).namelist()
    assert any(name.endswith("manifest.json") for name in names)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
        assert event is not None and event.actor == "researcher@example.org"
    bad = post(client, f"/studio/studies/{SLUG}/export", {"format": "exe"})
    assert bad.status_code == 422
