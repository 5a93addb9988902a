"""Reading a study for export: one consistent, read-only snapshot, responses streamed in chunks.

Why a connection of its own rather than the caller's session: an export of a large study reads for a while.
On SQLite every Elicit session takes the write lock at BEGIN (see ``elicit.db``), so reading through the
caller's session would keep experts from saving pages for the whole export; a separate deferred, read-only
transaction reads a WAL snapshot and blocks nobody. On PostgreSQL a REPEATABLE READ, READ ONLY transaction gives
the same guarantee: every chunk, the k-anonymity pass and the counts see the same data, even while experts keep
submitting. The snapshot sees committed data only.

Memory stays bounded: responses are read by keyset pagination (``id > last ORDER BY id LIMIT n``; ids are
random, so their order reveals nothing) and the answers of one chunk of responses at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    String,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    false,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from elicit.exporting.plan import VersionInfo
from elicit.instruments.loading import load_canonical
from elicit.models import (
    Answer,
    AnswerNote,
    Cohort,
    Instrument,
    InstrumentVersion,
    Invitation,
    Realization,
    Response,
    ResponseStatus,
    RosterEntry,
    Round,
    Study,
    User,
)

CHUNK_SIZE = 2000
SUBMITTED = ResponseStatus.SUBMITTED


def _sqlite_reader(engine: Engine) -> Engine:
    """A reader engine on the same SQLite file whose transactions are deferred (a snapshot, no write lock)."""
    reader = create_engine(
        engine.url, poolclass=NullPool, connect_args={"timeout": 10, "check_same_thread": False}
    )

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    event.listen(reader, "connect", on_connect)
    event.listen(reader, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    return reader


@contextmanager
def snapshot(session: Session) -> Iterator[Connection]:
    """A read-only connection on the session's database, in one consistent snapshot."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # nosec B101  # narrows the type for mypy; not a security check
    if engine.dialect.name == "sqlite" and engine.url.database in {None, "", ":memory:"}:
        yield session.connection()  # an in-memory database exists on one connection only: read through it
        return
    if engine.dialect.name == "sqlite":
        reader = _sqlite_reader(engine)
        try:
            with reader.connect() as conn, conn.begin():
                yield conn
        finally:
            reader.dispose()
        return
    with engine.connect() as raw:
        conn = raw.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn


@dataclass
class StudyInfo:
    """What an export needs to know about a study, read in the snapshot."""

    id: int
    slug: str
    title: str
    anonymity: str
    status: str
    k_threshold: int
    pseudonym_key: str
    cohorts: dict[int, tuple[str, str]]
    rounds: dict[int, tuple[int, int, str]]  # round id -> (number, version id, status)
    versions: dict[int, VersionInfo]
    instrument: str
    submitted: int
    roster: list[tuple[str, str, str]] = field(default_factory=list)
    feedback_items: frozenset[str] = frozenset()  # items a later Delphi round asked a rationale for
    realizations: dict[str, float] = field(default_factory=dict)  # seed item -> true value

    @property
    def pseudonymous(self) -> bool:
        return self.anonymity == "pseudonymous"


def load_study(conn: Connection, study_id: int) -> StudyInfo | None:
    """The study with its cohorts, rounds, the versions it used, its roster and its number of submissions."""
    row = conn.execute(
        select(
            Study.id,
            Study.slug,
            Study.title,
            Study.anonymity,
            Study.status,
            Study.k_threshold,
            Study.pseudonym_key,
        ).where(Study.id == study_id)
    ).one_or_none()
    if row is None:
        return None
    cohorts = {
        r.id: (r.code, r.label)
        for r in conn.execute(
            select(Cohort.id, Cohort.code, Cohort.label)
            .where(Cohort.study_id == study_id)
            .order_by(Cohort.id)
        )
    }
    rounds = {
        r.id: (r.number, r.instrument_version_id, r.status)
        for r in conn.execute(
            select(Round.id, Round.number, Round.instrument_version_id, Round.status)
            .where(Round.study_id == study_id)
            .order_by(Round.number)
        )
    }
    used = set(
        conn.scalars(
            select(Response.instrument_version_id)
            .where(Response.study_id == study_id, Response.status == SUBMITTED)
            .distinct()
        )
    )
    used |= {version_id for _, version_id, _ in rounds.values()}
    versions: dict[int, VersionInfo] = {}
    instrument = ""
    if used:
        for r in conn.execute(
            select(
                InstrumentVersion.id,
                InstrumentVersion.version,
                InstrumentVersion.sha256,
                InstrumentVersion.canonical_json,
                Instrument.key,
            )
            .join(Instrument, Instrument.id == InstrumentVersion.instrument_id)
            .where(InstrumentVersion.id.in_(sorted(used)))
        ):
            versions[r.id] = VersionInfo(r.id, r.version, r.sha256, load_canonical(r.canonical_json))
            instrument = r.key
    submitted = conn.scalar(
        select(func.count())
        .select_from(Response)
        .where(Response.study_id == study_id, Response.status == SUBMITTED)
    )
    roster = [
        (r.name, r.email, r.organisation)
        for r in conn.execute(
            select(RosterEntry.name, RosterEntry.email, RosterEntry.organisation).where(
                RosterEntry.study_id == study_id
            )
        )
    ]
    feedback = conn.scalars(select(Round.feedback_items).where(Round.study_id == study_id, Round.number > 1))
    realizations = {
        r.item_id: float(r.value)
        for r in conn.execute(
            select(Realization.item_id, Realization.value).where(Realization.study_id == study_id)
        )
    }
    return StudyInfo(
        feedback_items=frozenset(item for text in feedback for item in (text or "").split()),
        realizations=realizations,
        id=row.id,
        slug=row.slug,
        title=row.title,
        anonymity=row.anonymity,
        status=row.status,
        k_threshold=row.k_threshold,
        pseudonym_key=row.pseudonym_key,
        cohorts=cohorts,
        rounds=rounds,
        versions=versions,
        instrument=instrument,
        submitted=int(submitted or 0),
        roster=roster,
    )


def user_role(conn: Connection, email: str) -> str | None:
    """The role of an active user with this e-mail, or None."""
    row = conn.execute(
        select(User.role, User.is_active).where(func.lower(User.email) == email.strip().lower())
    ).one_or_none()
    return row.role if row is not None and row.is_active else None


def response_chunks(
    conn: Connection, study_id: int, *, identity: bool = False, size: int = CHUNK_SIZE
) -> Iterator[Sequence[Any]]:
    """Submitted responses in id order, ``size`` at a time (keyset pagination: memory bounded by ``size``).

    Each row: id, round_id, cohort_id, instrument_version_id, language, pseudonym, submitted_on, and with
    ``identity`` also invitation_id, roster name, e-mail and organisation (outer joins: anonymous studies have none).
    """
    columns: list[Any] = [
        Response.id,
        Response.round_id,
        Response.cohort_id,
        Response.instrument_version_id,
        Response.language,
        Response.pseudonym,
        Response.submitted_on,
    ]
    if identity:
        columns += [Response.invitation_id, RosterEntry.name, RosterEntry.email, RosterEntry.organisation]
    last = ""
    while True:
        query = select(*columns).where(
            Response.study_id == study_id, Response.status == SUBMITTED, Response.id > last
        )
        if identity:
            query = query.outerjoin(Invitation, Invitation.id == Response.invitation_id).outerjoin(
                RosterEntry, RosterEntry.id == Invitation.roster_entry_id
            )
        rows = conn.execute(query.order_by(Response.id).limit(size)).all()
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last = rows[-1][0]


def chunk_answers(
    conn: Connection, response_ids: Sequence[str], item_ids: Sequence[str] | None = None
) -> Sequence[Sequence[Any]]:
    """The answers of some responses: (response_id, item_id, part, value_num, value_text, dont_know) rows.

    This is the hot path of an export (one row per stored value), so the query, built with ``select()`` and
    compiled by SQLAlchemy, runs on the driver's own cursor in the snapshot's transaction and is fetched at once:
    building SQLAlchemy rows would cost more than reading the database. One chunk is bounded, so is the list.
    """
    if conn.dialect.name == "postgresql":  # one array parameter: planned and sent faster than 2,000 of them
        chunk = Answer.response_id == any_(bindparam("ids", list(response_ids), type_=ARRAY(String)))
    else:
        chunk = Answer.response_id.in_(list(response_ids))
    query = select(
        Answer.response_id, Answer.item_id, Answer.part, Answer.value_num, Answer.value_text, Answer.dont_know
    ).where(chunk)
    if item_ids is not None:
        query = query.where(Answer.item_id.in_(list(item_ids)))
    else:
        # Confidence ratings and Delphi rationales travel as the parts "confidence" and "rationale".
        if conn.dialect.name == "postgresql":
            notes = AnswerNote.response_id == any_(bindparam("ids", list(response_ids), type_=ARRAY(String)))
        else:
            notes = AnswerNote.response_id.in_(list(response_ids))
        confidence = select(
            AnswerNote.response_id,
            AnswerNote.item_id,
            literal("confidence"),
            cast(AnswerNote.confidence, Float),
            null(),
            false(),
        ).where(notes, AnswerNote.confidence.is_not(None))
        rationale = select(
            AnswerNote.response_id,
            AnswerNote.item_id,
            literal("rationale"),
            null(),
            AnswerNote.rationale,
            false(),
        ).where(notes, AnswerNote.rationale.is_not(None))
        query = union_all(query, confidence, rationale)  # type: ignore[assignment]
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup or ())
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        rows: Sequence[Sequence[Any]] = cursor.fetchall()
    finally:
        cursor.close()
    return rows
