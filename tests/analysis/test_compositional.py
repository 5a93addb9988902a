"""Constant-sum and ranking items are compared between cohorts by one joint test each (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from elicit.analysis import load_export, run_analysis
from elicit.analysis.judgements import allocations, rankings
from elicit.stats.compositional import (
    clr,
    multiplicative_replacement,
    permutation_between,
    zero_replacement_delta,
)
from tests.analysis.conftest import build_codebook, build_data, write_export


def test_allocations_give_one_joint_test_and_follow_ups_per_part(tmp_path: Path) -> None:
    export = load_export(
        write_export(tmp_path / "e", build_data({"UK": 6, "PK": 5}, seed=2), build_codebook())
    )
    item = export.codebook.item("alloc")
    summary, follow_up, joint = allocations(export.data, item, ("UK", "PK"))
    assert len(joint) == 1 and joint["p_method"].iloc[0].startswith("exact")  # C(11, 5) = 462 labellings
    assert (joint["n_UK"].iloc[0], joint["n_PK"].iloc[0]) == (6, 5)
    assert set(follow_up["variable"]) == {"tactical", "strategic", "economic"}
    assert (follow_up["role"] == "follow-up").all() and (follow_up["p_holm"] >= follow_up["p"]).all()
    # independently: the clr of the shares after replacement, tested by the same permutation function
    points = export.data[list(item.columns)].to_numpy(dtype=float)
    coordinates = clr(multiplicative_replacement(points, zero_replacement_delta(points)))
    expected = permutation_between(coordinates, export.data["cohort"].tolist())
    assert joint["p"].iloc[0] == pytest.approx(expected.p)
    assert joint["zero_replacement_delta"].iloc[0] == pytest.approx(zero_replacement_delta(points))
    # the difference in mean clr is the follow-up's effect size; the centre (%) is in the summary
    uk, pk = (coordinates[(export.data["cohort"] == c).to_numpy()].mean(axis=0) for c in ("UK", "PK"))
    assert follow_up["effect_size"].to_numpy() == pytest.approx(uk - pk)
    centres = summary[summary["cohort"] == "UK"]["centre"]
    assert centres.sum() == pytest.approx(100)


def test_rankings_give_one_joint_test_on_the_rank_vectors(tmp_path: Path) -> None:
    data = build_data({"UK": 5, "PK": 5}, seed=3)
    export = load_export(write_export(tmp_path / "e", data, build_codebook()))
    item = export.codebook.item("rank_leverage")
    _, follow_up, joint = rankings(export.data, item, ("UK", "PK"))
    ranks = export.data[list(item.columns)].to_numpy(dtype=float)
    assert joint["p"].iloc[0] == pytest.approx(permutation_between(ranks, export.data["cohort"].tolist()).p)
    assert "rank vectors" in joint["test"].iloc[0] and len(follow_up) == 3


def test_the_report_has_the_joint_tests_and_no_mann_whitney_per_part(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "e", build_data({"UK": 8, "PK": 7}, seed=6), build_codebook())
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    alloc = results["comparisons"]["allocations"]["alloc"]
    assert "Martín-Fernández" in alloc["method"] and alloc["joint_test"]["statistic_name"] == "pseudo-F"
    assert alloc["joint_test"]["n"] == {"UK": 8, "PK": 7}
    assert all(entry["test"] == "permutation follow-up" for entry in alloc["follow_up"].values())
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = html.split('id="allocations"')[1].split("</section>")[0]
    assert section.count("Joint test between cohorts") == 2  # the allocation and the ranking
    assert "Mann" not in section
    assert re.search(r"<th>Centre % UK</th>", section)
    assert not np.isnan(alloc["joint_test"]["p"])
