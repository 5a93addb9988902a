"""Compositional data and one joint permutation test between groups, for constant-sum and ranking items.

The shares of a constant sum carry only relative information and are not independent: one share can rise only
if another falls (Aitchison 1986). They are therefore analysed in centred log-ratio coordinates,
``clr(x)_j = log(x_j / g(x))`` with ``g`` the geometric mean of the parts, after a stated zero replacement:

* **Zeros** (a part given no points) have no logarithm. They are replaced multiplicatively (Martín-Fernández,
  Barceló-Vidal & Pawlowsky-Glahn 2003, "Dealing with zeros and missing values in compositional data sets using
  nonparametric imputation", Mathematical Geology 35:253-278): a zero becomes ``delta`` and every non-zero part
  ``x_j (1 - sum of the deltas)``, so the composition keeps its total and the ratios between non-zero parts. The
  authors' recommendation ``delta = 0.65 x`` the detection limit is used, the detection limit being the smallest
  non-zero share given to the item (the resolution of the answers: 1 point of 100 when points are whole), at most
  ``1 / D`` for ``D`` parts so that the deltas of a composition never reach its total.

Between groups, the whole composition (or the whole rank vector of a ranking) is compared by **one** permutation
test: the statistic is the between-group sum of squares of the coordinates, ``sum_g n_g |m_g - m|^2``, whose
permutation distribution is that of PERMANOVA's pseudo-F (Anderson 2001) with Euclidean distance on the clr
coordinates, i.e. the Aitchison distance; for two groups it is a monotone function of the distance between the
two groups' mean vectors (the Aitchison distance between their centres). The group labels of the respondents are
permuted as :func:`elicit.stats.exact.label_permutation` does: for two groups every distinct labelling while there are
at most ``ENUMERATION_LIMIT`` (exact p), otherwise a seeded Monte Carlo of ``RESAMPLES`` labellings with
``p = (b + 1) / (R + 1)`` (Phipson & Smyth 2010). The per-part statistics are computed on the same labellings,
for follow-up tests of each part.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exact import ENUMERATION_LIMIT, RESAMPLES, SEED

__all__ = [
    "DELTA_FRACTION",
    "JointPermutation",
    "aitchison_distance",
    "centre",
    "closure",
    "clr",
    "multiplicative_replacement",
    "permutation_between",
    "zero_replacement_delta",
]

#: delta = this fraction of the detection limit (Martín-Fernández, Barceló-Vidal & Pawlowsky-Glahn 2003).
DELTA_FRACTION = 0.65
#: Labellings evaluated at once (memory: CHUNK x groups x respondents floats).
CHUNK = 2_000
TOLERANCE = 1e-9


def closure(x: Any) -> np.ndarray:
    """Each row divided by its total, so that the parts of each composition add up to 1."""
    array = np.atleast_2d(np.asarray(x, dtype="float64"))
    return np.asarray(array / array.sum(axis=1, keepdims=True), dtype="float64")


def zero_replacement_delta(x: Any) -> float:
    """``0.65 x`` the detection limit: the smallest non-zero share in ``x`` (rows are compositions), at most ``1/D``."""
    shares = closure(x)
    positive = shares[shares > 0]
    limit = min(float(positive.min()) if positive.size else 1.0, 1.0 / shares.shape[1])
    return float(DELTA_FRACTION * limit)


def multiplicative_replacement(x: Any, delta: float) -> np.ndarray:
    """Zeros replaced by ``delta`` and the other parts shrunk by ``1 - (number of zeros) delta`` (closed rows).

    Martín-Fernández, Barceló-Vidal & Pawlowsky-Glahn (2003), eq. 4: ``r_j = delta`` if ``x_j = 0``, else
    ``(1 - sum_k delta_k) x_j`` with the sum over the zero parts of the composition.
    """
    shares = closure(x)
    zeros = shares == 0
    if (zeros.sum(axis=1) * delta >= 1).any():
        raise ValueError(f"delta {delta} is too large for the number of zeros in a composition")
    replaced = np.where(zeros, delta, shares * (1 - zeros.sum(axis=1, keepdims=True) * delta))
    return np.asarray(replaced, dtype="float64")


def clr(x: Any) -> np.ndarray:
    """Centred log-ratio coordinates ``log(x_j) - mean_k log(x_k)`` of each row (no zeros allowed)."""
    array = np.atleast_2d(np.asarray(x, dtype="float64"))
    if (array <= 0).any():
        raise ValueError("the clr needs positive parts: replace the zeros first")
    logs = np.log(array)
    return np.asarray(logs - logs.mean(axis=1, keepdims=True), dtype="float64")


def centre(x: Any) -> np.ndarray:
    """The centre of a set of compositions: the closed geometric mean of each part (Aitchison 1986, 5.4)."""
    logs = np.log(np.atleast_2d(np.asarray(x, dtype="float64")))
    return np.asarray(closure(np.exp(logs.mean(axis=0)))[0], dtype="float64")


def aitchison_distance(a: Any, b: Any) -> float:
    """The Aitchison distance between two compositions: the Euclidean distance of their clr coordinates."""
    return float(np.linalg.norm(clr(a)[0] - clr(b)[0]))


@dataclass(frozen=True)
class JointPermutation:
    """One permutation test of all coordinates between groups, and the follow-up per coordinate.

    ``statistic`` is the pseudo-F (NaN when there is no variation within groups; the p-value is that of the
    between-group sum of squares, which orders the labellings the same way); ``part_p`` are the per-coordinate
    p-values from the same labellings (unadjusted).
    """

    statistic: float
    between_ss: float
    p: float
    part_ss: tuple[float, ...]
    part_p: tuple[float, ...]
    method: str


def _between_ss(sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per labelling and coordinate, ``sum_g S_g^2 / n_g - S^2 / N`` from the group sums ``S_g`` (B x G x p)."""
    total = sums.sum(axis=1)
    return np.asarray((sums**2 / sizes[None, :, None]).sum(axis=1) - total**2 / sizes.sum(), dtype="float64")


def _labellings(codes: np.ndarray, seed: int, resamples: int) -> tuple[Iterator[np.ndarray], str]:
    """Batches of labellings (rows of group codes) and how they were drawn: every distinct one for two groups while
    there are at most ``ENUMERATION_LIMIT`` of them, else ``resamples`` seeded shuffles of ``codes``."""
    sizes = np.bincount(codes)
    n = codes.size
    count = math.factorial(n) // math.prod(math.factorial(int(s)) for s in sizes)
    if sizes.size == 2 and count <= ENUMERATION_LIMIT:

        def every() -> Iterator[np.ndarray]:
            chosen = itertools.combinations(range(n), int(sizes[0]))
            while batch := list(itertools.islice(chosen, CHUNK)):
                rows = np.ones((len(batch), n), dtype=np.intp)
                np.put_along_axis(rows, np.array(batch, dtype=np.intp).reshape(len(batch), -1), 0, axis=1)
                yield rows

        return every(), f"exact (permutation of respondents between cohorts, all {count} labellings)"

    def shuffles() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)
        for start in range(0, resamples, CHUNK):
            yield codes[np.argsort(rng.random((min(CHUNK, resamples - start), n)), axis=1)]

    return (
        shuffles(),
        f"Monte Carlo permutation of respondents between cohorts ({resamples} resamples, seed {seed})",
    )


def permutation_between(
    values: Any, labels: Sequence[Any], *, seed: int = SEED, resamples: int = RESAMPLES
) -> JointPermutation:
    """Permutation test of the rows of ``values`` (respondents x coordinates) between the groups of ``labels``.

    Exact over every labelling for two groups while there are at most ``ENUMERATION_LIMIT``, else a seeded Monte
    Carlo (the design of :func:`elicit.stats.exact.label_permutation`, whose single statistic per labelling would
    need one pass per part); the joint test and each coordinate's follow-up are read off the same labellings.
    """
    array = np.atleast_2d(np.asarray(values, dtype="float64"))
    groups = [str(label) for label in labels]
    names = list(dict.fromkeys(groups))
    codes = np.array([names.index(g) for g in groups], dtype=np.intp)
    n, parts = array.shape
    if len(names) < 2 or n != codes.size or np.isnan(array).any():
        raise ValueError("a permutation test needs complete values and at least two groups")
    centred = array - array.mean(axis=0)  # the same sums of squares, with less cancellation
    sizes = np.bincount(codes).astype("float64")

    def part_ss(batch: np.ndarray) -> np.ndarray:
        onehot = np.zeros((batch.shape[0], len(names), n))
        np.put_along_axis(onehot, batch[:, None, :], 1.0, axis=1)
        return _between_ss(onehot @ centred, sizes)

    observed_parts = part_ss(codes[None, :])[0]
    observed = float(observed_parts.sum())
    total_ss = float((centred**2).sum())
    within = total_ss - observed
    df_between, df_within = len(names) - 1, n - len(names)
    pseudo_f = (
        (observed / df_between) / (within / df_within)
        if df_within > 0 and within > TOLERANCE * max(1.0, total_ss)
        else math.nan
    )
    threshold = observed - TOLERANCE * max(1.0, observed)
    part_threshold = observed_parts - TOLERANCE * np.maximum(1.0, observed_parts)
    batches, method = _labellings(codes, seed, resamples)
    hits, part_hits, done = 0, np.zeros(parts), 0
    for batch in batches:
        ss = part_ss(batch)
        hits += int((ss.sum(axis=1) >= threshold).sum())
        part_hits += (ss >= part_threshold).sum(axis=0)
        done += batch.shape[0]
    if method.startswith("exact"):
        p, part_p = hits / done, part_hits / done
    else:
        p, part_p = (hits + 1) / (done + 1), (part_hits + 1) / (done + 1)
    return JointPermutation(
        statistic=float(pseudo_f),
        between_ss=observed,
        p=float(p),
        part_ss=tuple(float(v) for v in observed_parts),
        part_p=tuple(float(v) for v in part_p),
        method=method,
    )
