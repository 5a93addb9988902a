"""Invitations as researchers handle them: issue, revoke, reissue, e-mail and remind.

Tokens are never stored (only their SHA-256), so a link exists in clear only in the response that made it: the
one-time links page, its CSV, or the e-mail sent in the same request. Hence a reminder cannot resend the old link:
it *reissues* — revokes the old invitation, makes a new one for the same roster entry and e-mails that. An
expert who had started keeps their saved answers: the in-progress response moves to the new invitation.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, selectinload

from elicit.models import (
    Cohort,
    Invitation,
    InvitationStatus,
    Response,
    ResponseStatus,
    RosterEntry,
    Study,
    utcnow,
)
from elicit.studies import IssuedLink, StudyError, link_url, links_csv
from elicit.studio import mail
from elicit.tokens import new_token, pseudonym, token_hash

OPEN_STATUSES = (InvitationStatus.NOT_OPENED.value, InvitationStatus.IN_PROGRESS.value)
STATUS_LABELS = {
    InvitationStatus.NOT_OPENED.value: "not opened",
    InvitationStatus.IN_PROGRESS.value: "in progress",
    InvitationStatus.SUBMITTED.value: "submitted",
    InvitationStatus.DECLINED.value: "declined",
    InvitationStatus.REVOKED.value: "revoked",
}


@dataclass
class SendReport:
    """What happened when links were e-mailed."""

    sent: int = 0
    skipped: int = 0  # links without a roster entry (no address to send to)
    failed: list[str] = field(default_factory=list)
    error: str | None = None
    outbox: str | None = None  # the folder, when messages went to the outbox instead of SMTP


def find_invitation(session: Session, study: Study, invitation_id: int) -> Invitation | None:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.study_id != study.id:
        return None
    return invitation


def revoke(invitation: Invitation) -> None:
    """Make a link unusable. A submitted or declined invitation is finished and stays as it is."""
    if invitation.status == InvitationStatus.REVOKED.value:
        raise StudyError("this invitation is revoked already")
    if invitation.status in {InvitationStatus.SUBMITTED.value, InvitationStatus.DECLINED.value}:
        raise StudyError(
            f"this invitation is {STATUS_LABELS[invitation.status]}; there is nothing left to revoke"
        )
    invitation.status = InvitationStatus.REVOKED.value
    invitation.revoked_at = utcnow()


def reissue(session: Session, study: Study, invitation: Invitation) -> IssuedLink:
    """Revoke ``invitation`` and make a new one for the same expert (cohort, roster entry, pseudonym).

    A revoked invitation may be reissued only when its roster entry has no live invitation left (otherwise the
    expert would end up with two links). Saved answers follow the expert to the new link.
    """
    previous_status = invitation.status
    if previous_status == InvitationStatus.REVOKED.value:
        if invitation.roster_entry_id is None:
            raise StudyError(
                "this link is revoked and belongs to no roster entry; generate new links instead"
            )
        live = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(
                Invitation.roster_entry_id == invitation.roster_entry_id,
                Invitation.status != InvitationStatus.REVOKED.value,
            )
        )
        if live:
            raise StudyError("this expert has a newer invitation; reissue that one instead")
    else:
        revoke(invitation)
    token = new_token()
    fresh = Invitation(
        study_id=study.id,
        cohort_id=invitation.cohort_id,
        roster_entry_id=invitation.roster_entry_id,
        token_hash=token_hash(token),
        pseudonym=invitation.pseudonym,
    )
    if study.anonymity == "pseudonymous" and fresh.pseudonym is None:
        fresh.pseudonym = pseudonym(study.pseudonym_key, secrets.token_hex(16))
    session.add(fresh)
    session.flush()
    moved = session.execute(  # type: ignore[attr-defined]  # a CursorResult: UPDATE has a rowcount
        update(Response)
        .where(Response.invitation_id == invitation.id, Response.status == ResponseStatus.IN_PROGRESS.value)
        .values(invitation_id=fresh.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    opened = moved or previous_status == InvitationStatus.IN_PROGRESS.value
    fresh.status = InvitationStatus.IN_PROGRESS.value if opened else InvitationStatus.NOT_OPENED.value
    session.flush()
    return IssuedLink(fresh, token, fresh.roster_entry)


def reminder_targets(
    session: Session, study: Study, cohort: Cohort | None, in_progress: bool
) -> list[Invitation]:
    """Live roster invitations that have not been answered: not opened (and in progress, if asked)."""
    statuses = OPEN_STATUSES if in_progress else (InvitationStatus.NOT_OPENED.value,)
    query = (
        select(Invitation)
        .where(
            Invitation.study_id == study.id,
            Invitation.roster_entry_id.is_not(None),
            Invitation.status.in_(statuses),
        )
        .order_by(Invitation.id)
    )
    if cohort is not None:
        query = query.where(Invitation.cohort_id == cohort.id)
    return list(session.scalars(query))


def send_links(
    config: Mapping[str, Any],
    instance_path: str,
    study: Study,
    links: Sequence[IssuedLink],
    *,
    reminder: bool = False,
) -> SendReport:
    """E-mail each link that has a roster entry; record when it went. A failure stops the batch and is reported
    (the invitations stay; the unsent ones show "not e-mailed" and can be reissued and sent later)."""
    report = SendReport()
    if not config.get("SMTP_URL"):
        report.outbox = str(mail.outbox_folder(config, instance_path, study.slug))
    base_url = str(config.get("BASE_URL") or "")
    sender = mail.sender(config)
    with_address = [link for link in links if link.roster_entry is not None]
    report.skipped = len(links) - len(with_address)
    if not with_address:
        return report
    try:
        with mail.transport(config, instance_path, study.slug) as postman:
            for link in with_address:
                entry = link.roster_entry
                assert entry is not None  # nosec B101  # narrows the type: with_address holds only roster links; not a security check
                letter = mail.Letter(
                    entry.name,
                    entry.email,
                    study.title,
                    link_url(base_url, link.token),
                    study.closes_on,
                    reminder,
                )
                postman.send(mail.compose(letter, sender))
                now = utcnow()
                link.invitation.sent_at = now
                if reminder:
                    link.invitation.reminded_at = now
                report.sent += 1
    except mail.MailError as exc:
        report.error = str(exc)
        report.failed = [link.roster_entry.email for link in with_address[report.sent :] if link.roster_entry]
    return report


def links_data_url(base_url: str, study: Study, links: Sequence[IssuedLink]) -> str:
    """The links file as a ``data:`` URL, so the one-time page can offer it for download without storing it."""
    content = links_csv(base_url, study, links).encode("utf-8")
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(b"\xef\xbb\xbf" + content).decode("ascii")


def invitation_query(study: Study, cohort_id: int | None, status: str | None) -> Select[Invitation]:
    query = (
        select(Invitation)
        .where(Invitation.study_id == study.id)
        .options(selectinload(Invitation.roster_entry), selectinload(Invitation.cohort))
        .order_by(Invitation.id.desc())
    )
    if cohort_id is not None:
        query = query.where(Invitation.cohort_id == cohort_id)
    if status:
        query = query.where(Invitation.status == status)
    return query


def roster_query(study: Study) -> Select[RosterEntry]:
    return (
        select(RosterEntry)
        .where(RosterEntry.study_id == study.id)
        .options(selectinload(RosterEntry.cohort), selectinload(RosterEntry.invitations))
        .order_by(RosterEntry.id)
    )


def current_invitation(entry: RosterEntry) -> Invitation | None:
    """The roster entry's live invitation, else its newest one."""
    live = [i for i in entry.invitations if i.status != InvitationStatus.REVOKED.value]
    pool = live or list(entry.invitations)
    return max(pool, key=lambda i: i.id) if pool else None
