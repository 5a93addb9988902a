"""Cooke's classical model for structured expert judgement: calibration, information, performance weights.

Each expert gives quantiles (by default the 5 %, 50 % and 95 % quantiles) for every item. For the *seed*
(calibration) items the researcher enters the true value (the *realization*) after the round; the other items are
*targets*. The model scores every expert on the seeds and combines the experts into *decision makers* (DMs):

* calibration: how well the realizations fall into the expert's inter-quantile bins in the expected proportions,
  the p-value of the likelihood-ratio statistic ``2 N I(s, p)`` against a chi-square with (number of bins - 1)
  degrees of freedom;
* information: the relative information of the expert's piecewise-uniform density with respect to a uniform (or
  log-uniform) background on the item's intrinsic range with a 10 % overshoot;
* weights: calibration x information, zero below the significance cut-off alpha, normalized over experts
  (global weights) or per item (item weights); alpha is chosen to maximize the DM's own score (optimized DM);
  calibration scores are compared with alpha with a relative tolerance (``CALIBRATION_REL_TOL``), so scores that
  are equal but for floating-point rounding never fall on different sides of the cut-off;
* decision makers: the weighted mixture of the experts' piecewise-linear CDFs, read off at the quantile levels;
  the performance-weighted (global and item) and the equal-weight DM are scored like experts.

The definitions follow Cooke (1991) and Cooke & Goossens (2008) as implemented in EXCALIBUR and in ANDURIL /
``anduryl`` (Leontaris & Morales-Nápoles 2018; Rongen et al., ``anduryl`` 1.2.2); the test-suite reproduces the
EXCALIBUR results of two studies of the TU Delft expert judgement data base (FCEP, CoveringKids) and anduryl's
per-expert scores. Where a choice changes the numbers it is a field of :class:`CookeSettings` and is written into
:func:`results_dict`.

References
----------
Cooke, R.M. (1991). *Experts in Uncertainty: Opinion and Subjective Probability in Science.* Oxford University
Press, ch. 12.
Cooke, R.M. & Goossens, L.L.H.J. (2008). TU Delft expert judgment data base. *Reliability Engineering & System
Safety* 93(5), 657-674. doi:10.1016/j.ress.2007.03.005
Leontaris, G. & Morales-Nápoles, O. (2018). ANDURIL — A MATLAB toolbox for ANalysis and Decisions with UnceRtaInty:
Learning from expert judgments. *SoftwareX* 7, 313-317. doi:10.1016/j.softx.2018.07.001
Rongen, G., 't Hart, M., Leontaris, G. & Morales-Nápoles, O. ``anduryl`` 1.2.2, the Python implementation of
ANDURIL (PyPI, 2023).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from scipy import stats

from .json_values import json_safe

__all__ = [
    "BACKGROUNDS",
    "FEW_SEEDS",
    "ON_QUANTILE_RULES",
    "CookeResult",
    "CookeSettings",
    "calibration_scores",
    "classical_model",
    "information_scores",
    "intrinsic_range",
    "level_name",
    "plot_ranges",
    "results_dict",
]

#: Background measures for the information score and the DM interpolation.
BACKGROUNDS = ("uniform", "loguniform")
#: How a realization exactly equal to a quantile is binned.
ON_QUANTILE_RULES: dict[str, str] = {
    "lower": "a realization equal to a quantile is counted in the bin below it (bins are (q_j-1, q_j]), "
    "as EXCALIBUR and anduryl do",
    "upper": "a realization equal to a quantile is counted in the bin above it (bins are [q_j-1, q_j))",
}
#: Fewer seed items than this: the calibration test has little power (Cooke & Goossens 2008 advise at least 10).
FEW_SEEDS = 10
MISSING_RULE = (
    "an expert is scored on the seed items they answered; the calibration statistic 2 N I(s, p) of every expert "
    "and decision maker uses N = the fewest seed items answered by any expert (EXCALIBUR/anduryl); information "
    "scores average over the items the expert answered; a decision maker's item uses the experts who answered "
    "it, their weights renormalized"
)
TIE_RULE = "when several cut-offs give the same decision-maker score the smallest (most inclusive) is chosen"
#: Relative tolerance (as in :func:`math.isclose`) within which two calibration scores count as equal when they
#: are compared with the cut-off or with each other. Mathematically equal scores can differ in their last bits
#: (bin counts that are permutations of each other sum their terms in another order), and a plain ``>=`` would
#: then put one expert above and the other below the cut-off; genuinely different scores differ far more.
CALIBRATION_REL_TOL = 1e-9
TOLERANCE_RULE = (
    f"calibration scores are compared with the cut-off with a relative tolerance of {CALIBRATION_REL_TOL:g} "
    "(equal within it counts as equal), so scores that are equal but for rounding fall on the same side"
)
REFERENCES = (
    "Cooke, R.M. (1991). Experts in Uncertainty. Oxford University Press, ch. 12.",
    "Cooke, R.M. & Goossens, L.L.H.J. (2008). TU Delft expert judgment data base. Reliability Engineering & "
    "System Safety 93(5), 657-674.",
    "Leontaris, G. & Morales-Nápoles, O. (2018). ANDURIL - A MATLAB toolbox for ANalysis and Decisions with "
    "UnceRtaInty: Learning from expert judgments. SoftwareX 7, 313-317.",
    "Rongen, G. et al. anduryl 1.2.2 (Python implementation of ANDURIL).",
)
DM_NAMES = {"global": "performance_global", "item": "performance_item", "equal": "equal"}


def level_name(level: float) -> str:
    """Column name of a quantile level: ``0.05 -> "q05"``, ``0.5 -> "q50"``, ``0.95 -> "q95"``, ``0.025 -> "q2_5"``."""
    percent = round(float(level) * 100, 9)
    if percent == int(percent):
        return f"q{int(percent):02d}"
    return "q" + f"{percent:g}".replace(".", "_")


@dataclass(frozen=True)
class CookeSettings:
    """Everything that changes the numbers of the classical model; recorded in the results.

    Parameters
    ----------
    levels
        The quantile levels elicited, strictly increasing in (0, 1); the bin probabilities ``p`` are their
        differences with 0 and 1 (5/50/95: ``p = (.05, .45, .45, .05)``).
    background
        ``"uniform"`` or ``"loguniform"`` for every item, or a mapping ``{item: background}`` (items not named are
        uniform). A log-uniform item is scored and interpolated on the log scale, so all its quantiles and its
        realization must be positive.
    overshoot
        ``k``: the intrinsic range ``[L, U]`` (smallest and largest quantile of any expert and the realization) is
        widened to ``[L - k(U - L), U + k(U - L)]`` (on the log scale for log-uniform items).
    cutoff
        ``"optimize"``: the significance level alpha is the expert calibration score that maximizes the
        performance-weighted DM's own score; or a fixed alpha in [0, 1) (0: no expert is cut off).
    weights
        ``"global"`` or ``"item"``: which performance-weighted DM the study reports (:attr:`CookeResult.dm`);
        both are always computed.
    on_quantile
        ``"lower"`` (EXCALIBUR, anduryl) or ``"upper"``: the bin of a realization equal to a quantile.
    calibration_power
        Multiplies ``N`` in the calibration statistic (1 = the classical model; smaller values make the test less
        severe, Cooke & Goossens 2008, section 3.3).
    """

    levels: tuple[float, ...] = (0.05, 0.5, 0.95)
    background: str | Mapping[str, str] = "uniform"
    overshoot: float = 0.1
    cutoff: str | float = "optimize"
    weights: str = "global"
    on_quantile: str = "lower"
    calibration_power: float = 1.0

    def __post_init__(self) -> None:
        levels = tuple(float(x) for x in self.levels)
        if len(levels) < 1 or any(not 0 < x < 1 for x in levels) or any(np.diff(levels) <= 0):
            raise ValueError(
                f"quantile levels must be strictly increasing between 0 and 1; got {self.levels}"
            )
        object.__setattr__(self, "levels", levels)
        backgrounds = (
            [self.background] if isinstance(self.background, str) else list(self.background.values())
        )
        for value in backgrounds:
            if value not in BACKGROUNDS:
                raise ValueError(f"background must be one of {BACKGROUNDS}; got {value!r}")
        if not isinstance(self.background, str):
            object.__setattr__(self, "background", dict(self.background))
        if not (math.isfinite(self.overshoot) and self.overshoot >= 0):
            raise ValueError(f"overshoot must be a number >= 0; got {self.overshoot}")
        if isinstance(self.cutoff, str):
            if self.cutoff != "optimize":
                raise ValueError(
                    f"cutoff must be 'optimize' or a significance level in [0, 1); got {self.cutoff!r}"
                )
        elif not 0 <= float(self.cutoff) < 1:
            raise ValueError(f"a fixed cutoff must be in [0, 1); got {self.cutoff}")
        if self.weights not in ("global", "item"):
            raise ValueError(f"weights must be 'global' or 'item'; got {self.weights!r}")
        if self.on_quantile not in ON_QUANTILE_RULES:
            raise ValueError(
                f"on_quantile must be one of {tuple(ON_QUANTILE_RULES)}; got {self.on_quantile!r}"
            )
        if not (math.isfinite(self.calibration_power) and 0 < self.calibration_power <= 1):
            raise ValueError(f"calibration_power must be in (0, 1]; got {self.calibration_power}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The quantile columns expected in the data, e.g. ``("q05", "q50", "q95")``."""
        return tuple(level_name(x) for x in self.levels)

    @property
    def bin_probabilities(self) -> np.ndarray:
        """``p``: the probability the expert puts in each inter-quantile bin."""
        return np.diff(np.concatenate([[0.0], self.levels, [1.0]]))

    def background_of(self, item: str) -> str:
        """The background measure of one item."""
        if isinstance(self.background, str):
            return self.background
        return self.background.get(item, "uniform")

    def as_dict(self) -> dict[str, Any]:
        """The settings with the rules in words, for the results document and the export."""
        return {
            "model": "Cooke's classical model",
            "levels": list(self.levels),
            "bin_probabilities": [float(x) for x in self.bin_probabilities],
            "calibration_df": len(self.levels),
            "background": self.background if isinstance(self.background, str) else dict(self.background),
            "background_default": "uniform",
            "overshoot": self.overshoot,
            "intrinsic_range": "smallest and largest quantile of any expert and the realization, widened by the "
            "overshoot on each side (on the log scale for log-uniform items)",
            "cutoff": self.cutoff,
            "cutoff_rule": (
                "optimized: the expert calibration score that maximizes the decision maker's calibration x "
                "information (zero if its calibration is below the cut-off); " + TIE_RULE
                if self.cutoff == "optimize"
                else "fixed: experts with calibration >= the cut-off get weight"
            )
            + "; "
            + TOLERANCE_RULE,
            "calibration_rel_tol": CALIBRATION_REL_TOL,
            "weights": self.weights,
            "on_quantile": self.on_quantile,
            "on_quantile_rule": ON_QUANTILE_RULES[self.on_quantile],
            "calibration_power": self.calibration_power,
            "missing_answers": MISSING_RULE,
            "decision_maker": "weighted mixture of the experts' piecewise-linear CDFs (linear between the "
            "quantiles and the widened range, on the log scale for log-uniform items), read off at the levels",
            "references": list(REFERENCES),
        }


@dataclass(frozen=True, eq=False)
class CookeResult:
    """The classical model for one panel.

    Attributes
    ----------
    experts
        One row per expert: ``expert, n_seeds, statistic, calibration, information_seeds, information_all,
        score`` (calibration x information on the seeds), ``above_cutoff, weight_unnormalized`` (score if above
        the cut-off, else 0) and ``weight`` (normalized global weight).
    item_weights
        ``expert, item, seed, information, weight``: the information per item and the normalized item weights at
        :attr:`cutoff_item`.
    decision_makers
        One row per DM (``performance_global``, ``performance_item``, ``equal``): weights, cutoff, calibration,
        information on the seeds and on all items, score, weight_unnormalized, and ``reported``.
    dm_quantiles
        ``dm, item, seed, realization`` and one column per level: each DM's quantiles.
    ranges
        ``item, seed, realization, background, low, high, lower_bound, upper_bound``: the intrinsic range and the
        range widened by the overshoot.
    assessments
        The validated input (``expert, item`` and the level columns).
    cutoff, cutoff_item
        The significance levels alpha used for the global- and the item-weight DM.
    n_seeds, n_effective
        The number of seed items, and ``N`` used in the calibration statistic.
    """

    experts: pd.DataFrame
    item_weights: pd.DataFrame
    decision_makers: pd.DataFrame
    dm_quantiles: pd.DataFrame
    ranges: pd.DataFrame
    assessments: pd.DataFrame
    cutoff: float
    cutoff_item: float
    settings: CookeSettings
    n_seeds: int
    n_effective: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def dm(self) -> str:
        """The name of the performance-weighted DM the study reports (``settings.weights``)."""
        return DM_NAMES[self.settings.weights]


# --------------------------------------------------------------------------------------------------------------
# Validation and the array form


@dataclass(frozen=True)
class _Panel:
    experts: list[str]
    items: list[str]
    values: np.ndarray  # experts x items x levels on the scoring scale (log for log-uniform); NaN = missing
    answered: np.ndarray  # experts x items
    seed: np.ndarray  # items
    realization: np.ndarray  # items, on the scoring scale; NaN for targets
    log: np.ndarray  # items
    lower: np.ndarray  # items: L* on the scoring scale
    upper: np.ndarray  # items: U*
    low: np.ndarray  # items: L (without overshoot), scoring scale
    high: np.ndarray  # items: U
    frame: pd.DataFrame


def _panel(data: pd.DataFrame, realizations: Mapping[str, float] | None, settings: CookeSettings) -> _Panel:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(
            "the assessments must be a DataFrame with columns expert, item and the quantile columns"
        )
    columns = list(settings.columns)
    missing = [c for c in ("expert", "item", *columns) if c not in data.columns]
    if missing:
        raise ValueError(
            f"the assessments lack the column(s) {missing}; expected expert, item, {', '.join(columns)} "
            f"for the levels {list(settings.levels)}"
        )
    frame = data[["expert", "item", *columns]].copy()
    frame["expert"] = frame["expert"].astype(str)
    frame["item"] = frame["item"].astype(str)
    try:
        frame[columns] = frame[columns].astype("float64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"quantiles must be numbers: {error}") from None
    duplicated = frame.duplicated(["expert", "item"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise ValueError(f"expert {row['expert']} has more than one row for item {row['item']}")
    experts = list(dict.fromkeys(frame["expert"]))
    items = list(dict.fromkeys(frame["item"]))
    if not experts or not items:
        raise ValueError("there are no assessments")

    array = np.full((len(experts), len(items), len(columns)), np.nan)
    expert_index = {e: i for i, e in enumerate(experts)}
    item_index = {q: j for j, q in enumerate(items)}
    rows = frame[columns].to_numpy()
    array[frame["expert"].map(expert_index).to_numpy(), frame["item"].map(item_index).to_numpy()] = rows
    if np.isinf(array).any():
        raise ValueError("quantiles must be finite numbers")
    nan = np.isnan(array)
    partial = nan.any(axis=2) & ~nan.all(axis=2)
    if partial.any():
        e, j = np.argwhere(partial)[0]
        raise ValueError(
            f"expert {experts[e]} gave only some quantiles for item {items[j]}: give all of "
            f"{', '.join(columns)} or none"
        )
    answered = ~nan.all(axis=2)
    steps = np.diff(array, axis=2)
    bad = answered & ~(np.nan_to_num(steps, nan=1.0) > 0).all(axis=2)
    if bad.any():
        e, j = np.argwhere(bad)[0]
        raise ValueError(
            f"expert {experts[e]}, item {items[j]}: quantiles must be strictly increasing "
            f"({', '.join(columns)} = {', '.join(f'{v:g}' for v in array[e, j])}); the classical model cannot score "
            "equal quantiles"
        )

    realization = np.full(len(items), np.nan)
    for item, value in (realizations or {}).items():
        if str(item) not in item_index:
            raise ValueError(f"realization given for item {item!r}, which no expert assessed")
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"the realization of item {item!r} must be a number; got {value!r}") from None
        if math.isinf(number):
            raise ValueError(f"the realization of item {item!r} must be finite")
        realization[item_index[str(item)]] = number
    seed = ~np.isnan(realization)

    if not isinstance(settings.background, str):
        unknown = sorted(set(settings.background) - set(items))
        if unknown:
            raise ValueError(f"background given for unknown item(s) {unknown}")
    log = np.array([settings.background_of(q) == "loguniform" for q in items])
    for j in np.flatnonzero(log):
        answers = array[:, j][answered[:, j]]
        if (answers <= 0).any():
            raise ValueError(
                f"item {items[j]} has a log-uniform background but an expert gave a quantile <= 0 "
                f"(smallest {answers.min():g}); use a uniform background or positive values"
            )
        if seed[j] and realization[j] <= 0:
            raise ValueError(
                f"item {items[j]} has a log-uniform background but its realization is {realization[j]:g}; "
                "it must be positive"
            )
    unanswered = ~answered.any(axis=0)
    if unanswered.any():
        raise ValueError(f"no expert answered item {items[int(np.flatnonzero(unanswered)[0])]}")

    scaled = array.copy()
    scaled[:, log] = np.log(scaled[:, log])
    scaled_realization = realization.copy()
    scaled_realization[log & seed] = np.log(realization[log & seed])
    with np.errstate(all="ignore"):
        low = np.nanmin(scaled, axis=(0, 2))
        high = np.nanmax(scaled, axis=(0, 2))
    low = np.where(seed, np.fmin(low, scaled_realization), low)
    high = np.where(seed, np.fmax(high, scaled_realization), high)
    width = high - low
    return _Panel(
        experts=experts,
        items=items,
        values=scaled,
        answered=answered,
        seed=seed,
        realization=scaled_realization,
        log=log,
        lower=low - settings.overshoot * width,
        upper=high + settings.overshoot * width,
        low=low,
        high=high,
        frame=frame.reset_index(drop=True),
    )


# --------------------------------------------------------------------------------------------------------------
# The scores on arrays


def _bin_counts(values: np.ndarray, realization: np.ndarray, rule: str) -> np.ndarray:
    """Counts of realizations per inter-quantile bin: ``values`` is experts x seeds x levels (NaN = missing)."""
    answered = ~np.isnan(values).any(axis=2)
    r = realization[None, :, None]
    below = (r <= values) if rule == "lower" else (r < values)  # realization falls at or below each quantile
    bins = values.shape[2] - below.sum(axis=2)  # 0 = below the first quantile, ..., n_levels = above the last
    counts = np.zeros((values.shape[0], values.shape[2] + 1), dtype=int)
    for e in range(values.shape[0]):
        counts[e] = np.bincount(bins[e][answered[e]], minlength=values.shape[2] + 1)
    return counts


def _calibration(counts: np.ndarray, p: np.ndarray, n: int, power: float) -> tuple[np.ndarray, np.ndarray]:
    """``C = 1 - F_chi2(2 N I(s, p); df = bins - 1)`` with ``I(s, p) = sum s ln(s / p)`` (Cooke 1991, 12.2)."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = counts / totals
        terms = np.where(s > 0, s * np.log(s / p), 0.0)
    statistic = 2 * n * power * terms.sum(axis=1)
    statistic = np.where(totals[:, 0] > 0, statistic, np.nan)
    return statistic, stats.chi2.sf(statistic, len(p) - 1)


def _information(values: np.ndarray, lower: np.ndarray, upper: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Relative information per expert and item of the piecewise-uniform density w.r.t. the uniform background.

    ``I = ln(U* - L*) + sum_i p_i ln(p_i / (b_i - b_i-1))`` with ``b = (L*, q_1, ..., q_n, U*)`` (Cooke 1991,
    12.3; Cooke & Goossens 2008, eq. 2). NaN where the expert did not answer.
    """
    n_exp, n_items, _ = values.shape
    edges = np.concatenate(
        [
            np.broadcast_to(lower[None, :, None], (n_exp, n_items, 1)),
            values,
            np.broadcast_to(upper[None, :, None], (n_exp, n_items, 1)),
        ],
        axis=2,
    )
    widths = np.diff(edges, axis=2)
    information: np.ndarray = np.log(upper - lower)[None, :] + (p * np.log(p / widths)).sum(axis=2)
    return information


def _mixture_quantiles(
    values: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    levels: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Quantiles of the weighted mixture of the experts' piecewise-linear CDFs, per item (items x levels).

    Each expert's CDF is linear between ``(L*, 0), (q_1, l_1), ..., (q_n, l_n), (U*, 1)``; the mixture is linear
    between the union of all breakpoints, so interpolating its inverse at the union is exact (Cooke 1991, 12.4;
    anduryl ``calculate.get_expert_CDFs``). ``weights`` is experts x items; experts who did not answer an item
    must have weight 0; an item whose weights sum to 0 gets NaN.
    """
    full = np.concatenate([[0.0], levels, [1.0]])
    out = np.full((values.shape[1], len(levels)), np.nan)
    for j in range(values.shape[1]):
        w = weights[:, j]
        total = w.sum()
        if not total > 0:
            continue
        use = np.flatnonzero(w > 0)
        points = np.unique(np.concatenate([[lower[j]], values[use, j].ravel(), [upper[j]]]))
        cdf = np.zeros_like(points)
        for e in use:
            edges = np.concatenate([[lower[j]], values[e, j], [upper[j]]])
            cdf += w[e] / total * np.interp(points, edges, full)
        out[j] = np.interp(levels, cdf, points)
    return out


def _from_scale(values: np.ndarray, log: np.ndarray) -> np.ndarray:
    """Back from the scoring scale to the original scale (``exp`` on the log-uniform items, the first axis)."""
    out = np.array(values, dtype="float64", copy=True)
    out[log] = np.exp(out[log])
    return out


def _normalize_per_item(raw: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Weights experts x items, zero where unanswered, normalized per item (NaN column where all are zero)."""
    w = np.where(answered, raw, 0.0)
    totals = w.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, w / totals, np.nan)


@dataclass(frozen=True)
class _Scores:
    counts: np.ndarray
    statistic: np.ndarray
    calibration: np.ndarray
    info_item: np.ndarray  # experts x items (NaN unanswered)
    info_seeds: np.ndarray
    info_all: np.ndarray


def _score(panel: _Panel, values: np.ndarray, n: int, settings: CookeSettings) -> _Scores:
    p = settings.bin_probabilities
    counts = _bin_counts(values[:, panel.seed], panel.realization[panel.seed], settings.on_quantile)
    statistic, calibration = _calibration(counts, p, n, settings.calibration_power)
    info = _information(values, panel.lower, panel.upper, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row (nothing answered) gives NaN
        info_seeds = np.nanmean(info[:, panel.seed], axis=1)
        info_all = np.nanmean(info, axis=1)
    return _Scores(counts, statistic, calibration, info, info_seeds, info_all)


def _at_or_above(calibration: np.ndarray | float, alpha: float) -> np.ndarray:
    """``calibration >= alpha``, where a score within :data:`CALIBRATION_REL_TOL` of alpha counts as equal.

    The tolerance is relative, as :func:`math.isclose` with ``rel_tol=CALIBRATION_REL_TOL`` and no absolute
    tolerance, because calibration scores span many orders of magnitude (1e-20 is a real score). NaN is never
    at or above.
    """
    values = np.asarray(calibration, dtype=float)
    close = np.abs(values - alpha) <= CALIBRATION_REL_TOL * np.maximum(np.abs(values), abs(alpha))
    return np.asarray((values >= alpha) | close)


def _distinct_scores(calibration: np.ndarray) -> list[float]:
    """The finite calibration scores in increasing order, one per group of scores equal within the tolerance.

    Each group is represented by its smallest member, so with :func:`_at_or_above` every member of a group is
    above the cut-off the group gives.
    """
    distinct: list[float] = []
    for value in np.sort(calibration[np.isfinite(calibration)]):
        if not distinct or not _at_or_above(distinct[-1], float(value)).item():
            distinct.append(float(value))
    return distinct


def _weights(kind: str, scores: _Scores, alpha: float, answered: np.ndarray) -> np.ndarray:
    above = _at_or_above(scores.calibration, alpha).astype(float)
    if kind == "global":
        raw = (scores.calibration * scores.info_seeds * above)[:, None] * np.ones(answered.shape)
    elif kind == "item":
        raw = (scores.calibration * above)[:, None] * np.nan_to_num(scores.info_item)
    else:
        raw = np.ones(answered.shape)
    return _normalize_per_item(raw, answered)


def _n_effective(panel: _Panel) -> int:
    return int(panel.answered[:, panel.seed].sum(axis=1).min())


def _decision_maker(
    panel: _Panel,
    experts: _Scores,
    kind: str,
    alpha: float,
    n: int,
    settings: CookeSettings,
    items: np.ndarray,
) -> tuple[np.ndarray, _Scores]:
    """DM quantiles (scoring scale) on ``items`` and the DM's scores as a virtual expert."""
    weights = _weights(kind, experts, alpha, panel.answered)
    levels = np.asarray(settings.levels)
    quantiles = np.full((len(panel.items), len(levels)), np.nan)
    quantiles[items] = _mixture_quantiles(
        panel.values[:, items],
        panel.lower[items],
        panel.upper[items],
        levels,
        np.nan_to_num(weights[:, items]),
    )
    return quantiles, _score(panel, quantiles[None], n, settings)


def _dm_score(scores: _Scores, alpha: float) -> float:
    cal = float(scores.calibration[0])
    value = cal * float(scores.info_seeds[0])
    return value if _at_or_above(cal, alpha).item() and math.isfinite(value) else 0.0


def _optimize(panel: _Panel, experts: _Scores, kind: str, n: int, settings: CookeSettings) -> float:
    """The cut-off among the experts' calibration scores that maximizes the DM's unnormalized weight.

    Cooke (1991, 12.5) and Cooke & Goossens (2008, section 3.4): the DM is scored like an expert, its weight being
    ``1(C_DM >= alpha) C_DM I_DM`` on the seeds; ties go to the smallest alpha (anduryl's ``np.argmax`` over
    the sorted unique calibration scores). Unlike anduryl, scores equal within :data:`CALIBRATION_REL_TOL` are one
    candidate, and every ``>=`` uses that tolerance (:func:`_at_or_above`), so experts whose calibration is the
    same but for rounding are never split by the cut-off.
    """
    best_alpha, best = math.nan, -math.inf
    for alpha in _distinct_scores(experts.calibration):
        _, dm = _decision_maker(panel, experts, kind, alpha, n, settings, panel.seed)
        value = _dm_score(dm, alpha)
        if value > best:
            best_alpha, best = alpha, value
    return best_alpha


# --------------------------------------------------------------------------------------------------------------
# Public functions


def intrinsic_range(
    data: pd.DataFrame,
    realizations: Mapping[str, float] | None = None,
    settings: CookeSettings | None = None,
) -> pd.DataFrame:
    """The intrinsic range of each item and the range widened by the overshoot.

    ``L`` and ``U`` are the smallest and the largest quantile given by any expert for the item, and the
    realization for a seed item; the information score and the DM use ``[L*, U*] = [L - k(U - L), U + k(U - L)]``
    with ``k`` = ``settings.overshoot`` (Cooke 1991, 12.3; Cooke & Goossens 2008, section 3.2). For a
    log-uniform item the range is computed and widened on the log scale and reported back on the original scale.

    Returns
    -------
    DataFrame
        ``item, seed, realization, background, low, high, lower_bound, upper_bound``.
    """
    settings = settings or CookeSettings()
    panel = _panel(data, realizations, settings)
    return _ranges_frame(panel)


def _ranges_frame(panel: _Panel) -> pd.DataFrame:
    def back(x: np.ndarray) -> np.ndarray:
        return _from_scale(x, panel.log)

    return pd.DataFrame(
        {
            "item": panel.items,
            "seed": panel.seed,
            "realization": back(panel.realization),
            "background": np.where(panel.log, "loguniform", "uniform"),
            "low": back(panel.low),
            "high": back(panel.high),
            "lower_bound": back(panel.lower),
            "upper_bound": back(panel.upper),
        }
    )


def _bin_labels(columns: Sequence[str]) -> list[str]:
    return [
        f"below_{columns[0]}",
        *[f"{a}_{b}" for a, b in zip(columns[:-1], columns[1:], strict=True)],
        f"above_{columns[-1]}",
    ]


def calibration_scores(
    data: pd.DataFrame, realizations: Mapping[str, float], settings: CookeSettings | None = None
) -> pd.DataFrame:
    """Cooke's calibration score of each expert on the seed items.

    The realizations are counted in the expert's inter-quantile bins (a realization equal to a quantile goes to
    the bin below it unless ``settings.on_quantile == "upper"``); ``s`` are the relative frequencies over the
    ``n_seeds`` seeds the expert answered and ``p`` the bin probabilities (.05, .45, .45, .05 for 5/50/95). The
    statistic ``2 N I(s, p)``, ``I(s, p) = sum s_i ln(s_i / p_i)``, is asymptotically chi-square with (number of
    bins - 1) degrees of freedom, and the calibration score is its p-value ``1 - F_chi2(2 N I(s, p))`` (Cooke 1991,
    12.2; Cooke & Goossens 2008, eq. 1). ``N`` is the fewest seeds answered by any expert (``n_effective``; all
    seeds when everyone answered them all), times ``settings.calibration_power``.

    Returns
    -------
    DataFrame
        ``expert, n_seeds, n_effective``, one count column per bin (``below_q05, q05_q50, q50_q95, above_q95``),
        ``relative_information`` (``I(s, p)``), ``statistic, df, calibration``.
    """
    settings = settings or CookeSettings()
    panel = _panel(data, realizations, settings)
    _require_seeds(panel)
    n = _n_effective(panel)
    scores = _score(panel, panel.values, n, settings)
    return _calibration_frame(panel, scores, n, settings)


def _calibration_frame(panel: _Panel, scores: _Scores, n: int, settings: CookeSettings) -> pd.DataFrame:
    frame = pd.DataFrame({"expert": panel.experts, "n_seeds": scores.counts.sum(axis=1), "n_effective": n})
    for label, column in zip(_bin_labels(settings.columns), scores.counts.T, strict=True):
        frame[label] = column
    frame["relative_information"] = scores.statistic / (2 * n * settings.calibration_power)
    frame["statistic"] = scores.statistic
    frame["df"] = len(settings.levels)
    frame["calibration"] = scores.calibration
    return frame


def information_scores(
    data: pd.DataFrame,
    realizations: Mapping[str, float] | None = None,
    settings: CookeSettings | None = None,
) -> pd.DataFrame:
    """Cooke's information score of each expert on each item.

    ``I = ln(U* - L*) + sum_i p_i ln(p_i / (b_i - b_i-1))`` with ``b = (L*, q_1, ..., q_n, U*)``: the relative
    information of the expert's piecewise-uniform density (probability ``p_i`` spread evenly between consecutive
    quantiles) with respect to the uniform background on the widened intrinsic range ``[L*, U*]`` (see
    :func:`intrinsic_range`). For log-uniform items the same on the log scale (Cooke 1991, 12.3; Cooke & Goossens
    2008, eq. 2). The realizations only enter through the intrinsic range.

    Returns
    -------
    DataFrame
        ``expert, item, seed, background, information``; rows only where the expert answered.
    """
    settings = settings or CookeSettings()
    panel = _panel(data, realizations, settings)
    info = _information(panel.values, panel.lower, panel.upper, settings.bin_probabilities)
    return _item_frame(panel, info, {"information": info})


def _item_frame(panel: _Panel, info: np.ndarray, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    e, j = np.nonzero(panel.answered)
    frame = pd.DataFrame(
        {
            "expert": np.asarray(panel.experts, dtype=object)[e],
            "item": np.asarray(panel.items, dtype=object)[j],
            "seed": panel.seed[j],
            "background": np.where(panel.log[j], "loguniform", "uniform"),
        }
    )
    for name, values in columns.items():
        frame[name] = values[e, j]
    return frame


def _require_seeds(panel: _Panel) -> None:
    if not panel.seed.any():
        raise ValueError(
            "the classical model needs seed items: enter the realizations of the calibration questions"
        )
    answered = panel.answered[:, panel.seed].sum(axis=1)
    if (answered == 0).any():
        who = [e for e, a in zip(panel.experts, answered, strict=True) if a == 0]
        raise ValueError(
            f"expert(s) {', '.join(who)} answered none of the seed items and cannot be scored; leave them out"
        )


def classical_model(
    data: pd.DataFrame, realizations: Mapping[str, float], settings: CookeSettings | None = None
) -> CookeResult:
    """Cooke's classical model: expert scores, weights and the performance- and equal-weight decision makers.

    Parameters
    ----------
    data
        One row per expert and item: ``expert, item`` and a column per quantile level (``q05, q50, q95`` by
        default; see :func:`level_name`). An expert who skipped an item has no row (or a row of NaN).
    realizations
        ``{item: true value}`` for the seed items; every other item is a target. ``None``/NaN means not known yet
        (the item is treated as a target).
    settings
        :class:`CookeSettings`; the defaults are those of the classical model in EXCALIBUR/anduryl.

    Notes
    -----
    Expert ``e`` has calibration ``C_e`` (:func:`calibration_scores`), information ``I_e`` averaged over the seeds
    (:func:`information_scores`) and unnormalized global weight ``w_e = 1(C_e >= alpha) C_e I_e``; item weights use
    the information on the item instead of the seed average. The weights are normalized over the experts who
    answered the item. A DM's CDF on an item is the weighted mixture of the experts' CDFs; its quantiles are
    scored like an expert's (same ``N``, same intrinsic ranges). With ``cutoff="optimize"`` alpha is the expert
    calibration score maximizing the DM's ``1(C_DM >= alpha) C_DM I_DM`` (Cooke 1991, ch. 12; Cooke & Goossens
    2008, section 3; anduryl ``calculate.decision_maker``). The equal-weight DM gives every answering expert the
    same weight. Every ``>=`` against alpha treats scores within a relative tolerance of
    :data:`CALIBRATION_REL_TOL` (1e-9, as :func:`math.isclose`) as equal, so experts whose calibration is equal
    but for floating-point rounding get the same treatment; the tolerance is recorded in the settings.

    Raises
    ------
    ValueError
        When the data are not as described, a quantile sequence is not strictly increasing, a log-uniform item
        has a value <= 0, there is no seed item, an expert answered no seed, or a fixed cut-off excludes everyone.
    """
    settings = settings or CookeSettings()
    panel = _panel(data, realizations, settings)
    _require_seeds(panel)
    n = _n_effective(panel)
    scores = _score(panel, panel.values, n, settings)
    if (
        settings.cutoff != "optimize"
        and not _at_or_above(np.nanmax(scores.calibration), float(settings.cutoff)).item()
    ):
        raise ValueError(
            f"the cut-off {settings.cutoff} is above every expert's calibration score (largest "
            f"{np.nanmax(scores.calibration):.4g}), so every expert would get weight 0; choose a lower cut-off"
        )

    all_items = np.ones(len(panel.items), dtype=bool)
    alphas: dict[str, float] = {}
    dm_rows: list[dict[str, Any]] = []
    dm_frames: list[pd.DataFrame] = []
    notes: list[str] = []
    weight_tables: dict[str, np.ndarray] = {}
    for kind in ("global", "item", "equal"):
        if kind == "equal":
            alpha = 0.0
        elif settings.cutoff == "optimize":
            alpha = _optimize(panel, scores, kind, n, settings)
        else:
            alpha = float(settings.cutoff)
        alphas[kind] = alpha
        weight_tables[kind] = _weights(kind, scores, alpha, panel.answered)
        quantiles, dm = _decision_maker(panel, scores, kind, alpha, n, settings, all_items)
        name = DM_NAMES[kind]
        undefined = [q for q, row in zip(panel.items, quantiles, strict=True) if np.isnan(row).any()]
        if undefined:
            notes.append(
                f"{name}: no expert with weight answered item(s) {', '.join(undefined)}; the decision maker has "
                "no quantiles there"
            )
        cal = float(dm.calibration[0])
        info = float(dm.info_seeds[0])
        dm_rows.append(
            {
                "dm": name,
                "weights": kind,
                "cutoff": alpha if kind != "equal" else math.nan,
                "cutoff_rule": "none"
                if kind == "equal"
                else ("optimized" if settings.cutoff == "optimize" else "fixed"),
                "n_experts_weighted": int(_at_or_above(scores.calibration, alpha).sum())
                if kind != "equal"
                else len(panel.experts),
                "statistic": float(dm.statistic[0]),
                "calibration": cal,
                "information_seeds": info,
                "information_all": float(dm.info_all[0]),
                "score": cal * info,
                "weight_unnormalized": _dm_score(dm, alpha if kind != "equal" else 0.0),
                "reported": kind == settings.weights,
            }
        )
        values = _from_scale(quantiles, panel.log)
        frame = pd.DataFrame(values, columns=list(settings.columns))
        frame.insert(0, "dm", name)
        frame.insert(1, "item", panel.items)
        frame.insert(2, "seed", panel.seed)
        frame.insert(3, "realization", _from_scale(panel.realization, panel.log))
        dm_frames.append(frame)

    alpha = alphas["global"]
    above = _at_or_above(scores.calibration, alpha)
    score = scores.calibration * scores.info_seeds
    unnormalized = np.where(above, score, 0.0)
    experts = pd.DataFrame(
        {
            "expert": panel.experts,
            "n_seeds": scores.counts.sum(axis=1),
            "statistic": scores.statistic,
            "calibration": scores.calibration,
            "information_seeds": scores.info_seeds,
            "information_all": scores.info_all,
            "score": score,
            "above_cutoff": above,
            "weight_unnormalized": unnormalized,
            "weight": unnormalized / unnormalized.sum(),
        }
    )
    item_weights = _item_frame(
        panel, scores.info_item, {"information": scores.info_item, "weight": weight_tables["item"]}
    ).drop(columns="background")

    n_seeds = int(panel.seed.sum())
    if n_seeds < FEW_SEEDS:
        notes.insert(
            0,
            f"only {n_seeds} seed item(s): with fewer than {FEW_SEEDS} the calibration test has little power to tell "
            "experts apart (Cooke & Goossens 2008)",
        )
    short = [
        f"{e} ({k} of {n_seeds})"
        for e, k in zip(panel.experts, panel.answered[:, panel.seed].sum(axis=1), strict=True)
        if k < n_seeds
    ]
    if short:
        notes.append(
            f"not every expert answered every seed: {', '.join(short)}; every calibration score uses N = {n}"
        )
    return CookeResult(
        experts=experts,
        item_weights=item_weights,
        decision_makers=pd.DataFrame(dm_rows),
        dm_quantiles=pd.concat(dm_frames, ignore_index=True),
        ranges=_ranges_frame(panel),
        assessments=panel.frame,
        cutoff=alphas["global"],
        cutoff_item=alphas["item"],
        settings=settings,
        n_seeds=n_seeds,
        n_effective=n,
        warnings=tuple(notes),
    )


def robustness(
    data: pd.DataFrame, realizations: Mapping[str, float], settings: CookeSettings | None = None
) -> pd.DataFrame:
    """The reported decision maker with one expert, then one seed, left out (EXCALIBUR's and anduryl's tables).

    One row per model run: ``removed`` (``none``, ``expert`` or ``seed``), ``id``, the DM's ``calibration`` and
    ``information_seeds``, their ``relative_change`` against the full panel (``(x - full) / full``) and the
    ``cutoff``. A seed left out is dropped with its answers, as in anduryl's item robustness; a run that leaves
    fewer than two experts or no seed is not made.
    """
    full = classical_model(data, realizations, settings)
    seeds = [item for item in full.ranges["item"] if item in realizations and pd.notna(realizations[item])]

    def dm(result: CookeResult) -> tuple[float, float]:
        rows = result.decision_makers
        row = rows[rows["dm"] == result.dm].iloc[0]
        return float(row["calibration"]), float(row["information_seeds"])

    base_cal, base_info = dm(full)
    runs: list[tuple[str, str, CookeResult]] = [("none", "", full)]
    experts = sorted(str(e) for e in data["expert"].unique())
    if len(experts) > 2:
        for expert in experts:
            runs.append(
                ("expert", expert, classical_model(data[data["expert"] != expert], realizations, settings))
            )
    if len(seeds) > 1:
        for seed in seeds:
            kept = {k: v for k, v in realizations.items() if k != seed}
            runs.append(("seed", seed, classical_model(data[data["item"] != seed], kept, settings)))
    rows = []
    for removed, which, result in runs:
        calibration, information = dm(result)
        rows.append(
            {
                "removed": removed,
                "id": which,
                "calibration": calibration,
                "information_seeds": information,
                "calibration_change": (calibration - base_cal) / base_cal if base_cal else math.nan,
                "information_change": (information - base_info) / base_info if base_info else math.nan,
                "cutoff": result.cutoff,
            }
        )
    return pd.DataFrame(rows)


def results_dict(result: CookeResult) -> dict[str, Any]:
    """The result as a JSON-safe dictionary (NaN -> None), with the settings that produced it."""
    document: dict[str, Any] = json_safe(
        {
            "method": "cooke_classical_model",
            "settings": result.settings.as_dict(),
            "n_seeds": result.n_seeds,
            "n_effective": result.n_effective,
            "cutoff": result.cutoff,
            "cutoff_item": result.cutoff_item,
            "reported_dm": result.dm,
            "experts": result.experts.to_dict(orient="records"),
            "item_weights": result.item_weights.to_dict(orient="records"),
            "decision_makers": result.decision_makers.to_dict(orient="records"),
            "dm_quantiles": result.dm_quantiles.to_dict(orient="records"),
            "ranges": result.ranges.to_dict(orient="records"),
            "warnings": list(result.warnings),
        }
    )
    return document


_DM_STYLE = {"performance_global": "#c0392b", "performance_item": "#d68910", "equal": "#2e8b57"}
_DM_LABELS = {
    "performance_global": "DM global weights",
    "performance_item": "DM item weights",
    "equal": "DM equal weights",
}


def plot_ranges(
    result: CookeResult, path: str | Path | None = None, *, dms: Sequence[str] | None = None
) -> Figure:
    """Each expert's and each DM's range on every seed item against the realization.

    One panel per seed item: a horizontal bar from the lowest to the highest quantile of every expert (grey) and
    DM (coloured), a tick at the median (the level closest to 0.5), and the realization as a dashed vertical line;
    log-uniform items on a log axis. Drawn with matplotlib's object API on the Agg canvas (no pyplot, no
    display). Written to ``path`` (PNG, SVG or PDF by suffix) when given.
    """
    settings = result.settings
    columns = list(settings.columns)
    middle = columns[int(np.argmin(np.abs(np.asarray(settings.levels) - 0.5)))]
    dms = list(dms) if dms is not None else list(DM_NAMES.values())
    seeds = result.ranges[result.ranges["seed"]]
    n = len(seeds)
    ncols = min(3, max(n, 1))
    nrows = max(1, math.ceil(n / ncols))
    labels = [*dict.fromkeys(result.assessments["expert"]), *dms]
    height = max(2.0, 0.28 * len(labels) + 0.9)
    figure = Figure(figsize=(4.2 * ncols, height * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False)
    for index, (_, item) in enumerate(seeds.iterrows()):
        ax = axes[index // ncols][index % ncols]
        answers = result.assessments[result.assessments["item"] == item["item"]].set_index("expert")
        dm_rows = result.dm_quantiles[result.dm_quantiles["item"] == item["item"]].set_index("dm")
        for y, label in enumerate(labels):
            if label in dm_rows.index:
                row, colour, width = dm_rows.loc[label], _DM_STYLE.get(label, "#1b6ca8"), 3.0
            elif label in answers.index:
                row, colour, width = answers.loc[label], "#5d6d7e", 2.0
            else:
                continue
            if np.isnan(float(row[columns[0]])):
                continue
            ax.hlines(y, float(row[columns[0]]), float(row[columns[-1]]), color=colour, linewidth=width)
            ax.plot([float(row[middle])], [y], marker="|", markersize=10, color=colour)
        ax.axvline(float(item["realization"]), color="black", linestyle="--", linewidth=1)
        if item["background"] == "loguniform":
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(range(len(labels)), [_DM_LABELS.get(x, x) for x in labels], fontsize=7)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_title(str(item["item"]), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for index in range(n, nrows * ncols):
        axes[index // ncols][index % ncols].set_visible(False)
    figure.suptitle(
        f"{columns[0]}-{columns[-1]} ranges and {middle} against the realization (dashed)", fontsize=10
    )
    if path is not None:
        figure.savefig(
            Path(path), dpi=110, metadata={"Software": None} if str(path).endswith(".png") else None
        )
    return figure
