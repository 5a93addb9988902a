"""``elicit user`` and ``elicit token``: researcher accounts and their tokens for the JSON API."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import AppGroup

from elicit.cli.base import ACTOR_CLI, fail, unit_of_work, with_database

commands = AppGroup()


# --------------------------------------------------------------------------------------------------------- users
@commands.group("user")
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


@user_group.command("reset-2fa")
@click.argument("email")
@with_database()
def user_reset_2fa(email: str) -> None:
    """Remove an account's second factor (a lost phone): its app, recovery codes and passkeys stop working, and
    its sessions end.

    The account then signs in with its password alone and, if it must have a second factor (administrators, or
    everyone under ELICIT_REQUIRE_2FA), sets one up before anything else."""
    from elicit.studio import twofactor
    from elicit.studio.accounts import find_user

    with unit_of_work() as session:
        user = find_user(session, email, lock=True)
        if user is None:
            fail(f"no user with e-mail {email.strip().lower()}")
        had = twofactor.reset(session, user, ACTOR_CLI)
    if had:
        click.echo(f"the second factor of {user.email} is reset; its sessions are signed out")
    else:
        click.echo(f"{user.email} has no second factor; nothing to reset")


# ------------------------------------------------------------------------------------------------------ API tokens
@commands.group("token")
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
