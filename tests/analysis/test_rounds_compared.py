"""The section "Rounds compared": distribution judgements in round 1 and round 2 (the IDEA protocol).

A seeded two-round export: ``test_judgement``'s (a quantile, a roulette, a four-point and a probability item) as
round 1, and a round 2 in which every UK expert revises the quantile and four-point items and one PK expert does
not take part. Every figure is checked against fitting and pooling the folder's ``data.csv`` directly; under a k,
a cohort small in one round is left out of both.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import run_analysis
from elicit.stats.distributions import fit_judgement
from elicit.stats.pooling import linear_pool
from tests.analysis.conftest import write_export
from tests.analysis.test_judgement import _export, _points

LOWER = {"exports_change": None, "share": None, "visits": 0.0, "delay": 0.0}
STATED = {"exports_change": "exports_change.q50", "visits": "visits.best"}


def _two_rounds(
    tmp_path: Path, sizes: dict[str, int], k: int | None = None, drop: dict[int, list[str]] | None = None
) -> Path:
    """``test_judgement``'s export as round 1 and a revised round 2; ``drop`` takes respondents out of a round."""
    folder = _export(tmp_path, sizes, k=k)
    first = pd.read_csv(folder / "data.csv")
    codebook = json.loads((folder / "codebook.json").read_text(encoding="utf-8"))
    second = first.copy()
    second["round"] = 2
    uk = second["cohort"] == "UK"
    for column in ("exports_change.q05", "exports_change.q50", "exports_change.q95"):
        second.loc[uk, column] += 1.5
    second.loc[uk, "visits.high"] += 2
    second = second[second["respondent"] != first.query("cohort == 'PK'")["respondent"].iloc[-1]]
    frames = {1: first, 2: second}
    for number, gone in (drop or {}).items():
        frames[number] = frames[number][~frames[number]["respondent"].isin(gone)]
    data = pd.concat(frames.values(), ignore_index=True)
    return write_export(tmp_path / "two", data, codebook)


def _expected(rows: pd.DataFrame, item: str) -> dict[str, Any]:
    fits = [fit_judgement(_points(item, row), lower=LOWER[item]).best for _, row in rows.iterrows()]
    pool = linear_pool([f.dist for f in fits])
    best = list(rows[STATED[item]]) if item in STATED else [float(f.dist.ppf(0.5)) for f in fits]
    return {
        "n": len(rows),
        "pool": list(pool.quantiles([0.05, 0.5, 0.95])),
        "median_best": statistics.median(best),
        "median_width90": statistics.median([float(f.dist.ppf(0.95) - f.dist.ppf(0.05)) for f in fits]),
    }


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], pd.DataFrame, str]:
    tmp_path = tmp_path_factory.mktemp("compared")
    folder = _two_rounds(tmp_path, {"UK": 8, "PK": 7})
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    return results, pd.read_csv(folder / "data.csv"), html


@pytest.mark.parametrize("item", ["exports_change", "share", "visits", "delay"])
def test_each_round_is_pooled_and_summarized_as_the_csv_gives_it(compared, item: str) -> None:
    results, data, _ = compared
    section = results["rounds_compared"]
    assert section["rounds"] == [1, 2]
    rows = {(r["round"], r["cohort"]): r for r in section["items"][item]["rows"]}
    assert set(rows) == {(r, g) for r in (1, 2) for g in ("all", "UK", "PK")}
    for (number, group), row in rows.items():
        answers = data[data["round"] == number]
        answers = answers if group == "all" else answers[answers["cohort"] == group]
        expected = _expected(answers, item)
        assert row["n"] == expected["n"]
        np.testing.assert_allclose(
            [row["pool_q05"], row["pool_q50"], row["pool_q95"]], expected["pool"], rtol=1e-6
        )
        assert row["median_best"] == pytest.approx(expected["median_best"], rel=1e-6)
        assert row["median_width90"] == pytest.approx(expected["median_width90"], rel=1e-6)


def test_who_changed_their_answer(compared) -> None:
    results, _, _ = compared
    items = results["rounds_compared"]["items"]
    for item, uk_changed in (("exports_change", 8), ("visits", 8), ("share", 0), ("delay", 0)):
        rows = {(r["round"], r["cohort"]): r for r in items[item]["rows"]}
        assert rows[(1, "all")]["changed"] is None and rows[(1, "all")]["n_both"] is None
        assert (rows[(2, "UK")]["changed"], rows[(2, "UK")]["n_both"]) == (uk_changed, 8)
        assert (rows[(2, "PK")]["changed"], rows[(2, "PK")]["n_both"]) == (0, 6)  # one PK expert left
        assert (rows[(2, "all")]["changed"], rows[(2, "all")]["n_both"]) == (uk_changed, 14)
        assert isinstance(rows[(2, "all")]["changed"], int)


def test_the_report_has_the_section_with_a_figure_per_item(compared) -> None:
    _, _, html = compared
    assert '<section id="rounds">' in html and '<a href="#rounds">Rounds compared</a>' in html
    assert html.count("pooled densities by round and group") == 4
    assert "8 / 8" in html  # UK's revisions in round 2


def test_one_round_has_no_comparison(tmp_path: Path) -> None:
    results = run_analysis(_export(tmp_path, {"UK": 8, "PK": 7}), tmp_path / "r.html")
    assert "rounds_compared" not in results
    assert 'id="rounds"' not in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_a_cohort_small_in_one_round_is_left_out_of_every_round(tmp_path: Path) -> None:
    # PK has 7 experts in round 2 but only 3 in round 1 (under k = 5): shown in the analysis of round 2, it must
    # not be shown beside a round where it is hidden, nor what gives it back ("all" minus UK, or UK).
    folder = _export(tmp_path, {"UK": 8, "PK": 8}, k=5)
    pk = list(pd.read_csv(folder / "data.csv").query("cohort == 'PK'")["respondent"])
    folder = _two_rounds(tmp_path, {"UK": 8, "PK": 8}, k=5, drop={1: pk[:5]})
    results = run_analysis(folder, tmp_path / "r.html", tmp_path / "r.json")
    assert "PK" in {r["cohort"] for r in results["judgements"]["items"]["exports_change"]["pooled"]}
    for item, block in results["rounds_compared"]["items"].items():
        shown = {number: {r["cohort"] for r in block["rows"] if r["round"] == number} for number in (1, 2)}
        assert shown[1] == shown[2], item  # one decision for both rounds
        assert "PK" not in shown[1] and len(shown[1]) == 1, item  # PK and its complement
        assert "PK" in block["left_out"], item
    assert "rounds compared" in " ".join(results["meta"]["notes"])


def test_without_a_k_nothing_is_left_out(tmp_path: Path) -> None:
    folder = _two_rounds(tmp_path, {"UK": 8, "PK": 3})
    (folder / "manifest.json").unlink()
    results = run_analysis(folder, tmp_path / "r.html")
    rows = results["rounds_compared"]["items"]["visits"]["rows"]
    assert {(r["round"], r["cohort"]) for r in rows} == {(r, g) for r in (1, 2) for g in ("all", "UK", "PK")}
