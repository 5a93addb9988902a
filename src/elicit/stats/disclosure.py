"""Which cohorts a table per cohort and for all cohorts may show: the suppression rule of results by group.

The rule of ``elicit.suppression`` for the one shape these tables have (a test checks that the two agree), kept
here so that the analysis package, which imports nothing from the app, and the Delphi tables the studio and the
export compute with it (:func:`elicit.stats.consensus.delphi_tables`) share it. A cohort of 1 to k-1 respondents
is hidden (primary suppression), and so is whatever would give it back as "all" minus the cohorts shown
(complementary suppression, Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, on tabular data): the
smallest other cohort, until the hidden cohorts together could each be k or more, else "all" itself. A zero is
not hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

__all__ = ["ALL", "drop_hidden_groups", "hidden_groups"]

ALL = "all"


def hidden_groups(
    sizes: Mapping[str, int], k: int | None, total: str = ALL, also: Iterable[str] = ()
) -> frozenset[str]:
    """The groups to hide, given the size of each cohort (and of ``total``, the sum of them, if it is shown).

    ``also`` names groups hidden whatever their size (e.g. hidden throughout a report); their complements are
    found as for the small ones. A group of ``also`` with no answers here is hidden but needs no complement: a
    zero names nobody.
    """
    if k is None:
        return frozenset()
    parts = [name for name in sizes if name != total]
    whole = sizes.get(total, sum(sizes[p] for p in parts))
    forced = set(also)
    hidden = {name for name in parts if 0 < sizes[name] < k or (name in forced and sizes[name] > 0)}
    if total in forced and whole > 0:
        hidden.add(total)
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
