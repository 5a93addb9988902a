"""The report and results gain Delphi and Cooke sections when the export holds rounds and seed realizations."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from elicit.analysis import run_analysis


def test_two_rounds_and_seeds_give_consensus_stability_and_cooke(
    tmp_path: Path, builders: SimpleNamespace
) -> None:
    codebook = builders.build_codebook()
    first = builders.build_data({"UK": 12, "PK": 12}, seed=3)
    second = first.copy()
    second["round"] = 2
    rng = np.random.default_rng(5)
    likert = [i["id"] for i in codebook["items"] if i["type"] == "likert"]
    for column in likert:  # a third of the experts move one step towards the median in round 2
        moved = rng.random(len(second)) < 0.33
        values = pd.to_numeric(second[column], errors="coerce")
        second.loc[moved, column] = np.clip(values[moved] + np.sign(3 - values[moved]), 1, 5)
    data = pd.concat([first, second], ignore_index=True)
    quantiles = next(i for i in codebook["items"] if i["type"] == "quantiles")
    seed_id = quantiles["id"]
    quantiles["seed"] = True
    codebook["realizations"] = {seed_id: 15.0}
    folder = builders.write_export(tmp_path / "export", data, codebook)

    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")

    assert results["delphi"]["rounds"] == [1, 2]
    consensus = pd.DataFrame(results["delphi"]["consensus"])
    assert set(consensus["round"]) == {1, 2} and set(likert) <= set(consensus["item"])
    stability = pd.DataFrame(results["delphi"]["stability"])
    everyone = stability[stability["cohort"] == "all"].set_index("item")
    for column in likert:  # the changes were made above, so the table must count exactly them
        before = pd.to_numeric(first[column], errors="coerce")
        after = pd.to_numeric(second[column], errors="coerce")
        paired = before.notna() & after.notna()
        assert everyone.loc[column, "n_paired"] == paired.sum()
        assert everyone.loc[column, "n_changed"] == (before[paired] != after[paired]).sum()
    cooke = results["cooke"]
    assert cooke["settings"]["overshoot"] == 0.1 and cooke["n_seeds"] == 1
    assert len(cooke["experts"]) == 24
    assert abs(sum(e["weight"] for e in cooke["experts"]) - 1) < 1e-9
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="delphi"' in html and 'id="cooke"' in html and "data:image/png;base64," in html
    assert json.loads((tmp_path / "results.json").read_text())["cooke"]["method"] == "cooke_classical_model"
    assert any("seed" in w.lower() or "calibration" in w.lower() for w in results["warnings"])


def test_confidence_weighted_means_by_hand(tmp_path: Path, builders: SimpleNamespace) -> None:
    codebook = builders.build_codebook()
    data = builders.build_data({"UK": 6, "PK": 6}, seed=2, missing_rate=0.0)
    afford = next(i for i in codebook["items"] if i["id"] == "afford")
    afford["note_columns"] = ["afford.confidence"]
    data["afford"] = [1, 2, 3, 4, 5, 5, 2, 2, 2, 4, 4, 4]
    data["afford.confidence"] = [5, 1, 1, 1, 1, None, 2, 2, 2, 2, 2, 2]
    codebook["variables"].append({"name": "afford.confidence", "item": "afford", "part": "confidence"})
    folder = builders.write_export(tmp_path / "export", data, codebook)
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json")
    rows = {(r["item"], r["cohort"]): r for r in results["confidence"]}
    uk = rows[("afford", "UK")]  # (1*5 + 2 + 3 + 4 + 5) / 9 = 19/9; the unrated 5 counts in the mean only
    assert uk["n"] == 6 and uk["n_rated"] == 5
    assert abs(uk["weighted_mean"] - 19 / 9) < 1e-12 and abs(uk["mean"] - 20 / 6) < 1e-12
    assert abs(rows[("afford", "PK")]["weighted_mean"] - 3.0) < 1e-12
