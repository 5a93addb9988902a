"""Reverse keying and scale scores.

Rules (stated in the report):

* A reverse-keyed item is recoded as ``min + max - value`` where ``min`` and ``max`` are the smallest and largest
  codes *declared* for the item in the codebook — never the observed values, which may not span the range.
* A scale score is the mean of the scale's items after reverse keying, computed from the items a respondent
  answered when at least ``ceil(2/3 * k)`` of the ``k`` items are answered; otherwise the score is missing
  (a prorated mean, cf. Schafer & Graham 2002 on the limits of such "available-item" scoring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .export_folder import Codebook, Kind, as_codebook

__all__ = [
    "MIN_ANSWERED_FRACTION",
    "min_items_answered",
    "reverse_key",
    "scale_item_frame",
    "scale_scores",
    "scores_long",
]

#: Fraction of a scale's items a respondent must answer for the scale score to be computed.
MIN_ANSWERED_FRACTION = 2 / 3


def min_items_answered(k: int, fraction: float = MIN_ANSWERED_FRACTION) -> int:
    """Smallest number of answered items (out of ``k``) for a scale score: ``ceil(fraction * k)``, at least 1."""
    return max(1, math.ceil(fraction * k - 1e-9))


def reverse_key(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any]) -> pd.DataFrame:
    """Return a copy of ``data`` with every reverse-keyed item recoded as ``min + max - value``.

    ``min`` and ``max`` come from the item's declared choices in the codebook (docs/export.md), so a sample in
    which nobody used the extreme codes is still recoded correctly.
    """
    book = as_codebook(codebook)
    out = data.copy()
    for item in book.items:
        if item.analysis == Kind.ORDINAL and book.is_reverse_keyed(item.id) and item.id in out.columns:
            low, high = item.code_range
            out[item.id] = (low + high) - pd.to_numeric(out[item.id], errors="coerce")
    return out


def scale_item_frame(data: pd.DataFrame, codebook: Codebook | Mapping[str, Any], scale: str) -> pd.DataFrame:
    """The reverse-keyed item columns of one scale (rows as in ``data``)."""
    book = as_codebook(codebook)
    spec = book.scale(scale)
    missing = [i for i in spec.items if i not in data.columns]
    if missing:
        raise ValueError(f"scale {scale!r}: item column(s) {', '.join(missing)} are not in the data")
    keyed = reverse_key(data[list(spec.items)], book)
    return keyed.astype("float64")


def scale_scores(
    data: pd.DataFrame,
    codebook: Codebook | Mapping[str, Any],
    min_fraction: float = MIN_ANSWERED_FRACTION,
) -> pd.DataFrame:
    """Scale scores, one row per response: ``respondent``, ``cohort`` and one column per scale.

    The score is the mean of the reverse-keyed items answered, if at least ``ceil(min_fraction * k)`` were
    answered, else missing.
    """
    book = as_codebook(codebook)
    out = data[["respondent", "cohort"]].copy()
    for scale in book.scales:
        items = scale_item_frame(data, book, scale.name)
        answered = items.notna().sum(axis=1)
        score = items.mean(axis=1, skipna=True)
        out[scale.name] = score.where(answered >= min_items_answered(len(scale.items), min_fraction))
    return out.reset_index(drop=True)


def scores_long(scores: pd.DataFrame, scales: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Long format of :func:`scale_scores`: ``respondent``, ``cohort``, ``scale``, ``score``."""
    long = scores.melt(
        id_vars=["respondent", "cohort"], value_vars=list(scales), var_name="scale", value_name="score"
    )
    return long
