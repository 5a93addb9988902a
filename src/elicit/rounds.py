"""Delphi rounds: open and close them, carry invitations over, and choose what is fed back."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from elicit.instruments.types import FEEDBACK_TYPES
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    InstrumentVersion,
    Invitation,
    InvitationStatus,
    Realization,
    Round,
    RoundStatus,
    Study,
    utcnow,
)
from elicit.studies import StudyError


def open_round(
    session: Session, study: Study, version: InstrumentVersion | None = None, feedback: Sequence[str] = ()
) -> Round:
    """Open round n+1 (after round n is closed), on the same or a revised version, with feedback items.

    Every invitation that was not revoked or declined starts the new round afresh with the same link.
    """
    rounds = list(study.rounds)
    if any(r.status == RoundStatus.OPEN for r in rounds):
        raise StudyError(
            f"round {max(r.number for r in rounds)} of {study.slug} is still open; close it first"
        )
    if rounds and study.anonymity != Anonymity.PSEUDONYMOUS:
        raise StudyError(
            f"{study.slug} is anonymous: Delphi rounds need a pseudonymous instrument "
            "(anonymity: pseudonymous), so experts can see their own earlier answers"
        )
    previous = rounds[-1] if rounds else None
    version = version or (previous.instrument_version if previous else None)
    if version is None:
        raise StudyError("the first round needs an instrument version")
    if previous is not None and version.instrument_id != previous.instrument_version.instrument_id:
        raise StudyError("a new round must use a version of the same instrument")
    definition = definition_of(version)
    known = {item.id: item for item in definition.items()}
    for item_id in feedback:
        item = known.get(item_id)
        if item is None:
            raise StudyError(f"feedback item {item_id!r} is not in {definition.ref}")
        if not item.kind.feedback:
            raise StudyError(
                f"feedback item {item_id!r} is a {item.type} item; feedback is given for "
                f"{', '.join(sorted(FEEDBACK_TYPES))} items"
            )
    if feedback and previous is None:
        raise StudyError("the first round has no earlier round to feed back")
    new = Round(
        number=(previous.number + 1) if previous else 1,
        instrument_version=version,
        status=RoundStatus.OPEN,
        opened_at=utcnow(),
        feedback_items=" ".join(dict.fromkeys(feedback)),
    )
    study.rounds.append(new)
    session.execute(
        update(Invitation)
        .where(
            Invitation.study_id == study.id,
            Invitation.status.not_in([InvitationStatus.REVOKED, InvitationStatus.DECLINED]),
        )
        .values(status=InvitationStatus.NOT_OPENED)
    )
    session.flush()
    return new


def close_round(session: Session, study: Study) -> Round:
    """Close the open round: its links show "closed" until the next round opens."""
    current = session.scalar(
        select(Round).where(Round.study_id == study.id, Round.status == RoundStatus.OPEN)
    )
    if current is None:
        raise StudyError(f"{study.slug} has no open round")
    current.status = RoundStatus.CLOSED
    current.closed_at = utcnow()
    session.flush()
    return current


def previous_round(session: Session, current: Round) -> Round | None:
    return session.scalar(
        select(Round).where(Round.study_id == current.study_id, Round.number == current.number - 1)
    )


def set_realization(session: Session, study: Study, item_id: str, value: float, actor: str) -> Realization:
    """Store the true value of a seed item of the study's instrument (replacing an earlier entry)."""
    if not math.isfinite(value):
        raise StudyError("the realization must be a finite number")
    seeds = {}
    for rnd in study.rounds:
        for item in definition_of(rnd.instrument_version).items():
            if item.seed:
                seeds[item.id] = item
    if item_id not in seeds:
        known = ", ".join(sorted(seeds)) or "none"
        raise StudyError(f"{item_id!r} is not a seed question of {study.slug} (seed questions: {known})")
    if seeds[item_id].background == "loguniform" and value <= 0:
        raise StudyError(f"{item_id} has a log-uniform background, so its realization must be positive")
    existing = session.scalar(
        select(Realization).where(Realization.study_id == study.id, Realization.item_id == item_id)
    )
    if existing is None:
        existing = Realization(study_id=study.id, item_id=item_id, value=value, entered_by=actor)
        session.add(existing)
    else:
        existing.value, existing.entered_by, existing.entered_at = value, actor, utcnow()
    session.flush()
    return existing
