"""Instruments in the studio: upload with the CLI's checks, publish, preview page by page, diff side by side."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from elicit.db import db
from elicit.models import AuditEvent, InstrumentDraft, InstrumentVersion
from tests.conftest import FLAGSHIP
from tests.studio.conftest import People, count_rows, csrf, login, post

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


def test_check_keeps_a_draft_to_preview_then_publish_then_diff(
    app: Flask, client: FlaskClient, people: People, tmp_path: Path
) -> None:
    login(client, "researcher@example.org")
    flagship = FLAGSHIP.read_bytes()
    typo = flagship.replace(b"About this survey", b"Abuot this survey", 1)
    response = _upload(client, typo, "1.0.0.yaml")
    assert response.status_code == 303
    assert response.headers["Location"] == "/studio/instruments/drafts/defence-diplomacy"
    with app.app_context():
        assert db.session.scalar(select(InstrumentVersion)) is None  # a draft is not a version
        draft = db.session.scalar(select(InstrumentDraft))
        assert draft is not None and draft.ref == "defence-diplomacy@1.0.0"
        assert draft.uploaded_by == "researcher@example.org"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1.0.0.yaml is checked and kept as the draft of defence-diplomacy." in page
    # preview links for every page in every language, and each preview shows the draft's content
    base = "/studio/instruments/drafts/defence-diplomacy/preview"
    assert f"{base}/ur?page=background" in page and f"{base}/en?page=reasoning" in page
    preview = client.get(f"{base}/en?page=welcome")
    assert (
        preview.status_code == 200
        and "Abuot this survey" in preview.text
        and "preview-banner" in preview.text
    )
    switched = client.get(f"{base}/en?page=background&lang=ur")
    assert switched.status_code == 302 and switched.headers["Location"] == f"{base}/ur?page=background"
    assert client.get(f"{base}/fr").status_code == 404
    assert client.get(f"{base}/en?page=nope").status_code == 404
    assert "defence-diplomacy@1.0.0" in client.get("/studio/instruments").text  # listed among the drafts
    source = client.get("/studio/instruments/drafts/defence-diplomacy/source")
    assert source.status_code == 200 and source.get_data() == typo
    stale_sha = page.split('name="sha256" type="hidden" value="')[1].split('"')[0]

    # the fixed file replaces the draft
    response = _upload(client, flagship, "1.0.0.yaml")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "replaces the draft defence-diplomacy@1.0.0" in page
    assert "About this survey" in client.get(f"{base}/en?page=welcome").text
    assert count_rows(app, InstrumentDraft) == 1

    # publishing what was previewed before the replacement is refused
    publish = "/studio/instruments/drafts/defence-diplomacy/publish"
    token = csrf(client, "/studio/instruments/upload")
    refused = client.post(publish, data={"sha256": stale_sha, "csrf_token": token})
    assert refused.status_code == 409 and "was replaced after you loaded its page" in refused.text
    sha = page.split('name="sha256" type="hidden" value="')[1].split('"')[0]
    response = client.post(publish, data={"sha256": sha, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/studio/instruments/defence-diplomacy/1.0.0"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "defence-diplomacy@1.0.0 is published." in page
    assert "/studio/instruments/defence-diplomacy/1.0.0/preview/ur?page=background" in page
    assert count_rows(app, InstrumentDraft) == 0  # the published draft is gone
    assert client.get("/studio/instruments/drafts/defence-diplomacy").status_code == 404
    with app.app_context():
        version = db.session.scalar(select(InstrumentVersion))
        assert version is not None and version.sha256 == sha

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
    # consent's choices show the words experts are offered, not "no =" with nothing after it
    assert "yes = Yes, I agree to take part; no = No, I do not wish to take part" in text
    urdu = client.get(
        "/studio/instruments/diff?old=defence-diplomacy@1.0.0&new=defence-diplomacy@1.1.0&language=ur"
    ).text
    assert "no = نہیں، میں حصہ نہیں لینا چاہتا/چاہتی" in urdu

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


def test_a_draft_is_discarded_only_after_confirming_and_viewers_see_no_drafts(
    app: Flask, client: FlaskClient, people: People
) -> None:
    login(client, "researcher@example.org")
    assert _upload(client, FLAGSHIP.read_bytes(), "1.0.0.yaml").status_code == 303
    discard = "/studio/instruments/drafts/defence-diplomacy/discard"
    unconfirmed = post(client, discard)
    assert unconfirmed.status_code == 422 and "Discard the draft defence-diplomacy@1.0.0?" in unconfirmed.text
    assert count_rows(app, InstrumentDraft) == 1
    confirm_page = client.get(discard)
    assert confirm_page.status_code == 200 and 'name="confirm" type="hidden" value="yes"' in confirm_page.text
    assert post(client, discard, {"confirm": "yes"}, page=discard).status_code == 303
    assert count_rows(app, InstrumentDraft) == 0
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert [a for a in actions if a != "login"] == ["instrument.draft", "instrument.draft_discard"]

    assert _upload(client, FLAGSHIP.read_bytes(), "1.0.0.yaml").status_code == 303
    viewer = login(app.test_client(), "viewer@example.org")
    assert "Drafts" not in viewer.get("/studio/instruments").text
    assert viewer.get("/studio/instruments/drafts/defence-diplomacy").status_code == 403
    assert viewer.get("/studio/instruments/drafts/defence-diplomacy/preview/en").status_code == 403


def test_an_upload_of_a_published_version_keeps_no_draft(
    app: Flask, client: FlaskClient, people: People
) -> None:
    login(client, "researcher@example.org")
    assert _upload(client, FLAGSHIP.read_bytes(), "1.0.0.yaml", "publish").status_code == 302
    same = _upload(client, FLAGSHIP.read_bytes(), "1.0.0.yaml")
    assert same.status_code == 200 and "so no draft was kept" in same.text
    clash = _upload(client, FLAGSHIP.read_bytes().replace(b"max: 60", b"max: 80", 1), "clash.yaml")
    assert clash.status_code == 409 and "is published already with different content" in clash.text
    assert count_rows(app, InstrumentDraft) == 0
