"""Declared primary hypotheses, tested as confirmatory with one study-wide correction for multiplicity.

An instrument may declare hypotheses (``hypotheses:`` in the instrument file, docs/instruments.md); the export's
codebook carries them (``hypotheses`` of ``codebook.json``). Each compares one scale score or one item between two
cohorts, one-sided (``greater``/``less``) or two-sided, by the Mann–Whitney U test: exact, by counting the
permutation distribution of the rank sum with ties by midranks, up to :data:`~elicit.stats.exact.DP_LIMIT`
observations, the tie-corrected normal approximation above. The family is the declared hypotheses that could be
tested, and Holm's (1979) step-down procedure controls the family-wise error rate at :data:`ALPHA` over them;
every other test of the report is exploratory.

Cohorts are defined per study, not in the instrument, so a hypothesis naming a cohort the study does not have is
reported as not tested, with a warning. A cohort hidden under the study's k, or with fewer than k answers to the
hypothesis's scale or item, is not tested either ("not tested: fewer than k = 5 respondents in PK").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from elicit.stats.exact import DP_LIMIT, ExactResult

from .comparisons import hodges_lehmann, holm, mann_whitney
from .disclosure import Disclosure
from .export_folder import Codebook, Kind
from .scoring import scale_scores

__all__ = [
    "ALPHA",
    "CORRECTION",
    "EXPLORATORY",
    "DeclaredHypothesis",
    "HypothesisTest",
    "Hypotheses",
    "confirm_hypotheses",
    "declared_hypotheses",
    "hypotheses_results",
    "mann_whitney_greater",
]

#: The family-wise error rate the declared hypotheses are tested at.
ALPHA = 0.05
CORRECTION = (
    "Holm (1979) step-down correction over the declared hypotheses that could be tested (one study-wide "
    f"family), controlling the family-wise error rate at {ALPHA:g}"
)
EXPLORATORY = (
    "Every other test in this report is exploratory: its p-values are corrected within its own table (if at all), "
    "not for the study, and are not evidence for a hypothesis declared after seeing the data."
)
TEST = "Mann-Whitney U"
NAN = float("nan")


@dataclass(frozen=True)
class DeclaredHypothesis:
    """A hypothesis as the codebook carries it: what it tests (``scale`` or ``item``) and in which direction."""

    id: str
    text: str
    scale: str | None = None
    item: str | None = None
    compare: str = "cohorts"
    greater: str | None = None
    less: str | None = None
    cohorts: tuple[str, ...] = ()

    @property
    def two_sided(self) -> bool:
        return self.greater is None

    @property
    def target(self) -> str:
        return f"scale {self.scale}" if self.scale else f"item {self.item}"

    def describe_direction(self) -> str:
        if self.greater is not None:
            return f"{self.greater} higher than {self.less} (one-sided)"
        named = " vs ".join(self.cohorts) if self.cohorts else "the study's two cohorts"
        return f"two-sided: {named}"


@dataclass(frozen=True)
class HypothesisTest:
    """One declared hypothesis and its confirmatory test (``decision`` "not tested" with ``reason`` when none)."""

    hypothesis: DeclaredHypothesis
    decision: str
    reason: str = ""
    groups: tuple[str, ...] = ()
    alternative: str = ""
    method: str = ""
    n: Mapping[str, int] = field(default_factory=dict)
    median: Mapping[str, float] = field(default_factory=dict)
    statistic: float = NAN
    rank_biserial: float = NAN
    #: The rank-biserial r's interval as ``results.json`` writes intervals: ``ci``, ``confidence``, ``method``.
    rank_biserial_ci: Mapping[str, Any] = field(default_factory=dict)
    #: The Hodges–Lehmann shift (first cohort minus second) and its distribution-free interval.
    hodges_lehmann: Mapping[str, Any] = field(default_factory=dict)
    p: float = NAN
    p_adjusted: float = NAN

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)


@dataclass(frozen=True)
class Hypotheses:
    """The declared hypotheses of a study and their tests, with the family's correction."""

    tests: tuple[HypothesisTest, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def m(self) -> int:
        """The size of the family: the hypotheses that were tested."""
        return sum(t.tested for t in self.tests)


def declared_hypotheses(book: Codebook) -> tuple[tuple[DeclaredHypothesis, ...], list[str]]:
    """The codebook's hypotheses, and a warning for each entry it cannot read (left out)."""
    raw = book.raw.get("hypotheses") or []
    found: list[DeclaredHypothesis] = []
    warnings: list[str] = []
    if not isinstance(raw, list):
        return (), ["codebook.json: 'hypotheses' is not a list, so no declared hypothesis is tested."]
    for index, entry in enumerate(raw):
        direction = entry.get("direction") if isinstance(entry, Mapping) else None
        if not isinstance(entry, Mapping) or not entry.get("id") or not isinstance(direction, Mapping):
            warnings.append(
                f"codebook.json: hypothesis {index + 1} has no id or direction and is not tested."
            )
            continue
        sided = direction.get("two_sided")
        greater = direction.get("greater")
        found.append(
            DeclaredHypothesis(
                id=str(entry["id"]),
                text=str(entry.get("text") or ""),
                scale=str(entry["scale"]) if entry.get("scale") else None,
                item=str(entry["item"]) if entry.get("item") else None,
                compare=str(entry.get("compare") or "cohorts"),
                greater=str(greater) if greater is not None else None,
                less=str(direction.get("less")) if greater is not None else None,
                cohorts=(
                    (str(greater), str(direction.get("less")))
                    if greater is not None
                    else tuple(str(c) for c in sided)
                    if isinstance(sided, list)
                    else ()
                ),
            )
        )
    return tuple(found), warnings


def mann_whitney_greater(x: Any, y: Any) -> ExactResult:
    """One-sided exact (permutation) Mann–Whitney test that ``x`` tends to be greater than ``y``.

    ``p = P(W >= w)`` for the rank sum ``W`` of ``x`` over all ``C(m + n, m)`` ways to choose ``x``'s ranks, ties
    by midranks, counted on doubled (integer) midranks as :func:`elicit.stats.exact.mann_whitney_exact` counts
    the two-sided p. The statistic is ``U`` of ``x``.
    """
    a = np.asarray(x, dtype="float64")
    b = np.asarray(y, dtype="float64")
    m = a.size
    if m + b.size > DP_LIMIT:
        raise ValueError(f"exact counting is used up to {DP_LIMIT} observations")
    ranks = stats.rankdata(np.concatenate([a, b]))
    doubled = np.rint(2 * ranks).astype(int)
    total = int(doubled.sum())
    ways = np.zeros((m + 1, total + 1))  # ways[j, s]: subsets of j values with doubled rank sum s
    ways[0, 0] = 1.0
    for value in doubled:
        ways[1:, value:] += ways[:-1, : total + 1 - value].copy()
    counts = ways[m]
    observed = int(doubled[:m].sum())
    p = float(counts[observed:].sum() / counts.sum())
    tied = np.unique(ranks).size < ranks.size
    method = "exact (permutation, ties by midranks)" if tied else "exact"
    return ExactResult(observed / 2 - m * (m + 1) / 2, min(1.0, p), method)


def _one_sided(x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """``(p, method)`` of the one-sided test that ``x`` is greater: exact up to DP_LIMIT observations, else the
    normal approximation (tie-corrected, with continuity correction, as R's ``wilcox.test``)."""
    if x.size + y.size <= DP_LIMIT:
        result = mann_whitney_greater(x, y)
        return result.p, f"{result.method}, one-sided"
    approx = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=True)
    return float(
        approx.pvalue
    ), f"normal approximation (tie-corrected, continuity; n > {DP_LIMIT}), one-sided"


def _values(data: pd.DataFrame, book: Codebook, hypothesis: DeclaredHypothesis) -> pd.Series | str:
    """The values the hypothesis compares (one per response), or why there are none."""
    if hypothesis.scale:
        if hypothesis.scale not in {s.name for s in book.scales}:
            return f"scale {hypothesis.scale!r} is not in the export's codebook"
        return scale_scores(data, book)[hypothesis.scale]
    try:
        item = book.item(str(hypothesis.item))
    except ValueError:
        return f"item {hypothesis.item!r} is not in the export's codebook"
    if item.analysis not in (Kind.ORDINAL, Kind.INTERVAL) or item.columns[0] not in data:
        return f"item {item.id!r} is not analysed as ordinal or interval, so a rank test does not apply"
    return pd.to_numeric(data[item.columns[0]], errors="coerce").reset_index(drop=True)


def _untested(hypothesis: DeclaredHypothesis, reason: str, **known: Any) -> HypothesisTest:
    return HypothesisTest(hypothesis, "not tested", f"not tested: {reason}", **known)


def _test_one(
    hypothesis: DeclaredHypothesis,
    data: pd.DataFrame,
    book: Codebook,
    disclosure: Disclosure,
    warnings: list[str],
) -> HypothesisTest:
    codes = book.cohort_codes
    if hypothesis.compare != "cohorts":
        return _untested(hypothesis, f"comparing {hypothesis.compare} is not supported (only cohorts)")
    pair = hypothesis.cohorts or (codes if len(codes) == 2 else ())
    if not pair:
        return _untested(
            hypothesis,
            "'two_sided: true' compares the study's two cohorts, and this study has "
            f"{len(codes)} ({', '.join(codes) or 'none'}); name the two in the instrument",
        )
    unknown = [c for c in pair if c not in codes]
    if unknown:
        warnings.append(
            f"Hypothesis {hypothesis.id} names cohort(s) {', '.join(unknown)}, which this study does not have "
            f"(its cohorts: {', '.join(codes) or 'none'}): it is not tested."
        )
        return _untested(hypothesis, f"{', '.join(unknown)} is not a cohort of this study")
    values = _values(data, book, hypothesis)
    if isinstance(values, str):
        warnings.append(f"Hypothesis {hypothesis.id} is not tested: {values}.")
        return _untested(hypothesis, values)
    cohort = data["cohort"].astype(str).reset_index(drop=True)
    k = disclosure.k
    respondents = {c: int((cohort == c).sum()) for c in pair}
    for code in pair:
        if code in disclosure.hidden and disclosure.is_small(respondents[code]):
            return _untested(hypothesis, f"fewer than k = {k} respondents in {code}")
    if not disclosure.compares:
        return _untested(
            hypothesis,
            f"no comparison between cohorts is shown while a cohort has fewer than k = {k} respondents",
        )
    samples = {c: values[(cohort == c) & values.notna()].to_numpy(dtype="float64") for c in pair}
    n = {c: int(s.size) for c, s in samples.items()}
    for code in pair:
        if n[code] == 0:
            return _untested(hypothesis, f"no respondent in {code} answered {hypothesis.target}")
        if disclosure.is_small(n[code]):
            return _untested(
                hypothesis, f"fewer than k = {k} respondents in {code} answered {hypothesis.target}"
            )
    if not disclosure.comparable(n):
        return _untested(hypothesis, f"the test would let a group of fewer than k = {k} be worked out")
    x, y = samples[pair[0]], samples[pair[1]]
    median = {c: float(np.median(s)) for c, s in samples.items()}
    known: dict[str, Any] = {"groups": tuple(pair), "n": n, "median": median}
    if np.unique(np.concatenate([x, y])).size < 2:
        return _untested(hypothesis, "every answer is the same, so there is nothing to rank", **known)
    names = (str(pair[0]), str(pair[1]))
    two_sided = mann_whitney(x, y, names=names)
    p, method = (
        (two_sided["p"], f"{two_sided['method']}, two-sided") if hypothesis.two_sided else _one_sided(x, y)
    )
    interval = two_sided.get("rank_biserial_ci")
    shift = hodges_lehmann(x, y, names=names)
    return HypothesisTest(
        hypothesis,
        decision="",
        groups=tuple(pair),
        alternative="greater" if not hypothesis.two_sided else "two-sided",
        method=method,
        n=n,
        median=median,
        statistic=float(two_sided["U"]),
        rank_biserial=float(two_sided["rank_biserial"]),
        rank_biserial_ci=interval.as_dict() if interval is not None else {},
        hodges_lehmann={
            "shift": shift.shift,
            "ci": [shift.ci_low, shift.ci_high],
            "confidence": shift.confidence,
            "method": shift.method,
            "of": f"{pair[0]} minus {pair[1]}",
        },
        p=float(p),
    )


def _decide(test: HypothesisTest, adjusted: float) -> HypothesisTest:
    supported = adjusted < ALPHA
    decision = "supported" if supported else "not supported"
    if supported and test.hypothesis.two_sided:
        higher = test.groups[0] if test.rank_biserial > 0 else test.groups[1]
        decision = f"supported ({higher} higher)"
    reason = (
        f"Holm-adjusted p {'<' if supported else '>='} {ALPHA:g}"
        if not math.isnan(adjusted)
        else "no p-value"
    )
    return dataclasses.replace(test, p_adjusted=adjusted, decision=decision, reason=reason)


def confirm_hypotheses(data: pd.DataFrame, book: Codebook, disclosure: Disclosure) -> Hypotheses:
    """Test the codebook's declared hypotheses on one round's ``data`` under ``disclosure``, Holm over the family.

    The family is the hypotheses that were tested; a hypothesis that could not be (an unknown cohort, a cohort
    below k, no variation) is reported with its reason and takes no part in the correction.
    """
    declared, warnings = declared_hypotheses(book)
    tests = [_test_one(h, data, book, disclosure, warnings) for h in declared]
    tested = [i for i, t in enumerate(tests) if t.tested]
    if tested:
        adjusted = holm([tests[i].p for i in tested])
        for i, p_adjusted in zip(tested, adjusted, strict=True):
            tests[i] = _decide(tests[i], p_adjusted)
    return Hypotheses(tuple(tests), tuple(warnings))


def hypotheses_results(result: Hypotheses) -> dict[str, Any]:
    """The ``hypotheses`` block of ``results.json``: each hypothesis, its test and decision, and the family."""
    entries = []
    for t in result.tests:
        h = t.hypothesis
        entry: dict[str, Any] = {
            "id": h.id,
            "text": h.text,
            "status": "confirmatory",
            "scale": h.scale,
            "item": h.item,
            "compare": h.compare,
            "direction": (
                {"greater": h.greater, "less": h.less}
                if h.greater
                else {"two_sided": list(h.cohorts) or True}
            ),
            "decision": t.decision,
            "reason": t.reason,
        }
        if t.groups:
            entry.update(n=dict(t.n), median=dict(t.median))
        if t.tested:
            entry.update(
                test=TEST,
                alternative=(
                    f"{t.groups[0]} greater than {t.groups[1]}" if t.alternative == "greater" else "two-sided"
                ),
                method=t.method,
                statistic=t.statistic,
                statistic_name=f"U of {t.groups[0]}",
                effect_size=t.rank_biserial,
                effect_size_name=f"rank-biserial r ({t.groups[0]} vs {t.groups[1]})",
                effect_size_interval=dict(t.rank_biserial_ci),
                hodges_lehmann=dict(t.hodges_lehmann),
                p=t.p,
                p_adjusted=t.p_adjusted,
            )
        entries.append(entry)
    return {
        "family": {
            "correction": CORRECTION if result.tests else None,
            "method": "holm",
            "alpha": ALPHA,
            "declared": len(result.tests),
            "tested": result.m,
        },
        "hypotheses": entries,
        "other_tests": "exploratory",
        "note": EXPLORATORY if result.tests else "No hypotheses were declared: every test is exploratory.",
        "warnings": list(result.warnings),
    }
