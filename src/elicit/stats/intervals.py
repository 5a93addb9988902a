"""Confidence intervals for the effect sizes the comparisons report, by a seeded, vectorized bootstrap.

Every interval comes from ``scipy.stats.bootstrap``: BCa (bias-corrected and accelerated; Efron 1987, "Better
bootstrap confidence intervals", J. Am. Stat. Assoc. 82: 171-185; Efron & Tibshirani 1993, ch. 14) with
:data:`RESAMPLES` resamples and the fixed :data:`SEED`, so that a report is reproducible. Where BCa is undefined
(the observed value is at the edge of the bootstrap distribution, or the jackknife gives no acceleration) the
percentile interval of the same resamples is given and the method says so. Above :data:`BOOTSTRAP_LIMIT`
respondents the percentile interval of :data:`LARGE_RESAMPLES` resamples is used: BCa's corrections vanish at that
size and its jackknife costs ``n`` evaluations of the statistic.

The bootstrap resamples respondents (indices), never single answers: a respondent's scales stay together (paired
data, blocks of the Friedman test), and two or more cohorts are resampled separately (a stratified bootstrap, as
the design fixes the cohort sizes). The statistics are written for a whole batch of resamples at once (counts per
distinct value instead of sorting), so the bootstrap costs about ``RESAMPLES x n`` operations.

No interval is given where it would be degenerate (one respondent in a cohort, all values equal, every resample
giving the same value): :func:`not_estimable` carries the reason instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "BOOTSTRAP_LIMIT",
    "CONFIDENCE",
    "LARGE_RESAMPLES",
    "RESAMPLES",
    "SEED",
    "Interval",
    "bootstrap_indices",
    "describe",
    "kendall_w_interval",
    "mixed_eta",
    "mixed_eta_intervals",
    "not_estimable",
    "paired_rank_biserial_interval",
    "rank_biserial_interval",
    "rm_eta",
    "rm_eta_interval",
    "epsilon_squared_interval",
]

RESAMPLES = 9999
LARGE_RESAMPLES = 999
SEED = 20261202
CONFIDENCE = 0.95
#: Respondents (all samples together) up to which BCa is used; above, the percentile interval.
BOOTSTRAP_LIMIT = 400
#: Elements per batch of resamples handed to the statistic (bounds the memory at large n).
BATCH_ELEMENTS = 4_000_000
NAN = float("nan")


@dataclass(frozen=True)
class Interval:
    """A confidence interval, its (nominal or achieved) confidence, and how it was obtained or why it is missing."""

    low: float
    high: float
    confidence: float | None
    method: str

    @property
    def estimable(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def as_dict(self) -> dict[str, Any]:
        """The entry of ``results.json``: ``ci`` (or ``None``), ``confidence`` and ``method``."""
        return {
            "ci": [self.low, self.high] if self.estimable else None,
            "confidence": self.confidence if self.estimable else None,
            "method": self.method,
        }


def not_estimable(reason: str) -> Interval:
    """No interval, with the reason (e.g. ``"one respondent in PK"``)."""
    return Interval(NAN, NAN, None, f"not estimable: {reason}")


def describe() -> dict[str, Any]:
    """The bootstrap's settings, for ``results.json``."""
    return {
        "method": "BCa bootstrap (Efron 1987) by scipy.stats.bootstrap; percentile where BCa is undefined",
        "resamples": RESAMPLES,
        "seed": SEED,
        "confidence": CONFIDENCE,
        "large_sample": f"above {BOOTSTRAP_LIMIT} respondents: percentile interval of {LARGE_RESAMPLES} resamples",
        "resampling": "respondents; cohorts resampled separately (stratified); a respondent's scales together",
    }


def bootstrap_indices(
    statistic: Callable[..., np.ndarray], sizes: Sequence[int], *, resamples: int | None = None
) -> Interval:
    """The bootstrap interval of ``statistic(*indices)``, which maps integer index arrays (one per sample, the
    observations along the last axis, any leading batch axes) to the statistic of those rows."""
    total = int(sum(sizes))
    large = total > BOOTSTRAP_LIMIT
    count = resamples or (LARGE_RESAMPLES if large else RESAMPLES)
    data = tuple(np.arange(n, dtype="float64") for n in sizes)

    def indexed(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(statistic(*(np.asarray(s).astype(np.intp) for s in samples)), dtype="float64")

    def run(method: str) -> Any:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # degenerate resamples are judged below, not warned about
            return stats.bootstrap(
                data,
                indexed,
                n_resamples=count,
                batch=max(1, BATCH_ELEMENTS // max(total, 1)),
                vectorized=True,
                paired=False,
                confidence_level=CONFIDENCE,
                method=method,
                rng=np.random.default_rng(SEED),
            )

    first = "percentile" if large else "BCa"
    result = run(first)
    distribution = np.asarray(result.bootstrap_distribution)
    if not np.isfinite(distribution).all():
        return not_estimable("the statistic is undefined in some bootstrap resamples")
    if np.ptp(distribution) == 0:
        return not_estimable(f"every bootstrap resample gives {distribution.flat[0]:.2f}")
    settings = f"{count} resamples, seed {SEED}"
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if large:
        return Interval(low, high, CONFIDENCE, f"percentile bootstrap ({settings}; n > {BOOTSTRAP_LIMIT})")
    if math.isfinite(low) and math.isfinite(high):
        return Interval(low, high, CONFIDENCE, f"BCa bootstrap ({settings})")
    result = run("percentile")
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Interval(
        low,
        high,
        CONFIDENCE,
        f"percentile bootstrap ({settings}; BCa undefined: the estimate is at the edge of the resamples)",
    )


def _counts(codes: np.ndarray, size: int) -> np.ndarray:
    """Counts of the codes ``0..size-1`` along the last axis of ``codes``, for every leading index."""
    lead = codes.shape[:-1]
    flat = codes.reshape(-1, codes.shape[-1])
    offset = flat + size * np.arange(flat.shape[0])[:, None]
    counted = np.bincount(offset.ravel(), minlength=flat.shape[0] * size)
    return counted.reshape(*lead, size).astype("float64")


def _clean(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype="float64").ravel()
    return np.asarray(array[~np.isnan(array)], dtype="float64")


def rank_biserial_interval(x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> Interval:
    """Interval of the rank-biserial ``r = 2 U / (n_x n_y) - 1`` (Wendt 1972), cohorts resampled separately."""
    a, b = _clean(x), _clean(y)
    for sample, name in ((a, names[0]), (b, names[1])):
        if sample.size < 2:
            return not_estimable(f"{'no' if sample.size == 0 else 'one'} respondent in {name}")
    values = np.unique(np.concatenate([a, b]))
    if values.size < 2:
        return not_estimable("all values are equal")
    size = values.size
    code_a, code_b = np.searchsorted(values, a), np.searchsorted(values, b)

    def statistic(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        ca, cb = _counts(code_a[ia], size), _counts(code_b[ib], size)
        below = np.cumsum(cb, axis=-1) - cb  # y values below each distinct value
        u = (ca * (below + cb / 2)).sum(axis=-1)
        return np.asarray(2 * u / (ia.shape[-1] * ib.shape[-1]) - 1)

    return bootstrap_indices(statistic, (a.size, b.size))


def paired_rank_biserial_interval(x: Any, y: Any) -> Interval:
    """Interval of the matched-pairs rank-biserial ``(R+ - R-) / (R+ + R-)`` (Kerby 2014), pairs resampled.

    A resample whose differences are all zero counts as ``r = 0`` (no tendency either way)."""
    first, second = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
    d = (first - second)[~np.isnan(first) & ~np.isnan(second)]
    if d.size < 2:
        return not_estimable(f"{'no' if d.size == 0 else 'one'} complete pair")
    if not d.any():
        return not_estimable("all differences are zero")
    magnitudes = np.unique(np.abs(d))
    size = magnitudes.size
    code = np.searchsorted(magnitudes, np.abs(d))
    positive, negative = d > 0, d < 0

    def statistic(i: np.ndarray) -> np.ndarray:
        codes = code[i]
        plus = _counts(np.where(positive[i], codes, size), size + 1)[..., :size]
        minus = _counts(np.where(negative[i], codes, size), size + 1)[..., :size]
        tied = plus + minus
        midrank = np.cumsum(tied, axis=-1) - tied + (tied + 1) / 2
        r_plus, r_minus = (plus * midrank).sum(axis=-1), (minus * midrank).sum(axis=-1)
        total = r_plus + r_minus
        return np.asarray(np.where(total > 0, (r_plus - r_minus) / np.where(total > 0, total, 1), 0.0))

    return bootstrap_indices(statistic, (d.size,))


def _block_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midranks within each row and each row's tie term ``sum (t^3 - t)``."""
    ranks = stats.rankdata(values, axis=1)
    group = (values[:, :, None] == values[:, None, :]).sum(axis=2)  # the size t of each value's tie group
    return ranks, (group**2 - 1).sum(axis=1).astype("float64")  # each group adds t (t^2 - 1) = t^3 - t


def _sums(features: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Column sums of the rows ``i`` of ``features`` for every resample: counts per row times the features (one
    matrix product instead of gathering ``(..., n, p)``)."""
    return np.asarray(_counts(i, features.shape[0]) @ features)


def kendall_w_interval(values: Any) -> Interval:
    """Interval of Kendall's W of the Friedman test, ``chi2_F / (n (k - 1))`` with ties (experts resampled).

    A resample in which every expert gave every measure one value counts as ``W = 0``."""
    array = np.asarray(values, dtype="float64")
    array = array[~np.isnan(array).any(axis=1)]
    n, k = array.shape
    if n < 2:
        return not_estimable(f"{'no' if n == 0 else 'one'} respondent with every scale")
    if not np.ptp(array, axis=1).any():
        return not_estimable("every respondent gave every scale the same score")
    ranks, ties = _block_ranks(array)
    features = np.column_stack([ranks, ties])

    def statistic(i: np.ndarray) -> np.ndarray:
        blocks = i.shape[-1]
        summed = _sums(features, i)
        s = ((summed[..., :k] - blocks * (k + 1) / 2) ** 2).sum(axis=-1)
        denominator = blocks * k * (k + 1) / 12 - summed[..., k] / (12 * (k - 1))
        chi2 = np.where(denominator > 0, s / np.where(denominator > 0, denominator, 1), 0.0)
        return np.asarray(chi2 / (blocks * (k - 1)))

    return bootstrap_indices(statistic, (n,))


def _moments(array: np.ndarray) -> np.ndarray:
    """Per respondent: the k values, the squared row sum and the sum of squares (what the ANOVA sums need)."""
    return np.column_stack([array, array.sum(axis=1) ** 2, (array**2).sum(axis=1)])


def _ratio(effect: Any, error: Any) -> np.ndarray:
    whole = effect + error
    return np.asarray(np.where(whole > 0, effect / np.where(whole > 0, whole, 1), 0.0))


def rm_eta(summed: np.ndarray, n: int, k: int) -> np.ndarray:
    """Partial eta squared of the one-way repeated-measures ANOVA from the summed :func:`_moments` of ``n``
    respondents."""
    columns, rows, squares = summed[..., :k], summed[..., k], summed[..., k + 1]
    correction = columns.sum(axis=-1) ** 2 / (n * k)
    effect = (columns**2).sum(axis=-1) / n - correction
    subjects = rows / k - correction
    error = squares - correction - subjects - effect
    return _ratio(effect, error)


def rm_eta_interval(values: Any) -> Interval:
    """Interval of the partial eta squared of the repeated-measures ANOVA (respondents resampled)."""
    array = np.asarray(values, dtype="float64")
    array = array[~np.isnan(array).any(axis=1)]
    n, k = array.shape
    if n < 3:
        return not_estimable("fewer than three respondents with every scale")
    if np.ptp(array) == 0:
        return not_estimable("all values are equal")
    features = _moments(array)
    return bootstrap_indices(lambda i: rm_eta(_sums(features, i), i.shape[-1], k), (n,))


def mixed_eta(summed: Sequence[np.ndarray], sizes: Sequence[int], k: int) -> dict[str, np.ndarray]:
    """Partial eta squared of the cohort (``between``), scale (``within``) and interaction effects of the mixed
    ANOVA from each cohort's summed :func:`_moments` (sums of squares as Maxwell & Delaney 2004, ch. 12)."""
    n = sum(sizes)
    columns = [s[..., :k] for s in summed]
    correction = sum(c.sum(axis=-1) for c in columns) ** 2 / (n * k)
    cohort = sum(c.sum(axis=-1) ** 2 / (m * k) for c, m in zip(columns, sizes, strict=True)) - correction
    subjects = sum(s[..., k] for s in summed) / k - correction
    scale = (np.sum(np.broadcast_arrays(*columns), axis=0) ** 2).sum(axis=-1) / n - correction
    cells = sum((c**2).sum(axis=-1) / m for c, m in zip(columns, sizes, strict=True)) - correction
    interaction = cells - cohort - scale
    total = sum(s[..., k + 1] for s in summed) - correction
    within_error = total - subjects - scale - interaction
    return {
        "between": _ratio(cohort, subjects - cohort),
        "within": _ratio(scale, within_error),
        "interaction": _ratio(interaction, within_error),
    }


def mixed_eta_intervals(groups: Sequence[Any]) -> dict[str, Interval]:
    """Intervals of the mixed ANOVA's partial eta squared (``between``, ``within``, ``interaction``), respondents
    resampled within each cohort."""
    arrays = [np.asarray(g, dtype="float64") for g in groups]
    arrays = [a[~np.isnan(a).any(axis=1)] for a in arrays]
    if len(arrays) < 2 or any(a.shape[0] < 2 for a in arrays):
        reason = not_estimable("fewer than two complete respondents in a cohort")
        return {"between": reason, "within": reason, "interaction": reason}
    k = arrays[0].shape[1]
    features = [_moments(a) for a in arrays]

    def effect_of(effect: str) -> Callable[..., np.ndarray]:
        def statistic(*idx: np.ndarray) -> np.ndarray:
            summed = [_sums(f, i) for f, i in zip(features, idx, strict=True)]
            return mixed_eta(summed, [i.shape[-1] for i in idx], k)[effect]

        return statistic

    sizes = [a.shape[0] for a in arrays]
    return {
        effect: bootstrap_indices(effect_of(effect), sizes) for effect in ("between", "within", "interaction")
    }


def epsilon_squared_interval(samples: Sequence[Any]) -> Interval:
    """Interval of the Kruskal–Wallis epsilon-squared ``H / (n - 1)`` (Tomczak & Tomczak 2014), ties corrected,
    each cohort resampled separately."""
    arrays = [_clean(s) for s in samples]
    if any(a.size < 2 for a in arrays):
        return not_estimable("fewer than two respondents in a cohort")
    values = np.unique(np.concatenate(arrays))
    if values.size < 2:
        return not_estimable("all values are equal")
    size = values.size
    codes = [np.searchsorted(values, a) for a in arrays]

    def statistic(*idx: np.ndarray) -> np.ndarray:
        counts = [_counts(c[i], size) for c, i in zip(codes, idx, strict=True)]
        tied = np.sum(np.broadcast_arrays(*counts), axis=0)
        n = sum(i.shape[-1] for i in idx)
        midrank = np.cumsum(tied, axis=-1) - tied + (tied + 1) / 2
        sums = [(c * midrank).sum(axis=-1) for c in counts]
        h = 12 / (n * (n + 1)) * sum(s**2 / i.shape[-1] for s, i in zip(sums, idx, strict=True)) - 3 * (n + 1)
        correction = 1 - (tied**3 - tied).sum(axis=-1) / (n**3 - n)
        h = np.where(correction > 0, h / np.where(correction > 0, correction, 1), 0.0)
        return np.asarray(h / (n - 1))

    return bootstrap_indices(statistic, [a.size for a in arrays])
