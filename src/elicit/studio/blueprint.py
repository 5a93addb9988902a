"""The studio blueprint object (views in ``elicit.studio.views`` attach their routes to it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from elicit.studio import access
from elicit.studio.forms import first_errors

bp = Blueprint("studio", __name__, url_prefix="/studio")


def when(moment: datetime | date | None, seconds: bool = False) -> str:
    """A stored UTC time as people read it."""
    if moment is None:
        return "—"
    if not isinstance(moment, datetime):
        return moment.isoformat()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


@bp.before_request
def _studio_request() -> None:
    # The studio's own texts are English; the page must not turn right-to-left for an Urdu browser.
    g.language = "en"
    access.load_user()


@bp.context_processor
def _studio_context() -> dict[str, object]:
    return {
        "studio_user": g.get("studio_user"),
        "can_manage": access.can_manage,
        "form_errors": first_errors,
        "when": when,
    }


@bp.errorhandler(CSRFError)
def _form_expired(_exc: CSRFError) -> Any:
    """A form without a valid token: most often a page left open while the session ended.

    The CSRF check runs before ``_studio_request``. When the session cookie is gone altogether and the post is
    same-origin, the sign-in page carries the form (``access.keep_form_without_session``); else this page.
    """
    g.language = "en"
    kept = access.keep_form_without_session()
    if kept is not None:
        return kept
    message = _(
        "This form has expired, or it did not come from this site. Go back, reload the page and try again "
        "(you may need to sign in again)."
    )
    return render_template("error.html", status=400, title=_("The form has expired"), message=message), 400
