"""Retention, erasure and subject access: when Elicit deletes what it holds about people, and what it keeps.

**Retention.** A study's ``retain_until`` is the last day (UTC) its personal data is kept. After it,
:func:`purge_study` deletes the roster (names, e-mail addresses, organisations, languages), every link's material
(token hashes and the anonymous response seeds are replaced by random values that match nothing, anonymous
responses lose their lookup key, waiting finish marks go), the links held for the one-time links page, the mail
batches' personal parts (who each message went to, error texts that quote addresses), the answers to items marked
``privacy: direct_identifier`` and the study's outbox messages. Free text (answers, Delphi reasons, discussion
posts) is rewritten as the anonymized export shows it, since after the purge no roster is left to scrub it with.
What is kept: the answers, the invitations' statuses and counts by cohort (without links), the pseudonyms of
pseudonymous studies, the instrument versions, cohorts, rounds, the mail batches' counts and the audit log.
``elicit purge`` runs it for cron; the studio runs it on requests (:func:`due_study_ids` is one query).

**Erasure** of one roster entry (:func:`erase_entry`): the entry, its invitations, its mail items and outbox
messages; in pseudonymous studies also its responses (answers, notes, discussion posts, practice). In anonymous
studies nothing joins a response to an invitation, so the person's answers cannot be found: they stay, anonymous
(see :data:`ANONYMOUS_ERASURE`). Wherever the study's remaining free text mentions the person, it is scrubbed.

**Subject access** (:func:`subject_access`): everything held about a roster entry, as one JSON document.

Purges and erasures are audited with counts only (a roster entry by its id, never a name or an address) and
listed in later export manifests (:func:`manifest_entries`). Deleted rows leave nothing in the database files
once :func:`compact` has run after the commit (SQLite overwrites deleted content, ``secure_delete``, and the WAL is
folded in and truncated; PostgreSQL rewrites the touched tables with ``VACUUM FULL``). Each purge and erasure is
also appended to a ledger in the instance folder (a study's slug, and for an erasure a keyed hash of the e-mail
address), so :func:`reapply` can repeat them on a database restored from an older backup.

No Flask here: the studio and the CLI pass the outbox folder, the secret key and the ledger's path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from elicit import audit
from elicit.errors import ElicitError
from elicit.instruments.model import text_in
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    Answer,
    AnswerNote,
    AuditEvent,
    Cohort,
    DiscussionPost,
    FinishMark,
    InstrumentVersion,
    Invitation,
    LinkSubmission,
    MailJob,
    MailJobItem,
    PracticeAnswer,
    PracticeRecord,
    Response,
    RosterEntry,
    Round,
    Study,
    StudyStatus,
    utcnow,
)
from elicit.responding.unlinking import confirm_finished
from elicit.scrubbing import Scrubber, scrubber_for_study
from elicit.users import normalize_email

# A purged invitation's token hash: never the SHA-256 of anything (it is not hex), unique by its random part.
PURGED_PREFIX = "purged:"
ACTOR_RETENTION = "retention"  # the actor of purges run because the retention date passed
LEDGER_NAME = "lifecycle.jsonl"  # in the instance folder
_LEDGER_DOMAIN = b"elicit/lifecycle-ledger/v1"
OUTBOX_SUFFIXES = (".eml", ".tmp")
PURGE_ACTION = "study.purge"
ERASE_ACTION = "participant.erase"
SUBJECT_ACCESS_ACTION = "participant.subject_access"
RETENTION_ACTION = "study.retention"
SUBJECT_ACCESS_FORMAT = "elicit-subject-access/1"

ANONYMOUS_ERASURE = (
    "This study is anonymous: Elicit never stores which response came from which invitation, and the erasure "
    "deletes the invitation and its secret seed, the only way the server itself could have found the response. "
    "So this person's answers cannot be found, and they stay in the study, anonymous. Their roster entry, links, "
    "e-mails and outbox messages are deleted, and their name and e-mail address are scrubbed wherever the "
    "study's free text mentions them. (Deleting one person's answers would in any case show, to anyone comparing "
    "exports from before and after, which answers were theirs.)"
)
ANONYMOUS_ACCESS = (
    "This study is anonymous: Elicit never stores which response came from which invitation, so it cannot find "
    "this person's answers, and none are included here. Their answers, if they gave any, are in the study's "
    "data without their name."
)
PURGED_WHAT = (
    "the roster (names, e-mail addresses, organisations, languages), every link's token hash and secret seed, "
    "the links held for the one-time links page, the mail batches' recipients and error texts, the answers to "
    "direct-identifier items and the study's outbox messages; free text is kept as the anonymized export shows "
    "it (names, addresses, links, phone numbers and URLs replaced)"
)
KEPT_WHAT = (
    "the answers, the invitations' statuses and counts by cohort (without links), the pseudonyms of "
    "pseudonymous studies, the instrument versions, cohorts, rounds, the mail batches' counts and the audit log"
)

# What a report's counts are called in sentences (CLI output, studio messages, manifests use the keys).
LABELS = {
    "roster_entries": "roster entries",
    "links": "links (token hashes and seeds)",
    "held_links": "links held for the links page",
    "finish_marks": "waiting finish marks",
    "lookup_keys": "anonymous lookup keys",
    "mail_items": "mail items",
    "mail_details": "mail items' recipients and errors",
    "mail_errors": "mail batch errors",
    "direct_identifiers": "direct-identifier answers",
    "free_texts": "scrubbed free texts",
    "outbox_messages": "outbox messages",
    "invitations": "invitations",
    "responses": "responses",
    "answers": "answers",
    "answer_notes": "answer notes",
    "discussion_posts": "discussion posts",
    "practice": "practice records and answers",
    "cohorts": "cohorts",
    "rounds": "rounds",
    "mail_batches": "mail batches",
    "audit_events": "audit events",
}
# The counts of a purge and of an erasure, in the order they are told.
PURGE_COUNTS = (
    "roster_entries",
    "links",
    "held_links",
    "finish_marks",
    "lookup_keys",
    "mail_details",
    "mail_errors",
    "direct_identifiers",
    "free_texts",
    "outbox_messages",
)
ERASURE_COUNTS = (
    "roster_entries",
    "invitations",
    "responses",
    "answers",
    "answer_notes",
    "discussion_posts",
    "practice",
    "mail_items",
    "mail_errors",
    "held_links",
    "outbox_messages",
    "free_texts",
)
# Every table a purge or an erasure may change: what ``compact`` rewrites when asked for all of them.
LIFECYCLE_TABLES = frozenset(
    {
        "roster_entries",
        "invitations",
        "link_submissions",
        "finish_marks",
        "responses",
        "answers",
        "answer_notes",
        "discussion_posts",
        "practice_records",
        "practice_answers",
        "mail_jobs",
        "mail_job_items",
    }
)


class LifecycleError(ElicitError):
    """A purge, erasure or retention date that cannot be done as asked; the message says why."""


@dataclass
class Report:
    """What one purge or erasure did (or, ``dry_run``, would do): counts by kind, and the tables it changed."""

    kind: str  # "purge" or "erasure"
    study: str  # slug
    anonymity: str
    dry_run: bool = False
    deleted: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)
    roster_entry: int | None = None
    closed: bool = False  # a purge closed the study (it was open)
    statement: str = ""

    def count(self, key: str, number: int, *tables: str) -> None:
        """Add ``number`` to ``key``; the tables are changed (compacted after the commit) when it is not 0."""
        self.deleted[key] = self.deleted.get(key, 0) + number
        if number:
            self.tables.update(tables)


def describe(counts: Mapping[str, int]) -> str:
    """``counts`` as people read them: "roster entries 3, links 4" (zeros left out; "nothing" if all are)."""
    shown = [f"{LABELS.get(key, key)} {number}" for key, number in counts.items() if number]
    return ", ".join(shown) or "nothing"


def today() -> date:
    """The day in UTC: retention dates are days in UTC."""
    return datetime.now(UTC).date()


# ---------------------------------------------------------------------------------------------- retention date
def retention_problem(study: Study, day: date | None, now: date | None = None) -> str | None:
    """Why ``day`` cannot be the study's retention date, or None. No date (keep until one is set) is always fine.

    The date may not be in the past (the data would go at once: "purge now" is for that) nor before the study
    closes (links would stop working while experts may still answer), and a purged study's date stays as it is.
    """
    now = now or today()
    if study.purged_at is not None:
        return "The study's personal data was purged already; its retention date stays as it was."
    if day is None:
        return None
    if day < now:
        return (
            f"{day.isoformat()} is in the past: the data would be purged at once. To purge now, close the study "
            "and use Purge now."
        )
    if study.closes_on is not None and day < study.closes_on:
        return (
            f"{day.isoformat()} is before the study closes ({study.closes_on.isoformat()}): its links would stop "
            "working while experts may still answer. Choose the closing date or later."
        )
    return None


def set_retention(session: Session, study: Study, day: date | None, actor: str) -> bool:
    """Set (or clear, ``None``) the retention date after :func:`retention_problem`; audited. False: unchanged."""
    problem = retention_problem(study, day)
    if problem is not None:
        raise LifecycleError(problem)
    if study.retain_until == day:
        return False
    before = study.retain_until
    study.retain_until = day
    audit.record(
        session,
        RETENTION_ACTION,
        actor,
        study_id=study.id,
        target=study.slug,
        details={"retain_until": [before.isoformat() if before else None, day.isoformat() if day else None]},
    )
    return True


# ---------------------------------------------------------------------------------------------------- purging
def _due(now: date) -> Any:
    """Studies whose retention date has passed and that still hold data: never purged, or given a roster since."""
    return (Study.retain_until < now) & (
        Study.purged_at.is_(None) | exists().where(RosterEntry.study_id == Study.id)
    )


def due_study_ids(session: Session, now: date | None = None) -> list[int]:
    """The ids of the studies due for purging: one query (a handful of rows in ``studies``)."""
    return list(session.scalars(select(Study.id).where(_due(now or today())).order_by(Study.id)))


def purge_study(
    session: Session,
    study: Study,
    *,
    secret: str,
    outbox: Path,
    actor: str,
    dry_run: bool = False,
    early: bool = False,
) -> Report:
    """Purge ``study``'s personal data (see the module docstring), in the caller's transaction; audited.

    ``early`` is "purge now", before the retention date: refused while the study is open (its links would stop
    working mid-study), and the retention date becomes yesterday, so data added later is purged too. A purge
    because the date passed closes a study left open. The outbox messages are deleted here, before the commit
    (the purge is repeated if the commit fails); run :func:`compact` after the commit.
    """
    if early and study.status == StudyStatus.OPEN:
        raise LifecycleError(
            f"study {study.slug} is open: close it first (purging deletes every link, so nobody could answer)"
        )
    report = Report("purge", study.slug, str(study.anonymity), dry_run, dict.fromkeys(PURGE_COUNTS, 0))
    if not dry_run and study.anonymity == Anonymity.ANONYMOUS:
        # Finishes waiting in groups of k are confirmed one last time; the marks left go with the seeds.
        confirm_finished(session, secret, study)
    responses = select(Response.id).where(Response.study_id == study.id)
    free_ids, direct_ids = text_items(session, study)

    scrubber = scrubber_for_study(session, study.id)
    rewritten = _rewrite_texts(session, study, scrubber.scrub, free_ids - direct_ids, dry_run)
    report.count("free_texts", rewritten, "answers", "answer_notes", "discussion_posts")
    direct = (Answer.response_id.in_(responses), Answer.item_id.in_(sorted(direct_ids)))
    report.count("direct_identifiers", _count(session, Answer, *direct), "answers")
    marks = (FinishMark.study_id == study.id,)
    report.count("finish_marks", _count(session, FinishMark, *marks), "finish_marks")
    live_links = (Invitation.study_id == study.id, ~Invitation.token_hash.startswith(PURGED_PREFIX))
    report.count("links", _count(session, Invitation, *live_links), "invitations")
    keyed = (Response.study_id == study.id, Response.lookup_key.is_not(None))
    report.count("lookup_keys", _count(session, Response, *keyed), "responses")
    held = (LinkSubmission.study_id == study.id,)
    report.count("held_links", _count(session, LinkSubmission, *held), "link_submissions")
    jobs = select(MailJob.id).where(MailJob.study_id == study.id)
    details = (
        MailJobItem.job_id.in_(jobs),
        or_(MailJobItem.roster_entry_id.is_not(None), MailJobItem.error.is_not(None)),
    )
    report.count("mail_details", _count(session, MailJobItem, *details), "mail_job_items")
    job_errors = (MailJob.study_id == study.id, MailJob.error.is_not(None))
    report.count("mail_errors", _count(session, MailJob, *job_errors), "mail_jobs")
    roster = (RosterEntry.study_id == study.id,)
    report.count("roster_entries", _count(session, RosterEntry, *roster), "roster_entries", "invitations")
    report.count("outbox_messages", len(_outbox_files(outbox)))
    report.kept = {
        "responses": _count(session, Response, Response.study_id == study.id),
        "answers": _count(session, Answer, Answer.response_id.in_(responses))
        - report.deleted["direct_identifiers"],
        "invitations": _count(session, Invitation, Invitation.study_id == study.id),
        "cohorts": _count(session, Cohort, Cohort.study_id == study.id),
        "rounds": _count(session, Round, Round.study_id == study.id),
        "mail_batches": _count(session, MailJob, MailJob.study_id == study.id),
        "audit_events": _count(session, AuditEvent),
    }
    if dry_run:
        return report

    _delete(session, Answer, *direct)
    _delete(session, FinishMark, *marks)
    fresh = [
        {
            "id": invitation_id,
            "token_hash": PURGED_PREFIX + secrets.token_hex(28),
            "response_seed": secrets.token_hex(16),
            "roster_entry_id": None,
        }
        for invitation_id in session.scalars(select(Invitation.id).where(*live_links))
    ]
    if fresh:
        session.execute(update(Invitation), fresh)
    session.execute(
        update(Invitation)
        .where(Invitation.study_id == study.id, Invitation.roster_entry_id.is_not(None))
        .values(roster_entry_id=None)
        .execution_options(synchronize_session=False)
    )
    _update(session, Response, keyed, lookup_key=None)
    _delete(session, LinkSubmission, *held)
    _update(session, MailJobItem, details, roster_entry_id=None, error=None)
    _update(session, MailJob, job_errors, error=None)
    _delete(session, RosterEntry, *roster)
    _shred_all(_outbox_files(outbox))
    if study.status == StudyStatus.OPEN:
        study.status = StudyStatus.CLOSED
        report.closed = True
    yesterday = today() - timedelta(days=1)
    if early and (study.retain_until is None or study.retain_until > yesterday):
        study.retain_until = yesterday
    study.purged_at = utcnow()
    audit.record(
        session,
        PURGE_ACTION,
        actor,
        study_id=study.id,
        target=study.slug,
        details={
            "trigger": "purge now" if early else "retention date",
            "retain_until": study.retain_until.isoformat() if study.retain_until else None,
            "deleted": report.deleted,
            "kept": {k: v for k, v in report.kept.items() if k != "audit_events"},
            "closed": report.closed,
        },
    )
    session.flush()
    session.expire_all()
    return report


# ---------------------------------------------------------------------------------------------------- erasure
def normalize(email: str) -> str:
    """An e-mail address as the roster stores it (``elicit.users.normalize_email``: trimmed, lower case)."""
    return normalize_email(email)


def find_entries(session: Session, email: str, slug: str | None = None) -> list[RosterEntry]:
    """The roster entries with this e-mail address (in one study, or in all), oldest first."""
    query = select(RosterEntry).where(func.lower(RosterEntry.email) == normalize(email))
    if slug is not None:
        query = query.join(Study, Study.id == RosterEntry.study_id).where(Study.slug == slug)
    return list(session.scalars(query.order_by(RosterEntry.id)))


def erase_entry(
    session: Session,
    entry: RosterEntry,
    *,
    outbox: Path,
    actor: str,
    ledger: Path | None = None,
    secret: str = "",
    dry_run: bool = False,
) -> Report:
    """Erase one roster entry (see the module docstring) in the caller's transaction; audited, and written to
    ``ledger`` (keyed by ``secret``) so a restore can repeat it. Run :func:`compact` after the commit."""
    study = session.get(Study, entry.study_id)
    if study is None:
        raise LifecycleError(f"roster entry {entry.id} belongs to no study")
    report = Report("erasure", study.slug, str(study.anonymity), dry_run, dict.fromkeys(ERASURE_COUNTS, 0))
    report.roster_entry = entry.id
    invitation_ids = list(
        session.scalars(select(Invitation.id).where(Invitation.roster_entry_id == entry.id))
    )
    hashes = list(session.scalars(select(Invitation.token_hash).where(Invitation.id.in_(invitation_ids))))
    pseudonymous = study.anonymity == Anonymity.PSEUDONYMOUS
    response_ids = (
        list(session.scalars(select(Response.id).where(Response.invitation_id.in_(invitation_ids))))
        if pseudonymous and invitation_ids
        else []
    )
    own = Response.id.in_(response_ids)
    report.count("responses", len(response_ids), "responses")
    report.count("answers", _count(session, Answer, Answer.response_id.in_(response_ids)), "answers")
    notes = (AnswerNote.response_id.in_(response_ids),)
    report.count("answer_notes", _count(session, AnswerNote, *notes), "answer_notes")
    posts = (DiscussionPost.response_id.in_(response_ids),)
    report.count("discussion_posts", _count(session, DiscussionPost, *posts), "discussion_posts")
    practice = _count(session, PracticeRecord, PracticeRecord.response_id.in_(response_ids)) + _count(
        session, PracticeAnswer, PracticeAnswer.response_id.in_(response_ids)
    )
    report.count("practice", practice, "practice_records", "practice_answers")
    jobs = select(MailJob.id).where(MailJob.study_id == study.id)
    items = (
        MailJobItem.job_id.in_(jobs),
        or_(MailJobItem.roster_entry_id == entry.id, MailJobItem.invitation_id.in_(invitation_ids)),
    )
    report.count("mail_items", _count(session, MailJobItem, *items), "mail_job_items")
    mentioning = [
        job.id
        for job in session.scalars(
            select(MailJob).where(MailJob.study_id == study.id, MailJob.error.is_not(None))
        )
        if _mentions(job.error or "", entry)
    ]
    report.count("mail_errors", len(mentioning), "mail_jobs")
    held = (LinkSubmission.study_id == study.id, LinkSubmission.held.is_not(None))
    report.count("held_links", _count(session, LinkSubmission, *held), "link_submissions")
    report.count("invitations", len(invitation_ids), "invitations")
    report.count("roster_entries", 1, "roster_entries")
    messages = [path for path in _outbox_files(outbox) if _addressed_to(path, entry.email)]
    report.count("outbox_messages", len(messages))

    if not dry_run:
        _delete(session, AnswerNote, *notes)
        _delete(session, DiscussionPost, *posts)
        _delete(session, PracticeAnswer, PracticeAnswer.response_id.in_(response_ids))
        _delete(session, PracticeRecord, PracticeRecord.response_id.in_(response_ids))
        _delete(session, Answer, Answer.response_id.in_(response_ids))
        _delete(session, Response, own)
        _delete(session, MailJobItem, *items)
        _update(session, MailJob, (MailJob.id.in_(mentioning),), error=None)
        _update(session, LinkSubmission, held, held=None)
    # The rest of the study's free text, scrubbed wherever it mentions the person (their own answers in an
    # anonymous study among them): after the erasure, no roster entry is left for exports to scrub them by.
    free_ids, direct_ids = text_items(session, study)
    rewrite = _mention_scrubber(session, study, entry, hashes)
    rewritten = _rewrite_texts(
        session, study, rewrite, free_ids | direct_ids, dry_run, skip=set(response_ids)
    )
    report.count("free_texts", rewritten, "answers", "answer_notes", "discussion_posts")
    if dry_run:
        if not pseudonymous:
            report.statement = ANONYMOUS_ERASURE
        return report

    _delete(session, Invitation, Invitation.id.in_(invitation_ids))
    _delete(session, RosterEntry, RosterEntry.id == entry.id)
    _shred_all(messages)
    if ledger is not None:
        append_ledger(
            ledger, {"kind": "erasure", "study": study.slug, "subject": subject_key(secret, entry.email)}
        )
    if not pseudonymous:
        report.statement = ANONYMOUS_ERASURE
    audit.record(
        session,
        ERASE_ACTION,
        actor,
        study_id=study.id,
        target=f"roster entry {entry.id}",
        details={"anonymity": str(study.anonymity), "deleted": report.deleted},
    )
    session.flush()
    session.expire_all()
    return report


def _mentions(text: str, entry: RosterEntry) -> bool:
    folded = text.casefold()
    return entry.email.casefold() in folded or (len(entry.name) >= 3 and entry.name.casefold() in folded)


def _mention_scrubber(
    session: Session, study: Study, entry: RosterEntry, hashes: Iterable[str]
) -> Callable[[str], str]:
    """A rewrite that scrubs a text only when it mentions ``entry``: their name (with its variants), e-mail
    address, links, and their organisation when nobody else on the roster shares it (a shared one is still
    scrubbed from exports by the entries that remain)."""
    shared = session.scalar(
        select(func.count())
        .select_from(RosterEntry)
        .where(
            RosterEntry.study_id == study.id,
            RosterEntry.id != entry.id,
            func.lower(RosterEntry.organisation) == (entry.organisation or "").lower(),
        )
    )
    organisation = "" if shared else entry.organisation or ""
    own = Scrubber.from_roster([(entry.name, entry.email, organisation)], token_hashes=hashes)
    plain = Scrubber.from_roster([])
    address = entry.email.casefold()

    def rewrite(text: str) -> str:
        scrubbed = own.scrub(text)
        if address in text.casefold() or scrubbed != plain.scrub(text):
            return scrubbed
        return text

    return rewrite


# ------------------------------------------------------------------------------------------------ free text
def text_items(session: Session, study: Study) -> tuple[set[str], set[str]]:
    """The ids of the study's free-text items and of its direct-identifier items, in any version it used."""
    used = select(Round.instrument_version_id).where(Round.study_id == study.id)
    answered = select(Response.instrument_version_id).where(Response.study_id == study.id)
    free: set[str] = set()
    direct: set[str] = set()
    for version in session.scalars(
        select(InstrumentVersion).where(
            or_(InstrumentVersion.id.in_(used), InstrumentVersion.id.in_(answered))
        )
    ):
        for item in definition_of(version).items():
            if item.kind.free_text or item.privacy.kind == "free_text":
                free.add(item.id)
            if item.privacy.kind == "direct_identifier":
                direct.add(item.id)
    return free, direct


def _rewrite_texts(
    session: Session,
    study: Study,
    rewrite: Callable[[str], str],
    item_ids: set[str],
    dry_run: bool,
    skip: set[str] | frozenset[str] = frozenset(),
) -> int:
    """Rewrite the study's free text (answers to ``item_ids``, notes' reasons, discussion posts), except that of
    the responses in ``skip``; how many texts changed."""
    responses = select(Response.id).where(Response.study_id == study.id, Response.id.not_in(sorted(skip)))
    changed = 0
    answers = session.execute(
        select(Answer.response_id, Answer.item_id, Answer.part, Answer.value_text).where(
            Answer.response_id.in_(responses),
            Answer.item_id.in_(sorted(item_ids)),
            Answer.value_text.is_not(None),
        )
    ).all()
    for response_id, item_id, part, text in answers:
        new = rewrite(text or "")
        if new != text:
            changed += 1
            if not dry_run:
                _update(
                    session,
                    Answer,
                    (Answer.response_id == response_id, Answer.item_id == item_id, Answer.part == part),
                    value_text=new,
                )
    notes = session.execute(
        select(AnswerNote.response_id, AnswerNote.item_id, AnswerNote.rationale).where(
            AnswerNote.response_id.in_(responses), AnswerNote.rationale.is_not(None)
        )
    ).all()
    for response_id, item_id, text in notes:
        new = rewrite(text or "")
        if new != text:
            changed += 1
            if not dry_run:
                where = (AnswerNote.response_id == response_id, AnswerNote.item_id == item_id)
                _update(session, AnswerNote, where, rationale=new)
    posts = session.execute(
        select(DiscussionPost.id, DiscussionPost.body).where(DiscussionPost.response_id.in_(responses))
    ).all()
    for post_id, text in posts:
        new = rewrite(text)
        if new != text:
            changed += 1
            if not dry_run:
                _update(session, DiscussionPost, (DiscussionPost.id == post_id,), body=new)
    return changed


# --------------------------------------------------------------------------------------------------- outbox
def _outbox_files(folder: Path) -> list[Path]:
    """The study's outbox messages (and any half-written ones), oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(OUTBOX_SUFFIXES))


def _recipient(path: Path) -> str:
    """The address a message in the outbox went to (lower case), or "" when its headers cannot be read."""
    try:
        with path.open("rb") as handle:
            headers = BytesHeaderParser(policy=default_policy).parse(handle)
        to = headers["To"]
        addresses = getattr(to, "addresses", ()) if to is not None else ()
        return str(addresses[0].addr_spec).lower() if addresses else str(to or "").lower()
    except (OSError, ValueError, IndexError):
        return ""


def _addressed_to(path: Path, email: str) -> bool:
    return _recipient(path) == normalize(email)


def _shred(path: Path) -> None:
    """Overwrite a file with zeros (synced), then delete it: what a file system that writes in place can do."""
    size = path.stat().st_size
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.write(descriptor, b"\0" * size)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    path.unlink()


def _shred_all(paths: Iterable[Path]) -> None:
    try:
        for path in paths:
            _shred(path)
    except OSError as exc:
        raise LifecycleError(f"cannot delete the outbox message {exc.filename}: {exc.strerror}") from None


# ------------------------------------------------------------------------------------------------- database
def _count(session: Session, model: type[Any], *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _delete(session: Session, model: type[Any], *where: Any) -> None:
    session.execute(delete(model).where(*where).execution_options(synchronize_session=False))


def _update(session: Session, model: type[Any], where: Iterable[Any], **values: Any) -> None:
    session.execute(update(model).where(*where).values(**values).execution_options(synchronize_session=False))


def compact(engine: Engine, tables: Iterable[str]) -> str | None:
    """After the commit: leave nothing of deleted rows in the database files. None when done, else why not.

    SQLite overwrites deleted content already (``secure_delete``, see ``elicit.db``); the old page images in the
    WAL go when it is folded into the file and truncated (``wal_checkpoint(TRUNCATE)``, which waits for readers).
    PostgreSQL keeps dead rows (and index entries) in its files until they are rewritten: ``VACUUM FULL`` of each
    changed table, which holds its lock while it copies the table. Neither reaches copies made before (backups,
    replicas, PostgreSQL's WAL archive) nor blocks the file system has already let go of.
    """
    names = sorted(set(tables) & LIFECYCLE_TABLES)
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, _log, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        if busy:
            return "the SQLite WAL could not be folded in (readers kept it busy); run elicit purge again"
        return None
    if engine.dialect.name != "postgresql" or not names:
        return None
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("SET lock_timeout = '30s'")
            for name in names:
                connection.exec_driver_sql(f'VACUUM (FULL) "{name}"')  # names from LIFECYCLE_TABLES only
    except Exception as exc:  # noqa: BLE001  # any failure is reported, never hidden: the data is deleted
        reason = " ".join(str(getattr(exc, "orig", exc)).split())
        return f"PostgreSQL could not rewrite the tables ({reason}); run elicit purge again"
    return None


# --------------------------------------------------------------------------------------------- the ledger
def ledger_path(instance_path: str | Path) -> Path:
    return Path(instance_path) / LEDGER_NAME


def subject_key(secret: str, email: str) -> str:
    """A keyed hash of an e-mail address: the ledger recognises the person again without naming them."""
    key = hmac.new(secret.encode("utf-8"), _LEDGER_DOMAIN, hashlib.sha256).digest()
    return hmac.new(key, normalize(email).encode("utf-8"), hashlib.sha256).hexdigest()


def append_ledger(path: Path, entry: Mapping[str, Any]) -> None:
    """Append one line to the ledger (a private file, synced): what a restore must repeat."""
    line = json.dumps({**entry, "at": utcnow().isoformat()}, sort_keys=True) + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line.encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise LifecycleError(f"cannot write the ledger {path}: {exc.strerror}") from None


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """The ledger's lines (none when it does not exist); a line that is not JSON is refused with its number."""
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            entry["at"] = datetime.fromisoformat(entry["at"])
        except (ValueError, KeyError, TypeError):
            raise LifecycleError(f"{path}:{number}: not a ledger line") from None
        entries.append(entry)
    return entries


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def record_purge(ledger: Path | None, report: Report) -> None:
    """Write a purge to the ledger (after it was done; not for dry runs)."""
    if ledger is not None and not report.dry_run:
        append_ledger(ledger, {"kind": "purge", "study": report.study})


def reapply(
    session: Session,
    *,
    secret: str,
    ledger: Path,
    outbox_for: Callable[[str], Path],
    actor: str,
) -> list[Report]:
    """On a database restored from a backup: purge the studies due, and repeat what the ledger holds that the
    database does not show (a purge done after the backup was taken, an erasure of an entry made before it)."""
    reports: list[Report] = []
    entries = read_ledger(ledger)
    purged_later = {e["study"]: _aware(e["at"]) for e in entries if e.get("kind") == "purge"}
    due = set(due_study_ids(session))
    for study in session.scalars(select(Study).order_by(Study.id)):
        purged = purged_later.get(study.slug)
        again = (
            purged is not None
            and _aware(study.created_at) < purged  # the same study, not a later one of the same name
            and (study.purged_at is None or _aware(study.purged_at) < purged)
        )
        if study.id not in due and not again:
            continue
        if study.id not in due:
            study.status = StudyStatus.CLOSED  # it was purged, so closed, after this backup was taken
        outbox = outbox_for(study.slug)
        early = study.id not in due
        reports.append(purge_study(session, study, secret=secret, outbox=outbox, actor=actor, early=early))
    erasures = [e for e in entries if e.get("kind") == "erasure"]
    if erasures:
        by_study: dict[str, list[dict[str, Any]]] = {}
        for entry in erasures:
            by_study.setdefault(str(entry.get("study")), []).append(entry)
        rows = session.execute(
            select(RosterEntry, Study.slug)
            .join(Study, Study.id == RosterEntry.study_id)
            .order_by(RosterEntry.id)
        ).all()
        for roster_entry, slug in rows:
            wanted = by_study.get(slug, [])
            if not wanted:
                continue
            key = subject_key(secret, roster_entry.email)
            created = _aware(roster_entry.created_at)
            if any(e.get("subject") == key and created <= e["at"] for e in wanted):
                reports.append(
                    erase_entry(session, roster_entry, outbox=outbox_for(slug), actor=actor, secret=secret)
                )
    return reports


# ------------------------------------------------------------------------------------------ subject access
def _when(moment: datetime | date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return _aware(moment).isoformat()
    return moment.isoformat()


def _value(item: Any, answer: Answer, language: str) -> dict[str, Any]:
    """One stored answer, with the item's wording and, for a choice, its label."""
    value: Any = answer.value_text if answer.value_text is not None else answer.value_num
    shown: dict[str, Any] = {"item": answer.item_id, "part": answer.part, "value": value}
    if item is not None:
        shown["label"] = text_in(item.text, language) or item.id
        key = answer.part or (str(value) if value is not None else "")
        if isinstance(value, float) and value.is_integer():
            key = answer.part or str(int(value))
        choice = item.choice(key) if key else None
        if choice is not None:
            shown["choice"] = text_in(choice.label, language)
    if answer.dont_know:
        shown["dont_know"] = True
    return shown


def _entry_document(session: Session, entry: RosterEntry, outbox: Path) -> dict[str, Any]:
    study = session.get(Study, entry.study_id)
    assert study is not None  # nosec B101  # narrows the type: a roster entry's study exists (foreign key); not a security check
    cohort = session.get(Cohort, entry.cohort_id)
    invitations = list(
        session.scalars(
            select(Invitation).where(Invitation.roster_entry_id == entry.id).order_by(Invitation.id)
        )
    )
    pseudonymous = study.anonymity == Anonymity.PSEUDONYMOUS
    mails = session.execute(
        select(MailJobItem, MailJob)
        .join(MailJob, MailJob.id == MailJobItem.job_id)
        .where(MailJobItem.roster_entry_id == entry.id)
        .order_by(MailJob.id, MailJobItem.position)
    ).all()
    document: dict[str, Any] = {
        "study": {
            "slug": study.slug,
            "title": study.title,
            "anonymity": str(study.anonymity),
            "research_team": {
                "name": study.team_name,
                "email": study.team_email,
                "contact": study.team_contact,
            },
            "retain_until": _when(study.retain_until),
        },
        "roster_entry": {
            "id": entry.id,
            "name": entry.name,
            "email": entry.email,
            "organisation": entry.organisation,
            "language": entry.language,
            "cohort": {"code": cohort.code, "label": cohort.label} if cohort else None,
            "added_at": _when(entry.created_at),
        },
        "invitations": [
            {
                "id": invitation.id,
                "status": str(invitation.status),
                "created_at": _when(invitation.created_at),
                "sent_at": _when(invitation.sent_at),
                "reminded_at": _when(invitation.reminded_at),
                "revoked_at": _when(invitation.revoked_at),
                **({"pseudonym": invitation.pseudonym} if pseudonymous else {}),
            }
            for invitation in invitations
        ],
        "mails": [
            {
                "batch": job.id,
                "kind": str(job.kind),
                "what": job.what,
                "state": str(item.state),
                "attempts": item.attempts,
                "sent_at": _when(item.sent_at),
                "error": item.error,
            }
            for item, job in mails
        ],
        "outbox_messages": [
            {"file": path.name, "bytes": path.stat().st_size}
            for path in _outbox_files(outbox)
            if _addressed_to(path, entry.email)
        ],
        "audit_events": [
            {"at": _when(at), "action": action}
            for at, action in session.execute(
                select(AuditEvent.at, AuditEvent.action)
                .where(
                    AuditEvent.study_id == study.id,
                    AuditEvent.target.in_(
                        [f"invitation {i.id}" for i in invitations] + [f"roster entry {entry.id}"]
                    ),
                )
                .order_by(AuditEvent.id)
            )
        ],
    }
    if not pseudonymous:
        document["responses"] = []
        document["statement"] = ANONYMOUS_ACCESS
        return document
    responses = list(
        session.scalars(
            select(Response)
            .join(Round, Round.id == Response.round_id)
            .where(Response.invitation_id.in_([i.id for i in invitations]))
            .order_by(Round.number)
        )
    )
    shown = []
    for response in responses:
        definition = definition_of(response.instrument_version)
        items = {item.id: item for item in definition.items()}
        language = response.language
        answers = sorted(response.answers, key=lambda a: (a.item_id, a.part))
        shown.append(
            {
                "round": response.round.number,
                "instrument": definition.ref,
                "language": language,
                "status": str(response.status),
                "pseudonym": response.pseudonym,
                "started_at": _when(response.started_at),
                "updated_at": _when(response.updated_at),
                "submitted_on": _when(response.submitted_on),
                "answers": [_value(items.get(a.item_id), a, language) for a in answers],
                "notes": [
                    {"item": note.item_id, "confidence": note.confidence, "reason": note.rationale}
                    for note in session.scalars(
                        select(AnswerNote)
                        .where(AnswerNote.response_id == response.id)
                        .order_by(AnswerNote.item_id)
                    )
                ],
                "discussion_posts": [
                    {"item": post.item_id, "text": post.body, "posted_at": _when(post.posted_at)}
                    for post in session.scalars(
                        select(DiscussionPost)
                        .where(DiscussionPost.response_id == response.id)
                        .order_by(DiscussionPost.posted_at)
                    )
                ],
                "practice": [
                    {"item": p.item_id, "part": p.part, "value": p.value_num}
                    for p in session.scalars(
                        select(PracticeAnswer)
                        .where(PracticeAnswer.response_id == response.id)
                        .order_by(PracticeAnswer.item_id, PracticeAnswer.part)
                    )
                ],
            }
        )
    document["responses"] = shown
    return document


def subject_access(
    session: Session, entries: Iterable[RosterEntry], outbox_for: Callable[[str], Path], actor: str
) -> dict[str, Any]:
    """Everything held about these roster entries (one person, in one or more studies); each is audited."""
    documents = []
    for entry in entries:
        study = session.get(Study, entry.study_id)
        assert study is not None  # nosec B101  # narrows the type: a roster entry's study exists (foreign key); not a security check
        documents.append(_entry_document(session, entry, outbox_for(study.slug)))
        audit.record(
            session, SUBJECT_ACCESS_ACTION, actor, study_id=study.id, target=f"roster entry {entry.id}"
        )
    return {
        "format": SUBJECT_ACCESS_FORMAT,
        "made_at": _when(utcnow()),
        "entries": documents,
        "not_included": (
            "Elicit keeps no link in clear (only a hash of each), so no link is included. Exports and backups made "
            "earlier are copies outside the database and are not included here."
        ),
    }


def write_private_json(path: Path, document: Mapping[str, Any], *, force: bool = False) -> None:
    """Write ``document`` to a new file of mode 0600 (``force`` replaces an existing one, atomically)."""
    data = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    target = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp") if force else path
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(target, path)
    except FileExistsError:
        raise LifecycleError(f"{path} exists already; give another --out, or --force to replace it") from None
    except OSError as exc:
        raise LifecycleError(f"cannot write {path}: {exc.strerror}") from None


# ------------------------------------------------------------------------------------------------- manifest
def manifest_entries(connection: Connection | Session, study_id: int) -> list[dict[str, Any]]:
    """The study's purges and erasures for an export's manifest: date, kind and counts (never who)."""
    rows = connection.execute(
        select(AuditEvent.at, AuditEvent.action, AuditEvent.details_json)
        .where(AuditEvent.study_id == study_id, AuditEvent.action.in_((PURGE_ACTION, ERASE_ACTION)))
        .order_by(AuditEvent.id)
    )
    entries = []
    for at, action, details_json in rows:
        details = json.loads(details_json or "{}")
        entries.append(
            {
                "on": _aware(at).date().isoformat(),
                "kind": "purge" if action == PURGE_ACTION else "erasure",
                "deleted": {k: v for k, v in dict(details.get("deleted", {})).items() if v},
            }
        )
    return entries
