"""Delphi consensus and stability: per item, per round and per cohort.

Input is long: one row per respondent, round, item with the answer ``value`` (the code of the chosen category)
and the respondent's ``cohort``. Every table has a row for each cohort and one for all cohorts pooled
(``cohort == "all"``).

* :func:`consensus_table`: median, quartiles and IQR, the shares in the top two and bottom two categories, mean, SD
  and coefficient of variation, and whether the study's :class:`ConsensusRule` is met (and which criterion failed).
* :func:`stability_table`: how answers moved between two rounds: the share who changed, the Wilcoxon signed-rank
  test on each respondent's change, and for categorical items McNemar's (two categories) or Bowker's (more) test
  of symmetry of the round-by-round table.
* :func:`ranking_agreement`: Kendall's W for a ranking question.

Consensus criteria differ between studies (von der Gracht 2012 lists IQR <= 1 on 5-point items and 51-80 %
agreement among the common ones), so the rule is a parameter and its wording is part of the output; stability
across rounds is judged from the changes of the same respondents (Dajani, Sincoff & Talley 1979; Kalaian & Kasim
2012). Respondents missing in a round are left out of that round's figures and out of the paired comparisons.

References
----------
Bowker, A.H. (1948). A test for symmetry in contingency tables. *JASA* 43(244), 572-574.
Dajani, J.S., Sincoff, M.Z. & Talley, W.K. (1979). Stability and agreement criteria for the termination of Delphi
studies. *Technological Forecasting and Social Change* 13(1), 83-90.
Hyndman, R.J. & Fan, Y. (1996). Sample quantiles in statistical packages. *The American Statistician* 50(4),
361-365.
Kalaian, S.A. & Kasim, R.M. (2012). Terminating sequential Delphi survey data collection. *Practical Assessment,
Research & Evaluation* 17(5).
McNemar, Q. (1947). Note on the sampling error of the difference between correlated proportions or percentages.
*Psychometrika* 12(2), 153-157.
von der Gracht, H.A. (2012). Consensus measurement in Delphi studies. *Technological Forecasting and Social
Change* 79(8), 1525-1536.
Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin* 1(6), 80-83.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from elicit.stats.disclosure import drop_hidden_groups
from elicit.stats.ranks import KendallW, kendall_w, wilcoxon_paired

__all__ = [
    "ALL_COHORTS",
    "QUARTILE_METHODS",
    "ConsensusRule",
    "DelphiTables",
    "SymmetryTest",
    "answers_long",
    "consensus_table",
    "delphi_tables",
    "ranking_agreement",
    "ranking_agreement_table",
    "stability_table",
    "symmetry_test",
]

#: The cohort label of the pooled rows.
ALL_COHORTS = "all"
#: numpy's quantile methods and their Hyndman & Fan (1996) types.
QUARTILE_METHODS: dict[str, int] = {
    "inverted_cdf": 1,
    "averaged_inverted_cdf": 2,
    "closest_observation": 3,
    "interpolated_inverted_cdf": 4,
    "hazen": 5,
    "weibull": 6,
    "linear": 7,
    "median_unbiased": 8,
    "normal_unbiased": 9,
}
_AGREEMENT = {"top2": "top two", "bottom2": "bottom two", "either": "top two or the bottom two"}
_TOLERANCE = (
    1e-9  # quartiles of integer codes are exact to far better than this; the rule is not sensitive to it
)
REQUIRED = ("respondent", "round", "cohort", "item", "value")


@dataclass(frozen=True)
class ConsensusRule:
    """A study's consensus rule for ordinal items.

    Consensus on an item when ``IQR <= max_iqr`` and the share of answers in the agreeing categories is at least
    ``min_agreement``; either criterion can be switched off with ``None``. ``agreement`` names the agreeing
    categories: the two highest codes (``"top2"``), the two lowest (``"bottom2"``) or whichever of the two
    groups is larger (``"either"``: consensus to agree or to disagree). The quartiles use ``quartile_method``
    (numpy's name; the default ``"linear"`` is Hyndman & Fan's type 7, as R and Excel's QUARTILE.INC; SPSS uses
    type 6, ``"weibull"``). On a 5-point item the type matters: answers 1,2,2,3,3,4,4,4,5,5 have IQR 1.75 by type
    7 and 2.25 by type 6.
    """

    max_iqr: float | None = 1.0
    min_agreement: float | None = 0.70
    agreement: str = "either"
    quartile_method: str = "linear"

    def __post_init__(self) -> None:
        if self.max_iqr is None and self.min_agreement is None:
            raise ValueError("a consensus rule needs at least one criterion (max_iqr or min_agreement)")
        if self.max_iqr is not None and not (_is_number(self.max_iqr) and self.max_iqr >= 0):
            raise ValueError(f"the largest IQR (max_iqr) must be a number, 0 or more; got {self.max_iqr}")
        if self.min_agreement is not None and not (
            _is_number(self.min_agreement) and 0 < self.min_agreement <= 1
        ):
            raise ValueError(
                "the minimum agreement (min_agreement) must be a share between 0 and 1: greater than 0 and at "
                f"most 1 (0.7 = 70 %); got {self.min_agreement}"
            )
        if self.agreement not in _AGREEMENT:
            raise ValueError(f"agreement must be one of {tuple(_AGREEMENT)}; got {self.agreement!r}")
        if self.quartile_method not in QUARTILE_METHODS:
            raise ValueError(
                f"quartile_method must be one of {tuple(QUARTILE_METHODS)}; got {self.quartile_method!r}"
            )

    def describe(self) -> str:
        """The rule in one sentence, for the report and the export."""
        parts = []
        if self.max_iqr is not None:
            parts.append(f"the interquartile range is at most {self.max_iqr:g}")
        if self.min_agreement is not None:
            parts.append(
                f"at least {self.min_agreement * 100:g} % of the answers are in the {_AGREEMENT[self.agreement]} "
                "categories"
            )
        method = self.quartile_method
        return (
            f"Consensus on an item when {' and '.join(parts)} (quartiles by Hyndman & Fan type "
            f"{QUARTILE_METHODS[method]}, numpy method '{method}')."
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ConsensusRule:
        """The rule recorded by :meth:`as_dict` (as in an export's ``codebook.json``); ``ValueError`` if invalid."""
        if not isinstance(raw, Mapping):
            raise ValueError("a consensus rule must be an object with max_iqr and min_agreement")
        fields: dict[str, Any] = {}
        for name in ("max_iqr", "min_agreement"):
            if name in raw:
                value = raw[name]
                if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
                    raise ValueError(f"the consensus rule's {name} must be a number or null; got {value!r}")
                fields[name] = None if value is None else float(value)
        for name in ("agreement", "quartile_method"):
            if name in raw:
                fields[name] = str(raw[name])
        return cls(**fields)

    def as_dict(self) -> dict[str, Any]:
        """The rule's fields and its wording."""
        return {
            "max_iqr": self.max_iqr,
            "min_agreement": self.min_agreement,
            "agreement": self.agreement,
            "quartile_method": self.quartile_method,
            "hyndman_fan_type": QUARTILE_METHODS[self.quartile_method],
            "description": self.describe(),
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _long(long: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(long, pd.DataFrame):
        raise ValueError("the answers must be a DataFrame with columns " + ", ".join(REQUIRED))
    missing = [c for c in REQUIRED if c not in long.columns]
    if missing:
        raise ValueError(f"the answers lack the column(s) {missing}; expected {', '.join(REQUIRED)}")
    frame = long[list(REQUIRED)].copy()
    frame["cohort"] = frame["cohort"].astype(str)
    frame["item"] = frame["item"].astype(str)
    if (frame["cohort"] == ALL_COHORTS).any():
        raise ValueError(f"'{ALL_COHORTS}' is reserved for the pooled rows; rename that cohort")
    try:
        frame["value"] = pd.to_numeric(frame["value"])
    except (TypeError, ValueError):
        raise ValueError("answers must be numeric codes (or empty for no answer)") from None
    frame = frame[frame["value"].notna()]
    duplicated = frame.duplicated(["respondent", "round", "item"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise ValueError(
            f"respondent {row['respondent']} has more than one answer to item {row['item']} in round {row['round']}"
        )
    cohorts = frame.groupby("respondent")["cohort"].nunique()
    if (cohorts > 1).any():
        raise ValueError(f"respondent {cohorts[cohorts > 1].index[0]} appears in more than one cohort")
    return frame


def _codes(choices: Mapping[str, Sequence[Any]], item: str, values: pd.Series) -> np.ndarray:
    if item not in choices:
        raise ValueError(
            f"no response categories given for item {item}; pass choices={{item: [codes low..high]}}"
        )
    try:
        codes = np.asarray([float(c) for c in choices[item]])
    except (TypeError, ValueError):
        raise ValueError(
            f"the categories of item {item} must be numeric codes; got {list(choices[item])}"
        ) from None
    if codes.size < 2 or np.unique(codes).size != codes.size:
        raise ValueError(f"item {item} needs at least two distinct categories; got {list(choices[item])}")
    unknown = sorted(set(values.tolist()) - set(codes.tolist()))
    if unknown:
        raise ValueError(
            f"item {item} has answers {unknown} that are not among its categories {list(choices[item])}"
        )
    return codes


def _groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    cohorts = list(dict.fromkeys(frame["cohort"]))
    return [*((c, frame[frame["cohort"] == c]) for c in cohorts), (ALL_COHORTS, frame)]


def _describe_item(values: np.ndarray, codes: np.ndarray, rule: ConsensusRule) -> dict[str, Any]:
    n = values.size
    nan = float("nan")
    if n == 0:
        return {
            "n": 0,
            **dict.fromkeys(["median", "q1", "q3", "iqr", "top2_share", "bottom2_share", "agreement"], nan),
            **dict.fromkeys(["mean", "sd", "cv"], nan),
            "consensus": False,
            "failed": "no answers",
        }
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75], method=cast(Any, rule.quartile_method))
    ordered = np.sort(codes)
    top2 = float(np.isin(values, ordered[-2:]).mean())
    bottom2 = float(np.isin(values, ordered[:2]).mean())
    share = {"top2": top2, "bottom2": bottom2, "either": max(top2, bottom2)}[rule.agreement]
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if n > 1 else nan
    failed = []
    if rule.max_iqr is not None and not q3 - q1 <= rule.max_iqr + _TOLERANCE:
        failed.append("iqr")
    if rule.min_agreement is not None and not share >= rule.min_agreement - _TOLERANCE:
        failed.append("agreement")
    return {
        "n": n,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "top2_share": top2,
        "bottom2_share": bottom2,
        "agreement": share,
        "mean": mean,
        "sd": sd,
        "cv": sd / mean if mean != 0 else nan,
        "consensus": not failed,
        "failed": ", ".join(failed),
    }


def consensus_table(
    long: pd.DataFrame, choices: Mapping[str, Sequence[Any]], rule: ConsensusRule | None = None
) -> pd.DataFrame:
    """Consensus per round, cohort (and all cohorts) and item.

    Parameters
    ----------
    long
        ``respondent, round, cohort, item, value``; ``value`` is the code of the chosen category (missing =
        no answer, left out).
    choices
        ``{item: [codes from the lowest to the highest category]}``, e.g. ``[1, 2, 3, 4, 5]``; the top two
        categories are the last two codes, the bottom two the first two.
    rule
        The study's :class:`ConsensusRule` (default: IQR <= 1 and >= 70 % in the top or bottom two).

    Returns
    -------
    DataFrame
        ``round, cohort, item, n, median, q1, q3, iqr, top2_share, bottom2_share, agreement`` (the share the rule
        uses), ``mean, sd`` (n - 1 denominator), ``cv`` (sd / mean, computed on the codes, so meaningful only for
        codes on a ratio-like scale starting at 1), ``consensus`` and ``failed`` (``"iqr"``, ``"agreement"``, both,
        or ``"no answers"``), and ``rule`` (:meth:`ConsensusRule.describe`). Quartiles: Hyndman & Fan (1996) type
        of ``rule.quartile_method``; IQR = q3 - q1. The comparisons allow 1e-9 for rounding.
    """
    rule = rule or ConsensusRule()
    frame = _long(long)
    items = list(dict.fromkeys(frame["item"]))
    codes = {item: _codes(choices, item, frame.loc[frame["item"] == item, "value"]) for item in items}
    rows = []
    for round_, in_round in frame.groupby("round", sort=True):
        for cohort, group in _groups(in_round):
            for item in items:
                values = group.loc[group["item"] == item, "value"].to_numpy(dtype="float64")
                rows.append(
                    {
                        "round": round_,
                        "cohort": cohort,
                        "item": item,
                        **_describe_item(values, codes[item], rule),
                    }
                )
    table = pd.DataFrame(rows)
    table["rule"] = rule.describe()
    return table


@dataclass(frozen=True)
class SymmetryTest:
    """McNemar's or Bowker's test of symmetry of a k x k table of paired categories."""

    test: str
    statistic: float
    df: int
    p: float
    p_exact: float
    n_discordant: int
    k: int


def symmetry_test(table: np.ndarray | pd.DataFrame, df_rule: str = "observed") -> SymmetryTest:
    """Bowker's test of symmetry (McNemar's test when k = 2) for a square table of paired categories.

    ``B = sum_{i<j} (n_ij - n_ji)^2 / (n_ij + n_ji)`` over the pairs of cells with ``n_ij + n_ji > 0``, compared
    with chi-square (Bowker 1948; for k = 2 it is McNemar's 1947 statistic without continuity correction). Degrees
    of freedom: with ``df_rule="observed"`` (default) the number of pairs with ``n_ij + n_ji > 0``, because a pair
    of empty cells carries no information about symmetry and counting it makes the test conservative in the
    sparse tables of small panels; ``df_rule="all"`` gives Bowker's ``k(k - 1)/2`` (as SAS PROC FREQ and R's
    ``mcnemar.test``). For k = 2 ``p_exact`` is the exact two-sided binomial p-value of McNemar's test (the
    discordant pairs split 50:50 under the null); NaN for k > 2. With no discordant pair the statistic is 0 and
    p is 1.
    """
    counts = np.asarray(table, dtype="float64")
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError(
            f"a symmetry test needs a square table with at least 2 categories; got shape {counts.shape}"
        )
    if (counts < 0).any() or not np.allclose(counts, np.round(counts)):
        raise ValueError("a symmetry test needs counts (non-negative whole numbers)")
    if df_rule not in ("observed", "all"):
        raise ValueError(f"df_rule must be 'observed' or 'all'; got {df_rule!r}")
    k = counts.shape[0]
    upper = counts[np.triu_indices(k, 1)]
    lower = counts.T[np.triu_indices(k, 1)]
    total = upper + lower
    used = total > 0
    statistic = float(((upper[used] - lower[used]) ** 2 / total[used]).sum())
    df = int(used.sum()) if df_rule == "observed" else k * (k - 1) // 2
    p = float(stats.chi2.sf(statistic, df)) if df > 0 else 1.0
    p_exact = float("nan")
    if k == 2:
        discordant = int(total[0])
        p_exact = float(stats.binomtest(int(upper[0]), discordant, 0.5).pvalue) if discordant else 1.0
    return SymmetryTest(
        test="McNemar" if k == 2 else "Bowker",
        statistic=statistic,
        df=df,
        p=p,
        p_exact=p_exact,
        n_discordant=int(total.sum()),
        k=k,
    )


def stability_table(
    long: pd.DataFrame,
    round_a: Any,
    round_b: Any,
    choices: Mapping[str, Sequence[Any]] | None = None,
    *,
    nominal: Collection[str] = (),
    df_rule: str = "observed",
) -> pd.DataFrame:
    """How the same respondents' answers moved from ``round_a`` to ``round_b``, per cohort (and all) and item.

    Each respondent who answered the item in both rounds contributes one pair; the change is ``b - a``.
    The Wilcoxon signed-rank test on the changes (Wilcoxon 1945; zero changes dropped, ``zero_method="wilcox"``;
    p exact over all sign assignments, ties by midranks, for up to 400 non-zero changes, otherwise the normal
    approximation; via :func:`elicit.stats.ranks.wilcoxon_paired`) asks whether the panel shifted; ``wilcoxon_v`` is the
    rank sum of the increases. For items with categories in ``choices`` the k x k table of round-a by round-b
    categories gets McNemar's (k = 2) or Bowker's test of symmetry (:func:`symmetry_test`), the test for
    categorical answers; items in ``nominal`` (unordered categories) get only that test, not Wilcoxon's.

    Returns
    -------
    DataFrame
        ``cohort, item, round_a, round_b, n_a, n_b, n_paired, n_changed, share_changed, n_up, n_down,
        median_change, mean_change, wilcoxon_v, wilcoxon_p, wilcoxon_method, rank_biserial, symmetry_test,
        symmetry_statistic, symmetry_df, symmetry_p, mcnemar_exact_p``.
    """
    frame = _long(long)
    rounds = set(frame["round"])
    for round_ in (round_a, round_b):
        if round_ not in rounds:
            raise ValueError(f"round {round_!r} has no answers; rounds present: {sorted(rounds, key=str)}")
    if round_a == round_b:
        raise ValueError("stability compares two different rounds")
    unknown = sorted(set(nominal) - set(choices or {}))
    if unknown:
        raise ValueError(f"nominal item(s) {unknown} need their categories in choices")
    first = frame[frame["round"] == round_a]
    second = frame[frame["round"] == round_b]
    paired = first[["respondent", "item", "cohort", "value"]].merge(
        second[["respondent", "item", "value"]], on=["respondent", "item"], suffixes=("_a", "_b")
    )
    items = list(dict.fromkeys(frame["item"]))
    codes = {
        item: _codes(choices, item, frame.loc[frame["item"] == item, "value"])
        for item in items
        if choices is not None and item in choices
    }
    nan = float("nan")
    rows = []
    for cohort, _ in _groups(frame):

        def in_cohort(data: pd.DataFrame, cohort: str = cohort) -> pd.DataFrame:
            return data if cohort == ALL_COHORTS else data[data["cohort"] == cohort]

        for item in items:
            pairs = in_cohort(paired)
            pairs = pairs[pairs["item"] == item]
            a = pairs["value_a"].to_numpy(dtype="float64")
            b = pairs["value_b"].to_numpy(dtype="float64")
            change = b - a
            row: dict[str, Any] = {
                "cohort": cohort,
                "item": item,
                "round_a": round_a,
                "round_b": round_b,
                "n_a": int((in_cohort(first)["item"] == item).sum()),
                "n_b": int((in_cohort(second)["item"] == item).sum()),
                "n_paired": int(change.size),
                "n_changed": int((change != 0).sum()),
                "share_changed": float((change != 0).mean()) if change.size else nan,
                "n_up": int((change > 0).sum()),
                "n_down": int((change < 0).sum()),
                "median_change": float(np.median(change)) if change.size else nan,
                "mean_change": float(change.mean()) if change.size else nan,
            }
            if item in nominal or change.size == 0:
                row.update(wilcoxon_v=nan, wilcoxon_p=nan, wilcoxon_method="not computed", rank_biserial=nan)
            else:
                test = wilcoxon_paired(b, a)
                row.update(
                    wilcoxon_v=test["V"],
                    wilcoxon_p=test["p"],
                    wilcoxon_method=test["method"],
                    rank_biserial=test["rank_biserial"],
                )
            if item in codes and change.size:
                index = {code: i for i, code in enumerate(codes[item])}
                table = np.zeros((len(index), len(index)))
                np.add.at(table, ([index[x] for x in a], [index[x] for x in b]), 1)
                symmetry = symmetry_test(table, df_rule=df_rule)
                row.update(
                    symmetry_test=symmetry.test,
                    symmetry_statistic=symmetry.statistic,
                    symmetry_df=symmetry.df,
                    symmetry_p=symmetry.p,
                    mcnemar_exact_p=symmetry.p_exact,
                )
            else:
                row.update(
                    symmetry_test="",
                    symmetry_statistic=nan,
                    symmetry_df=nan,
                    symmetry_p=nan,
                    mcnemar_exact_p=nan,
                )
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class DelphiTables:
    """The consensus table of every round and the stability table of each pair of consecutive rounds."""

    rule: ConsensusRule
    consensus: pd.DataFrame
    stability: pd.DataFrame
    rounds: tuple[Any, ...]
    suppressed: int = 0


def answers_long(wide: pd.DataFrame, items: Sequence[str]) -> pd.DataFrame:
    """``respondent, round, cohort, item, value`` from one row per respondent and round with a column per item.

    Non-numeric and missing answers (no answer, "don't know") are left out.
    """
    columns = [item for item in items if item in wide.columns]
    long = wide.melt(
        id_vars=["respondent", "round", "cohort"], value_vars=columns, var_name="item", value_name="value"
    )
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long.dropna(subset=["value"])


def delphi_tables(
    long: pd.DataFrame, choices: Mapping[str, Sequence[Any]], rule: ConsensusRule, *, k: int | None = None
) -> DelphiTables:
    """Consensus per round and stability between consecutive rounds, under the study's ``rule``.

    The one computation behind the studio's Delphi page, the export's ``consensus.csv``/``stability.csv`` and
    ``elicit analyze``, so the three cannot disagree: :func:`consensus_table` for every round and
    :func:`stability_table` for each pair of consecutive rounds. With ``k``, a cohort of fewer than k answers is
    left out, and so is whatever would give it back ("all" minus the cohorts kept;
    :func:`elicit.stats.disclosure.drop_hidden_groups`); ``suppressed`` counts the consensus rows left out.
    """
    if not isinstance(rule, ConsensusRule):
        raise ValueError("delphi_tables needs the study's ConsensusRule")
    items = [item for item in dict.fromkeys(long["item"].astype(str)) if item in choices] if len(long) else []
    frame = long[long["item"].astype(str).isin(items)] if items else long.iloc[0:0]
    if frame.empty:
        return DelphiTables(rule, pd.DataFrame(), pd.DataFrame(), ())
    used = {item: choices[item] for item in items}
    consensus = consensus_table(frame, used, rule)
    rounds = tuple(sorted(frame["round"].unique().tolist()))
    stability = (
        pd.concat(
            [stability_table(frame, a, b, used) for a, b in zip(rounds, rounds[1:], strict=False)],
            ignore_index=True,
        )
        if len(rounds) > 1
        else pd.DataFrame()
    )
    consensus, suppressed = drop_hidden_groups(consensus, ["round", "item"], k, size="n")
    if not stability.empty:
        stability, _ = drop_hidden_groups(stability, ["round_a", "round_b", "item"], k, size="n_paired")
    return DelphiTables(rule, consensus, stability, rounds, suppressed)


def ranking_agreement(ranks: pd.DataFrame) -> KendallW:
    """Kendall's W among respondents who ranked the same items.

    ``ranks`` has one row per respondent (a ``respondent`` column or the index) and one column per item, holding
    the rank (or any score: each respondent's values are ranked, ties get mid-ranks). Computed by
    :func:`elicit.stats.ranks.kendall_w` (Kendall & Babington Smith 1939, tie-corrected; chi-square test
    ``m (n - 1) W`` on ``n - 1`` df); respondents with a missing rank are left out.
    """
    if not isinstance(ranks, pd.DataFrame):
        raise ValueError("ranks must be a DataFrame with one row per respondent and one column per item")
    table = ranks.set_index("respondent") if "respondent" in ranks.columns else ranks
    try:
        values = table.astype("float64")
    except (TypeError, ValueError):
        raise ValueError("ranks must be numbers") from None
    return kendall_w(values.T)  # kendall_w wants targets (items) x raters (respondents)


def ranking_agreement_table(long: pd.DataFrame, items: Sequence[str] | None = None) -> pd.DataFrame:
    """Kendall's W per round and cohort (and all) for a ranking question given long.

    ``long`` has ``respondent, round, cohort, item, value`` with ``value`` the rank; ``items`` picks the ranked
    items (default: all). Returns ``round, cohort, m`` (respondents with a complete ranking), ``n`` (items),
    ``w, chi2, df, p``.
    """
    frame = _long(long)
    if items is not None:
        frame = frame[frame["item"].isin([str(i) for i in items])]
    rows = []
    for round_, in_round in frame.groupby("round", sort=True):
        for cohort, group in _groups(in_round):
            wide = group.pivot(index="respondent", columns="item", values="value")
            result = ranking_agreement(wide)
            rows.append(
                {
                    "round": round_,
                    "cohort": cohort,
                    "m": result.m,
                    "n": result.n,
                    "w": result.w,
                    "chi2": result.chi2,
                    "df": result.df,
                    "p": result.p,
                }
            )
    return pd.DataFrame(rows)
