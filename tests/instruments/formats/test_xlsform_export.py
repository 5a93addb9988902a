"""XLSForms out: every item type as XLSForm's nearest equivalent, validated by pyxform converting it to XForm XML,
and the round trip XLSForm -> Elicit -> XLSForm, sheet by sheet, with what it loses and why."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import openpyxl
import pytest
from flask.testing import FlaskCliRunner
from pyxform.xls2xform import convert as pyxform_convert

from elicit.instruments.formats import export_definition, import_file
from elicit.instruments.formats.xlsform import read, write, write_with_warnings
from elicit.instruments.loading import load_file, load_text
from elicit.instruments.model import Definition

ROOT = Path(__file__).resolve().parents[3]
FLAGSHIP = ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "xlsform"
XF = "{http://www.w3.org/2002/xforms}"

# One item of every type, and expressions that reach into them.
EVERY_TYPE = """\
id: every-type
version: 1.0.0
languages: [en, ur]
title: {en: Every type, ur: ہر قسم}
choice_sets:
  agree5: {1: A, 2: B, 3: C, 4: D, 5: E}
pages:
  - id: p1
    intro: {en: Welcome, ur: خوش آمدید}
    items:
      - {id: intro, type: note, text: {en: Hello, ur: سلام}}
      - {id: consent, type: consent, required: true, text: {en: "Agree?", ur: "متفق؟"}}
  - id: p2
    relevant: "consent == 'yes'"
    items:
      - {id: one, type: likert, required: true, choices: agree5, text: {en: One, ur: ایک}, confidence: true}
      - id: grid
        type: likert_matrix
        choices: agree5
        text: {en: Grid, ur: جدول}
        rows:
          - {id: row_1, required: true, text: {en: Row, ur: قطار}}
          - {id: row_2, text: {en: Row 2, ur: قطار 2}, relevant: "row_1 >= 3"}
      - {id: pick, type: single_choice, required: true, choices: {a: A, b: B}, text: {en: Pick, ur: چنیں}}
      - id: many
        type: multiple_choice
        min_selected: 1
        max_selected: 2
        choices: {a: A, b: B, c: C}
        text: {en: Many, ur: متعدد}
      - {id: count, type: integer, min: 0, max: 60, unit: {en: years, ur: سال}, text: {en: Count, ur: گنتی}}
      - {id: share, type: decimal, min: 0, max: 1, text: {en: Share, ur: حصہ}, dont_know: true}
      - {id: words, type: text, max_length: 200, multiline: true, text: {en: Words, ur: الفاظ}}
      - {id: order, type: ranking, choices: {x: X, y: Y, z: Z}, text: {en: Order, ur: ترتیب}}
      - {id: split, type: constant_sum, total: 100, choices: {x: X, y: Y, z: Z}, text: {en: Split, ur: تقسیم}}
      - {id: guess, type: quantiles, min: -100, max: 500, text: {en: Guess, ur: اندازہ}}
      - {id: chips, type: roulette, bins: [0, 10, 20, 30], text: {en: Chips, ur: چپس}}
      - {id: idea, type: four_point, min: 0, max: 100, text: {en: Idea, ur: اندازہ}}
      - {id: chances, type: probabilities, points: [10, 20, 30], min: 0, text: {en: Chances, ur: امکانات}}
      - id: level
        type: slider
        min: 0
        max: 10
        step: 0.5
        min_label: {en: Low, ur: کم}
        max_label: {en: High, ur: زیادہ}
        text: {en: Level, ur: سطح}
      - {id: when, type: date, min: "2026-01-01", max: today, text: {en: When, ur: کب}}
      - id: country
        type: dropdown
        choices: {CHN: China, TUR: Türkiye, USA: United States, other: Another}
        text: {en: Country, ur: ملک}
      - id: state_in
        type: single_choice
        relevant: "pick in ['a', 'b'] and not answered(share)"
        constraint: ". != 'x' or count_selected(many) > 1"
        constraint_message: {en: No, ur: نہیں}
        choices: {x: X, y: Y}
        text: {en: State, ur: ریاست}
      - id: why
        type: text
        relevant: "answered(guess) or state_in == 'x'"
        text: {en: "Why?", ur: "کیوں؟"}
"""


def sheets(data: bytes) -> dict[str, list[dict[str, str]]]:
    """The workbook's sheets as rows of {header: text}, empty cells left out."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    found: dict[str, list[dict[str, str]]] = {}
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        header = [str(cell) for cell in rows[0]]
        found[sheet.title] = [
            {key: str(value) for key, value in zip(header, row, strict=False) if value is not None}
            for row in rows[1:]
        ]
    book.close()
    return found


def xform(data: bytes) -> tuple[Any, list[str]]:
    """pyxform's XForm of the workbook (parsed safely) and its warnings; pyxform raises on an invalid form."""
    warnings: list[str] = []
    result = pyxform_convert(data, warnings=warnings, file_type=".xlsx")
    return SafeET.fromstring(result.xform.encode("utf-8")), warnings


def binds(tree: Any) -> dict[str, dict[str, str]]:
    """Each bind's attributes by the name of its node, spaces normalised (pyxform pads the paths it writes)."""
    return {
        bind.get("nodeset").rsplit("/", 1)[-1]: {
            key: " ".join(value.split()) for key, value in bind.attrib.items()
        }
        for bind in tree.iter(f"{XF}bind")
    }


@pytest.fixture(scope="module")
def flagship() -> tuple[bytes, list[str]]:
    return write_with_warnings(load_file(FLAGSHIP))


@pytest.fixture(scope="module")
def every_type() -> Definition:
    return load_text(EVERY_TYPE, "every-type.yaml")


# -- the flagship instrument, as ODK would load it -------------------------------------------------------------
def test_the_flagship_is_an_xlsform_pyxform_converts_without_warnings(
    flagship: tuple[bytes, list[str]],
) -> None:
    data, _ = flagship
    tree, warnings = xform(data)
    assert warnings == []
    languages = [translation.get("lang") for translation in tree.iter(f"{XF}translation")]
    assert languages == ["English (en)", "Urdu (ur)"]
    found = binds(tree)
    assert found["consent"]["required"] == "true()"
    assert found["sector_other"]["relevant"] == "/data/background/sector = 'other'"
    assert found["background"]["relevant"] == "/data/welcome/consent = 'OK'"
    assert found["years"]["constraint"] == ". >= 0 and . <= 60"
    assert found["activities"]["constraint"] == "not(selected(., 'none') and count-selected(.) > 1)"
    assert found["next_dialogue"]["constraint"] == ". >= date('2026-01-01') and . <= date('2035-12-31')"
    assert found["sector_other"]["constraint"] == "string-length(.) <= 200"


def test_the_flagships_sheets_hold_every_language_and_its_groups(flagship: tuple[bytes, list[str]]) -> None:
    data, _ = flagship
    survey = sheets(data)["survey"]
    by_name = {row["name"]: row for row in survey if "name" in row and not row["type"].startswith("end")}
    assert by_name["tac_grid"]["appearance"] == "table-list"
    assert by_name["lev_tactical"]["appearance"] == "field-list"
    assert by_name["afford_scale"]["type"] == "range"
    assert by_name["afford_scale"]["parameters"] == "start=0 end=10 step=1"
    assert by_name["third_country"]["appearance"] == "minimal"
    assert by_name["afford"]["appearance"] == "likert"
    assert by_name["state"]["label::Urdu (ur)"] == "آپ پیشہ ورانہ طور پر کس ملک سے وابستہ ہیں؟"
    choices = sheets(data)["choices"]
    assert {
        "list_name": "state",
        "name": "PK",
        "label::English (en)": "Pakistan",
        "label::Urdu (ur)": "پاکستان",
    } in choices
    settings = sheets(data)["settings"][0]
    assert settings == {
        "form_title": "Defence diplomacy: tactical, strategic and economic leverage",
        "form_id": "defence-diplomacy",
        "version": "1.1.0",
        "default_language": "English (en)",
    }


def test_the_flagships_warnings_say_what_is_approximate(flagship: tuple[bytes, list[str]]) -> None:
    _, warnings = flagship
    assert any(w.startswith("item 'consent' (consent) is written as acknowledge") for w in warnings)
    assert any(
        w.startswith("item 'alloc' (constant_sum) is written as a group of 3 decimal questions")
        for w in warnings
    )
    assert any(
        w.startswith("item 'exports_change' (quantiles) is written as a group of 3 questions")
        for w in warnings
    )
    assert "the practice page of the instrument: XLSForm has no place for it; left out" in warnings
    assert "the title is written in en only: the settings sheet holds one form_title" in warnings
    assert any(w.startswith("privacy marks (state, sector") for w in warnings)


# -- every item type -----------------------------------------------------------------------------------------
def test_every_type_is_written_as_its_nearest_equivalent(every_type: Definition) -> None:
    data, warnings = write_with_warnings(every_type)
    tree, pyxform_warnings = xform(data)
    assert pyxform_warnings == []
    survey = sheets(data)["survey"]
    types = {row["name"]: row["type"] for row in survey if not row["type"].startswith("end")}
    assert types["p1_intro"] == "note"
    assert types["consent"] == "acknowledge"
    assert types["one"].startswith("select_one ") and types["one_confidence"] == "integer"
    assert types["grid"] == "begin group" and types["row_1"] == types["row_2"] == types["one"]
    assert types["order"].startswith("rank ")
    assert [types[f"split_{code}"] for code in "xyz"] == ["decimal"] * 3
    assert [types[f"guess_q{level}"] for level in ("05", "50", "95")] == ["decimal"] * 3
    assert [types[f"chips_b{n}"] for n in (1, 2, 3)] == ["integer"] * 3
    assert [types[f"idea_{part}"] for part in ("low", "high", "best", "confidence")] == [
        "decimal",
        "decimal",
        "decimal",
        "integer",
    ]
    assert [types[f"chances_p{n}"] for n in (1, 2, 3)] == ["decimal"] * 3
    assert types["level"] == "range" and types["when"] == "date"
    found = binds(tree)
    assert (
        found["split_z"]["constraint"]
        == ". >= 0 and /data/p2/split/split_x + /data/p2/split/split_y + . = 100"
    )
    assert found["guess_q50"]["constraint"] == ". >= -100 and . <= 500 and . > /data/p2/guess/guess_q05"
    assert found["idea_best"]["constraint"] == (
        ". >= 0 and . <= 100 and . >= /data/p2/idea/idea_low and . <= /data/p2/idea/idea_high"
    )
    assert found["idea_confidence"]["constraint"] == ". >= 50 and . <= 100"
    assert (
        found["chips_b3"]["constraint"]
        == ". >= 0 and /data/p2/chips/chips_b1 + /data/p2/chips/chips_b2 + . = 20"
    )
    assert found["chances_p2"]["constraint"] == ". >= 0 and . <= 100 and . >= /data/p2/chances/chances_p1"
    assert found["many"]["constraint"] == "count-selected(.) >= 1 and count-selected(.) <= 2"
    assert found["words"]["constraint"] == "string-length(.) <= 200"
    assert found["when"]["constraint"] == ". >= date('2026-01-01') and . <= today()"
    assert found["row_2"]["relevant"] == "/data/p2/grid/row_1 >= 3"
    by_name = {row["name"]: row for row in survey if "name" in row}
    assert by_name["count"]["hint::English (en)"] == "(years)"
    assert by_name["level"]["hint::Urdu (ur)"] == "0: کم … 10: زیادہ"
    assert by_name["level"]["parameters"] == "start=0 end=10 step=0.5"
    kinds = ("constant_sum", "quantiles", "roulette", "four_point", "probabilities")
    assert all(any(f"({kind}) is written as a group" in w for w in warnings) for kind in kinds)
    assert any("'don't know' answers (share)" in w for w in warnings)
    assert any("its confidence question is written as the integer 'one_confidence'" in w for w in warnings)


def test_an_expression_xpath_cannot_hold_is_noted_in_the_sheet_and_warned(every_type: Definition) -> None:
    data, warnings = write_with_warnings(every_type)
    by_name = {row["name"]: row for row in sheets(data)["survey"] if "name" in row}
    why = by_name["why"]
    assert "relevant" not in why
    assert why["elicit_note"].startswith("relevant not written: answered(guess) or state_in == 'x'")
    assert any(
        w.startswith("item 'why': relevant 'answered(guess) or state_in == 'x'' has no XPath equivalent")
        for w in warnings
    )
    state = by_name["state_in"]
    assert state["relevant"] == "(${pick} = 'a' or ${pick} = 'b') and ${share} = ''"
    assert state["constraint"] == ". != 'x' or count-selected(${many}) > 1"
    assert state["constraint_message::Urdu (ur)"] == "نہیں"


def test_a_text_that_starts_with_an_equals_sign_stays_text() -> None:
    definition = load_text(
        "id: eq\nversion: 1.0.0\nlanguages: [en]\ntitle: T\npages:\n  - id: p\n    items:\n"
        "      - {id: n, type: note, text: '=SUM(A1:A3) is not a formula'}\n",
        "eq.yaml",
    )
    book = openpyxl.load_workbook(io.BytesIO(write(definition)))
    cell = book["survey"]["C3"]
    assert (cell.value, cell.data_type) == ("=SUM(A1:A3) is not a formula", "s")


def test_the_export_imports_back_and_passes_the_check(
    flagship: tuple[bytes, list[str]], tmp_path: Path
) -> None:
    data, _ = flagship
    source = tmp_path / "defence.xlsx"
    source.write_bytes(data)
    _, imported, definition = import_file(
        source, tmp_path / "instruments" / "defence-diplomacy" / "2.0.0.yaml"
    )
    assert definition.languages == ("en", "ur")
    assert definition.item("tac_1").matrix == "tac_grid"
    assert definition.item("consent").type == "consent"
    assert definition.item("sector_other").relevant.source == "sector == 'other'"  # type: ignore[union-attr]
    assert definition.item("years").max == 60


def test_export_definition_and_the_command_write_an_xlsform(runner: FlaskCliRunner, tmp_path: Path) -> None:
    assert export_definition(load_file(FLAGSHIP), "xlsform")[:2] == b"PK"
    out = tmp_path / "form.xlsx"
    result = runner.invoke(
        args=["instrument", "export", str(FLAGSHIP), "--format", "xlsform", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sheets(out.read_bytes())["settings"][0]["form_id"] == "defence-diplomacy"


# -- the round trip XLSForm -> Elicit -> XLSForm -------------------------------------------------------------
def csv_sheets(path: Path) -> dict[str, list[dict[str, str]]]:
    """A pyxform-layout CSV's sheets as rows of {header: text}, empty cells left out."""
    found: dict[str, list[dict[str, str]]] = {}
    header: list[str] = []
    current = ""
    for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")):
        if row and row[0]:
            current, header = row[0], []
            found[current] = []
        elif row and not header:
            header = row[1:]
        elif row:
            found[current].append({k: v for k, v in zip(header, row[1:], strict=False) if v})
    return found


def texts(row: dict[str, str], base: str) -> dict[str, str]:
    """A row's texts by language code; a plain column is English, as the import reads it."""
    found: dict[str, str] = {}
    for key, value in row.items():
        if key == base:
            found["en"] = value
        elif key.startswith(f"{base}::"):
            found[re.findall(r"\((\w+)\)", key)[0]] = value
    return found


def questions(book: dict[str, list[dict[str, str]]]) -> dict[str, dict[str, Any]]:
    """What each named row of the survey asks: its type (without the list), texts, choices, logic."""
    lists: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for choice in book.get("choices", []):
        lists.setdefault(choice["list_name"], []).append((choice["name"], texts(choice, "label")))
    found: dict[str, dict[str, Any]] = {}
    for row in book["survey"]:
        if "name" not in row or re.match(r"end[ _](group|repeat)$", row["type"]):
            continue
        kind = row["type"].split()
        found[row["name"]] = {
            "type": kind[0] if kind[0] != "begin" else "begin group",
            "or_other": kind[-1] == "or_other",
            "choices": lists[kind[1]] if len(kind) > 1 and kind[0] != "begin" else None,
            "label": texts(row, "label"),
            "hint": texts(row, "hint"),
            "required": row.get("required") == "yes",
            "relevant": " ".join(row.get("relevant", "").split()),
            "constraint": " ".join(row.get("constraint", "").split()),
            "constraint_message": texts(row, "constraint_message"),
            "appearance": row.get("appearance", ""),
            "parameters": row.get("parameters", ""),
        }
    return found


def round_trip(fixture: str, tmp_path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    source = FIXTURES / fixture
    _, _, definition = import_file(source, tmp_path / "instruments" / "trip" / "1.0.0.yaml")
    data = write(definition)
    xform(data)  # the exported form is valid
    return questions(csv_sheets(source)), questions(sheets(data))


def differences(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], Any]:
    """(name, field) -> (before, after) for every field that changed, and names only one side has."""
    found: dict[tuple[str, str], Any] = {}
    for name in before.keys() | after.keys():
        if name not in after or name not in before:
            found[(name, "row")] = "only before" if name in before else "only after"
            continue
        for key, value in before[name].items():
            if after[name][key] != value:
                found[(name, key)] = (value, after[name][key])
    return found


def test_the_bilingual_form_keeps_items_choices_labels_relevance_and_constraints(tmp_path: Path) -> None:
    before, after = round_trip("expert_survey.csv", tmp_path)
    other = before["sector"]["choices"] + [("other", {"en": "Other", "ur": "Other"})]
    bounds_message = "a constraint that is only bounds takes Elicit's own message, so its message is not kept"
    lost = {  # what the round trip changes, and why
        ("start", "row"): "only before",  # metadata: Elicit records when a response starts and is submitted
        ("end", "row"): "only before",
        ("page_1", "row"): "only after",  # questions outside any group share a page, written as a group
        ("sector", "or_other"): (True, False),  # or_other is written out as pyxform expands it:
        ("sector", "choices"): (before["sector"]["choices"], other),  # an 'other' choice ...
        ("sector_other", "row"): "only after",  # ... and the text question asked when it is chosen
        ("years", "constraint_message"): (before["years"]["constraint_message"], {}),  # bounds_message
        ("activities", "constraint_message"): (before["activities"]["constraint_message"], {}),
        ("exercise_detail", "constraint_message"): (before["exercise_detail"]["constraint_message"], {}),
        ("next_dialogue", "constraint_message"): (before["next_dialogue"]["constraint_message"], {}),
        ("budget_share", "constraint_message"): (before["budget_share"]["constraint_message"], {}),
    }
    assert bounds_message
    assert differences(before, after) == lost
    # what is kept, spelled out for the parts that matter most:
    for name in (
        "background",
        "views",
        "agreement",
        "state",
        "years",
        "activities",
        "afford",
        "rank_leverage",
    ):
        assert after[name]["label"] == before[name]["label"] and set(after[name]["label"]) == {"en", "ur"}
    assert after["views"]["relevant"] == "${consent} = 'OK' and ${years} >= 2"
    assert after["years"]["constraint"] == ". >= 0 and . <= 60"
    assert after["agreement"]["appearance"] == "table-list"


def test_the_skip_logic_form_keeps_its_logic(tmp_path: Path) -> None:
    before, after = round_trip("skip_logic.csv", tmp_path)
    message = before["years_abroad"]["constraint_message"]
    lost = {  # what the round trip changes, and why
        # . > 0 and . < 50 on a whole number is min 1 and max 49, written back as such; the message is Elicit's
        ("years_abroad", "constraint"): (". > 0 and . < 50", ". >= 1 and . <= 49"),
        ("years_abroad", "constraint_message"): (message, {}),
        # the static choice_filter area != 'polar' is applied on import: the choices are the filtered ones
        ("regions", "choices"): (before["regions"]["choices"], before["regions"]["choices"][:4]),
        # the nested group is flattened: its label is a note and its relevance moves onto its questions
        ("details", "type"): ("begin group", "note"),
        ("posting_region", "relevant"): (
            before["posting_region"]["relevant"],
            f"count-selected(${{regions}}) > 0 and ({before['posting_region']['relevant']})",
        ),
        ("posting_count", "relevant"): ("", "count-selected(${regions}) > 0"),
        ("posting_count", "constraint_message"): (before["posting_count"]["constraint_message"], {}),
        # Elicit's texts do not show answers: ${share_a} in a label reads '…'
        ("shares_note", "label"): (
            before["shares_note"]["label"],
            {"en": "You gave … % for representation and … % for reporting."},
        ),
        # a form with one unnamed language gains its groups a field-list appearance it did not have: none here
    }
    assert differences(before, after) == lost
    for name in ("why_not", "share_b", "total_years", "regions", "worked_abroad", "can_judge"):
        assert after[name]["relevant"] == before[name]["relevant"]
        assert after[name]["constraint"] == before[name]["constraint"]
    assert after["worked_abroad"]["appearance"] == "minimal" and after["can_judge"]["appearance"] == "likert"


def test_reading_our_own_export_reads_back_the_same_instrument(
    every_type: Definition, tmp_path: Path
) -> None:
    data = write(every_type)
    imported = read("every.xlsx", data, "every-type", "1.0.0")
    items = {item["id"]: item for page in imported.document["pages"] for item in page["items"]}
    assert items["grid"]["type"] == "likert_matrix"
    assert [row["id"] for row in items["grid"]["rows"]] == ["row_1", "row_2"]
    assert items["one"]["type"] == "likert" and items["country"]["type"] == "dropdown"
    assert (items["level"]["min"], items["level"]["max"], items["level"]["step"]) == (0, 10, 0.5)
    assert items["when"]["min"] == "2026-01-01" and items["when"]["max"] == "today"
    assert items["many"]["min_selected"] == 1 and items["many"]["max_selected"] == 2
    assert items["words"]["max_length"] == 200 and items["words"]["multiline"] is True
    assert items["state_in"]["relevant"] == "(pick == 'a' or pick == 'b') and not answered(share)"
