"""What every ``elicit`` command shares: how it fails, finds its database and runs one unit of work.

Errors go to stderr as ``path:line: message`` or ``elicit: error: message`` with exit code 1 (2 for usage), and
a command either finishes its whole unit of work or writes nothing. Every domain error is an
:class:`~elicit.errors.ElicitError`, so :func:`unit_of_work` catches that one class.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import DBAPIError, OperationalError

from elicit.errors import ElicitError

ACTOR_CLI = "cli"
P = ParamSpec("P")
R = TypeVar("R")


def show_problems(error: Any) -> NoReturn:
    """Each problem of an InstrumentError as ``file:line: message``, then exit 1."""
    for problem in error.problems:
        click.echo(str(problem), err=True)
    sys.exit(1)


def fail(message: str) -> NoReturn:
    """Print one clear line and exit 1."""
    click.echo(f"elicit: error: {message}", err=True)
    sys.exit(1)


def database_named(url: str) -> str:
    """The database for messages: a SQLite file with the URL it came from, or the URL; never a password."""
    from sqlalchemy.engine import make_url

    from elicit.db import sqlite_file

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  # a malformed URL is named as far as it can be, without guessing
        return "DATABASE_URL (not a database URL)"
    path = sqlite_file(url)
    return f"{path} (DATABASE_URL={shown})" if path is not None else shown


def database_reason(exc: BaseException) -> str:
    """A database error's own message on one line."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig or exc).split())


def require_database(url: str, *, migrated: bool = True) -> None:
    """Fail with one line naming the database unless it exists (and, if ``migrated``, is at this code's head).

    Nothing is created or changed: a missing SQLite file stays missing.
    """
    from elicit.db import db, sqlite_file
    from elicit.migrate import schema_state

    where = database_named(url)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        fail(f"no database at {where}; run elicit init first")
    if not migrated:
        return
    try:
        with db.engine.connect() as connection:
            state = schema_state(connection)
    except DBAPIError as exc:
        fail(f"cannot use the database at {where}: {database_reason(exc)}")
    if state.current is None:
        fail(f"the database at {where} is not initialised (it has no Elicit schema); run elicit init first")
    if not state.known:
        fail(
            f"the database at {where} is at schema revision {state.current}, which this Elicit does not know "
            f"(its newest is {state.head}): it was made by a newer version of Elicit; upgrade Elicit"
        )
    if not state.ready:
        fail(
            f"the database at {where} is at schema revision {state.current}, older than this Elicit's "
            f"{state.head}; run elicit init to upgrade it"
        )
    from elicit.keycheck import mismatch

    with db.engine.connect() as connection:
        problem = mismatch(connection, current_app.config["SECRET_KEY"])
    if problem is not None:
        fail(f"the database at {where}: {problem}")


def with_database(*, migrated: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a command in the app context once :func:`require_database` has found its database ready."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            require_database(current_app.config["DATABASE_URL"], migrated=migrated)
            return command(*args, **kwargs)

        return with_appcontext(checked)

    return decorate


@contextmanager
def unit_of_work() -> Iterator[Any]:
    """A session committed at the end, rolled back on error; domain errors become one line and exit 1."""
    from elicit.db import db
    from elicit.instruments.schema import InstrumentError

    try:
        with db.transaction() as session:
            yield session
    except InstrumentError as exc:
        show_problems(exc)
    except ElicitError as exc:  # every domain error: one sentence, exit 1
        fail(str(exc))
    except OperationalError as exc:
        fail(
            f"cannot use the database at {database_named(current_app.config['DATABASE_URL'])}: {database_reason(exc)}"
        )


def read_roster(path: str) -> str:
    """A roster file's text, or one line naming the file and exit 1."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except UnicodeDecodeError:
        fail(f"{path}:1: not UTF-8 text; save the roster as CSV UTF-8")


def check_new_file(path: Path, force: bool) -> Path:
    """The absolute path of a file to write, or one line and exit 1 if it cannot or must not be written.

    A file that exists is refused unless ``force``: a links file may hold the only copy of live links.
    """
    path = path.resolve()
    if path.is_dir():
        fail(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        fail(f"folder {path.parent} does not exist")
    if path.exists() and not force:
        fail(
            f"{path} exists already and may hold the only copy of live links; "
            "give another --out, or --force to replace it"
        )
    return path


def stage_file(path: Path, content: str) -> Path:
    """Write ``content`` in full to a new temporary file (mode 0600) beside ``path``, synced to disk."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def put_in_place(staged: Path, path: Path, force: bool) -> None:
    """Rename a staged file to ``path`` atomically; without ``force`` never replace a file that appeared since.

    If the file cannot be put in place, the staged file is kept (it may hold the only copy of live links) and
    the message names it.
    """
    try:
        if force:
            os.replace(staged, path)
        else:
            os.link(staged, path)  # fails if ``path`` exists: no check-then-write race
            staged.unlink()
    except FileExistsError:
        fail(f"{path} appeared while the links were made; they are in {staged}: rename it to keep them")
    except OSError as exc:
        fail(f"cannot write {path} ({exc.strerror}); the links are in {staged}: rename it to keep them")
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)  # the rename itself survives a crash
    except OSError:
        pass
    finally:
        os.close(folder)
