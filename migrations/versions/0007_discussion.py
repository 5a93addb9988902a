"""discussion: IDEA's discussion step between rounds, and the reasons experts post in it

``discussions`` records which items a closed round's discussion is about and when it opened and closed;
``discussion_posts`` holds each posted reason with its author's response of the discussed round (random ids, no
rowid: the table does not keep the order posts were written in).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discussions",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_discussions_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_discussions")),
    )
    op.create_table(
        "discussion_posts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("response_id", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_discussion_posts_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_discussion_posts_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discussion_posts")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("discussion_posts", schema=None) as batch_op:
        batch_op.create_index("ix_discussion_posts_round_item", ["round_id", "item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_discussion_posts_response_id"), ["response_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("discussion_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_discussion_posts_response_id"))
        batch_op.drop_index("ix_discussion_posts_round_item")
    op.drop_table("discussion_posts")
    op.drop_table("discussions")
