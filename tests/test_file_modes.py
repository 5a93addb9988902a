"""Every file Elicit writes that can hold personal data or answers is private to the server's account (issue 19).

The attack: another account on the same machine reads the SQLite database (the roster, tokens' hashes, every
answer), its -wal/-shm companions, the outbox (links in clear), an export or a links file. Commands run through
`main` (the real FlaskGroup, the app made from the environment) in an empty working folder, under the common
umask 022, which alone would leave new files 0644.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from elicit import create_app
from elicit.cli import main
from elicit.db import db
from elicit.demo import DEMO_SLUG
from elicit.models import Study

COMPANIONS = ("-wal", "-shm", "-journal")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder, the current directory, with no key or database in the environment, umask 022."""
    folder = tmp_path / "server"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("ELICIT_SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("OUTBOX_PATH", raising=False)
    previous = os.umask(0o022)
    try:
        yield folder
    finally:
        os.umask(previous)


def elicit(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, (args, result.stderr)
    return result


def readable_by_others(folder: Path) -> list[str]:
    """Every file under ``folder`` that its group or anyone else may read or write, with its mode."""
    return [
        f"{path.relative_to(folder)} {stat.S_IMODE(path.stat().st_mode):04o}"
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.stat().st_mode & 0o077
    ] + [
        f"{path.relative_to(folder)}/ {stat.S_IMODE(path.stat().st_mode):04o}"
        for path in sorted(folder.rglob("instance"))
        if path.is_dir() and path.stat().st_mode & 0o077
    ]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_nothing_elicit_writes_is_readable_by_another_account(workdir: Path) -> None:
    elicit("init")
    elicit("demo", "--responses", "3", "--links", "1")
    elicit("export", DEMO_SLUG, "--format", "csv", "--out", "export")
    elicit("invite", DEMO_SLUG, "--cohort", "UK", "--count", "2", "--out", "links.csv")
    (workdir / "roster.csv").write_text("name,email,organisation,cohort\nAna B,ana@example.org,Org,UK\n")
    os.chmod(workdir / "roster.csv", 0o600)  # the researcher's own file, not Elicit's
    elicit("mail", "send", DEMO_SLUG, "--roster", "roster.csv")
    elicit("mail", "show", DEMO_SLUG, "1", "--csv", "batch.csv")
    elicit("backup", "--out", "backup.db")
    assert (workdir / "batch.csv").is_file() and (workdir / "instance" / "outbox" / DEMO_SLUG).is_dir()
    assert (workdir / "export" / "data.csv").is_file() and (workdir / "export" / "excalibur").is_dir()

    app = create_app()  # the server, between requests: its connection holds the -wal and -shm files open
    try:
        with app.app_context():
            study = db.session.scalar(select(Study).where(Study.slug == DEMO_SLUG))
            assert study is not None
            study.title = f"{study.title} (read by the server)"
            db.session.commit()
            database = workdir / "instance" / "elicit.db"
            assert Path(f"{database}-wal").is_file() and Path(f"{database}-shm").is_file()
            assert readable_by_others(workdir) == []
            from elicit.exporting import export_zip  # the studio's and the API's download

            archive = export_zip(db.session, study, "csv", actor="cli")
            try:
                assert mode(archive) == 0o600
            finally:
                archive.unlink()
    finally:
        app.extensions["elicit.db"][0].dispose()
    assert mode(workdir / "export") == 0o700 and mode(workdir / "export" / "excalibur") == 0o700
    assert readable_by_others(workdir) == []


def test_a_database_an_older_version_left_0644_is_made_private_by_the_next_command(workdir: Path) -> None:
    elicit("init")
    database = workdir / "instance" / "elicit.db"
    conn = sqlite3.connect(database)  # open, so its -wal and -shm stay, as beside a running older server
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("INSERT INTO alembic_version SELECT 'x' WHERE 0")
        conn.commit()
        leftovers = [
            Path(f"{database}{suffix}") for suffix in COMPANIONS if Path(f"{database}{suffix}").exists()
        ]
        assert {path.name[-4:] for path in leftovers} == {"-wal", "-shm"}
        for path in [database, *leftovers]:
            os.chmod(path, 0o644)
        elicit("audit", "verify")
        assert [f"{path.name} {mode(path):04o}" for path in [database, *leftovers]] == [
            f"{path.name} 0600" for path in [database, *leftovers]
        ]
    finally:
        conn.close()


def test_a_restore_into_a_new_database_file_makes_it_private(workdir: Path) -> None:
    elicit("init")
    elicit("backup", "--out", "backup.db")
    (workdir / "instance" / "elicit.db").unlink()
    elicit("restore", "backup.db")
    assert readable_by_others(workdir) == []
