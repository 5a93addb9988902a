"""Benchmarks that print ratios against a floor measured in the same run (``python -m bench [--quick] [name...]``).

Every module ``bench/bench_<name>.py`` exposes ``run(quick: bool) -> list[dict]``; each dict is one row of the
printed table, and the rows of every benchmark are written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import os

POSTGRES_ADMIN = os.environ.get(
    "ELICIT_BENCH_POSTGRES_URL",
    os.environ.get("ELICIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)


def postgres_reachable() -> bool:
    """Whether the PostgreSQL that benchmarks use answers (its half of a benchmark is skipped otherwise)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_ADMIN, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - unreachable in any way: the PostgreSQL half is skipped
        return False
    finally:
        engine.dispose()
