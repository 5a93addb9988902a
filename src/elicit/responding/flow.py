"""The domain of answering: open a link, move through pages, save, resume, submit. No Flask here.

Every write first locks the expert's invitation row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
transactions already hold the write lock from BEGIN), so two tabs, a double click or a replayed POST are
serialized and see each other's result: one response per invitation and round, submitted at most once.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from elicit.instruments.schema import Definition, Item, Page
from elicit.instruments.versions import definition_of
from elicit.models import (
    Answer,
    AnswerNote,
    InstrumentVersion,
    Invitation,
    InvitationStatus,
    Response,
    ResponseStatus,
    Round,
    RoundStatus,
    Study,
    StudyStatus,
    utcnow,
)
from elicit.responding.values import (
    DONT_KNOW,
    FieldError,
    Message,
    StoredValue,
    from_rows,
    is_answered,
    parse_item,
    parse_note,
    to_rows,
)
from elicit.tokens import token_hash

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
REVIEW = "review"


class LinkError(Exception):
    """A link that cannot be used; ``status`` is the HTTP status (404 unknown, 410 revoked or closed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class IncompleteResponse(Exception):
    """Required questions are unanswered, so the response cannot be submitted yet."""


class AlreadySubmitted(Exception):
    """The response was submitted; answers cannot change."""


@dataclass
class ExpertLink:
    """Everything a page request needs about one expert's link."""

    invitation: Invitation
    study: Study
    round: Round
    definition: Definition
    response: Response | None
    answers: dict[str, Any] = field(default_factory=dict)
    locked: bool = False

    @property
    def submitted(self) -> bool:
        return self.invitation.status == InvitationStatus.SUBMITTED.value or (
            self.response is not None and self.response.status == ResponseStatus.SUBMITTED.value
        )

    @property
    def declined(self) -> bool:
        return self.invitation.status == InvitationStatus.DECLINED.value

    @property
    def pages_done(self) -> set[str]:
        return set((self.response.pages_done or "").split()) if self.response else set()


def open_by_token(session: Session, token: str, *, lock: bool = False) -> ExpertLink:
    """Find the invitation behind a token and the study's open round; raise LinkError when unusable.

    One query reads the invitation, its study, the open round, the expert's response in it and the version's
    hash (this runs on every page request); ``lock`` takes the invitation's row lock in the same statement.
    """
    if not TOKEN_RE.match(token or ""):
        raise LinkError(404, "unknown")
    version_id = func.coalesce(Response.instrument_version_id, Round.instrument_version_id)
    query = (
        select(Invitation, Study, Round, Response, InstrumentVersion.sha256)
        .join(Study, Study.id == Invitation.study_id)
        .outerjoin(Round, and_(Round.study_id == Study.id, Round.status == RoundStatus.OPEN.value))
        .outerjoin(Response, and_(Response.invitation_id == Invitation.id, Response.round_id == Round.id))
        .outerjoin(InstrumentVersion, InstrumentVersion.id == version_id)
        .where(Invitation.token_hash == token_hash(token))
    )
    if lock:
        query = query.with_for_update(of=Invitation)
    row = session.execute(query).first()
    if row is None:
        raise LinkError(404, "unknown")
    invitation, study, rnd, response, sha = row
    if invitation.status == InvitationStatus.REVOKED.value:
        raise LinkError(410, "revoked")
    if rnd is None or study.status == StudyStatus.CLOSED.value or _past(study.closes_on):
        # A submitted expert may still see the thank-you page; everyone else learns the study is closed.
        if invitation.status not in {InvitationStatus.SUBMITTED.value, InvitationStatus.DECLINED.value}:
            raise LinkError(410, "closed")
        if rnd is None:
            rnd = _last_round(session, study)
            assert rnd is not None  # nosec B101  # narrows the type: a study with a response has a round; not a security check
            response = session.scalar(
                select(Response).where(Response.invitation_id == invitation.id, Response.round_id == rnd.id)
            )
            sha = None
    if study.opens_on is not None and study.opens_on > utcnow().date():
        raise LinkError(410, "not_open")
    definition_id = response.instrument_version_id if response else rnd.instrument_version_id
    link = ExpertLink(
        invitation, study, rnd, definition_by_id(session, definition_id, sha), response, locked=lock
    )
    if response is not None:
        link.answers = load_answers(session, response, link.definition)
    return link


_DEFINITIONS: dict[tuple[int, str], Definition] = {}


def definition_by_id(session: Session, version_id: int, sha: str | None = None) -> Definition:
    """The definition of a published version, parsed once per process (versions never change).

    Keyed by id and sha256, so two databases whose version 1 differ never share an entry; only the hash is read
    on a hit (or given by the caller), not the whole canonical document.
    """
    if sha is None:
        sha = session.scalar(select(InstrumentVersion.sha256).where(InstrumentVersion.id == version_id))
    if sha is None:
        raise LinkError(404, "unknown")
    key = (version_id, sha)
    cached = _DEFINITIONS.get(key)
    if cached is None:
        version = session.get(InstrumentVersion, version_id)
        assert version is not None  # nosec B101  # narrows the type: the foreign key guarantees the version; not a security check
        cached = definition_of(version)
        if len(_DEFINITIONS) > 256:
            _DEFINITIONS.clear()
        _DEFINITIONS[key] = cached
    return cached


def _past(day: date | None) -> bool:
    return day is not None and day < utcnow().date()


def _last_round(session: Session, study: Study) -> Round | None:
    return session.scalar(select(Round).where(Round.study_id == study.id).order_by(Round.number.desc()))


def load_answers(session: Session, response: Response, definition: Definition) -> dict[str, Any]:
    """The stored answers of a response as values by item id."""
    rows: dict[str, list[StoredValue]] = defaultdict(list)
    query = select(Answer.item_id, Answer.part, Answer.value_num, Answer.value_text, Answer.dont_know).where(
        Answer.response_id == response.id
    )
    for item_id, part, value_num, value_text, dont_know in session.execute(query):
        rows[item_id].append(StoredValue(part, value_num, value_text, dont_know))
    answers: dict[str, Any] = {}
    for item_id, item_rows in rows.items():
        try:
            item = definition.item(item_id)
        except KeyError:
            continue
        answers[item_id] = from_rows(item, item_rows)
    return answers


def expression_values(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Answers as expressions see them: "don't know" is unanswered."""
    return {k: (None if v is DONT_KNOW else v) for k, v in answers.items()}


def page_visible(page: Page, answers: Mapping[str, Any]) -> bool:
    return page.relevant is None or page.relevant.truthy(expression_values(answers))


def visible_pages(definition: Definition, answers: Mapping[str, Any]) -> list[Page]:
    return [page for page in definition.pages if page_visible(page, answers)]


def item_visible(item: Item, answers: Mapping[str, Any], matrix: Item | None = None) -> bool:
    values = expression_values(answers)
    if matrix is not None and matrix.relevant is not None and not matrix.relevant.truthy(values):
        return False
    return item.relevant is None or item.relevant.truthy(values)


def progress_pages(definition: Definition, answers: Mapping[str, Any]) -> list[Page]:
    """Pages that are shown or may still be shown (their relevance names an unanswered item), for "page k of n"."""
    result = []
    for page in definition.pages:
        undecided = page.relevant is not None and any(
            answers.get(ref) is None for ref in page.relevant.references()
        )
        if undecided or page_visible(page, answers):
            result.append(page)
    return result


def resume_page(link: ExpertLink) -> str:
    """The page to continue at: the first visible page not yet saved, or the review page."""
    done = link.pages_done
    for page in visible_pages(link.definition, link.answers):
        if page.id not in done:
            return page.id
    return REVIEW


def start(session: Session, link: ExpertLink, language: str) -> Response:
    """Create the response (or reuse it: a second tab finds the first one's) in the chosen language."""
    if language not in link.definition.languages:
        language = link.definition.languages[0]
    locked = _lock(session, link)
    if locked.response is not None:
        locked.response.language = language
        return locked.response
    response = Response(
        invitation_id=link.invitation.id,
        study_id=link.study.id,
        round_id=link.round.id,
        cohort_id=link.invitation.cohort_id,
        instrument_version_id=link.round.instrument_version_id,
        language=language,
        status=ResponseStatus.IN_PROGRESS.value,
        pseudonym=link.invitation.pseudonym,
        pages_done="",
    )
    session.add(response)
    if link.invitation.status == InvitationStatus.NOT_OPENED.value:
        link.invitation.status = InvitationStatus.IN_PROGRESS.value
    session.flush()
    link.response = response
    return response


def _lock(session: Session, link: ExpertLink) -> ExpertLink:
    """Re-read the invitation under a row lock and refresh what this request knows.

    A link opened with ``lock=True`` was read under the lock in this transaction already, so nothing is re-read.
    """
    if link.locked:
        if link.submitted:
            raise AlreadySubmitted()
        return link
    link.locked = True
    session.execute(select(Invitation.id).where(Invitation.id == link.invitation.id).with_for_update())
    session.refresh(link.invitation)
    response = session.scalar(
        select(Response).where(
            Response.invitation_id == link.invitation.id, Response.round_id == link.round.id
        )
    )
    link.response = response
    link.answers = load_answers(session, response, link.definition) if response else {}
    if link.submitted:
        raise AlreadySubmitted()
    return link


@dataclass
class PageResult:
    """The outcome of posting a page: the values as understood, and errors by field (empty when saved)."""

    values: dict[str, Any]
    errors: dict[str, Message]
    declined: bool = False
    notes: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_page(
    definition: Definition,
    page: Page,
    form: Mapping[str, Sequence[str]],
    answers: Mapping[str, Any],
    rationale_items: frozenset[str] = frozenset(),
) -> PageResult:
    """Parse and check every item of a page in order; items that are not relevant get no value.

    ``rationale_items`` are the items for which this round asks a rationale (Delphi feedback items).
    """
    merged = dict(answers)
    values: dict[str, Any] = {}
    errors: dict[str, Message] = {}
    notes: dict[str, tuple[int | None, str | None]] = {}
    for group in page.items:
        members = group.rows if group.type == "likert_matrix" else (group,)
        for item in members:
            if not item.answerable:
                continue
            if not item_visible(item, merged, group if group.type == "likert_matrix" else None):
                values[item.id] = None
                merged[item.id] = None
                continue
            try:
                value = parse_item(item, form)
            except FieldError as exc:
                errors[exc.field] = exc.message
                values[item.id] = None
                merged[item.id] = None
                continue
            if value is None and item.required:
                errors[field_of(item)] = Message("This question needs an answer.")
            elif (
                is_answered(value)
                and value is not DONT_KNOW
                and item.constraint is not None
                and not item.constraint.truthy(expression_values(merged), current=value)
            ):
                errors[item.id] = (
                    Message(text=item.constraint_message)
                    if item.constraint_message
                    else Message("This answer is not accepted; please check it.")
                )
            values[item.id] = value
            merged[item.id] = value
            try:
                note = parse_note(item, form, item.id in rationale_items)
            except FieldError as exc:
                errors[exc.field] = exc.message
            else:
                if note != (None, None):
                    notes[item.id] = note
    return PageResult(values, errors, notes=notes)


def rationale_items(link: ExpertLink) -> frozenset[str]:
    """Items this round asks a rationale for: the feedback items of a round after the first."""
    if link.round.number <= 1:
        return frozenset()
    return frozenset((link.round.feedback_items or "").split())


def previous_response(session: Session, link: ExpertLink) -> Response | None:
    """The same expert's submitted response in the previous round (pseudonymous studies keep the link)."""
    return session.scalar(
        select(Response)
        .join(Round, Round.id == Response.round_id)
        .where(
            Response.invitation_id == link.invitation.id,
            Round.study_id == link.study.id,
            Round.number == link.round.number - 1,
            Response.status == ResponseStatus.SUBMITTED.value,
        )
    )


def load_notes(session: Session, response: Response) -> dict[str, tuple[int | None, str | None]]:
    rows = session.execute(
        select(AnswerNote.item_id, AnswerNote.confidence, AnswerNote.rationale).where(
            AnswerNote.response_id == response.id
        )
    ).all()
    return {item_id: (confidence, rationale) for item_id, confidence, rationale in rows}


def field_of(item: Item) -> str:
    """The form field an item's error points at (the first part of a composite item)."""
    return item.id if item.parts == ("",) else f"{item.id}.{item.parts[0]}"


def save_page(
    session: Session, link: ExpertLink, page: Page, form: Mapping[str, Sequence[str]]
) -> PageResult:
    """Validate a posted page and, when valid, store it at once (answers on now-irrelevant items are cleared)."""
    locked = _lock(session, link)
    response = locked.response
    if response is None:
        raise LinkError(409, "not_started")
    result = validate_page(link.definition, page, form, locked.answers, rationale_items(link))
    if not result.ok:
        return result
    answers = dict(locked.answers)
    answers.update(result.values)
    consent_items = [i for i in page.answerable_items() if i.type == "consent"]
    if any(answers.get(i.id) == "no" for i in consent_items):
        decline(session, link)
        result.declined = True
        return result
    cleared = irrelevant_items(link.definition, answers)
    for item_id in cleared:
        answers[item_id] = None
    changed = set(result.values) | cleared
    if changed:
        session.execute(delete(Answer).where(Answer.response_id == response.id, Answer.item_id.in_(changed)))
    for item_id in changed:
        item = link.definition.item(item_id)
        for row in to_rows(item, answers[item_id]):
            session.add(
                Answer(
                    response_id=response.id,
                    item_id=item_id,
                    part=row.part,
                    value_num=row.value_num,
                    value_text=row.value_text,
                    dont_know=row.dont_know,
                )
            )
    page_items = [item.id for item in page.answerable_items()]
    session.execute(
        delete(AnswerNote).where(
            AnswerNote.response_id == response.id, AnswerNote.item_id.in_(page_items + list(cleared))
        )
    )
    for item_id, (confidence, rationale) in result.notes.items():
        if answers.get(item_id) is not None:
            session.add(
                AnswerNote(
                    response_id=response.id, item_id=item_id, confidence=confidence, rationale=rationale
                )
            )
    done = [p for p in (response.pages_done or "").split() if p != page.id] + [page.id]
    response.pages_done = " ".join(done)
    response.updated_at = utcnow()
    link.answers = {k: v for k, v in answers.items() if v is not None}
    session.flush()
    return result


def irrelevant_items(definition: Definition, answers: Mapping[str, Any]) -> set[str]:
    """Answered items whose page or own relevance is now false (evaluated in questionnaire order)."""
    current = dict(answers)
    cleared: set[str] = set()
    for page in definition.pages:
        page_on = page_visible(page, current)
        for group in page.items:
            members = group.rows if group.type == "likert_matrix" else (group,)
            for item in members:
                if not item.answerable or current.get(item.id) is None:
                    continue
                if not page_on or not item_visible(
                    item, current, group if group.type == "likert_matrix" else None
                ):
                    cleared.add(item.id)
                    current[item.id] = None
    return cleared


def missing_required(link: ExpertLink) -> list[tuple[Page, Item]]:
    """Required, visible items without an answer (submission is refused until there are none)."""
    missing = []
    for page in visible_pages(link.definition, link.answers):
        for group in page.items:
            members = group.rows if group.type == "likert_matrix" else (group,)
            for item in members:
                matrix = group if group.type == "likert_matrix" else None
                if (
                    item.required
                    and item.answerable
                    and item_visible(item, link.answers, matrix)
                    and not is_answered(link.answers.get(item.id))
                ):
                    missing.append((page, item))
    return missing


def submit(session: Session, link: ExpertLink) -> bool:
    """Submit once. Returns False when it was submitted already (a replay), True when this call submitted it.

    In anonymous studies the invitation-to-response link is cut and the times are coarsened to the date, in
    the same transaction, so nobody can join them afterwards.
    """
    try:
        locked = _lock(session, link)
    except AlreadySubmitted:
        return False
    response = locked.response
    if response is None:
        raise LinkError(409, "not_started")
    if missing_required(locked):
        raise IncompleteResponse()
    now = utcnow()
    started = response.started_at if response.started_at.tzinfo else response.started_at.replace(tzinfo=UTC)
    response.duration_minutes = max(0, math.ceil((now - started).total_seconds() / 60))
    response.status = ResponseStatus.SUBMITTED.value
    response.submitted_on = now.date()
    response.updated_at = now
    link.invitation.status = InvitationStatus.SUBMITTED.value
    if link.study.anonymity == "anonymous":
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        response.invitation_id = None
        response.started_at = datetime(started.year, started.month, started.day, tzinfo=UTC)
        response.updated_at = midnight
    session.flush()
    return True


def decline(session: Session, link: ExpertLink) -> None:
    """Consent refused: keep only the fact "declined" (no answers, no response row)."""
    if link.response is not None:
        session.delete(link.response)
        link.response = None
    link.answers = {}
    link.invitation.status = InvitationStatus.DECLINED.value
    session.flush()
