"""Reloading the "Save these links now" page must not make a second batch (issue 13, "Links that vanish").

The POST that makes links answered with the links themselves, so a browser reload posted the form again and made
as many more (the dashboard's invited count went 3 -> 6). Now each load of a form carries a nonce and a
submission makes links once per nonce, then redirects (post/redirect/get) to a page that shows them once: until
then they are held sealed with a key only the maker's browser holds. Reloading that page, or posting the same form
again, makes nothing and shows nothing (no token is ever stored in clear; a lost one is reissued). A second batch
takes a new load of the form.
"""

from __future__ import annotations

import base64
import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from elicit.models import Invitation, LinkSubmission, RosterEntry
from elicit.tokens import token_hash
from tests.studio.conftest import SLUG, People, count_rows, csrf_from, login

LINK = re.compile(r"http://elicit\.test/s/([A-Za-z0-9_-]+)")
NONCE = re.compile(r'name="nonce" type="hidden" value="([^"]+)"|name="nonce" value="([^"]+)"')
DATA_URL = re.compile(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"')
ROSTER = "name,email,organisation,cohort\nAyesha Khan,ayesha@example.org,NDU,PK\nTom Hardy,tom@example.org,MoD,UK\n"


def _form_fields(html: str) -> dict[str, str]:
    nonce = NONCE.search(html)
    assert nonce, "no nonce on the form"
    return {"csrf_token": csrf_from(html), "nonce": nonce.group(1) or nonce.group(2)}


def _tokens_valid(app: Flask, tokens: set[str]) -> bool:
    from elicit.db import db

    with app.app_context():
        hashes = set(db.session.scalars(select(Invitation.token_hash)))
    return {token_hash(t) for t in tokens} <= hashes


def _downloaded(html: str) -> set[str]:
    """The tokens of the page's links file (its data: URL)."""
    found = DATA_URL.search(html)
    assert found, "no links download on the page"
    return set(LINK.findall(base64.b64decode(unquote(found.group(1))).decode("utf-8-sig")))


def _stored_anywhere(app: Flask, tokens: set[str]) -> set[str]:
    """The tokens found in any text of the submissions table, read as an attacker would (plain SQL)."""
    from elicit.db import db

    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM link_submissions")).all()
    dump = " ".join(str(value) for row in rows for value in row)
    return {token for token in tokens if token in dump}


def _held(app: Flask) -> list[bytes]:
    """The sealed links waiting in the submissions table."""
    from elicit.db import db

    with app.app_context():
        return [bytes(b) for b in db.session.scalars(select(LinkSubmission.held)) if b is not None]


def test_reloading_the_generated_links_makes_no_second_batch(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    url = f"/studio/studies/{SLUG}/invitations"
    data = {**_form_fields(client.get(url).get_data(as_text=True)), "cohort": "UK", "count": "3"}

    first = client.post(url, data=data)
    assert first.status_code == 303, first.get_data(as_text=True)[:2000]  # post/redirect/get
    shown_at = first.headers["Location"]
    assert count_rows(app, Invitation) == 3
    assert _stored_anywhere(app, set()) == set()
    page = client.get(shown_at)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Save these links now" in html and "already" not in html
    tokens = set(LINK.findall(html))
    assert len(tokens) == 3 and _tokens_valid(app, tokens) and _downloaded(html) == tokens
    assert _stored_anywhere(app, tokens) == set() and not _held(app)  # shown, then forgotten

    reload = client.get(shown_at).get_data(as_text=True)  # the browser's reload of the links page
    assert "shown once already" in reload and not LINK.findall(reload)

    again = client.post(url, data=data, follow_redirects=True)  # the form posted again (back, then resend)
    shown = again.get_data(as_text=True)
    assert again.status_code == 200
    assert count_rows(app, Invitation) == 3
    assert "already generated" in shown and "nothing new was made" in shown and "reissue them" in shown
    assert not LINK.findall(shown)  # not shown again: no token is kept in clear to show

    fresh = client.get(url).get_data(as_text=True)  # a second batch is a new load of the form
    assert _form_fields(fresh)["nonce"] != data["nonce"]
    assert client.post(url, data={**_form_fields(fresh), "cohort": "UK", "count": "3"}).status_code == 303
    assert count_rows(app, Invitation) == 6


def test_held_links_open_only_in_the_browser_that_made_them(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    """Between the POST and its page, the links are in the database only sealed: the rows (as a DBA reads them)
    hold no token, and the same account signed in on another browser cannot open them."""
    login(client, "researcher@example.org")
    url = f"/studio/studies/{SLUG}/invitations"
    data = {**_form_fields(client.get(url).get_data(as_text=True)), "cohort": "UK", "count": "2"}
    shown_at = client.post(url, data=data).headers["Location"]
    sealed = _held(app)
    assert len(sealed) == 1 and len(sealed[0]) > 100

    other = login(app.test_client(), "researcher@example.org")
    stolen = other.get(shown_at).get_data(as_text=True)
    assert "shown once already" in stolen and not LINK.findall(stolen)
    assert _held(app) == sealed  # nor used them up: the maker's browser still gets them, once
    assert len(LINK.findall(client.get(shown_at).get_data(as_text=True))) == 2 and not _held(app)
    assert login(app.test_client(), "admin@example.org").get(shown_at).status_code == 404  # not theirs


def test_held_links_not_fetched_in_15_minutes_are_wiped(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.db import db

    login(client, "researcher@example.org")
    url = f"/studio/studies/{SLUG}/invitations"
    data = {**_form_fields(client.get(url).get_data(as_text=True)), "cohort": "UK", "count": "2"}
    shown_at = client.post(url, data=data).headers["Location"]
    with app.app_context():
        row = db.session.scalars(select(LinkSubmission)).one()
        row.created_at = row.created_at - timedelta(minutes=16)
        db.session.commit()
    client.get(url)  # any later look at submissions wipes what is overdue
    assert not _held(app)
    assert not LINK.findall(client.get(shown_at).get_data(as_text=True))


def test_the_roster_upload_posted_again_makes_nothing(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    url = f"/studio/studies/{SLUG}/roster"
    fields = _form_fields(client.get(url).get_data(as_text=True))

    def upload():
        return client.post(
            url,
            data={**fields, "delivery": "links", "file": (io.BytesIO(ROSTER.encode()), "roster.csv")},
            content_type="multipart/form-data",
        )

    first = client.get(upload().headers["Location"])
    assert first.status_code == 200, first.get_data(as_text=True)[:2000]
    tokens = set(LINK.findall(first.get_data(as_text=True)))
    assert len(tokens) == 2 and _tokens_valid(app, tokens)
    again = upload()  # without the nonce this answered 422: every row "is on this study's roster already"
    assert again.status_code == 303
    again = client.get(again.headers["Location"])
    assert "already generated" in again.get_data(as_text=True)
    assert not LINK.findall(again.get_data(as_text=True)) and _stored_anywhere(app, tokens) == set()
    assert count_rows(app, Invitation) == 2 and count_rows(app, RosterEntry) == 2


def test_reminders_posted_again_send_nothing_more(
    app: Flask, client: FlaskClient, people: People, flagship_study: str, outbox: Path
) -> None:
    login(client, "researcher@example.org")
    roster = f"/studio/studies/{SLUG}/roster"
    fields = _form_fields(client.get(roster).get_data(as_text=True))
    client.post(
        roster,
        data={**fields, "delivery": "email", "file": (io.BytesIO(ROSTER.encode()), "roster.csv")},
        content_type="multipart/form-data",
    )
    url = f"/studio/studies/{SLUG}/invitations"
    data = {**_form_fields(client.get(url).get_data(as_text=True)), "cohort": "", "in_progress": "y"}
    first = client.post(f"{url}/remind", data=data, follow_redirects=True)
    assert first.status_code == 200
    assert "2 messages sent." in first.get_data(as_text=True)
    sent = len(list((outbox / SLUG).glob("*.eml")))
    assert sent == 4
    invitations = count_rows(app, Invitation)
    again = client.post(f"{url}/remind", data=data, follow_redirects=True)
    assert again.status_code == 200 and "already generated" in again.get_data(as_text=True)
    assert len(list((outbox / SLUG).glob("*.eml"))) == sent and count_rows(app, Invitation) == invitations


def test_a_submission_is_remembered_12_hours_and_for_everyone(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.db import db

    login(client, "researcher@example.org")
    url = f"/studio/studies/{SLUG}/invitations"
    data = {**_form_fields(client.get(url).get_data(as_text=True)), "cohort": "UK", "count": "2"}
    assert client.post(url, data=data).status_code == 303

    other = app.test_client()  # another account posting the same form (its own session, the same nonce)
    login(other, "admin@example.org")
    page = other.get(url).get_data(as_text=True)
    replay = other.post(url, data={**data, "csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "already generated" in replay.get_data(as_text=True)
    assert not LINK.findall(replay.get_data(as_text=True)) and count_rows(app, Invitation) == 2

    with app.app_context():
        row = db.session.scalars(select(LinkSubmission)).one()
        row.created_at = row.created_at - timedelta(hours=11)
        db.session.commit()
    late = client.post(url, data=data, follow_redirects=True).get_data(as_text=True)
    assert "already generated" in late and not LINK.findall(late) and count_rows(app, Invitation) == 2


def test_a_reissue_posted_again_makes_no_second_link(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    login(client, "researcher@example.org")
    roster = f"/studio/studies/{SLUG}/roster"
    fields = _form_fields(client.get(roster).get_data(as_text=True))
    client.post(
        roster,
        data={**fields, "delivery": "links", "file": (io.BytesIO(ROSTER.encode()), "roster.csv")},
        content_type="multipart/form-data",
    )
    from elicit.db import db

    with app.app_context():
        first_id = min(db.session.scalars(select(Invitation.id)))
    url = f"/studio/studies/{SLUG}/invitations"
    data = {
        "csrf_token": csrf_from(client.get(url).get_data(as_text=True)),
        "delivery": "links",
        "confirm": "yes",
    }
    made = client.post(f"{url}/{first_id}/reissue", data=data, follow_redirects=True)
    assert made.status_code == 200 and len(LINK.findall(made.get_data(as_text=True))) == 1
    again = client.post(f"{url}/{first_id}/reissue", data=data)
    assert again.status_code == 409 and "newer invitation" in again.get_data(as_text=True)
    assert count_rows(app, Invitation) == 3
