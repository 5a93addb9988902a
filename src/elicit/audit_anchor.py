"""Anchors of the audit chain outside the database: signed claims that "event number N has hash H".

Whoever can write to the database can delete the last events, or all of them, and no chain inside the database
can show what is no longer there. So the head of the chain (how many events, the last one's hash) is written
where that writer cannot reach it: after every committed append to an append-only anchor file (and to syslog if
asked), into every export manifest and beside every backup. ``elicit audit verify`` compares the database with
each anchor: fewer events than one says is a trimmed log, another hash at N a rewritten one.

Every anchor carries an HMAC under the audit key, so a line someone adds by hand is reported as forged rather than
believed. Each line stands alone: web workers append at once (``O_APPEND``, one ``write`` a line), so lines may be
out of order, and a line cut short by a crash is skipped with a warning. A line ``restored events=N`` records a
restore of a backup holding N events; the claims above it about later events (which the restore gave up) no longer
count against the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import re
import sqlite3
import threading
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, table
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session

log = logging.getLogger("elicit.audit")

MARK = "elicit-audit-anchor/1"
GENESIS = "0" * 64  # the hash "before the first event": the head of an empty chain
BESIDE_SUFFIX = ".anchor"  # a backup's head is written to FILE.anchor beside it
_LINE = re.compile(
    re.escape(MARK) + r" (?P<restored>restored )?events=(?P<events>\d{1,18}) hash=(?P<hash>[0-9a-f]{64}) "
    r"mac=(?P<mac>[0-9a-f]{64})(?=\s|$)"
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_EVENTS = table("audit_events", sql_column("id"), sql_column("hash"))  # no ORM: any schema revision has these


@dataclass(frozen=True)
class Head:
    """The head of the chain: how many events it holds and the last one's hash (GENESIS when empty)."""

    events: int
    hash: str


@dataclass(frozen=True)
class Anchor:
    """One claim about the chain, and where it was read: ``origin`` (a file) and its ``line`` (0: a manifest)."""

    origin: str
    line: int
    head: Head
    mac: str
    restored: bool = False

    @property
    def source(self) -> str:
        """Where to look, for messages: ``FILE:LINE`` or the manifest's path."""
        return f"{self.origin}:{self.line}" if self.line else self.origin

    def authentic(self, key: str) -> bool:
        """Whether the claim carries the MAC only the audit key makes."""
        return hmac.compare_digest(self.mac, mac(key, self.head, restored=self.restored))


@dataclass
class Reading:
    """Anchors read from some sources, with what could not be used: warnings, and problems (exit 1)."""

    anchors: list[Anchor] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, other: Reading) -> None:
        self.anchors += other.anchors
        self.warnings += other.warnings
        self.problems += other.problems


# ------------------------------------------------------------------------------------------------ the claims
def _claim(head: Head, *, restored: bool = False) -> str:
    return f"{'restored ' if restored else ''}events={head.events} hash={head.hash}"


def mac(key: str, head: Head, *, restored: bool = False) -> str:
    """HMAC-SHA256 of the claim under the audit key (the event MACs cover JSON, so the two never coincide)."""
    message = f"{MARK} {_claim(head, restored=restored)}".encode("ascii")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def line(key: str, head: Head, *, restored: bool = False) -> str:
    """One anchor line (no newline): the time it was written (not covered by the MAC), the claim and its MAC."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{at} {MARK} {_claim(head, restored=restored)} mac={mac(key, head, restored=restored)}"


def entry(key: str, head: Head) -> dict[str, Any]:
    """The claim as a manifest carries it."""
    return {"events": head.events, "hash": head.hash, "mac": mac(key, head)}


def head(source: Connection | Session) -> Head:
    """The head of the chain in a database (any schema revision with an audit table)."""
    count = source.scalar(select(func.count()).select_from(_EVENTS)) or 0
    last = source.scalar(select(_EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1))
    return Head(int(count), str(last) if last else GENESIS)


def head_of_sqlite_file(path: Path) -> Head | None:
    """The head of the chain in a SQLite file (a backup), or None if it has no audit table."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        count, last = conn.execute(
            "SELECT count(*), (SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1) FROM audit_events"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return Head(int(count), str(last) if last else GENESIS)


def beside(backup: Path) -> Path:
    """Where a backup's head is kept: ``FILE.anchor``."""
    return backup.with_name(backup.name + BESIDE_SUFFIX)


# ---------------------------------------------------------------------------------------------- writing them
def write_beside(backup: Path, key: str, found: Head) -> Path:
    """Write a backup's head beside it (mode 0600, replaced atomically), in the anchor file's format."""
    target = beside(backup)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (line(key, found) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staged, target)
    return target


def enabled(config: Mapping[str, Any]) -> bool:
    """Whether heads are published after each commit (an anchor file or syslog is configured)."""
    return bool(config.get("AUDIT_ANCHOR") or config.get("AUDIT_SYSLOG"))


def publish(config: Mapping[str, Any], key: str, found: Head, *, restored: bool = False) -> None:
    """Append the head to the anchor file and send it to syslog, as configured.

    Called once the transaction has committed, so a failure here cannot undo it: it is logged as an error (the
    missing anchor weakens a later check, it breaks nothing) and never raised.
    """
    text = line(key, found, restored=restored)
    path = config.get("AUDIT_ANCHOR")
    if path:
        _append(Path(path), text)
    if config.get("AUDIT_SYSLOG"):
        _send_to_syslog(config.get("AUDIT_SYSLOG_ADDRESS") or "/dev/log", text)


def _append(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(
                fd, (text + "\n").encode("ascii")
            )  # one write: lines of concurrent workers never interleave
        finally:
            os.close(fd)
    except OSError as exc:
        log.error("audit anchor not written to %s: %s (%s)", path, exc.strerror or exc, text)


class _Syslog(logging.handlers.SysLogHandler):
    """A syslog handler whose failures are logged as one error line of ours, not printed as a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802  # logging's name
        log.error("audit anchor not sent to syslog %s: %s", self.address, record.getMessage())


_handlers: dict[str, logging.handlers.SysLogHandler] = {}
_handlers_lock = threading.Lock()


def _send_to_syslog(address: str, text: str) -> None:
    with _handlers_lock:
        handler = _handlers.get(address)
        if handler is None:
            host, _, port = address.rpartition(":")
            target: str | tuple[str, int] = address if address.startswith("/") else (host, int(port))
            try:
                handler = _Syslog(address=target, facility=logging.handlers.SysLogHandler.LOG_AUTH)
            except OSError as exc:
                log.error("audit anchor not sent: cannot reach syslog at %s: %s (%s)", address, exc, text)
                return
            handler.ident = "elicit: "
            handler.append_nul = False
            _handlers[address] = handler
    handler.emit(logging.LogRecord("elicit.audit", logging.INFO, __file__, 0, text, None, None))


# ---------------------------------------------------------------------------------------------- reading them
def read_lines(path: Path, *, missing: str | None = None) -> Reading:
    """Every anchor line in a file (the anchor file, a backup's ``.anchor``, a copy of a syslog file).

    Lines without the mark are other messages (a syslog file holds many) and are skipped. A missing file is a
    problem, or the warning ``missing`` if one is given (the configured anchor file need not exist yet).
    """
    reading = Reading()
    origin = str(path)
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for number, text in enumerate(fh, start=1):
                if MARK not in text:
                    continue
                found = _LINE.search(text)
                if found is None:
                    reading.warnings.append(
                        f"the line at {origin}:{number} is not a whole anchor line; skipped"
                    )
                    continue
                reading.anchors.append(
                    Anchor(
                        origin,
                        number,
                        Head(int(found["events"]), found["hash"]),
                        found["mac"],
                        restored=bool(found["restored"]),
                    )
                )
    except FileNotFoundError:
        if missing is None:
            reading.problems.append(f"{origin}: no such file")
        else:
            reading.warnings.append(missing)
    except OSError as exc:
        reading.problems.append(f"{origin}: cannot read ({exc.strerror or exc})")
    return reading


def read_manifest(path: Path) -> Reading:
    """The head an export manifest carries: ``manifest.json``, the export folder, or the studio's zip."""
    reading = Reading()
    try:
        origin, document = _manifest_document(path)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        reading.problems.append(f"{path}: cannot read an export manifest ({exc})")
        return reading
    claim = document.get("audit") if isinstance(document, dict) else None
    if claim is None:
        reading.warnings.append(f"{origin} carries no audit head (an export made before Elicit recorded one)")
        return reading
    events, digest, signature = (
        (claim.get(k) for k in ("events", "hash", "mac"))
        if isinstance(claim, dict)
        else (
            None,
            None,
            None,
        )
    )
    if not (
        isinstance(events, int)
        and events >= 0
        and isinstance(digest, str)
        and _HEX64.fullmatch(digest)
        and isinstance(signature, str)
        and _HEX64.fullmatch(signature)
    ):
        reading.problems.append(f"{origin}: its audit head is not well formed")
        return reading
    reading.anchors.append(Anchor(origin, 0, Head(events, digest), signature))
    return reading


def _manifest_document(path: Path) -> tuple[str, Any]:
    if path.is_dir():
        path = path / "manifest.json"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n == "manifest.json" or n.endswith("/manifest.json")]
            if not names:
                raise ValueError("the zip holds no manifest.json")
            name = min(names, key=len)
            return f"{path}!{name}", json.loads(archive.read(name).decode("utf-8"))
    return str(path), json.loads(path.read_text(encoding="utf-8"))


def in_force(anchors: Iterable[Anchor]) -> tuple[list[Anchor], dict[str, int]]:
    """The anchors that still speak for the chain, and by restore line (its source) how many it set aside: the
    claims above it in its file about events beyond the restored head, which that restore gave up."""
    kept: list[Anchor] = []
    set_aside: dict[str, int] = {}
    anchors = list(anchors)
    restores = [a for a in anchors if a.restored]
    for anchor in anchors:
        by = next(
            (
                r
                for r in restores
                if r.origin == anchor.origin and r.line > anchor.line and anchor.head.events > r.head.events
            ),
            None,
        )
        if by is None:  # (an earlier restore line too is set aside by a later restore to fewer events)
            kept.append(anchor)
        else:
            set_aside[by.source] = set_aside.get(by.source, 0) + 1
    return kept, set_aside
