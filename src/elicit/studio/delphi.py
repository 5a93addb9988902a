"""Delphi in the studio: the answers of every round as a tidy frame, and the consensus and stability tables.

Only submitted responses count; a group smaller than the study's k is reported as suppressed, never its values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.instruments.versions import definition_of
from elicit.models import Answer, Cohort, Response, ResponseStatus, Round, Study
from elicit.studies import StudyError

if TYPE_CHECKING:  # pandas and scipy load only when a consensus table is drawn
    import pandas as pd

    from elicit.stats.consensus import ConsensusRule


def study_rule(study: Study) -> ConsensusRule:
    """The study's consensus rule; :class:`StudyError` with a sentence if its stored values make no rule."""
    from elicit.stats.consensus import ConsensusRule

    try:
        return ConsensusRule(max_iqr=study.consensus_max_iqr, min_agreement=study.consensus_min_agreement)
    except (TypeError, ValueError) as exc:
        raise StudyError(
            f"The consensus rule of study {study.slug} cannot be used: {exc}. Save a valid rule below."
        ) from None


def set_rule(study: Study, max_iqr: float, min_agreement: float) -> ConsensusRule:
    """Give ``study`` the rule "IQR <= max_iqr and agreement >= min_agreement"; :class:`StudyError` if invalid."""
    from elicit.stats.consensus import ConsensusRule

    try:
        rule = ConsensusRule(max_iqr=max_iqr, min_agreement=min_agreement)
    except (TypeError, ValueError) as exc:
        raise StudyError(f"This consensus rule cannot be used: {exc}.") from None
    study.consensus_max_iqr = max_iqr
    study.consensus_min_agreement = min_agreement
    return rule


def ordinal_choices(study: Study) -> dict[str, list[Any]]:
    """Items fed back as choice counts whose codes are all numbers, in any round's version, codes low to high."""
    choices: dict[str, list[Any]] = {}
    for rnd in study.rounds:
        for item in definition_of(rnd.instrument_version).items():
            if (
                item.kind.feedback == "choice"
                and item.choices
                and all(isinstance(c.code, int) for c in item.choices)
            ):
                choices.setdefault(item.id, [c.code for c in item.choices])
    return choices


def answers_frame(session: Session, study: Study, items: list[str]) -> pd.DataFrame:
    """``respondent, round, cohort, item, value`` for the submitted responses of every round (one query)."""
    import pandas as pd

    rows = session.execute(
        select(Response.id, Response.pseudonym, Round.number, Cohort.code, Answer.item_id, Answer.value_num)
        .join(Round, Round.id == Response.round_id)
        .join(Cohort, Cohort.id == Response.cohort_id)
        .join(Answer, Answer.response_id == Response.id)
        .where(
            Response.study_id == study.id,
            Response.status == ResponseStatus.SUBMITTED,
            Answer.item_id.in_(items),
            Answer.part == "",
            Answer.dont_know.is_(False),
            Answer.value_num.is_not(None),
        )
    ).all()
    return pd.DataFrame(
        [(pseudo or rid, number, cohort, item, value) for rid, pseudo, number, cohort, item, value in rows],
        columns=["respondent", "round", "cohort", "item", "value"],
    )


def tables(session: Session, study: Study) -> dict[str, Any]:
    """The consensus table per round and the stability table between consecutive rounds, k-suppressed.

    Computed by :func:`elicit.stats.consensus.delphi_tables` with the study's rule, as the export's
    ``consensus.csv`` and ``elicit analyze`` are. :class:`StudyError` if the study's rule is not valid.
    """
    from elicit.stats.consensus import delphi_tables

    choices = ordinal_choices(study)
    rule = study_rule(study)
    frame = answers_frame(session, study, list(choices))
    if frame.empty:
        return {"rule": rule.describe(), "consensus": [], "stability": [], "suppressed": 0}
    # Small groups are hidden with whatever would give them back (a cohort beside "all"), as in consensus.csv.
    result = delphi_tables(frame, choices, rule, k=study.k_threshold)
    return {
        "rule": rule.describe(),
        "consensus": result.consensus.to_dict("records"),
        "stability": result.stability.to_dict("records") if not result.stability.empty else [],
        "suppressed": result.suppressed,
    }
