"""Export at scale: N submitted responses x 60 items, exported to CSV and Parquet by ``build_export``.

The floor, measured in the same run on the same database: pandas reading the answers table with one SQL query
(``pd.read_sql``) and pivoting it to one row per response (``unstack``), which is the least any export must do.
Each measurement runs in its own process, which reports its own peak RSS, so one run cannot inflate another's.

Targets: export time <= 1.5 x the floor's, and peak RSS at the large size <= 1.3 x that at the small size (the
export streams: memory must not grow with the study). Sizes: 25,000 and 100,000 responses (``--quick``: 2,500
and 10,000). SQLite always; PostgreSQL too when it answers at 127.0.0.1:5432 (database ``elicit_bench``, created
and dropped here).
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bench import POSTGRES_ADMIN, postgres_reachable

ROOT = Path(__file__).resolve().parents[1]
SLUG = "bench-export"
LIKERT = 57  # + state, years, comment = 60 items, 60 answer rows per response
TIME_TARGET = 1.5
RSS_TARGET = 1.3
POSTGRES_DB = "elicit_bench"


def instrument_yaml() -> str:
    items = [
        "      - {id: state, type: single_choice, text: State, privacy: quasi_identifier,"
        " choices: {UK: United Kingdom, PK: Pakistan}}",
        "      - {id: years, type: integer, text: Years, min: 0, max: 60,"
        " privacy: {quasi_identifier: {bins: [0, 5, 10, 20, 30, 60]}}}",
        "      - {id: comment, type: text, text: Comment, privacy: free_text}",
    ]
    items += [
        f'      - {{id: q{i:03d}, type: likert, choices: agree5, text: "Statement {i}"}}'
        for i in range(LIKERT)
    ]
    return "\n".join(
        [
            "id: bench-instrument",
            "version: 1.0.0",
            "languages: [en]",
            "title: Benchmark instrument",
            "choice_sets:",
            "  agree5: {1: Strongly disagree, 2: Disagree, 3: Neither, 4: Agree, 5: Strongly agree}",
            "pages:",
            "  - id: all",
            "    items:",
            *items,
        ]
    )


# --------------------------------------------------------------------------------------------- the database


def fresh_database(backend: str, folder: Path) -> str:
    """An empty, migrated database; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from elicit.migrate import upgrade

    if backend == "sqlite":
        path = folder / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{POSTGRES_DB}"'))
        admin.dispose()
        url = make_url(POSTGRES_ADMIN).set(database=POSTGRES_DB).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_postgres() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{POSTGRES_DB}" WITH (FORCE)'))
    admin.dispose()


def create_study(url: str) -> dict[str, int]:
    """Publish the instrument and make the study through the domain functions; the ids bulk inserts need."""
    from sqlalchemy.orm import Session

    from elicit.db import make_engine
    from elicit.instruments.loading import load_text
    from elicit.instruments.versions import publish_version
    from elicit.studies import create_study as make_study

    engine = make_engine(url)
    with Session(engine) as session:
        version, _ = publish_version(session, load_text(instrument_yaml(), "bench"), "bench")
        study = make_study(session, SLUG, version, [("UK", "United Kingdom"), ("PK", "Pakistan")])
        ids = {
            "study": study.id,
            "round": study.rounds[0].id,
            "version": version.id,
            "UK": study.cohorts[0].id,
            "PK": study.cohorts[1].id,
        }
        session.commit()
    engine.dispose()
    return ids


def generate(
    n: int, ids: dict[str, int], seed: int = 7
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Submitted responses and their answers, 2,000 responses at a time."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    when = datetime(2026, 3, 1, 0, 0, 0)
    day = date(2026, 3, 1)
    responses: list[tuple[Any, ...]] = []
    answers: list[tuple[Any, ...]] = []
    for index in range(n):
        response_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        cohort = "UK" if index % 2 else "PK"
        responses.append(
            (
                response_id,
                ids["study"],
                ids["round"],
                ids[cohort],
                ids["version"],
                "en",
                "submitted",
                "all",
                when,
                when,
                day,
                12,
            )
        )
        answers.append((response_id, "state", "", None, cohort, False))
        answers.append((response_id, "years", "", float(rng.randint(0, 60)), None, False))
        answers.append(
            (response_id, "comment", "", None, "Budgets are tight; the benefits are long term.", False)
        )
        answers += [
            (response_id, f"q{i:03d}", "", float(rng.randint(1, 5)), None, False) for i in range(LIKERT)
        ]
        if len(responses) == 2000:
            yield responses, answers
            responses, answers = [], []
    if responses:
        yield responses, answers


RESPONSE_COLUMNS = (
    "id, study_id, round_id, cohort_id, instrument_version_id, language, status, pages_done, started_at, "
    "updated_at, submitted_on, duration_minutes"
)
ANSWER_COLUMNS = "response_id, item_id, part, value_num, value_text, dont_know"


def fill(url: str, n: int) -> None:
    """Bulk-insert ``n`` responses x 60 answers (executemany on SQLite, COPY on PostgreSQL)."""
    ids = create_study(url)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA synchronous=OFF")
        with conn:
            for responses, answers in generate(n, ids):
                conn.executemany(
                    f"INSERT INTO responses ({RESPONSE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
                    [(*r[:8], str(r[8]), str(r[9]), r[10].isoformat(), r[11]) for r in responses],
                )
                conn.executemany(
                    f"INSERT INTO answers ({ANSWER_COLUMNS}) VALUES (?,?,?,?,?,?)",  # noqa: S608
                    [(*a[:5], int(a[5])) for a in answers],
                )
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        for responses, answers in generate(n, ids):
            with cursor.copy(f"COPY responses ({RESPONSE_COLUMNS}) FROM STDIN") as copy:
                for row in responses:
                    copy.write_row(row)
            with cursor.copy(f"COPY answers ({ANSWER_COLUMNS}) FROM STDIN") as copy:
                for row in answers:
                    copy.write_row(row)
        conn.commit()
        cursor.execute("ANALYZE")


# --------------------------------------------------------------------------------------------- measurements


def child(mode: str, url: str) -> dict[str, float]:
    """Run one measurement in a fresh interpreter; it reports its time and its own peak RSS."""
    result = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench.bench_export", "--child", mode, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {mode} failed:\n{result.stderr[-3000:]}")
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure_floor(url: str) -> dict[str, float]:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql("SELECT response_id, item_id, part, value_num, value_text FROM answers", conn)
    wide = frame.set_index(["response_id", "item_id", "part"])[["value_num", "value_text"]].unstack(
        ["item_id", "part"]
    )
    seconds = time.perf_counter() - started
    assert len(wide) > 0
    engine.dispose()
    return {"seconds": seconds, "rss_mb": _peak_rss_mb()}


def measure_export(url: str, fmt: str) -> dict[str, float]:
    from sqlalchemy import select

    from elicit import create_app
    from elicit.db import db
    from elicit.exporting import build_export
    from elicit.models import Study

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": True})
    scratch = Path(tempfile.mkdtemp(prefix="elicit-bench-"))
    try:
        with app.app_context():
            with db.transaction() as session:
                study = session.scalar(select(Study).where(Study.slug == SLUG))
            started = time.perf_counter()
            with db.transaction() as session:
                manifest = build_export(session, study, fmt, scratch / "out", actor="bench")
            seconds = time.perf_counter() - started
        assert manifest["counts"]["rows"] > 0
        size = sum(p.stat().st_size for p in (scratch / "out").iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        app.extensions["elicit.db"][0].dispose()
    return {"seconds": seconds, "rss_mb": _peak_rss_mb(), "mb_written": size / 1e6}


def run(quick: bool) -> list[dict[str, Any]]:
    """Floor, CSV and Parquet at two sizes, on SQLite (and PostgreSQL when reachable)."""
    sizes = (2_500, 10_000) if quick else (25_000, 100_000)
    backends = ["sqlite"] + (["postgresql"] if postgres_reachable() else [])
    rows: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="elicit-bench-db-"))
    try:
        for backend in backends:
            peaks: dict[tuple[str, int], float] = {}
            for n in sizes:
                url = fresh_database(backend, folder)
                started = time.perf_counter()
                fill(url, n)
                filled = time.perf_counter() - started
                floor = child("floor", url)
                rows.append(
                    {
                        "backend": backend,
                        "responses": n,
                        "case": "floor: read_sql + unstack",
                        "seconds": floor["seconds"],
                        "peak_rss_mb": floor["rss_mb"],
                        "vs_floor": 1.0,
                        "note": f"{n * 60:,} answers inserted in {filled:.0f} s",
                    }
                )
                for fmt in ("csv", "parquet"):
                    result = child(fmt, url)
                    ratio = result["seconds"] / floor["seconds"]
                    peaks[(fmt, n)] = result["rss_mb"]
                    rows.append(
                        {
                            "backend": backend,
                            "responses": n,
                            "case": f"build_export {fmt}",
                            "seconds": result["seconds"],
                            "peak_rss_mb": result["rss_mb"],
                            "vs_floor": ratio,
                            "target": f"<= {TIME_TARGET}",
                            "ok": ratio <= TIME_TARGET,
                            "note": f"{result['mb_written']:.0f} MB written",
                        }
                    )
            small, large = sizes
            for fmt in ("csv", "parquet"):
                ratio = peaks[(fmt, large)] / peaks[(fmt, small)]
                rows.append(
                    {
                        "backend": backend,
                        "responses": large,
                        "case": f"peak RSS {fmt}: {large:,} / {small:,}",
                        "vs_floor": None,
                        "ratio": ratio,
                        "target": f"<= {RSS_TARGET}",
                        "ok": ratio <= RSS_TARGET,
                    }
                )
            if backend == "postgresql":
                drop_postgres()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    mode, url = sys.argv[2], sys.argv[3]
    measured = measure_floor(url) if mode == "floor" else measure_export(url, mode)
    print(json.dumps(measured))
