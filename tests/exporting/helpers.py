"""Helpers for export tests: run commands, answer the flagship through the real flow, expected cells."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import current_app
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.instruments.loading import load_text
from elicit.instruments.schema import Definition
from elicit.instruments.versions import definition_of, publish_version
from elicit.models import Invitation, Response, ResponseStatus, Study
from elicit.responding import flow
from elicit.responding.values import DONT_KNOW, form_fields
from elicit.studies import find_cohort
from elicit.tokens import new_token, token_hash

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "instruments" / "defence-diplomacy" / "1.0.0.yaml"
SLUG = "defence-diplomacy-demo"

# A complete, valid set of answers to the flagship; tests override what they need.
BASE_ANSWERS: dict[str, Any] = {
    "consent": "yes",
    "state": "UK",
    "sector": "academia",
    "seniority": "senior",
    "years": 12,
    "activities": ["staff_talks", "exercises"],
    **{f"tac_{i}": 4 for i in range(1, 6)},
    **{f"str_{i}": 3 for i in range(1, 6)},
    **{f"eco_{i}": 2 for i in range(1, 7)},
    "alloc": {"tactical": 50, "strategic": 30, "economic": 20},
    "rank_leverage": {"tactical": 1, "strategic": 2, "economic": 3},
    "afford": 3,
    "afford_value": 4,
    "afford_tradeoff": 2,
    "covid_role": 5,
    "exports_change": {"q05": -5.5, "q50": 10.0, "q95": 30.25},
    "rationale": "Staff talks build trust.",
}


def run(runner: FlaskCliRunner, *args: str, input: str | None = None) -> tuple[int, str, str]:
    """Invoke ``elicit``; unexpected exceptions surface, exits are returned with stdout and stderr."""
    result = runner.invoke(args=list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def demo(runner: FlaskCliRunner, responses: int = 6) -> None:
    code, _, err = run(runner, "demo", "--responses", str(responses), "--links", "0")
    assert code == 0, err


def flagship_variant(**replacements: str) -> str:
    """The flagship YAML with text replacements (first occurrence each), for test instruments."""
    text = FLAGSHIP.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def publish_text(session: Session, text: str) -> Any:
    definition = load_text(text, "<test>")
    version, _ = publish_version(session, definition, "test")
    return version


def new_invitation(session: Session, study: Study, cohort: str) -> str:
    """A fresh invitation (no roster) and its token."""
    token = new_token()
    invitation = Invitation(
        study_id=study.id, cohort=find_cohort(study, cohort), token_hash=token_hash(token)
    )
    if study.anonymity == "pseudonymous":
        from elicit.tokens import pseudonym

        invitation.pseudonym = pseudonym(study.pseudonym_key, new_token())
    session.add(invitation)
    session.flush()
    return token


def answer(
    session: Session, token: str, values: Mapping[str, Any], language: str = "en", submit: bool = True
) -> Response:
    """Answer every visible page with ``values`` through the real flow (validation included), then submit."""
    link = flow.open_by_token(session, token, secret=current_app.config["SECRET_KEY"])
    flow.start(session, link, language)
    while True:
        page_id = flow.resume_page(link)
        if page_id == flow.REVIEW:
            break
        page = next(p for p in link.definition.pages if p.id == page_id)
        form: dict[str, list[str]] = {}
        answers = dict(link.answers)
        for item in page.answerable_items():
            if not flow.item_visible(item, answers):
                continue
            value = values.get(item.id)
            answers[item.id] = value
            form.update(form_fields(item, value))
        result = flow.save_page(session, link, page, form)
        assert result.ok, {k: v.english() for k, v in result.errors.items()}
    response = link.response
    assert response is not None
    if submit:
        flow.submit(session, link)
    return response


def submitted(session: Session, study: Study) -> list[Response]:
    """Submitted responses in id order (the order of the export's rows)."""
    return list(
        session.scalars(
            select(Response)
            .where(Response.study_id == study.id, Response.status == ResponseStatus.SUBMITTED.value)
            .order_by(Response.id)
        )
    )


def years_bin(value: int) -> str:
    """The flagship's bins [0, 5, 10, 20, 30, 60] as docs/instruments.md describes them."""
    for low, high in ((0, 5), (5, 10), (10, 20), (20, 30)):
        if low <= value < high:
            return f"{low}-{high - 1}"
    return "30-60"


def expected_cells(definition: Definition, values: Mapping[str, Any]) -> dict[str, Any]:
    """The data cells docs/export.md promises for one response's values (None = empty)."""
    cells: dict[str, Any] = {}
    for item in definition.items():
        value = values.get(item.id)
        if value is DONT_KNOW:
            value = None
        if item.type == "multiple_choice":
            chosen = None if value is None else {str(code) for code in value}
            for choice in item.choices:
                cells[f"{item.id}.{choice.key}"] = None if chosen is None else int(choice.key in chosen)
        elif item.type in {"ranking", "constant_sum", "quantiles"}:
            for part in item.parts:
                cells[f"{item.id}.{part}"] = None if value is None else value[part]
        elif item.id == "years" and value is not None:
            cells[item.id] = years_bin(value)
        else:
            cells[item.id] = value
    return cells


def same(expected: Any, actual: Any) -> bool:
    """Equal as values: missing is None/NaN/''; numbers compare as numbers."""
    missing = actual is None or actual == "" or (isinstance(actual, float) and math.isnan(actual))
    if expected is None:
        return missing
    if missing:
        return False
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    return str(actual) == str(expected)


def definition_for(response: Response) -> Definition:
    return definition_of(response.instrument_version)
