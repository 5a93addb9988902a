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
    notes: list[str] = []
    try:
        revision = upgrade(url, secret=current_app.config["SECRET_KEY"], notes=notes)
    except KeyMismatch as exc:
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
@with_database()
def audit_verify() -> None:
    """Check the hash chain; exit 1 at the first edited, deleted or reordered event."""
    from elicit import audit

    with unit_of_work() as session:
        count, problem = audit.verify(session)
    if problem is not None:
        fail(problem.message)
    click.echo(f"audit log intact: {count} event(s)")


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
    from elicit.backup import BackupError, backup, describe

    url = current_app.config["DATABASE_URL"]
    try:
        result = backup(url, Path(out))
    except BackupError as exc:
        fail(str(exc))
    click.echo(f"backup of the {describe(url)} written to {result.path} ({result.size} bytes)")


@commands.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="replace a database that already holds data")
@with_appcontext
def restore_command(file: str, force: bool) -> None:
    """Replace the configured database with a backup, then check its schema revision and audit chain.

    Like init, restore may create the database (and its folder) it restores into.
    """
    from elicit.backup import BackupError, describe, restore
    from elicit.db import sqlite_file

    url = current_app.config["DATABASE_URL"]
    path = sqlite_file(url)
    if path is not None and not path.exists():
        if not Path(file).is_file():
            fail(f"{file}: no such file")
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        force = True  # no file, so no data that --force would protect
    try:
        report = restore(url, Path(file), force=force)
    except BackupError as exc:
        fail(str(exc))
    click.echo(f"restored {file} into the {describe(url)}")
    if report.revision is not None:
        state = "current" if report.revision == report.head else f"code is at {report.head}"
        click.echo(f"schema revision {report.revision} ({state})")
    if report.audit_events is not None and not any(p.startswith("audit") for p in report.problems):
        click.echo(f"audit log intact: {report.audit_events} event(s)")
    if report.counts:
        click.echo("counts: " + ", ".join(f"{name} {count}" for name, count in report.counts.items()))
    for problem in report.problems[:-1]:
        click.echo(f"elicit: error: {problem}", err=True)
    if report.problems:
        fail(report.problems[-1])
