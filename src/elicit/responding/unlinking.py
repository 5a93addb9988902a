"""Anonymous studies keep no link between an invitation and its response, in any row, row version or log.

The threat model (README, "Privacy"): whoever can read the database (SQL, raw files, WAL, replicas, backups), the
exports or the server logs must not be able to say which invitation, and so which roster entry, gave which
response. Whoever holds the server's secret key or changes the running code can; that is stated, not hidden.

How it holds:

- A response is found from the expert's token, never by a stored foreign key: the token leads to the invitation
  (by its SHA-256), the invitation's random ``response_seed`` and the round lead to ``response_key``, an HMAC under
  a key derived from the server's secret. The database holds the seed and the HMAC, but without the secret
  nothing joins them, and a reissued link keeps the seed, so saved answers follow the expert.
- No expert request writes, or row-locks, an invitation (a PostgreSQL row lock writes the locker's transaction
  id into the row, which ``xmax`` would show). The expert's own response row is what is locked.
- The studio still learns who has finished (for reminders), but only in groups: each finish leaves a
  ``FinishMark`` (another HMAC, readable only with the key); when a cohort has at least k marks, one transaction,
  run from the studio and never from an expert's request, sets all those invitations to ``finished``. Each of
  them then hides among at least k responses; the marks' own transaction ids say no more than that.
- Times of anonymous responses are dates from the start (``coarse_now``), their ids are random and their answers
  are keyed by (response, item, part), so neither timestamps nor insertion order tie a response to a moment
  that an invitation, an e-mail or a log line could reveal.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from elicit.models import Anonymity, FinishMark, Invitation, InvitationStatus, Study

_DOMAIN = b"elicit/anonymous-responses/v1"

# Statuses an anonymous invitation can have once finished; SUBMITTED and DECLINED are kept for links finished
# before this design (migration 0004 leaves them as they were: they never named a response).
FINISHED_STATUSES = frozenset(
    {InvitationStatus.FINISHED, InvitationStatus.SUBMITTED, InvitationStatus.DECLINED}
)


def _key(secret: str) -> bytes:
    """The key for anonymous lookups, derived from the server's secret under a domain of its own."""
    return hmac.new(secret.encode("utf-8"), _DOMAIN, hashlib.sha256).digest()


def response_key(secret: str, round_id: int, seed: str) -> str:
    """The stored key an anonymous response is found by: HMAC(key, round, seed)."""
    return hmac.new(_key(secret), f"response:{round_id}:{seed}".encode(), hashlib.sha256).hexdigest()


def finish_mark(secret: str, round_id: int, seed: str) -> str:
    """The mark an anonymous finish leaves for the studio: another HMAC, unrelated to ``response_key``."""
    return hmac.new(_key(secret), f"finished:{round_id}:{seed}".encode(), hashlib.sha256).hexdigest()


def coarse_now() -> datetime:
    """Midnight UTC of today: the only time an anonymous response ever stores."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def record_finished(session: Session, secret: str, invitation: Invitation, round_id: int) -> None:
    """Leave the mark of an anonymous finish (answered or declined); the invitation itself is not touched."""
    session.add(
        FinishMark(
            mark=finish_mark(secret, round_id, invitation.response_seed),
            study_id=invitation.study_id,
            cohort_id=invitation.cohort_id,
            round_id=round_id,
        )
    )


def confirm_finished(session: Session, secret: str, study: Study) -> int:
    """Set invitations to ``finished`` for every cohort and round with at least k waiting marks.

    Returns how many invitations were confirmed. All invitations of one group change in one statement, in id
    order, and their marks go with them; a group smaller than k waits (it is never released, not even at the
    close of the study, since a smaller group would name its members' responses).
    """
    if study.anonymity != Anonymity.ANONYMOUS:
        return 0
    marks = session.execute(
        select(FinishMark.mark, FinishMark.cohort_id, FinishMark.round_id)
        .where(FinishMark.study_id == study.id)
        .order_by(FinishMark.mark)
        .with_for_update()
    ).all()
    groups: dict[tuple[int, int], set[str]] = {}
    for mark, cohort_id, round_id in marks:
        groups.setdefault((cohort_id, round_id), set()).add(mark)
    k = max(1, study.k_threshold)
    confirmed = 0
    for (cohort_id, round_id), waiting in sorted(groups.items()):
        if len(waiting) < k:
            continue
        live: list[int] = []
        used: set[str] = set()
        rows = session.execute(
            select(Invitation.id, Invitation.response_seed, Invitation.status).where(
                Invitation.study_id == study.id, Invitation.cohort_id == cohort_id
            )
        )
        for invitation_id, seed, status in rows:
            mark = finish_mark(secret, round_id, seed)
            if mark not in waiting:
                continue
            used.add(mark)
            if status != InvitationStatus.REVOKED and status not in FINISHED_STATUSES:
                live.append(invitation_id)
        if len(live) < k:
            continue  # some finished experts' links were revoked since: wait until k live ones remain
        session.execute(
            update(Invitation)
            .where(Invitation.id.in_(sorted(live)))
            .values(status=InvitationStatus.FINISHED)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(FinishMark).where(FinishMark.mark.in_(sorted(used))))
        confirmed += len(live)
    if confirmed:
        session.expire_all()
    session.flush()
    return confirmed
