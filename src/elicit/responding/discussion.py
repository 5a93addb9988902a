"""IDEA's discussion step: between two rounds, experts see the group's anonymised estimates and discuss them.

The experts who submitted the closed round open their link and find, for each discussed item, their own answer,
the group's results as Delphi feedback shows them (never a group smaller than k, nor whatever gives one back),
every expert's range and best estimate of a distribution item without names and in order of the best estimate,
and the reasons experts gave, scrubbed. They may post more reasons; the posts belong to their response of the
discussed round and are read by others scrubbed, with the next round's feedback too
(:mod:`elicit.responding.feedback`). Everyone else's link says the study is closed, as it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.instruments.model import Item
from elicit.instruments.types.base import FieldError, Message, clean_text
from elicit.models import Discussion, DiscussionPost, RoundStatus
from elicit.responding import flow
from elicit.responding.feedback import ItemFeedback, group_results
from elicit.responding.pages import FOREIGN_FIELDS, LANDING, SENT_TWICE, Redirect, RefusedPost
from elicit.responding.values import MAX_RATIONALE

#: The field of a post about one item: ``<item id>.reason``.
REASON_SUFFIX = ".reason"
CONTROL_FIELDS = frozenset({"csrf_token"})
NOTHING_WRITTEN = Message("Write a reason in at least one box before posting.")


@dataclass(frozen=True)
class DiscussionShown:
    """The discussion page: each discussed item with the group's results, and what was typed when refused."""

    round_number: int
    items: tuple[Item, ...]
    results: Mapping[str, ItemFeedback]
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, Message] = field(default_factory=dict)
    problem: Message | None = None


@dataclass(frozen=True)
class Posted:
    """Reasons were stored: show the discussion page again (after a redirect), saying how many."""

    count: int


def open_discussion_for(session: Session, link: flow.ExpertLink) -> Discussion | None:
    """The open discussion the link's expert takes part in: of the link's (closed) round, once they submitted it."""
    if not link.submitted or link.round.status != RoundStatus.CLOSED:
        return None
    discussion = session.get(Discussion, link.round.id)
    return discussion if discussion is not None and discussion.is_open else None


def _items(link: flow.ExpertLink, discussion: Discussion) -> tuple[Item, ...]:
    wanted = discussion.items.split()
    known = {item.id: item for item in link.definition.items()}
    return tuple(known[i] for i in wanted if i in known)


def show_discussion(session: Session, link: flow.ExpertLink) -> DiscussionShown | Redirect:
    """The discussion page, or the link's own page when there is no discussion for this expert."""
    discussion = open_discussion_for(session, link)
    if discussion is None:
        return Redirect(LANDING)
    return _shown(session, link, discussion)


def _shown(
    session: Session,
    link: flow.ExpertLink,
    discussion: Discussion,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, Message] | None = None,
    problem: Message | None = None,
) -> DiscussionShown:
    items = _items(link, discussion)
    results = group_results(session, link, link.round, list(items), discussion=True)
    return DiscussionShown(link.round.number, items, results, values or {}, errors or {}, problem)


def post_discussion(
    session: Session, link: flow.ExpertLink, form: Mapping[str, Sequence[str]]
) -> DiscussionShown | Posted | Redirect:
    """Store the reasons posted (one per item box that is not empty); the page again with errors, else back to it.

    Raises RefusedPost for a field the page does not have or a field sent twice: nothing is stored then.
    """
    discussion = open_discussion_for(session, link)
    if discussion is None:
        return Redirect(LANDING)
    items = _items(link, discussion)
    names = {item.id + REASON_SUFFIX: item for item in items}
    for name, sent in form.items():
        if name in CONTROL_FIELDS:
            continue
        if name not in names:
            raise RefusedPost(FOREIGN_FIELDS)
        if len(sent) != 1:
            raise RefusedPost(SENT_TWICE)
    typed = {name: form[name][0] for name in names if name in form}
    texts: dict[str, str] = {}
    errors: dict[str, Message] = {}
    for name, raw in typed.items():
        try:
            text = clean_text(raw, name)
        except FieldError as exc:
            errors[name] = exc.message
            continue
        if len(text) > MAX_RATIONALE:
            errors[name] = Message(
                "Keep this answer to {max} characters (it has {n}).", {"max": MAX_RATIONALE, "n": len(text)}
            )
        elif text:
            texts[name] = text
    if errors or not texts:
        return _shown(session, link, discussion, typed, errors, None if errors else NOTHING_WRITTEN)
    response = link.response
    if (
        response is None
    ):  # a submitted expert always has a response; without one there is nothing to post from
        return Redirect(LANDING)
    for name, text in texts.items():
        session.add(
            DiscussionPost(round_id=link.round.id, item_id=names[name].id, response_id=response.id, body=text)
        )
    session.flush()
    return Posted(len(texts))


def posts_of(session: Session, round_id: int) -> list[DiscussionPost]:
    """Every post of a round's discussion (for the researcher; experts read them through the feedback)."""
    return list(session.scalars(select(DiscussionPost).where(DiscussionPost.round_id == round_id)))
