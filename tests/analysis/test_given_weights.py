"""The linear pool with researcher-given weights (``elicit analyze --weights FILE``).

The export is ``test_judgement``'s (a quantile, a roulette and a four-point item; UK 8, PK 7 experts). Each pooled
quantile is checked against fitting the folder's ``data.csv`` directly and pooling with the file's weights; the
file's problems come back as ``file:line: message`` with exit status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask.testing import FlaskCliRunner

from elicit.analysis import run_analysis
from elicit.analysis.given_weights import WeightsError, read_weights
from elicit.stats.distributions import fit_judgement
from elicit.stats.pooling import linear_pool
from tests.analysis.test_judgement import _export, _points


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _given(data: pd.DataFrame, item: str, group: str, weights: dict[str, float]) -> list[float]:
    rows = data if group == "all" else data[data["cohort"] == group]
    lower = 0.0 if item == "visits" else None
    fits = [fit_judgement(_points(item, row), lower=lower).best for _, row in rows.iterrows()]
    raw = [weights.get(r, 0.0) for r in rows["respondent"]]
    return list(linear_pool([f.dist for f in fits], raw).quantiles([0.05, 0.5, 0.95]))


@pytest.fixture
def weighted(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    folder = _export(tmp_path, {"UK": 8, "PK": 7})
    return folder, pd.read_csv(folder / "data.csv")


def test_the_pool_uses_the_files_weights_and_gives_the_others_zero(weighted, tmp_path: Path) -> None:
    folder, data = weighted
    ids = list(data["respondent"])
    every = {ids[0]: 3.0, ids[1]: 1.0, ids[9]: 2.0, ids[10]: 0.0}  # UK: R0001, R0002; PK: R0010, R0011
    own = {ids[2]: 1.0, ids[12]: 4.0}  # the roulette item has its own
    lines = ["respondent,weight,item"]
    lines += [f"{r},{w}," for r, w in every.items()]
    lines += [f"{r},{w},share" for r, w in own.items()]
    weights = _write(tmp_path / "weights.csv", "\n".join(lines) + "\n")
    results = run_analysis(folder, tmp_path / "report.html", tmp_path / "results.json", weights=weights)
    section = results["judgements"]
    assert section["pools"]["linear_given"] == "linear pool, researcher-given weights"
    given = section["given_weights"]
    assert given["file"] == "weights.csv" and len(given["sha256"]) == 64
    assert given["items_with_own_weights"] == ["share"] and "weight 0" in given["method"]
    for item, used in (("exports_change", every), ("visits", every), ("share", own)):
        block = section["items"][item]
        pooled = {r["cohort"]: r for r in block["pooled"] if r["pool"] == "linear_given"}
        assert set(pooled) == {"all", "UK", "PK"}
        for group, row in pooled.items():
            expected = _given(data, item, group, used)
            np.testing.assert_allclose([row["q05"], row["q50"], row["q95"]], expected, rtol=1e-6)
            recorded = block["weights"]["linear_given"][group]
            members = set(
                data["respondent"] if group == "all" else data.query("cohort == @group")["respondent"]
            )
            assert set(recorded) == members and sum(recorded.values()) == pytest.approx(1)
            total = sum(used.get(r, 0.0) for r in members)
            assert {r: w for r, w in recorded.items() if w} == {
                r: pytest.approx(used[r] / total) for r in members if used.get(r)
            }
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "respondents not in the file have weight 0" in html and "weights.csv" in html


def test_a_group_with_only_zero_weights_has_no_given_pool(weighted, tmp_path: Path) -> None:
    folder, data = weighted
    uk = data.query("cohort == 'UK'")["respondent"].iloc[0]
    weights = _write(tmp_path / "w.csv", f"respondent,weight\n{uk},1\n")
    results = run_analysis(folder, tmp_path / "r.html", weights=weights)
    pooled = results["judgements"]["items"]["exports_change"]["pooled"]
    assert {r["cohort"] for r in pooled if r["pool"] == "linear_given"} == {"all", "UK"}
    row = next(r for r in pooled if r["pool"] == "linear_given" and r["cohort"] == "UK")
    expected = _given(data, "exports_change", "UK", {uk: 1.0})
    np.testing.assert_allclose([row["q05"], row["q50"], row["q95"]], expected, rtol=1e-6)


def test_without_a_file_there_is_no_given_pool(weighted, tmp_path: Path) -> None:
    folder, _ = weighted
    results = run_analysis(folder, tmp_path / "r.html")
    assert results["judgements"]["given_weights"] is None
    assert all(
        r["pool"] != "linear_given" for b in results["judgements"]["items"].values() for r in b["pooled"]
    )


def test_experts_of_a_hidden_cohort_are_not_listed_with_their_weights(tmp_path: Path) -> None:
    folder = _export(tmp_path, {"UK": 8, "PK": 3}, k=5)
    data = pd.read_csv(folder / "data.csv")
    hidden = set(data.query("cohort == 'PK'")["respondent"])
    lines = ["respondent,weight", *(f"{r},{i + 1}" for i, r in enumerate(data["respondent"]))]
    weights = _write(tmp_path / "w.csv", "\n".join(lines) + "\n")
    results = run_analysis(folder, tmp_path / "r.html", tmp_path / "r.json", weights=weights)
    text = (tmp_path / "r.json").read_text(encoding="utf-8") + (tmp_path / "r.html").read_text(
        encoding="utf-8"
    )
    assert not any(f'"{r}"' in text or f">{r}<" in text for r in hidden)
    for block in results["judgements"]["items"].values():
        assert "PK" not in block["weights"]["linear_given"]


RESPONDENTS = {"R0001", "R0002", "R0003"}
ITEMS = {"exports_change", "share"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("respondent,weight\nR0001,1\nR9999,2\n", 3, "respondent 'R9999' is not in the export's data"),
        ("respondent,weight\nR0001,-1\n", 2, "weight -1 must be a finite number of 0 or more"),
        ("respondent,weight\nR0001,inf\n", 2, "weight inf must be a finite number of 0 or more"),
        ("respondent,weight\nR0001,nan\n", 2, "weight nan must be a finite number of 0 or more"),
        ("respondent,weight\nR0001,heavy\n", 2, "weight 'heavy' is not a number"),
        ("respondent,weight\nR0001,0\nR0002,0\n", 2, "the weights (the rows without an item) are all zero"),
        (
            "respondent,weight,item\nR0001,1,share\nR0002,0,exports_change\n",
            3,
            "of item exports_change are all zero",
        ),
        ("respondent,weight\nR0001,1\nR0002,1\nR0001,2\n", 4, "respondent R0001 is given already on line 2"),
        (
            "respondent,weight,item\nR0001,1,share\nR0001,2,share\n",
            3,
            "R0001 for item share is given already",
        ),
        ("respondent,weight,item\nR0001,1,comments\n", 2, "item 'comments' is not a distribution item"),
        ("expert,weight\nR0001,1\n", 1, "missing column(s) respondent"),
        ("respondent,weight,note\nR0001,1,x\n", 1, "unknown column(s) note"),
        ("respondent,weight\n", 1, "holds no weights"),
        ("", 1, "needs a header"),
    ],
)
def test_problems_of_the_file_name_their_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path / "w.csv", text)
    with pytest.raises(WeightsError) as raised:
        read_weights(path, RESPONDENTS, ITEMS)
    first = str(raised.value).splitlines()[0]
    assert first.startswith(f"{path}:{line}: ") and message in first, first


def test_every_problem_is_listed_and_a_good_row_is_kept_apart(tmp_path: Path) -> None:
    path = _write(tmp_path / "w.csv", "respondent,weight\nR0001,1\nR0009,1\n\nR0002,-3\n")
    with pytest.raises(WeightsError) as raised:
        read_weights(path, RESPONDENTS, ITEMS)
    assert [line for line, _ in raised.value.problems] == [3, 5]
    good = read_weights(
        _write(tmp_path / "ok.csv", "\ufeffRespondent, Weight\nR0001,2\nR0002,0.5\n"), RESPONDENTS, ITEMS
    )
    assert dict(good.for_item("share")) == {"R0001": 2.0, "R0002": 0.5}


def test_elicit_analyze_weights(runner: FlaskCliRunner, weighted, tmp_path: Path) -> None:
    folder, data = weighted
    bad = _write(tmp_path / "bad.csv", f"respondent,weight\n{data['respondent'][0]},1\nnobody,1\nR0002,-1\n")
    report = tmp_path / "report.html"
    args: list[Any] = ["analyze", str(folder), "--out", str(report), "--weights"]
    outcome = runner.invoke(args=[*args, str(bad)])
    assert outcome.exit_code == 1 and "Traceback" not in outcome.stderr
    assert outcome.stderr.splitlines() == [
        f"{bad}:3: respondent 'nobody' is not in the export's data",
        f"{bad}:4: weight -1 must be a finite number of 0 or more",
    ]
    assert not report.exists()
    good = _write(tmp_path / "good.csv", f"respondent,weight\n{data['respondent'][0]},1\n")
    outcome = runner.invoke(args=[*args, str(good), "--json", str(tmp_path / "r.json")])
    assert outcome.exit_code == 0, outcome.output
    assert '"linear_given"' in (tmp_path / "r.json").read_text(encoding="utf-8")
    outcome = runner.invoke(args=[*args, str(tmp_path / "missing.csv")])
    assert outcome.exit_code == 1 and "missing.csv: cannot be read" in outcome.stderr
