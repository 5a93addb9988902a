"""``elicit purge``, ``elicit erase`` and ``elicit subject-access``: retention, erasure and subject access.

The work is :mod:`elicit.lifecycle`'s; each command is one unit of work (all or nothing), then the database
files are compacted so deleted rows leave nothing behind (:func:`elicit.lifecycle.compact`). ``elicit restore``
calls :func:`after_restore`, which repeats the purges and erasures a restored (older) database does not show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from elicit.cli.base import ACTOR_CLI, fail, unit_of_work, with_database

commands = AppGroup()


def _outbox_for(slug: str) -> Path:
    from elicit.studio import mail

    return mail.outbox_folder(current_app.config, current_app.instance_path, slug)


def _ledger() -> Path:
    from elicit import lifecycle

    return lifecycle.ledger_path(current_app.instance_path)


def _compact(tables: set[str]) -> None:
    """Compact the database files after the commit; a failure is one line and exit 1 (the data is deleted)."""
    from elicit import lifecycle
    from elicit.db import db

    problem = lifecycle.compact(db.engine, tables)
    if problem is not None:
        fail(f"the data is deleted, but {problem}")


def _show_purge(report: Any) -> None:
    from elicit import lifecycle

    verb = "would delete" if report.dry_run else "deleted"
    click.echo(f"{report.study}: {verb} {lifecycle.describe(report.deleted)}")
    click.echo(f"{report.study}: kept {lifecycle.describe(report.kept)} (and the instrument versions)")
    if report.closed:
        click.echo(f"{report.study}: the study was open; it is closed now")


def _show_erasure(report: Any, email: str) -> None:
    from elicit import lifecycle

    verb = "would delete" if report.dry_run else "deleted"
    click.echo(
        f"{report.study}: roster entry {report.roster_entry} ({email}): {verb} {lifecycle.describe(report.deleted)}"
    )
    if report.deleted.get("held_links"):
        click.echo(
            f"{report.study}: links made in the last 15 minutes and not shown yet were wiped too; reissue them "
            "if they were not handed over"
        )
    if report.statement:
        click.echo(f"{report.study}: {report.statement}")


# ------------------------------------------------------------------------------------------------------- purge
@commands.command("purge")
@click.argument("slug", required=False)
@click.option("--dry-run", is_flag=True, help="say what would be deleted, and change nothing")
@click.option(
    "--now", "now", is_flag=True, help="purge SLUG before its retention date (the study must be closed)"
)
@click.option(
    "--reapply",
    is_flag=True,
    help="after restoring an older backup: also repeat the ledger's purges and erasures",
)
@with_database()
def purge_command(slug: str | None, dry_run: bool, now: bool, reapply: bool) -> None:
    """Purge the personal data of studies whose retention date has passed (for cron), or of SLUG.

    Deleted: the roster, the links' hashes and seeds, held links, the mail batches' recipients and errors,
    direct-identifier answers and the outbox. Kept: the answers (free text scrubbed as exports show it),
    counts, cohorts, rounds, the instrument and the audit log. Prints per study what it deleted and kept.
    """
    from elicit import lifecycle
    from elicit.models import Study
    from elicit.studies import find_study

    if now and slug is None:
        fail("--now needs the SLUG of the study to purge")
    if reapply and (slug is not None or dry_run):
        fail("--reapply repeats everything the ledger holds: give it without SLUG and --dry-run")
    if reapply:
        _reapply()
        return
    reports = []
    with unit_of_work() as session:
        if slug is None:
            studies = [session.get(Study, i) for i in lifecycle.due_study_ids(session)]
        else:
            study = find_study(session, slug)
            if study.purged_at is None and not now and study.id not in lifecycle.due_study_ids(session):
                kept = (
                    f"until {study.retain_until.isoformat()}"
                    if study.retain_until
                    else "(it has no retention date)"
                )
                fail(f"study {slug} is kept {kept}; give --now to purge it before that")
            studies = [study]
        for study in studies:
            assert study is not None  # nosec B101  # narrows the type: the ids were just read; not a security check
            reports.append(
                lifecycle.purge_study(
                    session,
                    study,
                    secret=current_app.config["SECRET_KEY"],
                    outbox=_outbox_for(study.slug),
                    actor=ACTOR_CLI,
                    dry_run=dry_run,
                    early=now and study.purged_at is None,
                )
            )
        if dry_run:
            session.rollback()
        else:
            for report in reports:
                lifecycle.record_purge(_ledger(), report)
    if not reports:
        click.echo("no study is due for purging")
        return
    for report in reports:
        _show_purge(report)
    if not dry_run:
        tables: set[str] = set().union(*(r.tables for r in reports))
        if slug is not None:  # asked for by name: rewrite every table a purge touches, also when run again
            tables |= lifecycle.LIFECYCLE_TABLES
        _compact(tables)


# ------------------------------------------------------------------------------------------------------- erase
@commands.command("erase")
@click.argument("email")
@click.option("--study", "slug", default=None, help="only the roster entry of this study")
@click.option("--yes", is_flag=True, help="do not ask before erasing")
@with_database()
def erase_command(email: str, slug: str | None, yes: bool) -> None:
    """Erase a participant: their roster entries (all studies, or --study), invitations, e-mails and outbox
    messages, and in pseudonymous studies their answers. Anonymous answers cannot be found, so they stay."""
    from elicit import lifecycle
    from elicit.studies import find_study

    secret = current_app.config["SECRET_KEY"]
    with unit_of_work() as session:
        if slug is not None:
            find_study(session, slug)  # an unknown study is one line, before anything else
        entries = lifecycle.find_entries(session, email, slug)
        if not entries:
            where = f"study {slug}'s roster" if slug else "any study's roster"
            fail(f"{email} is not on {where}; nothing was erased")
        if not yes:
            for entry in entries:
                plan = lifecycle.erase_entry(
                    session, entry, outbox=_outbox_for_entry(session, entry), actor="", dry_run=True
                )
                _show_erasure(plan, email)
            session.rollback()
            entries = lifecycle.find_entries(session, email, slug)
            if not click.confirm(
                f"Erase {len(entries)} roster entr{'y' if len(entries) == 1 else 'ies'}?", err=True
            ):
                fail("nothing was erased")
        reports = [
            lifecycle.erase_entry(
                session,
                entry,
                outbox=_outbox_for_entry(session, entry),
                actor=ACTOR_CLI,
                ledger=_ledger(),
                secret=secret,
            )
            for entry in entries
        ]
    for report in reports:
        _show_erasure(report, email)
    _compact(set().union(*(r.tables for r in reports)))


def _outbox_for_entry(session: Any, entry: Any) -> Path:
    from elicit.models import Study

    study = session.get(Study, entry.study_id)
    return _outbox_for(study.slug)


# ----------------------------------------------------------------------------------------------- subject access
@commands.command("subject-access")
@click.argument("email")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="JSON file to write (0600)"
)
@click.option("--study", "slug", default=None, help="only the roster entry of this study")
@click.option("--force", is_flag=True, help="replace FILE if it exists")
@with_database()
def subject_access_command(email: str, out: str, slug: str | None, force: bool) -> None:
    """Write everything held about a participant (a subject access request) to a private JSON file."""
    from elicit import lifecycle
    from elicit.studies import find_study

    path = Path(out).absolute()
    if not path.parent.is_dir():
        fail(f"folder {path.parent} does not exist")
    with unit_of_work() as session:
        if slug is not None:
            find_study(session, slug)
        entries = lifecycle.find_entries(session, email, slug)
        if not entries:
            where = f"study {slug}'s roster" if slug else "any study's roster"
            fail(f"{email} is not on {where}; nothing was written")
        document = lifecycle.subject_access(session, entries, _outbox_for, ACTOR_CLI)
        lifecycle.write_private_json(path, document, force=force)
    studies = ", ".join(entry["study"]["slug"] for entry in document["entries"])
    click.echo(
        f"wrote {path} (mode 0600): {len(entries)} roster entr{'y' if len(entries) == 1 else 'ies'} ({studies})"
    )


# ------------------------------------------------------------------------------------------------------ restore
def after_restore(revision: str | None, head: str | None, *, problems: bool = False) -> None:
    """After ``elicit restore``: purge the studies due and repeat the ledger's purges and erasures, or say
    loudly why it was not done (the restore found problems, or the schema is older than this Elicit's)."""
    held = "a backup holds the personal data it held when it was made"
    if problems:
        click.echo(
            f"elicit: warning: {held}, and the purges and erasures done since were not repeated because the "
            "restore found problems (below): once they are dealt with, run elicit purge --reapply",
            err=True,
        )
        return
    if revision is None or revision != head:
        click.echo(
            f"elicit: warning: {held}; run elicit init, then elicit purge --reapply, so the purges and erasures "
            "done since are done again",
            err=True,
        )
        return
    _reapply()


def _reapply() -> None:
    """Purge the studies due and repeat what the ledger holds that the database does not show."""
    from elicit import lifecycle

    with unit_of_work() as session:
        reports = lifecycle.reapply(
            session,
            secret=current_app.config["SECRET_KEY"],
            ledger=_ledger(),
            outbox_for=_outbox_for,
            actor=ACTOR_CLI,
        )
        for report in reports:
            if report.kind == "purge":
                lifecycle.record_purge(_ledger(), report)
    if not reports:
        click.echo("no purge or erasure to repeat: the database shows every one the ledger holds")
        return
    for report in reports:
        if report.kind == "purge":
            click.echo(
                f"{report.study}: purged again (its data was purged after this backup was made, or is due)"
            )
            _show_purge(report)
        else:
            click.echo(
                f"{report.study}: roster entry {report.roster_entry} erased again (it was erased after this backup "
                f"was made): deleted {lifecycle.describe(report.deleted)}"
            )
    _compact(set().union(*(r.tables for r in reports)))
