"""drafts: a checked instrument file kept for preview before it is published

``instrument_drafts`` holds at most one draft per instrument id (the file as uploaded, its checked sha256 and
who uploaded it); a new upload of the same id replaces it and publishing deletes it. A draft makes no
``instrument_versions`` row, so no study can run on it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instrument_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=254), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_drafts")),
        sa.UniqueConstraint("key", name=op.f("uq_instrument_drafts_key")),
    )


def downgrade() -> None:
    op.drop_table("instrument_drafts")
