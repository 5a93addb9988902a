"""``elicit study`` and ``elicit invite``: studies on a published version, and their invitation links."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from elicit.cli.base import (
    ACTOR_CLI,
    check_new_file,
    put_in_place,
    read_roster,
    stage_file,
    unit_of_work,
    with_database,
)

commands = AppGroup()


@commands.group("study")
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


@commands.command("invite")
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
