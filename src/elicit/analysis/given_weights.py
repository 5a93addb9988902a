"""Researcher-given weights for the linear opinion pool, read from a CSV file (``elicit analyze --weights FILE``).

The file has a header with the columns ``respondent`` and ``weight``, and optionally ``item``:

* ``respondent`` is the export's pseudonymous respondent id (the ``respondent`` column of ``data.csv``);
* ``weight`` is a non-negative finite number; weights are normalized within each pooled group, so only their
  ratios matter;
* ``item`` (optional) names a distribution item: rows with an item give that item its own weights; rows with the
  cell empty (or a file without the column) give the weights of every other item.

Every respondent not in the file has weight 0 (their judgement does not enter the pool). Problems are reported
as ``file:line: message``: a missing column, an unknown respondent or item, a negative, non-finite or unreadable
weight, a respondent given twice for the same item, weights that are all zero.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GivenWeights", "WeightsError", "read_weights"]

#: The key of the rows that hold for every item without rows of its own.
EVERY_ITEM = ""


class WeightsError(ValueError):
    """The problems of a weights file, each as ``(line, message)``; ``str()`` gives ``file:line: message`` lines
    (``file: message`` for one about the whole file, line 0)."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(
            "\n".join(
                f"{path}:{line}: {message}" if line else f"{path}: {message}" for line, message in problems
            )
        )


@dataclass(frozen=True)
class GivenWeights:
    """The weights of a file: per item (``""`` for every item without its own rows), respondent -> weight."""

    name: str
    sha256: str
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_item(self, item: str) -> Mapping[str, float]:
        """The weights that hold for ``item`` (its own rows, else the rows for every item; may be empty)."""
        return self.weights.get(item) or self.weights.get(EVERY_ITEM) or {}

    def describe(self) -> dict[str, object]:
        """What results.json records of the file: its name and checksum and which items have their own weights."""
        return {
            "file": self.name,
            "sha256": self.sha256,
            "items_with_own_weights": sorted(i for i in self.weights if i != EVERY_ITEM),
            "for_every_other_item": EVERY_ITEM in self.weights,
            "missing_respondents": "weight 0",
        }


def read_weights(path: Path, respondents: Collection[str], items: Collection[str]) -> GivenWeights:
    """Read and check a weights file against the export's ``respondents`` and distribution ``items``.

    Raises :class:`WeightsError` (a ``ValueError``) listing every problem with its line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WeightsError(path, [(0, f"cannot be read ({exc.strerror or exc})")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WeightsError(path, [(1, "is not UTF-8 text")]) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise WeightsError(
            path, [(1, "needs a header with the columns respondent,weight (and optionally item)")]
        )
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [name for name in ("respondent", "weight") if name not in header]
    unknown = [name for name in header if name not in ("respondent", "weight", "item")]
    if missing or unknown or len(set(header)) != len(header):
        detail = (
            f"missing column(s) {', '.join(missing)}"
            if missing
            else f"unknown column(s) {', '.join(unknown)}"
            if unknown
            else "a column is named twice"
        )
        raise WeightsError(path, [(1, f"{detail}; the header is respondent,weight (and optionally item)")])
    column = {name: header.index(name) for name in header}
    known, wanted = set(respondents), set(items)
    problems: list[tuple[int, str]] = []
    weights: dict[str, dict[str, float]] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in column.items()}
        respondent, item = cells["respondent"], cells.get("item", EVERY_ITEM)
        if not respondent:
            problems.append((line, "no respondent id"))
            continue
        if respondent not in known:
            problems.append((line, f"respondent {respondent!r} is not in the export's data"))
            continue
        if item and item not in wanted:
            choices = ", ".join(sorted(wanted)) or "none"
            problems.append((line, f"item {item!r} is not a distribution item of the codebook ({choices})"))
            continue
        try:
            weight = float(cells["weight"])
        except ValueError:
            problems.append((line, f"weight {cells['weight']!r} is not a number"))
            continue
        if not math.isfinite(weight) or weight < 0:
            problems.append((line, f"weight {cells['weight']} must be a finite number of 0 or more"))
            continue
        key = (respondent, item)
        if key in seen:
            where = f" for item {item}" if item else ""
            problems.append((line, f"respondent {respondent}{where} is given already on line {seen[key]}"))
            continue
        seen[key] = line
        weights.setdefault(item, {})[respondent] = weight
    if not problems:
        if not weights:
            problems.append((len(rows), "holds no weights"))
        for item, given in weights.items():
            if not any(w > 0 for w in given.values()):
                what = f"of item {item}" if item else "(the rows without an item)"
                problems.append((seen[(next(iter(given)), item)], f"the weights {what} are all zero"))
    if problems:
        raise WeightsError(path, problems)
    return GivenWeights(path.name, hashlib.sha256(raw).hexdigest(), weights)
