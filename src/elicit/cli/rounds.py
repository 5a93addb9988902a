"""``elicit round`` and ``elicit realization``: Delphi rounds, and the true values of seed questions."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from elicit.cli.base import ACTOR_CLI, unit_of_work, with_database

commands = AppGroup()


@commands.group("round")
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


@commands.command("realization")
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
