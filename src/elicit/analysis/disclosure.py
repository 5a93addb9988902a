"""Which cohorts a published analysis may show, decided once for the HTML report and ``results.json``.

The rule is :func:`elicit.stats.disclosure.hidden_groups` (the app's suppression rule for tables per cohort and
for all cohorts, shared with the Delphi tables of the studio and the export): a cohort of 1 to k-1 respondents is
hidden, and so is whatever would give it back as "all" minus the cohorts shown. k is the study's, from the
export's ``manifest.json`` (``study.k_threshold``, or the k of its k-anonymity report, whichever is larger).

:class:`Disclosure` makes these decisions once for an analysis: which groups are hidden throughout (from the
number of respondents per cohort), and, table by table, which groups are left out of one block (an item, a scale,
a test) where fewer answered. :func:`elicit.analysis.pipeline.analyze` applies it to every result, so the HTML
report and ``results.json`` render the same decisions and neither shows what the other withholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from elicit.stats.disclosure import ALL, drop_hidden_groups, hidden_groups

__all__ = ["ALL", "Disclosure", "drop_hidden_groups", "hidden_groups", "manifest_k"]


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
