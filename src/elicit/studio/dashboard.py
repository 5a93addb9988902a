"""A study's progress, from aggregate SQL only (no response row is loaded into Python), for one round.

Every count is defined once, here, and the studio's study page, its studies list and the API's study status all
show these figures (``progress``), so they cannot disagree. Each describes the round the study is in (the open
round, else the last one), and says so:

- **invited**: live invitations (revoked ones left out; they are counted apart as **revoked**);
- **opened** (pseudonymous studies): invitations opened in this round;
- **confirmed finished** (anonymous studies): invitations known to have answered or declined. An anonymous
  study never learns this per expert as it happens: it is confirmed for groups of at least k of a cohort at a
  time (``elicit.responding.unlinking``), so this count lags the responses and comes in steps of k or more;
- **in progress**, **submitted**, **declined**: responses of this round (a pseudonymous expert who declines keeps
  no response, so their invitation is what counts). Unfinished responses by their last saved page add up to
  *in progress*; submissions per day add up to *submitted*; the completion time is over the same submissions.

Anonymous studies hide small groups with ``elicit.suppression``: the counts about responses (in progress,
submitted, declined; the drop-off and per-day tables) from 1 to k-1, and whatever would let them be worked out
from the "all cohorts" row, the drop-off table or the daily series. A rate or median built on a hidden count is
not shown. Invitation counts are exact: the invitations page lists every invitation with its status already.
Pseudonymous studies are linked by design and show exact counts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicit.instruments.schema import text_in
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    Invitation,
    InvitationStatus,
    Response,
    ResponseStatus,
    Round,
    RoundStatus,
    Study,
    StudyStatus,
    utcnow,
)
from elicit.suppression import Relation, suppress

CHART_DAYS = 60
HIDDEN = "—"  # a rate or median that is not shown
SUPPRESSED = "hidden"  # every hidden count looks the same, small or hidden with it

RESPONSE_COUNTS = ("in_progress", "submitted", "declined")
# An anonymous invitation is finished once confirmed in a group of k; "submitted" and "declined" are statuses of
# invitations finished before that design (kept as they were).
FINISHED_STATUSES = frozenset(
    {InvitationStatus.FINISHED, InvitationStatus.SUBMITTED, InvitationStatus.DECLINED}
)


@dataclass(frozen=True)
class Figure:
    """A count as shown: ``text`` is the number, or "hidden" when it is suppressed (``value`` is then private)."""

    value: int
    text: str
    suppressed: bool = False

    def __str__(self) -> str:
        return self.text

    @property
    def public(self) -> int | None:
        """The number a reader may see: None when hidden (for JSON)."""
        return None if self.suppressed else self.value


def shown(n: int) -> Figure:
    return Figure(n, str(n))


def hidden(n: int) -> Figure:
    return Figure(n, SUPPRESSED, True)


@dataclass(frozen=True)
class Funnel:
    """The round's counts for a cohort, or the whole study (``code`` ""); see the module docstring."""

    code: str
    label: str
    invited: Figure
    revoked: Figure
    opened: Figure | None  # pseudonymous studies
    finished: Figure | None  # anonymous studies: confirmed finished
    in_progress: Figure
    submitted: Figure
    declined: Figure
    rate: str

    @property
    def suppressed(self) -> bool:
        return any(f.suppressed for f in (self.in_progress, self.submitted, self.declined))


@dataclass(frozen=True)
class Day:
    day: date
    count: Figure


@dataclass(frozen=True)
class PageStop:
    page_id: str
    title: str
    count: Figure


@dataclass(frozen=True)
class RoundInfo:
    id: int
    number: int
    status: str
    of: int  # how many rounds the study has


@dataclass(frozen=True)
class Progress:
    """The round's counts by cohort and in all, unfinished responses by last saved page, submissions per day."""

    anonymous: bool
    k: int
    round: RoundInfo | None
    cohorts: tuple[Funnel, ...]
    total: Funnel
    days: tuple[Day, ...]  # every day from the first submission of the round to the last
    drop_off: tuple[PageStop, ...]
    unfinished: Figure  # in progress with no page saved yet

    @property
    def suppressed(self) -> bool:
        counts = [self.unfinished, *(d.count for d in self.days), *(s.count for s in self.drop_off)]
        return any(f.suppressed for f in (*self.cohorts, self.total)) or any(f.suppressed for f in counts)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    suppressed: bool


@dataclass(frozen=True)
class Chart:
    """Geometry of the submissions-per-day bar chart (drawn as SVG by the template)."""

    width: int
    height: int
    left: int
    baseline: float
    plot_width: float
    bars: tuple[Bar, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str], ...]
    summary: str


@dataclass(frozen=True)
class Dashboard:
    anonymous: bool
    k: int
    round: RoundInfo | None
    cohorts: tuple[Funnel, ...]
    total: Funnel
    days: tuple[Day, ...]  # the chart's days: at most the last 60
    chart: Chart | None
    median_minutes: str
    submitted_responses: Figure
    drop_off: tuple[PageStop, ...]
    unfinished: Figure


@dataclass(frozen=True)
class StudyCounts:
    """What the studies list shows: the same figures as the study's page, for its current round."""

    invited: Figure
    submitted: Figure
    round: RoundInfo | None


@dataclass
class _Counts:
    """The raw GROUP BY results of one study's round (nothing here is shown as it is)."""

    invitations: dict[int, dict[str, int]]
    responses: dict[int, dict[str, int]]
    per_day: dict[date, int]
    stops: list[tuple[str | None, int]]


def shown_round(study: Study) -> Round | None:
    """The round the figures describe: the open round, else the last one."""
    rounds = list(study.rounds)
    return next((r for r in rounds if r.status == RoundStatus.OPEN), rounds[-1] if rounds else None)


def progress(session: Session, study: Study) -> Progress:
    """The study's progress in its current round, small groups hidden in anonymous studies."""
    rnd = shown_round(study)
    info = RoundInfo(rnd.id, rnd.number, rnd.status, len(study.rounds)) if rnd else None
    return _progress(study, info, _load(session, [(study, info)])[study.id])


def build(session: Session, study: Study) -> Dashboard:
    """Everything the study page shows about progress."""
    board = progress(session, study)
    histogram: list[tuple[int | None, int]] = []
    if board.round is not None:
        histogram = [
            (minutes, n)
            for minutes, n in session.execute(
                select(Response.duration_minutes, func.count())
                .where(
                    Response.study_id == study.id,
                    Response.round_id == board.round.id,
                    Response.status == ResponseStatus.SUBMITTED,
                    Response.duration_minutes.is_not(None),
                )
                .group_by(Response.duration_minutes)
            )
        ]
    median = median_of(histogram)
    submitted = board.total.submitted
    median_text = HIDDEN if median is None or submitted.suppressed else f"{median:g} min"
    days = window(board.days, open_until_today=study.status == StudyStatus.OPEN)
    return Dashboard(
        anonymous=board.anonymous,
        k=board.k,
        round=board.round,
        cohorts=board.cohorts,
        total=board.total,
        days=days,
        chart=chart(days, board.k) if days else None,
        median_minutes=median_text,
        submitted_responses=submitted,
        drop_off=board.drop_off,
        unfinished=board.unfinished,
    )


def study_totals(session: Session, studies: Sequence[Study]) -> dict[int, StudyCounts]:
    """Invited and submitted (current round) for each study of the studies list, in four queries for all."""
    if not studies:
        return {}
    rounds: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for study_id, round_id, number, status in session.execute(
        select(Round.study_id, Round.id, Round.number, Round.status)
        .where(Round.study_id.in_([s.id for s in studies]))
        .order_by(Round.study_id, Round.number)
    ):
        rounds[study_id].append((round_id, number, status))
    wanted: list[tuple[Study, RoundInfo | None]] = []
    for study in studies:
        own = rounds.get(study.id, [])
        pick = next((r for r in own if r[2] == RoundStatus.OPEN), own[-1] if own else None)
        wanted.append((study, RoundInfo(pick[0], pick[1], pick[2], len(own)) if pick else None))
    counts = _load(session, wanted)
    result = {}
    for study, info in wanted:
        board = _progress(study, info, counts[study.id])
        result[study.id] = StudyCounts(board.total.invited, board.total.submitted, info)
    return result


def _load(session: Session, wanted: Sequence[tuple[Study, RoundInfo | None]]) -> dict[int, _Counts]:
    """The GROUP BYs behind ``progress``, for several studies at once (one query each, whatever their number)."""
    ids = [study.id for study, _ in wanted]
    of_round = {info.id: study.id for study, info in wanted if info is not None}
    counts = {study_id: _Counts(defaultdict(dict), defaultdict(dict), {}, []) for study_id in ids}
    for study_id, cohort_id, status, n in session.execute(
        select(Invitation.study_id, Invitation.cohort_id, Invitation.status, func.count())
        .where(Invitation.study_id.in_(ids))
        .group_by(Invitation.study_id, Invitation.cohort_id, Invitation.status)
    ):
        counts[study_id].invitations[cohort_id][status] = n
    if not of_round:
        return counts
    in_round = (Response.study_id.in_(ids), Response.round_id.in_(list(of_round)))
    for round_id, cohort_id, response_status, n in session.execute(
        select(Response.round_id, Response.cohort_id, Response.status, func.count())
        .where(*in_round)
        .group_by(Response.round_id, Response.cohort_id, Response.status)
    ):
        counts[of_round[round_id]].responses[cohort_id][response_status] = n
    for round_id, day, n in session.execute(
        select(Response.round_id, Response.submitted_on, func.count())
        .where(*in_round, Response.status == ResponseStatus.SUBMITTED, Response.submitted_on.is_not(None))
        .group_by(Response.round_id, Response.submitted_on)
    ):
        if day is not None:
            counts[of_round[round_id]].per_day[day] = n
    for round_id, pages_done, n in session.execute(
        select(Response.round_id, Response.pages_done, func.count())
        .where(*in_round, Response.status == ResponseStatus.IN_PROGRESS)
        .group_by(Response.round_id, Response.pages_done)
    ):
        counts[of_round[round_id]].stops.append((pages_done, n))
    return counts


def _progress(study: Study, info: RoundInfo | None, counts: _Counts) -> Progress:
    anonymous = study.anonymity == Anonymity.ANONYMOUS
    k = study.k_threshold
    raw: dict[tuple[Any, ...], int] = {}
    rows: list[tuple[str, str, dict[str, int], dict[str, int]]] = []
    for cohort in study.cohorts:
        rows.append(
            (
                cohort.code,
                cohort.label,
                counts.invitations.get(cohort.id, {}),
                counts.responses.get(cohort.id, {}),
            )
        )
    overall_inv: dict[str, int] = defaultdict(int)
    for per_status in counts.invitations.values():
        for status, n in per_status.items():
            overall_inv[status] += n
    for code, _, invitations, responses in rows:
        for name, n in _response_counts(invitations, responses, anonymous).items():
            raw[("cohort", code, name)] = n
    for name in RESPONSE_COUNTS:
        raw[("all", name)] = sum(raw[("cohort", code, name)] for code, *_ in rows)

    day_counts = _fill_days(counts.per_day)
    for day, n in day_counts.items():
        raw[("day", day)] = n
    stops, none_saved, titles = _page_stops(study, counts.stops)
    raw[("stop", "")] = none_saved
    for page_id, n in stops.items():
        raw[("stop", page_id)] = n

    hide: frozenset[tuple[Any, ...]] = frozenset()
    if anonymous:
        relations: list[Relation[tuple[Any, ...]]] = [
            Relation(("all", name), tuple(("cohort", code, name) for code, *_ in rows))
            for name in RESPONSE_COUNTS
        ]
        relations.append(Relation(("all", "submitted"), tuple(("day", d) for d in day_counts)))
        relations.append(Relation(("all", "in_progress"), (("stop", ""), *(("stop", p) for p in stops))))
        hide = suppress(raw, relations, k)

    def figure(cell: tuple[Any, ...]) -> Figure:
        return hidden(raw[cell]) if cell in hide else shown(raw[cell])

    def funnel(code: str, label: str, invitations: Mapping[str, int], key: tuple[str, ...]) -> Funnel:
        revoked = invitations.get(InvitationStatus.REVOKED, 0)
        invited = sum(invitations.values()) - revoked
        submitted = figure((*key, "submitted"))
        rate = HIDDEN if not invited or submitted.suppressed else f"{100 * submitted.value / invited:.0f}%"
        return Funnel(
            code=code,
            label=label,
            invited=shown(invited),
            revoked=shown(revoked),
            opened=None if anonymous else shown(invited - invitations.get(InvitationStatus.NOT_OPENED, 0)),
            finished=shown(sum(invitations.get(s, 0) for s in FINISHED_STATUSES)) if anonymous else None,
            in_progress=figure((*key, "in_progress")),
            submitted=submitted,
            declined=figure((*key, "declined")),
            rate=rate,
        )

    return Progress(
        anonymous=anonymous,
        k=k,
        round=info,
        cohorts=tuple(funnel(code, label, inv, ("cohort", code)) for code, label, inv, _ in rows),
        total=funnel("", "All cohorts", overall_inv, ("all",)),
        days=tuple(Day(d, figure(("day", d))) for d in day_counts),
        drop_off=tuple(PageStop(p, titles.get(p, p), figure(("stop", p))) for p in stops),
        unfinished=figure(("stop", "")),
    )


def _response_counts(
    invitations: Mapping[str, int], responses: Mapping[str, int], anonymous: bool
) -> dict[str, int]:
    """In progress, submitted and declined of one cohort in the round (see the module docstring)."""
    declined = invitations.get(InvitationStatus.DECLINED, 0)  # pseudonymous, or anonymous before 0004
    if anonymous:
        declined += responses.get(ResponseStatus.DECLINED, 0)
    return {
        "in_progress": responses.get(ResponseStatus.IN_PROGRESS, 0),
        "submitted": responses.get(ResponseStatus.SUBMITTED, 0),
        "declined": declined,
    }


def _fill_days(per_day: Mapping[date, int]) -> dict[date, int]:
    """Every day from the first submission to the last, zeros included."""
    if not per_day:
        return {}
    first, last = min(per_day), max(per_day)
    return {
        first + timedelta(days=i): per_day.get(first + timedelta(days=i), 0)
        for i in range((last - first).days + 1)
    }


def window(days: Sequence[Day], open_until_today: bool) -> tuple[Day, ...]:
    """The chart's days: up to today while the study is open (zeros after the last submission), at most 60."""
    if not days:
        return ()
    series = list(days)
    today = utcnow().date()
    if open_until_today and today > series[-1].day:
        last = series[-1].day
        series += [Day(last + timedelta(days=i), shown(0)) for i in range(1, (today - last).days + 1)]
    return tuple(series[-CHART_DAYS:])


def median_of(histogram: Sequence[tuple[int | None, int]]) -> float | None:
    """The median of a distribution given as (value, count) pairs."""
    pairs = sorted((v, n) for v, n in histogram if v is not None and n > 0)
    total = sum(n for _, n in pairs)
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # 0-based ranks of the middle value(s)
    found: list[int] = []
    seen = 0
    for value, n in pairs:
        while wanted and wanted[0] < seen + n:
            found.append(value)
            wanted.pop(0)
        seen += n
    return (found[0] + found[1]) / 2


def _page_stops(
    study: Study, rows: Iterable[tuple[str | None, int]]
) -> tuple[dict[str, int], int, dict[str, str]]:
    """Unfinished responses by the last page they saved, in questionnaire order; how many saved none; titles."""
    by_page: dict[str, int] = defaultdict(int)
    none_saved = 0
    for pages_done, n in rows:
        ids = (pages_done or "").split()
        if ids:
            by_page[ids[-1]] += n
        else:
            none_saved += n
    titles: dict[str, str] = {}
    for rnd in sorted(study.rounds, key=lambda r: -r.number):
        for page in definition_of(rnd.instrument_version).pages:
            titles.setdefault(page.id, text_in(page.title, "en") or page.id)
    order = list(titles) + sorted(p for p in by_page if p not in titles)
    return {p: by_page.get(p, 0) for p in order}, none_saved, titles


def chart(days: Sequence[Day], k: int) -> Chart:
    """Bars for each day; a hidden day is an outlined box up to k (its count is not shown), not a false height."""
    left, top, bottom, plot_height = 44, 12, 34, 160
    plot_width = 720.0
    n = len(days)
    slot = plot_width / n
    width = min(28.0, slot * 0.8)
    top_value = max([1] + [k if d.count.suppressed else d.count.value for d in days])
    y_max = nice_ceiling(top_value)
    baseline = top + plot_height
    bars = []
    for i, d in enumerate(days):
        value = k if d.count.suppressed else d.count.value
        height = plot_height * value / y_max
        x = left + i * slot + (slot - width) / 2
        label = f"{d.day:%d %b %Y}: " + (
            "count hidden" if d.count.suppressed else f"{d.count.value} submitted"
        )
        bars.append(
            Bar(
                round(x, 2),
                round(baseline - height, 2),
                round(width, 2),
                round(height, 2),
                label,
                d.count.suppressed,
            )
        )
    ticks = tuple(
        (round(baseline - plot_height * v / y_max, 2), str(v)) for v in sorted({0, y_max // 2, y_max})
    )
    step = max(1, math.ceil(n / 8))
    labels = tuple(
        (round(left + i * slot + slot / 2, 2), f"{d.day:%d %b}") for i, d in enumerate(days) if i % step == 0
    )
    with_submissions = [d for d in days if d.count.value]
    summary = (
        f"Submissions per day from {days[0].day:%d %b %Y} to {days[-1].day:%d %b %Y}; "
        f"{len(with_submissions)} day(s) with submissions."
    )
    return Chart(
        width=int(left + plot_width + 8),
        height=int(baseline + bottom),
        left=left,
        baseline=baseline,
        plot_width=plot_width,
        bars=tuple(bars),
        y_ticks=ticks,
        x_labels=labels,
        summary=summary,
    )


def nice_ceiling(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5, 10, 20, 50, ...)."""
    magnitude = int(10 ** max(0, len(str(max(1, value))) - 1))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude
