"""The ``elicit`` command (contract in docs and DESIGN.md): the ``main`` group and the modules it is made of.

Each module holds one family of commands on its own ``commands = AppGroup()``, the way a Flask blueprint holds
its ``bp.cli``, and :func:`main` takes them all in; what the commands share (failing with one line, finding the
database, the unit of work) is :mod:`elicit.cli.base`.

========================  ===========================================================================
module                    commands
========================  ===========================================================================
:mod:`.admin`             ``init``, ``demo``, ``serve``, ``audit verify``, ``outbox purge``, ``backup``,
                          ``restore``
:mod:`.instruments`       ``instrument check``, ``instrument publish``, ``instrument diff``
:mod:`.studies`           ``study create``, ``invite``
:mod:`.users`             ``user add``, ``token create``, ``token revoke``, ``token list``
:mod:`.rounds`            ``round open``, ``round close``, ``realization``
:mod:`.export`            ``export``, ``analyze``
:mod:`.mail`              ``mail send``, ``mail remind``, ``mail resume``, ``mail list``, ``mail show``
:mod:`.lifecycle`         ``purge``, ``erase``, ``subject-access``
========================  ===========================================================================

Importing this package loads no pandas: the commands import the domain when they run.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from elicit.cli import admin, export, instruments, lifecycle, mail, rounds, studies, users

__all__ = ["main", "register_commands"]

# Each module's commands, in the order of the table above (``elicit --help`` lists them by name).
MODULE_COMMANDS = (
    admin.commands,
    instruments.commands,
    studies.commands,
    users.commands,
    rounds.commands,
    export.commands,
    mail.commands,
    lifecycle.commands,
)


def _create_app() -> Flask:
    from elicit import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Elicit: versioned questionnaires, expert invitations, anonymized exports and analysis."""


for _commands in MODULE_COMMANDS:
    for _name, _command in _commands.commands.items():
        if _name in main.commands:
            raise RuntimeError(f"two modules of elicit.cli define the command {_name}")
        main.add_command(_command)


def register_commands(app: Flask) -> None:
    """Nothing to add per app: the commands hang on ``main``; kept so ``flask --app elicit`` finds them too."""
    for command in main.commands.values():
        if command.name not in app.cli.commands:
            app.cli.add_command(command)
