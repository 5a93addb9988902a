"""Which cohorts a published table may show: the analysis package's own copy of the app's suppression rule.

``elicit.analysis`` imports nothing from the app, so the rule of ``elicit.suppression`` is repeated here for the
one shape analysis tables have: results per cohort and for all cohorts together (a test checks that the two
copies agree). A cohort of 1 to k-1 respondents is hidden (primary suppression), and so is whatever would give it
back as "all" minus the cohorts shown (complementary suppression, Hundepool et al., *Statistical Disclosure
Control*, Wiley 2012, on tabular data): the smallest other cohort, until the hidden cohorts together could each be k or
more, else "all" itself. A zero is not hidden. k is the study's, from the export's ``manifest.json``
(``study.k_threshold``, or the k of its k-anonymity report, whichever is larger).

:class:`Disclosure` makes these decisions once for an analysis: which groups are hidden throughout (from the
number of respondents per cohort), and, table by table, which groups are left out of one block (an item, a scale,
a test) where fewer answered. :func:`elicit.analysis.pipeline.analyze` applies it to every result, so the HTML
report and ``results.json`` render the same decisions and neither shows what the other withholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Disclosure:
    """The disclosure decisions of one analysis: the study's ``k`` and the groups ``hidden`` throughout.

    ``hidden`` comes from the number of respondents per cohort and "all" (:meth:`for_sample`); within one
    block of a table (an item's answers, a scale's complete cases, one test) a group is also left out when fewer
    than k answered there, with its complement (:meth:`hidden_in`). Comparisons between cohorts are shown only
    when no cohort is hidden (:attr:`compares`), as they would rest on the hidden cohorts' answers. With ``k``
    None (an export without a manifest) nothing is hidden.
    """

    k: int | None = None
    hidden: frozenset[str] = frozenset()

    @classmethod
    def for_sample(cls, sizes: Mapping[str, int], k: int | None) -> Disclosure:
        """Decide from the respondents per group (each cohort, and "all")."""
        return cls(k, hidden_groups(sizes, k))

    @property
    def compares(self) -> bool:
        """Whether comparisons between cohorts may be shown (not when a cohort is hidden)."""
        return not self.hidden

    def hidden_in(self, sizes: Mapping[str, int]) -> frozenset[str]:
        """The groups to leave out of one block, given each group's n there: those hidden throughout, the
        block's own small groups, and whatever would give either back from "all"."""
        return hidden_groups(sizes, self.k, also=self.hidden) | self.hidden

    def is_small(self, n: int) -> bool:
        """The threshold rule alone, for a figure that adds up with no other (1 to k-1 is small, 0 is not)."""
        return self.k is not None and 0 < n < self.k

    def comparable(self, sizes: Mapping[str, int]) -> bool:
        """Whether a test between the cohorts of ``sizes`` (each one's n in it) may be shown: every cohort is
        shown and none of them, nor its complement in "all" (the sum, shown beside it), is hidden in this test."""
        return self.compares and not self.hidden_in(sizes)

    def table(
        self, frame: pd.DataFrame, by: Sequence[str] = (), size: str = "n", group: str = "cohort"
    ) -> pd.DataFrame:
        """``frame`` without the rows of the groups left out of each block of ``by`` (e.g. each variable)."""
        if frame.empty or group not in frame:
            return frame
        keep = pd.Series(True, index=frame.index)
        blocks = frame.groupby(list(by), sort=False, dropna=False) if by else [((), frame)]
        for _, block in blocks:
            names = block[group].astype(str)
            sizes = {str(g): int(n) for g, n in zip(names, block[size], strict=True)} if size in block else {}
            hidden = self.hidden_in(sizes) if sizes else self.hidden
            keep.loc[block.index] = ~names.isin(hidden)
        return frame[keep]

    def tests(self, frame: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
        """The rows of a table of tests between ``groups`` (an ``n_<group>`` column each) that may be shown."""
        if frame.empty or not self.compares:
            return frame.iloc[0:0]
        keep = [self.comparable({g: int(row[f"n_{g}"]) for g in groups}) for row in frame.to_dict("records")]
        return frame[keep]
