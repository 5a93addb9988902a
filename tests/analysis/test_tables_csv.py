"""Every table of the report is also a CSV file beside results.json (issue 16), with the same numbers unrounded.

One synthetic export with two Delphi rounds is analysed with ``--json``; the CSV files are read back and compared
with ``results.json`` and with the figures the HTML prints (rounded from the same values), and the tables of the
Delphi section are checked for formatting: whole numbers, yes/no, percentages, the rule said once.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask.testing import FlaskCliRunner

from elicit.analysis.report import cell, column_kinds
from tests.analysis.conftest import build_codebook, build_data, write_export


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from elicit.analysis import run_analysis

    first = build_data({"UK": 9, "PK": 8}, seed=5)
    second = first.copy()
    second["round"] = 2
    moved = np.random.default_rng(1).random(len(second)) < 0.4
    second.loc[moved, "afford"] = np.clip(second.loc[moved, "afford"] + 1, 1, 5)
    codebook = build_codebook()
    codebook["consensus_rule"] = {"max_iqr": 1, "min_agreement": 0.7}
    base = tmp_path_factory.mktemp("tables")
    folder = write_export(base / "export", pd.concat([first, second], ignore_index=True), codebook)
    results = run_analysis(folder, base / "report.html", base / "results.json")
    return {
        "base": base,
        "results": results,
        "document": json.loads((base / "results.json").read_text(encoding="utf-8")),
        "html": (base / "report.html").read_text(encoding="utf-8"),
    }


def test_the_csv_files_are_listed_in_results_json_with_their_checksums(run: dict[str, Any]) -> None:
    listing = run["document"]["tables"]
    folder = run["base"] / listing["folder"]
    assert listing["folder"] == "results_tables" and listing["encoding"] == "utf-8"
    on_disk = sorted(p.name for p in folder.glob("*.csv"))
    assert on_disk == sorted(listing["files"])
    for name, entry in listing["files"].items():
        raw = (folder / name).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
        assert name == f"{entry['section']}_{entry['table']}.csv"
        assert len(pd.read_csv(folder / name)) == entry["rows"]
    for expected in (
        "summary_sample.csv",
        "reliability_scales.csv",
        "between_scales.csv",
        "delphi_consensus.csv",
    ):
        assert expected in listing["files"]


def test_the_numbers_are_the_results_unrounded(run: dict[str, Any]) -> None:
    folder = run["base"] / "results_tables"
    between = pd.read_csv(folder / "between_scales.csv")
    document = run["document"]["comparisons"]["between_cohorts"]
    for row in between.to_dict("records"):
        entry = document[row["variable"]]
        assert row["p"] == entry["p"] and row["statistic"] == entry["statistic"]  # exact, not rounded
        assert row["effect_size"] == entry["effect_size"]
    reliability = pd.read_csv(folder / "reliability_scales.csv")
    for row in reliability.to_dict("records"):
        assert row["alpha"] == run["document"]["reliability"][row["scale"]][row["group"]]["alpha"]


def test_the_html_prints_the_csv_numbers_rounded(run: dict[str, Any]) -> None:
    folder = run["base"] / "results_tables"
    consensus = pd.read_csv(folder / "delphi_consensus.csv", keep_default_na=False)
    delphi = run["html"].split('id="delphi"', 1)[1].split("</section>", 1)[0]
    first = consensus.iloc[0]
    row = f'<td>{first["round"]}</td><td class="text">{first["cohort"]}</td><td class="text">{first["item"]}</td><td>{first["n"]}</td>'
    assert row in delphi
    assert f"<td>{float(first['median']):.2f}</td>" in delphi
    assert f"<td>{100 * float(first['agreement']):.0f}%</td>" in delphi


def test_the_delphi_tables_are_formatted_and_say_the_rule_once(run: dict[str, Any]) -> None:
    delphi = run["html"].split('id="delphi"', 1)[1].split("</section>", 1)[0]
    rule = run["document"]["delphi"]["consensus_rule"]
    assert delphi.count("interquartile range is at most 1") == 1, rule
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", delphi)
    assert "False" not in cells and "True" not in cells and {"yes", "no"} & set(cells)
    # no "6.000" for a count or a round ("1.000" is a p-value of 1, as APA style writes it)
    assert not [c for c in cells if re.fullmatch(r"\d+\.000", c) and c != "1.000"]
    assert not [c for c in cells if c in ("nan", "None")]


def test_column_kinds_read_counts_flags_and_p_values() -> None:
    rows = [{"round": 1, "n": 6.0, "p_holm": 0.0312, "mean": 2.5, "consensus": False, "label": "x"}]
    kinds = column_kinds(rows)
    assert kinds == {
        "round": "int",
        "n": "int",
        "p_holm": "p",
        "mean": "num3",
        "consensus": "bool",
        "label": "text",
    }
    assert [cell(rows[0][k], kinds[k]) for k in rows[0]] == ["1", "6", ".031", "2.500", "no", "x"]
    assert cell(0.4567, "pct") == "46%" and cell(float("nan"), "int") == "–" and cell(None, "bool") == "–"


def test_the_cli_writes_the_tables_beside_the_json(
    run: dict[str, Any], runner: FlaskCliRunner, tmp_path: Path
) -> None:
    export = run["base"] / "export"
    outcome = runner.invoke(
        args=[
            "analyze",
            str(export),
            "--out",
            str(tmp_path / "r.html"),
            "--json",
            str(tmp_path / "study.json"),
        ]
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert (tmp_path / "study_tables" / "summary_sample.csv").is_file()
    assert "tables in" in outcome.stdout
