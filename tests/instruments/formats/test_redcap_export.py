"""Instruments out as REDCap data dictionaries, and the round trips REDCap -> Elicit -> REDCap and back.

REDCap -> Elicit -> REDCap keeps every field's name, type, choices, branching logic, required flag, validation
(integer, number, date) with its bounds, and identifiers. What it does not keep, and why, is listed in
``ROUND_TRIP_CHANGES``: REDCap features Elicit has no place for (action tags, choice alignment, question
numbers, a slider's middle label, text validations Elicit does not check) and the shape REDCap is written back
in (one form named after the instrument, its pages as section headers).
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from elicit.instruments.formats import export_definition, import_file
from elicit.instruments.formats.redcap import COLUMNS, read, write, write_with_warnings
from elicit.instruments.loading import load_file, load_text
from elicit.instruments.model import Definition

FIXTURES = Path(__file__).parent / "fixtures" / "redcap"
WELLBEING = FIXTURES / "Wellbeing_Survey_DataDictionary_2024-05-01.csv"
FLAGSHIP = Path(__file__).parents[3] / "instruments" / "defence-diplomacy" / "1.1.0.yaml"


def table(data: bytes) -> list[dict[str, str]]:
    """A dictionary's rows by column key; the header must be the 18 columns exactly."""
    assert data.startswith("\ufeff".encode())  # so that Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(COLUMNS.values())
    assert all(len(row) == 18 for row in rows)
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def instrument(yaml_pages: str, languages: str = "[en]") -> Definition:
    return load_text(
        f"id: t\nversion: 1.0.0\nlanguages: {languages}\ntitle: T\npages:\n{yaml_pages}", "t.yaml"
    )


def reimported(data: bytes, tmp_path: Path, name: str = "t") -> Definition:
    source = tmp_path / f"{name}.csv"
    source.write_bytes(data)
    return import_file(source, tmp_path / "instruments" / name / "1.0.0.yaml")[2]


# -- REDCap -> Elicit -> REDCap ----------------------------------------------------------------------------
#: What the round trip changes, field by field and column by column, and why.
ROUND_TRIP_CHANGES: dict[tuple[str, str], tuple[str, str]] = {
    # Elicit reads HTML as plain text, and writes it so.
    ("quit_story", "label"): (
        "<p>Tell us how you <b>stopped</b> smoking.</p><p>Take your time.</p>",
        "Tell us how you stopped smoking.\n\nTake your time.",
    ),
    ("info", "section"): ("<h3>Your views</h3>", "Your views"),
    # Validations Elicit does not check are not written back: the field is plain text.
    ("email", "validation"): ("email", ""),
    ("phone", "validation"): ("phone", ""),
    ("zip", "validation"): ("zipcode", ""),
    # A decimal has no fixed number of places; a date is a date, entered with the browser's picker.
    ("height", "validation"): ("number_2dp", "number"),
    ("dob", "validation"): ("date_dmy", "date_ymd"),
    ("dob", "min"): ("01-01-1920", "1920-01-01"),
    # REDCap behaviours Elicit does not have (the action tag @CHARLIMIT is Elicit's max_length, and kept).
    ("weight", "annotation"): ("@DEFAULT='70'", ""),
    ("hobbies", "annotation"): ("@NONEOFTHEABOVE", ""),
    ("about_happiness", "annotation"): ("@HIDDEN-SURVEY", ""),
    ("sex", "alignment"): ("RH", ""),
    ("age", "question_number"): ("1", ""),
    # Elicit's slider labels its two ends only.
    ("happiness", "choices"): ("Very unhappy | Neutral | Very happy", "Very unhappy | | Very happy"),
    # The same logic, spelt the way the writer spells it.
    ("country_other", "branching"): ('[country] = "other"', "[country] = 'other'"),
    ("quit_story", "branching"): ("[smoker] <> '1' AND [smoker] <> ''", "[smoker] <> '1' and [smoker] <> ''"),
}


def test_redcap_to_elicit_to_redcap_keeps_fields_types_choices_logic_and_validation(tmp_path: Path) -> None:
    definition = import_file(WELLBEING, tmp_path / "instruments" / "wellbeing" / "1.0.0.yaml")[2]
    original = table("\ufeff".encode() + WELLBEING.read_bytes())
    data, warnings = write_with_warnings(definition)
    written = table(data)
    assert [row["name"] for row in written] == [row["name"] for row in original]
    assert {row["form"] for row in original} == {"demographics", "opinions"}
    assert {row["form"] for row in written} == {"wellbeing"}  # one form named after the instrument
    for before, after in zip(original, written, strict=True):
        for key in COLUMNS:
            if key == "form":
                continue
            expected = ROUND_TRIP_CHANGES.get((before["name"], key), (before[key], before[key]))
            assert (before[key], after[key]) == expected, (before["name"], key)
    assert warnings == []  # nothing of the questionnaire was left out


def test_the_dictionary_written_back_reads_as_the_same_instrument(tmp_path: Path) -> None:
    first = import_file(WELLBEING, tmp_path / "instruments" / "wellbeing" / "1.0.0.yaml")[2]
    second = reimported(write(first), tmp_path, "again")

    def without_ids(definition: Definition) -> list[dict[str, Any]]:
        """Pages without their ids: one form's sections are named after the form, not after the old forms."""
        return [{k: v for k, v in page.items() if k != "id"} for page in definition.canonical["pages"]]

    assert without_ids(second) == without_ids(first)
    assert [page.id for page in second.pages] == ["wellbeing", "wellbeing_2", "wellbeing_3", "wellbeing_4"]


# -- Elicit -> REDCap ----------------------------------------------------------------------------------------
def test_the_flagship_instrument_as_a_redcap_dictionary(tmp_path: Path) -> None:
    definition = load_file(FLAGSHIP)
    data, warnings = write_with_warnings(definition)
    rows = {row["name"]: row for row in table(data)}
    first = next(iter(rows.values()))
    assert (first["name"], first["type"], first["label"]) == ("record_id", "text", "Record ID")
    assert {row["form"] for row in rows.values()} == {"defence_diplomacy"}
    assert rows["state"]["type"] == "radio"
    assert rows["state"]["choices"] == "UK, United Kingdom | PK, Pakistan"
    assert rows["state"]["branching"] == "[consent] = 'yes'"  # the page's condition, on each of its fields
    assert rows["sector_other"]["branching"] == "[consent] = 'yes' and [sector] = 'other'"
    assert rows["sector_other"]["annotation"] == "@CHARLIMIT=200 Elicit privacy: free_text"
    assert (rows["years"]["validation"], rows["years"]["min"], rows["years"]["max"]) == ("integer", "0", "60")
    assert rows["tac_1"]["matrix_group"] == "tac_grid"
    assert rows["tac_1"]["section"] == "How far do you agree or disagree with each statement?"
    assert (rows["afford_scale"]["type"], rows["afford_scale"]["min"], rows["afford_scale"]["max"]) == (
        "slider",
        "0",
        "10",
    )
    assert rows["third_country"]["type"] == "dropdown"
    assert rows["next_dialogue"]["validation"] == "date_ymd"
    assert rows["activities"]["type"] == "checkbox"
    assert "Elicit accepts an answer only if: not (selected(., 'none')" in rows["activities"]["annotation"]
    # Composite answers: one number field per part, with the part's bounds.
    assert [n for n in rows if n.startswith("rank_leverage_")] == [
        "rank_leverage_tactical",
        "rank_leverage_strategic",
        "rank_leverage_economic",
    ]
    assert (rows["rank_leverage_tactical"]["validation"], rows["rank_leverage_tactical"]["max"]) == (
        "integer",
        "3",
    )
    assert rows["alloc_economic"]["max"] == "100"
    assert rows["exports_change_q50"]["label"].endswith(": 50th percentile")
    assert warnings[0] == (
        "REDCap holds one language: only en is written; ur are not (REDCap's Multi-Language Management adds "
        "translations in the project)"
    )
    assert "the practice page is not written: REDCap has no calibration training" in warnings
    assert any(w.startswith("ranking 'rank_leverage' is written as 3 number fields") for w in warnings)
    assert any(w.startswith("consent 'consent' is a radio field") for w in warnings)
    back = reimported(data, tmp_path, "flagship")  # and REDCap's dictionary passes our check again
    assert {item.id for item in back.items()} >= {"state", "sector", "tac_1", "afford_scale", "next_dialogue"}


def test_every_composite_item_becomes_number_fields_with_a_warning() -> None:
    definition = instrument(
        """  - id: p
    items:
      - {id: rank, type: ranking, text: Rank, choices: {a: A, b: B, c: C}}
      - {id: split, type: constant_sum, text: Split, total: 10, choices: {a: A, b: B}}
      - {id: q, type: quantiles, text: How many, min: 0, max: 50}
      - {id: fp, type: four_point, text: Visits, min: 0, max: 500}
      - {id: chips, type: roulette, text: Share, bins: [0, 1, 2, 3], chips: 20}
      - {id: probs, type: probabilities, text: Share, points: [1, 2]}
"""
    )
    data, warnings = write_with_warnings(definition)
    rows = {row["name"]: (row["validation"], row["min"], row["max"]) for row in table(data)[1:]}
    assert rows == {
        "rank_a": ("integer", "1", "3"),
        "rank_b": ("integer", "1", "3"),
        "rank_c": ("integer", "1", "3"),
        "split_a": ("number", "0", "10"),
        "split_b": ("number", "0", "10"),
        "q_q05": ("number", "0", "50"),
        "q_q50": ("number", "0", "50"),
        "q_q95": ("number", "0", "50"),
        "fp_low": ("number", "0", "500"),
        "fp_high": ("number", "0", "500"),
        "fp_best": ("number", "0", "500"),
        "fp_confidence": ("integer", "50", "100"),
        "chips_b1": ("integer", "0", "20"),
        "chips_b2": ("integer", "0", "20"),
        "chips_b3": ("integer", "0", "20"),
        "probs_p1": ("number", "0", "100"),
        "probs_p2": ("number", "0", "100"),
    }
    assert [w.split(":")[0] for w in warnings] == [
        "ranking 'rank' is written as 3 number fields (rank_a, rank_b, rank_c)",
        "constant_sum 'split' is written as 2 number fields (split_a, split_b)",
        "quantiles 'q' is written as 3 number fields (q_q05, q_q50, q_q95)",
        "four_point 'fp' is written as 4 number fields (fp_low, fp_high, fp_best, fp_confidence)",
        "roulette 'chips' is written as 3 number fields (chips_b1, chips_b2, chips_b3)",
        "probabilities 'probs' is written as 2 number fields (probs_p1, probs_p2)",
    ]


# -- expressions out ---------------------------------------------------------------------------------------
LOGIC_ITEMS = """  - id: p
    items:
      - {id: role, type: single_choice, text: Role, choices: {a: A, b: B, other: Other}}
      - {id: acts, type: multiple_choice, text: Acts, choices: {x: X, y: Y, z: Z}}
      - {id: years, type: integer, text: Years}
      - {id: name, type: text, text: Name}
      - {id: target, type: text, text: Target, relevant: "%s"}
"""


@pytest.mark.parametrize(
    ("expression", "logic"),
    [
        ("role == 'other'", "[role] = 'other'"),
        ("role != 'a'", "[role] <> 'a'"),
        ("years >= 5 and years < 10", "[years] >= 5 and [years] < 10"),
        ("not (years > 5)", "[years] = '' or [years] <= 5"),
        ("selected(acts, 'x')", "[acts(x)] = '1'"),
        ("not selected(acts, 'y')", "[acts(y)] = '0'"),
        ("selected(role, 'b')", "[role] = 'b'"),
        ("answered(acts)", "[acts(x)] = '1' or [acts(y)] = '1' or [acts(z)] = '1'"),
        ("not answered(acts)", "[acts(x)] = '0' and [acts(y)] = '0' and [acts(z)] = '0'"),
        ("not answered(name)", "[name] = ''"),
        ("years == null", "[years] = ''"),
        ("role in ['a', 'b']", "[role] = 'a' or [role] = 'b'"),
        ("role not in ['a', 'b']", "[role] <> 'a' and [role] <> 'b'"),
        ("(role == 'a' or role == 'b') and years > 1", "([role] = 'a' or [role] = 'b') and [years] > 1"),
        ("not (role == 'a' and years > 1)", "[role] <> 'a' or [years] = '' or [years] <= 1"),
        ("years + 2 > 7", "[years] + 2 > 7"),
        ("(years - 1) * 2 > 7", "([years] - 1) * 2 > 7"),
        ('name == "O\'Brien"', '[name] = "O\'Brien"'),
    ],
)
def test_expressions_become_branching_logic_that_means_the_same(
    expression: str, logic: str, tmp_path: Path
) -> None:
    definition = instrument(LOGIC_ITEMS % expression.replace('"', '\\"'))
    data, warnings = write_with_warnings(definition)
    rows = {row["name"]: row for row in table(data)}
    assert rows["target"]["branching"] == logic
    assert warnings == []
    back = reimported(data, tmp_path).item("target").relevant
    original = definition.item("target").relevant
    assert back is not None and original is not None
    for role, acts, years, name in itertools.product(
        (None, "a", "b", "other"), (None, ["x"], ["y", "z"]), (None, 0, 1, 5, 9, 12), (None, "Ann", "O'Brien")
    ):
        answers: dict[str, Any] = {"role": role, "acts": acts, "years": years, "name": name}
        assert back.truthy(answers) == original.truthy(answers), answers


def test_an_expression_redcap_cannot_say_is_noted_and_warned() -> None:
    definition = instrument(LOGIC_ITEMS % "count_selected(acts) > 1")
    data, warnings = write_with_warnings(definition)
    target = {row["name"]: row for row in table(data)}["target"]
    assert target["branching"] == ""
    assert target["annotation"] == "Elicit shows this only if: count_selected(acts) > 1"
    assert warnings == [
        "the condition of item 'target' (count_selected(acts) > 1) cannot be written as REDCap branching logic: "
        "count_selected() has no REDCap equivalent; noted in its annotation"
    ]


def test_other_languages_yes_no_pages_and_matrices(tmp_path: Path) -> None:
    definition = instrument(
        """  - id: first
    items:
      - id: smoke
        type: single_choice
        text: {en: "Smoke?", ur: "سگریٹ؟"}
        choices: {1: {en: "Yes", ur: "ہاں"}, 0: {en: "No", ur: "نہیں"}}
  - id: second
    intro: {en: "Some words", ur: "کچھ الفاظ"}
    items:
      - id: grid
        type: likert_matrix
        text: {en: "Rate", ur: "درجہ"}
        choices: {1: {en: "Low", ur: "کم"}, 2: {en: "High", ur: "زیادہ"}}
        rows: [{id: r1, text: {en: "One", ur: "ایک"}}, {id: r2, text: {en: "Two", ur: "دو"}}]
  - id: third
    items:
      - {id: why, type: text, text: {en: "Why?", ur: "کیوں؟"}, multiline: true, required: true, privacy: direct_identifier}
""",
        "[en, ur]",
    )
    data, warnings = write_with_warnings(definition)
    rows = [(r["name"], r["section"], r["type"], r["label"], r["matrix_group"]) for r in table(data)]
    assert rows == [
        ("record_id", "", "text", "Record ID", ""),
        ("smoke", "", "yesno", "Smoke?", ""),  # choices 1 Yes / 0 No are REDCap's yesno
        ("second_intro", "Second", "descriptive", "Some words", ""),  # an untitled page's header is its id
        ("r1", "Rate", "radio", "One", "grid"),  # a matrix's text is its first row's section header
        ("r2", "", "radio", "Two", "grid"),
        ("why", "Third", "notes", "Why?", ""),
    ]
    assert warnings[0].startswith("REDCap holds one language: only en is written; ur are not")
    assert (
        "page 'second' has no title: its section header (which starts it in REDCap) is 'Second'" in warnings
    )
    assert "matrix 'grid': its text is a section header, which starts a new section in REDCap" in warnings
    why = table(data)[-1]
    assert (why["required"], why["identifier"]) == ("y", "y")
    back = reimported(data, tmp_path)
    assert back.item("r1").matrix == "grid" and back.item("why").privacy.kind == "direct_identifier"


def test_export_definition_and_the_command_write_a_redcap_dictionary(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert export_definition(load_file(FLAGSHIP), "redcap") == write(load_file(FLAGSHIP))
    out = tmp_path / "dd.csv"
    result = runner.invoke(
        args=["instrument", "export", str(FLAGSHIP), "--format", "redcap", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert table(out.read_bytes())[0]["name"] == "record_id"
    imported = read(str(out), out.read_bytes(), "defence-diplomacy", "1.1.0")
    assert imported.document["languages"] == ["en"]


def test_what_a_field_cannot_hold_is_noted_in_its_annotation() -> None:
    definition = instrument(
        """  - id: p
    items:
      - {id: staff, type: integer, text: Staff, unit: people, help: Roughly, dont_know: true, confidence: true}
      - {id: acts, type: multiple_choice, text: Acts, choices: {x: X, y: Y}, max_selected: 1,
         constraint: "not selected(., 'y')", privacy: quasi_identifier}
"""
    )
    data, warnings = write_with_warnings(definition)
    rows = {row["name"]: row for row in table(data)}
    assert rows["staff"]["note"] == "Roughly (people)"
    assert rows["staff"]["annotation"] == "Elicit offers don't know"
    assert (rows["staff_confidence"]["type"], rows["staff_confidence"]["choices"]) == (
        "radio",
        "1, 1 - not at all | 2, 2 | 3, 3 | 4, 4 | 5, 5 - very",
    )
    assert rows["acts"]["annotation"] == (
        "Elicit asks for 0 to 1 choices; Elicit privacy: quasi_identifier; "
        "Elicit accepts an answer only if: not selected(., 'y')"
    )
    assert warnings == [
        "the unit of 'staff' is written in its field note",
        "'staff' offers 'don't know': in REDCap, use the project's missing data codes",
        "'staff' asks how confident the expert is: written as a radio field 'staff_confidence'",
        "the number of choices 'acts' allows is not checked by REDCap: noted in its annotation",
        "privacy 'quasi_identifier' of 'acts' is noted in its annotation: REDCap marks only identifiers",
        "the constraint of 'acts' (not selected(., 'y')) is not checked by REDCap: noted in its annotation",
    ]
