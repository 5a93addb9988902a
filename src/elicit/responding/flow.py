"""The domain of answering: open a link, move through pages, save, resume, submit. No Flask here.

Every write first locks the expert's own row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's transactions
already hold the write lock from BEGIN), so two tabs, a double click or a replayed POST are serialized and see
each other's result: one response per invitation and round, submitted at most once. Pseudonymous studies lock
the invitation; anonymous studies lock the response and never write or lock the invitation at all (a row lock
leaves the transaction id in the row): see ``elicit.responding.unlinking``.

What an expert typed is kept while they answer, also in a question that does not apply (a follow-up whose
condition they changed): an in-progress response stores it, but only the stored values whose item and page apply
are answers (``ExpertLink.answers``; the others are ``held``, shown again in their boxes when the condition holds
again). Review, required checks and navigation read the answers alone, and ``submit`` deletes what is held, so a
submitted response (all that exports, feedback and the studio read) holds no value for an item that did not apply.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from elicit.instruments.schema import Definition, Item, Page
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    Answer,
    AnswerNote,
    InstrumentVersion,
    Invitation,
    InvitationStatus,
    PracticeAnswer,
    PracticeRecord,
    PracticeStatus,
    Response,
    ResponseStatus,
    Round,
    RoundStatus,
    Study,
    StudyStatus,
    utcnow,
)
from elicit.responding import unlinking
from elicit.responding.compiled import VERSIONS, CompiledVersion
from elicit.responding.values import (
    DONT_KNOW,
    FieldError,
    Message,
    StoredValue,
    form_fields,
    from_rows,
    is_answered,
    note_fields,
    parse_item,
    parse_note,
    sent_fields,
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


class StaleAnswers(Exception):
    """The form was made from stored answers that another window has changed since; nothing was saved.

    ``current`` is the version of what is stored now; ``changed`` are the page's items whose stored answer
    differs from what this form sent (empty for the review page, which sends no answers).
    """

    def __init__(self, current: str, changed: Sequence[Item] = ()) -> None:
        super().__init__("stale")
        self.current = current
        self.changed = list(changed)


@dataclass
class ExpertLink:
    """Everything a page request needs about one expert's link."""

    invitation: Invitation
    study: Study
    round: Round
    definition: Definition
    response: Response | None
    answers: dict[str, Any] = field(default_factory=dict)
    #: What the expert typed in questions that do not apply now (kept until submit, never an answer).
    held: dict[str, Any] = field(default_factory=dict)
    locked: bool = False
    secret: str = ""
    #: Whether the expert scored or skipped the practice page (read only when the instrument has one).
    practice_status: PracticeStatus | None = None
    #: The language this request's pages are in before the response exists (negotiated by the view).
    negotiated: str | None = None
    #: What the definition's pages accept, made once per version (None on a link made by hand).
    compiled: CompiledVersion | None = None

    @property
    def anonymous(self) -> bool:
        return self.study.anonymity == Anonymity.ANONYMOUS

    @property
    def stored(self) -> dict[str, Any]:
        """Every stored value: the answers and what is held (what the pages show in their boxes)."""
        return {**self.held, **self.answers}

    @property
    def response_key(self) -> str | None:
        """The key an anonymous response is stored under (None in pseudonymous studies, which link by id)."""
        if not self.anonymous:
            return None
        return unlinking.response_key(self.secret, self.round.id, self.invitation.response_seed)

    @property
    def submitted(self) -> bool:
        if self.response is not None:
            return self.response.status == ResponseStatus.SUBMITTED
        status = self.invitation.status
        return status == InvitationStatus.SUBMITTED or status == InvitationStatus.FINISHED

    @property
    def declined(self) -> bool:
        if self.response is not None and self.response.status == ResponseStatus.DECLINED:
            return True
        return self.invitation.status == InvitationStatus.DECLINED

    @property
    def pages_done(self) -> set[str]:
        return set((self.response.pages_done or "").split()) if self.response else set()

    @property
    def rationale_items(self) -> frozenset[str]:
        """Items this round asks a rationale for: the feedback items of a round after the first."""
        if self.round.number <= 1:
            return frozenset()
        return frozenset((self.round.feedback_items or "").split())

    def page_language(
        self,
        preferred: str | None = None,
        *,
        session: Session | None = None,
        accepted: Callable[[Sequence[str]], str | None] | None = None,
    ) -> str:
        """The language pages are shown in: the response's once started; before that ``preferred`` (chosen in
        this browser, or ``negotiated`` for this request), else the expert's choice in an earlier round (with
        ``session``), else the best of the browser's languages (``accepted`` picks among the instrument's), else the
        instrument's first language."""
        languages = self.definition.languages
        language = self.response.language if self.response is not None else preferred or self.negotiated
        if language is None and session is not None:
            language = _earlier_language(session, self)
        if language is None and accepted is not None:
            language = accepted(languages)
        return language if language in languages else languages[0]


# The statements every expert request runs, built once with bound parameters: building a statement and its cache
# key anew costs more CPU than SQLAlchemy's execution of a cached one (about 150 µs a statement).
_OPEN = (
    select(Invitation, Study, Round, InstrumentVersion.sha256)
    .join(Study, Study.id == Invitation.study_id)
    .outerjoin(Round, and_(Round.study_id == Study.id, Round.status == RoundStatus.OPEN))
    .outerjoin(InstrumentVersion, InstrumentVersion.id == Round.instrument_version_id)
    .where(Invitation.token_hash == bindparam("token_hash"))
)
_LOCK_INVITATION = select(Invitation.id).where(Invitation.id == bindparam("invitation")).with_for_update()
_RESPONSE_BY_KEY = select(Response).where(Response.lookup_key == bindparam("key"))
_RESPONSE_BY_INVITATION = select(Response).where(
    Response.invitation_id == bindparam("invitation"), Response.round_id == bindparam("round")
)
# The same under the row lock, re-read from the row (not from the identity map).
_RESPONSE_BY_KEY_LOCKED = _RESPONSE_BY_KEY.with_for_update().execution_options(populate_existing=True)
_RESPONSE_BY_INVITATION_LOCKED = _RESPONSE_BY_INVITATION.with_for_update().execution_options(
    populate_existing=True
)
_ANSWERS = select(Answer.item_id, Answer.part, Answer.value_num, Answer.value_text, Answer.dont_know).where(
    Answer.response_id == bindparam("response")
)
_NOTES = select(AnswerNote.item_id, AnswerNote.confidence, AnswerNote.rationale).where(
    AnswerNote.response_id == bindparam("response")
)
_PRACTICE_STATUS = select(PracticeRecord.status).where(PracticeRecord.response_id == bindparam("response"))
_VERSION_SHA = select(InstrumentVersion.sha256).where(InstrumentVersion.id == bindparam("version"))
_DELETE_ANSWERS = delete(Answer).where(
    Answer.response_id == bindparam("response"), Answer.item_id.in_(bindparam("items", expanding=True))
)
_DELETE_NOTES = delete(AnswerNote).where(
    AnswerNote.response_id == bindparam("response"),
    AnswerNote.item_id.in_(bindparam("items", expanding=True)),
)
_INSERT_ANSWERS = insert(Answer)
_INSERT_NOTES = insert(AnswerNote)


def _earlier_language(session: Session, link: ExpertLink) -> str | None:
    """The language the expert chose in their latest earlier round (pseudonymous studies; None otherwise)."""
    if link.anonymous:
        return None
    language: str | None = session.scalar(
        select(Response.language)
        .join(Round, Round.id == Response.round_id)
        .where(Response.invitation_id == link.invitation.id, Round.number < link.round.number)
        .order_by(Round.number.desc())
        .limit(1)
    )
    return language


def open_by_token(session: Session, token: str, *, secret: str, lock: bool = False) -> ExpertLink:
    """Find the invitation behind a token, the study's open round and the expert's response in it.

    Raises LinkError when the link is unusable. ``secret`` is the server's secret key (anonymous responses are
    found by a keyed hash); ``lock`` takes the row lock of the expert's own row in this transaction.
    """
    if not TOKEN_RE.match(token or ""):
        raise LinkError(404, "unknown")
    row = session.execute(_OPEN, {"token_hash": token_hash(token)}).first()
    if row is None:
        raise LinkError(404, "unknown")
    invitation, study, rnd, version_sha = row
    sha: str | None = version_sha
    if invitation.status == InvitationStatus.REVOKED:
        raise LinkError(410, "revoked")
    closed = rnd is None or study.status == StudyStatus.CLOSED or _past(study.closes_on)
    if rnd is None:
        rnd = _last_round(session, study)
        sha = None
        if rnd is None:
            raise LinkError(410, "closed")
    if study.opens_on is not None and study.opens_on > utcnow().date():
        raise LinkError(410, "not_open")
    link = ExpertLink(invitation, study, rnd, None, None, secret=secret)  # type: ignore[arg-type]
    if lock and not link.anonymous:
        session.execute(_LOCK_INVITATION, {"invitation": invitation.id})
        session.refresh(invitation)
    response = _find_response(session, link, lock=lock)
    link.locked = lock
    if closed and not (link.submitted or link.declined):
        # A submitted expert may still see the thank-you page; everyone else learns the study is closed.
        raise LinkError(410, "closed")
    link.response = response
    if response is not None and response.instrument_version_id != rnd.instrument_version_id:
        sha = None
    definition_id = response.instrument_version_id if response else rnd.instrument_version_id
    link.compiled = compiled_version(session, definition_id, sha)
    link.definition = link.compiled.definition
    if response is not None:
        link.answers, link.held = split_held(
            link.definition, load_answers(session, response, link.definition)
        )
        link.practice_status = practice_status(session, response, link.definition)
    return link


def practice_status(session: Session, response: Response, definition: Definition) -> PracticeStatus | None:
    """Whether the response's practice page was scored or skipped (no query when the instrument has none)."""
    if definition.practice is None:
        return None
    return session.scalar(_PRACTICE_STATUS, {"response": response.id})


def _find_response(session: Session, link: ExpertLink, *, lock: bool) -> Response | None:
    """The expert's response in the link's round: by keyed hash (anonymous) or by invitation (pseudonymous)."""
    if link.anonymous:
        query = _RESPONSE_BY_KEY_LOCKED if lock else _RESPONSE_BY_KEY
        params: dict[str, Any] = {"key": link.response_key}
    else:
        query = _RESPONSE_BY_INVITATION_LOCKED if lock else _RESPONSE_BY_INVITATION
        params = {"invitation": link.invitation.id, "round": link.round.id}
    response = session.scalar(query, params)
    link.response = response
    return response


def compiled_version(session: Session, version_id: int, sha: str | None = None) -> CompiledVersion:
    """A published version compiled once per process (``elicit.responding.compiled``): keyed by id and sha256, so
    a new version, or two databases whose version 1 differ, never share an entry; only the hash is read on a hit
    (or given by the caller), not the whole canonical document."""
    if sha is None:
        sha = session.scalar(_VERSION_SHA, {"version": version_id})
    if sha is None:
        raise LinkError(404, "unknown")

    def parse() -> Definition:
        version = session.get(InstrumentVersion, version_id)
        assert version is not None  # nosec B101  # narrows the type: the foreign key guarantees the version; not a security check
        return definition_of(version)

    return VERSIONS.get(version_id, sha, parse)


def _past(day: date | None) -> bool:
    return day is not None and day < utcnow().date()


def _last_round(session: Session, study: Study) -> Round | None:
    return session.scalar(select(Round).where(Round.study_id == study.id).order_by(Round.number.desc()))


def load_answers(session: Session, response: Response, definition: Definition) -> dict[str, Any]:
    """The stored answers of a response as values by item id."""
    rows: dict[str, list[StoredValue]] = defaultdict(list)
    for item_id, part, value_num, value_text, dont_know in session.execute(
        _ANSWERS, {"response": response.id}
    ):
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
    values: dict[str, Any] | None = None  # the answers as expressions see them, made once, only if asked
    visible = []
    for page in definition.pages:
        if page.relevant is not None:
            values = expression_values(answers) if values is None else values
            if not page.relevant.truthy(values):
                continue
        visible.append(page)
    return visible


def items_on(page: Page) -> Iterator[tuple[Item, Item | None]]:
    """A page's answerable items in order, each with the display group (matrix) it is a row of, or None."""
    for group in page.items:
        if group.kind.is_group:
            yield from ((row, group) for row in group.rows if row.answerable)
        elif group.answerable:
            yield group, None


def item_visible(item: Item, answers: Mapping[str, Any], matrix: Item | None = None) -> bool:
    if item.relevant is None and (matrix is None or matrix.relevant is None):
        return True  # most items: nothing to evaluate
    values = expression_values(answers)
    if matrix is not None and matrix.relevant is not None and not matrix.relevant.truthy(values):
        return False
    return item.relevant is None or item.relevant.truthy(values)


def same_page_references(item: Item, page: Page, matrix: Item | None = None) -> frozenset[str]:
    """The items of ``page`` that the relevance of ``item`` (or of its matrix) reads."""
    references: set[str] = set()
    for expression in (item.relevant, matrix.relevant if matrix is not None else None):
        if expression is not None:
            references |= expression.references()
    return frozenset(references & {i.id for i in page.answerable_items()})


def shown_on_page(item: Item, page: Page, answers: Mapping[str, Any], matrix: Item | None = None) -> bool:
    """Whether ``page`` shows ``item``: it applies, or its relevance reads an answer of the same page (then the page
    shows it, the browser hides it while it does not apply, and the server decides when the page is posted)."""
    return item_visible(item, answers, matrix) or bool(same_page_references(item, page, matrix))


def progress_pages(definition: Definition, answers: Mapping[str, Any]) -> list[Page]:
    """Pages that are shown or may still be shown (their relevance names an unanswered item), for "page k of n"."""
    visible = {page.id for page in visible_pages(definition, answers)}
    result = []
    for page in definition.pages:
        undecided = page.relevant is not None and any(
            answers.get(ref) is None for ref in page.relevant.references()
        )
        if undecided or page.id in visible:
            result.append(page)
    return result


def resume_page(link: ExpertLink) -> str:
    """The page to continue at: the first visible page not yet saved, or the review page."""
    done = link.pages_done
    for page in visible_pages(link.definition, link.answers):
        if page.id not in done:
            return page.id
    return REVIEW


def reachable(link: ExpertLink, page_id: str) -> bool:
    """Whether a page may be opened: it is visible and not beyond the first page still to answer."""
    visible = [p.id for p in visible_pages(link.definition, link.answers)]
    if page_id not in visible:
        return False
    resume = resume_page(link)
    limit = len(visible) if resume == REVIEW else visible.index(resume)
    return visible.index(page_id) <= limit


def neighbour(link: ExpertLink, page_id: str, step: int) -> str:
    """The visible page ``step`` pages from ``page_id`` (the first page at most back, the review page past the
    last); the page to resume at when ``page_id`` is not visible."""
    visible = [p.id for p in visible_pages(link.definition, link.answers)]
    if page_id not in visible:
        return resume_page(link)
    index = visible.index(page_id) + step
    if index < 0:
        return visible[0]
    if index >= len(visible):
        return REVIEW
    return visible[index]


def start(session: Session, link: ExpertLink, language: str) -> Response:
    """Create the response (or reuse it: a second tab or a double click finds the first one's) in a language.

    The insert is ``ON CONFLICT DO NOTHING`` on the response's unique key, so two requests racing to start never
    fail; both then lock and use the one row.
    """
    if language not in link.definition.languages:
        language = link.definition.languages[0]
    locked = _lock(session, link)
    if locked.response is not None:
        locked.response.language = language
        return locked.response
    anonymous = link.anonymous
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "invitation_id": None if anonymous else link.invitation.id,
        "lookup_key": link.response_key,
        "study_id": link.study.id,
        "round_id": link.round.id,
        "cohort_id": link.invitation.cohort_id,
        "instrument_version_id": link.round.instrument_version_id,
        "language": language,
        "status": ResponseStatus.IN_PROGRESS,
        "pseudonym": None if anonymous else link.invitation.pseudonym,
        "pages_done": "",
    }
    stamp = unlinking.coarse_now() if anonymous else utcnow()
    values["started_at"] = values["updated_at"] = stamp
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Response).values(**values)
    target = ["lookup_key"] if anonymous else ["invitation_id", "round_id"]
    session.execute(statement.on_conflict_do_nothing(index_elements=target))
    response = _find_response(session, link, lock=True)
    assert response is not None  # nosec B101  # narrows the type: the row was inserted or existed; not a security check
    if not anonymous and link.invitation.status == InvitationStatus.NOT_OPENED:
        link.invitation.status = InvitationStatus.IN_PROGRESS
    session.flush()
    return response


def _lock(session: Session, link: ExpertLink) -> ExpertLink:
    """Lock the expert's own row and re-read what this request knows (nothing, if it was read under the lock).

    Pseudonymous studies lock the invitation; anonymous studies lock only the response (if there is one yet).
    """
    if link.locked:
        if link.submitted or link.declined:
            raise AlreadySubmitted()
        return link
    link.locked = True
    if not link.anonymous:
        session.execute(_LOCK_INVITATION, {"invitation": link.invitation.id})
        session.refresh(link.invitation)
    response = _find_response(session, link, lock=True)
    stored = load_answers(session, response, link.definition) if response else {}
    link.answers, link.held = split_held(link.definition, stored)
    link.practice_status = practice_status(session, response, link.definition) if response else None
    if link.submitted or link.declined:
        raise AlreadySubmitted()
    return link


def lock_link(session: Session, link: ExpertLink) -> ExpertLink:
    """Take the expert's row lock before a write outside the questionnaire (the practice page), re-reading the
    link under it; AlreadySubmitted once the response is submitted or declined."""
    return _lock(session, link)


@dataclass
class PageResult:
    """The outcome of posting a page: the values as understood, and errors by field (empty when saved)."""

    values: dict[str, Any]
    errors: dict[str, Message]
    declined: bool = False
    notes: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    #: What was typed in questions of the page that do not apply (kept, not answers).
    held: dict[str, Any] = field(default_factory=dict)

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

    What the page shows of an item that does not apply (a follow-up whose condition is false) is parsed without
    checks into ``held``, and kept; an item the page does not show at all is left out of ``values``.
    ``rationale_items`` are the items for which this round asks a rationale (Delphi feedback items).
    """
    merged = dict(answers)
    values: dict[str, Any] = {}
    errors: dict[str, Message] = {}
    notes: dict[str, tuple[int | None, str | None]] = {}
    held: dict[str, Any] = {}
    for item, matrix in items_on(page):
        if not item_visible(item, merged, matrix):
            merged[item.id] = None
            if same_page_references(item, page, matrix):
                values[item.id] = None
                _hold(item, form, item.id in rationale_items, held, notes)
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
    return PageResult(values, errors, notes=notes, held=held)


def _hold(
    item: Item,
    form: Mapping[str, Sequence[str]],
    rationale: bool,
    held: dict[str, Any],
    notes: dict[str, tuple[int | None, str | None]],
) -> None:
    """Keep what was typed in an item that does not apply, as far as it can be stored (no errors: no answer)."""
    try:
        value = parse_item(item, form)
        note = parse_note(item, form, rationale)
    except FieldError:
        return
    if value is not None:
        held[item.id] = value
        if note != (None, None):
            notes[item.id] = note


def previous_response(session: Session, link: ExpertLink) -> Response | None:
    """The same expert's submitted response in the previous round (pseudonymous studies keep the link)."""
    return session.scalar(
        select(Response)
        .join(Round, Round.id == Response.round_id)
        .where(
            Response.invitation_id == link.invitation.id,
            Round.study_id == link.study.id,
            Round.number == link.round.number - 1,
            Response.status == ResponseStatus.SUBMITTED,
        )
    )


def load_notes(session: Session, response: Response) -> dict[str, tuple[int | None, str | None]]:
    rows = session.execute(_NOTES, {"response": response.id}).all()
    return {item_id: (confidence, rationale) for item_id, confidence, rationale in rows}


def field_of(item: Item) -> str:
    """The form field an item's error points at (the first part of a composite item)."""
    return item.id if item.parts == ("",) else f"{item.id}.{item.parts[0]}"


def save_page(
    session: Session,
    link: ExpertLink,
    page: Page,
    form: Mapping[str, Sequence[str]],
    expected_version: str | None = None,
) -> PageResult:
    """Validate a posted page and, when valid, store it at once, with what is held of items that do not apply.

    ``expected_version`` is the page's ``answers_version`` when it was shown (None: not checked). If another
    window has changed the page's stored answers since, and this form sends something else, StaleAnswers is
    raised and nothing is saved.
    """
    locked = _lock(session, link)
    response = locked.response
    if response is None:
        raise LinkError(409, "not_started")
    if expected_version is not None:
        _check_page_version(session, locked, page, form, expected_version)
    result = validate_page(link.definition, page, form, locked.answers, link.rationale_items)
    if not result.ok:
        return result
    stored = locked.stored
    stored.update(result.values)
    stored.update(result.held)
    answers, held = split_held(link.definition, stored)
    gates = [i for i in page.answerable_items() if i.kind.gates_response]
    if any(answers.get(i.id) == "no" for i in gates):
        decline(session, link)
        result.declined = True
        return result
    # The page's rows are replaced with Core statements (one DELETE, one multi-row INSERT per table): no ORM
    # object per answer row, which was most of a save's ORM work.
    changed = sorted(set(result.values) | set(result.held))
    answer_rows = [
        {
            "response_id": response.id,
            "item_id": item_id,
            "part": row.part,
            "value_num": row.value_num,
            "value_text": row.value_text,
            "dont_know": row.dont_know,
        }
        for item_id in changed
        for row in to_rows(link.definition.item(item_id), stored.get(item_id))
    ]
    note_rows = [
        {"response_id": response.id, "item_id": item_id, "confidence": confidence, "rationale": rationale}
        for item_id, (confidence, rationale) in result.notes.items()
        if stored.get(item_id) is not None
    ]
    if changed:
        session.execute(_DELETE_ANSWERS, {"response": response.id, "items": changed})
        session.execute(_DELETE_NOTES, {"response": response.id, "items": changed})
    if answer_rows:
        session.execute(_INSERT_ANSWERS, answer_rows)
    if note_rows:
        session.execute(_INSERT_NOTES, note_rows)
    done = [p for p in (response.pages_done or "").split() if p != page.id] + [page.id]
    response.pages_done = " ".join(done)
    response.updated_at = unlinking.coarse_now() if link.anonymous else utcnow()
    link.answers, link.held = answers, held
    session.flush()
    return result


_VERSION_DOMAIN = b"elicit/answers-version/v1"


def answers_version(
    session: Session,
    link: ExpertLink,
    items: Iterable[Item] | None = None,
    notes: Mapping[str, tuple[int | None, str | None]] | None = None,
) -> str:
    """The version of what is stored for ``items`` (every item when None): their answers and notes.

    Every questionnaire and review form carries it, so a POST made from a page that another window has changed
    since is recognised. It is derived, not stored: an HMAC under a key of its own (from the server's secret) over
    the response's id and the stored values. It changes exactly when what the page shows from storage changes,
    differs between two responses with the same answers, and says nothing about the answers without the secret.
    """
    response = link.response
    if response is None:
        return ""
    chosen = sorted(link.definition.items() if items is None else items, key=lambda item: item.id)
    if notes is None:
        notes = load_notes(session, response) if _asks_notes(link, chosen) else {}
    stored = []
    values_of = link.stored
    for item in chosen:
        rows = sorted(to_rows(item, values_of.get(item.id)), key=lambda row: row.part)
        values = [[row.part, row.value_num, row.value_text, row.dont_know] for row in rows]
        stored.append([item.id, values, list(notes.get(item.id, (None, None)))])
    key = hmac.new(link.secret.encode("utf-8"), _VERSION_DOMAIN, hashlib.sha256).digest()
    message = json.dumps([response.id, stored], separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _asks_notes(link: ExpertLink, items: Iterable[Item]) -> bool:
    return bool(link.rationale_items) or any(item.confidence for item in items)


def _check_page_version(
    session: Session, link: ExpertLink, page: Page, form: Mapping[str, Sequence[str]], expected: str
) -> None:
    """Raise StaleAnswers when the page changed since ``expected`` and the form sends something else."""
    items = list(page.answerable_items())
    notes = load_notes(session, link.response) if link.response and _asks_notes(link, items) else {}
    current = answers_version(session, link, items, notes)
    if hmac.compare_digest(current, expected):
        return
    stored = link.stored
    changed = [item for item in items if sent_fields(item, form) != _stored_fields(item, stored, notes)]
    if changed:
        raise StaleAnswers(current, changed)


def _stored_fields(
    item: Item, answers: Mapping[str, Any], notes: Mapping[str, tuple[int | None, str | None]]
) -> dict[str, list[str]]:
    """The fields that would show an item's stored answer and note again (as ``sent_fields`` normalises them)."""
    fields = form_fields(item, answers.get(item.id))
    fields.update(note_fields(item, *notes.get(item.id, (None, None))))
    return {name: sorted(v.strip() for v in values) for name, values in fields.items() if values}


def irrelevant_items(definition: Definition, answers: Mapping[str, Any]) -> set[str]:
    """Answered items whose page or own relevance is now false (evaluated in questionnaire order)."""
    current = dict(answers)
    cleared: set[str] = set()
    for page in definition.pages:
        page_on = page_visible(page, current)
        for item, matrix in items_on(page):
            if current.get(item.id) is None:
                continue
            if not page_on or not item_visible(item, current, matrix):
                cleared.add(item.id)
                current[item.id] = None
    return cleared


def split_held(definition: Definition, stored: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stored values as (answers, held): the values of items that apply, and those of items that do not."""
    held_ids = irrelevant_items(definition, stored)
    answers = {k: v for k, v in stored.items() if v is not None and k not in held_ids}
    held = {k: stored[k] for k in held_ids}
    return answers, held


def missing_required(link: ExpertLink) -> list[tuple[Page, Item]]:
    """Required, visible items without an answer (submission is refused until there are none)."""
    missing = []
    for page in visible_pages(link.definition, link.answers):
        for item, matrix in items_on(page):
            if (
                item.required
                and item_visible(item, link.answers, matrix)
                and not is_answered(link.answers.get(item.id))
            ):
                missing.append((page, item))
    return missing


def submit(
    session: Session, link: ExpertLink, started: datetime | None = None, expected_version: str | None = None
) -> bool:
    """Submit once. Returns False when it was submitted already (a replay), True when this call submitted it.

    ``expected_version`` is the review page's ``answers_version`` (None: not checked); when the stored answers
    have changed since the review was shown, StaleAnswers is raised and nothing is submitted.

    Pseudonymous studies mark the invitation submitted. Anonymous studies leave the invitation alone and a
    finish mark for the studio (``unlinking``); their times stay dates, and the duration comes from ``started``,
    the moment this browser started (kept in its session), since the response stores no exact time.
    """
    try:
        locked = _lock(session, link)
    except AlreadySubmitted:
        return False
    response = locked.response
    if response is None:
        raise LinkError(409, "not_started")
    if expected_version is not None:
        current = answers_version(session, locked)
        if not hmac.compare_digest(current, expected_version):
            raise StaleAnswers(current)
    if missing_required(locked):
        raise IncompleteResponse()
    if locked.held:  # a submitted response holds no value for an item that did not apply
        held = list(locked.held)
        session.execute(delete(Answer).where(Answer.response_id == response.id, Answer.item_id.in_(held)))
        session.execute(
            delete(AnswerNote).where(AnswerNote.response_id == response.id, AnswerNote.item_id.in_(held))
        )
        locked.held = {}
    now = utcnow()
    response.status = ResponseStatus.SUBMITTED
    response.submitted_on = now.date()
    if link.anonymous:
        response.updated_at = unlinking.coarse_now()
        response.duration_minutes = _minutes(started, now) if started is not None else None
        unlinking.record_finished(session, link.secret, link.invitation, link.round.id)
    else:
        response.updated_at = now
        response.duration_minutes = _minutes(response.started_at, now)
        link.invitation.status = InvitationStatus.SUBMITTED
    session.flush()
    return True


def _minutes(started: datetime, now: datetime) -> int:
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    return max(0, math.ceil((now - started).total_seconds() / 60))


def decline(session: Session, link: ExpertLink) -> None:
    """Consent refused: keep only the fact "declined", never an answer.

    Pseudonymous studies drop the response and mark the invitation; anonymous studies keep an empty declined
    response (the only record that this link declined) and leave a finish mark, like a submission.
    """
    if link.anonymous:
        response = link.response
        if response is not None:
            session.execute(delete(Answer).where(Answer.response_id == response.id))
            session.execute(delete(AnswerNote).where(AnswerNote.response_id == response.id))
            session.execute(delete(PracticeAnswer).where(PracticeAnswer.response_id == response.id))
            session.execute(delete(PracticeRecord).where(PracticeRecord.response_id == response.id))
            response.status = ResponseStatus.DECLINED
            response.pages_done = ""
            response.updated_at = unlinking.coarse_now()
            unlinking.record_finished(session, link.secret, link.invitation, link.round.id)
        link.answers, link.held = {}, {}
        session.flush()
        return
    if link.response is not None:
        session.delete(link.response)
        link.response = None
    link.answers, link.held = {}, {}
    link.invitation.status = InvitationStatus.DECLINED
    session.flush()
