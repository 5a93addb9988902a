"""Which cohorts a published table may show: the analysis package's own copy of the app's suppression rule.

``elicit.analysis`` imports nothing from the app, so the rule of ``elicit.suppression`` is repeated here for the
one shape analysis tables have: results per cohort and for all cohorts together (a test checks that the two
copies agree). A cohort of 1 to k-1 respondents is hidden (primary suppression), and so is whatever would give it
back as "all" minus the cohorts shown (complementary suppression, Hundepool et al., *Statistical Disclosure
Control*, Wiley 2012, on tabular data): the smallest other cohort, until the hidden cohorts together could each be k or
more, else "all" itself. A zero is not hidden. k is the study's, from the export's ``manifest.json``
(``study.k_threshold``, or the k of its k-anonymity report, whichever is larger).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

ALL = "all"


def manifest_k(manifest: Mapping[str, Any] | None) -> int | None:
    """The k an export was made under, or None for a folder without a manifest (nothing is then hidden)."""
    if not manifest:
        return None
    candidates = [
        (manifest.get("study") or {}).get("k_threshold"),
        ((manifest.get("anonymization") or {}).get("k_anonymity") or {}).get("k"),
    ]
    ks = [int(k) for k in candidates if isinstance(k, int | float) and not isinstance(k, bool) and k >= 1]
    return max(ks) if ks else None


def hidden_groups(sizes: Mapping[str, int], k: int | None, total: str = ALL) -> frozenset[str]:
    """The groups to hide, given the size of each cohort (and of ``total``, the sum of them, if it is shown)."""
    if k is None:
        return frozenset()
    parts = [name for name in sizes if name != total]
    whole = sizes.get(total, sum(sizes[p] for p in parts))
    hidden = {name for name in parts if 0 < sizes[name] < k}
    if 0 < whole < k:
        hidden.add(total)
    while True:
        inside = [sizes[p] for p in parts if p in hidden]
        if total in hidden:
            if inside or not any(sizes[p] for p in parts):
                return frozenset(hidden)
        elif not inside or (len(inside) >= 2 and sum(inside) - (len(inside) - 1) >= k):
            return frozenset(hidden)
        shown = sorted((sizes[p], i) for i, p in enumerate(parts) if p not in hidden and sizes[p] > 0)
        hidden.add(parts[shown[0][1]] if shown else total)


def drop_hidden_groups(
    table: pd.DataFrame, by: Sequence[str], k: int | None, size: str = "n", group: str = "cohort"
) -> tuple[pd.DataFrame, int]:
    """``table`` without the rows of hidden groups, judged within each block of ``by`` (e.g. round and item).

    Returns the table kept and how many rows were left out.
    """
    if k is None or table.empty:
        return table, 0
    keep = pd.Series(True, index=table.index)
    for _, block in table.groupby(list(by), sort=False, dropna=False) if by else [((), table)]:
        sizes = {str(g): int(n) for g, n in zip(block[group], block[size], strict=True)}
        hidden = hidden_groups(sizes, k)
        keep.loc[block.index] = ~block[group].astype(str).isin(hidden)
    return table[keep], int((~keep).sum())
