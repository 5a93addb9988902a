"""Controlled feedback for Delphi rounds: the expert's own earlier answer and the group's earlier result.

Only submitted responses of the previous round count. A group (cohort or overall) smaller than the study's k is
never shown, not even its size, and neither is whatever would give it back: "all experts" minus the cohorts that
are shown is the hidden cohorts' answers, so each item's groups go through ``elicit.suppression`` (the next
smallest cohort is hidden too, or everyone's result when no cohort is left). Every hidden group reads the same,
so an expert cannot tell which one is small. Quartiles use linear interpolation (Hyndman & Fan type 7, numpy's
default), the same rule as the consensus tables.
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
from elicit.models import Answer, AnswerNote, Response, ResponseStatus
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
class ItemFeedback:
    item_id: str
    round_number: int
    own: Any
    groups: tuple[GroupResult, ...]
    rationales: tuple[str, ...] = field(default=())


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


def _summary(scope: str, item: Item, values: list[Any], hidden: bool) -> GroupResult:
    if hidden or not values:
        return GroupResult(scope, 0, True)
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
        result[item.id] = ItemFeedback(item.id, earlier.number, own_answers.get(item.id), groups, shown_texts)
    return result
