"""Delphi consensus and stability: hand calculations typed in, and published tables for the symmetry tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from elicit.analysis.consensus import (
    ConsensusRule,
    consensus_table,
    delphi_tables,
    ranking_agreement,
    ranking_agreement_table,
    stability_table,
    symmetry_test,
)

LIKERT = [1, 2, 3, 4, 5]
# Ten experts answer a 5-point item in two rounds; experts e1-e5 are cohort UK, e6-e10 cohort PK.
ROUND_1 = [1, 2, 3, 3, 4, 4, 4, 5, 5, 2]
ROUND_2 = [3, 3, 4, 4, 4, 4, 4, 5, 5, 4]


def panel() -> pd.DataFrame:
    rows = []
    for round_, answers in ((1, ROUND_1), (2, ROUND_2)):
        for i, value in enumerate(answers):
            rows.append((f"e{i + 1}", round_, "UK" if i < 5 else "PK", "q1", value))
    return pd.DataFrame(rows, columns=["respondent", "round", "cohort", "item", "value"])


def test_consensus_by_hand() -> None:
    table = consensus_table(panel(), {"q1": LIKERT}).set_index(["round", "cohort"])
    # Round 1, all ten sorted: 1 2 2 3 3 4 4 4 5 5. Type 7 quartiles sit at positions 1 + 9p:
    # q1 at 3.25 -> 2 + .25 (3 - 2) = 2.25; median at 5.5 -> 3.5; q3 at 7.75 -> 4 + .75 (4 - 4) = 4; IQR 1.75.
    r1 = table.loc[(1, "all")]
    assert (r1["n"], r1["q1"], r1["median"], r1["q3"], r1["iqr"]) == (10, 2.25, 3.5, 4.0, 1.75)
    assert r1["top2_share"] == 0.5  # 4,4,4,5,5
    assert r1["bottom2_share"] == 0.3  # 1,2,2
    # mean 33/10 = 3.3; squared deviations 5.29 + 2(1.69) + 2(.09) + 3(.49) + 2(2.89) = 16.1; sd = sqrt(16.1/9).
    assert r1["mean"] == pytest.approx(3.3)
    assert r1["sd"] == pytest.approx(math.sqrt(16.1 / 9))
    assert r1["cv"] == pytest.approx(math.sqrt(16.1 / 9) / 3.3)
    assert not r1["consensus"] and r1["failed"] == "iqr, agreement"
    # Round 2, sorted: 3 3 4 4 4 4 4 4 5 5: every quartile is 4, IQR 0; 8 of 10 in the top two.
    r2 = table.loc[(2, "all")]
    assert (r2["q1"], r2["median"], r2["q3"], r2["iqr"], r2["top2_share"]) == (4.0, 4.0, 4.0, 0.0, 0.8)
    assert r2["mean"] == pytest.approx(4.0)
    assert r2["sd"] == pytest.approx(2 / 3)  # squared deviations 1+1+1+1 = 4; 4/9
    assert r2["cv"] == pytest.approx(1 / 6)
    assert r2["consensus"] and r2["failed"] == ""
    # Cohorts have their own rows: round 1 UK = 1 2 3 3 4.
    uk = table.loc[(1, "UK")]
    assert (uk["n"], uk["median"], uk["q1"], uk["q3"]) == (5, 3.0, 2.0, 3.0)
    assert set(table.index.get_level_values("cohort")) == {"UK", "PK", "all"}
    assert table["rule"].iloc[0].startswith("Consensus on an item when the interquartile range is at most 1")


def test_the_quartile_method_changes_the_iqr() -> None:
    """Type 6 (SPSS): positions (n + 1) p = 2.75 and 8.25 -> q1 = 2 + .75 (2 - 2) = 2, q3 = 4 + .25 (5 - 4) = 4.25."""
    rule = ConsensusRule(quartile_method="weibull")
    row = consensus_table(panel(), {"q1": LIKERT}, rule).set_index(["round", "cohort"]).loc[(1, "all")]
    assert (row["q1"], row["q3"], row["iqr"]) == (2.0, 4.25, 2.25)
    assert "type 6" in rule.describe()


def test_rules_are_configurable() -> None:
    only_agreement = ConsensusRule(max_iqr=None, min_agreement=0.5, agreement="top2")
    row = (
        consensus_table(panel(), {"q1": LIKERT}, only_agreement)
        .set_index(["round", "cohort"])
        .loc[(1, "all")]
    )
    assert row["consensus"]  # 50 % in the top two meets ">= 50 %"
    strict = ConsensusRule(max_iqr=1.0, min_agreement=0.9)
    row = consensus_table(panel(), {"q1": LIKERT}, strict).set_index(["round", "cohort"]).loc[(2, "all")]
    assert not row["consensus"] and row["failed"] == "agreement"
    bottom = ConsensusRule(agreement="bottom2")
    row = consensus_table(panel(), {"q1": LIKERT}, bottom).set_index(["round", "cohort"]).loc[(2, "all")]
    assert row["agreement"] == 0.0
    assert ConsensusRule().describe() == (
        "Consensus on an item when the interquartile range is at most 1 and at least 70 % of the answers are in "
        "the top two or the bottom two categories (quartiles by Hyndman & Fan type 7, numpy method 'linear')."
    )


def test_consensus_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="not among its categories"):
        consensus_table(panel(), {"q1": [1, 2, 3]})
    with pytest.raises(ValueError, match="no response categories"):
        consensus_table(panel(), {})
    with pytest.raises(ValueError, match="lack the column"):
        consensus_table(panel().drop(columns="cohort"), {"q1": LIKERT})
    with pytest.raises(ValueError, match="more than one answer"):
        consensus_table(pd.concat([panel(), panel().iloc[:1]]), {"q1": LIKERT})
    with pytest.raises(ValueError, match="at least one criterion"):
        ConsensusRule(max_iqr=None, min_agreement=None)
    with pytest.raises(ValueError, match="share between 0 and 1"):
        ConsensusRule(min_agreement=70)


def test_stability_by_hand() -> None:
    table = stability_table(panel(), 1, 2, {"q1": LIKERT}).set_index("cohort")
    row = table.loc["all"]
    # Changes round 2 - round 1: 2 1 1 1 0 0 0 0 0 2 -> 5 of 10 changed, all upward.
    assert (row["n_paired"], row["n_changed"], row["share_changed"], row["n_up"], row["n_down"]) == (
        10,
        5,
        0.5,
        5,
        0,
    )
    # Wilcoxon: zeros dropped, |d| = 2 1 1 1 2 -> mid-ranks 4.5 2 2 2 4.5; V = R+ = 15 (all increases), n = 5.
    assert row["wilcoxon_v"] == 15
    # Ties and zeros -> the exact permutation p: of the 2^5 = 32 sign assignments of the midranks, only "all
    # positive" (V = 15) and "all negative" (V = 0) are as far from n(n+1)/4 = 7.5 as the observed V = 15: p = 2/32.
    assert row["wilcoxon_p"] == pytest.approx(2 / 32, rel=1e-12)
    assert row["wilcoxon_method"] == "exact (permutation, ties by midranks; 5 zero differences dropped)"
    # Bowker on the 5 x 5 round-1 by round-2 table: moves 1->3, 2->3, 3->4, 3->4, 2->4 (off-diagonal cells), all
    # with an empty mirror cell: pairs (1,3): 1, (2,3): 1, (3,4): 2, (2,4): 1 -> B = 1 + 1 + 2 + 1 = 5 on 4 df.
    assert row["symmetry_test"] == "Bowker"
    assert row["symmetry_statistic"] == pytest.approx(5.0)
    assert row["symmetry_df"] == 4
    assert row["symmetry_p"] == pytest.approx(stats.chi2.sf(5.0, 4))
    # Per cohort: UK e1-e5 changes 2 1 1 1 0.
    assert table.loc["UK", "n_changed"] == 4
    assert table.loc["PK", "n_changed"] == 1


def test_stability_pairs_only_respondents_in_both_rounds() -> None:
    data = panel()
    data = data[~((data["respondent"] == "e1") & (data["round"] == 2))]
    row = stability_table(data, 1, 2).set_index("cohort").loc["all"]
    assert (row["n_a"], row["n_b"], row["n_paired"], row["n_changed"]) == (10, 9, 9, 4)
    assert row["symmetry_test"] == ""  # no categories given: no symmetry test
    with pytest.raises(ValueError, match="round 3 has no answers"):
        stability_table(data, 1, 3)


def test_mcnemar_on_a_nominal_item() -> None:
    """Agresti (1990, p. 350), Presidential approval in two surveys (R's mcnemar.test example): 794 approve twice,
    150 approve then disapprove, 86 disapprove then approve, 570 disapprove twice. McNemar without continuity
    correction: (150 - 86)^2 / 236 = 17.36 (Agresti's z = -4.17; R's corrected statistic is 16.818)."""
    result = symmetry_test([[794, 150], [86, 570]])
    assert result.test == "McNemar" and result.df == 1
    assert result.statistic == pytest.approx(64**2 / 236)
    assert round(result.statistic, 2) == 17.36
    assert result.p == pytest.approx(stats.chi2.sf(64**2 / 236, 1))
    assert result.p_exact == pytest.approx(2 * stats.binom.cdf(86, 236, 0.5))
    # The same through stability_table, as answers of a nominal (yes/no) item: codes 1 = approve, 2 = disapprove.
    rows = []
    for (first, second), count in {(1, 1): 794, (1, 2): 150, (2, 1): 86, (2, 2): 570}.items():
        for _ in range(count):
            rows.append((len(rows), 1, "US", "approve", first))
            rows.append((len(rows) - 1, 2, "US", "approve", second))
    data = pd.DataFrame(rows, columns=["respondent", "round", "cohort", "item", "value"])
    row = stability_table(data, 1, 2, {"approve": [1, 2]}, nominal=["approve"]).set_index("cohort").loc["US"]
    assert row["symmetry_test"] == "McNemar"
    assert row["symmetry_statistic"] == pytest.approx(result.statistic)
    assert row["mcnemar_exact_p"] == pytest.approx(result.p_exact)
    assert np.isnan(row["wilcoxon_p"])  # nominal: no Wilcoxon
    assert row["share_changed"] == pytest.approx(236 / 1600)


def test_bowker_published_3x3() -> None:
    """Calcugator 2 documentation, function chi2_mcnemarbowker: 46 teenagers' view of the death penalty (in favour,
    indifferent, against) before and after lectures. Published: W2 = 12.833333, p = 0.0050113 (3 df).
    By hand: (7 - 1)^2/8 + (3 - 9)^2/12 + (10 - 2)^2/12 = 4.5 + 3 + 5.3333 = 12.8333."""
    table = [[5, 7, 3], [1, 4, 10], [9, 2, 5]]
    result = symmetry_test(table)
    assert result.test == "Bowker" and result.df == 3
    assert result.statistic == pytest.approx(12.833333333333332, rel=1e-12)
    assert result.p == pytest.approx(0.005011251317078358, rel=1e-9)


def test_bowker_degrees_of_freedom_rule() -> None:
    """A pair of empty mirror cells is not counted (df_rule="observed"); Bowker's k(k-1)/2 is df_rule="all"."""
    table = [[3, 2, 0], [0, 4, 1], [0, 3, 2]]  # pairs (1,2): 2 vs 0, (1,3): 0 vs 0, (2,3): 1 vs 3
    observed = symmetry_test(table)
    assert observed.statistic == pytest.approx(4 / 2 + 4 / 4)
    assert observed.df == 2
    assert symmetry_test(table, df_rule="all").df == 3
    with pytest.raises(ValueError, match="square table"):
        symmetry_test([[1, 2, 3]])


def test_kendall_w_by_hand() -> None:
    """Three experts rank four options: rank sums 4, 6, 8, 12 (mean 7.5), S = 12.25 + 2.25 + .25 + 20.25 = 35,
    W = 12 S / (m^2 (n^3 - n)) = 420 / 540 = 0.7778, chi2 = m (n - 1) W = 7 on 3 df."""
    ranks = pd.DataFrame(
        {"respondent": ["a", "b", "c"], "o1": [1, 1, 2], "o2": [2, 3, 1], "o3": [3, 2, 3], "o4": [4, 4, 4]}
    )
    result = ranking_agreement(ranks)
    assert result.w == pytest.approx(420 / 540)
    assert result.chi2 == pytest.approx(7.0)
    assert (result.df, result.m, result.n) == (3, 3, 4)
    long = ranks.melt(id_vars="respondent", var_name="item", value_name="value").assign(round=1, cohort="UK")
    table = ranking_agreement_table(long).set_index("cohort")
    assert table.loc["UK", "w"] == pytest.approx(420 / 540)
    assert table.loc["all", "m"] == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_agreement": 0.0}, "minimum agreement"),
        ({"min_agreement": -0.1}, "minimum agreement"),
        ({"min_agreement": 1.5}, "minimum agreement"),
        ({"min_agreement": float("nan")}, "minimum agreement"),
        ({"max_iqr": -1.0}, "largest IQR"),
        ({"max_iqr": float("nan")}, "largest IQR"),
        ({"max_iqr": float("inf")}, "largest IQR"),
    ],
)
def test_a_rule_out_of_range_is_refused_with_a_sentence(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConsensusRule(**fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        ConsensusRule.from_dict(fields)


def test_a_recorded_rule_reads_back() -> None:
    rule = ConsensusRule(max_iqr=10, min_agreement=0.5, agreement="top2", quartile_method="weibull")
    assert ConsensusRule.from_dict(rule.as_dict()) == rule
    assert ConsensusRule.from_dict({"max_iqr": None, "min_agreement": 0.6}) == ConsensusRule(
        max_iqr=None, min_agreement=0.6
    )
    with pytest.raises(ValueError, match="must be a number"):
        ConsensusRule.from_dict({"max_iqr": "10"})
    with pytest.raises(ValueError, match="must be an object"):
        ConsensusRule.from_dict([10, 0.5])  # type: ignore[arg-type]


def test_delphi_tables_is_the_consensus_and_stability_of_every_round_under_the_rule() -> None:
    wide = ConsensusRule(max_iqr=10, min_agreement=0.5)
    tables = delphi_tables(panel(), {"q1": LIKERT}, wide)
    verdicts = tables.consensus.set_index(["round", "cohort"])["consensus"]
    # Round 1 (IQR 1.75, top two 50 %) passes "IQR <= 10 and >= 50 %", not the default rule.
    assert (
        verdicts[(1, "all")]
        and not consensus_table(panel(), {"q1": LIKERT})
        .set_index(["round", "cohort"])
        .loc[(1, "all"), "consensus"]
    )
    assert tables.rounds == (1, 2) and tables.rule == wide and tables.suppressed == 0
    pd.testing.assert_frame_equal(
        tables.stability.reset_index(drop=True), stability_table(panel(), 1, 2, {"q1": LIKERT})
    )
    # k = 6: each cohort of five is hidden in both rounds; "all" (10) stays, as the two hidden ones are 9 or more
    # together, so neither can be had back by subtraction.
    hidden = delphi_tables(panel(), {"q1": LIKERT}, wide, k=6)
    assert set(hidden.consensus["cohort"]) == {"all"} and hidden.suppressed == 4
    assert set(hidden.stability["cohort"]) == {"all"}


def _two_round_export(
    builders: Any, tmp_path: Path, rule: dict[str, Any] | None, where: str = "codebook"
) -> Path:
    first = builders.build_data({"UK": 8, "PK": 8}, seed=3)
    second = builders.build_data({"UK": 8, "PK": 8}, seed=4).assign(round=2)
    codebook = builders.build_codebook(("UK", "PK"))
    if rule is not None and where == "codebook":
        codebook["consensus_rule"] = rule
    if rule is not None and where == "manifest":
        codebook["study"] = {**codebook["study"], "consensus_rule": rule}
    return builders.write_export(tmp_path / f"export-{where}", pd.concat([first, second]), codebook)


def test_analysis_judges_by_the_rule_the_export_records(builders: Any, tmp_path: Path) -> None:
    """Issue 13: `elicit analyze` used the default rule while the studio and consensus.csv used the study's."""
    from elicit.analysis.elicitation import delphi_summary
    from elicit.analysis.export_folder import load_export

    rule = ConsensusRule(max_iqr=10, min_agreement=0.3)
    for where in ("codebook", "manifest"):
        summary = delphi_summary(load_export(_two_round_export(builders, tmp_path, rule.as_dict(), where)))
        assert summary is not None and summary.rule == rule, where
        assert set(summary.consensus["rule"]) == {rule.describe()}
    default = delphi_summary(load_export(_two_round_export(builders, tmp_path, None, "none")))
    assert default is not None and default.rule == ConsensusRule()
    # The verdicts differ between the two rules somewhere, so reading the recorded rule matters.
    assert (summary.consensus["consensus"].to_numpy() != default.consensus["consensus"].to_numpy()).any()
    bad = _two_round_export(builders, tmp_path, {"max_iqr": 1, "min_agreement": 0}, "codebook")
    with pytest.raises(ValueError, match="the export's consensus rule cannot be used: the minimum agreement"):
        delphi_summary(load_export(bad))


def test_analysis_hides_the_cohorts_the_export_hides_under_the_studys_k(
    builders: Any, tmp_path: Path
) -> None:
    """results.json listed the consensus of a cohort of two that the studio and consensus.csv hide (k = 5).

    Three cohorts answer two rounds: UK 8, PK 8, IN 2. Under the study's k of 5 (manifest ``study.k_threshold``)
    IN is hidden, and so is the smallest other cohort, else "all" minus the cohorts shown gives IN back.
    The analysis must leave out exactly the rows :func:`delphi_tables` with that k leaves out.
    """
    from elicit.analysis.consensus import answers_long
    from elicit.analysis.elicitation import delphi_summary
    from elicit.analysis.export_folder import load_export

    sizes = {"UK": 8, "PK": 8, "IN": 2}
    first = builders.build_data(sizes, seed=3, missing_rate=0.0)
    second = builders.build_data(sizes, seed=4, missing_rate=0.0).assign(round=2)
    codebook = builders.build_codebook(tuple(sizes))
    codebook["study"] = {**codebook["study"], "k_threshold": 5}
    export = load_export(builders.write_export(tmp_path / "export", pd.concat([first, second]), codebook))

    summary = delphi_summary(export)

    assert summary is not None
    assert "IN" not in set(summary.consensus["cohort"]) and "IN" not in set(summary.stability["cohort"])
    assert {"all"} < set(summary.consensus["cohort"]) < {"UK", "PK", "all"}  # the complement goes too
    likert = [i["id"] for i in codebook["items"] if i["type"] == "likert"]
    choices = {item: [1, 2, 3, 4, 5] for item in likert}
    expected = delphi_tables(answers_long(export.data, likert), choices, summary.rule, k=5)
    assert summary.suppressed == expected.suppressed > 0 and summary.k == 5
    pd.testing.assert_frame_equal(
        summary.consensus.reset_index(drop=True), expected.consensus.reset_index(drop=True)
    )
    # No manifest, no k: nothing is hidden (the report says the export's provenance cannot be checked).
    bare = builders.write_export(tmp_path / "bare", pd.concat([first, second]), codebook, manifest=False)
    unhidden = delphi_summary(load_export(bare))
    assert unhidden is not None and "IN" in set(unhidden.consensus["cohort"]) and unhidden.k is None
