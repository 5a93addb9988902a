"""Typed ORM models. The roster lives apart from answers; tokens are stored only as hashes.

Answers are stored one row per *variable* (an item, or one part of a composite item: a choice of a multiple
choice, ranking or constant sum, a quantile level), which is exactly the shape of the export, so exporting is a
streamed pivot rather than a decode of every value.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from elicit.db import Base


def utcnow() -> datetime:
    """The current time in UTC (every stored time is UTC)."""
    return datetime.now(UTC)


def _new_response_id() -> str:
    # Random, not sequential: an id's order must not reveal when a response started, which could be joined
    # with invitation activity in anonymous studies.
    return uuid.uuid4().hex


def _new_seed() -> str:
    # The per-expert secret an anonymous response is found by (through a keyed hash); a reissued link keeps it.
    return secrets.token_hex(16)


# SQLite tables whose rows must not be stored in insertion order: without a rowid, rows live in primary-key
# order (random ids), so the file does not say which response started or saved first.
NO_ROWID = {"sqlite_with_rowid": False}


def _check_in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A status column typed by its ``StrEnum``: stored as the member's text (a CHECK lists the values), read back
    as the member, and refusing any other text before it reaches the database."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Role(StrEnum):
    ADMIN = "admin"
    RESEARCHER = "researcher"
    VIEWER = "viewer"


class Anonymity(StrEnum):
    ANONYMOUS = "anonymous"
    PSEUDONYMOUS = "pseudonymous"


class StudyStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class RoundStatus(StrEnum):
    PLANNED = "planned"
    OPEN = "open"
    CLOSED = "closed"


class InvitationStatus(StrEnum):
    NOT_OPENED = "not_opened"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    DECLINED = "declined"
    REVOKED = "revoked"
    # Anonymous studies only: answered or declined, confirmed in groups of at least k per cohort, so no
    # invitation's status changes with (or next to) one response's submission.
    FINISHED = "finished"


class ResponseStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    DECLINED = "declined"


class MailKind(StrEnum):
    INVITE = "invite"  # each item's invitation was made for this job and never delivered
    REMIND = "remind"  # each item's invitation is reissued when its message goes


class MailJobStatus(StrEnum):
    SENDING = "sending"  # messages are left to send; a runner holding the lease may be on it
    STOPPED = "stopped"  # a failure stopped it; resuming sends the rest
    DONE = "done"  # every message was tried (some may have failed: they can be tried again)


class MailItemState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # its link was stored and the message handed over, with no confirmation (yet)
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to send any more (answered, revoked, or handed over as a link)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_check_in("role", Role), name="role"),
        UniqueConstraint("oidc_issuer", "oidc_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(EnumText(Role))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of every studio session; raised at logout and password change, so copied session cookies die.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Two-factor sign-in (RFC 6238 TOTP): the shared secret as stored by elicit.studio.twofactor, when the
    # enrolment was confirmed (None: no second factor yet), and the last time step accepted (a code is used once).
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # The one passkey challenge this account may answer now (elicit.studio.passkeys: purpose, when, SHA-256),
    # cleared when it is answered, so no answer is accepted twice.
    passkey_challenge: Mapped[str | None] = mapped_column(String(120))
    # Single sign-on (OpenID Connect): the issuer and subject this account signs in as. A first sign-in that no
    # claim maps to a role waits for an administrator (approval_pending, and the account is inactive until then).
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    approval_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    memberships: Mapped[list[StudyMember]] = relationship(back_populates="user", cascade="all, delete-orphan")
    api_tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    passkeys: Mapped[list[Passkey]] = relationship(back_populates="user", cascade="all, delete-orphan")


class RecoveryCode(Base):
    """A one-time code that stands in for the second factor when the phone is lost; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class Passkey(Base):
    """A WebAuthn credential that stands beside the authenticator app as a second factor: its public key only."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The authenticator's signature counter at its last use; one that does not grow may be a copied key.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)  # 32 bits unsigned
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="passkeys")


class ApiToken(Base):
    """A per-user bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="api_tokens")


class LoginFailure(Base):
    """A failed studio sign-in from a source (an IP address), counted to slow a source that tries many accounts."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_source_at", "source", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Instrument(Base):
    __tablename__ = "instruments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    versions: Mapped[list[InstrumentVersion]] = relationship(
        back_populates="instrument", order_by="InstrumentVersion.published_at"
    )


class InstrumentVersion(Base):
    """An immutable published version: the canonical JSON and its SHA-256."""

    __tablename__ = "instrument_versions"
    __table_args__ = (UniqueConstraint("instrument_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="RESTRICT"))
    version: Mapped[str] = mapped_column(String(32))
    canonical_json: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by: Mapped[str] = mapped_column(String(254))

    instrument: Mapped[Instrument] = relationship(back_populates="versions")

    @property
    def ref(self) -> str:
        """``id@version``, the name users type."""
        return f"{self.instrument.key}@{self.version}"


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (
        CheckConstraint(_check_in("anonymity", Anonymity), name="anonymity"),
        CheckConstraint(_check_in("status", StudyStatus), name="status"),
        CheckConstraint("k_threshold >= 1", name="k_threshold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    anonymity: Mapped[Anonymity] = mapped_column(EnumText(Anonymity))
    status: Mapped[StudyStatus] = mapped_column(EnumText(StudyStatus), default=StudyStatus.OPEN)
    opens_on: Mapped[date | None] = mapped_column(Date)
    closes_on: Mapped[date | None] = mapped_column(Date)
    k_threshold: Mapped[int] = mapped_column(Integer, default=5)
    # The study's Delphi consensus rule: IQR at most this, and at least this share in the top or bottom two.
    consensus_max_iqr: Mapped[float] = mapped_column(Float, default=1.0, server_default="1.0")
    consensus_min_agreement: Mapped[float] = mapped_column(Float, default=0.7, server_default="0.7")
    pseudonym_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The research team experts can write to: named in the study's e-mails (From's name, Reply-To, signature)
    # and on the error pages of its links. Empty when not given.
    team_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    team_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    team_contact: Mapped[str] = mapped_column(Text, default="", server_default="")  # more: phone, address
    # Retention: after this day the roster (names, e-mails, organisations), the links and the outbox are purged
    # (elicit purge); purged_at says when that happened. None: kept until a researcher sets a date.
    retain_until: Mapped[date | None] = mapped_column(Date)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    cohorts: Mapped[list[Cohort]] = relationship(
        back_populates="study", order_by="Cohort.id", cascade="all, delete-orphan"
    )
    invitation_templates: Mapped[list[InvitationTemplate]] = relationship(
        back_populates="study", cascade="all, delete-orphan"
    )
    rounds: Mapped[list[Round]] = relationship(
        back_populates="study", order_by="Round.number", cascade="all, delete-orphan"
    )
    members: Mapped[list[StudyMember]] = relationship(back_populates="study", cascade="all, delete-orphan")


class InvitationTemplate(Base):
    """A study's own wording of one kind of e-mail (invitation or reminder) in one language.

    ``subject`` and ``body`` hold placeholders such as ``{name}`` and ``{link}`` (see ``elicit.studio.letters``),
    checked when saved; without a row the built-in wording of that language is used.
    """

    __tablename__ = "invitation_templates"
    __table_args__ = (CheckConstraint(_check_in("kind", MailKind), name="kind"),)

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[MailKind] = mapped_column(EnumText(MailKind), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    study: Mapped[Study] = relationship(back_populates="invitation_templates")


class StudyMember(Base):
    __tablename__ = "study_members"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)

    study: Mapped[Study] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


class Round(Base):
    """A round of a study; a plain survey has one, a Delphi study several, each on a published version."""

    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        CheckConstraint(_check_in("status", RoundStatus), name="status"),
        CheckConstraint("number >= 1", name="number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    instrument_version_id: Mapped[int] = mapped_column(
        ForeignKey("instrument_versions.id", ondelete="RESTRICT")
    )
    status: Mapped[RoundStatus] = mapped_column(EnumText(RoundStatus), default=RoundStatus.OPEN)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Items whose previous-round results are fed back to the experts in this round (space-separated ids).
    feedback_items: Mapped[str] = mapped_column(Text, default="", server_default="")

    study: Mapped[Study] = relationship(back_populates="rounds")
    instrument_version: Mapped[InstrumentVersion] = relationship()


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))

    study: Mapped[Study] = relationship(back_populates="cohorts")


class RosterEntry(Base):
    """Who was invited. Kept apart from answers; never exported in anonymized exports."""

    __tablename__ = "roster_entries"
    __table_args__ = (UniqueConstraint("study_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The language the expert's e-mails are written in (one of the instrument's); None: the instrument's first.
    language: Mapped[str | None] = mapped_column(String(16))

    cohort: Mapped[Cohort] = relationship()
    invitations: Mapped[list[Invitation]] = relationship(back_populates="roster_entry")


class Invitation(Base):
    """A personal link. Only the SHA-256 of its random token is stored; the token itself is shown once."""

    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint(_check_in("status", InvitationStatus), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    roster_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("roster_entries.id", ondelete="SET NULL"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[InvitationStatus] = mapped_column(
        EnumText(InvitationStatus), default=InvitationStatus.NOT_OPENED
    )
    pseudonym: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when its link was e-mailed
    # Anonymous studies find the expert's response by HMAC(server key, round, seed): nothing stored joins them.
    response_seed: Mapped[str] = mapped_column(String(32), default=_new_seed)

    cohort: Mapped[Cohort] = relationship()
    roster_entry: Mapped[RosterEntry | None] = relationship(back_populates="invitations")


class Response(Base):
    """One expert's answers in one round, pinned to the instrument version they answered.

    Pseudonymous studies link a response to its invitation (``invitation_id``), by design. Anonymous studies never
    do: ``lookup_key`` is a keyed hash only the server can compute from the expert's invitation, and the times are
    dates from the start (see ``elicit.responding.unlinking``).
    """

    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("invitation_id", "round_id"),
        CheckConstraint(_check_in("status", ResponseStatus), name="status"),
        CheckConstraint("invitation_id IS NULL OR lookup_key IS NULL", name="one_link"),
        Index("ix_responses_study_status", "study_id", "status"),
        NO_ROWID,
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_response_id)
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id", ondelete="SET NULL"))
    lookup_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    instrument_version_id: Mapped[int] = mapped_column(
        ForeignKey("instrument_versions.id", ondelete="RESTRICT")
    )
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[ResponseStatus] = mapped_column(
        EnumText(ResponseStatus), default=ResponseStatus.IN_PROGRESS
    )
    pseudonym: Mapped[str | None] = mapped_column(String(32))
    pages_done: Mapped[str] = mapped_column(Text, default="")  # space-separated ids of saved pages
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)

    answers: Mapped[list[Answer]] = relationship(back_populates="response", cascade="all, delete-orphan")
    round: Mapped[Round] = relationship()
    cohort: Mapped[Cohort] = relationship()
    instrument_version: Mapped[InstrumentVersion] = relationship()


class Answer(Base):
    """One stored variable: ``part`` is '' for a simple item, else a choice code or quantile level."""

    __tablename__ = "answers"
    __table_args__ = (NO_ROWID,)

    # Keyed by what it is, not by an insertion-ordered id that would tell which response saved when.
    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)
    dont_know: Mapped[bool] = mapped_column(Boolean, default=False)

    response: Mapped[Response] = relationship(back_populates="answers")


class AnswerNote(Base):
    """What an expert says about one answer: a confidence rating, and a rationale (Delphi revisions)."""

    __tablename__ = "answer_notes"
    __table_args__ = (
        CheckConstraint("confidence IS NULL OR (confidence >= 1 AND confidence <= 5)", name="confidence"),
        NO_ROWID,
    )

    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    confidence: Mapped[int | None] = mapped_column(Integer)
    rationale: Mapped[str | None] = mapped_column(Text)


class FinishMark(Base):
    """An anonymous expert finished (answered or declined); which invitation is readable only with the server key.

    ``mark`` is HMAC(server key, round, seed). Marks wait here until a cohort has at least k of them; then one
    transaction sets all those invitations to ``finished`` and deletes the marks, so each finished invitation
    hides among at least k responses (``elicit.responding.unlinking.confirm_finished``).
    """

    __tablename__ = "finish_marks"
    __table_args__ = (NO_ROWID,)

    mark: Mapped[str] = mapped_column(String(64), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))


class Realization(Base):
    """The true value of a calibration (seed) question, entered by the researcher after the round."""

    __tablename__ = "realizations"
    __table_args__ = (UniqueConstraint("study_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    entered_by: Mapped[str] = mapped_column(String(254))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """Who did what and when; each event carries the hash of the previous one (a tamper-evident chain)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="SET NULL"), index=True)
    target: Mapped[str] = mapped_column(String(300), default="")
    details_json: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # True: ``hash`` is an HMAC under the audit key kept outside the database. Events recorded before 0011 are
    # plain SHA-256; they may only precede the first keyed event, whose MAC covers their chain.
    keyed: Mapped[bool] = mapped_column(Boolean, default=True, server_default="0")


class LinkSubmission(Base):
    """One submission of a studio form that made links, named by the form's ``nonce``, kept 12 hours.

    The same form posted again (a browser reload) is recognised and makes nothing new. It holds what was made
    in counts; a token is never stored in clear. Between the POST that made the links and the page that shows
    them once, they are held sealed with a key the database never sees (see ``elicit.studio.held``).
    """

    __tablename__ = "link_submissions"
    __table_args__ = (UniqueConstraint("study_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    summary_json: Mapped[str] = mapped_column(Text, default="{}")
    # The links it made, sealed (AES-GCM) with a key that only the maker's browser holds (in its session
    # cookie), until the page after the redirect shows them once, 15 minutes at most (post/redirect/get).
    held: Mapped[bytes | None] = mapped_column(LargeBinary)


class MailJob(Base):
    """A batch of e-mailed links, sent message by message so that it survives timeouts, crashes and restarts.

    Every link is stored (as its hash) and committed before its message goes, and every message's fate is
    recorded on its :class:`MailJobItem`, so the job always says who was sent a link and who was not. One runner
    at a time holds the job's lease (``lease_owner`` until ``lease_until``): the studio page, the CLI, or both.
    """

    __tablename__ = "mail_jobs"
    __table_args__ = (
        CheckConstraint(_check_in("kind", MailKind), name="kind"),
        CheckConstraint(_check_in("status", MailJobStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MailKind] = mapped_column(EnumText(MailKind))
    what: Mapped[str] = mapped_column(String(200), default="")  # as people read it: "roster invitations"
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[MailJobStatus] = mapped_column(EnumText(MailJobStatus), default=MailJobStatus.SENDING)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # why it stopped, in a sentence
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MailJobItem(Base):
    """One message of a :class:`MailJob`: to whom, carrying which invitation's link, and what became of it."""

    __tablename__ = "mail_job_items"
    __table_args__ = (
        CheckConstraint(_check_in("state", MailItemState), name="state"),
        Index("ix_mail_job_items_job_state", "job_id", "state"),
    )

    job_id: Mapped[int] = mapped_column(ForeignKey("mail_jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    roster_entry_id: Mapped[int | None] = mapped_column(ForeignKey("roster_entries.id", ondelete="SET NULL"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id", ondelete="SET NULL"))
    state: Mapped[MailItemState] = mapped_column(EnumText(MailItemState), default=MailItemState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    roster_entry: Mapped[RosterEntry | None] = relationship()
    invitation: Mapped[Invitation | None] = relationship()


class Setting(Base):
    """A fact about this database that the code checks, one row each (such as which secret key made it)."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Discussion(Base):
    """IDEA's discussion step after a round closed: which items its experts discuss, and when it was open.

    It is open while ``closed_at`` is empty; opening the next round closes it.
    """

    __tablename__ = "discussions"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True)
    items: Mapped[str] = mapped_column(Text)  # space-separated item ids
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    round: Mapped[Round] = relationship()

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class DiscussionPost(Base):
    """A reason an expert posted in a round's discussion step, about one item; other experts read it scrubbed.

    The id is random and the table has no rowid, so neither reveals the order posts were written in; the post
    belongs to its author's response of the discussed round (so a withdrawn response takes its posts with it).
    """

    __tablename__ = "discussion_posts"
    __table_args__ = (Index("ix_discussion_posts_round_item", "round_id", "item_id"), NO_ROWID)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_response_id)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PracticeStatus(StrEnum):
    SCORED = "scored"
    SKIPPED = "skipped"


class PracticeRecord(Base):
    """Whether an expert scored or skipped the practice page (calibration training) of their response.

    Practice is stored apart from the answers: no export, analysis, review or count reads these tables. No time
    is kept, and the table has no rowid, so neither says when (or in what order) experts practised.
    """

    __tablename__ = "practice_records"
    __table_args__ = (CheckConstraint(_check_in("status", PracticeStatus), name="status"), NO_ROWID)

    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[PracticeStatus] = mapped_column(EnumText(PracticeStatus))


class PracticeAnswer(Base):
    """One stored value of a practice question (a quantile level), kept only to show the expert their score."""

    __tablename__ = "practice_answers"
    __table_args__ = (NO_ROWID,)

    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    value_num: Mapped[float | None] = mapped_column(Float)


class InstrumentDraft(Base):
    """A checked instrument file not yet published: one per instrument id, replaced by each upload of that id.

    A draft is only ever previewed: no study can run on it and it makes no ``instrument_versions`` row. Publishing
    it runs the same checks again, stores the version and deletes the draft; ``source`` is the file as uploaded.
    """

    __tablename__ = "instrument_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(254))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def ref(self) -> str:
        """``id@version`` of the version this draft would publish."""
        return f"{self.key}@{self.version}"
