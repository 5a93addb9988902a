"""mail jobs: e-mailed links sent as a resumable batch, with a record of each message; links held sealed

Every link is stored before its message goes and every message's fate is kept on its item, so a batch cut short
by a timeout, a crash or a mail server failure says who was sent a link and who was not, and can be resumed.
``link_submissions.held`` keeps a submission's links sealed (with a key only the maker's browser holds) from the
POST that made them until the page after the redirect shows them once. ``settings`` records the fingerprint of
the secret key the database is used with (see ``elicit.keycheck``), written by ``elicit init``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_settings")),
    )
    with op.batch_alter_table("link_submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.LargeBinary(), nullable=True))
    op.create_table(
        "mail_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("what", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('invite', 'remind')", name=op.f("ck_mail_jobs_kind")),
        sa.CheckConstraint("status IN ('sending', 'stopped', 'done')", name=op.f("ck_mail_jobs_status")),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_mail_jobs_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_jobs")),
    )
    with op.batch_alter_table("mail_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_jobs_study_id"), ["study_id"], unique=False)

    op.create_table(
        "mail_job_items",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("roster_entry_id", sa.Integer(), nullable=True),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_mail_job_items_state"),
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_mail_job_items_invitation_id_invitations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["mail_jobs.id"], name=op.f("fk_mail_job_items_job_id_mail_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["roster_entry_id"],
            ["roster_entries.id"],
            name=op.f("fk_mail_job_items_roster_entry_id_roster_entries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_mail_job_items")),
    )
    with op.batch_alter_table("mail_job_items", schema=None) as batch_op:
        batch_op.create_index("ix_mail_job_items_job_state", ["job_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_table("settings")
    with op.batch_alter_table("link_submissions", schema=None) as batch_op:
        batch_op.drop_column("held")
    with op.batch_alter_table("mail_job_items", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_job_items_job_state")

    op.drop_table("mail_job_items")
    with op.batch_alter_table("mail_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_jobs_study_id"))

    op.drop_table("mail_jobs")
