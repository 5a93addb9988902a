"""``elicit export`` and ``elicit analyze``: the export folder, and the analysis read from one.

Only :mod:`elicit.formats` is imported here at first: ``elicit --help`` loads no pandas.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from elicit.cli.base import ACTOR_CLI, fail, unit_of_work, with_database
from elicit.formats import FORMATS as EXPORT_FORMATS  # light: `elicit --help` loads no pandas

commands = AppGroup()


# -------------------------------------------------------------------------------------------------------- analysis
@commands.command("analyze", with_appcontext=False)  # reads a folder: no app, key or database
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out", "out_html", required=True, type=click.Path(dir_okay=False), help="report.html to write"
)
@click.option(
    "--json",
    "out_json",
    default=None,
    type=click.Path(dir_okay=False),
    help="results.json to write (and every table as CSV in <stem>_tables/ beside it)",
)
@click.option(
    "--weights",
    "weights",
    default=None,
    type=click.Path(dir_okay=False),
    help="CSV respondent,weight[,item] of researcher-given weights for the linear pool (others get 0)",
)
def analyze(paths: tuple[str, ...], out_html: str, out_json: str | None, weights: str | None) -> None:
    """Reliability, agreement and cohort comparisons from an anonymized export folder (no database needed).

    Given an EXCALIBUR .dtt and .rls pair instead (the two files, one of them, or a folder holding them, such as
    an export's excalibur/ folder), runs Cooke's classical model on it. --weights adds the linear pool with the
    researcher's weights (respondent = the export's respondent id) to every distribution item. With --json,
    every table of the report is also written as CSV to <json stem>_tables/ beside it (results.json lists them).
    """
    from elicit.analysis.excalibur import analyze_excalibur, find_pair
    from elicit.analysis.given_weights import WeightsError

    try:
        pair = find_pair([Path(p) for p in paths])
        if pair is not None and weights is not None:
            raise click.UsageError(
                "--weights applies to an export folder, not to an EXCALIBUR .dtt/.rls pair"
            )
        if pair is not None:
            results = analyze_excalibur(*pair, Path(out_html), Path(out_json) if out_json else None)
            click.echo(
                f"Cooke's classical model on {pair[0].name} and {pair[1].name}: report written to {out_html}"
                + (f" and results to {out_json}" if out_json else "")
            )
        else:
            from elicit.analysis import run_analysis

            results = run_analysis(
                Path(paths[0]),
                Path(out_html),
                Path(out_json) if out_json else None,
                weights=Path(weights) if weights else None,
            )
            tables = results.get("tables")
            click.echo(
                f"report written to {out_html}"
                + (f" and results to {out_json}" if out_json else "")
                + (f" (tables in {Path(out_json).parent / tables['folder']}/)" if out_json and tables else "")
            )
    except WeightsError as exc:  # every problem of the file as file:line: message
        click.echo(str(exc), err=True)
        sys.exit(1)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    for warning in (results.get("warnings") or [])[:20]:
        click.echo(f"warning: {warning}", err=True)


# ---------------------------------------------------------------------------------------------------------- export


@commands.command("export")
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
            if user is None or not user.is_active or user.role != Role.ADMIN:
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
