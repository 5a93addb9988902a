"""Few requests per response: the scripted expert completes the flagship in at most 20 requests, in either
language, through the page contract alone (post/redirect/get on every step, no JavaScript)."""

from __future__ import annotations

import httpx
import pytest
from flask import Flask
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.loading import load_file
from elicit.models import Answer, Response, ResponseStatus
from tests.conftest import FLAGSHIP, StudyHandle
from tests.load.respondent import Respondent, expected_variables, stored_variables

DEFINITION = load_file(FLAGSHIP)
MOST = 20  # the target for the flagship


@pytest.mark.parametrize("language", ["en", "ur"])
def test_the_flagship_takes_at_most_20_requests(app: Flask, study: StudyHandle, language: str) -> None:
    (token,) = study.invite("PK")
    expert = Respondent("http://elicit.test", token, "PK", DEFINITION, seed=3, language=language)
    expert.client = httpx.Client(  # the app in process, as a browser sees it: cookies, redirects not followed
        transport=httpx.WSGITransport(app=app), headers={"Accept-Language": language}
    )
    outcome = expert.run()
    assert outcome.failure is None and outcome.submitted
    kinds = [(method, kind) for method, kind, _ in outcome.timings]
    pages = len(DEFINITION.pages)
    # The landing is the first page; each page is one POST answered by a redirect and its GET; the last page's
    # POST submits; the thank-you page is the last GET.
    assert len(kinds) <= MOST and len(kinds) == 2 * pages + 1, kinds
    assert kinds[0] == ("GET", "landing") and kinds[-2] == ("POST", "save+submit") and kinds[-1][0] == "GET"
    assert sum(method == "POST" for method, _ in kinds) == pages
    assert set(outcome.statuses) == {200, 303}
    with app.app_context():
        response = db.session.scalar(select(Response))
        assert response is not None and response.status == ResponseStatus.SUBMITTED
        assert response.language == language  # negotiated from Accept-Language, no language page
        assert response.invitation_id is None  # anonymous
        assert sorted((response.pages_done or "").split()) == sorted(p.id for p in DEFINITION.pages)
        rows = db.session.execute(
            select(Answer.item_id, Answer.part, Answer.value_num, Answer.value_text)
        ).all()
    assert stored_variables(rows) == expected_variables(DEFINITION, outcome.sent)
