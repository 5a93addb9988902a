"""invitation wording: the research team's contact on a study, its e-mails' wording per language

``studies`` gains ``team_name``, ``team_email`` and ``team_contact`` (empty by default): the team named in the
study's e-mails (the From name, Reply-To, the signature) and on the error pages of its links.
``invitation_templates`` holds a study's own subject and body of its invitations and reminders, one row per kind
and language (without a row the built-in wording is used). ``roster_entries.language`` is the language an
expert's e-mails are written in (empty: the instrument's first language).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_name", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("team_email", sa.String(length=254), server_default="", nullable=False))
        batch_op.add_column(sa.Column("team_contact", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("roster_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    op.create_table(
        "invitation_templates",
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('invite', 'remind')", name=op.f("ck_invitation_templates_kind")),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_invitation_templates_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("study_id", "kind", "language", name=op.f("pk_invitation_templates")),
    )


def downgrade() -> None:
    op.drop_table("invitation_templates")
    with op.batch_alter_table("roster_entries", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("team_contact")
        batch_op.drop_column("team_email")
        batch_op.drop_column("team_name")
