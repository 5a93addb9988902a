"""The participant flow of an export (manifest ``participant_flow``): invitations by status, responses by round.

What a CONSORT-style flow table needs, counted with GROUP BY queries in the export's snapshot (no response row is
read): the study's invitations per cohort by their status now (an invitation serves every round of the study, so
it is counted once, not per round; revoked links are counted apart), and the responses of each round per cohort
by status (in progress, submitted, declined).

Privacy (DESIGN.md "Privacy model", README "Data and privacy"). Invitation counts are counts of links, exact, as
the studio's invitations page lists every invitation with its status already. Response counts follow the studio's
dashboard (``elicit.studio.dashboard``), so the export never shows a figure the dashboard hides: in an anonymous
study, each round's counts from 1 to k-1 are hidden with their complements (``elicit.suppression``: the cohorts of
one status add up to the round's "all" for that status), and a hidden count is ``null``, named in ``hidden``.
Pseudonymous studies are linked by design and their counts are exact, as on the dashboard. ``elicit analyze``
hides, in its report, the groups its own k rule hides as well.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from elicit.exporting.source import StudyInfo
from elicit.models import Invitation, InvitationStatus, Response, ResponseStatus
from elicit.suppression import Relation, suppress

__all__ = ["INVITATION_STATUSES", "RESPONSE_STATUSES", "participant_flow"]

INVITATION_STATUSES = tuple(s.value for s in InvitationStatus)
RESPONSE_STATUSES = tuple(s.value for s in ResponseStatus)

RULE = (
    "Invitations: every link of the cohort by its status at export (one link serves every round; 'invited' "
    "leaves revoked links out), exact. Responses: per round and cohort by status; in an anonymous study counts "
    "from 1 to k-1 are hidden (null) with whatever would give them back from 'all', as on the studio's dashboard."
)


def participant_flow(conn: Connection, info: StudyInfo, k: int) -> dict[str, Any]:
    """The ``participant_flow`` entry of the manifest of ``info``'s export under ``k``."""
    codes = {cohort_id: code for cohort_id, (code, _) in info.cohorts.items()}
    invitations = {code: dict.fromkeys(INVITATION_STATUSES, 0) for code in codes.values()}
    for cohort_id, link_status, n in conn.execute(
        select(Invitation.cohort_id, Invitation.status, func.count())
        .where(Invitation.study_id == info.id)
        .group_by(Invitation.cohort_id, Invitation.status)
    ):
        invitations[codes[cohort_id]][str(link_status)] = int(n)
    for counts in invitations.values():
        counts["invited"] = sum(counts[s] for s in INVITATION_STATUSES) - counts[InvitationStatus.REVOKED]

    numbers = {round_id: number for round_id, (number, _, _) in info.rounds.items()}
    raw: dict[tuple[int, str, str], int] = {
        (number, code, status): 0
        for number in numbers.values()
        for code in codes.values()
        for status in RESPONSE_STATUSES
    }
    for round_id, cohort_id, response_status, n in conn.execute(
        select(Response.round_id, Response.cohort_id, Response.status, func.count())
        .where(Response.study_id == info.id)
        .group_by(Response.round_id, Response.cohort_id, Response.status)
    ):
        raw[(numbers[round_id], codes[cohort_id], str(response_status))] = int(n)
    cells: dict[tuple[Any, ...], int] = dict(raw)
    for number in numbers.values():
        for status in RESPONSE_STATUSES:
            cells[(number, "all", status)] = sum(raw[(number, code, status)] for code in codes.values())
    hide: frozenset[tuple[Any, ...]] = frozenset()
    if not info.pseudonymous:
        relations = [
            Relation((number, "all", status), tuple((number, code, status) for code in codes.values()))
            for number in numbers.values()
            for status in RESPONSE_STATUSES
        ]
        hide = suppress(cells, relations, k)

    rounds = []
    hidden = []
    for number, _, round_status in sorted(info.rounds.values()):
        groups: dict[str, dict[str, int | None]] = {}
        for code in (*codes.values(), "all"):
            groups[code] = {}
            for name in RESPONSE_STATUSES:
                cell = (number, code, name)
                groups[code][name] = None if cell in hide else cells[cell]
                if cell in hide:
                    hidden.append(f"rounds.{number}.{code}.{name}")
        rounds.append({"number": number, "status": str(round_status), "responses": groups})
    return {
        "anonymous": not info.pseudonymous,
        "k": k,
        "rule": RULE,
        "invitations": invitations,
        "rounds": rounds,
        "hidden": hidden,
    }
