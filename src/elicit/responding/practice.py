"""Calibration training: the practice page before the questions, scored at once, stored apart. No Flask here.

An instrument's ``practice:`` block asks seed-like questions whose true values are known. Once the expert has
given consent (the pages before the first real question), the practice page comes before the questions until the
expert scores it or skips it. Scoring tells them how many true values fell inside their ranges (lowest to highest
level: a 5 %-95 % range is a 90 % range), the usual first lesson of structured expert judgement: most people's
ranges are too narrow.

Practice values go to ``practice_answers`` and the outcome to ``practice_records``, never to ``answers``: no
export, analysis, review page, progress count or studio count reads them. A declined response loses them with
its answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from elicit.instruments.schema import Definition, Item, Practice
from elicit.models import PracticeAnswer, PracticeRecord, PracticeStatus, Response
from elicit.responding import flow
from elicit.responding.values import FieldError, Message, StoredValue, from_rows, parse_item, to_rows

NEEDS_ANSWER = Message("This question needs an answer.")


@dataclass(frozen=True)
class ScoredQuestion:
    """One practice question scored: the expert's range, the true value and whether the range caught it."""

    item: Item
    value: Mapping[str, float]
    low: float
    high: float
    answer: float

    @property
    def inside(self) -> bool:
        return self.low <= self.answer <= self.high


@dataclass(frozen=True)
class PracticeScore:
    """The score of a practice page: each question, and the nominal coverage of the ranges in percent."""

    questions: tuple[ScoredQuestion, ...]
    coverage: int

    @property
    def caught(self) -> int:
        return sum(question.inside for question in self.questions)

    @property
    def total(self) -> int:
        return len(self.questions)


def coverage(item: Item) -> int:
    """The nominal coverage of an item's range in percent: its highest level less its lowest (95 - 5 = 90)."""
    return item.levels[-1] - item.levels[0]


def score(practice: Practice, values: Mapping[str, Mapping[str, float]]) -> PracticeScore:
    """Score answered practice questions against their true values (every range from lowest to highest level)."""
    questions = []
    for item in practice.items:
        value = values.get(item.id)
        if not value:
            continue
        low, high = value[item.parts[0]], value[item.parts[-1]]
        questions.append(ScoredQuestion(item, value, low, high, practice.answers[item.id]))
    return PracticeScore(tuple(questions), coverage(practice.items[0]))


def point(definition: Definition, answers: Mapping[str, Any]) -> str | None:
    """The page the practice page comes before: the first visible page with a question that is not consent."""
    for page in flow.visible_pages(definition, answers):
        if any(not item.kind.gates_response for item, _matrix in flow.items_on(page)):
            return page.id
    return None


def is_open(link: flow.ExpertLink) -> bool:
    """Whether the practice page may be shown: the instrument has one and the pages before it are saved."""
    if link.definition.practice is None or link.response is None:
        return False
    before = point(link.definition, link.answers)
    return before is not None and flow.reachable(link, before)


def due(link: flow.ExpertLink, target: str) -> bool:
    """Whether going to ``target`` (a page id or the review) must pass the practice page first: it is neither
    scored nor skipped, and ``target`` is the page it comes before or a later one."""
    if link.definition.practice is None or link.practice_status is not None or link.response is None:
        return False
    before = point(link.definition, link.answers)
    if before is None:
        return False
    if target == flow.REVIEW:
        return True
    visible = [page.id for page in flow.visible_pages(link.definition, link.answers)]
    return target in visible and visible.index(target) >= visible.index(before)


def load_values(session: Session, response: Response, practice: Practice) -> dict[str, Any]:
    """The stored practice values of a response, by practice item id."""
    rows: dict[str, list[StoredValue]] = defaultdict(list)
    query = select(PracticeAnswer.item_id, PracticeAnswer.part, PracticeAnswer.value_num).where(
        PracticeAnswer.response_id == response.id
    )
    for item_id, part, value_num in session.execute(query):
        rows[item_id].append(StoredValue(part, value_num, None))
    values: dict[str, Any] = {}
    for item_id, item_rows in rows.items():
        try:
            item = practice.item(item_id)
        except KeyError:
            continue
        values[item_id] = from_rows(item, item_rows)
    return values


def parse(practice: Practice, form: Mapping[str, Sequence[str]]) -> tuple[dict[str, Any], dict[str, Message]]:
    """Each practice question's value as its type parses it, and the errors by field (every one needs an answer)."""
    values: dict[str, Any] = {}
    errors: dict[str, Message] = {}
    for item in practice.items:
        try:
            value = parse_item(item, form)
        except FieldError as exc:
            errors[exc.field] = exc.message
            continue
        if value is None:
            errors[flow.field_of(item)] = NEEDS_ANSWER
        else:
            values[item.id] = value
    return values, errors


def record_score(session: Session, link: flow.ExpertLink, values: Mapping[str, Any]) -> None:
    """Store the practice values and mark the practice scored (the link is locked by the caller)."""
    response, practice = link.response, link.definition.practice
    assert response is not None and practice is not None  # nosec B101  # narrows the type: callers check both
    session.execute(delete(PracticeAnswer).where(PracticeAnswer.response_id == response.id))
    for item in practice.items:
        for row in to_rows(item, values.get(item.id)):
            session.add(
                PracticeAnswer(
                    response_id=response.id, item_id=item.id, part=row.part, value_num=row.value_num
                )
            )
    _mark(session, link, PracticeStatus.SCORED)


def record_skip(session: Session, link: flow.ExpertLink) -> None:
    """Mark the practice skipped, unless it was scored (the link is locked by the caller)."""
    if link.practice_status is None:
        _mark(session, link, PracticeStatus.SKIPPED)


def _mark(session: Session, link: flow.ExpertLink, status: PracticeStatus) -> None:
    response = link.response
    assert response is not None  # nosec B101  # narrows the type: callers check it
    record = session.get(PracticeRecord, response.id)
    if record is None:
        session.add(PracticeRecord(response_id=response.id, status=status))
    else:
        record.status = status
    link.practice_status = status
    session.flush()


_VERSION_DOMAIN = b"elicit/practice-version/v1"


def version(link: flow.ExpertLink, values: Mapping[str, Any]) -> str:
    """The version of what is stored for the practice page (its outcome and values), as ``flow.answers_version``
    is for a page: an HMAC under a key of its own, so a post from a page another window has scored is recognised."""
    response, practice = link.response, link.definition.practice
    if response is None or practice is None:
        return ""
    stored = []
    for item in sorted(practice.items, key=lambda item: item.id):
        rows = sorted(to_rows(item, values.get(item.id)), key=lambda row: row.part)
        stored.append([item.id, [[row.part, row.value_num] for row in rows]])
    status = link.practice_status.value if link.practice_status is not None else None
    key = hmac.new(link.secret.encode("utf-8"), _VERSION_DOMAIN, hashlib.sha256).digest()
    message = json.dumps([response.id, status, stored], separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
