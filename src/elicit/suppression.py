"""Small groups hidden so that nothing published gives them back: primary and complementary cell suppression.

One rule for every place that shows a count or a group's result (the studio dashboard and studies list, the API's
study status, Delphi feedback); ``elicit.stats.disclosure`` repeats it for tables per cohort and for all cohorts,
the shape of the Delphi consensus tables (studio and export) and of the analysis, which imports nothing from the
app (a test checks that the two agree).

**Primary suppression** (the threshold rule): a cell counting 1 to k-1 experts is hidden. A zero is published: it
names nobody, and sdcTable's frequency rule treats it the same way by default (``allowZeros = FALSE``).

**Complementary (secondary) suppression**: hiding the small cells alone is not enough when a total is published,
since the total minus the shown cells gives the hidden one back ("All (n=7)" minus "UK (n=5)" is PK's n=2, and
its answers too). So, as statistical offices do (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, the
chapters on tabular data: secondary cell suppression and protection levels), every relation *total = sum of
parts* that holds a hidden cell must hold another one, and enough of them that the hidden cells cannot be pinned
down from what is shown. When a relation falls short, the smallest non-zero cell still shown is hidden next (the
least information lost), and when no part is left, the total.

A relation whose total is shown is protected when it hides at least two parts whose sum D leaves room for any
one of them to be k or more: every hidden cell is at least 1 (zeros are never hidden), so a reader can place
one hidden cell anywhere from 1 to D - (m - 1) for m hidden cells, and the rule asks D - (m - 1) >= k. That upper
protection level of k means a reader cannot even tell which hidden cell is the small one; two hidden "2"s with a
shown total would give a union of 4 < k, and five hidden singletons under a shown total of 5 would each be 1.
A relation whose total is hidden is protected when it hides at least one part as well.

All hidden cells look the same wherever they are shown (one symbol, not "< k" for some and another for the
rest), so a reader cannot tell a primary cell from its complement.

The rule is exact for one-level tables, which are all this application publishes: each part belongs to one
relation and no total is also a part (totals may close several relations: the dashboard's "all cohorts:
submitted" is the sum of the cohorts and of the days). Then a relation with a shown total leaves each hidden cell
the range [1, D - m + 1], which reaches k, and a hidden total can grow without bound, so its hidden parts can too.
Two-way tables with both margins, or nested hierarchies, need an audit by linear programming (Hundepool et al.
2012, as above; tests/test_suppression.py runs such an audit on the one-level tables) and are refused here
rather than protected falsely.

What the rule cannot see: the same cells published twice with different suppression (avoided by sharing one
computation: the studio, the API and the studies list all use ``elicit.studio.dashboard.progress``), and the
same table read at two moments, whose difference is what happened in between (a limit of any live count;
anonymous invitation statuses only change in groups of k for that reason).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

Cell = TypeVar("Cell", bound=Hashable)


@dataclass(frozen=True)
class Relation(Generic[Cell]):
    """``total`` is the sum of ``parts``: a margin and its cells, an "all" group and its cohorts, a series' sum."""

    total: Cell
    parts: tuple[Cell, ...]


def is_small(n: int, k: int) -> bool:
    """The threshold rule: a group of 1 to k-1 is too small to show (zero is not: it names nobody)."""
    return 0 < n < k


def suppress(values: Mapping[Cell, int], relations: Iterable[Relation[Cell]], k: int) -> frozenset[Cell]:
    """The cells of ``values`` to hide: every small cell and its complements, so no relation gives one back.

    ``values`` holds every cell that is published (hidden or not) with its true count; ``relations`` says which
    of them add up to which. Raises ``ValueError`` for a negative count, a relation naming an unknown cell, or
    relations that are not one level deep (see the module docstring).
    """
    rels = list(relations)
    _check(values, rels)
    hidden = {cell for cell, n in values.items() if is_small(n, k)}
    changed = True
    while changed:
        changed = False
        for rel in rels:
            extra = _next_to_hide(rel, values, hidden, k)
            if extra is not None:
                hidden.add(extra)
                changed = True
    return frozenset(hidden)


def hidden_groups(sizes: Mapping[str, int], k: int, total: str = "all") -> frozenset[str]:
    """Which groups of a "cohorts and all of them" table to hide, given each one's size (``total`` included).

    For results shown per group (Delphi feedback, consensus tables): a group is shown or hidden as a whole.
    """
    parts = tuple(name for name in sizes if name != total)
    values = dict(sizes)
    values.setdefault(total, sum(values[p] for p in parts))
    return suppress(values, [Relation(total, parts)], k)


def protected(
    relation: Relation[Cell], values: Mapping[Cell, int], hidden: frozenset[Cell] | set[Cell], k: int
) -> bool:
    """Whether ``relation`` keeps its hidden cells from being worked out (the rule in the module docstring)."""
    parts = [values[p] for p in relation.parts if p in hidden]
    if relation.total in hidden:
        return bool(parts)
    if not parts:
        return True
    return len(parts) >= 2 and sum(parts) - (len(parts) - 1) >= k


def _next_to_hide(rel: Relation[Cell], values: Mapping[Cell, int], hidden: set[Cell], k: int) -> Cell | None:
    if protected(rel, values, hidden, k):
        return None
    shown = [(values[p], i) for i, p in enumerate(rel.parts) if p not in hidden and values[p] > 0]
    if shown:
        return rel.parts[min(shown)[1]]
    # Every part is hidden or zero, so the total is not (a hidden total with a hidden part is protected).
    return rel.total


def _check(values: Mapping[Cell, int], relations: list[Relation[Cell]]) -> None:
    negative = [cell for cell, n in values.items() if n < 0]
    if negative:
        raise ValueError(f"counts cannot be negative: {negative!r}")
    totals = {rel.total for rel in relations}
    seen: set[Cell] = set()
    for rel in relations:
        for cell in (rel.total, *rel.parts):
            if cell not in values:
                raise ValueError(f"relation names {cell!r}, which has no count")
        for part in rel.parts:
            if part in totals or part in seen:
                raise ValueError(
                    f"{part!r} is a part of two relations or a total and a part: this rule protects one-level "
                    "tables only"
                )
            seen.add(part)
