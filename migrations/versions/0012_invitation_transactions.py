"""invitations of an anonymous cohort share one transaction id (PostgreSQL)

PostgreSQL stamps each row version with the transaction that wrote it (``xmin``), and the transaction ids of a
cluster follow one another. An expert who opens their link the moment it is issued (or e-mailed, or reissued)
writes their first answers in the transaction next to the one that wrote their invitation, and a DBA reading the
system columns later can pair the two. From this revision, every transaction that inserts or updates an
invitation of an anonymous study also rewrites, at commit, every invitation of that cohort not yet confirmed
finished, so they all carry its id: the neighbour of a response's transaction is then the cohort's whole
anonymity set, never one person. Invitations confirmed finished keep the id of their confirmation, which covers
at least k of them.

The rewrite runs once per cohort and transaction (a transaction-local setting remembers it), skips rows another
transaction holds locked (so two studio transactions never wait on each other for it) and changes no value.
SQLite keeps no transaction id in its rows; nothing changes there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION elicit_cohort_shares_a_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'elicit.restamped_cohort_' || NEW.cohort_id;
BEGIN
    IF coalesce(current_setting(flag, true), '') = 'yes' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config(flag, 'yes', true);
    IF EXISTS (SELECT 1 FROM studies WHERE id = NEW.study_id AND anonymity = 'anonymous') THEN
        UPDATE invitations SET cohort_id = cohort_id
        WHERE id IN (
            SELECT id FROM invitations
            WHERE cohort_id = NEW.cohort_id AND status <> 'finished'
            ORDER BY id
            FOR UPDATE SKIP LOCKED
        );
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE CONSTRAINT TRIGGER cohort_shares_a_transaction
AFTER INSERT OR UPDATE ON invitations
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION elicit_cohort_shares_a_transaction()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)
    # the cohorts as they stand: one rewrite each, so no invitation keeps the id of a small batch from before
    op.execute(
        "UPDATE invitations SET cohort_id = cohort_id WHERE status <> 'finished' "
        "AND study_id IN (SELECT id FROM studies WHERE anonymity = 'anonymous')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS cohort_shares_a_transaction ON invitations")
    op.execute("DROP FUNCTION IF EXISTS elicit_cohort_shares_a_transaction()")
