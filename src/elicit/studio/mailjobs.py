"""E-mailed links as a resumable batch: every sent link exists in the database, every message's fate is kept.

A :class:`~elicit.models.MailJob` holds one item per message. A runner (the studio page, a slice of a few seconds
per request, or ``elicit mail resume`` on the server) takes the job's lease and sends item by item, in two
commits each:

1. the item's link is made (a fresh token whose hash is stored on its invitation) and the item marked
   ``sending``: committed *before* the message goes, so a link that reaches an expert always opens;
2. the message goes, then the item is marked ``sent`` and the invitation ``sent_at``: committed.

A worker killed between the two leaves the item ``sending``: its message may or may not have gone. Resuming
reissues such a link (the possibly delivered one is revoked) and sends the new one, so the expert holds a link that
works, perhaps after a second message. A message the server refuses (a bad address) fails alone and the batch goes
on; a server that cannot be reached stops the batch with its reason, and resuming carries on from there. Tokens
are never stored in clear (only their hashes), so a link is made anew each time a message is tried.
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from elicit.csvsafe import csv_safe
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    Invitation,
    InvitationStatus,
    MailItemState,
    MailJob,
    MailJobItem,
    MailJobStatus,
    MailKind,
    Response,
    Round,
    Study,
    utcnow,
)
from elicit.studies import IssuedLink, StudyError, current_round, link_url
from elicit.studio import invitations as service
from elicit.studio import letters, mail
from elicit.tokens import new_token, token_hash

LEASE = timedelta(minutes=2)  # a runner renews it with every message; a dead runner's lease lapses
CHUNK = 100  # items read at a time
REFUSED_IN_A_ROW = 25  # this many refusals in a row means the server, not the addresses: stop
TO_SEND = (MailItemState.PENDING, MailItemState.SENDING, MailItemState.FAILED)
STATE_LABELS = {
    MailItemState.PENDING: "not sent yet",
    MailItemState.SENDING: "interrupted while sending (may have gone)",
    MailItemState.SENT: "sent",
    MailItemState.FAILED: "not sent (failed)",
    MailItemState.SKIPPED: "not sent (nothing to send)",
}
JOB_LABELS = {
    MailJobStatus.SENDING: "sending",
    MailJobStatus.STOPPED: "stopped: resume it",
    MailJobStatus.DONE: "done",
}
RECORD_COLUMNS = (
    "position",
    "name",
    "email",
    "cohort",
    "invitation",
    "state",
    "attempts",
    "sent_at",
    "error",
)


@dataclass
class RunResult:
    """What one run of a job did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    busy: bool = False  # another runner holds the lease: nothing was done
    stopped: str | None = None  # why the batch stopped, when a failure stopped it


# --------------------------------------------------------------------------------------------------- making jobs
def create_job(
    session: Session,
    study: Study,
    kind: MailKind,
    what: str,
    actor: str,
    invitations: Sequence[Invitation],
) -> MailJob:
    """A job of one message per invitation (each must belong to a roster entry: that is who it goes to)."""
    job = MailJob(study_id=study.id, kind=kind.value, what=what, created_by=actor, total=len(invitations))
    session.add(job)
    session.flush()
    rows = [
        {
            "job_id": job.id,
            "position": position,
            "roster_entry_id": invitation.roster_entry_id,
            "invitation_id": invitation.id,
            "state": MailItemState.PENDING,
            "attempts": 0,
        }
        for position, invitation in enumerate(invitations, start=1)
        if invitation.roster_entry_id is not None
    ]
    if len(rows) != len(invitations):
        raise StudyError("only invitations of roster entries can be e-mailed (the others have no address)")
    if rows:
        session.execute(insert(MailJobItem), rows)
    if not rows:
        job.status = MailJobStatus.DONE
        job.finished_at = utcnow()
    session.flush()
    return job


def find_job(session: Session, study: Study, job_id: int) -> MailJob | None:
    job = session.get(MailJob, job_id)
    return job if job is not None and job.study_id == study.id else None


def recent_jobs(session: Session, study: Study, limit: int = 10) -> list[MailJob]:
    return list(
        session.scalars(
            select(MailJob).where(MailJob.study_id == study.id).order_by(MailJob.id.desc()).limit(limit)
        )
    )


def counts(session: Session, job: MailJob) -> dict[str, int]:
    """How many of the job's messages are in each state (every state named, zeros included)."""
    found = dict(
        session.execute(
            select(MailJobItem.state, func.count())
            .where(MailJobItem.job_id == job.id)
            .group_by(MailJobItem.state)
        ).all()
    )
    return {state.value: int(found.get(state, 0)) for state in MailItemState}


def can_resume(tally: Mapping[str, int]) -> bool:
    """Whether running the job again would send anything (messages left, or failed ones to try again), from
    its :func:`counts`."""
    return any(tally[state] for state in TO_SEND)


def is_running(job: MailJob) -> bool:
    """Whether a runner holds the job's lease now."""
    return job.lease_until is not None and _aware(job.lease_until) > utcnow()


def items(
    session: Session, job: MailJob, states: Sequence[str] | None = None, limit: int | None = None
) -> list[MailJobItem]:
    """The job's messages in order (those in ``states``, the first ``limit`` of them), with their experts."""
    query = (
        select(MailJobItem)
        .where(MailJobItem.job_id == job.id)
        .options(selectinload(MailJobItem.roster_entry), selectinload(MailJobItem.invitation))
        .order_by(MailJobItem.position)
    )
    if states is not None:
        query = query.where(MailJobItem.state.in_(states))
    return list(session.scalars(query.limit(limit)))


def record_csv(session: Session, job: MailJob) -> str:
    """Who was sent a link and who was not: one row per message (never a link)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RECORD_COLUMNS)
    for item in items(session, job):
        entry = item.roster_entry
        writer.writerow(
            [
                item.position,
                csv_safe(entry.name) if entry else "",
                csv_safe(entry.email) if entry else "",
                entry.cohort.code if entry else "",
                item.invitation_id or "",
                item.state,
                item.attempts,
                item.sent_at.isoformat() if item.sent_at else "",
                csv_safe(item.error or ""),
            ]
        )
    return out.getvalue()


# ------------------------------------------------------------------------------------------------------ leasing
def _aware(moment: Any) -> Any:
    """SQLite hands back naive datetimes for timezone-aware columns; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def claim(session: Session, job: MailJob, owner: str) -> bool:
    """Take the job's lease for ``owner`` (committed), unless another runner holds it."""
    now = utcnow()
    taken = session.execute(  # type: ignore[attr-defined]  # a CursorResult: UPDATE has a rowcount
        update(MailJob)
        .where(MailJob.id == job.id, or_(MailJob.lease_until.is_(None), MailJob.lease_until < now))
        .values(lease_owner=owner, lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    session.refresh(job)
    return bool(taken)


def _renew(session: Session, job: MailJob, owner: str) -> bool:
    """Extend the lease (in the caller's transaction); False when another runner has taken it over."""
    renewed = session.execute(  # type: ignore[attr-defined]  # a CursorResult: UPDATE has a rowcount
        update(MailJob)
        .where(MailJob.id == job.id, MailJob.lease_owner == owner)
        .values(lease_until=utcnow() + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(renewed)


def release(session: Session, job: MailJob, owner: str) -> None:
    session.execute(
        update(MailJob)
        .where(MailJob.id == job.id, MailJob.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(job)


# -------------------------------------------------------------------------------------------------------- links
def _link_for(session: Session, study: Study, job: MailJob, item: MailJobItem) -> IssuedLink | str:
    """A link to send for ``item`` (its hash stored, not yet committed), or why there is nothing to send.

    A link that never reached anyone (an invitation made for this job, or one this job made and failed to send)
    gets a new token; one that may have reached its expert (a reminder's old link, or a message cut short) is
    reissued, so the old link says it was replaced rather than vanishing.
    """
    invitation = item.invitation
    if invitation is None or item.roster_entry is None:
        return "its invitation or roster entry was deleted"
    if invitation.status == InvitationStatus.REVOKED:
        return "its invitation was revoked before the message went"
    if invitation.status in service.FINISHED:
        return f"the expert had {service.status_labels(study)[invitation.status]} before the message went"
    never_delivered = item.state in (MailItemState.PENDING, MailItemState.FAILED) and (
        job.kind == MailKind.INVITE or item.attempts > 0
    )
    if never_delivered:
        token = new_token()
        invitation.token_hash = token_hash(token)
        return IssuedLink(invitation, token, invitation.roster_entry)
    link = service.reissue(session, study, invitation)
    item.invitation_id = link.invitation.id
    item.invitation = link.invitation
    return link


def study_languages(study: Study) -> tuple[str, ...]:
    """The languages of the instrument the study runs now (its open round's, else its last round's)."""
    rnd = current_round(study) or (study.rounds[-1] if study.rounds else None)
    return definition_of(rnd.instrument_version).languages if rnd is not None else ("en",)


def letter_language(session: Session, study: Study, link: IssuedLink, languages: tuple[str, ...]) -> str:
    """The language of an expert's e-mail: the roster's, else (pseudonymous studies) the one the expert answered
    in, else the instrument's first. An anonymous study never looks at a response here: none is linked."""
    entry = link.roster_entry
    answered = None
    if study.anonymity == Anonymity.PSEUDONYMOUS:
        answered = session.scalar(
            select(Response.language)
            .join(Round, Round.id == Response.round_id)
            .where(Response.invitation_id == link.invitation.id)
            .order_by(Round.number.desc())
            .limit(1)
        )
    return letters.language_for(languages, entry.language if entry else None, answered)


@dataclass(frozen=True)
class Stationery:
    """What every message of a run shares, read once: the instrument's languages, the team, the wording."""

    languages: tuple[str, ...]
    team: letters.Team
    wordings: Mapping[str, letters.Wording]  # by language

    @classmethod
    def of(cls, study: Study, kind: MailKind) -> Stationery:
        languages = study_languages(study)
        wordings = {language: letters.wording_for(study, kind, language) for language in languages}
        return cls(languages, letters.Team.of(study), wordings)


def _letter(
    session: Session, study: Study, job: MailJob, link: IssuedLink, base_url: str, stationery: Stationery
) -> mail.Letter:
    entry = link.roster_entry
    assert entry is not None  # nosec B101  # narrows the type: _link_for returns links of roster entries only; not a security check
    language = letter_language(session, study, link, stationery.languages)
    return mail.Letter(
        entry.name,
        entry.email,
        study.title,
        link_url(base_url, link.token),
        study.closes_on,
        job.kind == MailKind.REMIND,
        anonymous=study.anonymity == Anonymity.ANONYMOUS,
        language=language,
        team=stationery.team,
        wording=stationery.wordings[language],
    )


# ------------------------------------------------------------------------------------------------------ running
def run(
    session: Session,
    study: Study,
    job: MailJob,
    config: Mapping[str, Any],
    instance_path: str,
    *,
    budget: float | None = None,
    progress: Callable[[RunResult], None] | None = None,
) -> RunResult:
    """Send the job's messages that are left (and try the failed ones again), committing after each step.

    ``budget`` (seconds) stops starting new messages after that long, so a web request ends well within the
    worker's timeout; what is left stays ``pending`` for the next run. Returns what this run did.
    """
    result = RunResult()
    owner = secrets.token_hex(8)
    if not claim(session, job, owner):
        result.busy = True
        return result
    started = time.monotonic()
    job.status = MailJobStatus.SENDING
    job.error = None
    session.commit()
    base_url = str(config.get("BASE_URL") or "")
    sender = mail.sender(config)
    stationery = Stationery.of(study, job.kind)
    refused_in_a_row = 0
    try:
        with mail.transport(config, instance_path, study.slug) as postman:
            cursor = 0
            while result.stopped is None:
                chunk = list(
                    session.scalars(
                        select(MailJobItem)
                        .where(
                            MailJobItem.job_id == job.id,
                            MailJobItem.position > cursor,
                            MailJobItem.state.in_(TO_SEND),
                        )
                        .options(selectinload(MailJobItem.roster_entry), selectinload(MailJobItem.invitation))
                        .order_by(MailJobItem.position)
                        .limit(CHUNK)
                    )
                )
                if not chunk:
                    break
                for item in chunk:
                    tried = result.sent + result.failed + result.skipped
                    # Every run tries at least one message, however slow the start was, so a batch always moves.
                    if budget is not None and tried and time.monotonic() - started >= budget:
                        result.stopped = ""  # out of time, not a failure: the next run goes on
                        break
                    cursor = item.position
                    outcome = _send_one(
                        session, study, job, item, postman, sender, base_url, owner, stationery
                    )
                    if outcome == "busy":
                        result.busy = True
                        result.stopped = ""
                        break
                    if outcome == "sent":
                        result.sent += 1
                        refused_in_a_row = 0
                    elif outcome == "skipped":
                        result.skipped += 1
                    else:
                        result.failed += 1
                        refused_in_a_row += 1
                        if refused_in_a_row >= REFUSED_IN_A_ROW:
                            result.stopped = (
                                f"{REFUSED_IN_A_ROW} messages in a row were refused (the last: {item.error}); "
                                "check the mail server's settings, then resume"
                            )
                    if progress is not None:
                        progress(result)
    except mail.MailError as exc:
        result.stopped = str(exc)
    finally:
        session.rollback()  # anything half done in the failing step (its link is not sent, so not kept)
        _finish_run(session, job, owner, result)
    result.stopped = result.stopped or None
    return result


def _send_one(
    session: Session,
    study: Study,
    job: MailJob,
    item: MailJobItem,
    postman: mail.Transport,
    sender: str,
    base_url: str,
    owner: str,
    stationery: Stationery,
) -> str:
    """Store one link, send its message, record the outcome: "sent", "failed", "skipped" or "busy"."""
    if not _renew(session, job, owner):
        session.rollback()
        return "busy"
    link = _link_for(session, study, job, item)
    if isinstance(link, str):
        item.state = MailItemState.SKIPPED
        item.error = link
        session.commit()
        return "skipped"
    item.state = MailItemState.SENDING
    item.attempts += 1
    item.error = None
    session.commit()  # the link exists before anyone can receive it
    try:
        postman.send(mail.compose(_letter(session, study, job, link, base_url, stationery), sender))
    except mail.Refused as exc:
        item.state = MailItemState.FAILED
        item.error = str(exc)
        session.commit()
        return "failed"
    except mail.MailError as exc:
        item.state = MailItemState.FAILED
        item.error = str(exc)
        session.commit()
        raise
    now = utcnow()
    item.state = MailItemState.SENT
    item.sent_at = now
    link.invitation.sent_at = now
    if job.kind == MailKind.REMIND:
        link.invitation.reminded_at = now
    session.commit()
    return "sent"


def _finish_run(session: Session, job: MailJob, owner: str, result: RunResult) -> None:
    """Record where the job stands after a run, and let go of its lease."""
    if result.busy and result.sent == result.failed == result.skipped == 0:
        return
    left = session.scalar(
        select(func.count())
        .select_from(MailJobItem)
        .where(
            MailJobItem.job_id == job.id,
            MailJobItem.state.in_((MailItemState.PENDING, MailItemState.SENDING)),
        )
    )
    if result.stopped:
        job.status = MailJobStatus.STOPPED
        job.error = result.stopped
    elif left:
        job.status = MailJobStatus.SENDING
    else:
        job.status = MailJobStatus.DONE
        job.finished_at = utcnow()
    session.commit()
    release(session, job, owner)


def hand_over(session: Session, study: Study, job: MailJob) -> list[IssuedLink] | None:
    """Links for every message not sent, to hand over another way (the links page shows them once); the items
    are marked as handed over. None when a runner is sending the job just now."""
    owner = secrets.token_hex(8)
    if not claim(session, job, owner):
        return None
    links: list[IssuedLink] = []
    try:
        for item in items(session, job, TO_SEND):
            link = _link_for(session, study, job, item)
            item.state = MailItemState.SKIPPED
            if isinstance(link, str):
                item.error = link
                continue
            item.error = "handed over as a link instead of by e-mail"
            links.append(link)
        job.status = MailJobStatus.DONE
        job.error = None
        job.finished_at = utcnow()
        session.flush()
    except BaseException:
        session.rollback()
        release(session, job, owner)
        raise
    job.lease_owner = None
    job.lease_until = None
    return links
