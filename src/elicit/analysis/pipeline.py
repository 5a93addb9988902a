"""Run every analysis on an export: the single place that decides what is computed for which items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .agreement import AgreementResult, CategoricalAgreement, agreement, categorical_agreement_by_cohort
from .comparisons import WithinResult, between_groups, mixed_anova, within_subjects
from .descriptives import (
    ALL,
    choice_counts,
    date_descriptives,
    describe,
    item_descriptives,
    item_distribution,
    sample_overview,
)
from .disclosure import Disclosure, manifest_k
from .elicitation import CookeSummary, DelphiSummary, confidence_summary, cooke_summary, delphi_summary
from .export_folder import NUMERIC_KINDS, ExportData, Item, Kind
from .given_weights import GivenWeights
from .hypotheses import Hypotheses, confirm_hypotheses
from .invariance import Measurement, measurement_checks
from .judgement import ItemJudgement, item_judgement
from .judgements import allocations, quantile_judgements, rankings, single_items
from .reliability import SMALL_N_RELIABILITY, ScaleReliability, reliability_by_group
from .rounds_compared import RoundsCompared, rounds_compared
from .scoring import MIN_ANSWERED_FRACTION, scale_scores, scores_long

__all__ = ["SMALL_COHORT", "Analysis", "ItemComparison", "analyze"]

#: Cohorts with fewer responses than this get a warning that tests have little power.
SMALL_COHORT = 10
#: The kinds of item the analysis describes (its tables are empty for an item nobody answered).
DESCRIBED_KINDS = NUMERIC_KINDS | {Kind.NOMINAL, Kind.DATE}
#: The kinds whose tables show the answers' values (counts per code or choice, earliest and latest date): under a
#: k they leave quasi-identifiers out, as the export's k-anonymity report gives the sizes of small classes, never
#: their values.
VALUE_KINDS = frozenset({Kind.ORDINAL, Kind.NOMINAL, Kind.DATE})

MISSING_DATA_RULES = (
    "Items left unanswered, not shown, answered 'don't know' or absent from the version answered are missing.",
    "Scale score = mean of the scale's items after reverse keying, from the items answered, when at least "
    f"{MIN_ANSWERED_FRACTION:.0%} (rounded up) of the scale's items were answered; otherwise missing.",
    "Reverse-keyed items are recoded as min + max - code, with min and max the codebook's declared choice range.",
    "Reliability (alpha, omega, item-total statistics) uses respondents who answered every item of the scale "
    "(listwise deletion); n used and n excluded are reported.",
    "Agreement (ICC, Kendall's W, Krippendorff's alpha) is computed on the items as answered; reverse keying is "
    "for scale scores only. ICC and Kendall's W use the experts who answered every target item; Krippendorff's "
    "alpha uses all available answers. Fleiss' kappa uses the experts who answered every categorical item of the "
    "set; Krippendorff's nominal alpha all their answers.",
    "Each test uses the respondents with the values it needs (pairwise for between-cohort tests, complete cases "
    "across the scales for within-cohort tests and the mixed ANOVA).",
)

TEST_CHOICE = (
    "Scale scores are means of a few rating-scale items: bounded, discrete and often skewed, and expert cohorts are "
    "small. The primary tests are therefore rank-based — Mann-Whitney U between cohorts (effect size: "
    "rank-biserial r; shift: Hodges-Lehmann with its distribution-free CI) and the Friedman test within cohorts "
    "(effect size: Kendall's W) with pairwise Wilcoxon signed-rank tests (matched-pairs rank-biserial r). "
    "Parametric companions are reported beside them: Welch's t (which does not assume equal variances; Delacre, "
    "Lakens & Leys 2017) with Hedges' g, the repeated-measures ANOVA and the cohort x scale mixed ANOVA with "
    "partial eta squared. Normality is checked with Shapiro-Wilk per cohort, equality of variances with the "
    "Brown-Forsythe test, sphericity with Mauchly's test; ANOVA p-values are Greenhouse-Geisser corrected "
    "throughout because Mauchly's test has little power in small samples (Maxwell & Delaney 2004). Where "
    "normality is rejected or cohorts are small, read the rank-based results first; where both agree, the "
    "conclusion does not hinge on the choice of test. For small panels the rank tests' p-values are exact or by "
    "permutation (ties included: Mann-Whitney up to 200 respondents, Wilcoxon up to 400 pairs, Friedman, "
    "Kruskal-Wallis and the mixed design's effects up to 200 respondents, enumerated or by a seeded Monte Carlo); "
    "the asymptotic distributions only above those sizes, and every p-value states its method. Effect sizes carry "
    "seeded BCa bootstrap intervals (Efron 1987), or the reason why no interval can be given."
)

CORRECTIONS = (
    "p-values are two-sided. Holm's (1979) step-down correction is applied within each family: the scales "
    "compared between cohorts; the pairwise post hoc tests within a cohort; the per-part follow-ups of each "
    "constant-sum or ranking item (first compared by one joint permutation test); the single ordinal items; the central quantile and width of each quantile item. Both raw (p) "
    "and adjusted (p_holm) values are reported. Omnibus tests (Friedman, ANOVA) are not adjusted."
)


@dataclass(frozen=True, eq=False)
class ItemComparison:
    """Summary and between-cohort tests of one constant-sum, ranking or quantiles item.

    For constant-sum and ranking items ``joint`` is the one joint test of the item between cohorts and ``tests``
    the follow-ups per part (:mod:`elicit.analysis.compositional`).
    """

    item: Item
    summary: pd.DataFrame
    tests: pd.DataFrame
    joint: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything computed from one export that may be published under its k; rendered by :mod:`report` and
    :mod:`results`.

    ``disclosure`` holds the decisions (the study's k and the groups hidden throughout, :attr:`suppressed`): no
    field holds a figure of a hidden group, nor of a group left out of one item, scale or test.
    """

    export: ExportData
    data: pd.DataFrame
    round: int
    cohorts: tuple[str, ...]
    overview: pd.DataFrame
    item_descriptives: pd.DataFrame
    distribution: pd.DataFrame
    choice_counts: pd.DataFrame
    dates: pd.DataFrame
    scores: pd.DataFrame
    score_descriptives: pd.DataFrame
    reliability: tuple[ScaleReliability, ...]
    agreement_targets: tuple[str, ...]
    agreement: dict[str, AgreementResult]
    within: dict[str, WithinResult]
    between: pd.DataFrame
    mixed: pd.DataFrame
    single_items: pd.DataFrame
    allocations: tuple[ItemComparison, ...]
    rankings: tuple[ItemComparison, ...]
    quantiles: tuple[ItemComparison, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    delphi: DelphiSummary | None = None
    cooke: CookeSummary | None = None
    confidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    disclosure: Disclosure = field(default_factory=Disclosure)
    judgements: tuple[ItemJudgement, ...] = ()
    weights: GivenWeights | None = None
    rounds_compared: RoundsCompared | None = None
    categorical_agreement: tuple[CategoricalAgreement, ...] = ()
    hypotheses: Hypotheses = field(default_factory=Hypotheses)
    measurement: Measurement = field(default_factory=Measurement)

    @property
    def suppressed(self) -> tuple[str, ...]:
        """The groups hidden throughout, in the codebook's order ("all" first)."""
        hidden = self.disclosure.hidden
        return tuple(g for g in (ALL, *self.export.codebook.cohort_codes) if g in hidden)

    @property
    def scale_names(self) -> list[str]:
        return [s.name for s in self.export.codebook.scales]


def analyze(
    export: ExportData, round_number: int | None = None, weights: GivenWeights | None = None
) -> Analysis:
    """Compute descriptives, reliability, agreement and comparisons for an export, as they may be published.

    Every result is judged under the export's k (:func:`elicit.analysis.disclosure.manifest_k`) by one
    :class:`~elicit.analysis.disclosure.Disclosure`: a cohort of fewer than k respondents, and whatever would give
    it back from "all", is left out of every table, every sentence and every comparison; within a table, a group
    is also left out of an item, a scale or a test that fewer than k of it answered. The report and
    ``results.json`` both render the result, so they show the same groups. A folder without a manifest has no k:
    nothing is then left out.

    Parameters
    ----------
    export
        From :func:`elicit.analysis.load_export`.
    round_number
        The round to analyse; by default the latest round in the data (a plain survey has one round).
    weights
        Researcher-given weights (:func:`elicit.analysis.given_weights.read_weights`) for the linear pool
        ``linear_given`` of every distribution item; respondents without a weight have weight 0.
    """
    book = export.codebook
    warnings: list[str] = list(export.notes)
    notes: list[str] = []
    data = export.data
    rounds = sorted(int(r) for r in data["round"].dropna().unique())
    if not rounds:
        raise ValueError("the export holds no responses, so there is nothing to analyse")
    chosen = rounds[-1] if round_number is None else round_number
    if chosen not in rounds:
        raise ValueError(f"round {chosen} is not in the data (rounds: {', '.join(map(str, rounds))})")
    if len(rounds) > 1:
        notes.append(
            f"The data hold rounds {', '.join(map(str, rounds))}; this report analyses round {chosen}."
        )
    data = data[data["round"] == chosen].reset_index(drop=True)

    overview = sample_overview(data, book)
    disclosure = Disclosure.for_sample(
        {str(c): int(n) for c, n in zip(overview["cohort"], overview["n"], strict=True)},
        manifest_k(export.manifest),
    )
    hidden = disclosure.hidden
    left_out: list[str] = []  # tables that leave a group out of an item, scale or test (beyond ``hidden``)

    def published(table: pd.DataFrame, section: str, *by: str, size: str = "n") -> pd.DataFrame:
        kept = disclosure.table(table, by, size=size)
        if len(table) and len(kept) < (~table["cohort"].astype(str).isin(hidden)).sum():
            left_out.append(section)
        return kept

    def comparable(tests: pd.DataFrame, section: str) -> pd.DataFrame:
        kept = disclosure.tests(tests, cohorts)
        if disclosure.compares and len(kept) < len(tests):
            left_out.append(section)
        return kept

    all_cohorts = book.cohort_codes
    counts = data["cohort"].value_counts()
    cohorts = tuple(c for c in all_cohorts if counts.get(c, 0) > 0)
    for code in all_cohorts:
        n = int(counts.get(code, 0))
        if n == 0:
            warnings.append(f"Cohort {code} has no responses in round {chosen}.")
        elif n < SMALL_COHORT and code not in hidden:
            warnings.append(
                f"Cohort {code} has only {n} response(s): estimates are imprecise and tests have little power "
                "to detect differences; a non-significant result is not evidence of no difference."
            )
    if len(cohorts) < 2:
        notes.append("Fewer than two cohorts have responses, so no between-cohort comparisons are made.")
    unanswered = _unanswered_items(data, book.items)
    if unanswered:
        warnings.append(
            f"No respondent answered {', '.join(unanswered)} in round {chosen}: "
            "the statistics that need these items are empty."
        )

    scale_names = [s.name for s in book.scales]
    scores = scale_scores(data, book)
    score_rows = []
    for scale in scale_names:
        for group in (ALL, *cohorts):
            values = scores[scale] if group == ALL else scores.loc[scores["cohort"] == group, scale]
            score_rows.append({"scale": scale, "cohort": group, **describe(values)})
    score_descriptives = published(pd.DataFrame(score_rows), "scale scores", "scale")

    computed = [r for r in reliability_by_group(data, book) if r.group == ALL or r.group in cohorts]
    reliability_hidden = {
        scale: disclosure.hidden_in({r.group: r.n for r in computed if r.scale == scale})
        for scale in scale_names
    }
    reliability = tuple(r for r in computed if r.group not in reliability_hidden.get(r.scale, hidden))
    if len(reliability) < len([r for r in computed if r.group not in hidden]):
        left_out.append("reliability")
    imprecise = [f"{r.scale} ({r.group}, n = {r.n})" for r in reliability if 3 <= r.n < SMALL_N_RELIABILITY]
    if imprecise:
        warnings.append(
            f"Reliability rests on fewer than {SMALL_N_RELIABILITY} complete responses for "
            + ", ".join(imprecise)
            + ": the estimates are imprecise; read the confidence intervals."
        )
    for result in reliability:
        warnings.extend(w for w in result.warnings if "very imprecise" not in w)

    ordinal = book.items_of_kind(Kind.ORDINAL)
    in_scales = book.scale_item_ids
    targets = tuple(i.id for i in ordinal if i.id in in_scales) or tuple(i.id for i in ordinal)
    agreement_results: dict[str, AgreementResult] = {}
    if len(targets) >= 2:  # on the items as answered: reverse keying is for scale scores only (agreement.py)
        domain = sorted({c.value for i in ordinal if i.id in targets for c in i.choices})
        for cohort in (c for c in cohorts if c not in hidden):
            rows = data[data["cohort"] == cohort][list(targets)].astype("float64")
            agreed = agreement(rows.reset_index(drop=True), cohort, domain)
            if disclosure.is_small(agreed.n_raters_complete):  # no total to protect: the threshold rule alone
                left_out.append("agreement")
                continue
            agreement_results[cohort] = agreed
            warnings.extend(agreed.warnings)
    categorical, categorical_left_out = categorical_agreement_by_cohort(data, book, cohorts, disclosure)
    if categorical_left_out:
        left_out.append("categorical agreement")
    for categorical_result in categorical:
        warnings.extend(categorical_result.warnings)

    within: dict[str, WithinResult] = {}
    if len(scale_names) >= 2:
        for group in (*cohorts, ALL) if len(cohorts) > 1 else cohorts:
            frame = scores if group == ALL else scores[scores["cohort"] == group]
            within[group] = within_subjects(frame, scale_names, group)
    within_hidden = disclosure.hidden_in({g: w.n for g, w in within.items()})
    if within_hidden - hidden:
        left_out.append("comparisons within cohorts")
    within = {g: w for g, w in within.items() if g not in within_hidden}
    for compared in within.values():
        warnings.extend(compared.warnings)

    between = comparable(
        between_groups(scores, scale_names, groups=cohorts) if len(cohorts) >= 2 else pd.DataFrame(),
        "comparisons between cohorts",
    )
    mixed = pd.DataFrame()
    if len(cohorts) >= 2 and len(scale_names) >= 2 and disclosure.compares:
        if within_hidden:  # its cohorts are the complete respondents of each, as within each cohort
            left_out.append("mixed ANOVA")
        else:
            long = scores_long(scores[scores["cohort"].isin(cohorts)], scale_names)
            mixed = mixed_anova(long, dv="score", within="scale", between="cohort", subject="respondent")
            if mixed.empty:
                warnings.append(
                    "The mixed ANOVA could not be estimated (too few complete respondents per cohort)."
                )

    singles = [i for i in ordinal if i.id not in in_scales]
    single = comparable(
        single_items(data, singles, cohorts) if len(cohorts) >= 2 else pd.DataFrame(), "single items"
    )

    def judged(
        item: Item, summary: pd.DataFrame, tests: pd.DataFrame, by: str, joint: pd.DataFrame | None = None
    ) -> ItemComparison:
        shown = comparable(joint, item.id) if joint is not None else pd.DataFrame()
        return ItemComparison(item, published(summary, item.id, by), comparable(tests, item.id), shown)

    alloc = tuple(
        judged(item, summary, tests, "part", joint)
        for item in (book.items_of_kind(Kind.COMPOSITION) if disclosure.compares else ())
        for summary, tests, joint in [allocations(data, item, cohorts)]
    )
    ranks = tuple(
        judged(item, summary, tests, "part", joint)
        for item in (book.items_of_kind(Kind.RANKING) if disclosure.compares else ())
        for summary, tests, joint in [rankings(data, item, cohorts)]
    )
    quants = tuple(
        judged(item, *quantile_judgements(data, item, cohorts), "level") for item in book.quantile_items()
    )
    delphi = delphi_summary(export)  # its tables are judged under the same k by the export's own rule
    cooke, cooke_warnings = cooke_summary(export, data)
    warnings.extend(cooke_warnings)

    items = published(item_descriptives(data, book), "items", "variable")
    withheld = (
        [i.id for i in book.items_of_kind(*VALUE_KINDS) if i.privacy == "quasi_identifier"]
        if disclosure.k is not None
        else []
    )
    distribution = _without(item_distribution(data, book), withheld)
    if len(distribution):
        shown_items = set(zip(items["variable"], items["cohort"].astype(str), strict=True))
        distribution = distribution[
            [
                (i, str(c)) in shown_items
                for i, c in zip(distribution["item"], distribution["cohort"], strict=True)
            ]
        ]
    choices = published(_without(choice_counts(data, book), withheld), "choice items", "variable")
    dates = published(_without(date_descriptives(data, book), withheld), "date items", "variable")
    if withheld:
        notes.append(
            "Quasi-identifiers are not tabulated by code, choice or date, as counts of their answers could "
            f"single experts out: {', '.join(withheld)}."
        )
    scores = scores[~scores["cohort"].astype(str).isin(hidden)].copy()
    for scale in scale_names:  # the figures draw each cohort's scores: not where the scale's table hides it
        shown_groups = set(score_descriptives.loc[score_descriptives["scale"] == scale, "cohort"].astype(str))
        scores.loc[~scores["cohort"].astype(str).isin(shown_groups), scale] = float("nan")
    confidence = confidence_summary(export, data)
    raw_items = {str(i.get("id")): i for i in book.raw.get("items") or [] if isinstance(i, dict)}
    judgements = tuple(
        item_judgement(
            item,
            raw_items.get(item.id, {}),
            data,
            cohorts,
            disclosure,
            cooke.results if cooke else None,
            weights,
        )
        for item in book.items_of_kind(Kind.DISTRIBUTION)
    )
    across = rounds_compared(export, disclosure, raw_items)
    if across is not None and across.left_out:
        left_out.append("rounds compared")
    if weights is not None:
        unpooled = [
            j.item.id for j in judgements if len(j.pooled) and "linear_given" not in set(j.pooled["pool"])
        ]
        if unpooled:
            warnings.append(
                "The given weights are zero for every expert of "
                + ", ".join(unpooled)
                + " who was fitted, so these items have no pool with the given weights."
            )
    for judged_item in judgements:
        if judged_item.skipped:
            warnings.append(
                f"{judged_item.item.id}: no distribution family could be fitted to {judged_item.skipped} "
                "judgement(s) on its support; they are left out of the fits and pools."
            )
    declared = confirm_hypotheses(data, book, disclosure)
    measurement = measurement_checks(data, book, disclosure, [c for c in cohorts if c not in hidden])
    warnings.extend([*declared.warnings, *measurement.warnings])
    notes.extend(_disclosure_notes(disclosure, [g for g in (ALL, *all_cohorts) if g in hidden], left_out))
    return Analysis(
        export=export,
        data=data,
        round=chosen,
        cohorts=tuple(c for c in cohorts if c not in hidden),
        overview=overview[~overview["cohort"].astype(str).isin(hidden)].reset_index(drop=True),
        item_descriptives=items,
        distribution=distribution,
        choice_counts=choices,
        dates=dates,
        scores=scores,
        score_descriptives=score_descriptives,
        reliability=reliability,
        agreement_targets=targets,
        agreement=agreement_results,
        within=within,
        between=between,
        mixed=mixed,
        single_items=single,
        allocations=alloc,
        rankings=ranks,
        quantiles=quants,
        warnings=tuple(dict.fromkeys(warnings)),
        notes=tuple(notes),
        delphi=delphi,
        cooke=cooke,
        confidence=published(confidence, "confidence", "item") if len(confidence) else confidence,
        disclosure=disclosure,
        judgements=judgements,
        weights=weights,
        rounds_compared=across,
        categorical_agreement=categorical,
        hypotheses=declared,
        measurement=measurement,
    )


def _disclosure_notes(disclosure: Disclosure, suppressed: list[str], left_out: list[str]) -> list[str]:
    """What the disclosure rule withheld, in words (no sizes: those would give the hidden groups back)."""
    notes = []
    if suppressed:
        notes.append(
            f"Cohorts with fewer than {disclosure.k} respondents (the study's k) are not shown, nor what would let "
            "them be worked out from the results for all respondents (the next smallest cohort, or the overall "
            f"result), nor any comparison between cohorts: {', '.join(sorted(suppressed))} hidden."
        )
    if left_out:
        notes.append(
            f"Where fewer than {disclosure.k} of a group answered an item or a scale, or took part in a test, that "
            "group is left out there too, with what would give it back from the overall result: in "
            + ", ".join(dict.fromkeys(left_out))
            + "."
        )
    return notes


def _without(table: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    """``table`` without the rows of ``items``."""
    return table[~table["item"].isin(items)].reset_index(drop=True) if len(table) and items else table


def _unanswered_items(data: pd.DataFrame, items: tuple[Item, ...]) -> list[str]:
    """Ids of the items the analysis describes with no value in any of their columns (nobody answered them)."""
    return [
        item.id
        for item in items
        if item.analysis in DESCRIBED_KINDS
        and item.privacy != "direct_identifier"
        and all(column in data.columns and data[column].isna().all() for column in item.columns)
    ]


def describe_agreement_design(analysis: Analysis) -> str:
    """One sentence stating who the raters and what the targets are."""
    targets = analysis.agreement_targets
    scope = (
        "the Likert items of all scales"
        if set(targets) <= analysis.export.codebook.scale_item_ids
        else "all Likert items"
    )
    return (
        f"Raters are the experts of a cohort; targets are {scope} ({len(targets)} items), as answered (not "
        "reverse-keyed: recoding moves a reverse-worded item's mean and would make agreement an artefact of the "
        "keying). Agreement is high when experts rate the items alike."
    )


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of plain dicts."""
    return [] if frame is None or frame.empty else frame.to_dict(orient="records")
