"""Controlled feedback for Delphi rounds: the expert's own earlier answer and the group's earlier result.

Only submitted responses of the previous round count. A group (cohort or overall) smaller than the study's k is
never shown, not even its size, and neither is whatever would give it back: "all experts" minus the cohorts that
are shown is the hidden cohorts' answers, so each item's groups go through ``elicit.suppression`` (the next
smallest cohort is hidden too, or everyone's result when no cohort is left). Every hidden group reads the same,
so an expert cannot tell which one is small. Quartiles use linear interpolation (Hyndman & Fan type 7, numpy's
default), the same rule as the consensus tables.

The same results serve IDEA's discussion step (:mod:`elicit.responding.discussion`), which adds every expert's
range and best estimate of a distribution item, unlabelled and in order of the best estimate, and only when
"all experts" is shown; reasons posted in a discussion are read, scrubbed, with the next round's feedback too.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.instruments.schema import Item, level_name
from elicit.instruments.types import StoredValue
from elicit.models import Answer, AnswerNote, DiscussionPost, Response, ResponseStatus, Round
from elicit.responding.flow import ExpertLink, load_answers
from elicit.rounds import previous_round
from elicit.scrubbing import scrubber_for_study
from elicit.suppression import Relation, suppress


@dataclass(frozen=True)
class GroupResult:
    """One group's previous-round answers to an item (``n`` is 0 and the rest empty when suppressed)."""

    scope: str  # "cohort" or "all"
    n: int
    suppressed: bool
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    counts: tuple[tuple[str, int], ...] = ()  # (choice code, count), in choice order
    pooled: tuple[tuple[str, float], ...] = ()  # quantile items: median of each level

    @property
    def max_count(self) -> int:
        return max((c for _, c in self.counts), default=0)


@dataclass(frozen=True)
class Estimate:
    """One expert's range and best estimate of a distribution item (``best`` None when the range holds none)."""

    low: float
    best: float | None
    high: float
    own: bool = False


@dataclass(frozen=True)
class ItemFeedback:
    item_id: str
    round_number: int
    own: Any
    groups: tuple[GroupResult, ...]
    rationales: tuple[str, ...] = field(default=())
    estimates: tuple[
        Estimate, ...
    ] = ()  # the discussion step only: everyone's, in order of the best estimate
    own_posts: tuple[str, ...] = ()  # the discussion step only: what this expert posted, as written


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """Q1, median, Q3 by linear interpolation (Hyndman & Fan type 7, numpy's default)."""
    if len(values) == 1:
        return float(values[0]), float(values[0]), float(values[0])
    q1, q2, q3 = statistics.quantiles([float(v) for v in values], n=4, method="inclusive")
    return q1, q2, q3


def _hidden_groups(cohort_of_answer: Iterable[int], k: int) -> frozenset[int | str]:
    """The cohorts (by id) and "all" whose results cannot be shown for one item: small, or their complements."""
    sizes: dict[int | str, int] = dict(Counter(cohort_of_answer))
    parts = tuple(sizes)
    sizes["all"] = sum(sizes.values())
    return suppress(sizes, [Relation("all", parts)], k)


def estimate_of(item: Item, value: Any, own: bool = False) -> Estimate | None:
    """A distribution answer as its range (the outer points of its cumulative distribution) and best estimate."""
    try:
        points = item.kind.cumulative(item, value)
    except (KeyError, TypeError, ValueError):
        return None
    if points is None or not points.values:
        return None
    values, probabilities = points.values, points.probabilities
    low = points.lower if points.lower is not None else values[0]
    high = points.upper if points.upper is not None else values[-1]
    best = None
    pairs = list(zip(values, probabilities, strict=True))
    for (v0, p0), (v1, p1) in zip(pairs, pairs[1:], strict=False):
        if p0 <= 0.5 <= p1:  # the median by linear interpolation of the stated points
            best = v0 if p1 == p0 else v0 + (v1 - v0) * (0.5 - p0) / (p1 - p0)
            break
    if best is None and 0.5 in probabilities:
        best = values[probabilities.index(0.5)]
    return Estimate(float(low), None if best is None else float(best), float(high), own)


def _summary(scope: str, item: Item, values: list[Any], hidden: bool) -> GroupResult:
    if hidden or not values:
        return GroupResult(scope, 0, True)
    if (
        item.kind.feedback == "distribution"
    ):  # roulette, four-point: the medians of the ranges and best estimates
        marks = [m for m in (estimate_of(item, v) for v in values) if m is not None]
        if not marks:
            return GroupResult(scope, len(values), False)
        bests = [m.best for m in marks if m.best is not None]
        q1, med, q3 = _quartiles(bests) if bests else (None, None, None)
        pooled = [("low", float(statistics.median(m.low for m in marks)))]
        if med is not None:
            pooled.append(("best", med))
        pooled.append(("high", float(statistics.median(m.high for m in marks))))
        return GroupResult(scope, len(values), False, med, q1, q3, pooled=tuple(pooled))
    if item.parts != ("",):  # a composite answer (a quantiles item's levels) is pooled part by part
        pooled = []
        for part in item.parts:
            column = [v[part] for v in values if isinstance(v, dict) and part in v]
            pooled.append((part, float(statistics.median(column))) if column else (part, float("nan")))
        best = level_name(50)  # and the best estimates are summarised as a number item's answers are
        q50 = [v[best] for v in values if isinstance(v, dict) and best in v]
        q1, med, q3 = _quartiles(q50) if q50 else (None, None, None)
        return GroupResult(scope, len(values), False, med, q1, q3, pooled=tuple(pooled))
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    counts: tuple[tuple[str, int], ...] = ()
    if item.choices:
        tally = Counter(str(v) for v in values)
        counts = tuple((c.key, tally.get(c.key, 0)) for c in item.choices)
    if numbers:
        q1, med, q3 = _quartiles(numbers)
        return GroupResult(scope, len(values), False, med, q1, q3, counts)
    return GroupResult(scope, len(values), False, counts=counts)


def feedback_for(session: Session, link: ExpertLink, items: Iterable[Item]) -> dict[str, ItemFeedback]:
    """Feedback for the given items that the current round marks, keyed by item id."""
    marked = set((link.round.feedback_items or "").split())
    wanted = [item for item in items if item.id in marked]
    if not wanted:
        return {}
    earlier = previous_round(session, link.round)
    if earlier is None:
        return {}
    return group_results(session, link, earlier, wanted)


def group_results(
    session: Session, link: ExpertLink, earlier: Round, wanted: list[Item], *, discussion: bool = False
) -> dict[str, ItemFeedback]:
    """The results of round ``earlier`` on ``wanted`` as ``link``'s expert may see them, keyed by item id.

    ``discussion`` (IDEA's discussion step) adds everyone's estimates of distribution items and the expert's own
    posts; the reasons always include those posted in the discussion of ``earlier``.
    """
    if not wanted:
        return {}
    responses = session.execute(
        select(Response.id, Response.cohort_id, Response.invitation_id).where(
            Response.round_id == earlier.id, Response.status == ResponseStatus.SUBMITTED
        )
    ).all()
    cohort_of = {rid: cohort for rid, cohort, _ in responses}
    own_id = next((rid for rid, _, inv in responses if inv == link.invitation.id), None)
    ids = [item.id for item in wanted]
    values: dict[str, dict[str, Any]] = defaultdict(dict)
    rows = session.execute(
        select(
            Answer.response_id,
            Answer.item_id,
            Answer.part,
            Answer.value_num,
            Answer.value_text,
            Answer.dont_know,
        )
        .join(Response, Response.id == Answer.response_id)
        .where(Response.round_id == earlier.id, Response.status == ResponseStatus.SUBMITTED)
        .where(Answer.item_id.in_(ids))
    ).all()
    stored: dict[tuple[str, str], list[StoredValue]] = defaultdict(list)
    for rid, item_id, part, num, text, dont_know in rows:
        if not dont_know:
            stored[(rid, item_id)].append(StoredValue(part, num, text))
    by_item = {item.id: item for item in wanted}
    for (rid, item_id), item_rows in stored.items():
        item = by_item[item_id]
        values[item_id][rid] = item.kind.from_rows(item, item_rows)  # the value as the type reads its rows
    notes = session.execute(
        select(AnswerNote.response_id, AnswerNote.item_id, AnswerNote.rationale)
        .join(Response, Response.id == AnswerNote.response_id)
        .where(Response.round_id == earlier.id, Response.status == ResponseStatus.SUBMITTED)
        .where(AnswerNote.item_id.in_(ids), AnswerNote.rationale.is_not(None))
    ).all()
    posts = session.execute(
        select(DiscussionPost.response_id, DiscussionPost.item_id, DiscussionPost.body)
        .join(Response, Response.id == DiscussionPost.response_id)
        .where(DiscussionPost.round_id == earlier.id, Response.status == ResponseStatus.SUBMITTED)
        .where(DiscussionPost.item_id.in_(ids))
    ).all()
    notes = [*notes, *posts]
    own_answers: dict[str, Any] = {}
    if own_id is not None:
        own_response = session.get(Response, own_id)
        if own_response is not None:
            own_answers = load_answers(session, own_response, link.definition)
    k = link.study.k_threshold
    # Other experts read these reasons: names, addresses, numbers, links and tokens are scrubbed first.
    scrubber = scrubber_for_study(session, link.study.id) if notes else None
    result: dict[str, ItemFeedback] = {}
    cohort = link.invitation.cohort_id
    for item in wanted:
        answers = values.get(item.id, {})
        everyone = [v for v in answers.values() if v is not None]
        mine = [v for rid, v in answers.items() if v is not None and cohort_of.get(rid) == cohort]
        hidden = _hidden_groups((cohort_of[rid] for rid, v in answers.items() if v is not None), k)
        groups = (
            _summary("cohort", item, mine, cohort in hidden),
            _summary("all", item, everyone, "all" in hidden),
        )
        texts = sorted(
            scrubber.scrub(text)
            for rid, item_id, text in notes
            if scrubber is not None and item_id == item.id and rid != own_id and text and text.strip()
        )
        shown_texts = tuple(texts) if len(everyone) >= k else ()
        estimates: tuple[Estimate, ...] = ()
        own_posts: tuple[str, ...] = ()
        if discussion:
            if "all" not in hidden and len(everyone) >= k:
                marks = [
                    estimate_of(item, v, own=rid == own_id) for rid, v in answers.items() if v is not None
                ]
                # In order of the best estimate (then the range): never in an order that says who is who.
                estimates = tuple(
                    sorted(
                        (m for m in marks if m is not None),
                        key=lambda m: (m.best if m.best is not None else m.low, m.low, m.high, m.own),
                    )
                )
            own_posts = tuple(
                sorted(body for rid, item_id, body in posts if rid == own_id and item_id == item.id)
            )
        result[item.id] = ItemFeedback(
            item.id, earlier.number, own_answers.get(item.id), groups, shown_texts, estimates, own_posts
        )
    return result
