"""Malformed posts to expert pages: always a 4xx or a re-rendered page, never a 5xx, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from elicit.db import db
from elicit.models import Answer, Response
from tests.conftest import StudyHandle
from tests.survey.test_expert_flow import begin, consented, csrf_of

# Each case: the fields posted to the background page (the CSRF token is added unless the case removes it).
MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("missing csrf", {"csrf_token": None, "state": "UK", "nav": "next"}),
    ("wrong csrf", {"csrf_token": "forged", "state": "UK", "nav": "next"}),
    ("unknown field", {"state": "UK", "evil": "1", "nav": "next"}),
    ("field of another page", {"state": "UK", "tac_1": "3", "nav": "next"}),
    ("composite part of another item", {"state": "UK", "alloc.tactical": "100", "nav": "next"}),
    ("duplicated single choice", {"state": ["UK", "PK"], "nav": "next"}),
    ("duplicated nav", {"state": "UK", "nav": ["next", "back"]}),
    ("unknown nav", {"state": "UK", "nav": "jump"}),
    ("unknown choice code", {"state": "FR", "nav": "next"}),
    ("code with sql", {"state": "UK' OR 1=1 --", "nav": "next"}),
    ("code with html", {"state": "<script>alert(1)</script>", "nav": "next"}),
    ("integer as text", {"state": "UK", "years": "ten", "nav": "next"}),
    ("integer out of range", {"state": "UK", "years": "61", "nav": "next"}),
    ("negative integer", {"state": "UK", "years": "-1", "nav": "next"}),
    ("huge integer", {"state": "UK", "years": "9" * 400, "nav": "next"}),
    ("float for integer", {"state": "UK", "years": "5.5", "nav": "next"}),
    ("exponent", {"state": "UK", "years": "1e3", "nav": "next"}),
    ("nan", {"state": "UK", "years": "NaN", "nav": "next"}),
    ("infinity", {"state": "UK", "years": "inf", "nav": "next"}),
    ("unicode digits", {"state": "UK", "years": "١٢٣٤٥", "nav": "next"}),
    ("null byte", {"state": "UK", "sector": "other", "sector_other": "a\x00b", "nav": "next"}),
    ("control characters", {"state": "UK", "sector": "other", "sector_other": "a\x07\x1bb", "nav": "next"}),
    ("oversized text", {"state": "UK", "sector": "other", "sector_other": "x" * 5000, "nav": "next"}),
    ("very long field", {"state": "UK", "years": "1" * 30000, "nav": "next"}),
    ("unknown multiple choice code", {"state": "UK", "activities": ["staff_talks", "bogus"], "nav": "next"}),
    (
        "duplicated multiple choice code",
        {"state": "UK", "activities": ["staff_talks", "staff_talks"], "nav": "next"},
    ),
    ("none with others", {"state": "UK", "activities": ["none", "exercises"], "nav": "next"}),
    ("missing required", {"years": "5", "nav": "next"}),
    ("empty required", {"state": "", "nav": "next"}),
    ("empty post", {}),
    ("only nav", {"nav": "next"}),
    ("dont know on item without it", {"state": "UK", "years.dont_know": "yes", "nav": "next"}),
    ("many unknown fields", {**{f"f{i}": "x" for i in range(500)}, "nav": "next"}),
    ("bad language switch", {"state": "UK", "switch_language": "xx", "years": "ten"}),
    ("twice switch", {"state": "UK", "switch_language": ["ur", "en"]}),
    ("emoji code", {"state": "🇬🇧", "nav": "next"}),
    ("whitespace code", {"state": " UK ", "nav": "next"}),
    ("tab in integer", {"state": "UK", "years": "\t5\t", "nav": "bogus"}),
    ("array-like name", {"state[]": "UK", "nav": "next"}),
    ("dotted unknown part", {"state": "UK", "years.q05": "1", "nav": "next"}),
]


@pytest.mark.parametrize(("case", "fields"), MALFORMED, ids=[c for c, _ in MALFORMED])
def test_malformed_post_is_refused_without_storing_anything(
    app: Flask, client: FlaskClient, study: StudyHandle, case: str, fields: dict[str, Any]
) -> None:
    (token,) = study.invite("UK")
    page = consented(client, token)
    data = {"csrf_token": csrf_of(page.text), **fields}
    if data["csrf_token"] is None:
        del data["csrf_token"]
    response = client.post(f"/s/{token}/p/background", data=data)
    assert response.status_code < 500, response.text[:300]
    assert response.status_code in {400, 413, 422} or (
        case == "twice switch" and response.status_code == 400
    ), (
        case,
        response.status_code,
    )
    with app.app_context():
        items = set(db.session.scalars(select(Answer.item_id)))
        assert items == {"consent"}, (case, items)
        assert db.session.scalar(select(func.count()).select_from(Response)) == 1


def test_invalid_utf8_body_is_refused(app: Flask, client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    page = consented(client, token)
    body = b"csrf_token=" + csrf_of(page.text).encode() + b"&state=\xff\xfe&nav=next"
    response = client.post(
        f"/s/{token}/p/background", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in {400, 422}
    with app.app_context():
        assert set(db.session.scalars(select(Answer.item_id))) == {"consent"}


def test_oversized_request_is_refused_with_413(app: Flask, client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    page = begin(client, token)
    body = {"csrf_token": csrf_of(page.text), "consent": "yes", "nav": "next", "pad": "x" * (3 * 1024 * 1024)}
    response = client.post(f"/s/{token}/p/welcome", data=body)
    assert response.status_code == 413
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


def test_posts_to_unknown_tokens_and_pages_are_4xx(client: FlaskClient, study: StudyHandle) -> None:
    (token,) = study.invite("UK")
    page = begin(client, token)
    csrf = csrf_of(page.text)
    assert (
        client.post("/s/unknown-token-1234567890/p/background", data={"csrf_token": csrf}).status_code == 404
    )
    assert (
        client.post(f"/s/{token}/p/no_such_page", data={"csrf_token": csrf, "nav": "next"}).status_code == 404
    )
    assert (
        client.post(f"/s/{token}/review", data={"csrf_token": csrf, "nav": "submit", "x": "1"}).status_code
        == 400
    )


def test_multipart_part_without_a_name_is_a_400(app: Flask, client: FlaskClient, study: StudyHandle) -> None:
    """Found by Hypothesis: a nameless multipart part used to crash Flask-WTF's CSRF check (a 500)."""
    (token,) = study.invite("UK")
    begin(client, token)
    body = b'--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b\r\nContent-Disposition: form-data; name="nav"\r\n\r\nnext\r\n--b--\r\n'
    response = client.post(f"/s/{token}/p/welcome", data=body, content_type="multipart/form-data; boundary=b")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 0
