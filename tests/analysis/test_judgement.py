"""Fitted distributions and pools in the analysis: quantile, roulette, four-point and probability items of a
hand-made export.

The export (as ``conftest`` makes them) has the synthetic flagship's 5/50/95 item plus a roulette item (10 chips in
5 bins on [0, 50]), an IDEA four-point item and a fixed-interval item (P(X <= 5), P(X <= 10), P(X <= 20) in
percent, on [0, inf)), under a k. Every pooled quantile is checked against fitting and
pooling the folder's ``data.csv`` directly with :mod:`elicit.stats`; a cohort under k shows no pool and no expert.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import run_analysis
from elicit.stats.distributions import fit_judgement
from elicit.stats.judgements import four_point_points, probability_points, quantile_points, roulette_points
from elicit.stats.pooling import linear_pool, log_pool
from tests.analysis.conftest import build_codebook, build_data, write_export

EDGES = [0, 10, 20, 30, 40, 50]
POINTS = [5, 10, 20]
EXTRA: list[dict[str, Any]] = [
    {
        "id": "share",
        "type": "roulette",
        "analysis": "distribution",
        "elicitation": "roulette",
        "edges": EDGES,
        "chips": 10,
        "text": "Share of exports to the region",
        "columns": [f"share.b{i}" for i in range(1, 6)],
        "privacy": "none",
    },
    {
        "id": "visits",
        "type": "four_point",
        "analysis": "distribution",
        "elicitation": "four_point",
        "min": 0,
        "text": "Visits next year",
        "columns": ["visits.low", "visits.best", "visits.high", "visits.confidence"],
        "privacy": "none",
    },
    {
        "id": "delay",
        "type": "probabilities",
        "analysis": "distribution",
        "elicitation": "probabilities",
        "points": POINTS,
        "lower": 0,
        "text": "Delay in months",
        "columns": ["delay.p1", "delay.p2", "delay.p3"],
        "privacy": "none",
    },
]


def _export(tmp_path: Path, sizes: dict[str, int], k: int | None = None) -> Path:
    data = build_data(sizes, seed=11, missing_rate=0.0)
    rng = np.random.default_rng(3)
    for i in data.index:
        chips = np.zeros(5, int)
        centre = rng.integers(1, 4)
        chips[centre - 1 : centre + 2] = [2, 5, 3]
        for b in range(5):
            data.loc[i, f"share.b{b + 1}"] = int(chips[b])
        best = float(rng.integers(5, 15))
        data.loc[i, ["visits.low", "visits.best", "visits.high", "visits.confidence"]] = [
            best - float(rng.integers(2, 5)),
            best,
            best + float(rng.integers(3, 9)),
            float(rng.choice([70, 80, 90])),
        ]
        first = int(rng.integers(5, 30))
        second = first + int(rng.integers(10, 30))
        data.loc[i, ["delay.p1", "delay.p2", "delay.p3"]] = [
            first,
            second,
            min(second + int(rng.integers(10, 40)), 99),
        ]
    codebook = build_codebook(tuple(sizes))
    codebook["items"] += EXTRA
    codebook["variables"] += [
        {"name": c, "item": item["id"], "part": c.split(".")[1], "type": item["type"], "measure": "scale"}
        for item in EXTRA
        for c in item["columns"]
    ]
    if k is not None:
        codebook["study"] = {**codebook["study"], "k_threshold": k}
    return write_export(tmp_path / "export", data, codebook)


def _points(item: str, row: pd.Series) -> Any:
    if item == "exports_change":
        return quantile_points([5, 50, 95], [row[f"exports_change.q{q:02d}"] for q in (5, 50, 95)])
    if item == "share":
        return roulette_points(EDGES, [row[f"share.b{b}"] for b in range(1, 6)])
    if item == "delay":
        return probability_points(POINTS, [row[f"delay.p{i}"] for i in range(1, 4)])
    return four_point_points(*(row[f"visits.{p}"] for p in ("low", "best", "high", "confidence")))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """One analysis of the export, shared by the tests that only read it (a run takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("judgement")
    folder = _export(tmp_path, {"UK": 8, "PK": 7})
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    data = pd.read_csv(folder / "data.csv")
    return results, data, (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("item", "lower"), [("exports_change", None), ("share", None), ("visits", 0.0), ("delay", 0.0)]
)
def test_pooled_quantiles_match_fitting_and_pooling_the_csv(analysed, item, lower) -> None:
    results, data, _ = analysed
    block = results["judgements"]["items"][item]
    assert (
        block["elicitation"]
        == {
            "exports_change": "quantiles",
            "share": "roulette",
            "visits": "four_point",
            "delay": "probabilities",
        }[item]
    )
    for group in ("all", "UK", "PK"):
        rows = data if group == "all" else data[data["cohort"] == group]
        fits = [fit_judgement(_points(item, row), lower=lower).best for _, row in rows.iterrows()]
        pooled = {r["pool"]: r for r in block["pooled"] if r["cohort"] == group}
        linear = linear_pool([f.dist for f in fits]).quantiles([0.05, 0.5, 0.95])
        logarithmic = log_pool([f.dist for f in fits]).quantiles([0.05, 0.5, 0.95])
        got = pooled["linear_equal"]
        np.testing.assert_allclose([got["q05"], got["q50"], got["q95"]], linear, rtol=1e-6)
        got = pooled["log_equal"]
        np.testing.assert_allclose([got["q05"], got["q50"], got["q95"]], logarithmic, rtol=1e-6)
        assert pooled["linear_equal"]["n"] == len(rows)
        weights = block["weights"]["linear_equal"][group]
        assert set(weights) == set(rows["respondent"]) and sum(weights.values()) == pytest.approx(1)
    by_expert = {r["respondent"]: r for r in block["experts"]}
    first = data.iloc[0]
    expected = fit_judgement(_points(item, first), lower=lower).best
    assert by_expert[first["respondent"]]["family"] == expected.family
    assert by_expert[first["respondent"]]["sse"] == pytest.approx(expected.sse, rel=1e-6, abs=1e-12)


def test_report_has_a_section_and_a_figure_per_item(analysed) -> None:
    results, _, html = analysed
    assert 'id="judgements"' in html
    for item in ("exports_change", "share", "visits", "delay"):
        assert f"{item}: " in html
    assert html.count("pooled densities by group") == 4
    json.dumps(results, allow_nan=False)


def test_a_cohort_under_k_shows_no_pool_and_no_expert(tmp_path: Path) -> None:
    folder = _export(tmp_path, {"UK": 8, "PK": 3}, k=5)
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    hidden = set(pd.read_csv(folder / "data.csv").query("cohort == 'PK'")["respondent"])
    text = (tmp_path / "results.json").read_text(encoding="utf-8") + (tmp_path / "report.html").read_text(
        encoding="utf-8"
    )
    assert not any(f'"{r}"' in text or f">{r}<" in text for r in hidden)
    for block in results["judgements"]["items"].values():
        shown = {r["cohort"] for r in block["pooled"]}
        assert shown and "PK" not in shown
        assert shown == {"all"} or shown == {"UK"}  # the complement rule hides one of them, as everywhere
        assert {r["cohort"] for r in block["experts"]} <= shown - {"all"}
        for pool in block["weights"].values():
            assert not hidden & {r for group in pool.values() for r in group}
