"""Confirmation pages for destructive actions (revoke, reissue, close a round, remove a member, discard a draft).

Each such action has a GET page at its own address that says what will happen and carries the one form that
can do it; the POST does the action only when that form's ``confirm=yes`` comes back with a valid CSRF token.
A POST without it (an old page, a script) gets the confirmation page instead. No JavaScript is involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import render_template

from elicit.studio.forms import ConfirmForm


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation page shows: the question, its consequences, the button and where "Cancel" goes."""

    title: str
    consequences: tuple[str, ...]
    button: str
    action: str  # the address the confirmed form posts to
    cancel: str  # the address "Cancel" leads back to
    fields: Mapping[str, str] = field(default_factory=dict)  # further hidden fields the action needs


def confirmed() -> bool:
    """True when this POST carries the confirmation page's ``confirm=yes`` (and a valid CSRF token)."""
    return bool(ConfirmForm().validate_on_submit())


def page(confirmation: Confirmation, status: int = 200) -> tuple[str, int]:
    """The confirmation page (status 422 when it answers a POST that was not confirmed)."""
    return render_template(
        "studio/confirm.html", confirmation=confirmation, form=ConfirmForm(formdata=None, confirm="yes")
    ), status


def unconfirmed(confirmation: Confirmation) -> tuple[str, int]:
    """The answer to a destructive POST that did not come from its confirmation page: that page, and nothing done."""
    return page(confirmation, 422)
