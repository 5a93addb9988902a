"""delphi: feedback items per round, confidence and rationale per answer, seed realizations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consensus_max_iqr", sa.Float(), server_default="1.0", nullable=False))
        batch_op.add_column(
            sa.Column("consensus_min_agreement", sa.Float(), server_default="0.7", nullable=False)
        )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feedback_items", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "answer_notes",
        sa.Column("id", sa.Integer(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_notes")),
        sa.UniqueConstraint("response_id", "item_id", name=op.f("uq_answer_notes_response_id")),
    )

    op.create_table(
        "realizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_realizations_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realizations")),
        sa.UniqueConstraint("study_id", "item_id", name=op.f("uq_realizations_study_id")),
    )


def downgrade() -> None:
    op.drop_table("realizations")
    op.drop_table("answer_notes")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("feedback_items")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("consensus_min_agreement")
        batch_op.drop_column("consensus_max_iqr")
