"""Consistent backups of the database while Elicit runs, and restores that check what they brought back.

A backup is a file in the database's own standard format, so the usual tools read it without Elicit:

- **SQLite** (the embedded default): a SQLite database file, copied through SQLite's online backup API
  (``sqlite3.Connection.backup``) in one step. The copy is taken inside one read transaction, so it is a
  consistent snapshot even while experts are saving pages (in WAL mode writers are not blocked meanwhile);
  copying the file with ``cp`` could catch a half-written page or miss the write-ahead log.
- **PostgreSQL**: ``pg_dump --format=custom``, which reads one MVCC snapshot and never blocks writers.

A restore refuses to replace a database that holds data unless forced, then reports the Alembic revision, the
audit chain and row counts, so an operator sees at once whether what came back is whole and usable.

Every backup has its audit head (how many events, the last one's hash, under the audit key's MAC) written beside
it as ``FILE.anchor``, so a restore can tell a backup whose log was trimmed from an intact one (``elicit.audit``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess  # nosec B404  # only _run below uses it, with a fixed tool and no shell
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, inspect, literal, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from elicit import audit_anchor
from elicit.audit_anchor import Head
from elicit.db import private_sqlite_file
from elicit.errors import ElicitError

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
BY_HAND = {
    "pg_dump": "pg_dump --format=custom --file FILE 'postgresql://USER@HOST:PORT/DATABASE'",
    "pg_restore": "pg_restore --clean --if-exists --no-owner --dbname 'postgresql://USER@HOST:PORT/DATABASE' FILE",
}


class BackupError(ElicitError):
    """A backup or restore that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """What ``backup`` wrote."""

    path: Path
    kind: str  # "sqlite" or "postgresql"
    size: int
    audit_head: Head | None = None  # written beside the backup (FILE.anchor); None without an audit key


@dataclass
class DatabaseReport:
    """The state of a database after a restore: schema revision, audit chain, row counts and problems."""

    revision: str | None
    head: str
    audit_events: int | None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    audit_anchors: int = 0  # anchors the chain was compared with
    audit_head: Head | None = None
    audit_ok: bool = False  # the chain and its anchors checked out

    @property
    def ok(self) -> bool:
        return not self.problems


# -------------------------------------------------------------------------------------------------- helpers
def _backend(database_url: str) -> str:
    try:
        name = make_url(database_url).get_backend_name()
    except ArgumentError:
        raise BackupError(f"DATABASE_URL is not a database URL: {database_url!r}") from None
    if name not in {"sqlite", "postgresql"}:
        raise BackupError(f"backups support SQLite and PostgreSQL databases, not {name}")
    return name


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(
            f"cannot back up or restore the SQLite database {database or ':memory:'!r}; give a file path"
        )
    return Path(database)


def _temporary_beside(path: Path) -> Path:
    """A temporary name in the target's folder, so the final rename is atomic."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def _check_out_path(out: Path) -> Path:
    out = out.resolve()
    if out.is_dir():
        raise BackupError(f"{out} is a folder; give a file name")
    if not out.parent.is_dir():
        raise BackupError(f"folder {out.parent} does not exist")
    return out


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore, and an environment that carries the password.

    The password goes through ``PGPASSWORD`` rather than the command line, where ``ps`` would show it.
    """
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _tool(name: str) -> str:
    """The path of pg_dump or pg_restore, or a BackupError saying how to get it or do without."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} was not found on PATH; install the PostgreSQL client tools of your server's major version "
            f"(Debian/Ubuntu: apt install postgresql-client) or run it by hand: {BY_HAND[name]}"
        )
    return path


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # A fixed tool found by shutil.which and an argument list (no shell); the URL is the operator's own setting.
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603  # argument list from shutil.which and fixed flags, no shell
    if result.returncode != 0:
        detail = " ".join(result.stderr.strip().splitlines()[-3:]) or f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {detail}")


def describe(database_url: str) -> str:
    """The database named for messages, without its password."""
    if _backend(database_url) == "sqlite":
        return f"SQLite database {_sqlite_path(database_url)}"
    return f"PostgreSQL database {make_url(database_url).render_as_string(hide_password=True)}"


# --------------------------------------------------------------------------------------------------- backup
def backup(database_url: str, out: Path, *, audit_key: str | None = None) -> BackupResult:
    """Write a consistent copy of the database at ``database_url`` to ``out`` (replaced atomically), and with an
    ``audit_key`` its audit head beside it."""
    kind = _backend(database_url)
    out = _check_out_path(out)
    tmp = _temporary_beside(out)
    # pg_dump's snapshot starts after this read, so the dump holds at least these events (the log only grows).
    before = _live_head(database_url) if kind == "postgresql" and audit_key else None
    try:
        if kind == "sqlite":
            _backup_sqlite(_sqlite_path(database_url), tmp)
        else:
            uri, env = _libpq(database_url)
            command = [
                _tool("pg_dump"),
                "--format=custom",
                "--no-password",
                "--file",
                str(tmp),
                "--dbname",
                uri,
            ]
            _run(command, env, "pg_dump")
        os.chmod(tmp, 0o600)  # a backup holds the roster and every answer
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    found = audit_anchor.head_of_sqlite_file(out) if kind == "sqlite" and audit_key else before
    if audit_key is None or found is None:  # a head beside an older backup of this name is not this one's
        audit_anchor.beside(out).unlink(missing_ok=True)
    else:
        audit_anchor.write_beside(out, audit_key, found)
    return BackupResult(out, kind, out.stat().st_size, found if audit_key else None)


def _live_head(database_url: str) -> Head | None:
    """The audit head of a live database, or None if it has no audit table."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            return audit_anchor.head(conn)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _backup_sqlite(source_path: Path, target_path: Path) -> None:
    if not source_path.is_file():
        raise BackupError(f"{source_path}: no such database (run `elicit init` first?)")
    source = sqlite3.connect(source_path, timeout=30)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        private_sqlite_file(target_path, create=True)  # 0600 from the first page copied, not only once done
        target = sqlite3.connect(target_path)
        try:
            source.backup(target)  # pages=-1: the whole database in one step, i.e. one consistent snapshot
            # One self-contained file (no -wal beside it), checked before it replaces an older backup.
            target.execute("PRAGMA journal_mode=DELETE")
            verdict = target.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"the copy failed its integrity check: {verdict}")
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot copy {source_path}: {exc}") from None
    finally:
        source.close()


# -------------------------------------------------------------------------------------------------- restore
def backup_kind(path: Path) -> str:
    """ "sqlite" or "postgresql", from the file's first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except OSError as exc:
        raise BackupError(f"{path}: cannot read ({exc.strerror})") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither a SQLite database nor a pg_dump custom-format archive")


def restore(
    database_url: str,
    source: Path,
    *,
    force: bool = False,
    audit_key: str | None = None,
    anchor_file: str | None = None,
) -> DatabaseReport:
    """Replace the database at ``database_url`` with the backup ``source`` and report on the result.

    Refuses (BackupError) when the backup is of the other kind of database, or when the target holds data and
    ``force`` is not given. Stop the app before restoring: requests during a restore would see a mixture. The
    audit chain is checked with ``audit_key`` against the head beside the backup and the ``anchor_file``.
    """
    kind = _backend(database_url)
    found = backup_kind(source)
    if found != kind:
        raise BackupError(
            f"{source} is a {found} backup but the configured database is {kind}; "
            "set DATABASE_URL to a database of the same kind"
        )
    if not force:
        rows = _rows_present(database_url)
        if rows:
            raise BackupError(
                f"the {describe(database_url)} already holds data ({', '.join(rows[:4])}); "
                "restoring replaces all of it: give --force to do so, or restore into an empty database"
            )
    if kind == "sqlite":
        _restore_sqlite(source, _sqlite_path(database_url))
    else:
        uri, env = _libpq(database_url)
        command = [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            "--dbname",
            uri,
            str(source),
        ]
        _run(command, env, "pg_restore")
    return inspect_database(database_url, audit_key=audit_key, anchor_file=anchor_file, backup=source)


def _restore_sqlite(source_path: Path, target_path: Path) -> None:
    try:
        source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source_path}: {exc}") from None
    try:
        verdict = source.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"{source_path} is damaged: {verdict}")
        target_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_sqlite_file(target_path, create=True)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            target.execute("PRAGMA busy_timeout=30000")
            # Through the pager, not a file copy: a -wal file beside the target is handled correctly.
            source.backup(target)
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot restore {source_path}: {exc}") from None
    finally:
        source.close()


def _engine(database_url: str) -> Engine:
    from elicit.db import make_engine

    return make_engine(database_url)


def _rows_present(database_url: str) -> list[str]:
    """Tables of the target that hold rows, as "N rows in TABLE" (empty when the database is empty)."""
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            found = []
            for name in sorted(inspect(conn).get_table_names()):
                if name == "alembic_version":
                    continue
                if conn.scalar(select(literal(1)).select_from(table(name)).limit(1)) is not None:
                    count = conn.scalar(select(func.count()).select_from(table(name)))
                    found.append(f"{count} row(s) in {name}")
            return found
    except SQLAlchemyError as exc:
        raise BackupError(
            f"cannot read the {describe(database_url)}: {exc.__class__.__name__}: {exc}"
        ) from None
    finally:
        engine.dispose()


def inspect_database(
    database_url: str,
    *,
    audit_key: str | None = None,
    anchor_file: str | None = None,
    backup: Path | None = None,
) -> DatabaseReport:
    """The Alembic revision against this code's head, the audit chain (checked with ``audit_key`` against the
    anchor file and, for a restored ``backup``, the head beside it), and counts of the main rows."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from elicit import audit
    from elicit.migrate import alembic_config
    from elicit.models import Answer, AuditEvent, Invitation, Response, ResponseStatus, Study, User

    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head() or "base"
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
        report = DatabaseReport(revision=revision, head=head, audit_events=None)
        known = {
            s.revision for s in ScriptDirectory.from_config(alembic_config(database_url)).walk_revisions()
        }
        if revision is None:
            report.problems.append(
                "the database has no schema revision: it is empty or not an Elicit database"
            )
            return report
        if revision not in known:
            report.problems.append(
                f"schema revision {revision} is unknown to this Elicit (head {head}): "
                "the backup was made by a newer version; upgrade Elicit before using it"
            )
            return report
        with Session(engine) as session:
            rows = session.execute(select(Response.status, func.count()).group_by(Response.status)).all()
            statuses = {status: count for status, count in rows}
            report.counts = {
                "studies": session.scalar(select(func.count()).select_from(Study)) or 0,
                "invitations": session.scalar(select(func.count()).select_from(Invitation)) or 0,
                "responses submitted": statuses.get(ResponseStatus.SUBMITTED, 0),
                "responses in progress": statuses.get(ResponseStatus.IN_PROGRESS, 0),
                "answers": session.scalar(select(func.count()).select_from(Answer)) or 0,
                "users": session.scalar(select(func.count()).select_from(User)) or 0,
                "audit events": session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            }
            result = audit.check(session, audit_key, anchor_file=anchor_file, backup=backup)
            report.audit_events, report.audit_anchors = result.events, result.anchors
            report.audit_head = result.head
            report.warnings += result.warnings
            report.problems += [
                f"audit log broken: {p}" if p == result.broken else p for p in result.problems
            ]
            if audit_key is None and result.keyed:
                report.problems.append(
                    f"cannot check the MACs of {result.keyed} audit event(s): no audit key; put this server's audit "
                    "key back (ELICIT_AUDIT_KEY or instance/audit_key) before Elicit starts, since events recorded "
                    "under a new key would not verify with the old one"
                )
            report.audit_ok = not result.problems and (audit_key is not None or not result.keyed)
        if revision != head:
            report.problems.append(
                f"schema revision {revision} is older than this Elicit's {head}: run `elicit init` to upgrade it"
            )
    except SQLAlchemyError as exc:
        report = DatabaseReport(revision=None, head=head, audit_events=None)
        report.problems.append(f"cannot read the restored database: {exc.__class__.__name__}: {exc}")
    finally:
        engine.dispose()
    return report
