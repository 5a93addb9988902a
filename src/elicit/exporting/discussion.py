"""``discussion.csv``: the reasons experts posted in IDEA's discussion steps, as the other experts read them.

One row per post: ``round`` (the round discussed), ``item`` and ``reason``, scrubbed by the export's scrubber and
safe for spreadsheets. No respondent, no time, and rows sorted by round, item and text, so the file says neither
who wrote a post nor in which order posts came; a round that fewer than k experts submitted contributes nothing,
as its discussion page showed nothing of the others either.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import Connection, func, select

from elicit.csvsafe import csv_safe
from elicit.models import DiscussionPost, Response, ResponseStatus, Round
from elicit.scrubbing import Scrubber

FILE = "discussion.csv"
HEADER = ("round", "item", "reason")


def write_discussion(conn: Connection, study_id: int, folder: Path, scrubber: Scrubber, k: int) -> list[str]:
    """Write ``discussion.csv`` when the study's discussions have posts that may be shown; the files written."""
    submitted = dict(
        conn.execute(
            select(Response.round_id, func.count())
            .where(Response.study_id == study_id, Response.status == ResponseStatus.SUBMITTED)
            .group_by(Response.round_id)
        ).all()
    )
    rows = conn.execute(
        select(Round.id, Round.number, DiscussionPost.item_id, DiscussionPost.body)
        .join(Round, Round.id == DiscussionPost.round_id)
        .join(Response, Response.id == DiscussionPost.response_id)
        .where(Round.study_id == study_id, Response.status == ResponseStatus.SUBMITTED)
    ).all()
    shown = sorted(
        (number, item, csv_safe(scrubber.scrub(body)))
        for round_id, number, item, body in rows
        if submitted.get(round_id, 0) >= k and body.strip()
    )
    if not shown:
        return []
    with (folder / FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(shown)
    return [FILE]
