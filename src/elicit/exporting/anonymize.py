"""Anonymization of exports: coarsening quasi-identifiers, scrubbing free text, k-anonymity, formula injection.

Rules come from the instrument (``privacy`` of each item, docs/instruments.md):

- ``direct_identifier``: the column is never written (the plan drops it) unless the export is identified.
- ``quasi_identifier`` with ``bins``: numbers become bin labels ``"0-4"``, ``"5-9"``, ..., the last bin closed
  (``"30-60"``); for decimals a bin ``"2.5-<5"`` runs up to but not including 5. ``top_code: T`` records values
  above T as T. ``merge: {new: [old, ...]}`` replaces the old codes by the new one.
- every free-text item (a ``text`` item, marked ``free_text`` or not) is scrubbed of e-mail addresses, phone numbers, URLs,
  link-like tokens and every roster name and organisation of the study. The scrubber lives in
  ``elicit.scrubbing`` (Delphi reasons shown to experts use it too) and is re-exported here.

k-anonymity is measured over the quasi-identifier columns after coarsening plus the cohort (and the language
when the instrument has several): an equivalence class is a combination of those values, its size the number of
distinct respondents in it. The report gives the sizes of the classes below k, never their values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elicit.csvsafe import csv_safe
from elicit.instruments.schema import Item
from elicit.scrubbing import Scrubber

__all__ = [
    "Coarsening",
    "KAnonymity",
    "Scrubber",
    "bin_labels",
    "coarsening_for",
    "csv_safe",
]

# -------------------------------------------------------------------------------------------- coarsening

#: The item type a binned number is exported as: one category (its bin) per answer.
BINNED_TYPE = "single_choice"


@dataclass(frozen=True)
class Coarsening:
    """A quasi-identifier rule ready to apply: ``apply`` maps a converted value to its exported value."""

    rule: dict[str, Any]
    description: str
    apply: Callable[[Any], Any]
    source_dtype: str  # the cell type the stored value is converted to before the rule
    dtype: str  # the cell type after the rule
    exported_type: str  # the item type as exported (binned numbers are categories)
    choices: tuple[tuple[Any, str], ...] | None = None  # the categories after the rule, with labels
    measure: str | None = None  # the SPSS/Stata measure after the rule (None: the item type's own)
    analysis: str | None = None  # the codebook's analysis kind after the rule (None: the item type's own)


def bound_text(value: float) -> str:
    """A bin bound as written in labels (the export's and data.R's alike): 5, 2.5, or (-3) for a negative one."""
    text = str(int(value)) if float(value).is_integer() else f"{value:g}"
    # A leading minus would look like a formula to a spreadsheet (and be neutralised with a quote).
    return f"({text})" if value < 0 else text


def bin_labels(bins: Sequence[float], integer: bool) -> list[tuple[float, float, str]]:
    """``(low, high, label)`` per bin: ``[0, 5, 10]`` -> ``0-4``, ``5-10`` for whole numbers (last bin closed)."""
    whole = integer and all(float(b).is_integer() for b in bins)
    result = []
    for index, (low, high) in enumerate(zip(bins, bins[1:], strict=False)):
        last = index == len(bins) - 2
        if last:
            label = f"{bound_text(low)}-{bound_text(high)}"
        elif whole:
            label = f"{bound_text(low)}-{bound_text(high - 1)}"
        else:
            label = f"{bound_text(low)}-<{bound_text(high)}"
        result.append((low, high, label))
    return result


def coarsening_for(item: Item, dtype: str, choices: Sequence[tuple[Any, str]]) -> Coarsening | None:
    """The coarsening rule of a quasi-identifier item, or None when it is kept as is.

    ``dtype`` is the cell type of the item's values before the rule: whole numbers (``int``) get bins such as
    ``0-4``, other numbers half-open bins such as ``2.5-<5``.
    """
    privacy = item.privacy
    if privacy.bins is not None:
        integer = dtype == "int"
        table = bin_labels(privacy.bins, integer)
        below = f"<{bound_text(privacy.bins[0])}"
        above = f">{bound_text(privacy.bins[-1])}"

        def to_bin(value: Any) -> str:
            if value < table[0][0]:
                return below
            for low, high, label in table[:-1]:
                if low <= value < high:
                    return label
            return table[-1][2] if value <= table[-1][1] else above

        labels = tuple((label, label) for _, _, label in table)
        return Coarsening(
            {"bins": list(privacy.bins)},
            "binned into " + ", ".join(label for _, _, label in table),
            to_bin,
            "float" if not integer else "int",
            "string",
            BINNED_TYPE,
            labels,
            measure="ordinal",  # bins are ordered ranges of the number
            analysis="nominal",  # ...but text labels, some (below/above the bins) outside the listed choices
        )
    if privacy.top_code is not None:
        top = privacy.top_code
        cap: float | int = int(top) if float(top).is_integer() and dtype == "int" else top

        def top_code(value: Any) -> Any:
            return cap if value > cap else value

        return Coarsening(
            {"top_code": top},
            f"top-coded: values above {bound_text(top)} are recorded as {bound_text(top)}",
            top_code,
            dtype,
            dtype,
            item.type,
        )
    if privacy.merge is not None:
        old_to_new = {old: new for new, olds in privacy.merge.items() for old in olds}
        groups: dict[str, list[str]] = {}
        for code, label in choices:
            groups.setdefault(old_to_new.get(str(code), str(code)), []).append(label)
        numeric = all(re.fullmatch(r"-?\d+", code) for code in groups)

        def cast(code: str) -> Any:
            return int(code) if numeric else code

        mapping = {old: cast(new) for old, new in old_to_new.items()}

        def merge(value: Any) -> Any:
            key = str(value)
            return mapping[key] if key in mapping else cast(key)

        return Coarsening(
            {"merge": {k: list(v) for k, v in privacy.merge.items()}},
            "merged: " + "; ".join(f"{new} = {' + '.join(olds)}" for new, olds in privacy.merge.items()),
            merge,
            "string",
            "int" if numeric else "string",
            item.type,
            tuple((cast(code), " / ".join(labels)) for code, labels in groups.items()),
        )
    return None


# -------------------------------------------------------------------------------------------- k-anonymity


@dataclass
class KAnonymity:
    """Counts distinct respondents (and rows) per equivalence class of quasi-identifier values.

    With ``rows_are_respondents`` (anonymous studies: every row is a different, unlinkable respondent) only
    counts are kept, so memory grows with the number of classes, not of rows.
    """

    k: int
    columns: list[str]
    rows_are_respondents: bool = False
    members: dict[tuple[Any, ...], set[str]] = field(default_factory=dict)
    row_counts: Counter[tuple[Any, ...]] = field(default_factory=Counter)

    def add(self, key: tuple[Any, ...], respondent: str) -> None:
        self.row_counts[key] += 1
        if not self.rows_are_respondents:
            self.members.setdefault(key, set()).add(respondent)

    def size(self, key: tuple[Any, ...]) -> int:
        return self.row_counts[key] if self.rows_are_respondents else len(self.members.get(key, ()))

    def small(self) -> set[tuple[Any, ...]]:
        """Classes with fewer than k respondents."""
        return {key for key in self.row_counts if self.size(key) < self.k}

    def report(self) -> dict[str, Any]:
        """k, the classes, and the sizes of the classes below k (never their values) with the rows they hold."""
        sizes = [self.size(key) for key in self.row_counts]
        small = self.small()
        below = sorted(self.size(key) for key in small)
        return {
            "k": self.k,
            "quasi_identifiers": list(self.columns),
            "rows": sum(self.row_counts.values()),
            "classes": len(sizes),
            "smallest_class": min(sizes) if sizes else None,
            "satisfied": not below,
            "classes_below_k": len(below),
            "class_sizes_below_k": below,
            "respondents_below_k": sum(below),
            "rows_below_k": sum(self.row_counts[key] for key in small),
        }
