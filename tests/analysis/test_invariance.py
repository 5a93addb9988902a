"""Measurement checks across answer languages and cohorts: DIF by ordinal logistic regression (Zumbo 1999) on a
seeded simulated panel where one item has DIF and the others none, reliability per group, and the groups too
small to check."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from elicit.analysis.disclosure import Disclosure
from elicit.analysis.export_folder import parse_codebook
from elicit.analysis.invariance import (
    MIN_GROUP,
    _ordered_fit,
    item_dif,
    measurement_checks,
    measurement_results,
)

SEED = 20261216


def panel(builders: SimpleNamespace, n: int = 40, dif: float = 1.6, seed: int = SEED) -> pd.DataFrame:
    """UK and PK experts, half answering in Urdu; eco_2 is answered higher in Urdu at the same economic leverage."""
    data = builders.build_data({"UK": n, "PK": n}, seed=seed, missing_rate=0.0)
    urdu = np.arange(len(data)) % 2 == 1
    data["language"] = np.where(urdu, "ur", "en")
    shifted = np.clip(data.loc[urdu, "eco_2"].astype("float64") + dif, 1, 5).round()
    data["eco_2"] = data["eco_2"].astype("float64")
    data.loc[urdu, "eco_2"] = shifted
    return data


def test_the_counted_patterns_give_the_likelihood_of_every_response() -> None:
    rng = np.random.default_rng(SEED)
    y = rng.integers(1, 6, 120).astype("float64")
    exog = np.column_stack([rng.integers(4, 21, 120), rng.integers(0, 2, 120)]).astype("float64")
    llf, params = _ordered_fit(y, exog)
    full = OrderedModel(y, exog, distr="logit").fit(method="bfgs", disp=False, maxiter=2000)
    assert llf == pytest.approx(full.llf, abs=1e-6)
    assert params == pytest.approx(np.asarray(full.params), abs=1e-3)  # both to the optimiser's tolerance


def test_dif_is_detected_in_the_item_that_has_it_and_not_in_the_others(builders: SimpleNamespace) -> None:
    data = panel(builders)
    book = parse_codebook(builders.build_codebook())
    result = measurement_checks(data, book, Disclosure(5), ["UK", "PK"])
    by_language = {d.item: d for d in result.dif if d.by == "language" and d.scale == "economic"}
    assert set(by_language) == {f"eco_{i}" for i in range(1, 6)}
    assert by_language["eco_2"].detected and by_language["eco_2"].p_holm < 0.01
    assert by_language["eco_2"].log_odds["ur"] > 0 and by_language["eco_2"].groups == ("en", "ur")
    assert not by_language["eco_3"].detected and by_language["eco_3"].p > 0.05
    assert any(
        w.startswith("Item eco_2 may not measure the same in English and Urdu: DIF p ")
        for w in result.warnings
    )
    # Holm within the scale: the adjusted p-values of the five items
    tested = sorted(by_language.values(), key=lambda d: d.p)
    assert tested[0].p_holm == pytest.approx(min(1, 5 * tested[0].p))
    # Reliability per language and per cohort, for every scale
    groups = {(r.by, r.group) for r in result.reliability if r.scale == "economic"}
    assert groups == {("language", "en"), ("language", "ur"), ("cohort", "UK"), ("cohort", "PK")}
    assert all(0 < r.alpha < 1 and r.n == 40 for r in result.reliability if r.scale == "economic")
    # Without the shift nothing is detected in that scale at this seed
    clean = measurement_checks(panel(builders, dif=0.0), book, Disclosure(5), ["UK", "PK"])
    assert not [d for d in clean.dif if d.scale == "economic" and d.by == "language" and d.detected]
    block = measurement_results(result)["scales"]["economic"]
    assert block["dif"]["by_language"]["eco_2"]["detected"] is True
    assert (
        block["reliability"]["by_language"]["ur"]["alpha_ci"][0]
        < block["reliability"]["by_language"]["ur"]["alpha"]
    )


def test_groups_below_the_minimum_or_k_are_not_checked(builders: SimpleNamespace) -> None:
    data = panel(builders, n=12)
    data["language"] = "en"
    data.loc[data.index[:8], "language"] = "ur"  # 8 in Urdu: fewer than MIN_GROUP
    book = parse_codebook(builders.build_codebook())
    result = measurement_checks(data, book, Disclosure(5), ["UK", "PK"])
    assert not [d for d in result.dif if d.by == "language"]
    assert (
        f"economic: DIF by answer language not checked for Urdu: fewer than {MIN_GROUP} respondents with every "
        f"item of the scale (at least {MIN_GROUP}, and the study's k, per group)"
    ) in result.not_checked
    urdu = next(
        r for r in result.reliability if r.by == "language" and r.group == "ur" and r.scale == "economic"
    )
    assert urdu.note == f"not checked: 8 complete respondents (at least {MIN_GROUP} needed)"
    # Under a k of 10, the 8 are hidden, and so is English (it would give them back from all)
    hidden = measurement_checks(data, book, Disclosure(10), ["UK", "PK"])
    notes = {r.group: r.note for r in hidden.reliability if r.by == "language" and r.scale == "economic"}
    assert notes == {
        "ur": "not checked: fewer than k = 10 complete respondents",
        "en": "not checked: its figures would give back a group of fewer than k",
    }
    # One answer language only
    data["language"] = "en"
    single = measurement_checks(data, book, Disclosure(5), ["UK", "PK"])
    assert "Every respondent answered in English: nothing to compare between languages." in single.not_checked


def test_an_item_that_does_not_vary_is_not_checked() -> None:
    assert item_dif([3] * 20, np.arange(20), ["a", "b"] * 10) == {
        "note": "not checked: every answer to the item is the same"
    }
    assert item_dif([1, 2] * 10, [5] * 20, ["a", "b"] * 10) == {
        "note": "not checked: the rest score does not vary"
    }
