"""Interchange files in the export: EXCALIBUR .dtt/.rls, anduryl's JSON project and SHELF's judgement CSV.

The writers work from an export folder's ``data.csv`` and codebook. Round trips go through Elicit's own reader
(:mod:`elicit.analysis.excalibur`) and through a transcription of anduryl's readers (``anduryl/io/reader.py``,
``read_excalibur``, and ``io/project.py``, ``add_data``, of github.com/grongen/anduryl), which anduryl cannot be
installed to run (it needs PyQt5). The TU Delft FCEP study written this way gives the Cooke scores
``tests/analysis/test_cooke.py`` checks against anduryl and EXCALIBUR.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from elicit.analysis.cooke import classical_model
from elicit.analysis.excalibur import read_excalibur
from elicit.exporting.interchange import (
    MISSING,
    excalibur_value,
    quantile_items,
    read_judgements,
    short_ids,
    write_interchange,
)
from tests.analysis.test_cooke import FCEP_ALPHA, FCEP_ASSESSMENTS, FCEP_DMS, FCEP_EXPERTS, FCEP_REALIZATIONS

# FCEP's experts under export-style pseudonyms, and its items under instrument ids (one longer than 14 chars).
PSEUDONYMS = {
    "C": "P0C11111111",
    "A": "P0A22222222",
    "D": "P0D33333333",
    "B": "P0B44444444",
    "E": "P0E55555555",
}
ITEM_IDS = {
    "Fires": "fires",
    "UnstableApp": "unstable_approaches",
    "Impairment": "impairment",
    "Commercialjets": "commercial_jets_in_service",
    "PassUpBA": "passengers_ba",
    "ManOccRepUK": "occurrence_reports",
    "HardLand": "hard_landings",
    "ShtDwnRate": "shutdown_rate",
}


def _item(item_id: str, levels: list[float], **extra: Any) -> dict[str, Any]:
    columns = [f"{item_id}.q{int(x):02d}" for x in levels]
    return {
        "id": item_id,
        "type": "quantiles",
        "analysis": "distribution",
        "elicitation": "quantiles",
        "levels": levels,
        "columns": columns,
        "text": f"How many {item_id}?",
        **extra,
    }


def fcep_folder(folder: Path) -> dict[str, Any]:
    """An export folder holding FCEP as Elicit exports it: data.csv and its codebook."""
    data = pd.read_csv(StringIO(FCEP_ASSESSMENTS))
    items = [_item(i, [5, 50, 95], seed=True, background="loguniform") for i in ITEM_IDS.values()]
    codebook = {
        "study": {"slug": "fcep-error"},
        "items": [{"id": "intro", "type": "likert", "analysis": "ordinal", "columns": ["intro"]}, *items],
        "realizations": {ITEM_IDS[k]: v for k, v in FCEP_REALIZATIONS.items()},
    }
    columns = ["respondent", "cohort", "round", "instrument_version", "language", "submitted_on", "intro"]
    columns += [c for item in items for c in item["columns"]]
    with (folder / "data.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for expert, answers in data.groupby("expert", sort=False):
            row = {"respondent": PSEUDONYMS[str(expert)], "cohort": "UK", "round": 1, "intro": 3}
            for answer in answers.itertuples():
                base = ITEM_IDS[answer.item]
                row |= {f"{base}.q05": answer.q05, f"{base}.q50": answer.q50, f"{base}.q95": answer.q95}
            writer.writerow([row.get(c, "") for c in columns])
    return codebook


# ---------------------------------------------------------------------------- anduryl's readers, transcribed


def anduryl_read_excalibur(dttfile: Path, rlsfile: Path) -> dict[str, Any]:
    """``anduryl.io.reader.read_excalibur`` (anduryl 1.2.x), its parsing line for line, without pydantic."""
    lines = [line for line in dttfile.read_text(errors="replace").splitlines(keepends=True) if line.strip()]
    quantiles = np.array([float(p) for p in lines[0].split("QU=")[-1].split()]) / 100
    nquantiles = len(quantiles)
    nquestions = max(int(line[14:20]) for line in lines[1:])
    pos = [max(line.lower().find("uni"), line.lower().find("log")) for line in lines]
    u, c = np.unique(pos, return_counts=True)
    startchr = u[np.argmax(c)]
    background = [line[startchr : startchr + 3].lower() for line in lines[1 : 1 + nquestions]]
    ids = [line[:startchr][20:].strip() for line in lines[1 : 1 + nquestions]]
    experts = [lines[i][5:14].strip() for i in range(1, len(lines), nquestions)]
    assessments: dict[str, dict[str, list[float]]] = {}
    for line in lines[1:]:
        iexpert = experts[int(line[:5]) - 1]
        iitem = ids[int(line[15:20]) - 1]
        estimates = np.array(line[startchr + 3 :].split()[:nquantiles], dtype=float)
        estimates[(estimates >= -1000) & (estimates <= -990)] = np.nan
        assessments.setdefault(iexpert, {})[iitem] = estimates.tolist()
    lines = [line for line in rlsfile.read_text(errors="replace").splitlines(keepends=True) if line.strip()]
    pos = [max(line.lower().find("uni"), line.lower().find("log")) for line in lines]
    u, c = np.unique(pos, return_counts=True)
    endchr = u[np.argmax(c)]
    realdict = {}
    for line in lines:
        value = line[:endchr].split()[-1]
        linepart = line[: line.find(value)].strip()
        qid = re.findall(r"[^\s]+(.+)", linepart)[0].strip()
        realdict[qid] = value
    realizations = np.array([float(realdict[key]) if key in realdict else -995 for key in ids])
    realizations[(realizations >= -1000) & (realizations <= -990)] = np.nan
    return {
        "quantiles": quantiles.tolist(),
        "assessments": assessments,
        "items": {
            i: {"realization": r, "scale": s} for i, r, s in zip(ids, realizations, background, strict=True)
        },
        "experts": experts,
    }


def anduryl_add_data(project: dict[str, Any]) -> np.ndarray:
    """What ``ProjectIO.add_data`` takes from a project: every expert x item, values per item's quantiles."""
    experts, items = project["experts"], project["items"]
    quantiles = sorted({q for item in items.values() for q in item["quantiles"]})
    array = np.full((len(experts), len(quantiles), len(items)), np.nan)
    for i, expert in enumerate(experts):
        for j, item in enumerate(items):
            estimates = project["assessments"][expert][item]  # a KeyError in anduryl if one is missing
            own = items[item]["quantiles"]
            array[i, :, j] = [estimates[own.index(q)] if q in own else np.nan for q in quantiles]
    return array


# ------------------------------------------------------------------------------------------------------ tests


def test_excalibur_numbers_are_written_as_excalibur_writes_them() -> None:
    assert excalibur_value(100) == " 1.00000E+0002"
    assert excalibur_value(0.0357143) == " 3.57143E-0002"
    assert excalibur_value(-5.5) == "-5.50000E+0000"
    assert excalibur_value(None) == excalibur_value(MISSING) == "-9.99500E+0002"
    assert short_ids(["P0C11111111", "P0C11111112", "R0001"], 8) == {
        "P0C11111111": "P0C11111",
        "P0C11111112": "P0C111~2",
        "R0001": "R0001",
    }


def test_fcep_written_from_an_export_gives_anduryls_scores(tmp_path: Path) -> None:
    codebook = fcep_folder(tmp_path)
    written = write_interchange(tmp_path, codebook)
    assert written == [
        "excalibur/fcep-error.dtt",
        "excalibur/fcep-error.rls",
        "anduryl.json",
        "shelf_judgements.csv",
    ]
    dtt, rls = tmp_path / written[0], tmp_path / written[1]
    lines = dtt.read_text().splitlines()
    assert lines[0] == "* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95"
    # The layout of cases/FCEP Error.dtt: expert C is P0C11111 (8 characters), the items' ids cut to 14.
    assert lines[1] == "    1 P0A22222    1          fires LOG  5.00000E+0000  5.00000E+0002  5.00000E+0003 "
    assert lines[4] == "    1 P0A22222    4 commercial_jet LOG  4.00000E+0003  8.00000E+0003  2.00000E+0004 "
    assert rls.read_text().splitlines()[0] == "    1          fires  3.67000E+0000 LOG "

    case = read_excalibur(dtt, rls)
    short = {expert: pseudonym[:8] for expert, pseudonym in PSEUDONYMS.items()}
    result = classical_model(case.assessments, case.realizations, case.settings())
    experts = result.experts.set_index("expert")
    for expert, (calibration, information) in FCEP_EXPERTS.items():
        assert experts.loc[short[expert], "calibration"] == pytest.approx(calibration, rel=1e-6)
        assert experts.loc[short[expert], "information_seeds"] == pytest.approx(information, rel=1e-6)
    assert result.cutoff == pytest.approx(FCEP_ALPHA, rel=1e-9)
    dm = result.decision_makers.set_index("dm").loc["performance_global"]
    assert (dm["calibration"], dm["information_seeds"]) == pytest.approx(FCEP_DMS["global_opt"], rel=1e-6)

    # anduryl's parser reads the same pair to the same values.
    parsed = anduryl_read_excalibur(dtt, rls)
    assert parsed["quantiles"] == [0.05, 0.5, 0.95]
    assert parsed["experts"] == sorted(short.values())
    assert {i: v["scale"] for i, v in parsed["items"].items()} == {i[:14]: "log" for i in ITEM_IDS.values()}
    realizations = {i: v["realization"] for i, v in parsed["items"].items()}
    assert realizations == {ITEM_IDS[k][:14]: v for k, v in FCEP_REALIZATIONS.items()}
    source = pd.read_csv(StringIO(FCEP_ASSESSMENTS))
    for row in source.itertuples():
        values = parsed["assessments"][short[row.expert]][ITEM_IDS[row.item][:14]]
        assert values == pytest.approx([row.q05, row.q50, row.q95], rel=1e-6)


def test_anduryl_project_and_shelf_csv(tmp_path: Path) -> None:
    codebook = fcep_folder(tmp_path)
    write_interchange(tmp_path, codebook)
    project = json.loads((tmp_path / "anduryl.json").read_text(encoding="utf-8"))
    assert project["version"] == "1.2.1"  # the one version anduryl's read_json accepts
    assert list(project["experts"]) == sorted(PSEUDONYMS.values())
    assert all(e == {"name": "", "user_weight": None} for e in project["experts"].values())
    fires = project["items"]["fires"]
    assert fires == {
        "realization": 3.67,
        "scale": "log",
        "question": "How many fires?",
        "quantiles": [0.05, 0.5, 0.95],
        "unit": "",
        "bounds": [None, None],
        "overshoots": [None, None],
    }
    assert list(project["items"]) == list(ITEM_IDS.values())  # full ids
    array = anduryl_add_data(project)
    assert array.shape == (5, 3, 8) and not np.isnan(array).any()
    assert project["assessments"]["P0A22222222"]["hard_landings"] == [0.01, 0.0357143, 0.1]  # full precision

    with (tmp_path / "shelf_judgements.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "item",
        "expert",
        "cohort",
        "round",
        "elicitation",
        "lower",
        "upper",
        "value",
        "probability",
    ]
    assert len(rows) == 1 + 5 * 8 * 3  # a row per point: three quantiles per expert and item
    assert rows[1:4] == [
        ["fires", "P0A22222222", "UK", "1", "quantiles", "", "", "5", "0.05"],
        ["fires", "P0A22222222", "UK", "1", "quantiles", "", "", "500", "0.5"],
        ["fires", "P0A22222222", "UK", "1", "quantiles", "", "", "5000", "0.95"],
    ]
    assert ["hard_landings", "P0A22222222", "UK", "1", "quantiles", "", "", "0.0357143", "0.5"] in rows
    assert not (tmp_path / "interchange.md").exists()  # nothing was converted


def test_latest_round_incomplete_answers_other_levels_and_missing_answers(tmp_path: Path) -> None:
    items = [
        _item("growth", [5, 50, 95], seed=True, background="uniform", min=-10, max=50, unit="%"),
        _item("cost", [5, 50, 95], background="uniform"),
        _item("deaths", [10, 50, 90], background="loguniform"),
    ]
    codebook = {"study": {"slug": "mixed"}, "items": items, "realizations": {"growth": 4.5}}
    header = ["respondent", "cohort", "round"] + [c for item in items for c in item["columns"]]
    rows = [
        ["P1", "UK", "1", "0", "5", "9", "1", "2", "3", "1", "2", "3"],  # round 1: not the final judgements
        ["P1", "UK", "2", "-1", "4", "8", "", "2", "3", "1", "2", "3"],  # cost incomplete
        ["P2", "PK", "2", "2", "3", "4.25", "10", "20", "30", "", "", ""],
    ]
    (tmp_path / "data.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    parsed = quantile_items(codebook)
    assert [i.id for i in parsed] == ["growth", "cost", "deaths"]
    assert parsed[0].lower == -10 and parsed[0].upper == 50 and parsed[0].realization == 4.5
    judgements = read_judgements(tmp_path / "data.csv", parsed)
    assert [(j.expert, j.item, j.round, j.values) for j in judgements] == [
        ("P1", "growth", 2, (-1, 4, 8)),
        ("P1", "deaths", 2, (1, 2, 3)),
        ("P2", "growth", 2, (2, 3, 4.25)),
        ("P2", "cost", 2, (10, 20, 30)),
    ]
    write_interchange(tmp_path, codebook)
    dtt = (tmp_path / "excalibur" / "mixed.dtt").read_text().splitlines()
    assert len(dtt) == 1 + 2 * 2  # growth and cost (5/50/95); deaths asks other levels
    assert dtt[2] == "    1       P1    2           cost UNI -9.99500E+0002 -9.99500E+0002 -9.99500E+0002 "
    assert (tmp_path / "excalibur" / "mixed.rls").read_text() == (
        "    1         growth  4.50000E+0000 UNI \n    2           cost -9.99500E+0002 UNI \n"
    )
    case = read_excalibur(tmp_path / "excalibur" / "mixed.dtt", tmp_path / "excalibur" / "mixed.rls")
    assert case.realizations == {"growth": 4.5} and len(case.assessments) == 3
    project = json.loads((tmp_path / "anduryl.json").read_text())
    assert project["assessments"]["P1"]["cost"] == [None, None, None]
    assert project["items"]["deaths"]["quantiles"] == [0.1, 0.5, 0.9]
    assert project["items"]["deaths"]["scale"] == "log" and project["items"]["cost"]["realization"] is None
    assert project["items"]["growth"]["bounds"] == [-10, 50] and project["items"]["growth"]["unit"] == "%"
    assert anduryl_add_data(project).shape == (2, 5, 3)
    shelf = list(csv.DictReader((tmp_path / "shelf_judgements.csv").open()))
    assert shelf[:3] == [
        {
            "item": "growth",
            "expert": "P1",
            "cohort": "UK",
            "round": "2",
            "elicitation": "quantiles",
            "lower": "-10",
            "upper": "50",
            "value": value,
            "probability": probability,
        }
        for value, probability in (("-1", "0.05"), ("4", "0.5"), ("8", "0.95"))
    ]
    assert [(r["item"], r["expert"]) for r in shelf[::3]] == [
        ("growth", "P1"),
        ("growth", "P2"),
        ("cost", "P2"),
        ("deaths", "P1"),
    ]
    assert [r["probability"] for r in shelf if r["item"] == "deaths"] == ["0.1", "0.5", "0.9"]


def test_nothing_is_written_without_quantile_answers(tmp_path: Path) -> None:
    items = [_item("growth", [5, 50, 95])]
    (tmp_path / "data.csv").write_text(
        "respondent,cohort,round,growth.q05,growth.q50,growth.q95\nR0001,UK,1,,,\n"
    )
    assert write_interchange(tmp_path, {"items": items}) == []
    assert write_interchange(tmp_path, {"items": []}) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_a_delphi_export_carries_the_files_and_analyze_reads_its_pair(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    from tests.exporting.test_elicitation_export import seeded_delphi_round_two
    from tests.survey.test_delphi import answer_all, invoke

    tokens = seeded_delphi_round_two(app, runner, tmp_path, 5)
    for index, token in enumerate(tokens):
        answer_all(app.test_client(), token, "UK", str(3 + index % 2), 50 + index)
    invoke(runner, "round", "close", "sej")
    invoke(runner, "realization", "sej", "exports_change", "12.5")

    out = tmp_path / "export"
    invoke(runner, "export", "sej", "--format", "csv", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    names = ["excalibur/sej.dtt", "excalibur/sej.rls", "anduryl.json", "shelf_judgements.csv"]
    assert set(names) <= set(manifest["files"])
    data = list(csv.DictReader((out / "data.csv").open(encoding="utf-8")))
    final = {r["respondent"]: r for r in data if r["round"] == "2"}
    project = json.loads((out / "anduryl.json").read_text(encoding="utf-8"))
    assert set(project["experts"]) == set(final)  # pseudonyms, the final round's answers
    for respondent, values in project["assessments"].items():
        row = final[respondent]
        expected = [float(row[f"exports_change.{q}"]) for q in ("q05", "q50", "q95")]
        assert values["exports_change"] == pytest.approx(expected)
    assert project["items"]["exports_change"]["realization"] == 12.5
    dtt = (out / "excalibur" / "sej.dtt").read_text()
    assert {line[5:14].strip() for line in dtt.splitlines()[1:]} == {r[:8] for r in final}
    texts = "\n".join(p.read_text(encoding="utf-8") for p in (out / "excalibur").iterdir())
    assert "@" not in texts  # no e-mail address, no name: only pseudonyms and numbers

    result = runner.invoke(
        args=[
            "analyze",
            str(out / "excalibur"),
            "--out",
            str(tmp_path / "x.html"),
            "--json",
            str(tmp_path / "x.json"),
        ]
    )
    assert result.exit_code == 0, result.output
    pair = json.loads((tmp_path / "x.json").read_text())["cooke"]
    result = runner.invoke(
        args=["analyze", str(out), "--out", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    full = json.loads((tmp_path / "r.json").read_text())["cooke"]
    calibrations = {e["expert"][:8]: e["calibration"] for e in full["experts"]}
    assert {e["expert"]: e["calibration"] for e in pair["experts"]} == pytest.approx(calibrations, rel=1e-4)

    from elicit.db import db
    from elicit.exporting import export_zip
    from elicit.studies import find_study

    with app.app_context(), db.transaction() as session:
        archive = export_zip(session, find_study(session, "sej"), "csv", actor="cli")
    try:
        with zipfile.ZipFile(archive) as zf:
            assert {f"sej-csv/{n}" for n in names} <= set(zf.namelist())
    finally:
        archive.unlink()
