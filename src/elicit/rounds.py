"""Delphi rounds: open and close them, carry invitations over, and choose what is fed back.

Between two rounds a study may hold IDEA's discussion step (Hemming et al. 2018: Investigate, Discuss, Estimate,
Aggregate): the experts who submitted the closed round see the group's anonymised estimates and post and read
reasons (:mod:`elicit.responding.discussion`); opening the next round ends it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from elicit.instruments.types import FEEDBACK_TYPES
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    Discussion,
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
    if previous is not None:
        discussion = session.get(Discussion, previous.id)
        if discussion is not None and discussion.is_open:
            discussion.closed_at = utcnow()
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


def _items_to_discuss(rnd: Round, wanted: Sequence[str]) -> list[str]:
    """The ids discussed after ``rnd``: those asked for (each checked), else every item that can be fed back."""
    definition = definition_of(rnd.instrument_version)
    known = {item.id: item for item in definition.items()}
    if not wanted:
        chosen = [item.id for item in known.values() if item.kind.feedback]
        if not chosen:
            raise StudyError(f"{definition.ref} has no item whose group results can be discussed")
        return chosen
    for item_id in wanted:
        item = known.get(item_id)
        if item is None:
            raise StudyError(f"discussion item {item_id!r} is not in {definition.ref}")
        if not item.kind.feedback:
            raise StudyError(
                f"discussion item {item_id!r} is a {item.type} item; the group results of "
                f"{', '.join(sorted(FEEDBACK_TYPES))} items can be discussed"
            )
    return list(dict.fromkeys(wanted))


def open_discussion(session: Session, study: Study, items: Sequence[str] = ()) -> Discussion:
    """Open IDEA's discussion of the last round, which must be closed, on ``items`` (default: all that can be).

    The experts who submitted that round see the group's anonymised estimates and each other's reasons and can
    post more; the discussion stays open until :func:`close_discussion` or the next round opens.
    """
    rounds = list(study.rounds)
    if not rounds:
        raise StudyError(f"{study.slug} has no round to discuss")
    last = rounds[-1]
    if last.status != RoundStatus.CLOSED:
        raise StudyError(f"round {last.number} of {study.slug} is still open; close it before the discussion")
    if study.anonymity != Anonymity.PSEUDONYMOUS:
        raise StudyError(
            f"{study.slug} is anonymous: a discussion between rounds needs a pseudonymous instrument "
            "(anonymity: pseudonymous), so experts can see their own estimates among the group's"
        )
    chosen = _items_to_discuss(last, items)
    discussion = session.get(Discussion, last.id)
    if discussion is not None and discussion.is_open:
        raise StudyError(f"the discussion of round {last.number} of {study.slug} is already open")
    if discussion is None:
        discussion = Discussion(round_id=last.id, items=" ".join(chosen), opened_at=utcnow())
        session.add(discussion)
    else:  # reopened (perhaps on other items); the posts made so far stay
        discussion.items, discussion.opened_at, discussion.closed_at = " ".join(chosen), utcnow(), None
    session.flush()
    return discussion


def close_discussion(session: Session, study: Study) -> Discussion:
    """Close the open discussion: the experts' links show the thank-you page again until the next round."""
    discussion = open_discussion_of(session, study)
    if discussion is None:
        raise StudyError(f"{study.slug} has no open discussion")
    discussion.closed_at = utcnow()
    session.flush()
    return discussion


def open_discussion_of(session: Session, study: Study) -> Discussion | None:
    """The study's open discussion (of its last round), if there is one."""
    return session.scalar(
        select(Discussion)
        .join(Round, Round.id == Discussion.round_id)
        .where(Round.study_id == study.id, Discussion.closed_at.is_(None))
    )


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
