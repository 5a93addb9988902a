"""The robustness table (issue 15): the reported DM with one expert or one seed left out, on the TU Delft cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from elicit.analysis.cooke import CookeSettings, classical_model, robustness
from tests.analysis.test_cooke import _study


def _dm(result) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    rows = result.decision_makers
    row = rows[rows["dm"] == result.dm].iloc[0]
    return float(row["calibration"]), float(row["information_seeds"])


@pytest.mark.parametrize("name", ["FCEP", "CK"])
def test_each_row_is_the_model_run_without_that_expert_or_seed(name: str) -> None:
    data, realizations, options = _study(name)
    settings = CookeSettings(**options)
    table = robustness(data, realizations, settings)
    experts = sorted(str(e) for e in data["expert"].unique())
    seeds = [item for item in data["item"].unique() if item in realizations]
    assert list(table["removed"]) == ["none"] + ["expert"] * len(experts) + ["seed"] * len(seeds)
    assert list(table["id"]) == ["", *experts, *seeds]
    full = _dm(classical_model(data, realizations, settings))
    first = table.iloc[0]
    assert (first["calibration"], first["information_seeds"]) == pytest.approx(full)
    assert first["calibration_change"] == 0 and first["information_change"] == 0
    for expert in experts[:3]:
        row = table[(table["removed"] == "expert") & (table["id"] == expert)].iloc[0]
        alone = _dm(classical_model(data[data["expert"] != expert], realizations, settings))
        assert (row["calibration"], row["information_seeds"]) == pytest.approx(alone)
        assert row["calibration_change"] == pytest.approx((alone[0] - full[0]) / full[0])
    seed = seeds[0]
    row = table[(table["removed"] == "seed") & (table["id"] == seed)].iloc[0]
    without = {k: v for k, v in realizations.items() if k != seed}
    alone = _dm(classical_model(data[data["item"] != seed], without, settings))
    assert (row["calibration"], row["information_seeds"]) == pytest.approx(alone)
    # leaving a seed out changes N in the calibration statistic, so the table is not constant
    assert table["calibration"].nunique() > 1
    assert all(math.isfinite(v) for v in table["information_seeds"])


def test_a_panel_of_two_experts_and_one_seed_has_only_the_full_run() -> None:
    data = pd.DataFrame(
        {
            "expert": ["a", "b", "a", "b"],
            "item": ["s1", "s1", "t1", "t1"],
            "q05": [1.0, 2.0, 1.0, 2.0],
            "q50": [5.0, 6.0, 5.0, 6.0],
            "q95": [9.0, 12.0, 9.0, 12.0],
        }
    )
    table = robustness(data, {"s1": 5.5})
    assert list(table["removed"]) == ["none"]
