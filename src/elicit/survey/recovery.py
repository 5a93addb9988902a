"""A refused POST keeps what the expert typed: the same page comes back with their values and one sentence.

A POST can be refused before it is applied (no valid CSRF token because the browser has no session, or the source
is over the unknown-link limit) or while it is applied (the database is unreachable, read-only or full, or the
connection dies at the commit). Each time the expert sees the page again, filled with what they sent, with a fresh
CSRF token, the status of the refusal and a sentence saying what to do; nothing is saved.

Showing a page needs its instrument. When the database cannot be asked, the instrument comes from this request
(the link was opened before the failure) or from this process's memory of the instrument this browser answered
last: its ``id@version`` is kept in the session cookie, and a published version never changes. When neither
knows it, a plain page lists what was sent and offers to send it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import g, render_template, request, session
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from elicit.i18n import N_
from elicit.instruments.schema import Definition
from elicit.responding import flow
from elicit.responding.pages import VERSION_FIELD

SESSION_KEY = "survey_instrument"
_KNOWN: dict[str, Definition] = {}
_KNOWN_LIMIT = 64

EXPIRED_TITLE = N_("This form has expired")
EXPIRED_DISCUSSION = N_(
    "Your session had expired, so your reasons are not posted yet. Check them and press “Post my reasons” again."
)
EXPIRED_PAGE = N_(
    "Your session had expired, so this page is not saved yet. Check your answers and press “Save and continue” "
    "again."
)
EXPIRED_REVIEW = N_(
    "Your session had expired, so your answers are not submitted yet. Check them and press “Submit my answers” "
    "again."
)
EXPIRED_LINK = N_("Your session had expired. Please open the link from your invitation again.")
DOWN_PAGE = N_(
    "The service cannot reach its database at the moment, so this page is not saved yet. Your answers are still "
    "here: wait a minute, then press “Save and continue” again."
)
DOWN_REVIEW = N_(
    "The service cannot reach its database at the moment, so your answers are not submitted yet. Wait a minute, "
    "then press “Submit my answers” again."
)
LIMITED_PAGE = N_(
    "Too many links that do not exist were opened from your network, so this page is not saved yet. Your answers "
    "are still here: wait %(minutes)s minute(s), then press “Save and continue” again."
)
LIMITED_REVIEW = N_(
    "Too many links that do not exist were opened from your network, so your answers are not submitted yet. "
    "Wait %(minutes)s minute(s), then press “Submit my answers” again."
)
STALE_PAGE_TITLE = N_("This page was changed in another window")
STALE_PAGE = N_(
    "While this page was open, some of its answers were changed in another window. Nothing from this window is "
    "saved yet: the answers below are what you typed here. Check them and press “Save and continue” to keep them."
)
STALE_REVIEW_TITLE = N_("Your answers were changed")
STALE_REVIEW = N_("Your answers were changed in another window; please check them before you submit.")


@dataclass(frozen=True)
class Notice:
    """Why a page is shown again and what to do: a title, one sentence, and (for a stale page) what changed."""

    title: str
    message: str
    changes: Sequence[tuple[str, str]] = ()


def notice(title: str, message: str, changes: Sequence[tuple[str, str]] = (), **params: Any) -> Notice:
    """A notice in the page language (``title`` and ``message`` are catalog ids)."""
    return Notice(gettext(title), gettext(message, **params), changes)


@dataclass(frozen=True)
class Shown:
    """What a page needs besides the request when the database cannot be asked."""

    definition: Definition
    language: str
    answers: Mapping[str, Any] = field(default_factory=dict)
    rationale_items: frozenset[str] = frozenset()
    k: int = 5
    opened: bool = False  # True: from this request's link (its answers are the stored ones)


def remember(link: flow.ExpertLink, language: str) -> None:
    """Keep what this request knows of the link's page, and which instrument this browser answers."""
    definition = link.definition
    if definition.ref not in _KNOWN and len(_KNOWN) >= _KNOWN_LIMIT:
        _KNOWN.clear()
    _KNOWN[definition.ref] = definition
    g.survey_shown = Shown(
        definition=definition,
        language=language,
        answers=dict(link.answers),
        rationale_items=link.rationale_items,
        k=link.study.k_threshold,
        opened=True,
    )
    if link.response is not None and session.get(SESSION_KEY) != definition.ref:
        session[SESSION_KEY] = definition.ref


def shown_without_database() -> Shown | None:
    """What is known without asking the database: this request's link, else the browser's last instrument."""
    shown: Shown | None = g.get("survey_shown")
    if shown is not None:
        return shown
    definition = _KNOWN.get(str(session.get(SESSION_KEY) or ""))
    if definition is None:
        return None
    language = session.get("language")
    if language not in definition.languages:
        language = definition.languages[0]
    return Shown(definition=definition, language=str(language))


def posted_fields() -> dict[str, list[str]]:
    """The posted form as lists of values by name."""
    form: MultiDict[str, str] = request.form
    return {key: form.getlist(key) for key in form}


def unsaved_page(refusal: Notice, status: int, headers: Mapping[str, str] | None = None) -> Any:
    """The last resort: what was sent, listed, and a button that sends it again (with a fresh CSRF token)."""
    fields = [(name, value) for name, values in posted_fields().items() for value in values]
    kept = [(name, value) for name, value in fields if name != "csrf_token"]
    shown = [(name, value) for name, value in kept if name not in {"nav", VERSION_FIELD} and value.strip()]
    html = render_template("survey/unsaved.html", notice=refusal, kept=kept, shown=shown, action=request.path)
    return html, status, dict(headers or {})
