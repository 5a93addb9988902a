"""Study status for the API: invitation counts by cohort and status, with small counts suppressed.

In anonymous studies a count from 1 to k-1 is reported as ``null`` (and the cohort flagged), so a small group
of experts cannot be singled out from the status. When only one count of a cohort would be hidden, the next
smallest non-zero count is hidden too (secondary suppression): otherwise the hidden one could be worked out from
the number of invitations the researcher knows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicit.models import Cohort, Invitation, InvitationStatus, Response, ResponseStatus, Round, Study

STATUSES = tuple(s.value for s in InvitationStatus)


def suppress_small(counts: dict[str, int], k: int) -> tuple[dict[str, int | None], bool]:
    """Counts with those from 1 to k-1 replaced by None (plus one more when a single one would be hidden)."""
    hidden = {name for name, n in counts.items() if 0 < n < k}
    if len(hidden) == 1:
        others = sorted((n, name) for name, n in counts.items() if n > 0 and name not in hidden)
        if others:
            hidden.add(others[0][1])
    return {name: (None if name in hidden else n) for name, n in counts.items()}, bool(hidden)


def study_summary(study: Study) -> dict[str, Any]:
    return {
        "slug": study.slug,
        "title": study.title,
        "anonymity": study.anonymity,
        "status": study.status,
        "cohorts": [{"code": c.code, "label": c.label} for c in study.cohorts],
    }


def study_status(session: Session, study: Study) -> dict[str, Any]:
    """Rounds, and invitation and response counts by cohort (small counts suppressed in anonymous studies)."""
    k = study.k_threshold
    anonymous = study.anonymity == "anonymous"
    invitations: dict[int, dict[str, int]] = {c.id: dict.fromkeys(STATUSES, 0) for c in study.cohorts}
    for cohort_id, status, n in session.execute(
        select(Invitation.cohort_id, Invitation.status, func.count())
        .where(Invitation.study_id == study.id)
        .group_by(Invitation.cohort_id, Invitation.status)
    ):
        invitations.setdefault(cohort_id, dict.fromkeys(STATUSES, 0))[status] = n
    submitted: dict[int, int] = dict(
        session.execute(
            select(Response.cohort_id, func.count())
            .where(Response.study_id == study.id, Response.status == ResponseStatus.SUBMITTED.value)
            .group_by(Response.cohort_id)
        ).all()
    )
    cohorts = []
    any_suppressed = False
    for cohort in session.scalars(select(Cohort).where(Cohort.study_id == study.id).order_by(Cohort.id)):
        counts: dict[str, int | None] = dict(invitations.get(cohort.id, {}))
        responses: int | None = submitted.get(cohort.id, 0)
        suppressed = False
        if anonymous:
            counts, suppressed = suppress_small(invitations.get(cohort.id, {}), k)
            if responses is not None and 0 < responses < k:
                responses, suppressed = None, True
        any_suppressed = any_suppressed or suppressed
        cohorts.append(
            {
                "code": cohort.code,
                "label": cohort.label,
                "invitations": counts,
                "submitted_responses": responses,
                "suppressed": suppressed,
            }
        )
    rounds = [
        {"number": r.number, "version": r.instrument_version.ref, "status": r.status}
        for r in session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    ]
    return {
        **study_summary(study),
        "k": k,
        "small_counts_suppressed": any_suppressed,
        "rounds": rounds,
        "cohorts": cohorts,
    }
