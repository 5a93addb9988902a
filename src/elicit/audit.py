"""The audit log: who did what and when, as a hash chain so an edited, deleted or reordered event shows.

Each event's hash covers its own fields and the previous event's hash. Appends are serialized (an advisory
lock on PostgreSQL; SQLite transactions already take the write lock at BEGIN) and ``prev_hash`` is unique, so two
concurrent appends can never both claim the same predecessor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from elicit.models import AuditEvent, utcnow

GENESIS = "0" * 64
_LOCK_KEY = 0x0E11C17  # arbitrary, fixed: the advisory lock that serializes audit appends on PostgreSQL


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    study_id: int | None,
    target: str,
    details_json: str,
) -> str:
    """SHA-256 over the canonical JSON of an event's fields and its predecessor's hash."""
    body = json.dumps(
        [prev_hash, _timestamp(at), actor, action, study_id, target, details_json],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(
    session: Session,
    action: str,
    actor: str,
    *,
    study_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the chain in the caller's transaction (committed with the change it records)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = last or GENESIS
    at = utcnow().replace(microsecond=utcnow().microsecond // 1000 * 1000)
    details_json = json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        study_id=study_id,
        target=target,
        details_json=details_json,
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, at, actor, action, study_id, target, details_json),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    message: str


def verify(session: Session) -> tuple[int, ChainBreak | None]:
    """Walk the chain in id order; return how many events were checked and the first break, if any."""
    expected_prev = GENESIS
    count = 0
    for event in _events(session):
        count += 1
        if event.prev_hash != expected_prev:
            return count, ChainBreak(
                event.id,
                f"event {event.id} ({event.action}) does not follow the previous event: "
                "an event before it was deleted, inserted or reordered",
            )
        actual = event_hash(
            event.prev_hash,
            event.at,
            event.actor,
            event.action,
            event.study_id,
            event.target,
            event.details_json,
        )
        if actual != event.hash:
            return count, ChainBreak(
                event.id, f"event {event.id} ({event.action}) was edited after it was recorded"
            )
        expected_prev = event.hash
    return count, None


def _events(session: Session) -> Iterator[AuditEvent]:
    yield from session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000))
