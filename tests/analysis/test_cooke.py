"""Cooke's classical model: a hand calculation, two published studies, and the edge cases.

The published studies come from the TU Delft expert judgement data base (Cooke & Goossens 2008, RESS 93(5):
657-674), as distributed with ANDURIL (Leontaris & Morales-Nápoles 2018, SoftwareX 7:313-317; data
doi:10.17632/tp5sp4gcd5.1) and in the ``cases/`` folder of the anduryl repository (github.com/grongen/anduryl).
Their decision-maker scores below are EXCALIBUR's, as tabulated (2 decimals) in anduryl's ``test/data/
Excalibur.csv``. The per-expert scores to 10 digits were computed with anduryl 1.2.2 (PyPI) from the same data
(``Project.io.import_csv``; ``calculate_decision_maker(weight_type=..., overshoot=0.1, alpha=...)``); anduryl is
not a test dependency because it requires PyQt5 (and undeclared pydantic<2 and numpy<2) to import.
"""

from __future__ import annotations

import json
import math
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from elicit.analysis.cooke import (
    CookeSettings,
    calibration_scores,
    classical_model,
    information_scores,
    intrinsic_range,
    level_name,
    plot_ranges,
    results_dict,
)

P3 = np.array([0.05, 0.45, 0.45, 0.05])


def chi2_sf_3df(x: float) -> float:
    """Survival function of chi-square with 3 df in closed form: erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2)."""
    return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)


# --------------------------------------------------------------------------------------------------------------
# A small panel worked by hand: 3 experts, 4 seeds (s1-s4) and 1 target (t1).

HAND = pd.DataFrame(
    [
        # expert, item, q05, q50, q95
        ("A", "s1", 2, 5, 8),  # realization 5 equals A's median
        ("A", "s2", 0, 10, 20),
        ("A", "s3", 1, 2, 3),
        ("A", "s4", 10, 20, 30),
        ("A", "t1", 1, 2, 3),
        ("B", "s1", 6, 7, 8),  # B is overconfident: every realization below the 5 % quantile
        ("B", "s2", 13, 14, 15),
        ("B", "s3", 2.6, 2.7, 2.8),
        ("B", "s4", 16, 17, 18),
        ("B", "t1", 2, 3, 4),
        ("C", "s1", 0, 4, 10),
        ("C", "s2", 5, 11, 19),
        ("C", "s3", 2, 2.4, 2.6),
        ("C", "s4", 14, 16, 25),
        ("C", "t1", 0, 5, 10),
    ],
    columns=["expert", "item", "q05", "q50", "q95"],
)
HAND_REALIZATIONS = {"s1": 5, "s2": 12, "s3": 2.5, "s4": 15}


def test_level_names() -> None:
    assert [level_name(x) for x in (0.05, 0.25, 0.5, 0.75, 0.95)] == ["q05", "q25", "q50", "q75", "q95"]
    assert level_name(0.025) == "q2_5"
    assert CookeSettings().columns == ("q05", "q50", "q95")
    assert CookeSettings().bin_probabilities == pytest.approx(P3)


def test_calibration_by_hand() -> None:
    table = calibration_scores(HAND, HAND_REALIZATIONS).set_index("expert")
    # A: s1 = 5 is on A's median -> counted in the bin below (q05, q50]; s2 12 in (10, 20]; s3 2.5 in (2, 3];
    # s4 15 in (10, 20]. Counts (0, 2, 2, 0), s = (0, .5, .5, 0), I(s, p) = ln(.5/.45) = ln(10/9).
    # B: all four below the 5 % quantile: s = (1, 0, 0, 0), I = ln(1/.05) = ln 20.
    # C: s1 5 in (4, 10], s2 12 in (11, 19], s3 2.5 in (2.4, 2.6], s4 15 in (14, 16]: s = (0, .25, .75, 0).
    expected_counts = {"A": [0, 2, 2, 0], "B": [4, 0, 0, 0], "C": [0, 1, 3, 0]}
    expected_info = {
        "A": math.log(10 / 9),
        "B": math.log(20),
        "C": 0.25 * math.log(0.25 / 0.45) + 0.75 * math.log(0.75 / 0.45),
    }
    for expert, counts in expected_counts.items():
        row = table.loc[expert]
        assert [row["below_q05"], row["q05_q50"], row["q50_q95"], row["above_q95"]] == counts
        assert row["relative_information"] == pytest.approx(expected_info[expert], rel=1e-12)
        statistic = 2 * 4 * expected_info[expert]  # 2 N I(s, p) with N = 4 seeds
        assert row["statistic"] == pytest.approx(statistic, rel=1e-12)
        assert row["df"] == 3
        assert row["calibration"] == pytest.approx(chi2_sf_3df(statistic), rel=1e-9)
    # The numbers themselves: A 2*4*ln(10/9) = 0.842884 -> 0.839185; B 8 ln 20 = 23.9659 -> 2.5393e-5.
    assert table.loc["A", "calibration"] == pytest.approx(0.839185, abs=1e-6)
    assert table.loc["B", "calibration"] == pytest.approx(2.5393e-5, rel=1e-4)


def test_realization_on_a_quantile_follows_the_binning_rule() -> None:
    upper = calibration_scores(HAND, HAND_REALIZATIONS, CookeSettings(on_quantile="upper")).set_index(
        "expert"
    )
    # With the "upper" rule A's s1 (= A's median) moves to (q50, q95): counts (0, 1, 3, 0), like C.
    assert upper.loc["A", ["below_q05", "q05_q50", "q50_q95", "above_q95"]].tolist() == [0, 1, 3, 0]
    lower = calibration_scores(HAND, HAND_REALIZATIONS).set_index("expert")
    assert lower.loc["A", "calibration"] != pytest.approx(upper.loc["A", "calibration"])


def test_intrinsic_range_and_information_by_hand() -> None:
    ranges = intrinsic_range(HAND, HAND_REALIZATIONS).set_index("item")
    # s1: quantiles 0..10 and the realization 5: L = 0, U = 10, 10 % overshoot: [-1, 11].
    assert ranges.loc["s1", ["low", "high", "lower_bound", "upper_bound"]].tolist() == pytest.approx(
        [0, 10, -1, 11]
    )
    # t1 (target): L = 0, U = 10 as well.
    assert ranges.loc["t1", ["lower_bound", "upper_bound"]].tolist() == pytest.approx([-1, 11])
    info = information_scores(HAND, HAND_REALIZATIONS).set_index(["expert", "item"])["information"]
    # A on s1: b = (-1, 2, 5, 8, 11), widths (3, 3, 3, 3): ln 12 + sum p ln(p / width).
    a_s1 = math.log(12) + 2 * 0.05 * math.log(0.05 / 3) + 2 * 0.45 * math.log(0.45 / 3)
    assert info.loc[("A", "s1")] == pytest.approx(a_s1, rel=1e-12)
    # B on s1: b = (-1, 6, 7, 8, 11), widths (7, 1, 1, 3).
    b_s1 = (
        math.log(12) + 0.05 * math.log(0.05 / 7) + 2 * 0.45 * math.log(0.45 / 1) + 0.05 * math.log(0.05 / 3)
    )
    assert info.loc[("B", "s1")] == pytest.approx(b_s1, rel=1e-12)


def test_weights_and_decision_makers_by_hand() -> None:
    result = classical_model(HAND, HAND_REALIZATIONS, CookeSettings(cutoff=0.0))
    experts = result.experts.set_index("expert")
    info = information_scores(HAND, HAND_REALIZATIONS).set_index(["expert", "item"])["information"]
    seeds = ["s1", "s2", "s3", "s4"]
    raw = {}
    for expert in "ABC":
        mean_info = np.mean([info.loc[(expert, s)] for s in seeds])
        assert experts.loc[expert, "information_seeds"] == pytest.approx(mean_info, rel=1e-12)
        assert experts.loc[expert, "information_all"] == pytest.approx(
            np.mean([info.loc[(expert, s)] for s in [*seeds, "t1"]]), rel=1e-12
        )
        raw[expert] = experts.loc[expert, "calibration"] * mean_info
    total = sum(raw.values())
    for expert in "ABC":
        assert experts.loc[expert, "weight_unnormalized"] == pytest.approx(raw[expert], rel=1e-12)
        assert experts.loc[expert, "weight"] == pytest.approx(raw[expert] / total, rel=1e-12)
    assert experts["weight"].sum() == pytest.approx(1.0)

    # The equal-weight DM on s1: the mean of the three piecewise-linear CDFs on [-1, 11] equals the levels at
    # the DM's quantiles.
    dm = result.dm_quantiles.set_index(["dm", "item"])
    quantiles = dm.loc[("equal", "s1"), ["q05", "q50", "q95"]].to_numpy(dtype=float)
    cdfs = [
        np.interp(quantiles, [-1, *row, 11], [0, 0.05, 0.5, 0.95, 1])
        for row in ([2, 5, 8], [6, 7, 8], [0, 4, 10])
    ]
    assert np.mean(cdfs, axis=0) == pytest.approx([0.05, 0.5, 0.95], abs=1e-12)
    # The global-weight DM, same check with the weights.
    quantiles = dm.loc[("performance_global", "s1"), ["q05", "q50", "q95"]].to_numpy(dtype=float)
    w = experts.loc[["A", "B", "C"], "weight"].to_numpy()
    cdfs = [
        np.interp(quantiles, [-1, *row, 11], [0, 0.05, 0.5, 0.95, 1])
        for row in ([2, 5, 8], [6, 7, 8], [0, 4, 10])
    ]
    assert np.average(cdfs, axis=0, weights=w) == pytest.approx([0.05, 0.5, 0.95], abs=1e-12)
    # Every DM is defined on the target item too.
    assert not dm.loc[(slice(None), "t1"), :][["q05", "q50", "q95"]].isna().any().any()


def test_optimized_cutoff_maximizes_the_decision_makers_weight() -> None:
    optimized = classical_model(HAND, HAND_REALIZATIONS)
    calibrations = sorted(optimized.experts["calibration"])
    assert optimized.cutoff in calibrations
    best = optimized.decision_makers.set_index("dm").loc["performance_global", "weight_unnormalized"]
    for alpha in calibrations:
        fixed = classical_model(HAND, HAND_REALIZATIONS, CookeSettings(cutoff=alpha))
        assert fixed.decision_makers.set_index("dm").loc["performance_global", "weight_unnormalized"] <= best
    # Experts below the cut-off get weight zero.
    experts = optimized.experts
    assert (experts.loc[experts["calibration"] < optimized.cutoff, "weight"] == 0).all()
    assert experts.loc[experts["above_cutoff"], "weight"].sum() == pytest.approx(1.0)


def test_few_seeds_are_flagged() -> None:
    result = classical_model(HAND, HAND_REALIZATIONS)
    assert result.n_seeds == 4
    assert any("only 4 seed item(s)" in w for w in result.warnings)


def test_missing_seed_answer_lowers_n_for_everyone() -> None:
    """Rule: score on the answered seeds; every statistic uses N = the fewest seeds answered (EXCALIBUR)."""
    data = HAND[~((HAND["expert"] == "C") & (HAND["item"] == "s4"))]
    table = calibration_scores(data, HAND_REALIZATIONS).set_index("expert")
    assert table["n_seeds"].to_dict() == {"A": 4, "B": 4, "C": 3}
    assert (table["n_effective"] == 3).all()
    # A's relative frequencies are still over its 4 answers, but N = 3.
    assert table.loc["A", "statistic"] == pytest.approx(2 * 3 * math.log(10 / 9), rel=1e-12)
    # C without s4: counts (0, 0, 3, 0), s = (0, 0, 1, 0).
    assert table.loc["C", "statistic"] == pytest.approx(2 * 3 * math.log(1 / 0.45), rel=1e-12)
    result = classical_model(data, HAND_REALIZATIONS)
    assert result.n_effective == 3
    assert any("C (3 of 4)" in w for w in result.warnings)


def test_identical_quantiles_are_refused() -> None:
    data = HAND.copy()
    data.loc[(data["expert"] == "A") & (data["item"] == "s2"), "q50"] = 0
    with pytest.raises(ValueError, match=r"expert A, item s2: quantiles must be strictly increasing"):
        classical_model(data, HAND_REALIZATIONS)


def test_loguniform_needs_positive_values() -> None:
    with pytest.raises(
        ValueError, match=r"item s2 has a log-uniform background but an expert gave a quantile <= 0"
    ):
        classical_model(HAND, HAND_REALIZATIONS, CookeSettings(background={"s2": "loguniform"}))
    positive = HAND[HAND["item"] == "s4"]
    with pytest.raises(ValueError, match=r"realization is -1; it must be positive"):
        classical_model(positive, {"s4": -1}, CookeSettings(background="loguniform"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d, r: (d.drop(columns="q95"), r), "lack the column"),
        (lambda d, r: (d, {}), "needs seed items"),
        (lambda d, r: (d, {**r, "zz": 1}), "no expert assessed"),
        (lambda d, r: (pd.concat([d, d.iloc[:1]]), r), "more than one row"),
        (lambda d, r: (d.assign(q50=d["q50"].where(d.index != 0)), r), "gave only some quantiles"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(mutate, message) -> None:
    data, realizations = mutate(HAND.copy(), dict(HAND_REALIZATIONS))
    with pytest.raises(ValueError, match=message):
        classical_model(data, realizations)


def test_a_fixed_cutoff_above_every_calibration_is_refused() -> None:
    with pytest.raises(ValueError, match="above every expert's calibration score"):
        classical_model(HAND, HAND_REALIZATIONS, CookeSettings(cutoff=0.9))


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        CookeSettings(levels=(0.5, 0.05, 0.95))
    with pytest.raises(ValueError, match="background"):
        CookeSettings(background="normal")
    with pytest.raises(ValueError, match="on_quantile"):
        CookeSettings(on_quantile="middle")


def test_results_dict_is_json_and_records_the_settings(tmp_path) -> None:
    result = classical_model(HAND, HAND_REALIZATIONS, CookeSettings(on_quantile="upper", overshoot=0.2))
    document = results_dict(result)
    text = json.dumps(document, allow_nan=False)
    settings = json.loads(text)["settings"]
    assert settings["levels"] == [0.05, 0.5, 0.95]
    assert settings["overshoot"] == 0.2
    assert settings["on_quantile"] == "upper" and "bin above" in settings["on_quantile_rule"]
    assert settings["cutoff"] == "optimize" and "maximizes" in settings["cutoff_rule"]
    assert "fewest seed items" in settings["missing_answers"]
    assert (
        document["decision_makers"][2]["cutoff"] is None
    )  # the equal-weight DM has no cut-off (NaN -> None)
    figure = plot_ranges(result, tmp_path / "ranges.png")
    assert isinstance(figure, Figure)
    assert (tmp_path / "ranges.png").read_bytes()[:4] == b"\x89PNG"
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 4  # one panel per seed item


# --------------------------------------------------------------------------------------------------------------
# Calibration scores that are mathematically equal but differ in the last bits (issue 13). With p = (.05, .45,
# .45, .05) the bin counts (0, 1, 1, 2) and (2, 1, 1, 0) give the same I(s, p), but summing the terms in a
# different order leaves the two scores 2.4e-16 apart. Compared with a plain >=, the optimized cut-off lands on
# the larger one and the other expert is cut off, although the model cannot tell the two apart (the TU Delft
# studies Hemophilia, EffusiveErupt and p6r have such pairs; their data are not in this repository).

TIED = pd.DataFrame(
    [
        # expert, item, q05, q50, q95             bin of the realization (0 below q05 ... 3 above q95)
        ("X", "s1", 8, 12, 16),  # 10 -> 1
        ("X", "s2", 9, 13, 17),  # 20 -> 3
        ("X", "s3", 25, 29, 33),  # 30 -> 2
        ("X", "s4", 27, 31, 35),  # 40 -> 3     counts (0, 1, 1, 2)
        ("Y", "s1", 9, 13, 17),  # 10 -> 1
        ("Y", "s2", 26, 30, 34),  # 20 -> 0
        ("Y", "s3", 24, 28, 32),  # 30 -> 2
        ("Y", "s4", 42, 46, 50),  # 40 -> 0     counts (2, 1, 1, 0)
    ],
    columns=["expert", "item", "q05", "q50", "q95"],
)
TIED_REALIZATIONS = {"s1": 10, "s2": 20, "s3": 30, "s4": 40}


def test_equal_calibrations_differing_by_rounding_fall_on_the_same_side_of_the_cutoff() -> None:
    table = calibration_scores(TIED, TIED_REALIZATIONS).set_index("expert")
    assert table.loc["X", ["below_q05", "q05_q50", "q50_q95", "above_q95"]].tolist() == [0, 1, 1, 2]
    assert table.loc["Y", ["below_q05", "q05_q50", "q50_q95", "above_q95"]].tolist() == [2, 1, 1, 0]
    x, y = table.loc["X", "calibration"], table.loc["Y", "calibration"]
    assert x != y and math.isclose(x, y, rel_tol=1e-14)  # the case only tests something while the bits differ
    for settings in (CookeSettings(), CookeSettings(weights="item"), CookeSettings(cutoff=float(max(x, y)))):
        result = classical_model(TIED, TIED_REALIZATIONS, settings)
        experts = result.experts.set_index("expert")
        assert experts["above_cutoff"].tolist() == [True, True], settings
        assert (experts["weight"] > 0).all(), settings
        assert result.decision_makers.set_index("dm").loc["performance_global", "n_experts_weighted"] == 2
        assert (result.item_weights["weight"] > 0).all(), settings
    # The expert order in the data does not decide who is cut off.
    flipped = classical_model(TIED.iloc[::-1].reset_index(drop=True), TIED_REALIZATIONS)
    assert flipped.experts.set_index("expert")["weight"].to_dict() == pytest.approx(
        classical_model(TIED, TIED_REALIZATIONS).experts.set_index("expert")["weight"].to_dict()
    )


def test_the_calibration_tolerance_is_recorded() -> None:
    settings = results_dict(classical_model(TIED, TIED_REALIZATIONS))["settings"]
    assert settings["calibration_rel_tol"] == 1e-9
    assert "relative tolerance" in settings["cutoff_rule"] and "1e-09" in settings["cutoff_rule"]
    fixed = CookeSettings(cutoff=0.01).as_dict()
    assert "relative tolerance" in fixed["cutoff_rule"]


# --------------------------------------------------------------------------------------------------------------
# Published study 1: "FCEP Error" (flight crew error probabilities), TU Delft data base: 5 experts, 3 quantiles
# (5/50/95), log-uniform background, 8 seed items (cases/FCEP Error.dtt and .rls in the anduryl repository).
# Expert C's 95 % quantile of ManOccRepUK equals its realization (52): the binning rule matters here.

FCEP_ASSESSMENTS = """expert,item,q05,q50,q95
C,Fires,10,50,500
C,UnstableApp,20,50,100
C,Impairment,2,5,10
C,Commercialjets,10000,25000,40000
C,PassUpBA,30000000,45000000,60000000
C,ManOccRepUK,12,26,52
C,HardLand,0.2,2,5
C,ShtDwnRate,1e-6,5e-6,1e-4
A,Fires,5,500,5000
A,UnstableApp,5,20,200
A,Impairment,0.01,1,100
A,Commercialjets,4000,8000,20000
A,PassUpBA,300000,1000000,1800000
A,ManOccRepUK,11,80,500
A,HardLand,0.01,0.0357143,0.1
A,ShtDwnRate,5e-5,2.5e-4,1e-3
D,Fires,15,35,75
D,UnstableApp,10,25,60
D,Impairment,0.003,0.02,0.06
D,Commercialjets,9000,10000,15000
D,PassUpBA,2500000,4200000,7500000
D,ManOccRepUK,50,300,500
D,HardLand,0.1,0.5,0.8
D,ShtDwnRate,1e-6,1e-4,1e-3
B,Fires,2.5,25,250
B,UnstableApp,1,10,100
B,Impairment,0.0025,0.025,0.25
B,Commercialjets,7500,15000,20000
B,PassUpBA,1000000,2500000,5000000
B,ManOccRepUK,10,100,1000
B,HardLand,0.025,0.1,0.25
B,ShtDwnRate,1e-7,1e-6,1e-5
E,Fires,45,133,1000
E,UnstableApp,2,10,100
E,Impairment,0.00044,0.0044,0.044
E,Commercialjets,12500,15000,17500
E,PassUpBA,5000000,8075000,12000000
E,ManOccRepUK,40,80,120
E,HardLand,0.001,0.003,0.01
E,ShtDwnRate,5.6e-6,1.7e-5,3.3e-5
"""
FCEP_REALIZATIONS = {
    "Fires": 3.67,
    "UnstableApp": 5.26,
    "Impairment": 0.0567,
    "Commercialjets": 10840,
    "PassUpBA": 2699000,
    "ManOccRepUK": 52,
    "HardLand": 5.4,
    "ShtDwnRate": 2e-6,
}
# anduryl 1.2.2: (calibration, information on the seeds) per expert.
FCEP_EXPERTS = {
    "C": (0.001547804084, 0.9689295237),
    "A": (0.02650799353, 0.4991495163),
    "D": (0.1850490692, 1.02934914),
    "B": (0.6635835601, 0.5740100064),
    "E": (5.11511177e-05, 1.059923182),
}
FCEP_ALPHA = 0.6635835601068713  # anduryl's optimized cut-off (global and item weights)
# anduryl 1.2.2: (calibration, information on the seeds) of each DM.
FCEP_DMS = {
    "global_opt": (0.6635835601, 0.5740100064),
    "global_nonopt": (0.1447048778, 0.3868115724),
    "equal": (0.2224693596, 0.09945347812),
}
# EXCALIBUR (anduryl test/data/Excalibur.csv, row FCEP): Sa, Inf, Comb of each DM.
FCEP_EXCALIBUR = {
    "equal": (0.22, 0.10, 0.02),
    "global_nonopt": (0.14, 0.39, 0.06),
    "global_opt": (0.66, 0.57, 0.38),
    "item_opt": (0.66, 0.57, 0.38),
}

# Published study 2: "CoveringKids" (children's health insurance, RWJF), TU Delft data base: 5 experts,
# 5 quantiles (5/25/50/75/95), uniform background, 10 seed items (cases/CoveringKids.dtt and .rls).
CK_ASSESSMENTS = """expert,item,q05,q25,q50,q75,q95
Ex1,%ChMetUninsd,2,4,7,10,20
Ex1,%ChNmetUnins,4,6,10,15,30
Ex1,%ChMetPaHealth,10,15,30,40,60
Ex1,%ChNmetPaHealt,3,10,15,30,50
Ex1,%UnFamNoKn,5,30,50,55,60
Ex1,%famnoPay,3,20,65,75,90
Ex1,%UnChApp,10,20,30,50,70
Ex1,%PaChNHI/Oh,0.5,0.6,0.66,0.75,0.9
Ex1,AdBaWait,1,1.5,2,3,5
Ex1,%CHIPComp,2,10,15,25,50
Ex2,%ChMetUninsd,5,6,8,9,10
Ex2,%ChNmetUnins,10,15,20,22,25
Ex2,%ChMetPaHealth,10,15,30,35,40
Ex2,%ChNmetPaHealt,25,30,40,45,50
Ex2,%UnFamNoKn,10,13,15,18,20
Ex2,%famnoPay,25,35,50,60,75
Ex2,%UnChApp,10,12,15,16,20
Ex2,%PaChNHI/Oh,0.5,0.75,1,1.25,2
Ex2,AdBaWait,1,2.5,3,4,5
Ex2,%CHIPComp,5,8,10,12,15
Ex3,%ChMetUninsd,4,5,6,7,8
Ex3,%ChNmetUnins,6,7,8,9,10
Ex3,%ChMetPaHealth,25,28,37,42,50
Ex3,%ChNmetPaHealt,28,31,33,34,35
Ex3,%UnFamNoKn,10,25,50,70,90
Ex3,%famnoPay,25,37,50,70,90
Ex3,%UnChApp,10,15,25,30,50
Ex3,%PaChNHI/Oh,0.33,0.4,0.5,0.571,1
Ex3,AdBaWait,0.75,1,1.5,1.75,2
Ex3,%CHIPComp,5,10,15,20,30
Ex4,%ChMetUninsd,2,4,5,5.5,6
Ex4,%ChNmetUnins,1,2,3,5,7
Ex4,%ChMetPaHealth,24,29,36,39,48
Ex4,%ChNmetPaHealt,20,23,28,33,36
Ex4,%UnFamNoKn,25,40,60,68,80
Ex4,%famnoPay,15,40,50,60,80
Ex4,%UnChApp,5,12,16,25,30
Ex4,%PaChNHI/Oh,0.1,0.3,0.5,0.6,0.8
Ex4,AdBaWait,0.25,0.5,0.666,1.333,1.666
Ex4,%CHIPComp,6,12,18,20,24
Ex5,%ChMetUninsd,1,3,7,9,10
Ex5,%ChNmetUnins,5,7,15,17,20
Ex5,%ChMetPaHealth,5,10,20,25,30
Ex5,%ChNmetPaHealt,3,5,10,20,25
Ex5,%UnFamNoKn,1,2,5,7,10
Ex5,%famnoPay,1,10,20,25,30
Ex5,%UnChApp,1,7,10,15,20
Ex5,%PaChNHI/Oh,0.143,0.167,0.2,0.5,1
Ex5,AdBaWait,0.167,0.417,0.75,0.833,1
Ex5,%CHIPComp,5,10,14,20,30
"""
CK_REALIZATIONS = {
    "%ChMetUninsd": 3.9,
    "%ChNmetUnins": 6.2,
    "%ChMetPaHealth": 37.9,
    "%ChNmetPaHealt": 35.9,
    "%UnFamNoKn": 29.6,
    "%famnoPay": 35.8,
    "%UnChApp": 23.8,
    "%PaChNHI/Oh": 1.15,
    "AdBaWait": 1.346,
    "%CHIPComp": 15.32,
}
CK_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
CK_EXPERTS = {
    "Ex1": (0.7561706337, 0.3772478375),
    "Ex2": (0.05553566824, 0.8722281813),
    "Ex3": (0.2109477546, 0.9069484995),
    "Ex4": (0.619348467, 0.8925972404),
    "Ex5": (6.231593968e-06, 1.030459839),
}
CK_ALPHA = 0.6193484669741176
CK_DMS = {
    "global_opt": (0.7204114996, 0.4308808865),
    "item_opt": (0.7204114996, 0.5060853432),
    "global_nonopt": (0.7204114996, 0.3827953042),
    "equal": (0.6282860247, 0.2742787563),
}
CK_EXCALIBUR = {
    "equal": (0.63, 0.27, 0.17),
    "global_nonopt": (0.72, 0.38, 0.28),
    "global_opt": (0.72, 0.43, 0.31),
    "item_opt": (0.72, 0.51, 0.36),
    "best_expert": (0.62, 0.89, 0.55),
}

RUNS = {  # label -> (settings overrides, DM name in the result)
    "global_opt": ({"cutoff": "optimize", "weights": "global"}, "performance_global"),
    "item_opt": ({"cutoff": "optimize", "weights": "item"}, "performance_item"),
    "global_nonopt": ({"cutoff": 0.0}, "performance_global"),
    "equal": ({}, "equal"),
}


def _study(name: str) -> tuple[pd.DataFrame, dict[str, float], dict]:
    if name == "FCEP":
        return pd.read_csv(StringIO(FCEP_ASSESSMENTS)), FCEP_REALIZATIONS, {"background": "loguniform"}
    return pd.read_csv(StringIO(CK_ASSESSMENTS)), CK_REALIZATIONS, {"levels": CK_LEVELS}


@pytest.mark.parametrize(
    ("name", "expected_experts", "alpha"), [("FCEP", FCEP_EXPERTS, FCEP_ALPHA), ("CK", CK_EXPERTS, CK_ALPHA)]
)
def test_expert_scores_match_anduryl(name, expected_experts, alpha) -> None:
    data, realizations, settings = _study(name)
    result = classical_model(data, realizations, CookeSettings(**settings))
    experts = result.experts.set_index("expert")
    for expert, (calibration, information) in expected_experts.items():
        assert experts.loc[expert, "calibration"] == pytest.approx(calibration, rel=1e-6)
        assert experts.loc[expert, "information_seeds"] == pytest.approx(information, rel=1e-6)
    assert result.cutoff == pytest.approx(alpha, rel=1e-9)
    assert result.cutoff_item == pytest.approx(alpha, rel=1e-9)
    # Normalized performance weights: calibration x information of the experts at or above alpha.
    scores = {e: c * i for e, (c, i) in expected_experts.items() if c >= alpha * (1 - 1e-9)}
    for expert in expected_experts:
        expected = scores.get(expert, 0.0) / sum(scores.values())
        assert experts.loc[expert, "weight"] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_covering_kids_performance_weights() -> None:
    """Two experts pass the optimized cut-off: Ex1 and Ex4 share the weight 0.340 : 0.660."""
    data, realizations, settings = _study("CK")
    weights = classical_model(data, realizations, CookeSettings(**settings)).experts.set_index("expert")[
        "weight"
    ]
    ex1, ex4 = 0.7561706337 * 0.3772478375, 0.619348467 * 0.8925972404
    assert weights.to_dict() == pytest.approx(
        {"Ex1": ex1 / (ex1 + ex4), "Ex2": 0, "Ex3": 0, "Ex4": ex4 / (ex1 + ex4), "Ex5": 0}, rel=1e-6
    )
    assert round(weights["Ex1"], 3) == 0.340 and round(weights["Ex4"], 3) == 0.660


@pytest.mark.parametrize(
    ("name", "anduryl", "excalibur"), [("FCEP", FCEP_DMS, FCEP_EXCALIBUR), ("CK", CK_DMS, CK_EXCALIBUR)]
)
def test_decision_makers_match_anduryl_and_excalibur(name, anduryl, excalibur) -> None:
    data, realizations, base = _study(name)
    for label, (overrides, dm_name) in RUNS.items():
        result = classical_model(data, realizations, CookeSettings(**base, **overrides))
        dm = result.decision_makers.set_index("dm").loc[dm_name]
        if label in anduryl:
            calibration, information = anduryl[label]
            assert dm["calibration"] == pytest.approx(calibration, rel=1e-6), label
            assert dm["information_seeds"] == pytest.approx(information, rel=1e-6), label
        published = excalibur[label]
        ours = (dm["calibration"], dm["information_seeds"], dm["calibration"] * dm["information_seeds"])
        for value, table in zip(ours, published, strict=True):
            assert abs(value - table) <= 0.005 + 1e-9, (label, ours, published)
    if "best_expert" in excalibur:
        experts = classical_model(data, realizations, CookeSettings(**base)).experts
        best = experts.loc[experts["score"].idxmax()]
        ours = (best["calibration"], best["information_seeds"], best["score"])
        for value, table in zip(ours, excalibur["best_expert"], strict=True):
            assert abs(value - table) <= 0.005 + 1e-9


def test_fcep_binning_rule_changes_expert_c() -> None:
    """C's 95 % quantile equals the ManOccRepUK realization; anduryl/EXCALIBUR count it in the bin below."""
    data, realizations, base = _study("FCEP")
    lower = calibration_scores(data, realizations, CookeSettings(**base)).set_index("expert")
    upper = calibration_scores(data, realizations, CookeSettings(**base, on_quantile="upper")).set_index(
        "expert"
    )
    assert lower.loc["C", ["below_q05", "q05_q50", "q50_q95", "above_q95"]].tolist() == [4, 2, 1, 1]
    assert upper.loc["C", ["below_q05", "q05_q50", "q50_q95", "above_q95"]].tolist() == [4, 2, 0, 2]
    assert lower.loc["C", "calibration"] == pytest.approx(FCEP_EXPERTS["C"][0], rel=1e-6)
    assert upper.loc["C", "calibration"] == pytest.approx(stats.chi2.sf(upper.loc["C", "statistic"], 3))
    assert upper.loc["C", "calibration"] < lower.loc["C", "calibration"] / 10
