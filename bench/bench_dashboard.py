"""The studio dashboard at scale: ``elicit.studio.dashboard.build`` on a study with N invitations and responses.

The database is migrated with ``elicit.migrate.upgrade``; the flagship (``instruments/defence-diplomacy/1.0.0.yaml``)
is published and a study with cohorts UK and PK created through the domain functions, then N invitations, each
with one response (65% submitted, 25% in progress, 10% declined; submissions spread over the last 30 days with a
duration of 5-60 minutes; unfinished responses stopped after a random number of the flagship's pages), are
bulk-inserted with Core ``insert()`` executemany in batches of 5,000. No answers: the dashboard does not read them.

The floor, timed the same way on the same database: the one aggregate query every dashboard needs at least,
``SELECT cohort_id, status, count(*) FROM responses WHERE study_id = ? GROUP BY 1, 2``. Both are the median of 5
runs, each in a fresh session inside an app context of ``elicit.create_app``, after one warm-up run.

Check: the dashboard must not load response rows. Every statement it issues is recorded by an
``after_cursor_execute`` listener and replayed afterwards to count the rows it returned; the total must stay
below 5% of N (it is about a hundred: a few GROUP BYs of a few dozen groups each). A failed check prints a FAIL
line and marks the row ``ok = False``. Sizes: 100,000 (``--quick``: 10,000). SQLite always; PostgreSQL too when
it answers at 127.0.0.1:5432 (a scratch database ``elicit_bench_dash_<random>``, dropped afterwards).
"""

from __future__ import annotations

import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import POSTGRES_ADMIN, postgres_reachable

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "instruments" / "defence-diplomacy" / "1.0.0.yaml"
SLUG = "bench-dashboard"
BATCH = 5_000
RUNS = 5
ROW_SHARE = 0.05  # the dashboard's queries may return at most this share of N rows in all
FLOOR_SQL = (
    "SELECT cohort_id, status, count(*) FROM responses WHERE study_id = :study GROUP BY cohort_id, status"
)


# --------------------------------------------------------------------------------------------- databases


@contextmanager
def scratch_database(backend: str, folder: Path) -> Iterator[str]:
    """An empty, migrated database (a SQLite file, or a PostgreSQL database dropped afterwards); its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from elicit.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{folder / 'dashboard.db'}"
        upgrade(url)
        yield url
        return
    name = f"elicit_bench_dash_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill(url: str, n: int) -> int:
    """Publish the flagship, create the study, bulk-insert N invitations + responses; the study's id."""
    from sqlalchemy import insert, text
    from sqlalchemy.orm import Session

    from elicit.db import make_engine
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.models import Invitation, Response
    from elicit.studies import create_study

    definition = load_file(FLAGSHIP)
    pages = [page.id for page in definition.pages]
    engine = make_engine(url)
    with Session(engine) as session:
        version, _ = publish_version(session, definition, "bench")
        study = create_study(session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        study_id, round_id, version_id = study.id, study.rounds[0].id, version.id
        cohort_ids = [c.id for c in study.cohorts]
        session.commit()

    rng = random.Random(3)  # noqa: S311 - synthetic data
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    invitations: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for index in range(1, n + 1):
            draw = rng.random()
            status = "submitted" if draw < 0.65 else "in_progress" if draw < 0.9 else "declined"
            cohort = cohort_ids[index % 2]
            submitted_on: date | None = None
            duration = None
            done = ""
            if status == "submitted":
                submitted_on = today - timedelta(days=rng.randrange(30))
                duration = rng.randint(5, 60)
                done = " ".join(pages)
            elif status == "in_progress":
                done = " ".join(pages[: rng.randrange(len(pages))])
            invitations.append(
                {
                    "id": index,
                    "study_id": study_id,
                    "cohort_id": cohort,
                    "token_hash": f"{index:064x}",
                    "status": status,
                    "created_at": now,
                }
            )
            responses.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
                    "invitation_id": index,
                    "study_id": study_id,
                    "round_id": round_id,
                    "cohort_id": cohort,
                    "instrument_version_id": version_id,
                    "language": "en",
                    "status": status,
                    "pages_done": done,
                    "started_at": now,
                    "updated_at": now,
                    "submitted_on": submitted_on,
                    "duration_minutes": duration,
                }
            )
            if len(responses) == BATCH or index == n:
                conn.execute(insert(Invitation.__table__), invitations)
                conn.execute(insert(Response.__table__), responses)
                invitations, responses = [], []
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return study_id


# --------------------------------------------------------------------------------------------- measurements


def measure(url: str, study_id: int) -> dict[str, Any]:
    """Median dashboard and floor times; the statements the dashboard issued and the rows they return."""
    from sqlalchemy import event, text

    from elicit import create_app
    from elicit.db import db
    from elicit.models import Study
    from elicit.studio import dashboard

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True})
    try:
        with app.app_context():
            engine = db.engine

            def dashboard_once() -> Any:
                with db.transaction() as session:
                    study = session.get(Study, study_id)
                    started = time.perf_counter()
                    built = dashboard.build(session, study)
                    elapsed = time.perf_counter() - started
                assert built.total.invited.value > 0
                return elapsed

            def floor_once() -> float:
                with db.transaction() as session:
                    started = time.perf_counter()
                    rows = session.execute(text(FLOOR_SQL), {"study": study_id}).all()
                    elapsed = time.perf_counter() - started
                assert rows
                return elapsed

            def timed_median(function: Callable[[], float]) -> float:
                function()  # warm-up
                return statistics.median(function() for _ in range(RUNS))

            floor_seconds = timed_median(floor_once)
            dashboard_seconds = timed_median(dashboard_once)

            statements: list[tuple[str, Any]] = []

            def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool):
                if not many and statement.lstrip().upper().startswith("SELECT"):
                    statements.append((statement, parameters))

            with db.transaction() as session:
                study = session.get(Study, study_id)
                event.listen(engine, "after_cursor_execute", record)
                try:
                    dashboard.build(session, study)
                finally:
                    event.remove(engine, "after_cursor_execute", record)
            counts = []
            with engine.connect() as conn:
                for statement, parameters in statements:
                    counts.append(len(conn.exec_driver_sql(statement, parameters).all()))
    finally:
        app.extensions["elicit.db"][0].dispose()
    return {
        "floor": floor_seconds,
        "dashboard": dashboard_seconds,
        "queries": len(counts),
        "rows": sum(counts),
        "largest": max(counts, default=0),
    }


def run(quick: bool) -> list[dict[str, Any]]:
    n = 10_000 if quick else 100_000
    backends = ["sqlite"] + (["postgresql"] if postgres_reachable() else [])
    rows: list[dict[str, Any]] = []
    for backend in backends:
        folder = Path(tempfile.mkdtemp(prefix="elicit-bench-dash-"))
        try:
            with scratch_database(backend, folder) as url:
                started = time.perf_counter()
                study_id = fill(url, n)
                filled = time.perf_counter() - started
                result = measure(url, study_id)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        limit = int(n * ROW_SHARE)
        ok = result["rows"] < limit
        if not ok:
            print(
                f"FAIL dashboard ({backend}, {n:,} responses): its {result['queries']} queries returned "
                f"{result['rows']:,} rows (largest {result['largest']:,}); limit {limit:,}: it loads per-response rows",
                flush=True,
            )
        rows.append(
            {
                "backend": backend,
                "responses": n,
                "case": "floor: one GROUP BY cohort, status",
                "ms": 1000 * result["floor"],
                "vs_floor": 1.0,
                "note": f"{n:,} invitations + responses inserted in {filled:.0f} s",
            }
        )
        rows.append(
            {
                "backend": backend,
                "responses": n,
                "case": "dashboard.build",
                "ms": 1000 * result["dashboard"],
                "vs_floor": result["dashboard"] / result["floor"],
                "queries": result["queries"],
                "rows_fetched": result["rows"],
                "target": f"rows < {limit:,}",
                "ok": ok,
                "note": f"median of {RUNS}; largest query {result['largest']} rows",
            }
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from bench.__main__ import table

    print(table(run("--quick" in sys.argv)))
