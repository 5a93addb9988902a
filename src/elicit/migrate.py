"""Alembic, driven from Python: the migrations ship inside the package so an installed Elicit can upgrade itself.

They live in the checkout's top-level ``migrations/`` folder, which pyproject.toml installs as the package
``elicit.migrations``; the folder is found through that package, so a wheel, an editable install and a checkout
all give Alembic the same scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

import elicit.migrations
from elicit.db import make_engine
from elicit.errors import ElicitError

# A folder on disk, as Alembic needs: where the package was imported from (the wheel's elicit/migrations/, or the
# checkout's migrations/ under the editable install), never a path worked out relative to this file.
MIGRATIONS = Path(elicit.migrations.__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against this code's migrations."""

    current: str | None
    """The database's revision; None when it has no Elicit schema (empty, or not made by Elicit)."""
    head: str
    """The newest revision this code knows."""
    known: bool
    """Whether ``current`` is one of this code's revisions (False: made by a newer Elicit)."""

    @property
    def ready(self) -> bool:
        return self.current == self.head


def schema_state(connection: Connection) -> SchemaState:
    """Read the database's schema revision and compare it with this code's migrations (nothing is changed)."""
    script = ScriptDirectory(str(MIGRATIONS))
    current = MigrationContext.configure(connection).get_current_revision()
    known = current is not None and current in {s.revision for s in script.walk_revisions()}
    return SchemaState(current=current, head=script.get_current_head() or "base", known=known)


class KeyMismatch(ElicitError, RuntimeError):
    """The server's secret key is not the one the database was made with (see :mod:`elicit.keycheck`)."""


def _check_or_record_key(connection: Connection, secret: str) -> None:
    from elicit import keycheck

    problem = keycheck.mismatch(connection, secret)
    if problem is not None:
        raise KeyMismatch(problem)
    keycheck.record(connection, secret)


def upgrade(
    url: str,
    revision: str = "head",
    engine: Engine | None = None,
    *,
    secret: str | None = None,
    notes: list[str] | None = None,
) -> str:
    """Upgrade the database at ``url`` to ``revision``; return the revision it is at afterwards.

    ``secret`` is the server's secret key, which migrations that re-key anonymous responses need, and whose
    fingerprint is recorded (or, if one is recorded, checked: :class:`KeyMismatch`, nothing changed); what the
    migrations report doing is appended to ``notes``. A SQLite file whose rows were rewritten is vacuumed and
    its WAL truncated afterwards, so no page of the old rows stays in either file.
    """
    cfg = alembic_config(url)
    cfg.attributes["secret_key"] = secret
    owned = engine is None
    engine = engine or make_engine(url, create=True)  # creating is what `elicit init` is for
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            if sqlite:
                # SQLite's way to change a table others refer to: foreign keys off outside the transaction
                # (else recreating a table would fire ON DELETE actions on its referrers), checked at the end.
                driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with connection.begin():
                    cfg.attributes["connection"] = connection
                    command.upgrade(cfg, revision)
                    if secret is not None and revision == "head":
                        _check_or_record_key(connection, secret)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
            finally:
                if sqlite:
                    driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
        said = cfg.attributes.get("notes", [])
        if said and engine.dialect.name == "sqlite":
            raw = engine.raw_connection()  # outside any transaction: VACUUM cannot run in one
            try:
                cursor = raw.cursor()
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
        if notes is not None:
            notes.extend(said)
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()
    return current or "base"
