"""The server's own commands: ``init``, ``demo``, ``serve``, ``audit``, ``outbox``, ``backup`` and ``restore``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import DBAPIError

from elicit import config
from elicit.cli.base import (
    ACTOR_CLI,
    database_named,
    database_reason,
    fail,
    unit_of_work,
    with_database,
)

commands = AppGroup()


# ---------------------------------------------------------------------------------------------------------- init
@commands.command("init", with_appcontext=False)  # the app is made inside creating_secret_key
@config.creating_secret_key()
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database to the newest schema (the one command, with demo, that creates it).

    Without ELICIT_SECRET_KEY, the key file in the instance folder is created too if missing (never replaced).
    """
    url = current_app.config["DATABASE_URL"]
    revision = _create_or_upgrade(url)
    click.echo(f"database ready at revision {revision}: {database_named(url)}")


def _create_or_upgrade(url: str) -> str:
    """Create the database if it is missing and upgrade it to head; print the migrations' notes (and where a
    secret key was just created)."""
    from elicit.migrate import KeyMismatch, upgrade

    created = current_app.config.pop("SECRET_KEY_CREATED", None)
    audit_created = current_app.config.pop("AUDIT_KEY_CREATED", None)
    notes: list[str] = []
    try:
        revision = upgrade(url, secret=current_app.config["SECRET_KEY"], notes=notes)
    except KeyMismatch as exc:
        if audit_created:  # made just now as well: leave things as they were
            Path(audit_created).unlink(missing_ok=True)
        if (
            created
        ):  # a key made just now for a database that has one: take it back, leave things as they were
            Path(created).unlink(missing_ok=True)
            fail(
                f"the database at {database_named(url)} was made with another key, so {created} was not kept: {exc}"
            )
        fail(f"the database at {database_named(url)}: {exc}")
    except DBAPIError as exc:
        fail(f"cannot reach the database at {database_named(url)}: {database_reason(exc)}")
    except OSError as exc:  # the SQLite file's folder cannot be made
        fail(f"cannot create the database at {database_named(url)}: {exc.strerror}: {exc.filename}")
    if created:
        click.echo(
            f"created the secret key {created}: back it up with the database and keep it; anonymous answers "
            "cannot be found again without it"
        )
    if audit_created:
        click.echo(
            f"created the audit key {audit_created}: back it up apart from the database (your security officer "
            "may keep a copy); the audit log is checked with it"
        )
    for note in notes:
        click.echo(note)
    return revision


# ------------------------------------------------------------------------------------------------------- serving
@commands.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@with_database()
def serve(host: str, port: int) -> None:
    """Serve the app (threaded, for one machine; production uses gunicorn, see README)."""
    from werkzeug.serving import run_simple

    click.echo(f"Elicit is serving on http://{host}:{port}  (Ctrl-C to stop)")
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)  # type: ignore[attr-defined]


@commands.command("demo", with_appcontext=False)  # the app is made inside creating_secret_key
@click.option(
    "--responses",
    type=click.IntRange(0, 5000),
    default=12,
    show_default=True,
    help="simulated experts per cohort",
)
@click.option(
    "--links",
    type=click.IntRange(0, 50),
    default=3,
    show_default=True,
    help="fresh invitation links to print",
)
@click.option(
    "--instrument",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="instrument file a new demo study runs on (default: the flagship 1.0.0, which is published first)",
)
@config.creating_secret_key()
@with_appcontext
def demo(responses: int, links: int, instrument: Path | None) -> None:
    """A ready demo study on the flagship instrument, with simulated experts and a researcher login.

    Like init, demo creates (or upgrades) the database, and the secret key file if there is no key, first; its
    links are printed only once committed.
    """
    from elicit.demo import FLAGSHIP, ensure_demo

    _create_or_upgrade(current_app.config["DATABASE_URL"])
    with unit_of_work() as session:
        result = ensure_demo(
            session,
            current_app.config,
            Path(current_app.instance_path),
            responses=responses,
            links=links,
            instrument=instrument or FLAGSHIP,
        )
    for line in result:
        click.echo(line)


# ----------------------------------------------------------------------------------------------------------- audit
@commands.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--anchor",
    "anchor_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="another file of anchor lines: a copy of the anchor file, a syslog file, a backup's FILE.anchor",
)
@click.option(
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(path_type=Path),
    help="an export's manifest.json, its folder or its zip, whose audit head is compared too",
)
@click.option("--no-key", is_flag=True, help="without the audit key, check the structure only (not the MACs)")
@with_database()
def audit_verify(anchor_files: tuple[Path, ...], manifests: tuple[Path, ...], no_key: bool) -> None:
    """Check the keyed chain and compare it with every anchor (the anchor file, and those given); exit 1 at an
    edited, inserted, reordered or forged event, or a log trimmed, wiped or rewritten."""
    from elicit import audit

    key = _audit_key()
    with unit_of_work() as session:
        result = audit.check(
            session,
            key,
            anchor_file=current_app.config.get("AUDIT_ANCHOR"),
            files=anchor_files,
            manifests=manifests,
        )
    if key is None and result.needs_key and not no_key:
        fail(
            f"cannot check the audit log's MACs: {audit.missing_key()}; put the key back (a security officer "
            "may hold a copy), or give --no-key for the structural checks only"
        )
    for warning in result.warnings:
        click.echo(f"elicit: warning: {warning}", err=True)
    for problem in result.problems[:-1]:
        click.echo(f"elicit: error: {problem}", err=True)
    if result.problems:
        fail(result.problems[-1])
    checked = f"{result.events} event(s), checked against {result.anchors} anchor(s)"
    if key is None and result.needs_key:
        click.echo(f"audit log structurally intact: {checked}; MACs not checked (no audit key)")
    else:
        click.echo(f"audit log intact: {checked}")


def _audit_key() -> str | None:
    """The audit key (never made here: a new key could only call every event forged), or one line and exit 1
    when its file cannot be read."""
    from elicit import audit

    try:
        return audit.current_key()
    except audit.AuditKeyError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------------------------------------------- outbox
@commands.group("outbox")
def outbox_group() -> None:
    """The outbox of a server without SMTP: messages that carry links in clear."""


@outbox_group.command("purge")
@click.argument("slug")
@with_database()
def outbox_purge(slug: str) -> None:
    """Delete every message in the study's outbox, once its links went out by hand."""
    from elicit import audit
    from elicit.studies import find_study
    from elicit.studio import mail

    with unit_of_work() as session:
        study = find_study(session, slug)
        folder = mail.outbox_folder(current_app.config, current_app.instance_path, study.slug)
        deleted = mail.purge_outbox(folder)
        audit.record(
            session, "outbox.purge", ACTOR_CLI, study_id=study.id, target=slug, details={"deleted": deleted}
        )
    click.echo(f"{deleted} message(s) deleted from the outbox of {slug}")


# --------------------------------------------------------------------------------------------------------- backups
@commands.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="backup file to write")
@with_database(migrated=False)
def backup_command(out: str) -> None:
    """A consistent copy of the database while Elicit runs (SQLite backup API, or pg_dump for PostgreSQL)."""
    from elicit import audit
    from elicit.audit_anchor import beside
    from elicit.backup import BackupError, backup, describe

    url = current_app.config["DATABASE_URL"]
    key = _audit_key()
    try:
        result = backup(url, Path(out), audit_key=key)
    except BackupError as exc:
        fail(str(exc))
    click.echo(f"backup of the {describe(url)} written to {result.path} ({result.size} bytes)")
    if result.audit_head is not None:
        click.echo(f"audit head ({result.audit_head.events} event(s)) written to {beside(result.path)}")
    elif key is None:
        click.echo(
            f"elicit: warning: {audit.missing_key()}: the backup carries no audit head, so a restore of it "
            "cannot tell whether its log was trimmed",
            err=True,
        )


@commands.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="replace a database that already holds data")
@with_appcontext
def restore_command(file: str, force: bool) -> None:
    """Replace the configured database with a backup, then check its schema revision and audit chain.

    Like init, restore may create the database (and its folder) it restores into.
    """
    from elicit import audit_anchor
    from elicit.backup import BackupError, describe, restore
    from elicit.db import sqlite_file

    url = current_app.config["DATABASE_URL"]
    path = sqlite_file(url)
    if path is not None and not path.exists():
        if not Path(file).is_file():
            fail(f"{file}: no such file")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        force = True  # no file, so no data that --force would protect
    key = _audit_key()
    try:
        anchors = current_app.config.get("AUDIT_ANCHOR")
        report = restore(url, Path(file), force=force, audit_key=key, anchor_file=anchors)
    except BackupError as exc:
        fail(str(exc))
    click.echo(f"restored {file} into the {describe(url)}")
    if report.revision is not None:
        state = "current" if report.revision == report.head else f"code is at {report.head}"
        click.echo(f"schema revision {report.revision} ({state})")
    if report.audit_events is not None and report.audit_ok:
        checked = f"{report.audit_events} event(s), checked against {report.audit_anchors} anchor(s)"
        click.echo(f"audit log intact: {checked}")
        if key is not None and report.audit_head is not None and audit_anchor.enabled(current_app.config):
            # From here the chain goes on from the restored head: the anchors of events the restore gave up
            # (recorded after the backup) must not count against it.
            audit_anchor.publish(current_app.config, key, report.audit_head, restored=True)
    for warning in report.warnings:
        click.echo(f"elicit: warning: {warning}", err=True)
    if report.counts:
        click.echo("counts: " + ", ".join(f"{name} {count}" for name, count in report.counts.items()))
    from elicit.cli.lifecycle import after_restore

    after_restore(report.revision, report.head, problems=bool(report.problems))  # purges and erasures since
    for problem in report.problems[:-1]:
        click.echo(f"elicit: error: {problem}", err=True)
    if report.problems:
        fail(report.problems[-1])
