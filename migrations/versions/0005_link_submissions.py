"""link submissions: each studio form submission that made links, so that posting it again makes nothing new

A row names one submission by the form's nonce (and keeps what it made, in counts; never a link), for 12 hours.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_link_submissions_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_link_submissions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_submissions")),
        sa.UniqueConstraint("study_id", "nonce", name=op.f("uq_link_submissions_study_id")),
    )
    with op.batch_alter_table("link_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_submissions_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_submissions_created_at"))
    op.drop_table("link_submissions")
