"""Study status for the API: the studio dashboard's figures, by cohort and in all, for the current round.

The counts are ``elicit.studio.dashboard.progress``, the very computation behind the study page and the studies
list, so the API, the page and the list show the same numbers and hide the same cells: a count hidden in one
place is never given back by another. Hidden counts are ``null``. In anonymous studies they are the counts of
responses from 1 to k-1 together with their complements (``elicit.suppression``: whatever would let them be
worked out from the totals); invitation counts are exact, as the invitations page lists every invitation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.models import Round, Study
from elicit.studio.dashboard import Funnel, progress


def study_summary(study: Study) -> dict[str, Any]:
    """The fields of a study in the list of studies."""
    return {
        "slug": study.slug,
        "title": study.title,
        "anonymity": study.anonymity,
        "status": study.status,
        "cohorts": [{"code": c.code, "label": c.label} for c in study.cohorts],
    }


def _counts(row: Funnel, anonymous: bool) -> dict[str, Any]:
    invitations: dict[str, int | None] = {"invited": row.invited.value, "revoked": row.revoked.value}
    if anonymous and row.finished is not None:
        invitations["finished"] = row.finished.value
    if not anonymous and row.opened is not None:
        invitations["opened"] = row.opened.value
    return {
        "invitations": invitations,
        "responses": {
            "in_progress": row.in_progress.public,
            "submitted": row.submitted.public,
            "declined": row.declined.public,
        },
        "suppressed": row.suppressed,
    }


def study_status(session: Session, study: Study) -> dict[str, Any]:
    """Rounds, and the current round's counts by cohort and in all (small groups hidden in anonymous studies)."""
    board = progress(session, study)
    anonymous = board.anonymous
    rounds = [
        {"number": r.number, "version": r.instrument_version.ref, "status": r.status}
        for r in session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    ]
    return {
        **study_summary(study),
        "k": board.k,
        "small_counts_suppressed": board.suppressed,
        "rounds": rounds,
        "round": board.round.number if board.round else None,
        "cohorts": [
            {"code": row.code, "label": row.label, **_counts(row, anonymous)} for row in board.cohorts
        ],
        "total": _counts(board.total, anonymous),
    }
