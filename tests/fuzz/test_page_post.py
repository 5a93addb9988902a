"""Random posts to an expert's page: never a 5xx, and nothing stored when the post is refused.

Field names (the page's own, other pages', control fields and arbitrary text), values (any text, repeated,
empty, up to beyond the size limits) and encodings (form-urlencoded, multipart with files, raw bytes in other
charsets and content types) are drawn by Hypothesis and posted through the Flask test client with the expert's
valid CSRF token most of the time, so the request reaches the page handler rather than stopping at CSRF.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from elicit.db import db
from elicit.models import Answer, Response
from tests.conftest import StudyHandle
from tests.survey.test_expert_flow import DEFINITION, begin, csrf_of, follow

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
    ],
)

PAGE_FIELDS = ["state", "years", "sector", "sector_other", "activities", "years.dont_know"]
OTHER_FIELDS = ["consent", "tac_1", "alloc.tactical", "rank_leverage.economic", "q_cost.q05", "outlook_text"]
CONTROL_FIELDS = ["nav", "switch_language", "language", "csrf_token"]
VALUES = [
    "UK",
    "PK",
    "other",
    "academia",
    "5",
    "-1",
    "61",
    "1e3",
    "NaN",
    "next",
    "back",
    "submit",
    "ur",
    "en",
    "yes",
]


def snapshot(app: Flask) -> tuple[Any, ...]:
    """What a refused post must not change: every answer row and each response's saved pages and status."""
    with app.app_context():
        answers = sorted(
            db.session.execute(
                select(Answer.response_id, Answer.item_id, Answer.part, Answer.value_num, Answer.value_text)
            ).all()
        )
        responses = sorted(
            db.session.execute(select(Response.id, Response.pages_done, Response.status)).all()
        )
    return tuple(answers), tuple(responses)


@pytest.fixture
def expert(app: Flask, study: StudyHandle) -> tuple[FlaskClient, str, str]:
    """A client whose expert has consented and stands on the background page; its token and CSRF token."""
    (token,) = study.invite("UK")
    client = app.test_client()
    page = begin(client, token)
    csrf = csrf_of(page.text)
    page = follow(
        client,
        client.post(f"/s/{token}/p/welcome", data={"csrf_token": csrf, "consent": "yes", "nav": "next"}),
    )
    assert page.request.path.endswith("/p/background")
    return client, token, csrf


names = st.one_of(
    st.sampled_from(PAGE_FIELDS + OTHER_FIELDS + CONTROL_FIELDS),
    st.text(max_size=30),
    st.sampled_from(PAGE_FIELDS).map(lambda n: n + "." + "x"),
)
values = st.one_of(
    st.sampled_from(VALUES),
    st.text(max_size=200),
    st.sampled_from([0, 64, 255, 256, 4096, 70_000, 600_000]).map(
        lambda n: "9" * n
    ),  # to past the memory limit
)
any_fields = st.dictionaries(names, st.lists(values, min_size=1, max_size=3), max_size=12)


def own_fields(page_id: str) -> st.SearchStrategy[dict[str, list[str]]]:
    """Only the page's own field names, with a usual nav: posts that reach every item's parser."""
    if page_id == "review":
        return st.fixed_dictionaries({"nav": st.sampled_from([["submit"], ["back"], ["next"]])})
    page = next(p for p in DEFINITION.pages if p.id == page_id)
    own = sorted({name for item in page.answerable_items() for name in (item.id, *item.variables)})
    return st.dictionaries(
        st.sampled_from(own), st.lists(values, min_size=1, max_size=2), max_size=len(own)
    ).map(lambda fields: {**fields, "nav": ["next"]})


@st.composite
def posts(draw: st.DrawFn, csrf: str, page_id: str) -> dict[str, Any]:
    """Keyword arguments for ``client.post``: data in one of several encodings, usually with the CSRF token."""
    fields = draw(st.one_of(any_fields, own_fields(page_id)))
    if draw(st.integers(0, 9)) > 0:
        fields["csrf_token"] = [csrf]
    encoding = draw(st.sampled_from(["form", "multipart", "raw-urlencoded", "raw-other"]))
    if encoding == "form":
        return {"data": fields}
    if encoding == "multipart":
        data: dict[str, Any] = dict(fields)
        if draw(st.booleans()):
            data[draw(names)] = (
                io.BytesIO(draw(st.binary(max_size=2000))),
                draw(st.text(max_size=20)) or "f",
            )
        return {"data": data, "content_type": "multipart/form-data"}
    pairs = [
        (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
        for k, vs in fields.items()
        for v in vs
    ]
    if encoding == "raw-urlencoded":
        body = b"&".join(quote_from_bytes(k).encode() + b"=" + quote_from_bytes(v).encode() for k, v in pairs)
        body += draw(st.binary(max_size=200))  # trailing garbage: stray %, invalid UTF-8, NUL
        charset = draw(
            st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", "; charset=utf-16", "; charset=x"])
        )
        return {"data": body, "content_type": "application/x-www-form-urlencoded" + charset}
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "text/plain",
                "multipart/form-data; boundary=zz",
                "application/octet-stream",
                "",
            ]
        )
    )
    return {"data": draw(st.binary(max_size=3000)), "content_type": content_type}


@FUZZ
@given(data=st.data())
def test_random_posts_never_give_a_5xx_and_store_nothing_when_refused(
    app: Flask, expert: tuple[FlaskClient, str, str], data: st.DataObject
) -> None:
    client, token, csrf = expert
    target = data.draw(st.sampled_from(["background", "background", "welcome", "lev_tactical", "review"]))
    path = f"/s/{token}/review" if target == "review" else f"/s/{token}/p/{target}"
    before = snapshot(app)
    response = client.post(path, **data.draw(posts(csrf, target)))
    event(f"{target}: {response.status_code}")  # see --hypothesis-show-statistics
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
    if response.status_code != 303:  # refused, or re-shown with errors: nothing may have changed
        assert snapshot(app) == before, (response.status_code, path)


@FUZZ
@given(body=st.binary(max_size=5000))
def test_random_bytes_without_a_content_type_never_give_a_5xx(
    app: Flask, expert: tuple[FlaskClient, str, str], body: bytes
) -> None:
    client, token, _ = expert
    before = snapshot(app)
    response = client.post(
        f"/s/{token}/p/background", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code < 500
    if response.status_code != 303:
        assert snapshot(app) == before
