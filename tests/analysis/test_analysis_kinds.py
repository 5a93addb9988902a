"""The analysis treats items by the codebook's ``analysis`` kind (issue 14), the three new types included.

A hand-made export folder (as ``conftest`` makes them) adds a slider (kind interval), two dropdowns (nominal, one
coded with numbers) and a date to the synthetic flagship, under a k of 5. Every figure the analysis gives for them
is checked against pandas computing the same from the folder's ``data.csv``, and the report and ``results.json``
show them, leaving out a group that fewer than k answered and the quasi-identifiers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask.testing import FlaskCliRunner

from elicit.analysis import analyze, build_results, load_export, render_report, run_analysis
from tests.analysis.conftest import build_codebook, build_data, write_export

K = 5
SIZES = {"UK": 9, "PK": 8}
COUNTRIES = [
    {"code": "CHN", "label": "China"},
    {"code": "IND", "label": "India"},
    {"code": "USA", "label": "United States"},
    {"code": "other", "label": "Another country"},
    {"code": "JPN", "label": "Japan"},  # nobody picks it: it is listed with a count of zero
]
NEW_ITEMS: list[dict[str, Any]] = [
    {
        "id": "afford_scale",
        "type": "slider",
        "analysis": "interval",
        "text": "How affordable is defence diplomacy?",
        "min": 0,
        "max": 10,
        "columns": ["afford_scale"],
        "privacy": "none",
    },
    {
        "id": "third_country",
        "type": "dropdown",
        "analysis": "nominal",
        "text": "Which other country matters most?",
        "choices": COUNTRIES,
        "columns": ["third_country"],
        "privacy": "none",
    },
    {
        "id": "ties",
        "type": "dropdown",
        "analysis": "nominal",
        "text": "How close are the ties?",
        "choices": [{"code": 1, "label": "Distant"}, {"code": 2, "label": "Close"}],
        "columns": ["ties"],
        "privacy": "none",
    },
    {
        "id": "region",
        "type": "dropdown",
        "analysis": "nominal",
        "text": "Your region",
        "choices": [{"code": "north", "label": "North"}, {"code": "south", "label": "South"}],
        "columns": ["region"],
        "privacy": "quasi_identifier",
    },
    {  # a number binned for privacy, as the exporter writes it: categories with text labels
        "id": "years",
        "type": "single_choice",
        "instrument_type": "integer",
        "analysis": "nominal",
        "text": "Years of experience",
        "choices": [{"code": c, "label": c} for c in ("0-4", "5-9", "10-19")],
        "columns": ["years"],
        "privacy": "quasi_identifier",
    },
    {
        "id": "next_dialogue",
        "type": "date",
        "analysis": "date",
        "text": "When will the next dialogue take place?",
        "columns": ["next_dialogue"],
        "privacy": "none",
    },
]


def _answers(data: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """Seeded answers to the new items; PK's date is answered by 3 experts only (fewer than k)."""
    rng = np.random.default_rng(seed)
    n = len(data)
    data = data.copy()
    data["afford_scale"] = rng.integers(0, 11, n).astype(float)
    data.loc[rng.random(n) < 0.15, "afford_scale"] = np.nan
    data["third_country"] = rng.choice(["CHN", "IND", "USA", "other"], n).astype(object)
    data.loc[2, "third_country"] = None
    # numeric codes as some writers give them ("2.0"), read back as the codebook's "2"
    data["ties"] = rng.choice(["1", "2", "2.0"], n).astype(object)
    data["region"] = rng.choice(["north", "south"], n).astype(object)
    data["years"] = rng.choice(["0-4", "5-9", "10-19"], n).astype(object)
    days = rng.integers(0, 3 * 365, n)
    dates = [(pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(d))).date().isoformat() for d in days]
    data["next_dialogue"] = pd.Series(dates, index=data.index, dtype=object)
    pk = data.index[data["cohort"] == "PK"]
    data.loc[pk[3:], "next_dialogue"] = None
    data.loc[data.index[data["cohort"] == "UK"][0], "next_dialogue"] = None
    return data


def _codebook() -> dict[str, Any]:
    codebook = build_codebook(tuple(SIZES))
    codebook["study"] = {**codebook["study"], "k_threshold": K}
    codebook["items"] += [dict(item) for item in NEW_ITEMS]
    return codebook


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The folder analysed once: ``results`` (results.json), ``html`` (report.html), ``csv`` (data.csv as text)."""
    tmp_path = tmp_path_factory.mktemp("kinds")
    data = _answers(build_data(SIZES, seed=5))
    folder = write_export(tmp_path / "export", data, _codebook())
    html_path, json_path = tmp_path / "report.html", tmp_path / "results.json"
    returned = run_analysis(folder, html_path, json_path)
    results = json.loads(json_path.read_text(encoding="utf-8"))
    assert returned == results
    csv = pd.read_csv(folder / "data.csv", dtype=str, keep_default_na=False, na_values=[""])
    return SimpleNamespace(results=results, html=html_path.read_text(encoding="utf-8"), csv=csv)


def _groups(csv: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"all": csv, **{c: csv[csv["cohort"] == c] for c in SIZES}}


def test_a_slider_is_described_as_a_number_per_cohort(analysed: SimpleNamespace) -> None:
    rows = {
        r["cohort"]: r for r in analysed.results["descriptives"]["items"] if r["variable"] == "afford_scale"
    }
    assert set(rows) == {"all", "UK", "PK"}
    for group, frame in _groups(analysed.csv).items():
        values = pd.to_numeric(frame["afford_scale"]).dropna()
        row = rows[group]
        assert (row["type"], row["analysis"]) == ("slider", "interval")
        assert row["n"] == len(values) and row["missing"] == len(frame) - len(values)
        expected = {
            "mean": values.mean(),
            "sd": values.std(),
            "median": values.median(),
            "q1": values.quantile(0.25),
            "q3": values.quantile(0.75),
            "min": values.min(),
            "max": values.max(),
        }
        assert {key: row[key] for key in expected} == pytest.approx(expected)


def test_a_dropdown_gets_counts_and_percentages_per_choice(analysed: SimpleNamespace) -> None:
    rows = [r for r in analysed.results["descriptives"]["choices"] if r["variable"] == "third_country"]
    codes = [c["code"] for c in COUNTRIES]
    for group, frame in _groups(analysed.csv).items():
        answered = frame["third_country"].dropna()
        counts = answered.value_counts()
        mine = [r for r in rows if r["cohort"] == group]
        assert [r["code"] for r in mine] == codes  # every declared choice, in the codebook's order
        for row in mine:
            expected = int(counts.get(row["code"], 0))
            assert row["count"] == expected and row["n"] == len(answered)
            assert row["percent"] == pytest.approx(100 * expected / len(answered))
            assert row["label"] == next(c["label"] for c in COUNTRIES if c["code"] == row["code"])
    assert all(r["count"] == 0 for r in rows if r["code"] == "JPN")


def test_numeric_codes_written_as_decimals_count_as_the_codebook_s_codes(analysed: SimpleNamespace) -> None:
    rows = [r for r in analysed.results["descriptives"]["choices"] if r["variable"] == "ties"]
    both = analysed.csv["ties"].astype(float).astype(int).astype(str).value_counts()
    assert {r["code"]: r["count"] for r in rows if r["cohort"] == "all"} == {
        "1": both.get("1", 0),
        "2": both.get("2", 0),
    }


def test_a_date_gets_earliest_median_and_latest_date(analysed: SimpleNamespace) -> None:
    rows = {
        r["cohort"]: r for r in analysed.results["descriptives"]["dates"] if r["variable"] == "next_dialogue"
    }
    for group in rows:
        dates = pd.to_datetime(_groups(analysed.csv)[group]["next_dialogue"].dropna(), format="%Y-%m-%d")
        assert rows[group]["n"] == len(dates)
        assert rows[group]["earliest"] == dates.min().date().isoformat()
        assert rows[group]["latest"] == dates.max().date().isoformat()
        # the midpoint of the middle dates, as the day it falls on
        assert rows[group]["median"] == dates.median().floor("D").date().isoformat()


def test_the_k_floor_leaves_out_a_group_fewer_than_k_answered(analysed: SimpleNamespace) -> None:
    # PK has 8 respondents but only 3 gave the date: PK is left out there, and UK with it (all - UK = PK)
    descriptives = analysed.results["descriptives"]
    shown = {r["cohort"] for r in descriptives["dates"] if r["variable"] == "next_dialogue"}
    assert shown == {"all"}
    assert {r["cohort"] for r in descriptives["choices"] if r["variable"] == "third_country"} == {
        "all",
        "UK",
        "PK",
    }
    for table in ("items", "choices", "dates"):
        assert all(r["n"] == 0 or r["n"] >= K for r in descriptives[table]), table
    assert any("date items" in note for note in analysed.results["meta"]["notes"])


def test_quasi_identifiers_are_not_tabulated_by_value_under_a_k(analysed: SimpleNamespace) -> None:
    descriptives = analysed.results["descriptives"]
    assert not [r for r in descriptives["choices"] if r["item"] == "region"]
    assert not [r for r in descriptives["distribution"] if r["item"] == "years"]  # no counts per bin
    assert {r["item"] for r in descriptives["distribution"]} >= {"afford", "tac_1"}
    assert any(
        "region, years" in note and "Quasi-identifiers" in note for note in analysed.results["meta"]["notes"]
    )
    assert "<caption>region:" not in analysed.html


def test_the_report_shows_the_new_tables(analysed: SimpleNamespace) -> None:
    section = re.search(r'<section id="descriptives">(.*?)</section>', analysed.html, re.S)
    assert section
    html = section.group(1)
    assert "<h3>Choice items</h3>" in html and "<h3>Date items</h3>" in html
    assert "<caption>third_country: Which other country matters most?</caption>" in html
    table = re.search(r"<caption>third_country:.*?</table>", html, re.S)
    assert table
    results = analysed.results["descriptives"]
    for row in results["choices"]:
        if row["variable"] == "third_country" and row["cohort"] == "UK" and row["count"]:
            assert f"<td>{row['count']} ({row['percent']:.0f}%)</td>" in table.group(0)
    assert '<tr><td class="text">Japan</td><td>0 (0%)</td>' in table.group(0)  # chosen by nobody
    date = next(r for r in results["dates"] if r["variable"] == "next_dialogue")
    assert (
        f'<tr><td>next_dialogue</td><td class="text">all</td><td>{date["n"]}</td><td>{date["earliest"]}</td>'
        f"<td>{date['median']}</td><td>{date['latest']}</td></tr>"
    ) in html
    assert re.search(r'<tr><td>afford_scale</td><td class="text">UK</td>', html)  # among the items


def test_no_date_or_choice_figure_of_a_hidden_group_reaches_the_report(tmp_path: Path) -> None:
    sizes = {"UK": 9, "PK": 3}  # PK below k: hidden throughout, and UK with it
    data = _answers(build_data(sizes, seed=8))
    codebook = _codebook()
    codebook["cohorts"] = [{"code": c, "label": c} for c in sizes]
    analysis = analyze(load_export(write_export(tmp_path / "export", data, codebook)))
    results = build_results(analysis)
    html = render_report(analysis, results)
    for table in ("choices", "dates"):
        assert {r["cohort"] for r in results["descriptives"][table]} == {"all"}, table
    assert "<th>PK</th>" not in html and "<th>UK</th>" not in html


def test_without_a_manifest_nothing_is_left_out(tmp_path: Path) -> None:
    data = _answers(build_data(SIZES, seed=5))
    folder = write_export(tmp_path / "export", data, _codebook(), manifest=False)
    analysis = analyze(load_export(folder))
    assert set(analysis.dates["cohort"]) == {"all", "UK", "PK"}
    assert "region" in set(analysis.choice_counts["item"])
    assert "years" in set(analysis.choice_counts["item"])  # bins are counted as categories
    assert "years" not in set(analysis.distribution["item"])  # ...not drawn as a Likert scale
    html = render_report(analysis, build_results(analysis))
    assert html.count('alt="Diverging stacked bars of the Likert items, ') == len(SIZES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drop", "item 'third_country' has no 'analysis' kind"),
        ("unknown", "item 'third_country' has analysis kind 'cardinal', which this version"),
    ],
)
def test_a_codebook_without_analysis_kinds_asks_for_a_new_export(
    tmp_path: Path, change: str, message: str
) -> None:
    codebook = _codebook()
    item = next(i for i in codebook["items"] if i["id"] == "third_country")
    if change == "drop":
        del item["analysis"]
    else:
        item["analysis"] = "cardinal"
    folder = write_export(tmp_path / "export", _answers(build_data(SIZES)), codebook)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        load_export(folder)
    if change == "drop":
        assert "export the study again" in str(raised.value)


def test_elicit_analyze_says_so_in_one_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    codebook = _codebook()
    for item in codebook["items"]:
        del item["analysis"]  # as every export made before the kinds
    folder = write_export(tmp_path / "export", _answers(build_data(SIZES)), codebook)
    report = tmp_path / "report.html"
    outcome = runner.invoke(args=["analyze", str(folder), "--out", str(report)])
    assert outcome.exit_code == 1 and "Traceback" not in outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elicit: error: codebook.json: item 'consent' has no"), (
        lines
    )
    assert "export the study again" in lines[0] and not report.exists()


def test_a_date_that_is_not_iso_is_refused_with_its_row(tmp_path: Path) -> None:
    data = _answers(build_data(SIZES))
    data.loc[4, "next_dialogue"] = "31/12/2027"
    folder = write_export(tmp_path / "export", data, _codebook())
    with pytest.raises(ValueError, match=r"row 6, column 'next_dialogue': '31/12/2027' is not a date"):
        load_export(folder)
