"""The audit log: who did what and when, as a keyed hash chain anchored outside the database.

Each event's hash is an HMAC-SHA256, under the audit key (``ELICIT_AUDIT_KEY`` or ``instance/audit_key``, never in
the database), of its own fields and the previous event's hash. Whoever can write to the database but does not
hold the key can therefore neither edit an event and re-hash the rest nor append a convincing one. What such a
writer can still do, delete the last events or all of them, is caught by the anchors (``elicit.audit_anchor``):
after each commit the head of the chain goes to an append-only file and, if asked, to syslog; every export
manifest and every backup carries it too.

Events recorded before the chain was keyed (migration 0011) stay plain SHA-256 with ``keyed`` false; they may
only come before the first keyed event, whose MAC covers their chain. An unkeyed event after a keyed one is
forged. Appends are serialized (an advisory lock on PostgreSQL; SQLite transactions already take the write lock
at BEGIN) and ``prev_hash`` is unique, so two concurrent appends can never both claim the same predecessor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Connection, false, func, inspect, select, text
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session, SessionTransaction

from elicit import audit_anchor
from elicit.audit_anchor import GENESIS, Anchor, Head
from elicit.errors import ElicitError
from elicit.models import AuditEvent, utcnow

log = logging.getLogger("elicit.audit")

_LOCK_KEY = 0x0E11C17  # arbitrary, fixed: the advisory lock that serializes audit appends on PostgreSQL
_PENDING = "elicit.audit.pending"  # in Session.info: the heads appended in the open transaction
_HOOKED = "elicit.audit.hooked"


class AuditKeyError(ElicitError):
    """The audit key cannot be read (an empty or unreadable key file): nothing can be recorded until it is fixed."""


# ------------------------------------------------------------------------------------------------- the hashes
def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _body(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    study_id: int | None,
    target: str,
    details_json: str,
) -> bytes:
    """The canonical JSON of an event's fields and its predecessor's hash."""
    return json.dumps(
        [prev_hash, _timestamp(at), actor, action, study_id, target, details_json],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def event_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    study_id: int | None,
    target: str,
    details_json: str,
) -> str:
    """SHA-256 of an event (the unkeyed hash of events recorded before 0011, ``keyed`` false)."""
    return hashlib.sha256(_body(prev_hash, at, actor, action, study_id, target, details_json)).hexdigest()


def event_mac(
    key: str,
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    study_id: int | None,
    target: str,
    details_json: str,
) -> str:
    """HMAC-SHA256 of an event under the audit key: the hash of every event since 0011."""
    body = _body(prev_hash, at, actor, action, study_id, target, details_json)
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------------------- the key
def current_key(*, create: bool = False) -> str | None:
    """The audit key of the current app: its AUDIT_KEY, else ELICIT_AUDIT_KEY or the instance folder's key file.

    ``create`` makes the key file when there is none (at the first audited change of a server that was not set up
    by ``elicit init``, and in a test app), so every process of one instance shares one key; ``verify`` never
    creates one, since a new key could only say that every event is forged.
    """
    from elicit import config

    app = current_app
    key: str | None = app.config.get("AUDIT_KEY")
    if key:
        return key
    try:
        key, created = config.audit_key(Path(app.instance_path), create=create)
    except config.BadSetting as exc:
        raise AuditKeyError(exc.format_message()) from None
    if created is not None:
        log.warning(
            "created the audit key %s: back it up apart from the database (a security officer may keep a copy); "
            "the audit log is checked with it",
            created,
        )
    if key:
        app.config["AUDIT_KEY"] = key
    return key


def missing_key() -> str:
    """Where the audit key was looked for, for messages."""
    from elicit import config

    path = Path(current_app.instance_path) / config.AUDIT_KEY_FILE_NAME
    return f"no audit key (ELICIT_AUDIT_KEY is not set and there is no {path})"


def manifest_head(conn: Connection) -> dict[str, Any]:
    """The head of the chain as read on ``conn`` (an export's snapshot), as every export manifest carries it."""
    key = current_key(create=True)
    if key is None:
        raise AuditKeyError(f"cannot sign the export's audit head: {missing_key()}")
    return audit_anchor.entry(key, audit_anchor.head(conn))


# ------------------------------------------------------------------------------------------------ appending
def record(
    session: Session,
    action: str,
    actor: str,
    *,
    study_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to the chain in the caller's transaction (committed with the change it records).

    Once that transaction commits, the new head goes to the anchors; a rolled-back event is never anchored.
    """
    key = current_key(create=True)
    if key is None:  # config.audit_key either finds or makes one
        raise AuditKeyError(f"cannot record {action}: {missing_key()}")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = last or GENESIS
    publishing = audit_anchor.enabled(current_app.config)
    # Under the lock, so the count is this event's number in the chain (ids may skip: sequences never roll back).
    number = (session.scalar(select(func.count()).select_from(AuditEvent)) or 0) + 1 if publishing else 0
    now = utcnow()
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    details_json = json.dumps(details or {}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        study_id=study_id,
        target=target,
        details_json=details_json,
        prev_hash=prev_hash,
        hash=event_mac(key, prev_hash, at, actor, action, study_id, target, details_json),
        keyed=True,
    )
    session.add(event)
    session.flush()
    if publishing:
        _hook(session)
        pending: dict[str, Any] = session.info.setdefault(_PENDING, {"events": []})
        settings = ("AUDIT_ANCHOR", "AUDIT_SYSLOG", "AUDIT_SYSLOG_ADDRESS")
        pending.update(config={name: current_app.config.get(name) for name in settings}, key=key)
        pending["events"].append((event, Head(number, event.hash)))
    return event


def _hook(session: Session) -> None:
    """Listen, once per session, for the end of its transactions."""
    if session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True
    orm_event.listen(session, "after_commit", _after_commit)
    orm_event.listen(session, "after_transaction_end", _after_transaction_end)


def _after_commit(session: Session) -> None:
    """Publish the head the committed transaction left (a released savepoint is not a commit)."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    for event, found in reversed(pending["events"]):
        if inspect(event).persistent:  # not taken back by a savepoint rolled back in between
            audit_anchor.publish(pending["config"], pending["key"], found)
            return


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: rolled back if not already published
        session.info.pop(_PENDING, None)


# ------------------------------------------------------------------------------------------------- checking
@dataclass
class Verification:
    """What ``verify`` found: the events walked, the anchors compared, and what is wrong (problems) or unsure."""

    events: int = 0
    keyed: int = 0
    anchors: int = 0
    key_used: bool = False
    head: Head = field(default_factory=lambda: Head(0, GENESIS))
    broken: str | None = None  # the first event that breaks the chain, also the first of the problems
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def needs_key(self) -> bool:
        """Whether anything here could only be checked with the key (keyed events or anchors)."""
        return self.keyed > 0 or self.anchors > 0


def verify(
    session: Session,
    key: str | None,
    anchors: Sequence[Anchor] = (),
    *,
    later: Sequence[Anchor] = (),
) -> Verification:
    """Walk the chain in id order and compare it with every anchor; without a key, MACs are not checked.

    ``later`` are anchors the database may legitimately be behind (the anchor file, when restoring an older
    backup): their claims beyond it are warnings; ``anchors`` (the backup's own head, a manifest) must all hold.
    """
    result = Verification(key_used=key is not None)
    all_anchors = [*anchors, *later]
    wanted = {a.head.events for a in all_anchors}
    hashes = {0: GENESIS}
    expected_prev = GENESIS
    seen_keyed = False
    for row in session.execute(_chain_query(session)):
        result.events += 1
        result.keyed += bool(row.keyed)
        if result.broken is None:
            result.broken = _check(row, expected_prev, seen_keyed, key)
            if result.broken is not None:
                result.problems.append(result.broken)
        seen_keyed = seen_keyed or bool(row.keyed)
        expected_prev = row.hash
        if result.events in wanted:
            hashes[result.events] = row.hash
    result.head = Head(result.events, expected_prev)
    _compare(result, list(anchors), list(later), key, hashes)
    return result


def check(
    session: Session,
    key: str | None,
    *,
    anchor_file: str | None,
    files: Sequence[Path] = (),
    manifests: Sequence[Path] = (),
    backup: Path | None = None,
) -> Verification:
    """``verify`` against every anchor there is: the anchor file, other anchor files and manifests given, and for
    a restored ``backup`` the head written beside it (then the anchor file may legitimately be ahead)."""
    own = audit_anchor.Reading()
    for path in files:
        own.add(audit_anchor.read_lines(path))
    for path in manifests:
        own.add(audit_anchor.read_manifest(path))
    if backup is not None:
        beside = audit_anchor.beside(backup)
        own.add(
            audit_anchor.read_lines(
                beside,
                missing=f"no audit head beside the backup ({beside}): whether its log was trimmed before it was "
                "restored cannot be told",
            )
        )
    configured = audit_anchor.Reading()
    anchor_path = Path(anchor_file).absolute() if anchor_file else None
    given = {path.absolute() for path in files}
    if anchor_path is not None and anchor_path.exists() and anchor_path not in given:
        configured = audit_anchor.read_lines(anchor_path)
    if backup is None:
        result = verify(session, key, [*own.anchors, *configured.anchors])
    else:
        result = verify(session, key, own.anchors, later=configured.anchors)
    result.problems[:0] = own.problems + configured.problems
    result.warnings[:0] = own.warnings + configured.warnings
    if anchor_path is not None and not anchor_path.exists() and result.keyed:
        result.warnings.append(
            f"the anchor file {anchor_path} does not exist: if Elicit wrote one, it was removed (a log trimmed at "
            "its end can then be found only with another anchor)"
        )
    return result


def _chain_query(session: Session) -> Any:
    """Every event in order; on a database older than 0011 (a restored old backup) all are unkeyed."""
    columns = {c["name"] for c in inspect(session.connection()).get_columns("audit_events")}
    keyed = AuditEvent.keyed if "keyed" in columns else false().label("keyed")
    fields = (AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.study_id)
    rest = (AuditEvent.target, AuditEvent.details_json, AuditEvent.prev_hash, AuditEvent.hash)
    return select(*fields, *rest, keyed).order_by(AuditEvent.id).execution_options(yield_per=1000)


def _check(row: Any, expected_prev: str, seen_keyed: bool, key: str | None) -> str | None:
    name = f"event {row.id} ({row.action})"
    if row.prev_hash != expected_prev:
        return f"{name} does not follow the previous event: an event before it was deleted, inserted or reordered"
    fields = (row.prev_hash, row.at, row.actor, row.action, row.study_id, row.target, row.details_json)
    if row.keyed:
        if key is not None and not hmac.compare_digest(event_mac(key, *fields), row.hash):
            return (
                f"{name} was edited after it was recorded, or re-hashed or forged without the audit key: its MAC "
                "does not match under this key"
            )
        return None
    if seen_keyed:
        return (
            f"{name} is unkeyed but follows keyed events: it was inserted or re-hashed without the audit key"
        )
    if event_hash(*fields) != row.hash:
        return f"{name} was edited after it was recorded"
    return None


def _short(digest: str) -> str:
    return f"{digest[:16]}..."


def _compare(
    result: Verification, anchors: list[Anchor], later: list[Anchor], key: str | None, hashes: dict[int, str]
) -> None:
    """Hold the chain against the anchors: forged ones reported, the rest checked for truncation and rewrites."""
    count = result.events
    everything = [*anchors, *later]
    forged = [a for a in everything if key is not None and not a.authentic(key)]
    for anchor in forged[:10]:
        result.problems.append(
            f"forged anchor: the anchor at {anchor.source} does not carry a valid MAC under this audit key"
        )
    if len(forged) > 10:
        result.problems.append(f"forged anchor: {len(forged) - 10} more anchors do not carry a valid MAC")
    rejected = {id(a) for a in forged}
    kept, set_aside = audit_anchor.in_force(a for a in everything if id(a) not in rejected)
    backed = {id(a) for a in later}
    own = [a for a in kept if id(a) not in backed]
    after = [a for a in kept if id(a) in backed]
    result.anchors = len(kept)

    beyond = [a for a in own if a.head.events > count]
    if beyond:
        top = max(beyond, key=lambda a: a.head.events)
        if count == 0:
            result.problems.append(
                f"wiped: the anchor at {top.source} says {top.head.events} events, the database has none"
            )
        else:
            result.problems.append(
                f"truncated: the anchor at {top.source} says {top.head.events} events, the database has {count}"
            )
    held = max([count, *(a.head.events for a in own)])
    lost = [a for a in after if a.head.events > held]
    if lost:
        last = max(a.head.events for a in lost)
        events = f"event {held + 1}" if last == held + 1 else f"events {held + 1}..{last}"
        result.warnings.append(
            f"the backup holds events up to {held}; {events} recorded after the backup "
            f"{'is' if last == held + 1 else 'are'} not in it"
        )
    disagree = sorted(
        (a for a in kept if a.head.events <= count and hashes.get(a.head.events) != a.head.hash),
        key=lambda a: (a.head.events, a.origin, a.line),
    )
    if disagree:
        first = disagree[0]
        more = f" (and {len(disagree) - 1} more anchor(s) disagree)" if len(disagree) > 1 else ""
        result.problems.append(
            f"rewritten: the anchor at {first.source} says event {first.head.events} has hash "
            f"{_short(first.head.hash)}, the database's event {first.head.events} has "
            f"{_short(hashes.get(first.head.events, GENESIS))}{more}"
        )
    for restore, number in set_aside.items():
        result.warnings.append(
            f"a backup was restored at {restore}: {number} anchor(s) above it about the events that restore gave "
            "up were not compared"
        )
    if not everything and count:
        result.warnings.append(
            "no anchor to compare with: a log trimmed at its end, or rewritten as a whole, cannot be told from an "
            "intact one (see ELICIT_AUDIT_ANCHOR, --anchor and --manifest)"
        )
