"""Delphi reasons are scrubbed before other experts see them (issue 12, item 7).

The attack: in a pseudonymous Delphi, experts read each other's reasons from the previous round on the feedback
page. One expert wrote their phone number, e-mail address, a colleague's name and their own link into a reason;
the next round's page showed it verbatim to every other expert. The page of round 2 must hold none of it.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from elicit.db import db
from elicit.models import AnswerNote, Invitation, Response, ResponseStatus
from elicit.studies import RosterRow, create_study, find_study, import_roster
from elicit.tokens import token_hash
from tests.exporting.helpers import BASE_ANSWERS, answer, flagship_variant, publish_text
from tests.survey.contract import current_values, questionnaire_form

SLUG = "delphi-reasons"
NAMES = [
    ("Zebulon Quartermaine", "UK"),
    ("Aurelia Thistlewood", "UK"),
    ("Tom Hardy", "UK"),
    ("Sam Lee", "UK"),
    ("Ann Fry", "UK"),
    ("Ben Cole", "UK"),
    ("Farrukh Qizilbashzada", "PK"),
    ("علی حیدر", "PK"),
    ("Ayesha Siddiqa", "PK"),
]
PHONE = "+92 300 1234567"
EMAIL = "farrukh.q@karakoram.example.pk"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def _follow(client: FlaskClient, response: Any) -> Any:
    while response.status_code in (302, 303):
        response = client.get(response.headers["Location"])
    return response


def test_reasons_shown_to_other_experts_are_scrubbed(app: Flask, runner: FlaskCliRunner) -> None:
    instrument = flagship_variant(
        **{
            "anonymity: anonymous": "anonymity: pseudonymous",
            "id: defence-diplomacy\n": "id: delphi-reasons\n",
        }
    )
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, instrument)
        study = create_study(session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        rows = [
            RosterRow(
                i + 2, name, f"expert{i}@example.org", "Karakoram Strategic Institute" if i == 6 else "", c
            )
            for i, (name, c) in enumerate(NAMES)
        ]
        tokens = [link.token for link in import_roster(session, study, rows)]
    with app.app_context(), db.transaction() as session:
        for token, (_name, cohort) in zip(tokens, NAMES, strict=True):
            answer(session, token, {**BASE_ANSWERS, "state": cohort}, language="en")
        # The reason one expert gave with their round-1 answer (as a round-2 answer stores it for round 3).
        study = find_study(session, SLUG)
        writer = session.scalar(
            select(Response)
            .where(Response.study_id == study.id, Response.status == ResponseStatus.SUBMITTED.value)
            .order_by(Response.id)
        )
        assert writer is not None and writer.invitation_id is not None
        invitation = session.get(Invitation, writer.invitation_id)
        assert invitation is not None
        own = next(t for t in tokens if token_hash(t) == invitation.token_hash)  # the writer's own link
        reason = (
            f"Ask me: {PHONE} or {EMAIL} (or ali at mod dot gov dot pk). Zebulon QUARTERMAINE and علي حيدر agree; "
            f"the Karakoram Strategic Institute too. My link: {own[:20]}\n{own[20:]}"
        )
        session.add(AnswerNote(response_id=writer.id, item_id="afford", rationale=reason))
    for args in (["round", "close", SLUG], ["round", "open", SLUG, "--feedback", "afford"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output

    reader = next(t for t in tokens if t != own)
    html = ""
    for token in tokens:  # every expert but the writer sees the reason; check them all
        client = app.test_client()
        page = _follow(client, client.get(f"/s/{token}"))
        if 'name="language"' in page.text:
            page = _follow(
                client, client.post(f"/s/{token}", data={"csrf_token": _csrf(page.text), "language": "en"})
            )
        while "/p/affordability" not in page.request.path:
            form = questionnaire_form(page.text)
            data = {k: v for k, v in current_values(form).items() if k != "csrf_token"}
            data.update(csrf_token=[_csrf(page.text)], nav=["next"])
            page = _follow(client, client.post(form["action"], data=data))
            assert page.status_code == 200, page.text[:300]
        if token == reader:
            html = page.text
        text = page.text.casefold()
        for secret in (PHONE, "1234567", EMAIL, "karakoram", "mod dot gov", "quartermaine", "zebulon"):
            assert secret.casefold() not in text, (secret, token == reader)
        assert "علي" not in text and "علی" not in text and "حيدر" not in text and "حیدر" not in text
        if token != own:  # the writer's own pages carry their link in every URL
            assert own[:20].casefold() not in text and own[20:].casefold() not in text
    assert "Reasons other experts gave (1)" in html
    assert "[phone]" in html and "[email]" in html and "[name]" in html and "[token]" in html
