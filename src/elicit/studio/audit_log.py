"""Reading the audit log: filtered pages for the studio and the whole log as CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from elicit.csvsafe import csv_safe
from elicit.models import AuditEvent, Study

PER_PAGE = 100


@dataclass(frozen=True)
class EventRow:
    id: int
    at: datetime
    actor: str
    action: str
    study: str
    target: str
    details: str


def _query(action: str | None, study: str | None) -> Select[AuditEvent, str]:
    query = select(AuditEvent, Study.slug).outerjoin(Study, Study.id == AuditEvent.study_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if study:
        query = query.where(Study.slug == study)
    return query


def _row(event: AuditEvent, slug: str | None) -> EventRow:
    try:
        details = json.loads(event.details_json or "{}")
        text = ", ".join(f"{key}: {value}" for key, value in sorted(details.items()))
    except ValueError:
        text = event.details_json
    return EventRow(event.id, event.at, event.actor, event.action, slug or "", event.target, text)


def page_of_events(
    session: Session, page: int, action: str | None = None, study: str | None = None
) -> tuple[list[EventRow], int]:
    """One page of events, newest first, and how many events match in all."""
    query = _query(action, study)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(AuditEvent.id.desc()).limit(PER_PAGE).offset(max(0, page - 1) * PER_PAGE)
    )
    return [_row(event, slug) for event, slug in rows], total


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def log_csv(session: Session) -> str:
    """The whole log, oldest first, with each event's hash chain fields (so a copy can be checked)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "at", "actor", "action", "study", "target", "details", "prev_hash", "hash"])
    rows = session.execute(_query(None, None).order_by(AuditEvent.id).execution_options(yield_per=1000))
    for event, slug in rows:
        at = event.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if event.at else ""
        writer.writerow(
            [
                event.id,
                at,
                csv_safe(event.actor),
                event.action,
                slug or "",
                csv_safe(event.target),
                csv_safe(event.details_json),
                event.prev_hash,
                event.hash,
            ]
        )
    return out.getvalue()
