"""Agreement is computed on the items as answered; reverse keying is for scale scores only (issue 16).

Recoding a reverse-keyed item as ``min + max - code`` moves its mean across the scale: a panel that agrees that
the reverse-worded item is low (which is agreeing with the construct) then looks, after recoding, as if it rated
every item alike, and the ICC and Kendall's W, which read differences between items, fall to about zero. The
panel below agrees closely on the items as answered and must not be reported as disagreeing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import analyze, build_results, load_export
from tests.analysis.conftest import LEVERAGES, PREFIX, build_codebook, build_data, write_export

SIZES = {"UK": 8, "PK": 8}


def _agreeing_panel() -> pd.DataFrame:
    """Every expert answers "Agree" (4) to the items and "Disagree" (2) to the reverse-keyed fourth item of each
    scale, give or take one point on a quarter of the answers (seeded)."""
    data = build_data(SIZES, seed=3, missing_rate=0.0)
    rng = np.random.default_rng(16)
    for leverage in LEVERAGES:
        for i in range(1, 6):
            column = f"{PREFIX[leverage]}_{i}"
            base = 2 if i == 4 else 4
            noise = rng.choice([-1, 0, 0, 0, 0, 0, 0, 1], size=len(data))
            data[column] = pd.array(np.clip(base + noise, 1, 5), dtype="Int64")
    return data


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, dict]:
    folder = write_export(
        tmp_path_factory.mktemp("as_answered") / "export", _agreeing_panel(), build_codebook()
    )
    analysis = analyze(load_export(folder))
    return analysis, build_results(analysis)


def test_a_panel_that_agrees_on_the_items_as_answered_is_not_reported_as_disagreeing(
    analysed: tuple[object, dict],
) -> None:
    analysis, _ = analysed
    for cohort in SIZES:
        result = analysis.agreement[cohort]  # type: ignore[attr-defined]
        icc = result.icc.set_index("form")["icc"]
        # As answered: 12 targets near 4 and 3 near 2, little noise -> high consistency and absolute agreement.
        # Reverse-keyed, every target sits near 4 and ICC(C,1) and W fall to about 0 (the old verdict).
        assert icc["ICC3"] > 0.6, (cohort, icc["ICC3"])
        assert icc["ICC2"] > 0.6, (cohort, icc["ICC2"])
        assert result.kendall.w > 0.5, (cohort, result.kendall.w)
        assert result.kendall.p < 0.001
        assert result.krippendorff_alpha > 0.5, (cohort, result.krippendorff_alpha)


def test_scale_scores_are_still_reverse_keyed(analysed: tuple[object, dict]) -> None:
    analysis, _ = analysed
    scores = analysis.scores  # type: ignore[attr-defined]
    for leverage in LEVERAGES:  # 4 on the items and 6 - 2 = 4 on the reverse-keyed one
        assert scores[leverage].mean() == pytest.approx(4.0, abs=0.25)


def test_the_choice_is_stated_in_results_and_report(analysed: tuple[object, dict], tmp_path: Path) -> None:
    analysis, results = analysed
    assert "as answered" in results["meta"]["agreement_design"]
    assert "not reverse-keyed" in results["meta"]["agreement_design"]
    for cohort in SIZES:
        assert results["agreement"][cohort]["keying"] == "as answered"
    from elicit.analysis import render_report

    html = render_report(analysis, results)  # type: ignore[arg-type]
    assert "as answered" in html.split('id="agreement"')[1].split("</section>")[0]
