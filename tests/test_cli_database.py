"""The CLI never guesses a database (issue 13): only `elicit init` and `elicit demo` create one, and every error
about the database names the one it used, without its password.

Commands run through `main` (the real FlaskGroup, reading DATABASE_URL from the environment) in an empty working
folder, as a researcher would run them outside the checkout; one runs as a real process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from elicit import create_app
from elicit.cli import main
from elicit.migrate import upgrade
from tests.conftest import FLAGSHIP, POSTGRES_ADMIN_URL

SECRET = "test-secret-key"
# Every command that uses the database, with arguments that would get it to the database.
DATABASE_COMMANDS = {
    "export": ["export", "dd", "--format", "csv", "--out", "export"],
    "invite": ["invite", "dd", "--cohort", "UK", "--count", "1", "--out", "links.csv"],
    "study create": ["study", "create", "dd", "--instrument", "defence-diplomacy@1.0.0", "--cohort", "UK"],
    "user add": ["user", "add", "ana@example.org", "--role", "viewer", "--password-stdin"],
    "instrument publish": ["instrument", "publish", str(FLAGSHIP)],
    "instrument diff": ["instrument", "diff", "defence-diplomacy@1.0.0", str(FLAGSHIP)],
    "round open": ["round", "open", "dd"],
    "round close": ["round", "close", "dd"],
    "realization": ["realization", "dd", "exports_change", "3"],
    "audit verify": ["audit", "verify"],
    "token create": ["token", "create", "ana@example.org", "--name", "analysis"],
    "token revoke": ["token", "revoke", "1"],
    "token list": ["token", "list", "ana@example.org"],
    "backup": ["backup", "--out", "backup.db"],
    "outbox purge": ["outbox", "purge", "dd"],
    "serve": ["serve", "--port", "0"],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder outside the checkout, made the current directory."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def elicit(database_url: str | None, *args: str, input: str | None = None) -> Result:
    """Run `elicit` as the installed command does (app made from the environment), in the current folder."""
    env = {"ELICIT_SECRET_KEY": SECRET, "DATABASE_URL": database_url}
    result = CliRunner().invoke(main, list(args), env=env, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def one_error_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("elicit: error: "), result.stderr
    return lines[0]


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def shown(url: str) -> str:
    """How the messages name a database: the SQLite file and the URL, or the URL (never a password)."""
    parsed = make_url(url)
    safe = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        return f"{Path(parsed.database or '').resolve()} (DATABASE_URL={safe})"
    return safe


# ------------------------------------------------------------------------------------------- a missing database
def test_export_outside_the_checkout_names_the_missing_database_and_creates_nothing(workdir: Path) -> None:
    """The reported case, as a real process: the default DATABASE_URL, relative to where it runs."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["ELICIT_SECRET_KEY"] = SECRET
    command = [str(Path(sys.executable).with_name("elicit")), "export", "dd", "--format", "csv", "--out", "x"]
    done = subprocess.run(  # noqa: S603  # the installed command with fixed arguments, no shell
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stderr) == (
        1,
        f"elicit: error: no database at {workdir / 'instance' / 'elicit.db'} "
        "(DATABASE_URL=sqlite:///instance/elicit.db); run elicit init first\n",
    )
    assert everything_under(workdir) == []


@pytest.mark.parametrize("command", list(DATABASE_COMMANDS))
def test_every_database_command_refuses_a_missing_sqlite_file(workdir: Path, command: str) -> None:
    path = workdir / "data" / "nested" / "elicit.db"
    url = f"sqlite:///{path}"
    result = elicit(url, *DATABASE_COMMANDS[command], input="a-long-password\n")
    assert one_error_line(result) == f"elicit: error: no database at {shown(url)}; run elicit init first"
    assert everything_under(workdir) == []


def test_init_creates_the_database_and_its_folder_and_names_it(workdir: Path) -> None:
    path = workdir / "data" / "nested" / "elicit.db"
    url = f"sqlite:///{path}"
    result = elicit(url, "init")
    assert result.exit_code == 0, result.stderr
    assert path.is_file()
    assert result.stdout.splitlines()[-1].startswith("database ready at revision ")
    assert str(path) in result.stdout
    result = elicit(url, "export", "dd", "--out", "export")
    assert one_error_line(result) == "elicit: error: no study named 'dd'"


def test_demo_creates_a_missing_database(workdir: Path) -> None:
    path = workdir / "instance" / "elicit.db"
    result = elicit(f"sqlite:///{path}", "demo", "--responses", "1", "--links", "1")
    assert result.exit_code == 0, result.stderr
    assert path.is_file() and result.stdout.count("/s/") == 2


def test_restore_may_create_the_database_it_restores(workdir: Path, tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    upgrade(f"sqlite:///{source}")
    backup = workdir / "backup.db"
    assert elicit(f"sqlite:///{source}", "backup", "--out", str(backup)).exit_code == 0
    target = workdir / "restored.db"
    result = elicit(f"sqlite:///{target}", "restore", str(backup))
    assert result.exit_code == 0, result.stderr
    assert target.is_file() and "schema revision" in result.stdout


# --------------------------------------------------------------------- a database that is there but not ready
def test_a_database_without_the_schema_is_named_and_not_changed(blank_url: str, workdir: Path) -> None:
    result = elicit(blank_url, "audit", "verify")
    assert one_error_line(result) == (
        f"elicit: error: the database at {shown(blank_url)} is not initialised (it has no Elicit schema); "
        "run elicit init first"
    )
    engine = create_engine(blank_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).all()
        else:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
    engine.dispose()
    assert tables == []


def test_a_database_behind_the_code_is_named_with_both_revisions(blank_url: str, workdir: Path) -> None:
    from alembic.script import ScriptDirectory

    from elicit.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(blank_url)).get_current_head()
    upgrade(blank_url, "0003")
    result = elicit(blank_url, "audit", "verify")
    assert one_error_line(result) == (
        f"elicit: error: the database at {shown(blank_url)} is at schema revision 0003, older than this "
        f"Elicit's {head}; run elicit init to upgrade it"
    )
    # A backup of an old database is what one takes before upgrading it: allowed.
    assert elicit(blank_url, "backup", "--out", str(workdir / "before-upgrade.backup")).exit_code == 0
    assert elicit(blank_url, "init").exit_code == 0
    assert elicit(blank_url, "audit", "verify").exit_code == 0


def test_a_database_newer_than_the_code_is_named(workdir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url)
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    line = one_error_line(elicit(url, "audit", "verify"))
    assert line.startswith(f"elicit: error: the database at {shown(url)} is at schema revision 9999_future")
    assert "newer version of Elicit" in line


def test_a_file_that_is_not_a_database_is_named(workdir: Path) -> None:
    path = workdir / "notes.db"
    path.write_text("not a database, just notes\n" * 100, encoding="utf-8")
    url = f"sqlite:///{path}"
    line = one_error_line(elicit(url, "audit", "verify"))
    assert line.startswith(f"elicit: error: cannot use the database at {shown(url)}: ")
    assert "not a database" in line


def test_an_unreachable_postgresql_database_is_named_without_its_password(
    postgres_url: str, workdir: Path
) -> None:
    url = make_url(POSTGRES_ADMIN_URL).set(password="hunter2-secret", database="elicit_no_such_db")
    database_url = url.render_as_string(hide_password=False)
    for args in (("audit", "verify"), ("init",)):
        line = one_error_line(elicit(database_url, *args))
        assert "hunter2" not in line
        assert f"the database at {url.render_as_string(hide_password=True)}" in line
        assert "***" in line and "elicit_no_such_db" in line


# ------------------------------------------------------------------------------------------------ the web app
def test_the_web_app_on_a_missing_database_says_so_and_creates_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """503 with a sentence (and one log line naming the file) until `elicit init` has run; then it serves."""
    path = tmp_path / "data" / "elicit.db"
    url = f"sqlite:///{path}"
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": SECRET, "BASE_URL": "http://elicit.test"}
    )
    client = app.test_client()
    for page in ("/studio/login", "/s/not-a-token", "/api/v1/openapi.json", "/studio/"):
        response = client.get(page)
        assert response.status_code == 503, page
        assert "not initialised" in response.get_data(as_text=True), page
    response = client.post("/studio/login", data={"email": "a@example.org", "password": "x"})
    assert response.status_code == 503
    assert not path.parent.exists()
    logged = [
        r.getMessage() for r in caplog.records if r.name == "elicit" and "no database at" in r.getMessage()
    ]
    assert len(logged) == 1 and str(path) in logged[0] and "elicit init" in logged[0]
    # Once `elicit init` has run, the same server serves (no restart needed).
    upgrade(url)
    assert client.get("/studio/login").status_code == 200
    app.extensions["elicit.db"][0].dispose()
