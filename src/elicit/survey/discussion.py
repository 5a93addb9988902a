"""The expert's discussion page at ``/s/<token>/discussion`` (IDEA's step between rounds): thin views.

``elicit.responding.discussion`` decides what is shown and stores the posts; this module renders its answer and
redirects after a post (so reloading never posts twice). Like every expert page it is one plain form and works
without JavaScript: one box per discussed item, one button that posts every box written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import g, redirect, render_template, request, session, url_for
from flask_babel import gettext
from markupsafe import Markup

from elicit.db import db
from elicit.instruments.schema import Definition, Item, text_in
from elicit.responding import discussion as discussing
from elicit.responding import flow
from elicit.responding.feedback import ItemFeedback
from elicit.survey import _go, _open, bp, recovery
from elicit.survey.intervals import estimates_svg
from elicit.survey.rendering import ExpertTexts, translate


@dataclass(frozen=True)
class DiscussionView(ExpertTexts):
    """What ``survey/discussion.html`` (and the shared Delphi feedback macro it calls) needs."""

    definition: Definition
    language: str
    round_number: int
    items: tuple[Item, ...]
    feedback: Mapping[str, ItemFeedback]
    k: int
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def estimates(self, item: Item) -> Markup | None:
        """Everyone's range and best estimate of ``item`` as a drawing, when they may be shown."""
        shown = self.feedback.get(item.id)
        if shown is None or not shown.estimates:
            return None
        return estimates_svg(
            shown.estimates,
            ident=f"{item.id}-estimates",
            title=gettext(
                "The range and best estimate of each of the %(n)s experts, in order of the best estimate",
                n=len(shown.estimates),
            ),
            own_label=gettext("you"),
            unit=text_in(item.unit, self.language) if item.unit else "",
            rtl=self.rtl,
        )


def _html(
    token: str,
    link: flow.ExpertLink,
    shown: discussing.DiscussionShown,
    posted: int = 0,
    notice: recovery.Notice | None = None,
) -> str:
    language = g.language
    view = DiscussionView(
        definition=link.definition,
        language=language,
        round_number=shown.round_number,
        items=shown.items,
        feedback=shown.results,
        k=link.study.k_threshold,
        values=shown.values,
        errors={name: translate(message, language) for name, message in shown.errors.items()},
        problem=translate(shown.problem, language) if shown.problem is not None else None,
    )
    return render_template("survey/discussion.html", view=view, token=token, posted=posted, notice=notice)


@bp.get("/<token>/discussion")
def discussion(token: str) -> Any:
    """The discussion of the closed round, for an expert who submitted it; their own page otherwise."""
    link = _open(token)
    chosen = request.args.get("lang")
    if chosen in link.definition.languages:  # the language links of the page
        g.language = session["language"] = chosen
    shown = discussing.show_discussion(db.session, link)
    if not isinstance(shown, discussing.DiscussionShown):
        return _go(token, shown)
    posted = request.args.get("posted", "")
    return _html(token, link, shown, int(posted) if posted.isdigit() else 0)


@bp.post("/<token>/discussion")
def discussion_post(token: str) -> Any:
    """Post the reasons written; the page again with the boxes kept when one cannot be taken."""
    link = _open(token, lock=True)
    outcome = discussing.post_discussion(db.session, link, recovery.posted_fields())
    if isinstance(outcome, discussing.Posted):
        session["language"] = g.language
        return redirect(url_for("survey.discussion", token=token, posted=outcome.count), code=303)
    if isinstance(outcome, discussing.DiscussionShown):
        return _html(token, link, outcome), 422
    return _go(token, outcome, code=303)


def discussion_again(token: str, link: flow.ExpertLink, notice: recovery.Notice) -> str | None:
    """The discussion page with what was typed, after a post was refused before the view (an expired session)."""
    shown = discussing.show_discussion(db.session, link)
    if not isinstance(shown, discussing.DiscussionShown):
        return None
    form = recovery.posted_fields()
    kept = {
        name: values[0] for name, values in form.items() if name.endswith(discussing.REASON_SUFFIX) and values
    }
    again = discussing.DiscussionShown(shown.round_number, shown.items, shown.results, kept)
    return _html(token, link, again, notice=notice)
