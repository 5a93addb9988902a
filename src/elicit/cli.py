"""The ``elicit`` command (contract in docs and DESIGN.md).

Errors go to stderr as ``path:line: message`` or ``elicit: error: message`` with exit code 1 (2 for usage), and
a command either finishes its whole unit of work or writes nothing.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import DBAPIError, OperationalError

from elicit import config
from elicit.errors import ElicitError
from elicit.formats import FORMATS as EXPORT_FORMATS  # light: `elicit --help` loads no pandas

ACTOR_CLI = "cli"
P = ParamSpec("P")
R = TypeVar("R")


def show_problems(error: Any) -> NoReturn:
    """Each problem of an InstrumentError as ``file:line: message``, then exit 1."""
    for problem in error.problems:
        click.echo(str(problem), err=True)
    sys.exit(1)


def fail(message: str) -> NoReturn:
    """Print one clear line and exit 1."""
    click.echo(f"elicit: error: {message}", err=True)
    sys.exit(1)


def _create_app() -> Flask:
    from elicit import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Elicit: versioned questionnaires, expert invitations, anonymized exports and analysis."""


def register_commands(app: Flask) -> None:
    """Nothing to add per app: the commands hang on ``main``; kept so ``flask --app elicit`` finds them too."""
    for command in main.commands.values():
        if command.name not in app.cli.commands:
            app.cli.add_command(command)


def database_named(url: str) -> str:
    """The database for messages: a SQLite file with the URL it came from, or the URL; never a password."""
    from sqlalchemy.engine import make_url

    from elicit.db import sqlite_file

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  # a malformed URL is named as far as it can be, without guessing
        return "DATABASE_URL (not a database URL)"
    path = sqlite_file(url)
    return f"{path} (DATABASE_URL={shown})" if path is not None else shown


def _reason(exc: BaseException) -> str:
    """A database error's own message on one line."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig or exc).split())


def require_database(url: str, *, migrated: bool = True) -> None:
    """Fail with one line naming the database unless it exists (and, if ``migrated``, is at this code's head).

    Nothing is created or changed: a missing SQLite file stays missing.
    """
    from elicit.db import db, sqlite_file
    from elicit.migrate import schema_state

    where = database_named(url)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        fail(f"no database at {where}; run elicit init first")
    if not migrated:
        return
    try:
        with db.engine.connect() as connection:
            state = schema_state(connection)
    except DBAPIError as exc:
        fail(f"cannot use the database at {where}: {_reason(exc)}")
    if state.current is None:
        fail(f"the database at {where} is not initialised (it has no Elicit schema); run elicit init first")
    if not state.known:
        fail(
            f"the database at {where} is at schema revision {state.current}, which this Elicit does not know "
            f"(its newest is {state.head}): it was made by a newer version of Elicit; upgrade Elicit"
        )
    if not state.ready:
        fail(
            f"the database at {where} is at schema revision {state.current}, older than this Elicit's "
            f"{state.head}; run elicit init to upgrade it"
        )
    from elicit.keycheck import mismatch

    with db.engine.connect() as connection:
        problem = mismatch(connection, current_app.config["SECRET_KEY"])
    if problem is not None:
        fail(f"the database at {where}: {problem}")


def with_database(*, migrated: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a command in the app context once :func:`require_database` has found its database ready."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            require_database(current_app.config["DATABASE_URL"], migrated=migrated)
            return command(*args, **kwargs)

        return with_appcontext(checked)

    return decorate


@contextmanager
def unit_of_work() -> Iterator[Any]:
    """A session committed at the end, rolled back on error; domain errors become one line and exit 1."""
    from elicit.db import db
    from elicit.instruments.schema import InstrumentError

    try:
        with db.transaction() as session:
            yield session
    except InstrumentError as exc:
        show_problems(exc)
    except ElicitError as exc:  # every domain error: one sentence, exit 1
        fail(str(exc))
    except OperationalError as exc:
        fail(
            f"cannot use the database at {database_named(current_app.config['DATABASE_URL'])}: {_reason(exc)}"
        )


def read_roster(path: str) -> str:
    """A roster file's text, or one line naming the file and exit 1."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except UnicodeDecodeError:
        fail(f"{path}:1: not UTF-8 text; save the roster as CSV UTF-8")


def check_new_file(path: Path, force: bool) -> Path:
    """The absolute path of a file to write, or one line and exit 1 if it cannot or must not be written.

    A file that exists is refused unless ``force``: a links file may hold the only copy of live links.
    """
    path = path.resolve()
    if path.is_dir():
        fail(f"{path} is a folder; give a file name")
    if not path.parent.is_dir():
        fail(f"folder {path.parent} does not exist")
    if path.exists() and not force:
        fail(
            f"{path} exists already and may hold the only copy of live links; "
            "give another --out, or --force to replace it"
        )
    return path


def stage_file(path: Path, content: str) -> Path:
    """Write ``content`` in full to a new temporary file (mode 0600) beside ``path``, synced to disk."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def put_in_place(staged: Path, path: Path, force: bool) -> None:
    """Rename a staged file to ``path`` atomically; without ``force`` never replace a file that appeared since.

    If the file cannot be put in place, the staged file is kept (it may hold the only copy of live links) and
    the message names it.
    """
    try:
        if force:
            os.replace(staged, path)
        else:
            os.link(staged, path)  # fails if ``path`` exists: no check-then-write race
            staged.unlink()
    except FileExistsError:
        fail(f"{path} appeared while the links were made; they are in {staged}: rename it to keep them")
    except OSError as exc:
        fail(f"cannot write {path} ({exc.strerror}); the links are in {staged}: rename it to keep them")
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)  # the rename itself survives a crash
    except OSError:
        pass
    finally:
        os.close(folder)


# ---------------------------------------------------------------------------------------------------------- init
@main.command("init", with_appcontext=False)  # the app is made inside creating_secret_key
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
        fail(f"cannot reach the database at {database_named(url)}: {_reason(exc)}")
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


# --------------------------------------------------------------------------------------------------- instruments
@main.group("instrument")
def instrument_group() -> None:
    """Check, publish and compare instrument versions."""


@instrument_group.command("check")
@click.argument("paths", nargs=-1, required=True)
def instrument_check(paths: tuple[str, ...]) -> None:
    """Validate instrument files; print every problem as file:line: message."""
    from elicit.instruments.loading import check_paths

    good, problems = check_paths(list(paths))
    for problem in problems:
        click.echo(str(problem), err=True)
    for definition in good:
        items = sum(1 for _ in definition.items())
        click.echo(
            f"{definition.ref}: ok ({len(definition.pages)} pages, {items} items, "
            f"{len(definition.scales)} scales, languages {', '.join(definition.languages)})"
        )
    if problems:
        files = len({p.path for p in problems})
        click.echo(f"{len(problems)} problem(s) in {files} file(s)", err=True)
        sys.exit(1)


def _load_or_fail(path: str) -> Any:
    from elicit.instruments.loading import load_file
    from elicit.instruments.schema import InstrumentError

    try:
        return load_file(path)
    except InstrumentError as exc:
        show_problems(exc)


@instrument_group.command("publish")
@click.argument("path")
@with_database()
def instrument_publish(path: str) -> None:
    """Store an immutable version; the same content again changes nothing."""
    from elicit import audit
    from elicit.instruments.versions import publish_version

    definition = _load_or_fail(path)
    with unit_of_work() as session:
        version, created = publish_version(session, definition, ACTOR_CLI)
        if created:
            audit.record(
                session,
                "instrument.publish",
                ACTOR_CLI,
                target=definition.ref,
                details={"sha256": version.sha256},
            )
    state = "published" if created else "already published, unchanged"
    click.echo(f"{definition.ref} sha256:{definition.sha256} ({state})")


@instrument_group.command("diff")
@click.argument("old")
@click.argument("new")
@with_appcontext
def instrument_diff(old: str, new: str) -> None:
    """Added, removed and changed items between two versions (paths or id@version)."""
    from elicit.instruments.versions import diff_definitions

    a, b = _definition_from(old), _definition_from(new)
    for line in diff_definitions(a, b).lines():
        click.echo(line)


def _definition_from(ref: str) -> Any:
    from elicit.instruments.versions import REF_RE, definition_of, find_version

    if REF_RE.match(ref) and not Path(ref).exists():
        require_database(current_app.config["DATABASE_URL"])
        with unit_of_work() as session:
            return definition_of(find_version(session, ref))
    return _load_or_fail(ref)


# ------------------------------------------------------------------------------------------------------- studies
@main.group("study")
def study_group() -> None:
    """Create and inspect studies."""


@study_group.command("create")
@click.argument("slug")
@click.option("--instrument", "ref", required=True, help="a published version, id@version")
@click.option("--cohort", "cohorts", multiple=True, required=True, help="cohort code, or CODE=Label; repeat")
@click.option("--title", default=None)
@with_database()
def study_create(slug: str, ref: str, cohorts: tuple[str, ...], title: str | None) -> None:
    """A study on a published instrument version, with one cohort per state."""
    from elicit import audit
    from elicit.instruments.versions import find_version
    from elicit.studies import create_study, parse_cohort_spec

    with unit_of_work() as session:
        version = find_version(session, ref)
        study = create_study(
            session,
            slug,
            version,
            [parse_cohort_spec(c) for c in cohorts],
            title,
            k_threshold=int(current_app.config.get("K_ANONYMITY", 5)),
        )
        audit.record(
            session, "study.create", ACTOR_CLI, study_id=study.id, target=slug, details={"instrument": ref}
        )
        click.echo(
            f"study {study.slug} created on {ref} ({study.anonymity}); cohorts: "
            + ", ".join(f"{c.code} ({c.label})" for c in study.cohorts)
        )


@main.command("invite")
@click.argument("slug")
@click.option(
    "--cohort", "cohort_code", default=None, help="cohort for --count (or for roster rows without one)"
)
@click.option("--count", type=click.IntRange(1, 10000), default=None)
@click.option(
    "--roster", type=click.Path(dir_okay=False), default=None, help="CSV: name,email,organisation,cohort"
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="links CSV to write")
@click.option("--force", is_flag=True, help="replace --out if it exists (its links are then gone for good)")
@with_database()
def invite(
    slug: str, cohort_code: str | None, count: int | None, roster: str | None, out: str, force: bool
) -> None:
    """Make personal invitation links and write them, one URL per row, to a CSV file (mode 0600).

    Only a hash of each link is stored, so the file is the only copy: an existing file is refused unless
    ``--force``, and the file appears, complete, only once the invitations are committed.
    """
    from elicit import audit
    from elicit.studies import (
        RosterError,
        find_cohort,
        find_study,
        import_roster,
        issue_links,
        links_csv,
        parse_roster,
    )

    if (count is None) == (roster is None):
        raise click.UsageError("give exactly one of --count N or --roster FILE.csv")
    if count is not None and cohort_code is None:
        raise click.UsageError("--count needs --cohort CODE")
    out_path = check_new_file(Path(out), force)
    roster_text = read_roster(roster) if roster is not None else None
    # The links are staged in a temporary file (synced) before the commit, so if they cannot be written no
    # invitation exists; the file takes its name only after the commit, so a failed commit leaves no dead links.
    staged: Path | None = None
    try:
        with unit_of_work() as session:
            study = find_study(session, slug)
            if roster_text is not None:
                try:
                    rows = parse_roster(roster_text, study, cohort_code)
                except RosterError as exc:
                    for problem in exc.problems:
                        click.echo(f"{roster}:{problem.line}: {problem.message}", err=True)
                    session.rollback()
                    sys.exit(1)
                links = import_roster(session, study, rows)
            else:
                assert count is not None and cohort_code is not None  # nosec B101  # narrows types for mypy; click guarantees both on this branch, a failure only aborts the command
                links = issue_links(session, study, find_cohort(study, cohort_code), count)
            staged = stage_file(out_path, links_csv(current_app.config["BASE_URL"], study, links))
            audit.record(
                session,
                "invitations.issue",
                ACTOR_CLI,
                study_id=study.id,
                target=slug,
                details={"count": len(links), "roster": roster is not None},
            )
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    assert staged is not None  # nosec B101  # narrows the type: the unit of work either staged the file or raised
    put_in_place(staged, out_path, force)
    click.echo(f"{len(links)} invitation link(s) written to {out}")


# --------------------------------------------------------------------------------------------------------- users
@main.group("user")
def user_group() -> None:
    """Manage researcher accounts."""


@user_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "researcher", "viewer"]), required=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@with_database()
def user_add(email: str, role: str, password_stdin: bool) -> None:
    """Add an account (the password is read from stdin or asked for, never from the command line)."""
    from elicit import audit
    from elicit.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with unit_of_work() as session:
        user = add_user(session, email, role, password)
        audit.record(session, "user.add", ACTOR_CLI, target=user.email, details={"role": role})
    click.echo(f"user {user.email} added as {role}")


# ------------------------------------------------------------------------------------------------------- serving
@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@with_database()
def serve(host: str, port: int) -> None:
    """Serve the app (threaded, for one machine; production uses gunicorn, see README)."""
    from werkzeug.serving import run_simple

    click.echo(f"Elicit is serving on http://{host}:{port}  (Ctrl-C to stop)")
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)  # type: ignore[attr-defined]


@main.command("demo", with_appcontext=False)  # the app is made inside creating_secret_key
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
@config.creating_secret_key()
@with_appcontext
def demo(responses: int, links: int) -> None:
    """A ready demo study on the flagship instrument, with simulated experts and a researcher login.

    Like init, demo creates (or upgrades) the database, and the secret key file if there is no key, first; its
    links are printed only once committed.
    """
    from elicit.demo import ensure_demo

    _create_or_upgrade(current_app.config["DATABASE_URL"])
    with unit_of_work() as session:
        result = ensure_demo(
            session, current_app.config, Path(current_app.instance_path), responses=responses, links=links
        )
    for line in result:
        click.echo(line)


# ---------------------------------------------------------------------------------------------------------- rounds
@main.group("round")
def round_group() -> None:
    """Delphi rounds: open the next round (same or revised version), close the current one."""


@round_group.command("open")
@click.argument("slug")
@click.option(
    "--instrument", "ref", default=None, help="a revised published version, id@version (default: same)"
)
@click.option(
    "--feedback", "feedback", multiple=True, help="item whose previous-round results experts see; repeat"
)
@with_database()
def round_open(slug: str, ref: str | None, feedback: tuple[str, ...]) -> None:
    """Open the next round; every expert keeps their link."""
    from elicit import audit
    from elicit.instruments.versions import find_version
    from elicit.rounds import open_round
    from elicit.studies import find_study

    with unit_of_work() as session:
        study = find_study(session, slug)
        version = find_version(session, ref) if ref else None
        opened = open_round(session, study, version, feedback)
        audit.record(
            session,
            "round.open",
            ACTOR_CLI,
            study_id=study.id,
            target=slug,
            details={
                "round": opened.number,
                "version": opened.instrument_version.ref,
                "feedback": list(feedback),
            },
        )
        click.echo(f"round {opened.number} of {slug} is open on {opened.instrument_version.ref}")


@round_group.command("close")
@click.argument("slug")
@with_database()
def round_close(slug: str) -> None:
    """Close the open round."""
    from elicit import audit
    from elicit.rounds import close_round
    from elicit.studies import find_study

    with unit_of_work() as session:
        study = find_study(session, slug)
        closed = close_round(session, study)
        audit.record(
            session,
            "round.close",
            ACTOR_CLI,
            study_id=study.id,
            target=slug,
            details={"round": closed.number},
        )
        click.echo(f"round {closed.number} of {slug} is closed")


@main.command("realization")
@click.argument("slug")
@click.argument("item")
@click.argument("value", type=float)
@with_database()
def realization(slug: str, item: str, value: float) -> None:
    """Enter (or correct) the true value of a seed question, for Cooke's classical model."""
    from elicit import audit
    from elicit.rounds import set_realization
    from elicit.studies import find_study

    with unit_of_work() as session:
        study = find_study(session, slug)
        set_realization(session, study, item, value, ACTOR_CLI)
        audit.record(
            session, "realization.set", ACTOR_CLI, study_id=study.id, target=item, details={"value": value}
        )
    click.echo(f"realization of {item} in {slug} set to {value:g}")


# ----------------------------------------------------------------------------------------------------------- audit
@main.group("audit")
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
@main.group("outbox")
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


# -------------------------------------------------------------------------------------------------------- analysis
@main.command("analyze")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option(
    "--out", "out_html", required=True, type=click.Path(dir_okay=False), help="report.html to write"
)
@click.option(
    "--json", "out_json", default=None, type=click.Path(dir_okay=False), help="results.json to write"
)
def analyze(folder: str, out_html: str, out_json: str | None) -> None:
    """Reliability, agreement and cohort comparisons from an anonymized export folder (no database needed)."""
    from elicit.analysis import run_analysis

    try:
        results = run_analysis(Path(folder), Path(out_html), Path(out_json) if out_json else None)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    warnings = results.get("warnings") or []
    click.echo(f"report written to {out_html}" + (f" and results to {out_json}" if out_json else ""))
    for warning in warnings[:20]:
        click.echo(f"warning: {warning}", err=True)


# ---------------------------------------------------------------------------------------------------------- export


@main.command("export")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="folder to create")
@click.option(
    "--k",
    "k",
    type=click.IntRange(1, 1000),
    default=None,
    help="k for the k-anonymity report and --suppress: the study's k or more [default: the study's]",
)
@click.option(
    "--suppress", is_flag=True, help="blank quasi-identifiers in rows whose class has fewer than k experts"
)
@click.option("--identified", is_flag=True, help="keep identifiers and roster fields (admins only; audited)")
@click.option("--admin", "admin", default=None, help="e-mail of the admin who asks for an identified export")
@with_database()
def export(
    slug: str, fmt: str, out: str, k: int | None, suppress: bool, identified: bool, admin: str | None
) -> None:
    """Write the export folder (data, long.csv, codebook, manifest), anonymized unless --identified."""
    from sqlalchemy import select

    from elicit.exporting import ExportError, build_export, check_options
    from elicit.models import Role, User
    from elicit.studies import find_study
    from elicit.users import normalize_email

    if identified and not admin:
        raise click.UsageError("--identified needs --admin EMAIL naming an admin user")
    if admin and not identified:
        raise click.UsageError("--admin names the admin of an --identified export; add --identified")
    try:
        check_options(fmt, k=k, identified=identified, suppress=suppress)
    except ExportError as exc:
        fail(str(exc))
    actor = ACTOR_CLI
    # First a short transaction to check the study and the admin; the export itself reads through its own
    # snapshot, so no write lock is held while it runs, and records itself in the audit log at the end.
    with unit_of_work() as session:
        study = find_study(session, slug)
        try:
            check_options(fmt, k=k, identified=identified, suppress=suppress, floor=study.k_threshold)
        except ExportError as exc:
            fail(str(exc))
        if identified:
            assert admin is not None  # nosec B101  # narrows the type; --identified without --admin is refused above with a UsageError
            user = session.scalar(select(User).where(User.email == normalize_email(admin)))
            if user is None or not user.is_active or user.role != Role.ADMIN.value:
                fail(
                    f"{normalize_email(admin)} is not an active admin; identified exports are for admins only"
                )
            actor = user.email
    with unit_of_work() as session:
        try:
            manifest = build_export(
                session, study, fmt, Path(out), identified=identified, k=k, suppress=suppress, actor=actor
            )
        except ExportError as exc:
            fail(str(exc))
    report = manifest["anonymization"]["k_anonymity"]
    click.echo(
        f"exported {manifest['counts']['rows']} response(s) of {slug} as {fmt} to {out}"
        + (" (IDENTIFIED: handle as personal data)" if identified else " (anonymized)")
    )
    line = (
        f"k-anonymity (k={report['k']}): {report['classes_below_k']} of {report['classes']} class(es) below k"
    )
    if report["classes_below_k"]:
        line += f", {report['rows_below_k']} row(s)"
        line += f"; {report['rows_suppressed']} row(s) suppressed" if suppress else "; --suppress blanks them"
    click.echo(line)


# ------------------------------------------------------------------------------------------------------ API tokens
@main.group("token")
def token_group() -> None:
    """Per-user tokens for the JSON API (/api/v1/)."""


def _token_errors() -> Any:
    from elicit.api.tokens import ApiTokenError

    return ApiTokenError


@token_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="what the token is for, e.g. 'analysis server'")
@with_database()
def token_create(email: str, name: str) -> None:
    """Make a token and print it once (only its hash is stored)."""
    from elicit import audit
    from elicit.api.tokens import create_token

    with unit_of_work() as session:
        try:
            issued = create_token(session, email, name)
        except _token_errors() as exc:
            fail(str(exc))
        audit.record(
            session,
            "api_token.create",
            ACTOR_CLI,
            target=issued.token.user.email,
            details={"token_id": issued.token.id, "name": issued.token.name},
        )
    click.echo(
        f"token {issued.token.id} ({issued.token.name}) for {issued.token.user.email}; "
        "store it now, it is not shown again:",
        err=True,
    )
    click.echo(issued.secret)


@token_group.command("revoke")
@click.argument("token_id", type=int)
@with_database()
def token_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    from elicit import audit
    from elicit.api.tokens import revoke_token

    with unit_of_work() as session:
        try:
            token = revoke_token(session, token_id)
        except _token_errors() as exc:
            fail(str(exc))
        audit.record(
            session, "api_token.revoke", ACTOR_CLI, target=token.user.email, details={"token_id": token.id}
        )
    click.echo(f"token {token_id} revoked")


@token_group.command("list")
@click.argument("email")
@with_database()
def token_list(email: str) -> None:
    """A user's tokens: id, name, created, last used, revoked (never the tokens themselves)."""
    from elicit.api.tokens import list_tokens

    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    with unit_of_work() as session:
        try:
            tokens = list_tokens(session, email)
        except _token_errors() as exc:
            fail(str(exc))
        for token in tokens:
            state = f"revoked {when(token.revoked_at)}" if token.revoked_at else "active"
            click.echo(
                f"{token.id}\t{token.name}\tcreated {when(token.created_at)}\tlast used {when(token.last_used_at)}"
                f"\t{state}"
            )
        if not tokens:
            click.echo(f"{email}: no tokens")


# --------------------------------------------------------------------------------------------------------- backups
@main.command("backup")
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


@main.command("restore")
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
        path.parent.mkdir(parents=True, exist_ok=True)
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


# The ``elicit mail`` group lives in its own module; importing it attaches it to ``main``.
from elicit import mailcli  # noqa: E402,F401
