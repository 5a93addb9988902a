"""Fixtures for the analysis tests: a seeded synthetic export folder in the documented format (docs/export.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

AGREE5 = [
    {"code": 1, "label": "Strongly disagree"},
    {"code": 2, "label": "Disagree"},
    {"code": 3, "label": "Neither agree nor disagree"},
    {"code": 4, "label": "Agree"},
    {"code": 5, "label": "Strongly agree"},
]
LEVERAGES = ("tactical", "strategic", "economic")
PREFIX = {"tactical": "tac", "strategic": "str", "economic": "eco"}


def build_codebook(cohorts: tuple[str, ...] = ("UK", "PK")) -> dict[str, Any]:
    """A flagship-shaped codebook: 3 scales x 5 items (item 4 reverse-keyed), afford, alloc, ranking, quantiles."""
    labels = {"UK": "United Kingdom", "PK": "Pakistan", "IN": "India"}
    items: list[dict[str, Any]] = [
        {
            "id": "consent",
            "type": "consent",
            "analysis": "nominal",
            "page": "intro",
            "text": "I agree to take part",
            "columns": ["consent"],
            "privacy": "none",
            "versions": ["1.0.0"],
        },
    ]
    scales = {}
    for leverage in LEVERAGES:
        ids = [f"{PREFIX[leverage]}_{i}" for i in range(1, 6)]
        scales[leverage] = {"label": f"{leverage.title()} leverage", "items": ids, "reverse": [ids[3]]}
        for item_id in ids:
            items.append(
                {
                    "id": item_id,
                    "type": "likert",
                    "analysis": "ordinal",
                    "page": leverage,
                    "text": f"Defence diplomacy gives {leverage} leverage ({item_id})",
                    "choices": AGREE5,
                    "scale": leverage,
                    "reverse": item_id == ids[3],
                    "versions": ["1.0.0"],
                    "privacy": "none",
                    "columns": [item_id],
                }
            )
    lev_choices = [{"code": lv, "label": lv.title()} for lv in LEVERAGES]
    items += [
        {
            "id": "afford",
            "type": "likert",
            "analysis": "ordinal",
            "page": "economy",
            "text": "My state can afford defence diplomacy",
            "choices": AGREE5,
            "scale": None,
            "reverse": False,
            "columns": ["afford"],
            "privacy": "none",
        },
        {
            "id": "alloc",
            "type": "constant_sum",
            "analysis": "composition",
            "page": "economy",
            "text": "Share 100 points",
            "total": 100,
            "choices": lev_choices,
            "columns": [f"alloc.{lv}" for lv in LEVERAGES],
            "privacy": "none",
        },
        {
            "id": "rank_leverage",
            "type": "ranking",
            "analysis": "ranking",
            "page": "economy",
            "text": "Rank the leverages",
            "choices": lev_choices,
            "columns": [f"rank_leverage.{lv}" for lv in LEVERAGES],
            "privacy": "none",
        },
        {
            "id": "exports_change",
            "type": "quantiles",
            "analysis": "distribution",
            "page": "economy",
            "text": "Change in defence exports",
            "levels": [5, 50, 95],
            "unit": "%",
            "columns": ["exports_change.q05", "exports_change.q50", "exports_change.q95"],
            "privacy": "none",
        },
        {
            "id": "comments",
            "type": "text",
            "analysis": "text",
            "page": "end",
            "text": "Comments",
            "columns": ["comments"],
            "privacy": "free_text",
        },
    ]
    variables = [
        {
            "name": column,
            "item": item["id"],
            "part": None,
            "type": item["type"],
            "measure": "ordinal" if item["type"] == "likert" else "scale",
            "label": item["text"],
            "value_labels": None,
        }
        for item in items
        for column in item["columns"]
    ]
    return {
        "format": "elicit-codebook/1",
        "study": {"slug": "dd-test", "title": "Defence diplomacy (synthetic)", "anonymity": "anonymous"},
        "instrument": {"id": "defence-diplomacy", "versions": [{"version": "1.0.0", "sha256": "ab" * 32}]},
        "language": "en",
        "cohorts": [{"code": c, "label": labels.get(c, c)} for c in cohorts],
        "scales": scales,
        "items": items,
        "variables": variables,
    }


def build_data(
    n_per_cohort: dict[str, int], seed: int = 7, missing_rate: float = 0.03, narrow_reverse: bool = False
) -> pd.DataFrame:
    """Seeded responses. UK sees more tactical, PK more economic leverage (by construction)."""
    rng = np.random.default_rng(seed)
    shift = {
        "UK": {"tactical": 0.8, "strategic": 0.3, "economic": -0.4},
        "PK": {"tactical": -0.2, "strategic": 0.4, "economic": 0.8},
    }
    rows = []
    number = 0
    for cohort, n in n_per_cohort.items():
        for _ in range(n):
            number += 1
            row: dict[str, Any] = {
                "respondent": f"R{number:04d}",
                "cohort": cohort,
                "round": 1,
                "instrument_version": "1.0.0",
                "language": "en",
                "submitted_on": f"2025-03-{1 + number % 28:02d}",
                "consent": "yes",
            }
            for leverage in LEVERAGES:
                theta = rng.normal(shift.get(cohort, {}).get(leverage, 0.0), 1.0)
                for i in range(1, 6):
                    value = int(np.clip(np.rint(3 + 0.9 * theta + rng.normal(0, 0.7)), 1, 5))
                    if i == 4:
                        value = 6 - value
                        if narrow_reverse:
                            value = int(np.clip(value, 2, 4))
                    row[f"{PREFIX[leverage]}_{i}"] = value if rng.random() >= missing_rate else None
            row["afford"] = int(rng.integers(1, 6)) if cohort == "UK" else int(rng.integers(1, 4))
            weights = rng.dirichlet([2 + shift.get(cohort, {}).get(lv, 0) * 2 for lv in LEVERAGES])
            points = np.floor(weights * 100).astype(int)
            points[np.argmax(points)] += 100 - points.sum()
            for lv, p in zip(LEVERAGES, points, strict=True):
                row[f"alloc.{lv}"] = int(p)
            order = np.argsort(-points + rng.random(3) * 0.1)
            for rank, index in enumerate(order, start=1):
                row[f"rank_leverage.{LEVERAGES[index]}"] = rank
            q50 = rng.normal(5 if cohort == "UK" else 12, 4)
            row["exports_change.q05"] = round(q50 - abs(rng.normal(6, 2)), 1)
            row["exports_change.q50"] = round(q50, 1)
            row["exports_change.q95"] = round(q50 + abs(rng.normal(8, 3)), 1)
            row["comments"] = ""
            rows.append(row)
    frame = pd.DataFrame(rows)
    likert = [c for c in frame.columns if c.split("_")[0] in PREFIX.values()]
    frame[likert] = frame[likert].astype("Int64")
    return frame


def write_export(folder: Path, data: pd.DataFrame, codebook: dict[str, Any], manifest: bool = True) -> Path:
    """Write data.csv, codebook.json and manifest.json as ``elicit export`` does."""
    folder.mkdir(parents=True, exist_ok=True)
    data.to_csv(folder / "data.csv", index=False)
    (folder / "codebook.json").write_text(json.dumps(codebook, indent=2), encoding="utf-8")
    if manifest:
        files = {
            name: {"sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()}
            for name in ("data.csv", "codebook.json")
        }
        counts = data["cohort"].value_counts().to_dict()
        (folder / "manifest.json").write_text(
            json.dumps({"study": codebook["study"], "files": files, "counts": counts}), encoding="utf-8"
        )
    return folder


@pytest.fixture
def make_export(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_export(n_per_cohort={"UK": 20, "PK": 20}, seed=7, narrow_reverse=False)`` -> folder."""

    def factory(
        n_per_cohort: dict[str, int] | None = None,
        seed: int = 7,
        narrow_reverse: bool = False,
        name: str = "export",
        missing_rate: float = 0.03,
    ) -> Path:
        counts = n_per_cohort or {"UK": 20, "PK": 20}
        data = build_data(counts, seed=seed, narrow_reverse=narrow_reverse, missing_rate=missing_rate)
        return write_export(tmp_path / name, data, build_codebook(tuple(counts)))

    return factory


@pytest.fixture
def builders() -> SimpleNamespace:
    """The synthetic-export building blocks, for tests that edit data or codebook before writing."""
    return SimpleNamespace(build_codebook=build_codebook, build_data=build_data, write_export=write_export)
