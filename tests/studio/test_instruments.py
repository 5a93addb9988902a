"""Instruments in the studio: upload with the CLI's checks, publish, preview page by page, diff side by side."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import AuditEvent, InstrumentVersion
from tests.conftest import FLAGSHIP
from tests.studio.conftest import People, csrf, login

BAD = "id: x\nversion: 1\nlanguages: [en]\ntitle: X\npages:\n  - id: p\n    items:\n      - {id: a, type: nope}\n"


def _upload(client: FlaskClient, content: bytes, name: str, button: str = "check"):
    token = csrf(client, "/studio/instruments/upload")
    return client.post(
        "/studio/instruments/upload",
        data={"file": (io.BytesIO(content), name), "csrf_token": token, button: "1"},
        content_type="multipart/form-data",
    )


def test_a_bad_file_lists_every_problem_with_its_line(
    app: Flask, client: FlaskClient, people: People
) -> None:
    login(client, "researcher@example.org")
    response = _upload(client, BAD.encode(), "../../etc/bad.yaml", "publish")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "bad.yaml:2</code>: version 1 must look like 1.0.0" in html
    assert "bad.yaml:8</code>: item &#39;a&#39; has unknown type &#39;nope&#39;" in html
    assert "../" not in html.split("problems")[1][:200]
    with app.app_context():
        assert db.session.scalar(select(InstrumentVersion)) is None


def test_check_then_publish_then_preview_and_diff(
    app: Flask, client: FlaskClient, people: People, tmp_path: Path
) -> None:
    login(client, "researcher@example.org")
    flagship = FLAGSHIP.read_bytes()
    response = _upload(client, flagship, "1.0.0.yaml")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "defence-diplomacy@1.0.0" in html and "anonymous" in html
    with app.app_context():
        assert db.session.scalar(select(InstrumentVersion)) is None  # checking stores nothing

    token = csrf(client, "/studio/instruments/upload")
    content = html.split('name="content" type="hidden" value="')[1].split('"')[0]
    assert content  # the checked file travels with the publish form
    import html as html_module

    response = client.post(
        "/studio/instruments/publish",
        data={"content": html_module.unescape(content), "filename": "1.0.0.yaml", "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/studio/instruments/defence-diplomacy/1.0.0"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "defence-diplomacy@1.0.0 is published." in page
    # preview links for every page in every language
    assert "/studio/instruments/defence-diplomacy/1.0.0/preview/ur?page=background" in page
    assert "/studio/instruments/defence-diplomacy/1.0.0/preview/en?page=reasoning" in page

    # a second version, uploaded and published in one step
    changed = (
        flagship.decode().replace("version: 1.0.0", "version: 1.1.0", 1).replace("max: 60", "max: 70", 1)
    )
    response = _upload(client, changed.encode(), "1.1.0.yaml", "publish")
    assert response.status_code == 302
    listing = client.get("/studio/instruments").get_data(as_text=True)
    assert "defence-diplomacy@1.0.0" in listing and "defence-diplomacy@1.1.0" in listing

    diff = client.get("/studio/instruments/diff?old=defence-diplomacy@1.0.0&new=defence-diplomacy@1.1.0")
    text = diff.get_data(as_text=True)
    assert diff.status_code == 200
    assert 'class="diff-changed"' in text and "<code>years</code>" in text and "range" in text

    # the same version number with other content is refused and says what differs
    clash = flagship.decode().replace("max: 60", "max: 80", 1)
    response = _upload(client, clash.encode(), "clash.yaml", "publish")
    assert response.status_code == 409
    assert "is published already with different content" in response.get_data(as_text=True)

    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "instrument.publish")))
        assert [e.target for e in events] == ["defence-diplomacy@1.0.0", "defence-diplomacy@1.1.0"]
        assert {e.actor for e in events} == {"researcher@example.org"}


def test_preview_shows_each_page_in_each_language_without_a_response(
    app: Flask, client: FlaskClient, people: People, flagship_study: str
) -> None:
    from elicit.models import Response

    login(client, "viewer@example.org")
    base = "/studio/instruments/defence-diplomacy/1.0.0/preview"
    urdu = client.get(f"{base}/ur")
    html = urdu.get_data(as_text=True)
    assert urdu.status_code == 200
    assert 'lang="ur"' in html and 'dir="rtl"' in html and "اس سروے کے بارے میں" in html
    page = client.get(f"{base}/en?page=lev_tactical").get_data(as_text=True)
    assert 'lang="en"' in page and "tac_1" in page
    # the preview's own language switch (?lang=) lands on the same page in the other language
    switched = client.get(f"{base}/en?page=background&lang=ur")
    assert switched.status_code == 302 and switched.headers["Location"] == f"{base}/ur?page=background"
    assert client.get(f"{base}/fr").status_code == 404
    assert client.get(f"{base}/en?page=nope").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Response)) is None


def test_viewers_cannot_upload(client: FlaskClient, people: People) -> None:
    login(client, "viewer@example.org")
    assert client.get("/studio/instruments/upload").status_code == 403
    assert "Upload an instrument" not in client.get("/studio/instruments").get_data(as_text=True)
