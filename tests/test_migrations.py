"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from elicit.db import Base


def test_autogenerate_against_head_finds_nothing(database_url: str) -> None:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


# ----------------------------------------------------------------------------------- 0004: unlinkable responses
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import text  # noqa: E402

from elicit.migrate import upgrade  # noqa: E402
from elicit.tokens import token_hash  # noqa: E402
from tests.conftest import FLAGSHIP, make_test_app  # noqa: E402


def test_0004_rekeys_anonymous_responses_and_keeps_every_answer(blank_url: str, tmp_path: Path) -> None:
    """A study answered before 0004 loses its links but no answer, and its experts carry on where they were."""
    from elicit.db import db
    from elicit.instruments.loading import load_file
    from elicit.instruments.versions import publish_version
    from elicit.responding import flow

    upgrade(blank_url, "0003")
    app = make_test_app(blank_url, tmp_path)
    with app.app_context():
        version, _ = publish_version(db.session, load_file(FLAGSHIP), "test")
        db.session.commit()
    engine = app.extensions["elicit.db"][0]
    with engine.begin() as conn:  # the studies as 0003 stored them (today's models have later columns)
        ids = {
            slug: _study_at_0003(conn, number, slug, anonymity, version.id)
            for number, (slug, anonymity) in enumerate((("anon", "anonymous"), ("pseudo", "pseudonymous")), 1)
        }
    rows = [  # slug, token, invitation status, response status, response still linked
        ("anon", "A" * 32, "in_progress", "in_progress", True),
        ("anon", "B" * 32, "submitted", "submitted", False),
        ("pseudo", "C" * 32, "in_progress", "in_progress", True),
    ]
    with engine.begin() as conn:
        for number, (slug, token, inv_status, resp_status, linked) in enumerate(rows, start=1):
            study_id, cohort_id, round_id = ids[slug]
            conn.execute(
                text(
                    "INSERT INTO invitations (id, study_id, cohort_id, token_hash, status, created_at) "
                    "VALUES (:id, :s, :c, :h, :st, CURRENT_TIMESTAMP)"
                ),
                {"id": number, "s": study_id, "c": cohort_id, "h": token_hash(token), "st": inv_status},
            )
            conn.execute(
                text(
                    "INSERT INTO responses (id, invitation_id, study_id, round_id, cohort_id, "
                    "instrument_version_id, language, status, pages_done, started_at, updated_at) VALUES "
                    "(:id, :inv, :s, :r, :c, :v, 'en', :st, 'consent', :t, :t)"
                ),
                {
                    "id": f"old{number}",
                    "inv": number if linked else None,
                    "s": study_id,
                    "r": round_id,
                    "c": cohort_id,
                    "v": version.id,
                    "st": resp_status,
                    "t": "2026-11-30 14:37:12.123456",
                },
            )
            conn.execute(
                text(
                    "INSERT INTO answers (response_id, item_id, part, value_text, dont_know) "
                    "VALUES (:id, 'consent', '', 'yes', false)"
                ),
                {"id": f"old{number}"},
            )
    engine.dispose()
    notes: list[str] = []
    assert upgrade(blank_url, secret="test-secret-key", notes=notes) != "0003"
    assert notes and "re-keyed" in notes[0] and "1 in-progress anonymous" in notes[0]

    app = make_test_app(blank_url, tmp_path)
    with app.app_context():
        conn = db.session.connection()
        stored = conn.execute(
            text("SELECT id, invitation_id, lookup_key, status, started_at FROM responses ORDER BY status")
        ).all()
        assert len(stored) == 3 and conn.execute(text("SELECT count(*) FROM answers")).scalar() == 3
        by_id = {r.id: r for r in stored}
        assert "old1" not in by_id and "old2" not in by_id  # anonymous responses were renamed
        assert by_id["old3"].invitation_id == 3  # pseudonymous: linked by design, untouched
        anonymous = [r for r in stored if r.id != "old3"]
        assert all(r.invitation_id is None for r in anonymous)
        assert all(str(r.started_at)[11:19] in {"00:00:00", ""} for r in anonymous)
        statuses = dict(conn.execute(text("SELECT id, status FROM invitations")).all())
        assert statuses == {1: "not_opened", 2: "submitted", 3: "in_progress"}

        link = flow.open_by_token(db.session, "A" * 32, secret="test-secret-key")
        assert link.response is not None and link.answers == {"consent": "yes"}
        assert flow.open_by_token(db.session, "B" * 32, secret="test-secret-key").submitted
        assert flow.open_by_token(db.session, "C" * 32, secret="test-secret-key").answers == {
            "consent": "yes"
        }
    app.extensions["elicit.db"][0].dispose()


def _study_at_0003(
    conn: Any, number: int, slug: str, anonymity: str, version_id: int
) -> tuple[int, int, int]:
    """A study with one cohort (UK) and an open first round, inserted with the columns of schema 0003."""
    conn.execute(
        text(
            "INSERT INTO studies (id, slug, title, anonymity, status, k_threshold, pseudonym_key, created_at) "
            "VALUES (:n, :slug, :slug, :anonymity, 'open', 5, :key, CURRENT_TIMESTAMP)"
        ),
        {"n": number, "slug": slug, "anonymity": anonymity, "key": f"{number:064d}"},
    )
    conn.execute(
        text("INSERT INTO cohorts (id, study_id, code, label) VALUES (:n, :n, 'UK', 'United Kingdom')"),
        {"n": number},
    )
    conn.execute(
        text(
            "INSERT INTO rounds (id, study_id, number, instrument_version_id, status, opened_at) "
            "VALUES (:n, :n, 1, :v, 'open', CURRENT_TIMESTAMP)"
        ),
        {"n": number, "v": version_id},
    )
    return number, number, number
