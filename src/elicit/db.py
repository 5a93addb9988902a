"""Engine, sessions and the declarative base.

One session per request (or CLI command), created lazily and kept on ``flask.g``. Services change objects and
never commit; the request commits once at its end when the response is a success (see ``Database.init_app``),
and anything else rolls back, so a failure never leaves half-written data.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, has_request_context, request
from flask_babel import gettext
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from elicit.i18n import N_

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; the naming convention gives constraints stable names Alembic can drop."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so SQLAlchemy's "begin" event below decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted content is overwritten, so a row deleted (or a page freed) leaves nothing to read in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# Requests that only read: an expert's GET of their pages (tests/survey/test_reads_take_no_lock.py holds them to it).
READ_ONLY_BLUEPRINTS = frozenset({"survey"})


def _sqlite_begin(conn: Any) -> None:
    """Take SQLite's write lock at BEGIN, so concurrent writers queue on busy_timeout instead of failing with
    "database is locked" when a read transaction later tries to write; except for a request that only reads.

    An expert's GET reads from its WAL snapshot with a plain BEGIN and never waits: it no longer queues behind
    another expert's save (before, every page view waited for the write lock).
    """
    reads_only = (
        has_request_context()
        and request.method in ("GET", "HEAD")
        and request.blueprint in READ_ONLY_BLUEPRINTS
    )
    conn.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_sqlite_file(path: Path, *, create: bool = False) -> None:
    """Make a SQLite file and its companions readable and writable by this account only (mode 0600).

    ``create`` makes a missing file, empty (an empty file is a valid SQLite database), 0600 before SQLite opens
    it; SQLite then creates the -wal, -shm and -journal files with the database file's mode. Files an older
    version left 0644 are tightened; one that cannot be changed (another account's) is logged and left.
    """
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        try:
            current = stat.S_IMODE(candidate.stat().st_mode)
            if current & 0o077:
                os.chmod(candidate, current & 0o700)
        except FileNotFoundError:
            pass
        except OSError as exc:  # not this account's file, or a read-only file system: open it as it is
            logging.getLogger("elicit").warning("cannot make %s private (0600): %s", candidate, exc.strerror)


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite URL's file; None for other databases, ``:memory:`` and ``file:`` URIs."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).absolute()


def make_engine(url: str, *, create: bool = False) -> Engine:
    """Create an engine with the settings Elicit relies on for either database.

    A SQLite file is opened, never created (SQLite's ``mode=rw``), unless ``create`` is given: only
    ``elicit init`` and ``elicit demo`` (through :func:`elicit.migrate.upgrade`) create a database, and with it
    its folder. Anything else on a missing file fails with "unable to open database file".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        options: dict[str, Any] = {"connect_args": {"timeout": 10, "check_same_thread": False}}
        if path is not None and create:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            private_sqlite_file(path, create=True)
        elif path is not None:
            uri = f"{path.as_uri()}?mode=rw"
            options = {"creator": lambda: sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False)}
        engine = create_engine(url, hide_parameters=True, **options)  # errors never carry the values
        if path is not None:  # first: the first read makes the -wal and -shm files, with the file's mode
            event.listen(engine, "connect", lambda _conn, _record: private_sqlite_file(path))
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # hide_parameters: a failed statement's error (and so any log of it) never carries its values, such as a
    # token hash or an answer.
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


NOT_INITIALISED = N_(
    "This service is not set up yet: its database is not initialised. The administrator needs to run "
    "elicit init; nothing can be saved until then."
)


def _refuse_requests_without(app: Flask, path: Path) -> None:
    """Answer 503 (and log the file once) while the SQLite database does not exist; requests never create it.

    Checked on every request, so the server serves as soon as ``elicit init`` has run, without a restart.
    """
    logged: list[bool] = []

    @app.before_request
    def _database_exists() -> None:
        if request.endpoint == "static" or path.is_file():
            return
        if not logged:
            logged.append(True)
            logging.getLogger("elicit").error(
                "no database at %s (DATABASE_URL=%s): run elicit init; answering 503 until then",
                path,
                make_url(app.config["DATABASE_URL"]).render_as_string(hide_password=True),
            )
        abort(503, description=gettext(NOT_INITIALISED))


class Database:
    """The Flask extension: one engine per app, one session per request or CLI command."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["elicit.db"] = (engine, sessionmaker(engine, expire_on_commit=False))
        path = sqlite_file(app.config["DATABASE_URL"])
        if path is not None:
            _refuse_requests_without(app, path)

        @app.after_request
        def _commit(response: Response) -> Response:
            session: Session | None = g.pop("_elicit_session", None)
            if session is not None:
                try:
                    if response.status_code < 400:
                        session.commit()
                    else:
                        session.rollback()
                finally:
                    session.close()
            return response

        @app.teardown_appcontext
        def _close(_exc: BaseException | None) -> None:
            session: Session | None = g.pop("_elicit_session", None)
            if session is not None:
                session.rollback()
                session.close()

    @staticmethod
    def _parts() -> tuple[Engine, sessionmaker[Session]]:
        from flask import current_app

        parts: tuple[Engine, sessionmaker[Session]] = current_app.extensions["elicit.db"]
        return parts

    @property
    def engine(self) -> Engine:
        return self._parts()[0]

    @property
    def session(self) -> Session:
        """The current request's (or command's) session."""
        if "_elicit_session" not in g:
            g._elicit_session = self._parts()[1]()
        session: Session = g._elicit_session
        return session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work outside a request (CLI): commit at the end, roll back on any error."""
        session = self._parts()[1]()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


db = Database()
