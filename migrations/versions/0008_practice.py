"""practice: the calibration-training page's answers, stored apart from the questionnaire's

``practice_records`` says whether an expert scored or skipped the practice page of a response; ``practice_answers``
holds the values of the practice questions, only to show the expert their score. No export, analysis or count
reads either table; neither keeps a time, and neither has a rowid (rows do not keep the order they were written).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "practice_records",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint("status IN ('scored', 'skipped')", name=op.f("ck_practice_records_status")),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_practice_records_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_practice_records")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "practice_answers",
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("part", sa.String(length=64), nullable=False),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_practice_answers_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("response_id", "item_id", "part", name=op.f("pk_practice_answers")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("practice_answers")
    op.drop_table("practice_records")
