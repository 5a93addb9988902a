"""Fleiss' kappa and Krippendorff's nominal alpha on categorical items (issue 16), against published values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa

from elicit.analysis import run_analysis
from elicit.analysis.agreement import categorical_agreement
from tests.analysis.conftest import build_codebook, build_data, write_export

# Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological Bulletin 76(5),
# 378-382, Table 1: 30 patients, each diagnosed by 6 psychiatrists into 5 categories (depression, personality
# disorder, schizophrenia, neurosis, other); cell = number of psychiatrists giving that diagnosis. Published:
# kappa = .430.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
        [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
        [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
        [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
    ]
)  # fmt: skip
DIAGNOSES = ("depression", "personality", "schizophrenia", "neurosis", "other")


def _as_answers(counts: np.ndarray) -> pd.DataFrame:
    """The table as answers: one row per rater slot (6), one column per patient, a diagnosis code per cell.

    Fleiss' kappa does not depend on which rater gave which answer, so the counts are dealt out in order.
    """
    columns = {}
    for patient, row in enumerate(counts):
        codes = [DIAGNOSES[j] for j, count in enumerate(row) for _ in range(count)]
        columns[f"patient_{patient + 1}"] = codes
    return pd.DataFrame(columns)


def test_fleiss_1971_table_1_kappa() -> None:
    assert FLEISS_1971.sum(axis=1).tolist() == [6] * 30  # typed in right: 6 ratings per patient
    assert fleiss_kappa(FLEISS_1971, method="fleiss") == pytest.approx(0.430, abs=5e-4)
    result = categorical_agreement(_as_answers(FLEISS_1971), DIAGNOSES, "study")
    assert result.fleiss_kappa == pytest.approx(0.430, abs=5e-4)
    assert (result.n_raters, result.n_raters_complete) == (6, 6)
    # By hand from the table: column totals 26, 26, 30, 55, 43 of 180 ratings, so Pe = sum p_j^2 = .2199; P is
    # the mean over patients of sum n_ij (n_ij - 1) / (6 * 5) = 500 / 900 = .5556.
    assert result.chance_agreement == pytest.approx(sum((c / 180) ** 2 for c in (26, 26, 30, 55, 43)))
    assert result.observed_agreement == pytest.approx(500 / 900)
    assert result.fleiss_kappa == pytest.approx(
        (500 / 900 - result.chance_agreement) / (1 - result.chance_agreement)
    )


# Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for Communication
# Departmental Papers 43. Section C: 4 observers, 12 units, missing values; nominal alpha = .743. Here with the
# values written as choice codes (letters), as a categorical item's answers are.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_krippendorff_2011_nominal_alpha_on_choice_codes() -> None:
    letters = {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}
    codes = pd.DataFrame([[letters.get(v) if v else None for v in row] for row in KRIPPENDORFF_2011])
    result = categorical_agreement(codes, list("abcde"), "study")
    assert result.krippendorff_alpha == pytest.approx(0.743, abs=5e-4)
    # Every observer left some unit out: alpha uses all answers, kappa needs complete raters and says so.
    assert (result.n_raters, result.n_raters_complete) == (4, 0)
    assert math.isnan(result.fleiss_kappa) and "fewer than two experts" in result.kappa_note


def test_no_kappa_without_variation_nor_below_k_and_undeclared_codes_are_reported() -> None:
    same = pd.DataFrame({"q1": ["a"] * 5, "q2": ["a"] * 5})
    result = categorical_agreement(same, ["a", "b"], "UK")
    assert math.isnan(result.fleiss_kappa) and "chance agreement is 1" in result.kappa_note
    few = categorical_agreement(
        pd.DataFrame({"q1": list("abab"), "q2": list("abba")}), ["a", "b"], "UK", small=5
    )
    assert math.isnan(few.fleiss_kappa) and "the study's k" in few.kappa_note
    odd = categorical_agreement(pd.DataFrame({"q1": list("abxab"), "q2": list("abbab")}), ["a", "b"], "UK")
    assert any("outside the declared choices" in w for w in odd.warnings)
    assert odd.n_raters_complete == 4


CHOICES = [{"code": c, "label": c.title()} for c in ("trade", "security", "culture")]


def _codebook() -> dict:
    codebook = build_codebook(("UK", "PK"))
    codebook["study"] = {**codebook["study"], "k_threshold": 5}
    for number in (1, 2, 3):
        codebook["items"].append(
            {
                "id": f"driver_{number}",
                "type": "single_choice",
                "analysis": "nominal",
                "text": f"What drives case {number}?",
                "choices": CHOICES,
                "columns": [f"driver_{number}"],
                "privacy": "none",
            }
        )
    codebook["items"].append(  # the same choices, but it describes the expert: not a target
        {
            "id": "own_field",
            "type": "dropdown",
            "analysis": "nominal",
            "text": "Your field",
            "choices": CHOICES,
            "columns": ["own_field"],
            "privacy": "quasi_identifier",
        }
    )
    return codebook


def _answers(pk_answering: int) -> pd.DataFrame:
    data = build_data({"UK": 9, "PK": 8}, seed=4)
    rng = np.random.default_rng(21)
    truth = {"driver_1": "trade", "driver_2": "security", "driver_3": "culture"}
    for column, answer in truth.items():  # UK agrees on the drivers (2 in 9 differ), PK answers at random
        uk = np.where(rng.random(9) < 0.2, "trade", answer)
        pk = rng.choice(["trade", "security", "culture"], 8)
        data[column] = pd.Series([*uk, *pk], dtype=object)
    data["own_field"] = rng.choice(["trade", "security", "culture"], len(data)).astype(object)
    pk_rows = data.index[data["cohort"] == "PK"]
    data.loc[pk_rows[pk_answering:], ["driver_1", "driver_2", "driver_3"]] = None
    return data


def test_the_report_gives_kappa_per_cohort_under_k(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", _answers(pk_answering=8), _codebook())
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    (group,) = results["categorical_agreement"]["sets"]
    assert group["items"] == [
        "driver_1",
        "driver_2",
        "driver_3",
    ]  # own_field (a quasi-identifier) is no target
    assert set(group["by_cohort"]) == {"UK", "PK"}
    uk, pk = group["by_cohort"]["UK"], group["by_cohort"]["PK"]
    assert uk["fleiss_kappa"] > pk["fleiss_kappa"] and uk["krippendorff_alpha"] > 0.3
    assert uk["krippendorff_level"] == "nominal"
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = html.split('id="categorical-agreement"')[1].split("</section>")[0]
    assert "Fleiss" in section and '<td class="text">UK</td>' in section


def test_a_cohort_below_k_on_the_items_is_left_out(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", _answers(pk_answering=3), _codebook())
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    (group,) = results["categorical_agreement"]["sets"]
    assert set(group["by_cohort"]) == {"UK"}
    assert any("categorical agreement" in note for note in results["meta"]["notes"])
    text = json.dumps(results["categorical_agreement"])
    assert '"PK"' not in text
