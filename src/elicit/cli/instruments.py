"""``elicit instrument``: check, publish and compare instrument versions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from elicit.cli.base import ACTOR_CLI, require_database, show_problems, unit_of_work, with_database

commands = AppGroup()


@commands.group("instrument")
def instrument_group() -> None:
    """Check, publish and compare instrument versions."""


@instrument_group.command("check", with_appcontext=False)  # a file check needs no app, key or database
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


@instrument_group.command("import", with_appcontext=False)  # a file conversion needs no app or database
@click.argument("source")
@click.option("--out", "out", required=True, help="instruments/ID/VERSION.yaml to write")
@click.option("--replace", is_flag=True, help="overwrite OUT if it exists")
def instrument_import(source: str, out: str, replace: bool) -> None:
    """Convert an XLSForm, a REDCap data dictionary or a LimeSurvey .lss into an instrument file."""
    from elicit.instruments.formats import ImportFailed, import_file
    from elicit.instruments.schema import InstrumentError

    try:
        kind, imported, definition = import_file(source, out, replace=replace)
    except (ImportFailed, InstrumentError) as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s); nothing was written", err=True)
        sys.exit(1)
    click.echo(f"{source}: read as {kind}")
    for line in imported.mapped:
        click.echo(f"  mapped: {line}")
    for problem in imported.lost:
        click.echo(f"  not carried over: {problem}")
    items = sum(1 for _ in definition.items())
    click.echo(
        f"{out}: wrote {definition.ref} ({len(definition.pages)} pages, {items} items, "
        f"languages {', '.join(definition.languages)}); it passed `elicit instrument check`"
    )


@instrument_group.command("export")
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["xlsform", "redcap"]), required=True)
@click.option("--out", "out", default=None, help="file to write (default: ID-VERSION.xlsx or .csv here)")
@with_appcontext
def instrument_export(ref: str, fmt: str, out: str | None) -> None:
    """Write an instrument (a path or a published id@version) as an XLSForm or a REDCap data dictionary."""
    from elicit.instruments.formats import EXPORT_FORMATS, export_definition
    from elicit.instruments.formats.common import write_new_bytes

    definition = _definition_from(ref)
    data = export_definition(definition, fmt)
    target = out or f"{definition.id}-{definition.version}{EXPORT_FORMATS[fmt]}"
    write_new_bytes(target, data)
    click.echo(f"{target}: {definition.ref} as {fmt}")
