"""Fixtures: every database-facing test runs on SQLite and on PostgreSQL (ids ``sqlite`` / ``postgresql``).

PostgreSQL must be reachable (127.0.0.1:5432, or ELICIT_TEST_POSTGRES_URL): if it is not, the run fails loudly
instead of skipping. Each xdist worker gets its own PostgreSQL database, migrated once; every test then starts
from empty tables. SQLite tests get a copy of a migrated template file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from elicit import create_app
from elicit.db import Base
from elicit.migrate import upgrade

# CI runs property tests derandomized, so a submission is judged on the same examples every time; local runs
# keep exploring (and remember failures in .hypothesis/), which is where new bugs are found.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "instruments" / "defence-diplomacy" / "1.0.0.yaml"
POSTGRES_ADMIN_URL = os.environ.get(
    "ELICIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _worker(request: pytest.FixtureRequest) -> str:
    """A name unique to this worker of this run, so concurrent test runs on one machine never share a database."""
    workerinput = getattr(request.config, "workerinput", {})
    run = str(workerinput.get("testrunuid") or uuid.uuid4().hex)[:12]
    return f"{run}_{workerinput.get('workerid', 'main')}"


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated PostgreSQL database of this worker's own; the run fails if the server is unreachable."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"elicit_test_{_worker(request)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A test database's commits need not outlive a crash of the machine: not waiting for each WAL flush
            # makes the PostgreSQL half of the suite about a tenth faster. A killed server process or backend
            # still loses no committed row, which is what the durability tests check.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except Exception as exc:  # noqa: BLE001 - any failure here means the suite cannot run as promised
        pytest.fail(
            f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} ({exc.__class__.__name__}: {exc}). "
            "Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            pytrace=False,
        )
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, so a plain copy holds everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    return path


_EMPTYING: dict[str, str] = {}


def _empty_postgres(url: str) -> None:
    """Delete every row and restart every sequence, in one round trip.

    DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE of every table swaps files and syncs
    them, about ten times slower here (0.5 s against 0.06 s a test on a loaded machine), which over the
    PostgreSQL half of the suite was a minute and more of `make test`. Children go before parents."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        if url not in _EMPTYING:
            sequences = conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
            ).scalars()
            _EMPTYING[url] = "".join(
                [f'DELETE FROM "{t.name}";' for t in reversed(Base.metadata.sorted_tables)]
                + [f"SELECT setval('\"{name}\"', 1, false);" for name in sequences]
            )
        conn.exec_driver_sql(_EMPTYING[url])
    engine.dispose()


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheaper argon2 parameters in every test (still argon2id; a hash carries its own parameters when verified):
    the default costs about 0.1 s a hash on a quiet machine and over a second on a loaded one."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("elicit.users._hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of either kind."""
    if request.param == "sqlite":
        path = tmp_path / "elicit.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists but has no schema: an empty SQLite file, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "blank.db"
        sqlite3.connect(path).close()
        yield f"sqlite:///{path}"
        return
    request.getfixturevalue("postgres_url")  # fails loudly when PostgreSQL is unreachable
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"elicit_blank_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_test_app(database_url: str, tmp_path: Path, **extra: Any) -> Flask:
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "BASE_URL": "http://elicit.test",
        "WTF_CSRF_ENABLED": True,
        "OUTBOX_PATH": str(tmp_path / "outbox"),
        # a key of the tests' own, so no test writes one into the checkout's instance folder
        "AUDIT_KEY": "test-audit-key-" + "0" * 32,
        **extra,
    }
    return create_app(config)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_test_app(database_url, tmp_path)
    yield application
    application.extensions["elicit.db"][0].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def flagship_path() -> Path:
    return FLAGSHIP


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a free loopback port (threaded), for browser tests; yields its URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=10)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser); the run fails if it is missing."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package", pytrace=False)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies) and page."""
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, bypass_csp=True
    )  # lets axe be injected
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, installed from the npm registry by `make browser`, for accessibility audits."""
    path = ROOT / ".cache" / "node_modules" / "axe-core" / "axe.min.js"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make browser` (make test does)", pytrace=False)
    return path.read_text(encoding="utf-8")


def axe_violations(tab: Any, axe: str) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page shown in ``tab``."""
    tab.add_script_tag(content=axe)
    result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in {"serious", "critical"}]


class StudyHandle:
    """A published flagship study (cohorts UK and PK) and a way to invite experts to it."""

    def __init__(self, app: Flask, slug: str) -> None:
        self.app = app
        self.slug = slug

    def invite(self, cohort: str = "UK", count: int = 1) -> list[str]:
        """Fresh invitation tokens for a cohort."""
        from elicit.db import db
        from elicit.studies import find_cohort, find_study, issue_links

        with self.app.app_context():
            study = find_study(db.session, self.slug)
            links = issue_links(db.session, study, find_cohort(study, cohort), count)
            db.session.commit()
            return [link.token for link in links]


@pytest.fixture
def study(app: Flask) -> StudyHandle:
    """The flagship instrument published and a study `dd-test` on it with cohorts UK and PK."""
    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.studies import create_study

    with app.app_context():
        version, _ = publish_version(db.session, load_file(FLAGSHIP), "test")
        create_study(db.session, "dd-test", version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        db.session.commit()
    return StudyHandle(app, "dd-test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests marked ``rendering`` check how pages look (layout, screenshots, axe), which does not depend
    on the database: they run on SQLite only, so the suite stays within its time. What those pages do to the
    database is tested on both databases by the Flask-client tests beside them."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        # A whole flow in the browser stores the same rows with JavaScript or without (the forms post the same
        # fields): on PostgreSQL its JavaScript run is enough.
        without_js = callspec is not None and callspec.params.get("javascript") is False
        drop = item.get_closest_marker("rendering") or (
            without_js and item.get_closest_marker("no_js_on_sqlite_only")
        )
        (dropped if on_postgres and drop else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
