"""The participant-flow table (CONSORT-style): invited, opened, started, declined, not submitted, submitted,
excluded and analysed, per round and cohort, from the export's ``manifest.json`` (``participant_flow``).

The counts come from the export (invitations are links, counted exactly; responses per round as the studio's
dashboard shows them, ``null`` where it hides them). The report adds its own k rule on top, as for every other
table: in each round a cohort of 1 to k-1 submitted responses is hidden with its complement in "all"
(:func:`elicit.stats.disclosure.hidden_groups`, and in the round analysed also every group the analysis hides);
a hidden cohort has no row, and the "all" column then shows no count that would give its
responses back. A count the export never recorded (when an anonymous expert opened a link; the round a
pseudonymous expert declined in) is ``None`` and reads "not recorded".

"Excluded" counts the responses begun in the round that were not analysed, with the reasons: consent declined
(an anonymous study keeps an empty declined response; a pseudonymous study keeps none, so its declines are a
status of the link, counted with the invitations), and not submitted by the export (in progress).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elicit.stats.disclosure import ALL, hidden_groups

from .pipeline import Analysis

__all__ = ["HIDDEN", "STAGES", "participant_flow"]

HIDDEN = "hidden"
#: The table's rows: key, label, and whether it is indented under the row before (a reason or a part).
STAGES = (
    ("invited", "Invited (links)", False),
    ("opened", "Opened the link", False),
    ("started", "Started", False),
    ("excluded", "Excluded", False),
    ("declined", "declined consent", True),
    ("not_submitted", "not submitted (in progress at export)", True),
    ("submitted", "Submitted", False),
    ("analysed", "Analysed in this report", False),
)
NOTE = (
    "Invited: the cohort's links at export, revoked links left out (one link serves every round). Opened: links "
    "opened in the round (recorded for the current round of a pseudonymous study only; an anonymous study never "
    "records it). Started: responses begun in the round. Excluded: begun but not analysed, by reason. Analysed: "
    "the responses of the round this report analyses."
)


def _sum(*values: Any) -> int | str | None:
    if any(v == HIDDEN for v in values):
        return HIDDEN
    if any(v is None for v in values):
        return None
    return int(sum(values))


def _all_links(invitations: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The links of every cohort together (invited, not opened, declined)."""
    return {
        s: sum(int(v.get(s, 0)) for v in invitations.values()) for s in ("invited", "not_opened", "declined")
    }


def participant_flow(analysis: Analysis) -> dict[str, Any] | None:
    """The flow table's rows (one per round and group, a column per stage) and its notes, or None when the
    export's manifest has no ``participant_flow`` (an export made before Elicit recorded it)."""
    manifest = analysis.export.manifest or {}
    flow = manifest.get("participant_flow")
    if not isinstance(flow, Mapping) or not flow.get("rounds"):
        return None
    book = analysis.export.codebook
    cohorts = list(book.cohort_codes)
    k = analysis.disclosure.k
    anonymous = bool(flow.get("anonymous"))
    invitations: Mapping[str, Mapping[str, int]] = flow.get("invitations") or {}
    data = analysis.export.data
    rounds = list(flow["rounds"])
    # the round the study is in (the open one, else the last): the only round whose "opened" links are known
    current = next((int(r["number"]) for r in rounds if r.get("status") == "open"), int(rounds[-1]["number"]))
    rows = []
    for entry in rounds:
        number = int(entry["number"])
        responses: Mapping[str, Mapping[str, int | None]] = entry.get("responses") or {}
        in_round = data[data["round"] == number]
        sizes = {c: int((in_round["cohort"] == c).sum()) for c in cohorts} | {ALL: len(in_round)}
        also = set(analysis.suppressed) if number == analysis.round else set()
        hidden = hidden_groups(sizes, k, also=also) | also
        hides_a_cohort = any(c in hidden for c in cohorts)
        for group in (*cohorts, ALL):
            if group != ALL and group in hidden:
                continue  # a hidden cohort has no row at all: not even its links stand beside the others
            links = invitations.get(group, {}) if group != ALL else _all_links(invitations)
            counts = responses.get(group) or {}

            def recorded(key: str, counts: Mapping[str, Any] = counts) -> Any:
                """An exported count: None if the export has no such count, "hidden" if it hides it."""
                if key not in counts:
                    return None
                return HIDDEN if counts[key] is None else int(counts[key])

            opened = None
            if not anonymous and number == current and links.get("invited") is not None:
                opened = int(links["invited"]) - int(links.get("not_opened", 0))
            values: dict[str, Any] = {
                "opened": opened,
                "declined": recorded("declined") if anonymous else None,
                "not_submitted": recorded("in_progress"),
                "submitted": recorded("submitted"),
            }
            if group in hidden or (group == ALL and hides_a_cohort):
                # only the links are shown; "all" keeps its submitted count where the k rule shows "all"
                keep = {"submitted"} if group == ALL and group not in hidden else set()
                values = {key: v if key in keep or v is None else HIDDEN for key, v in values.items()}
            declined = values["declined"] if anonymous else 0
            analysed: Any = None
            if number == analysis.round:
                analysed = HIDDEN if group in hidden else int(sizes[group])
            rows.append(
                {
                    "round": number,
                    "group": group,
                    "invited": links.get("invited"),
                    **values,
                    "started": _sum(declined, values["not_submitted"], values["submitted"]),
                    "excluded": _sum(declined, values["not_submitted"]),
                    "analysed": analysed,
                }
            )
    shown = [c for c in cohorts if c not in analysis.suppressed]
    pseudonymous_declined = (
        {c: int((invitations.get(c) or {}).get("declined", 0)) for c in shown} if not anonymous else {}
    )
    return {
        "source": "manifest.json participant_flow",
        "anonymous": anonymous,
        "k": k,
        "stages": [key for key, _, _ in STAGES],
        "note": NOTE,
        "rows": rows,
        "declined_links": pseudonymous_declined or None,
    }
