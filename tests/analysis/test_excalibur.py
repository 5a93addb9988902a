"""EXCALIBUR .dtt/.rls files read for Cooke's classical model, and ``elicit analyze`` on such a pair.

The FCEP pair below is copied line by line from ``cases/FCEP Error.dtt`` and ``.rls`` of the anduryl repository
(github.com/grongen/anduryl; TU Delft expert judgement data base, Cooke & Goossens 2008), keeping the item
numbers and, for the first expert and item, the questions: the 8 seed items and one target (FOSuitabilit). Read
through :func:`read_excalibur`, it gives the decision makers that ``tests/analysis/test_cooke.py`` checks against
anduryl and EXCALIBUR.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from elicit.analysis.cooke import classical_model
from elicit.analysis.excalibur import analyze_excalibur, find_pair, read_excalibur
from tests.analysis.test_cooke import (
    CK_ASSESSMENTS,
    CK_DMS,
    CK_EXCALIBUR,
    CK_EXPERTS,
    CK_LEVELS,
    CK_REALIZATIONS,
    FCEP_ALPHA,
    FCEP_ASSESSMENTS,
    FCEP_DMS,
    FCEP_EXCALIBUR,
    FCEP_EXPERTS,
    FCEP_REALIZATIONS,
    RUNS,
)

QUESTIONS = {
    "FOSuitabilit": "Number of FO per 10,000 that will fail the prof check",
    "Fires": "# Genuine Fires per 1,000,000 (1985-2003)",
    "UnstableApp": "# KLM Unstable Approach per 1000 land (1998-2001)",
    "Impairment": "# crew impairment per 1000 flights (1997-1998)",
    "Commercialjets": "Total # large comercial jets",
    "PassUpBA": "Total # passangers uplifted BA in April 2004",
    "ManOccRepUK": "Total # mandatory occurrence reports in UK Jan- Nov 1998",
    "HardLand": "Percent of landings of MD-82 aircraft of Meridiana in 1999",
    "ShtDwnRate": "What was the inflight shotdown rate for CFM56-7B engine in 2004",
}

FCEP_LINES = """\
    1        C    1   FOSuitabilit LOG  1.00000E+0002  2.50000E+0002  6.00000E+0002
    1        C   17          Fires LOG  1.00000E+0001  5.00000E+0001  5.00000E+0002
    1        C   18    UnstableApp LOG  2.00000E+0001  5.00000E+0001  1.00000E+0002
    1        C   19     Impairment LOG  2.00000E+0000  5.00000E+0000  1.00000E+0001
    1        C   20 Commercialjets LOG  1.00000E+0004  2.50000E+0004  4.00000E+0004
    1        C   21       PassUpBA LOG  3.00000E+0007  4.50000E+0007  6.00000E+0007
    1        C   22    ManOccRepUK LOG  1.20000E+0001  2.60000E+0001  5.20000E+0001
    1        C   23       HardLand LOG  2.00000E-0001  2.00000E+0000  5.00000E+0000
    1        C   24     ShtDwnRate LOG  1.00000E-0006  5.00000E-0006  1.00000E-0004
    2        A    1   FOSuitabilit LOG  3.00000E+0002  1.00000E+0003  3.00000E+0003
    2        A   17          Fires LOG  5.00000E+0000  5.00000E+0002  5.00000E+0003
    2        A   18    UnstableApp LOG  5.00000E+0000  2.00000E+0001  2.00000E+0002
    2        A   19     Impairment LOG  1.00000E-0002  1.00000E+0000  1.00000E+0002
    2        A   20 Commercialjets LOG  4.00000E+0003  8.00000E+0003  2.00000E+0004
    2        A   21       PassUpBA LOG  3.00000E+0005  1.00000E+0006  1.80000E+0006
    2        A   22    ManOccRepUK LOG  1.10000E+0001  8.00000E+0001  5.00000E+0002
    2        A   23       HardLand LOG  1.00000E-0002  3.57143E-0002  1.00000E-0001
    2        A   24     ShtDwnRate LOG  5.00000E-0005  2.50000E-0004  1.00000E-0003
    3        D    1   FOSuitabilit LOG  1.00000E+0002  2.50000E+0002  6.00000E+0002
    3        D   17          Fires LOG  1.50000E+0001  3.50000E+0001  7.50000E+0001
    3        D   18    UnstableApp LOG  1.00000E+0001  2.50000E+0001  6.00000E+0001
    3        D   19     Impairment LOG  3.00000E-0003  2.00000E-0002  6.00000E-0002
    3        D   20 Commercialjets LOG  9.00000E+0003  1.00000E+0004  1.50000E+0004
    3        D   21       PassUpBA LOG  2.50000E+0006  4.20000E+0006  7.50000E+0006
    3        D   22    ManOccRepUK LOG  5.00000E+0001  3.00000E+0002  5.00000E+0002
    3        D   23       HardLand LOG  1.00000E-0001  5.00000E-0001  8.00000E-0001
    3        D   24     ShtDwnRate LOG  1.00000E-0006  1.00000E-0004  1.00000E-0003
    4        B    1   FOSuitabilit LOG  1.00000E+0001  1.00000E+0002  1.00000E+0003
    4        B   17          Fires LOG  2.50000E+0000  2.50000E+0001  2.50000E+0002
    4        B   18    UnstableApp LOG  1.00000E+0000  1.00000E+0001  1.00000E+0002
    4        B   19     Impairment LOG  2.50000E-0003  2.50000E-0002  2.50000E-0001
    4        B   20 Commercialjets LOG  7.50000E+0003  1.50000E+0004  2.00000E+0004
    4        B   21       PassUpBA LOG  1.00000E+0006  2.50000E+0006  5.00000E+0006
    4        B   22    ManOccRepUK LOG  1.00000E+0001  1.00000E+0002  1.00000E+0003
    4        B   23       HardLand LOG  2.50000E-0002  1.00000E-0001  2.50000E-0001
    4        B   24     ShtDwnRate LOG  1.00000E-0007  1.00000E-0006  1.00000E-0005
    5        E    1   FOSuitabilit LOG  1.00000E+0002  3.00000E+0002  1.00000E+0003
    5        E   17          Fires LOG  4.50000E+0001  1.33000E+0002  1.00000E+0003
    5        E   18    UnstableApp LOG  2.00000E+0000  1.00000E+0001  1.00000E+0002
    5        E   19     Impairment LOG  4.40000E-0004  4.40000E-0003  4.40000E-0002
    5        E   20 Commercialjets LOG  1.25000E+0004  1.50000E+0004  1.75000E+0004
    5        E   21       PassUpBA LOG  5.00000E+0006  8.07500E+0006  1.20000E+0007
    5        E   22    ManOccRepUK LOG  4.00000E+0001  8.00000E+0001  1.20000E+0002
    5        E   23       HardLand LOG  1.00000E-0003  3.00000E-0003  1.00000E-0002
    5        E   24     ShtDwnRate LOG  5.60000E-0006  1.70000E-0005  3.30000E-0005
"""
FCEP_RLS_LINES = """\
    1   FOSuitabilit -9.99600E+0002 LOG
   17          Fires  3.67000E+0000 LOG
   18    UnstableApp  5.26000E+0000 LOG
   19     Impairment  5.67000E-0002 LOG
   20 Commercialjets  1.08400E+0004 LOG
   21       PassUpBA  2.69900E+0006 LOG
   22    ManOccRepUK  5.20000E+0001 LOG
   23       HardLand  5.40000E+0000 LOG
   24     ShtDwnRate  2.00000E-0006 LOG
"""


def _with_question(line: str) -> str:
    """A line as EXCALIBUR writes it: the question right-aligned in 173 characters after the values."""
    item = line[20:34].strip()
    return f"{line} {QUESTIONS[item]:>173s} "


def fcep_pair(folder: Path) -> tuple[Path, Path]:
    """FCEP Error.dtt and .rls: questions on the first expert's lines and on every expert's first item."""
    lines = [
        _with_question(line) if line.startswith("    1 ") or line[14:20].strip() == "1" else line + " "
        for line in FCEP_LINES.splitlines()
    ]
    dtt = folder / "FCEP Error.dtt"
    dtt.write_text("* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95\n" + "\n".join(lines) + "\n")
    rls = folder / "FCEP Error.rls"
    rls.write_text(
        "\n".join(f"{line} {QUESTIONS[line[5:20].strip()]:>173s} " for line in FCEP_RLS_LINES.splitlines())
        + "\n"
    )
    return dtt, rls


def _e(value: float) -> str:
    """EXCALIBUR's number: ``%13.5E`` with a 4-digit exponent and a leading space."""
    mantissa, exponent = f"{value:.5E}".split("E")
    return f" {mantissa}E{int(exponent):+05d}"


def covering_kids_pair(folder: Path) -> tuple[Path, Path]:
    """CoveringKids.dtt/.rls in EXCALIBUR's layout from the test data (10 seeds, 5 quantiles, uniform)."""
    data = pd.read_csv(StringIO(CK_ASSESSMENTS))
    items = list(dict.fromkeys(data["item"]))
    experts = list(dict.fromkeys(data["expert"]))
    lines = ["* CLASS ASCII OUTPUT FILE. NQ=   5   QU=   5  25  50  75  95"]
    for e, expert in enumerate(experts, start=1):
        for i, item in enumerate(items, start=1):
            row = data[(data["expert"] == expert) & (data["item"] == item)].iloc[0]
            values = " ".join(_e(row[c]) for c in ["q05", "q25", "q50", "q75", "q95"])
            lines.append(f"{e:5d}{expert:>9s}{i:5d} {item:>14s} UNI {values} ")
    dtt = folder / "CoveringKids.dtt"
    dtt.write_text("\n".join(lines) + "\n")
    rls = folder / "CoveringKids.rls"
    rls.write_text(
        "".join(f"{i:5d} {item:>14s}{_e(CK_REALIZATIONS[item])} UNI \n" for i, item in enumerate(items, 1))
        + f"{len(items) + 1:5d} {'07PrCwoRWJ':>14s} -9.99500E+0002 UNI \n"
    )
    return dtt, rls


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["expert", "item"]).reset_index(drop=True)


def test_fcep_pair_is_read_as_the_classical_model_takes_it(tmp_path: Path) -> None:
    case = read_excalibur(*fcep_pair(tmp_path))
    assert case.levels == (0.05, 0.5, 0.95)
    assert case.experts == ("C", "A", "D", "B", "E")
    assert case.items == ("FOSuitabilit", *FCEP_REALIZATIONS)
    assert case.realizations == FCEP_REALIZATIONS  # FOSuitabilit's -999.6 makes it a target
    assert set(case.backgrounds.values()) == {"loguniform"}
    assert case.questions == QUESTIONS
    seeds = case.assessments[case.assessments["item"] != "FOSuitabilit"]
    expected = pd.read_csv(StringIO(FCEP_ASSESSMENTS))
    pd.testing.assert_frame_equal(_sorted(seeds), _sorted(expected), check_dtype=False, rtol=1e-12)
    assert not case.warnings


def test_fcep_pair_gives_anduryls_and_excaliburs_decision_makers(tmp_path: Path) -> None:
    case = read_excalibur(*fcep_pair(tmp_path))
    result = classical_model(case.assessments, case.realizations, case.settings())
    experts = result.experts.set_index("expert")
    for expert, (calibration, information) in FCEP_EXPERTS.items():
        assert experts.loc[expert, "calibration"] == pytest.approx(calibration, rel=1e-6)
        assert experts.loc[expert, "information_seeds"] == pytest.approx(information, rel=1e-6)
    assert result.cutoff == pytest.approx(FCEP_ALPHA, rel=1e-9)
    for label, (overrides, dm_name) in RUNS.items():
        dm = (
            classical_model(case.assessments, case.realizations, case.settings(**overrides))
            .decision_makers.set_index("dm")
            .loc[dm_name]
        )
        if label in FCEP_DMS:
            assert dm["calibration"] == pytest.approx(FCEP_DMS[label][0], rel=1e-6), label
            assert dm["information_seeds"] == pytest.approx(FCEP_DMS[label][1], rel=1e-6), label
        ours = (dm["calibration"], dm["information_seeds"], dm["calibration"] * dm["information_seeds"])
        for value, table in zip(ours, FCEP_EXCALIBUR[label], strict=True):
            assert abs(value - table) <= 0.005 + 1e-9, (label, ours)


def test_covering_kids_pair_gives_the_published_numbers(tmp_path: Path) -> None:
    case = read_excalibur(*covering_kids_pair(tmp_path))
    assert case.levels == CK_LEVELS
    assert case.realizations == pytest.approx(CK_REALIZATIONS)
    assert "07PrCwoRWJ" not in case.realizations
    assert any("07PrCwoRWJ has no assessments" in w for w in case.warnings)
    assert set(case.backgrounds.values()) == {"uniform"}
    experts = classical_model(case.assessments, case.realizations, case.settings()).experts.set_index(
        "expert"
    )
    for expert, (calibration, information) in CK_EXPERTS.items():
        assert experts.loc[expert, "calibration"] == pytest.approx(calibration, rel=1e-6)
        assert experts.loc[expert, "information_seeds"] == pytest.approx(information, rel=1e-6)
    for label, (overrides, dm_name) in RUNS.items():
        dm = (
            classical_model(case.assessments, case.realizations, case.settings(**overrides))
            .decision_makers.set_index("dm")
            .loc[dm_name]
        )
        assert dm["calibration"] == pytest.approx(CK_DMS[label][0], rel=1e-6), label
        assert dm["information_seeds"] == pytest.approx(CK_DMS[label][1], rel=1e-6), label
        assert abs(dm["calibration"] * dm["information_seeds"] - CK_EXCALIBUR[label][2]) <= 0.005 + 1e-9


def test_no_value_markers_long_ids_and_loose_columns(tmp_path: Path) -> None:
    dtt = tmp_path / "x.dtt"
    dtt.write_text(
        "* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95\n"
        "    1 P1234567    1 a_very_long_item_id_indeed UNI  1.00000E+0000  2.00000E+0000  3.00000E+0000 \n"
        "    1 P1234567    2           t1 LOG -9.99500E+0002 -9.99500E+0002 -9.99500E+0002 \n"
        "    2 P7654321    1 a_very_long_item_id_indeed UNI  1.50000E+0000  2.50000E+0000  3.50000E+0000 \n"
        "    2 P7654321    2           t1 LOG  1.00000E-0001 -9.99500E+0002  2.00000E+0001 \n"
        "3 X 1 a_very_long_item_id_indeed uni 0.5 1 1.5D+00\n",
        encoding="utf-8",
    )
    rls = tmp_path / "x.rls"
    rls.write_text(
        "    1 a_very_long_item_id_indeed  2.20000E+0000 UNI \n    2           t1 -9.99500E+0002 LOG \n"
    )
    case = read_excalibur(dtt, rls)
    assert case.realizations == {"a_very_long_item_id_indeed": 2.2}
    assert case.backgrounds == {"a_very_long_item_id_indeed": "uniform", "t1": "loguniform"}
    assert case.experts == ("P1234567", "P7654321", "X")
    rows = {(r.expert, r.item): (r.q05, r.q50, r.q95) for r in case.assessments.itertuples()}
    assert rows == {
        ("P1234567", "a_very_long_item_id_indeed"): (1, 2, 3),
        ("P7654321", "a_very_long_item_id_indeed"): (1.5, 2.5, 3.5),
        ("X", "a_very_long_item_id_indeed"): (0.5, 1, 1.5),
    }
    assert any("only some of the quantiles: P7654321/t1" in w for w in case.warnings)


@pytest.mark.parametrize(
    ("dtt", "rls", "message"),
    [
        ("1 2 3\n", "", "not an EXCALIBUR .dtt header"),
        ("* CLASS. NQ=   2   QU=   5  50  95\n", "", "NQ= does not match"),
        ("* NQ= 3 QU= 5 50 95\n    1        A    1          s UNI  1  2\n", "", "x.dtt, line 2: expected"),
        (
            "* NQ= 3 QU= 5 50 95\n    1        A    1          s UNI 1 2 3\n    1        A    1          s UNI 1 2 3\n",
            "",
            "gives item s a second time",
        ),
        (
            "* NQ= 3 QU= 5 50 95\n    1        A    1          s UNI 1 2 3\n",
            "1 s twelve UNI\n",
            "x.rls, line 1",
        ),
    ],
)
def test_unreadable_files_are_refused_with_the_line(tmp_path: Path, dtt: str, rls: str, message: str) -> None:
    (tmp_path / "x.dtt").write_text(dtt)
    (tmp_path / "x.rls").write_text(rls)
    with pytest.raises(ValueError, match=message):
        read_excalibur(tmp_path / "x.dtt", tmp_path / "x.rls")


def test_find_pair_takes_a_folder_one_file_or_both(tmp_path: Path) -> None:
    dtt, rls = fcep_pair(tmp_path)
    assert find_pair([tmp_path]) == (dtt, rls)
    assert find_pair([dtt]) == (dtt, rls)
    assert find_pair([rls]) == (dtt, rls)
    assert find_pair([rls, dtt]) == (dtt, rls)
    export = tmp_path / "export"
    export.mkdir()
    (export / "data.csv").write_text("respondent\n")
    assert find_pair([export]) is None  # an export folder: the full analysis
    with pytest.raises(ValueError, match="must be an EXCALIBUR .dtt file and its .rls"):
        find_pair([dtt, export / "data.csv"])
    (tmp_path / "other.dtt").write_text("")
    with pytest.raises(ValueError, match="several .dtt files"):
        find_pair([tmp_path])
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "a.dtt").write_text("")
    with pytest.raises(ValueError, match="no .rls file beside"):
        find_pair([alone])


def test_analyze_excalibur_writes_the_report_and_results(tmp_path: Path) -> None:
    dtt, rls = fcep_pair(tmp_path)
    results = analyze_excalibur(dtt, rls, tmp_path / "report.html", tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert document == results
    assert document["format"] == "elicit-excalibur-results/1"
    assert (
        document["source"]["dtt"]["name"] == "FCEP Error.dtt"
        and len(document["source"]["dtt"]["sha256"]) == 64
    )
    assert document["source"]["seeds"] == list(FCEP_REALIZATIONS)
    cooke = document["cooke"]
    assert cooke["settings"]["background"] == {item: "loguniform" for item in QUESTIONS}
    dms = {row["dm"]: row for row in cooke["decision_makers"]}
    assert dms["performance_global"]["calibration"] == pytest.approx(FCEP_DMS["global_opt"][0], rel=1e-6)
    assert dms["equal"]["information_seeds"] == pytest.approx(FCEP_DMS["equal"][1], rel=1e-6)
    assert any("only 8 seed item(s)" in w for w in document["warnings"])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (
        page.startswith("<!DOCTYPE html>") and "FCEP Error.dtt" in page and "data:image/png;base64," in page
    )
    assert "performance_global" in page and "ManOccRepUK" in page


def test_the_cli_runs_cooke_on_a_pair_and_reports_unreadable_ones(tmp_path: Path) -> None:
    from elicit.cli.export import analyze

    dtt, rls = fcep_pair(tmp_path)
    runner = CliRunner()
    for args in ([str(tmp_path)], [str(dtt), str(rls)], [str(dtt)]):
        out = tmp_path / "r.html"
        result = runner.invoke(analyze, [*args, "--out", str(out), "--json", str(tmp_path / "r.json")])
        assert result.exit_code == 0, result.output
        assert "Cooke's classical model" in result.output
        cooke = json.loads((tmp_path / "r.json").read_text())["cooke"]
        assert cooke["cutoff"] == pytest.approx(FCEP_ALPHA, rel=1e-9)
    rls.write_text("    1 broken\n")
    result = runner.invoke(analyze, [str(dtt), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "FCEP Error.rls, line 1" in result.output
    result = runner.invoke(analyze, [str(dtt), str(rls), str(dtt), "--out", str(tmp_path / "r.html")])
    assert result.exit_code != 0
