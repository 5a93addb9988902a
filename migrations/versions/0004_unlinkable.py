"""unlinkable anonymous responses: keyed lookup, finish marks, no insertion-ordered ids

Anonymous responses stop carrying ``invitation_id`` at any time: each is found by ``lookup_key`` (an HMAC under
the server's secret of the round and the invitation's new random ``response_seed``). Existing anonymous
responses get new random ids (so a backup taken before this migration cannot be joined on the id), in-progress
ones are re-keyed so their experts continue where they were, and their times become dates. Answers and notes
lose their insertion-ordered integer ids; on SQLite these tables and ``responses`` are stored WITHOUT ROWID.
Anonymous invitations that said "in progress" now say "not opened" (the studio no longer learns who opened).

Backups, replicas and WAL files made before this migration still hold the old links: destroy them.
``elicit init`` runs VACUUM on SQLite afterwards so the database file itself keeps no old page.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from elicit.responding.unlinking import response_key

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

STATUSES_BEFORE = "'not_opened', 'in_progress', 'submitted', 'declined', 'revoked'"
STATUSES_AFTER = "'not_opened', 'in_progress', 'submitted', 'declined', 'revoked', 'finished'"
NO_ROWID = {"sqlite_with_rowid": False}

RESPONSE_COLUMNS = (
    "id",
    "invitation_id",
    "lookup_key",
    "study_id",
    "round_id",
    "cohort_id",
    "instrument_version_id",
    "language",
    "status",
    "pseudonym",
    "pages_done",
    "started_at",
    "updated_at",
    "submitted_on",
    "duration_minutes",
)


def _say(message: str) -> None:
    """Tell the operator what was done (``elicit init`` prints these lines)."""
    log.info(message)
    context.config.attributes.setdefault("notes", []).append(message)


def _day(value: datetime) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _response_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("lookup_key", sa.String(length=64), nullable=True),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("instrument_version_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=True),
        sa.Column("pages_done", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
    ]


def _responses_table(name: str, *, before: bool = False) -> sa.Table:
    columns = [c for c in _response_columns() if not (before and c.name == "lookup_key")]
    return sa.Table(name, sa.MetaData(), *columns)


def upgrade() -> None:
    bind = op.get_bind()
    secret = context.config.attributes.get("secret_key")

    # 1. Invitations: a response seed each (every row is written, so this transaction joins nothing), the new
    #    status, and anonymous invitations forget "in progress".
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_seed", sa.String(length=32), nullable=True))
    invitations = sa.table(
        "invitations", sa.column("id", sa.Integer), sa.column("response_seed"), sa.column("status")
    )
    ids = [row[0] for row in bind.execute(sa.select(invitations.c.id))]
    for invitation_id in ids:
        bind.execute(
            invitations.update()
            .where(invitations.c.id == invitation_id)
            .values(response_seed=secrets.token_hex(16))
        )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.alter_column("response_seed", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint(batch_op.f("ck_invitations_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({STATUSES_AFTER})")
    forgotten = bind.execute(
        sa.text(
            "UPDATE invitations SET status = 'not_opened' WHERE status = 'in_progress' AND study_id IN "
            "(SELECT id FROM studies WHERE anonymity = 'anonymous')"
        )
    ).rowcount

    # 2. Responses, re-keyed into a staging table in random-id order.
    old = _responses_table("responses", before=True)
    seeds = sa.table("invitations", sa.column("id", sa.Integer), sa.column("response_seed"))
    studies = sa.table("studies", sa.column("id", sa.Integer), sa.column("anonymity"))
    query = (
        sa.select(old, studies.c.anonymity, seeds.c.response_seed)
        .join(studies, studies.c.id == old.c.study_id)
        .outerjoin(seeds, seeds.c.id == old.c.invitation_id)
    )
    staged: list[dict[str, Any]] = []
    id_map: list[dict[str, str]] = []
    rekeyed = renamed = 0
    for row in bind.execute(query).mappings():
        values = {name: row[name] for name in RESPONSE_COLUMNS if name != "lookup_key"}
        values["lookup_key"] = None
        if row["anonymity"] == "anonymous":
            values["id"] = uuid.uuid4().hex
            values["started_at"], values["updated_at"] = _day(row["started_at"]), _day(row["updated_at"])
            renamed += 1
            if row["invitation_id"] is not None:
                if not secret:
                    raise RuntimeError(
                        "migration 0004 needs the server's secret key to re-key in-progress anonymous "
                        "responses: run it through `elicit init` with ELICIT_SECRET_KEY (or instance/secret_key)"
                    )
                values["lookup_key"] = response_key(secret, row["round_id"], row["response_seed"])
                values["invitation_id"] = None
                rekeyed += 1
        staged.append(values)
        id_map.append({"old_id": row["id"], "new_id": values["id"]})
    staged.sort(key=lambda v: v["id"])

    staging = _responses_table("_m_responses")
    staging.create(bind)
    ids_table = sa.Table(
        "_m_ids", sa.MetaData(), sa.Column("old_id", sa.String(32)), sa.Column("new_id", sa.String(32))
    )
    ids_table.create(bind)
    if staged:
        bind.execute(staging.insert(), staged)
        bind.execute(ids_table.insert(), id_map)
    bind.execute(
        sa.text(
            "CREATE TABLE _m_answers AS SELECT m.new_id AS response_id, t.item_id, t.part, t.value_num, "
            "t.value_text, t.dont_know FROM answers t JOIN _m_ids m ON m.old_id = t.response_id"
        )
    )
    bind.execute(
        sa.text(
            "CREATE TABLE _m_answer_notes AS SELECT m.new_id AS response_id, t.item_id, t.confidence, "
            "t.rationale FROM answer_notes t JOIN _m_ids m ON m.old_id = t.response_id"
        )
    )

    # 3. New tables with their final names and constraints, filled in key order.
    op.drop_table("answer_notes")
    op.drop_table("answers")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_study_status")
        batch_op.drop_index(batch_op.f("ix_responses_round_id"))
    op.drop_table("responses")
    op.create_table(
        "responses",
        *_response_columns(),
        sa.CheckConstraint(
            "status IN ('in_progress', 'submitted', 'declined')", name=op.f("ck_responses_status")
        ),
        sa.CheckConstraint("invitation_id IS NULL OR lookup_key IS NULL", name=op.f("ck_responses_one_link")),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_responses_cohort_id_cohorts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["instrument_version_id"],
            ["instrument_versions.id"],
            name=op.f("fk_responses_instrument_version_id_instrument_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_responses_invitation_id_invitations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_responses_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_responses_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
        sa.UniqueConstraint("invitation_id", "round_id", name=op.f("uq_responses_invitation_id")),
        sa.UniqueConstraint("lookup_key", name=op.f("uq_responses_lookup_key")),
        **NO_ROWID,
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_responses_round_id"), ["round_id"], unique=False)
        batch_op.create_index("ix_responses_study_status", ["study_id", "status"], unique=False)
    op.create_table(
        "answers",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("part", sa.String(length=64), nullable=False),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.Column("dont_know", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_answers_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "item_id", "part", name=op.f("pk_answers")),
        **NO_ROWID,
    )
    op.create_table(
        "answer_notes",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 1 AND confidence <= 5)",
            name=op.f("ck_answer_notes_confidence"),
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_answer_notes_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "item_id", name=op.f("pk_answer_notes")),
        **NO_ROWID,
    )
    bind.execute(
        sa.insert(_responses_table("responses")).from_select(
            RESPONSE_COLUMNS, sa.select(*staging.c).order_by(staging.c.id)
        )
    )
    bind.execute(
        sa.text(
            "INSERT INTO answers (response_id, item_id, part, value_num, value_text, dont_know) "
            "SELECT response_id, item_id, part, value_num, value_text, dont_know FROM _m_answers "
            "ORDER BY response_id, item_id, part"
        )
    )
    bind.execute(
        sa.text(
            "INSERT INTO answer_notes (response_id, item_id, confidence, rationale) "
            "SELECT response_id, item_id, confidence, rationale FROM _m_answer_notes ORDER BY response_id, item_id"
        )
    )
    for name in ("_m_answer_notes", "_m_answers", "_m_ids", "_m_responses"):
        op.drop_table(name)

    op.create_table(
        "finish_marks",
        sa.Column("mark", sa.String(length=64), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_finish_marks_cohort_id_cohorts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_finish_marks_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_finish_marks_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("mark", name=op.f("pk_finish_marks")),
        **NO_ROWID,
    )
    with op.batch_alter_table("finish_marks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finish_marks_study_id"), ["study_id"], unique=False)

    if ids or staged:
        _say(
            f"0004: {len(ids)} invitation(s) got a response seed; {renamed} anonymous response(s) got new random "
            f"ids and date-only times; {rekeyed} in-progress anonymous response(s) were re-keyed and no longer "
            f"name their invitation; {forgotten} anonymous invitation(s) no longer say 'in progress'. "
            "Backups and replicas made before this migration still hold the old links: destroy them."
        )


def downgrade() -> None:
    raise RuntimeError(
        "migration 0004 cannot be undone: restoring the links between anonymous responses and invitations "
        "would undo the anonymity it gives (restore a backup taken before it instead)"
    )
