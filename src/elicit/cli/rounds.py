"""``elicit round`` and ``elicit realization``: Delphi rounds, and the true values of seed questions."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from elicit.cli.base import ACTOR_CLI, unit_of_work, with_database

commands = AppGroup()


@commands.group("round")
def round_group() -> None:
    """Delphi rounds: open the next round (same or revised version), close the current one, discuss between."""


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


@round_group.command("discuss")
@click.argument("slug")
@click.option(
    "--item", "items", multiple=True, help="item to discuss; repeat (default: every item that can be)"
)
@click.option("--close", "close", is_flag=True, help="close the open discussion instead")
@with_database()
def round_discuss(slug: str, items: tuple[str, ...], close: bool) -> None:
    """Open IDEA's discussion of the closed round: its experts see the group's estimates and post reasons."""
    from elicit import audit
    from elicit.rounds import close_discussion, open_discussion
    from elicit.studies import find_study

    with unit_of_work() as session:
        study = find_study(session, slug)
        if close:
            closed = close_discussion(session, study)
            audit.record(
                session,
                "discussion.close",
                ACTOR_CLI,
                study_id=study.id,
                target=slug,
                details={"round": closed.round.number},
            )
            click.echo(f"the discussion of round {closed.round.number} of {slug} is closed")
            return
        opened = open_discussion(session, study, items)
        chosen = opened.items.split()
        audit.record(
            session,
            "discussion.open",
            ACTOR_CLI,
            study_id=study.id,
            target=slug,
            details={"round": opened.round.number, "items": chosen},
        )
        click.echo(
            f"the discussion of round {opened.round.number} of {slug} is open on {', '.join(chosen)}; "
            "experts who submitted it find it on their links"
        )


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
