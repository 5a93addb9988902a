"""End-to-end: an export folder in, report.html and results.json out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import load_export, reverse_key, run_analysis, scale_scores
from elicit.analysis.export_folder import parse_codebook
from tests.analysis.conftest import build_codebook, build_data, write_export


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, dict]:
    """One analysis of the default synthetic export, shared by the tests that only read it (a run takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("analysed")
    counts = {"UK": 20, "PK": 20}
    folder = write_export(tmp_path / "export", build_data(counts, seed=7), build_codebook(tuple(counts)))
    html_path, json_path = tmp_path / "report.html", tmp_path / "results.json"
    returned = run_analysis(folder, html_path, json_path)
    written = json.loads(json_path.read_text(encoding="utf-8"))
    return returned, html_path.read_text(encoding="utf-8"), written


def test_results_follow_the_documented_structure(analysed: tuple[dict, str, dict]) -> None:
    returned, _, results = analysed
    assert returned == results
    for scale in ("tactical", "strategic", "economic"):
        for group in ("all", "UK", "PK"):
            entry = results["reliability"][scale][group]
            assert {"n", "alpha", "alpha_ci", "omega", "item_total"} <= set(entry)
            assert (
                len(entry["alpha_ci"]) == 2 and entry["alpha_ci"][0] < entry["alpha"] < entry["alpha_ci"][1]
            )
            assert len(entry["item_total"]) == 5
        between = results["comparisons"]["between_cohorts"][scale]
        assert {"test", "statistic", "p", "effect_size", "ci"} <= set(between)
        assert between["test"] == "Mann-Whitney U" and len(between["ci"]) == 2
    for cohort in ("UK", "PK"):
        within = results["comparisons"]["within_cohort"][cohort]
        assert {"test", "statistic", "p", "posthoc"} <= set(within)
        assert len(within["posthoc"]) == 3
        agreement = results["agreement"][cohort]
        assert {"icc", "kendall_w", "krippendorff_alpha"} <= set(agreement)
        assert len(agreement["icc"]) == 6 and all(len(f["ci"]) == 2 for f in agreement["icc"].values())
    mixed = results["comparisons"]["mixed_anova"]
    assert {row["source"] for row in mixed["table"]} == {"cohort", "scale", "Interaction"}
    alloc = results["comparisons"]["allocations"]["alloc"]
    assert set(alloc["follow_up"]) == {"tactical", "strategic", "economic"}
    # 20 + 20 respondents: C(40, 20) labellings, so Monte Carlo
    assert alloc["joint_test"]["p_method"].startswith("Monte Carlo permutation")
    ranking = results["comparisons"]["rankings"]["rank_leverage"]
    assert 0 < ranking["joint_test"]["p"] <= 1
    assert set(ranking["follow_up"]) == {"tactical", "strategic", "economic"}
    assert {"exports_change.q50", "width"} <= set(
        results["comparisons"]["quantiles"]["exports_change"]["tests"]
    ) or ({"q50", "width"} <= set(results["comparisons"]["quantiles"]["exports_change"]["tests"]))
    assert "afford" in results["comparisons"]["single_items"]
    meta = results["meta"]
    assert meta["instrument"]["versions"][0]["sha256"] == "ab" * 32
    assert re.fullmatch(r"[0-9a-f]{64}", meta["export"]["manifest_sha256"])
    assert meta["software"]["elicit"]
    # The synthetic data are built with UK seeing more tactical and PK more economic leverage.
    assert results["comparisons"]["between_cohorts"]["tactical"]["effect_size"] > 0
    assert results["comparisons"]["between_cohorts"]["economic"]["effect_size"] < 0


def test_results_json_has_no_nan(analysed: tuple[dict, str, dict]) -> None:
    _, _, written = analysed  # json.loads reads NaN and Infinity as floats; allow_nan=False refuses them
    json.dumps(written, allow_nan=False)


def test_report_is_self_contained_and_filled(analysed: tuple[dict, str, dict]) -> None:
    _, html, _ = analysed
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html
    assert (
        html.count("data:image/png;base64,") >= 7
    )  # leverage, scale distributions, 2 Likert, alloc, rank, quantiles
    for heading in (
        "Who answered",
        "Reliability of the scales",
        "Agreement among experts",
        "Mixed ANOVA",
        "Provenance",
        "Missing data and scoring",
        "Choice of tests",
    ):
        assert heading in html
    assert "ab" * 32 in html  # instrument sha256 recorded
    body = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html).split("<body>")[1]
    assert not re.search(r"\b(nan|None|undefined)\b", body, flags=re.IGNORECASE)


def test_reverse_keying_uses_the_codebook_range(make_export: Callable[..., Path]) -> None:
    # In this export nobody used 1 or 5 on the reverse-keyed items: observed range 2..4, declared 1..5.
    export = load_export(make_export(narrow_reverse=True))
    observed = export.data["tac_4"].dropna()
    assert observed.min() >= 2 and observed.max() <= 4
    keyed = reverse_key(export.data, export.codebook)
    pd.testing.assert_series_equal(keyed["tac_4"], 6 - export.data["tac_4"], check_names=False)
    # (recoding from the observed range would have given 2 + 4 - x instead)
    assert (keyed["tac_4"].dropna() != (6 - observed)).sum() == 0


def test_scale_score_needs_two_thirds_of_items(builders: SimpleNamespace) -> None:
    codebook = parse_codebook(builders.build_codebook())
    data = builders.build_data({"UK": 3, "PK": 0}, missing_rate=0.0)
    data.loc[0, ["tac_1", "tac_2"]] = pd.NA  # 3 of 5 answered: below ceil(2/3 * 5) = 4 -> missing
    data.loc[1, ["tac_1"]] = pd.NA  # 4 of 5 answered -> mean of the 4
    for column in [c for c in data.columns if c.startswith(("tac_", "str_", "eco_"))]:
        data[column] = data[column].astype("float64")
    scores = scale_scores(data, codebook)
    assert math.isnan(scores.loc[0, "tactical"])
    keyed = reverse_key(data, codebook)
    assert scores.loc[1, "tactical"] == pytest.approx(
        keyed.loc[1, ["tac_2", "tac_3", "tac_4", "tac_5"]].mean()
    )


def test_small_cohorts_warn_and_do_not_crash(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export({"UK": 4, "PK": 2}, name="small")
    results = run_analysis(folder, tmp_path / "small.html", tmp_path / "small.json")
    warnings = " ".join(results["warnings"])
    assert "Cohort UK has only 4" in warnings and "Cohort PK has only 2" in warnings
    assert "agreement rests on" in warnings
    assert (
        results["reliability"]["tactical"]["PK"]["alpha"] is None
        or results["reliability"]["tactical"]["PK"]["n"] < 3
    )
    json.loads((tmp_path / "small.json").read_text(encoding="utf-8"))


def test_one_cohort_skips_between_comparisons(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export({"UK": 12}, name="one")
    results = run_analysis(folder, tmp_path / "one.html")
    assert results["comparisons"]["between_cohorts"] == {}
    assert any("Fewer than two cohorts" in note for note in results["meta"]["notes"])
    assert not (tmp_path / "results.json").exists()


def test_three_cohorts_use_kruskal_wallis(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export({"UK": 10, "PK": 10, "IN": 10}, name="three")
    results = run_analysis(folder, tmp_path / "three.html", tmp_path / "three.json")
    entry = results["comparisons"]["between_cohorts"]["tactical"]
    assert entry["test"] == "Kruskal-Wallis H" and entry["effect_size_name"] == "epsilon-squared"


def test_missing_codebook_is_a_clear_error(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export()
    (folder / "codebook.json").unlink()
    with pytest.raises(ValueError, match=r"codebook\.json: missing"):
        run_analysis(folder, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_column_mismatch_is_a_clear_error(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export()
    data = pd.read_csv(folder / "data.csv").drop(columns=["str_3"])
    data.to_csv(folder / "data.csv", index=False)
    with pytest.raises(ValueError, match=r"do not match.*str_3"):
        run_analysis(folder, tmp_path / "r.html")


def test_out_of_range_code_and_bad_json_are_errors(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export()
    data = pd.read_csv(folder / "data.csv")
    data.loc[3, "eco_2"] = 7
    data.to_csv(folder / "data.csv", index=False)
    with pytest.raises(ValueError, match=r"row 5, column 'eco_2'.*not one of the codes"):
        load_export(folder)
    (folder / "codebook.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_export(folder)
    with pytest.raises(ValueError, match="not a folder"):
        load_export(tmp_path / "nowhere")


def test_tampered_data_is_flagged(make_export: Callable[..., Path], tmp_path: Path) -> None:
    folder = make_export()
    with (folder / "data.csv").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    export = load_export(folder)
    assert any("does not match the checksum" in note for note in export.notes)


def test_string_cohort_na_is_not_missing(tmp_path: Path, builders: SimpleNamespace) -> None:
    # "NA" (Namibia) must stay a cohort code, not become a missing value.
    data = builders.build_data({"NA": 6, "PK": 6})
    folder = builders.write_export(tmp_path / "na", data, builders.build_codebook(("NA", "PK")))
    export = load_export(folder)
    assert set(export.data["cohort"]) == {"NA", "PK"}


def test_no_half_written_report_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("previous", encoding="utf-8")
    with pytest.raises(ValueError):
        run_analysis(tmp_path / "missing-folder", target)
    assert target.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_agreement_statistics_are_numbers(analysed: tuple[dict, str, dict]) -> None:
    _, _, results = analysed
    for cohort in ("UK", "PK"):
        entry = results["agreement"][cohort]
        assert entry["kendall_w"] is None or 0 <= entry["kendall_w"] <= 1
        assert isinstance(entry["krippendorff_alpha"], float)
        assert entry["targets"] == [f"{p}_{i}" for p in ("tac", "str", "eco") for i in range(1, 6)]
    assert np.isfinite(results["agreement"]["UK"]["icc"]["ICC2"]["icc"])
