"""Roulette, four-point and fixed-interval (probabilities) judgements in the interchange files.

SHELF's CSV carries each judgement as its own cumulative points; EXCALIBUR and anduryl carry the quantiles, at
the study's levels, of the expert's best-fitting SHELF distribution. A symmetric four-point answer is converted
by hand: lowest 0, best 10, highest 20 with 90 % confidence are the 5/50/95 % points of a normal with mean 10, so
its quantiles at 5, 50 and 95 % are 0, 10 and 20 (and the normal is the best fit, with a sum of squares of 0).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from scipy import stats

from elicit.analysis.excalibur import read_excalibur
from elicit.exporting.interchange import DEFAULT_LEVELS, distribution_items, quantile_items, write_interchange
from elicit.stats.distributions import fit_judgement
from elicit.stats.judgements import probability_points, roulette_points
from tests.exporting.test_interchange import anduryl_add_data, anduryl_read_excalibur

EDGES = [0, 10, 20, 30, 40]
POINTS = [5, 10, 20]
ITEMS: list[dict[str, Any]] = [
    {
        "id": "growth",
        "type": "quantiles",
        "analysis": "distribution",
        "elicitation": "quantiles",
        "levels": [5, 50, 95],
        "columns": ["growth.q05", "growth.q50", "growth.q95"],
        "seed": True,
    },
    {
        "id": "visits",
        "type": "four_point",
        "analysis": "distribution",
        "elicitation": "four_point",
        "columns": ["visits.low", "visits.best", "visits.high", "visits.confidence"],
        "seed": True,
    },
    {
        "id": "share",
        "type": "roulette",
        "analysis": "distribution",
        "elicitation": "roulette",
        "edges": EDGES,
        "chips": 10,
        "columns": [f"share.b{i}" for i in range(1, 5)],
    },
    {
        "id": "delay",
        "type": "probabilities",
        "analysis": "distribution",
        "elicitation": "probabilities",
        "points": POINTS,
        "lower": 0,
        "columns": ["delay.p1", "delay.p2", "delay.p3"],
    },
    {  # no family applies: a gamma needs every value above the lower bound
        "id": "cost",
        "type": "four_point",
        "analysis": "distribution",
        "elicitation": "four_point",
        "lower": 100,
        "families": ["gamma"],
        "columns": ["cost.low", "cost.best", "cost.high", "cost.confidence"],
    },
]
HEADER = ["respondent", "cohort", "round"] + [c for item in ITEMS for c in item["columns"]]
ROWS = [
    # round 1 is not the final judgement
    [
        "P1",
        "UK",
        "1",
        "1",
        "2",
        "3",
        "1",
        "5",
        "9",
        "80",
        "0",
        "5",
        "5",
        "0",
        "10",
        "50",
        "90",
        "1",
        "2",
        "3",
        "60",
    ],
    [
        "P1",
        "UK",
        "2",
        "1",
        "2",
        "3",
        "0",
        "10",
        "20",
        "90",
        "2",
        "5",
        "3",
        "0",
        "10",
        "50",
        "90",
        "1",
        "2",
        "3",
        "60",
    ],
    [
        "P2",
        "PK",
        "2",
        "2",
        "3",
        "4",
        "2",
        "4",
        "9",
        "70",
        "0",
        "1",
        "6",
        "3",
        "25",
        "60",
        "95",
        "",
        "",
        "",
        "",
    ],
]


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, list[str]]:
    (tmp_path / "data.csv").write_text(
        "\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n", encoding="utf-8"
    )
    codebook = {"study": {"slug": "idea"}, "items": ITEMS, "realizations": {"growth": 2.5, "visits": 11}}
    return tmp_path, write_interchange(tmp_path, codebook)


def _best_quantiles(points: Any, levels: tuple[float, ...], **support: float) -> list[float]:
    best = fit_judgement(points, **support).best
    return [float(q) for q in best.dist.ppf([level / 100 for level in levels])]


def test_items_take_the_studys_levels() -> None:
    items = distribution_items({"items": ITEMS})
    assert [(i.id, i.elicitation, i.levels) for i in items] == [
        ("growth", "quantiles", (5, 50, 95)),
        ("visits", "four_point", (5, 50, 95)),
        ("share", "roulette", (5, 50, 95)),
        ("delay", "probabilities", (5, 50, 95)),
        ("cost", "four_point", (5, 50, 95)),
    ]
    assert [i.id for i in quantile_items({"items": ITEMS})] == ["growth"]
    deciles = [{**ITEMS[0], "levels": [10, 50, 90]}, ITEMS[1]]
    assert distribution_items({"items": deciles})[1].levels == (10, 50, 90)
    assert distribution_items({"items": ITEMS[1:]})[0].levels == DEFAULT_LEVELS


def test_a_four_point_answer_is_converted_and_read_back_by_excalibur(written) -> None:
    folder, names = written
    assert names == [
        "excalibur/idea.dtt",
        "excalibur/idea.rls",
        "anduryl.json",
        "shelf_judgements.csv",
        "interchange.md",
    ]
    case = read_excalibur(folder / names[0], folder / names[1])
    assert case.levels == (0.05, 0.5, 0.95)
    assert case.items == ("growth", "visits", "share", "delay", "cost")
    assert case.realizations == {"growth": 2.5, "visits": 11}
    got = case.assessments.set_index(["expert", "item"])
    # The hand-computed case: the normal through (0, 5 %), (10, 50 %), (20, 95 %).
    assert fit_judgement(probability_points([0, 10, 20], [5, 50, 95])).best.family == "normal"
    np.testing.assert_allclose(got.loc[("P1", "visits")].to_numpy(float), [0, 10, 20], atol=1e-4)
    # An asymmetric one against SHELF's fit computed here (6 significant digits, as EXCALIBUR writes them).
    from elicit.stats.judgements import four_point_points

    expected = _best_quantiles(four_point_points(2, 4, 9, 70), (5, 50, 95))
    np.testing.assert_allclose(got.loc[("P2", "visits")].to_numpy(float), expected, rtol=1e-5)
    assert got.loc[("P1", "growth")].tolist() == [1, 2, 3]  # asked as quantiles: as given
    # No family fits P1's cost, so it is not answered; P2 did not answer cost.
    assert ("P1", "cost") not in got.index and ("P2", "cost") not in got.index
    assert "-9.99500E+0002" in (folder / names[0]).read_text().splitlines()[5]

    parsed = anduryl_read_excalibur(folder / names[0], folder / names[1])
    assert parsed["assessments"]["P2"]["visits"] == pytest.approx(expected, rel=1e-5)


def test_roulette_and_probabilities_are_converted_in_anduryl(written) -> None:
    folder, _ = written
    project = json.loads((folder / "anduryl.json").read_text(encoding="utf-8"))
    assert list(project["items"]) == ["growth", "visits", "share", "delay", "cost"]
    assert all(item["quantiles"] == [0.05, 0.5, 0.95] for item in project["items"].values())
    assert project["items"]["delay"]["bounds"] == [0, None]
    assert anduryl_add_data(project).shape == (2, 3, 5)
    share = roulette_points(EDGES, [2, 5, 3, 0])
    assert project["assessments"]["P1"]["share"] == pytest.approx(
        _best_quantiles(share, (5, 50, 95)), rel=1e-9
    )
    delay = probability_points(POINTS, [25, 60, 95])
    expected = _best_quantiles(delay, (5, 50, 95), lower=0)
    assert project["assessments"]["P2"]["delay"] == pytest.approx(expected, rel=1e-9)
    assert project["assessments"]["P1"]["cost"] == [None, None, None]
    assert project["assessments"]["P2"]["cost"] == [None, None, None]


def test_shelf_csv_carries_every_judgement_as_its_points(written) -> None:
    folder, _ = written
    rows = list(csv.DictReader((folder / "shelf_judgements.csv").open(encoding="utf-8")))
    by = {}
    for row in rows:
        by.setdefault((row["item"], row["expert"]), []).append(row)
    # Roulette: the cumulative chip shares at the inner edges; the support is the outer edges with chips.
    share = by[("share", "P1")]
    assert [(r["value"], r["probability"], r["lower"], r["upper"]) for r in share] == [
        ("10", "0.2", "0", "30"),
        ("20", "0.7", "0", "30"),
    ]
    assert {r["elicitation"] for r in share} == {"roulette"} and {r["round"] for r in share} == {"2"}
    # Four-point: the central c % interval and the median.
    assert [(r["value"], r["probability"]) for r in by[("visits", "P2")]] == [
        ("2", "0.15"),
        ("4", "0.5"),
        ("9", "0.85"),
    ]
    # Probabilities: P(X <= x_i), on the item's support; a converted fit that failed still has its points.
    assert [(r["value"], r["probability"], r["lower"]) for r in by[("delay", "P2")]] == [
        ("5", "0.25", "0"),
        ("10", "0.6", "0"),
        ("20", "0.95", "0"),
    ]
    assert len(by[("cost", "P1")]) == 3
    # fitdist(vals, probs) per expert gives the fit the conversion used.
    values = [float(r["value"]) for r in by[("visits", "P1")]]
    probs = [float(r["probability"]) for r in by[("visits", "P1")]]
    normal = stats.norm(10, 10 / stats.norm.ppf(0.95))
    np.testing.assert_allclose(normal.cdf(values), probs, atol=1e-9)


def test_the_note_names_the_converted_items_and_the_method(written) -> None:
    folder, _ = written
    note = (folder / "interchange.md").read_text(encoding="utf-8")
    assert "best-fitting SHELF distribution" in note and "(5, 50, 95 %)" in note
    for item in ("visits", "share", "delay", "cost"):
        assert f"| {item} |" in note
    assert "| growth |" not in note


END_TO_END = """
id: idea-e2e
version: 1.0.0
languages: [en]
title: {en: "Estimates"}
pages:
  - id: estimates
    title: {en: "Your estimates"}
    items:
      - {id: growth, type: quantiles, levels: [5, 50, 95], text: {en: "Growth"}}
      - {id: visits, type: four_point, min: 0, max: 500, text: {en: "Visits next year"}}
      - {id: delay, type: probabilities, points: [1, 2, 3, 4], min: 0, text: {en: "Delay"}}
"""


def test_an_export_of_four_point_and_probability_answers_carries_them(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    from elicit.db import db
    from elicit.instruments.loading import load_text
    from elicit.instruments.versions import publish_version
    from elicit.stats.judgements import four_point_points, quantile_points
    from elicit.studies import create_study, find_study
    from tests.exporting.helpers import answer, new_invitation

    answers = [
        {
            "growth": {"q05": 1.0 + i, "q50": 3.0 + i, "q95": 8.0 + i},
            "visits": {"low": 10.0 + i, "best": 20.0 + i, "high": 40.0 + 2 * i, "confidence": 80.0},
            "delay": {"p1": 10.0, "p2": 40.0 + i, "p3": 70.0, "p4": 95.0},
        }
        for i in range(6)
    ]
    with app.app_context():
        version, _ = publish_version(db.session, load_text(END_TO_END, "idea.yaml"), "test")
        create_study(db.session, "idea-e2e", version, [("UK", "United Kingdom")])
        study = find_study(db.session, "idea-e2e")
        study.status = "open"
        for values in answers:
            answer(db.session, new_invitation(db.session, study, "UK"), values)
        db.session.commit()
    out = tmp_path / "export"
    result = runner.invoke(args=["export", "idea-e2e", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {"excalibur/idea-e2e.dtt", "anduryl.json", "shelf_judgements.csv", "interchange.md"} <= set(
        manifest["files"]
    )
    case = read_excalibur(out / "excalibur" / "idea-e2e.dtt", out / "excalibur" / "idea-e2e.rls")
    assert case.items == ("growth", "visits", "delay") and len(case.assessments) == 18
    data = pd.read_csv(out / "data.csv").set_index("respondent")
    got = case.assessments.set_index(["expert", "item"])
    for respondent, row in data.iterrows():
        short = str(respondent)[:8]
        visits = four_point_points(*(row[f"visits.{p}"] for p in ("low", "best", "high", "confidence")))
        expected = _best_quantiles(visits, (5, 50, 95), lower=0, upper=500)
        np.testing.assert_allclose(got.loc[(short, "visits")].to_numpy(float), expected, rtol=1e-5)
        delay = probability_points([1, 2, 3, 4], [row[f"delay.p{i}"] for i in range(1, 5)])
        expected = _best_quantiles(delay, (5, 50, 95), lower=0)
        np.testing.assert_allclose(got.loc[(short, "delay")].to_numpy(float), expected, rtol=1e-5)
        growth = quantile_points([5, 50, 95], [row[f"growth.q{q:02d}"] for q in (5, 50, 95)])
        assert got.loc[(short, "growth")].tolist() == list(growth.values)
    shelf = pd.read_csv(out / "shelf_judgements.csv")
    assert set(shelf["elicitation"]) == {"quantiles", "four_point", "probabilities"}
    assert len(shelf) == 6 * (3 + 3 + 4)
    # Cooke's model scores the converted items as any other (here with realizations of our own for two of them).
    from elicit.analysis.cooke import classical_model

    result = classical_model(case.assessments, {"growth": 5.0, "visits": 25.0}, case.settings())
    assert len(result.experts) == 6 and result.experts["calibration"].notna().all()
