"""Invitations as researchers handle them: issue, revoke, reissue and remind (e-mail: :mod:`.mailjobs`).

Tokens are never stored with their invitations (only their SHA-256), so a link exists in clear only in the response
that made it (the one-time links page and its CSV) or in the e-mail that carried it. A reload of that page is
recognised by its ``LinkSubmission`` and makes nothing new (see :func:`claim_submission`). Hence a reminder cannot
resend the old link: it *reissues*, revoking the old invitation and making a new one for the same roster entry. An
expert who had started keeps their saved answers: in pseudonymous studies the in-progress response moves to the
new invitation; in anonymous studies the new invitation keeps the old one's response seed, so the response is
found as before and never written to here.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from elicit.csvsafe import csv_safe
from elicit.models import (
    Anonymity,
    Cohort,
    Invitation,
    InvitationStatus,
    LinkSubmission,
    Response,
    ResponseStatus,
    RosterEntry,
    Study,
    utcnow,
)
from elicit.studies import IssuedLink, StudyError, link_url
from elicit.studio.held import HELD_FOR
from elicit.tokens import new_token, pseudonym, token_hash

# The record of a submission that made links (never the links) is kept this long, so that the same form posted
# again is recognised and makes nothing new.
SUBMISSION_KEPT_FOR = timedelta(hours=12)
LINK_COLUMNS = ("study", "cohort", "invitation", "name", "email", "organisation", "url")
OPEN_STATUSES = (InvitationStatus.NOT_OPENED, InvitationStatus.IN_PROGRESS)
STATUS_LABELS = {
    InvitationStatus.NOT_OPENED: "not opened",
    InvitationStatus.IN_PROGRESS: "in progress",
    InvitationStatus.SUBMITTED: "submitted",
    InvitationStatus.DECLINED: "declined",
    InvitationStatus.REVOKED: "revoked",
    InvitationStatus.FINISHED: "finished (confirmed)",
}
ANONYMOUS_LABELS = {
    InvitationStatus.NOT_OPENED: "not confirmed",
    InvitationStatus.FINISHED: "finished",
    InvitationStatus.SUBMITTED: "submitted",
    InvitationStatus.DECLINED: "declined",
    InvitationStatus.REVOKED: "revoked",
}
FINISHED = (
    InvitationStatus.SUBMITTED,
    InvitationStatus.DECLINED,
    InvitationStatus.FINISHED,
)


def status_labels(study: Study) -> dict[str, str]:
    """The statuses an invitation of this study can have, as the studio names them.

    An anonymous study's invitations never say "opened" or "in progress": they say "finished" once the expert
    finished, confirmed together with at least k others, so a status never points at one response.
    """
    labels = ANONYMOUS_LABELS if study.anonymity == Anonymity.ANONYMOUS else STATUS_LABELS
    return {status.value: label for status, label in labels.items()}


def find_invitation(session: Session, study: Study, invitation_id: int) -> Invitation | None:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.study_id != study.id:
        return None
    return invitation


def revoke(invitation: Invitation) -> None:
    """Make a link unusable. A submitted or declined invitation is finished and stays as it is."""
    if invitation.status == InvitationStatus.REVOKED:
        raise StudyError("this invitation is revoked already")
    if invitation.status in FINISHED:
        raise StudyError(
            f"this invitation is {STATUS_LABELS[invitation.status]}; there is nothing left to revoke"
        )
    invitation.status = InvitationStatus.REVOKED
    invitation.revoked_at = utcnow()


def reissue(session: Session, study: Study, invitation: Invitation) -> IssuedLink:
    """Revoke ``invitation`` and make a new one for the same expert (cohort, roster entry, pseudonym).

    A revoked invitation may be reissued only when its roster entry has no live invitation left (otherwise the
    expert would end up with two links). Saved answers follow the expert to the new link.
    """
    previous_status = invitation.status
    if previous_status == InvitationStatus.REVOKED:
        if invitation.roster_entry_id is None:
            raise StudyError(
                "this link is revoked and belongs to no roster entry; generate new links instead"
            )
        live = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(
                Invitation.roster_entry_id == invitation.roster_entry_id,
                Invitation.status != InvitationStatus.REVOKED,
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
        response_seed=invitation.response_seed,
    )
    if study.anonymity == Anonymity.PSEUDONYMOUS and fresh.pseudonym is None:
        fresh.pseudonym = pseudonym(study.pseudonym_key, secrets.token_hex(16))
    session.add(fresh)
    session.flush()
    if study.anonymity == Anonymity.ANONYMOUS:
        fresh.status = InvitationStatus.NOT_OPENED
        session.flush()
        return IssuedLink(fresh, token, fresh.roster_entry)
    moved = session.execute(  # type: ignore[attr-defined]  # a CursorResult: UPDATE has a rowcount
        update(Response)
        .where(Response.invitation_id == invitation.id, Response.status == ResponseStatus.IN_PROGRESS)
        .values(invitation_id=fresh.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    opened = moved or previous_status == InvitationStatus.IN_PROGRESS
    fresh.status = InvitationStatus.IN_PROGRESS if opened else InvitationStatus.NOT_OPENED
    session.flush()
    return IssuedLink(fresh, token, fresh.roster_entry)


def reminder_targets(
    session: Session, study: Study, cohort: Cohort | None, in_progress: bool
) -> list[Invitation]:
    """Live roster invitations that have not been answered: not opened (and in progress, if asked)."""
    statuses = OPEN_STATUSES if in_progress else (InvitationStatus.NOT_OPENED,)
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
    live = [i for i in entry.invitations if i.status != InvitationStatus.REVOKED]
    pool = live or list(entry.invitations)
    return max(pool, key=lambda i: i.id) if pool else None


# ----------------------------------------------------------------------------------------- links made once
def purge_pending(session: Session) -> None:
    """Wipe held links older than ``HELD_FOR``; forget submissions older than ``SUBMISSION_KEPT_FOR``."""
    session.execute(
        update(LinkSubmission)
        .where(LinkSubmission.held.is_not(None), LinkSubmission.created_at < utcnow() - HELD_FOR)
        .values(held=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(LinkSubmission)
        .where(LinkSubmission.created_at < utcnow() - SUBMISSION_KEPT_FOR)
        .execution_options(synchronize_session=False)
    )


def find_submission(session: Session, study: Study, nonce: str) -> LinkSubmission | None:
    """The record of one submission of a form (named by its nonce), if it was posted before."""
    purge_pending(session)
    return session.scalar(
        select(LinkSubmission).where(LinkSubmission.study_id == study.id, LinkSubmission.nonce == nonce)
    )


def claim_submission(session: Session, study: Study, user_id: int, nonce: str) -> LinkSubmission | None:
    """Record that this submission makes links, or None when it made them already (also when the same form is
    posted twice at once: the unique (study, nonce) lets one of them through)."""
    if find_submission(session, study, nonce) is not None:
        return None
    row = LinkSubmission(study_id=study.id, user_id=user_id, nonce=nonce, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def summarise(
    row: LinkSubmission,
    what: str,
    links: Sequence[IssuedLink],
    *,
    job: int | None = None,
    count: int | None = None,
) -> None:
    """Keep, on the submission, what it made in counts only (and the e-mail batch that sends them, if any), so
    the same form posted again is answered without making anything."""
    row.summary_json = json.dumps(
        {
            "what": what,
            "count": len(links) if count is None else count,
            "by_cohort": sorted(Counter(link.invitation.cohort.code for link in links).items()),
            "job": job,
        }
    )


def page_links(base_url: str, study: Study, links: Sequence[IssuedLink]) -> list[dict[str, Any]]:
    """The rows of the one-time links page; the links exist in this response alone."""
    return [
        {
            "study": study.slug,
            "cohort": link.invitation.cohort.code,
            "invitation": link.invitation.id,
            "name": link.roster_entry.name if link.roster_entry else "",
            "email": link.roster_entry.email if link.roster_entry else "",
            "organisation": link.roster_entry.organisation if link.roster_entry else "",
            "url": link_url(base_url, link.token),
        }
        for link in links
    ]


def pending_summary(row: LinkSubmission) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(row.summary_json or "{}")
    return summary


def pending_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The links file of held links (the columns of :func:`elicit.studies.links_csv`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LINK_COLUMNS)
    for link in rows:
        writer.writerow(
            [
                csv_safe(str(link[c])) if c in {"name", "email", "organisation"} else link[c]
                for c in LINK_COLUMNS
            ]
        )
    return out.getvalue()


def csv_data_url(content: str) -> str:
    """A links file as a ``data:`` URL, so the page can offer it for download without another request."""
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(
        b"\xef\xbb\xbf" + content.encode("utf-8")
    ).decode("ascii")
