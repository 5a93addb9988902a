"""A study's dashboard from aggregate SQL only: no response row is loaded into Python.

Invitation counts come from one GROUP BY over invitations; submissions per day, the completion-time histogram and
the last saved page of unfinished responses from GROUP BYs over responses (the index on ``study_id, status``
serves them all). In anonymous studies every count from 1 to k-1 is shown as "< k", and figures derived from
such counts (a rate, a median) are not shown, so small groups cannot be singled out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicit.instruments.schema import text_in
from elicit.instruments.versions import definition_of
from elicit.models import Invitation, InvitationStatus, Response, ResponseStatus, Study, StudyStatus, utcnow

CHART_DAYS = 60
HIDDEN = "—"


@dataclass(frozen=True)
class Figure:
    """A count as shown: ``text`` is the number, or "< k" when it is suppressed."""

    value: int
    text: str
    suppressed: bool = False

    def __str__(self) -> str:
        return self.text


class Suppressor:
    """The k rule of anonymous studies (pseudonymous studies show exact counts)."""

    def __init__(self, anonymous: bool, k: int) -> None:
        self.anonymous = anonymous
        self.k = k

    def hides(self, n: int) -> bool:
        return self.anonymous and 0 < n < self.k

    def count(self, n: int) -> Figure:
        if self.hides(n):
            return Figure(n, f"< {self.k}", True)
        return Figure(n, str(n))


@dataclass(frozen=True)
class Funnel:
    """Invited, opened, in progress, submitted, declined (and revoked) for a cohort or the whole study."""

    code: str
    label: str
    invited: Figure
    opened: Figure
    in_progress: Figure
    submitted: Figure
    declined: Figure
    revoked: Figure
    rate: str


@dataclass(frozen=True)
class Day:
    day: date
    count: Figure


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
class PageStop:
    page_id: str
    title: str
    count: Figure


@dataclass(frozen=True)
class Dashboard:
    anonymous: bool
    k: int
    cohorts: tuple[Funnel, ...]
    total: Funnel
    days: tuple[Day, ...]
    chart: Chart | None
    median_minutes: str
    submitted_responses: Figure
    drop_off: tuple[PageStop, ...]
    unfinished: Figure


def build(session: Session, study: Study) -> Dashboard:
    """Everything the study page shows about progress."""
    rule = Suppressor(study.anonymity == "anonymous", study.k_threshold)
    by_cohort: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cohort_id, status, n in session.execute(
        select(Invitation.cohort_id, Invitation.status, func.count())
        .where(Invitation.study_id == study.id)
        .group_by(Invitation.cohort_id, Invitation.status)
    ):
        by_cohort[cohort_id][status] += n
    cohorts = tuple(funnel(c.code, c.label, by_cohort[c.id], rule) for c in study.cohorts)
    overall: dict[str, int] = defaultdict(int)
    for counts in by_cohort.values():
        for status, n in counts.items():
            overall[status] += n
    total = funnel("", "All cohorts", overall, rule)

    submitted = (Response.study_id == study.id, Response.status == ResponseStatus.SUBMITTED.value)
    per_day: dict[date, int] = {
        day: n
        for day, n in session.execute(
            select(Response.submitted_on, func.count())
            .where(*submitted, Response.submitted_on.is_not(None))
            .group_by(Response.submitted_on)
        )
        if day is not None
    }
    days = day_series(per_day, rule, open_until_today=study.status == StudyStatus.OPEN.value)
    histogram = list(
        session.execute(
            select(Response.duration_minutes, func.count())
            .where(*submitted, Response.duration_minutes.is_not(None))
            .group_by(Response.duration_minutes)
        )
    )
    n_submitted = sum(per_day.values())
    median = median_of(histogram)
    median_text = HIDDEN if median is None or rule.hides(n_submitted) else f"{median:g} min"

    stops = session.execute(
        select(Response.pages_done, func.count())
        .where(Response.study_id == study.id, Response.status == ResponseStatus.IN_PROGRESS.value)
        .group_by(Response.pages_done)
    )
    drop_off, unfinished = page_stops(study, stops, rule)
    return Dashboard(
        anonymous=rule.anonymous,
        k=rule.k,
        cohorts=cohorts,
        total=total,
        days=days,
        chart=chart(days, rule.k) if days else None,
        median_minutes=median_text,
        submitted_responses=rule.count(n_submitted),
        drop_off=drop_off,
        unfinished=unfinished,
    )


def funnel(code: str, label: str, counts: dict[str, int], rule: Suppressor) -> Funnel:
    revoked = counts.get(InvitationStatus.REVOKED.value, 0)
    invited = sum(counts.values()) - revoked
    not_opened = counts.get(InvitationStatus.NOT_OPENED.value, 0)
    submitted = counts.get(InvitationStatus.SUBMITTED.value, 0)
    if invited and not rule.hides(submitted) and not rule.hides(invited):
        rate = f"{100 * submitted / invited:.0f}%"
    else:
        rate = HIDDEN
    return Funnel(
        code=code,
        label=label,
        invited=rule.count(invited),
        opened=rule.count(invited - not_opened),
        in_progress=rule.count(counts.get(InvitationStatus.IN_PROGRESS.value, 0)),
        submitted=rule.count(submitted),
        declined=rule.count(counts.get(InvitationStatus.DECLINED.value, 0)),
        revoked=rule.count(revoked),
        rate=rate,
    )


def day_series(per_day: dict[date, int], rule: Suppressor, open_until_today: bool) -> tuple[Day, ...]:
    """Every day from the first submission to the last (or today, while the study is open), at most 60 days."""
    if not per_day:
        return ()
    first, last = min(per_day), max(per_day)
    today = utcnow().date()
    if open_until_today and today > last:
        last = today
    first = max(first, last - timedelta(days=CHART_DAYS - 1))
    span = (last - first).days + 1
    return tuple(
        Day(d, rule.count(per_day.get(d, 0))) for d in (first + timedelta(days=i) for i in range(span))
    )


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


def page_stops(
    study: Study, rows: Iterable[tuple[str | None, int]], rule: Suppressor
) -> tuple[tuple[PageStop, ...], Figure]:
    """Unfinished responses by the last page they saved, in questionnaire order; and how many saved none."""
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
    stops = tuple(PageStop(p, titles.get(p, p), rule.count(by_page.get(p, 0))) for p in order)
    return stops, rule.count(none_saved)


def chart(days: Sequence[Day], k: int) -> Chart:
    """Bars for each day; a suppressed day is an outlined box up to k ("fewer than k"), not a false height."""
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
        label = f"{d.day:%d %b %Y}: {d.count.text} submitted"
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
    shown = [d for d in days if d.count.value]
    summary = f"Submissions per day from {days[0].day:%d %b %Y} to {days[-1].day:%d %b %Y}; {len(shown)} day(s) with submissions."
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


def study_totals(session: Session, studies: Sequence[Study]) -> dict[int, tuple[Figure, Figure]]:
    """(invited, submitted) for each study in one query, for the studies list."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if studies:
        for study_id, status, n in session.execute(
            select(Invitation.study_id, Invitation.status, func.count())
            .where(Invitation.study_id.in_([s.id for s in studies]))
            .group_by(Invitation.study_id, Invitation.status)
        ):
            counts[study_id][status] = n
    result = {}
    for study in studies:
        rule = Suppressor(study.anonymity == "anonymous", study.k_threshold)
        c = counts[study.id]
        invited = sum(c.values()) - c.get(InvitationStatus.REVOKED.value, 0)
        result[study.id] = (rule.count(invited), rule.count(c.get(InvitationStatus.SUBMITTED.value, 0)))
    return result
