"""REDCap data dictionaries in: every field type, matrices, sections, branching logic, headers and bad files.

The fixtures in fixtures/redcap/ were written by hand from REDCap's data dictionary format (the 18 columns of
"Download the current Data Dictionary", the API's short column names, and a REDCap 5 file's older ones).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from elicit.cli import main
from elicit.instruments.expressions import parse
from elicit.instruments.formats import ImportFailed, import_file
from elicit.instruments.formats.redcap import COLUMNS, read

FIXTURES = Path(__file__).parent / "fixtures" / "redcap"
WELLBEING = FIXTURES / "Wellbeing_Survey_DataDictionary_2024-05-01.csv"


def dictionary(*rows: dict[str, str]) -> bytes:
    """A data dictionary with the 18 columns from rows given by column key (``name``, ``type``, ...)."""
    out = io.StringIO()
    table = csv.writer(out)
    table.writerow(COLUMNS.values())
    table.writerow(["record_id", "survey", "", "text", "Record ID"] + [""] * 13)
    for row in rows:
        table.writerow([row.get(key, "survey" if key == "form" else "") for key in COLUMNS])
    return out.getvalue().encode("utf-8")


def items_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every item and matrix row of a document by id."""
    found: dict[str, dict[str, Any]] = {}
    for page in document["pages"]:
        for item in page["items"]:
            found[item["id"]] = item
            for row in item.get("rows", []):
                found[row["id"]] = row
    return found


def problems_of(data: bytes, name: str = "dd.csv") -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        read(name, data, "x", "1.0.0")
    return [str(problem) for problem in caught.value.problems]


# -- the hand-written dictionary with every field type ------------------------------------------------------
@pytest.fixture(scope="module")
def wellbeing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    out = tmp_path_factory.mktemp("import") / "instruments" / "wellbeing" / "1.0.0.yaml"
    kind, imported, definition = import_file(WELLBEING, out)
    assert kind == "REDCap data dictionary"
    return imported, definition, out


def test_every_field_type_becomes_the_nearest_item_type(wellbeing: tuple[Any, Any, Path]) -> None:
    imported, definition, out = wellbeing
    assert out.read_text(encoding="utf-8").startswith("# Imported by `elicit instrument import`")
    types = {item.id: item.type for page in definition.pages for item in page.items}
    assert types == {
        "full_name": "text",
        "email": "text",
        "phone": "text",
        "zip": "text",
        "age": "integer",
        "height": "decimal",
        "weight": "decimal",
        "dob": "date",
        "visit_date": "date",
        "sex": "single_choice",
        "sex_other": "text",
        "country": "dropdown",
        "country_other": "text",
        "smoker": "single_choice",  # yesno
        "cigarettes": "integer",
        "quit_story": "text",  # notes
        "consent_data": "single_choice",  # truefalse
        "hobbies": "multiple_choice",  # checkbox
        "sport_kind": "text",
        "no_music": "note",  # descriptive
        "happiness": "slider",
        "about_happiness": "text",
        "info": "note",
        "agree_grid": "likert_matrix",  # matrix group
        "comments": "text",
    }
    assert definition.languages == ("en",)
    assert definition.title == {"en": "Wellbeing Survey"}  # from the file name


def test_choices_bounds_and_settings_are_carried(wellbeing: tuple[Any, Any, Path]) -> None:
    _, definition, _ = wellbeing
    item = definition.item
    assert [(c.code, c.label["en"]) for c in item("sex").choices] == [
        (1, "Female"),
        (2, "Male"),
        (3, "Another"),
        (99, "Prefer not to say"),
    ]
    assert [c.code for c in item("country").choices] == ["GB", "PK", "IN", "other"]
    assert [(c.code, c.label["en"]) for c in item("smoker").choices] == [(1, "Yes"), (0, "No")]
    assert [(c.code, c.label["en"]) for c in item("consent_data").choices] == [(1, "True"), (0, "False")]
    assert (item("age").min, item("age").max, item("age").required) == (18, 100, True)
    assert (item("height").min, item("height").max) == (0.5, 2.5)
    assert (item("dob").option("min"), item("dob").option("max")) == ("1920-01-01", "today")  # date_dmy bound
    assert item("quit_story").multiline and item("about_happiness").multiline
    assert item("quit_story").text == {
        "en": "Tell us how you stopped smoking.\n\nTake your time."
    }  # HTML gone
    assert item("sex_other").max_length == 200  # @CHARLIMIT
    slider = item("happiness")
    assert (slider.min, slider.max) == (0, 100)
    assert slider.option("min_label") == {"en": "Very unhappy"}
    assert slider.option("max_label") == {"en": "Very happy"}
    assert item("email").help == {"en": "We write only to send the results"}


def test_identifiers_and_required_fields(wellbeing: tuple[Any, Any, Path]) -> None:
    _, definition, _ = wellbeing
    identifiers = {item.id for item in definition.items() if item.privacy.kind == "direct_identifier"}
    assert identifiers == {"full_name", "email", "phone", "dob"}
    required = {item.id for item in definition.items() if item.required}
    assert required == {"full_name", "age", "sex", "consent_data", "view_1"}


def test_forms_and_section_headers_become_pages(wellbeing: tuple[Any, Any, Path]) -> None:
    imported, definition, _ = wellbeing
    pages = [(page.id, page.title["en"] if page.title else None) for page in definition.pages]
    assert pages == [
        ("demographics", "About you"),  # a header on a form's first field titles the form's page
        ("opinions", "Your free time"),
        ("opinions_2", "Your views"),  # a header further down starts a page; its HTML is removed
        ("opinions_3", None),  # a matrix's header is the matrix's text and starts an untitled page
    ]
    matrix = definition.pages[3].items[0]
    assert matrix.text == {"en": "How far do you agree?"}
    assert [row.id for row in matrix.rows] == ["view_1", "view_2", "view_3"]  # rows keep their names
    assert [c.code for c in matrix.choices] == [1, 2, 3]
    assert "matrix group 'agree_grid' -> likert_matrix 'agree_grid' with 3 rows" in imported.mapped


def test_branching_logic_is_translated(wellbeing: tuple[Any, Any, Path]) -> None:
    imported, definition, _ = wellbeing
    members = [m for page in definition.pages for item in page.items for m in (item, *item.rows)]
    relevant = {m.id: m.relevant.source for m in members if m.relevant}
    assert relevant == {
        "sex_other": "sex == 3",
        "country_other": "country == 'other'",
        "cigarettes": "smoker == 1 and age >= 18",
        "quit_story": "smoker != 1 and answered(smoker)",
        "sport_kind": "selected(hobbies, 1)",
        "no_music": "not selected(hobbies, 2)",
        "about_happiness": "happiness > 50 or (age < 30 and sex == 1)",
        "view_3": "answered(view_1)",
        "comments": "answered(country)",
    }
    assert "branching logic of 'cigarettes' translated to: smoker == 1 and age >= 18" in imported.mapped


def test_what_is_not_carried_over_is_listed_with_its_row(wellbeing: tuple[Any, Any, Path]) -> None:
    imported, _, _ = wellbeing
    lost = [str(problem).removeprefix(f"{WELLBEING}:") for problem in imported.lost]
    expected = [
        "2: the first field 'record_id' is REDCap's record ID",
        "4: validation 'email' of 'email': Elicit does not check that the answer is an e-mail address",
        "5: validation 'phone' of 'phone'",
        "6: validation 'zipcode' of 'zip'",
        "7: survey question number '1' of text field 'age' is not used",
        "8: validation 'number_2dp' of 'height': Elicit takes any decimal",
        "9: action tag @DEFAULT='70' of 'weight'",
        "10: validation 'date_dmy' of 'dob'",
        "12: custom alignment (layout of the choices) 'RH' of radio field 'sex' is not used",
        "18: HTML markup removed from the label of 'quit_story'",
        "20: action tag @NONEOFTHEABOVE of 'hobbies'",
        "23: the middle label 'Neutral' of slider 'happiness'",
        "24: action tag @HIDDEN-SURVEY of 'about_happiness'",
        "25: HTML markup removed from the section header of 'info'",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lost), start
    assert len(lost) == len(expected)  # nothing else, and nothing dropped without a line


# -- branching logic -----------------------------------------------------------------------------------------
BRANCHING_FIELDS = (
    {"name": "sex", "type": "radio", "label": "Sex", "choices": "1, Female | 2, Male"},
    {"name": "age", "type": "text", "label": "Age", "validation": "integer"},
    {"name": "years", "type": "text", "label": "Years in post", "validation": "number"},
    {"name": "born", "type": "text", "label": "Born on", "validation": "date_ymd"},
    {"name": "nick", "type": "text", "label": "Your nickname"},
    {"name": "pets", "type": "checkbox", "label": "Pets", "choices": "1, Dog | 2, Cat | fish, Fish"},
    {"name": "intro", "type": "descriptive", "label": "Some words"},
)


def translate(logic: str) -> str:
    data = dictionary(*BRANCHING_FIELDS, {"name": "q", "type": "text", "label": "Q", "branching": logic})
    document = read("dd.csv", data, "x", "1.0.0").document
    return str(items_of(document)["q"]["relevant"])


@pytest.mark.parametrize(
    ("logic", "expected"),
    [
        ("[sex] = '1'", "sex == 1"),
        ("[sex] <> '1'", "sex != 1"),
        ('[sex] != "2"', "sex != 2"),
        ("'2' = [sex]", "sex == 2"),
        ("[age] > 3", "age > 3"),
        ("[age] >= '18'", "age >= 18"),
        ("[years] <= 2.5", "years <= 2.5"),
        ("[age] > -1", "age > -1"),
        ("[age] < 30 AND [sex] = '1'", "age < 30 and sex == 1"),
        ("[age] < 30 Or [sex] = '1'", "age < 30 or sex == 1"),
        ("([age] < 30 or [age] > 60) and [sex] = '2'", "(age < 30 or age > 60) and sex == 2"),
        ("[pets(2)] = '1'", "selected(pets, 2)"),
        ("[pets(2)] = '0'", "not selected(pets, 2)"),
        ("[pets(fish)] <> '1'", "not selected(pets, 'fish')"),
        ("[age] = ''", "not answered(age)"),
        ("[pets(1)] = '1' and [nick] <> ''", "selected(pets, 1) and answered(nick)"),
        ('[nick] = "Ann"', "nick == 'Ann'"),
        ("[nick] = '5'", "nick == '5'"),
        ("[born] > '2000-01-01'", "born > '2000-01-01'"),
        ("[age] + [years] > 50", "age + years > 50"),
        ("([age] - 10) * 2 >= [years]", "(age - 10) * 2 >= years"),
    ],
)
def test_branching_logic_of_every_supported_shape(logic: str, expected: str) -> None:
    assert translate(logic) == expected


def test_translated_logic_means_what_redcap_means() -> None:
    """A checkbox option is '1' when ticked; an empty field is ''; a choice code compared as text matches."""
    answers = {"sex": 1, "age": 40, "pets": [2, "fish"], "nick": ""}
    assert parse(translate("[pets(2)] = '1'")).truthy(answers)
    assert not parse(translate("[pets(1)] = '1'")).truthy(answers)
    assert parse(translate("[pets(1)] = '0'")).truthy(answers)
    assert parse(translate("[sex] = '1' and [age] > 30")).truthy(answers)
    assert parse(translate("[nick] = ''")).truthy(answers)
    assert parse(translate("[years] = ''")).truthy(answers)


@pytest.mark.parametrize(
    ("logic", "message"),
    [
        ("datediff([born], 'today', 'y') > 18", "datediff() is a REDCap function"),
        ("if([age] > 3, 1, 0) = 1", "if() is a REDCap function"),
        ("[event_1_arm_1][age] > 3", "[event_1_arm_1][...] names an event or an instance"),
        ("[age][previous-instance] > 3", "names an event or an instance"),
        ("[user-role-name] = 'x'", "[user-role-name] is a smart variable or a piping option"),
        ("[sex:label] = 'Male'", "[sex:label] is a smart variable or a piping option"),
        ("[age] > 3 and", "it ends where a field or a value should follow"),
        ("([age] > 3", "a '(' is not closed"),
        ("[age > 3", "'[' at column 1 is not closed"),
        ("[nick] = 'Ann", "the quote at column 10 is not closed"),
        ("[age] ^ 2 > 3", "'^' (a power)"),
        ("[age] > 3 # adults", "unexpected character '#'"),
        ("[later] = '1'", "[later] is not a field above this one"),
        ("[q] = '1'", "[q] is not a field above this one"),
        ("[sex] = '5'", "'5' is not one of the choices of 'sex' (1, 2)"),
        ("[sex] > 'a'", "orders choices that are not numbers"),
        ("[pets] = '1'", "[pets] is a checkbox field: name one option"),
        ("[pets(9)] = '1'", "'9' is not one of the choices of 'pets' (1, 2, fish)"),
        ("[pets(1)] = '2'", "compared with = or <> and '1' or '0'"),
        ("[sex(1)] = '1'", "'sex' is not a checkbox field"),
        ("[age] = 'old'", "is a number field, compared with the text 'old'"),
        ("[born] > 2000", "is a date field, compared with the number 2000"),
        ("[age]", "[age] is not a condition"),
        ("[age] < [years] < 3", "comparisons cannot be chained"),
        ("[intro] = '1'", "[intro] is a descriptive field, which has no answer"),
        ("'1' = '1'", "compares two values"),
        ("[nick] + 1 > 2", "[nick] is a text field and cannot be computed with"),
        ("adults", "unexpected word 'adults'"),
    ],
)
def test_untranslatable_branching_logic_is_a_problem_with_its_row(logic: str, message: str) -> None:
    data = dictionary(
        *BRANCHING_FIELDS,
        {"name": "q", "type": "text", "label": "Q", "branching": logic},
        {"name": "later", "type": "yesno", "label": "Later"},
    )
    problems = problems_of(data)
    assert len(problems) == 1
    assert problems[0].startswith("dd.csv:10: branching logic of 'q' cannot be translated: ")
    assert message in problems[0]
    assert problems[0].endswith(f"(in: {logic})")


# -- matrices ------------------------------------------------------------------------------------------------
AGREE = "1, Disagree | 2, Neutral | 3, Agree"


def test_a_headerless_matrix_takes_its_name_as_text() -> None:
    data = dictionary(
        {"name": "m1", "type": "radio", "label": "First", "choices": AGREE, "matrix_group": "trust_items"},
        {"name": "m2", "type": "radio", "label": "Second", "choices": AGREE, "matrix_group": "trust_items"},
    )
    imported = read("dd.csv", data, "x", "1.0.0")
    matrix = imported.document["pages"][0]["items"][0]
    assert (matrix["type"], matrix["text"], [r["id"] for r in matrix["rows"]]) == (
        "likert_matrix",
        "Trust items",
        ["m1", "m2"],
    )
    assert any("matrix group 'trust_items' has no header" in str(p) for p in imported.lost)


@pytest.mark.parametrize(
    ("kind", "choices", "expected"),
    [
        ("checkbox", AGREE, "multiple_choice"),
        ("radio", "a, Disagree | b, Agree", "single_choice"),  # a likert matrix has numbered choices
    ],
)
def test_a_matrix_a_likert_matrix_cannot_hold_becomes_separate_items(
    kind: str, choices: str, expected: str
) -> None:
    data = dictionary(
        {
            "name": "m1",
            "type": kind,
            "label": "First",
            "choices": choices,
            "matrix_group": "grid",
            "section": "Rate",
        },
        {"name": "m2", "type": kind, "label": "Second", "choices": choices, "matrix_group": "grid"},
    )
    imported = read("dd.csv", data, "x", "1.0.0")
    page = imported.document["pages"][0]
    assert page["title"] == "Rate"
    assert [(i["id"], i["type"]) for i in page["items"]] == [("m1", expected), ("m2", expected)]
    assert any(line.startswith("matrix group 'grid' of ") for line in imported.mapped)


def test_broken_matrix_groups_are_problems() -> None:
    data = dictionary(
        {
            "name": "a1",
            "type": "radio",
            "label": "A1",
            "choices": AGREE,
            "matrix_group": "a",
            "matrix_ranking": "y",
        },
        {"name": "a2", "type": "radio", "label": "A2", "choices": AGREE, "matrix_group": "a"},
        {"name": "b1", "type": "radio", "label": "B1", "choices": AGREE, "matrix_group": "b"},
        {"name": "b2", "type": "radio", "label": "B2", "choices": "1, No | 2, Yes", "matrix_group": "b"},
        {"name": "c1", "type": "radio", "label": "C1", "choices": AGREE, "matrix_group": "c"},
        {"name": "between", "type": "text", "label": "Between"},
        {"name": "c2", "type": "radio", "label": "C2", "choices": AGREE, "matrix_group": "c"},
    )
    assert problems_of(data) == [
        "dd.csv:3: matrix group 'a' has 'Matrix Ranking?' = y (each column chosen in one row only), which Elicit "
        "cannot check: clear it to import the matrix without it",
        "dd.csv:6: field 'b2' has other choices than the first field of matrix group 'b': the rows of a matrix "
        "share their choices",
        "dd.csv:9: matrix group 'c' continues after other fields: a matrix group's rows must follow each other",
    ]


# -- headers, names, choices -----------------------------------------------------------------------------------
def test_the_apis_short_column_names_are_read() -> None:
    path = FIXTURES / "api_metadata.csv"
    imported = read(str(path), path.read_bytes(), "x", "1.0.0")
    items = items_of(imported.document)
    assert items["mood"]["required"] is True
    assert items["why_bad"]["relevant"] == "mood == 2"


def test_an_old_redcap_dictionary_is_read() -> None:
    path = FIXTURES / "old_headers.csv"
    imported = read(str(path), path.read_bytes(), "x", "1.0.0")
    items = items_of(imported.document)
    assert (items["weight"]["type"], items["weight"]["unit"], items["weight"]["min"]) == ("integer", "kg", 30)
    assert items["sex"]["type"] == "dropdown"  # REDCap 5's "select"
    assert items["sex"]["choices"] == {0: "Female", 1: "Male"}


def test_foreign_names_are_renamed_and_references_follow() -> None:
    data = dictionary(
        {"name": "Smoker", "type": "yesno", "label": "Do you smoke?"},
        {
            "name": "packs",
            "type": "text",
            "label": "Packs",
            "validation": "integer",
            "branching": "[Smoker] = '1'",
        },
        {"name": "choice", "type": "radio", "label": "Pick", "choices": "01, One | 1, Uno"},
    )
    imported = read("dd.csv", data, "x", "1.0.0")
    items = items_of(imported.document)
    assert items["packs"]["relevant"] == "smoker == 1"
    assert items["choice"]["choices"] == {"01": "One", 1: "Uno"}  # "01" stays a code of its own
    assert "renamed 'Smoker' -> 'smoker' (Elicit ids are lowercase letters, digits and _)" in imported.mapped


def test_an_unknown_column_is_listed_as_lost_and_header_spelling_is_forgiving() -> None:
    text = dictionary({"name": "q", "type": "text", "label": "Q"}).decode("utf-8")
    header, rest = text.split("\r\n", 1)
    header = header.replace("Variable / Field Name", " variable /  FIELD name").replace(
        "Field Annotation", "My notes"
    )
    imported = read("dd.csv", f"{header}\r\n{rest}".encode(), "x", "1.0.0")
    assert [str(p) for p in imported.lost][
        0
    ] == "dd.csv:1: column 'My notes' is not a REDCap data dictionary column; it is not read"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"name": "q", "type": "radio", "label": "Q"},
            "dd.csv:3: radio field 'q' needs choices such as '1, Yes | 2, No'",
        ),
        (
            {"name": "q", "type": "radio", "label": "Q", "choices": "1 Yes | 2, No"},
            "choice '1 Yes' of 'q' needs a code and a label",
        ),
        (
            {"name": "q", "type": "radio", "label": "Q", "choices": "a b, Yes"},
            "choice code 'a b' of 'q' must be a number",
        ),
        (
            {"name": "q", "type": "radio", "label": "Q", "choices": "1, Yes | 1, No"},
            "choice code '1' of 'q' appears twice",
        ),
        ({"name": "q", "type": "radio", "label": "", "choices": "1, Yes"}, "field 'q' has no 'Field Label'"),
        (
            {"name": "q", "type": "text", "label": "Q", "validation": "integer", "min": "1.5"},
            "'Text Validation Min' '1.5' of 'q' must be a whole number",
        ),
        (
            {"name": "q", "type": "text", "label": "Q", "validation": "date_ymd", "max": "2024-02-30"},
            "'Text Validation Max' '2024-02-30' of 'q' is not a date",
        ),
        (
            {"name": "q", "type": "text", "label": "Q", "annotation": "@CALCTEXT(if([x]>1,'a','b'))"},
            "field 'q' is computed by @CALCTEXT",
        ),
        ({"name": "", "type": "text", "label": "Q"}, "dd.csv:3: the field has no 'Variable / Field Name'"),
        (
            {"name": "record_id", "type": "text", "label": "Q"},
            "dd.csv:3: field 'record_id' is defined twice (first on row 2)",
        ),
    ],
)
def test_bad_fields_are_problems_with_their_row(row: dict[str, str], message: str) -> None:
    problems = problems_of(dictionary(row))
    assert len(problems) == 1 and problems[0].startswith("dd.csv:3: ") and message in problems[0], problems


# -- bad files, through import_file and the command ---------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("calc_field.csv", ["5: field 'bmi' is a calculated field: a computed value is not a question"]),
        (
            "missing_column.csv",
            ["1: the header has no column 'Field Type', which a REDCap data dictionary needs"],
        ),
        (
            "unknown_type.csv",
            [
                "4: field 'diary' has unknown field type 'textarea' (REDCap's types are: calc, checkbox,",
                "5: field 'scan' is a file upload (or signature) field",
            ],
        ),
        (
            "broken_branching.csv",
            [
                "5: branching logic of 'recent' cannot be translated: datediff() is a REDCap function",
                "6: branching logic of 'baseline' cannot be translated: [enrollment_arm_1][...] names an event",
                "7: branching logic of 'staff_only' cannot be translated: [user-name] is a smart variable",
                "8: branching logic of 'unclosed' cannot be translated: a '(' is not closed",
                "9: branching logic of 'later' cannot be translated: [after] is not a field above this one",
                "10: branching logic of 'wrong_code' cannot be translated: '7' is not one of the choices",
            ],
        ),
        ("windows_1252.csv", ["3: the file is not UTF-8 (byte 0x92): it was probably saved as Windows-1252"]),
        ("header_only.csv", ["1: the dictionary has a header but no fields"]),
    ],
)
def test_a_bad_file_fails_with_every_problem_and_writes_nothing(
    fixture: str, expected: list[str], tmp_path: Path
) -> None:
    source = FIXTURES / fixture
    out = tmp_path / "instruments" / "bad" / "1.0.0.yaml"
    result = CliRunner().invoke(main, ["instrument", "import", str(source), "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == len(expected) + 1
    for line, start in zip(lines, expected, strict=False):
        assert line.startswith(f"{source}:{start}"), line
    assert lines[-1] == f"{len(expected)} problem(s); nothing was written"
    assert result.stdout == ""
    assert not out.exists() and not out.parent.exists()


def test_an_empty_file_is_a_problem() -> None:
    assert problems_of(b"", "empty.csv") == [
        "empty.csv:1: the file is empty: a REDCap data dictionary has a header row and one row per field"
    ]
    path = FIXTURES / "empty.csv"
    assert path.read_bytes() == b""


def test_the_command_says_what_it_mapped_and_what_it_could_not(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "wellbeing" / "1.0.0.yaml"
    result = CliRunner().invoke(main, ["instrument", "import", str(WELLBEING), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{WELLBEING}: read as REDCap data dictionary"
    assert "  mapped: radio 'sex' -> single_choice 'sex'" in lines
    assert "  mapped: 'Identifier?' of 'dob' -> privacy: direct_identifier" in lines
    assert (
        f"  not carried over: {WELLBEING}:24: action tag @HIDDEN-SURVEY of 'about_happiness' is a REDCap behaviour Elicit does not have"
        in lines
    )
    assert lines[-1].startswith(f"{out}: wrote wellbeing@1.0.0 (4 pages, 25 items, languages en)")
    check = CliRunner().invoke(main, ["instrument", "check", str(out)])
    assert check.exit_code == 0, check.output


def test_piping_and_html_in_choices_are_shown_as_plain_text_and_listed() -> None:
    data = dictionary(
        {"name": "nick", "type": "text", "label": "Your nickname"},
        {
            "name": "greet",
            "type": "radio",
            "label": "Hello [nick], <i>welcome</i>!",
            "choices": "1, <b>Yes</b> | 2, No",
        },
    )
    imported = read("dd.csv", data, "x", "1.0.0")
    greet = items_of(imported.document)["greet"]
    assert (greet["text"], greet["choices"]) == ("Hello [nick], welcome!", {1: "Yes", 2: "No"})
    assert [str(p) for p in imported.lost][1:] == [
        "dd.csv:4: HTML markup removed from the label of 'greet' (kept as plain text)",
        "dd.csv:4: the label of 'greet' pipes [nick]: REDCap shows an answer there, Elicit shows the text as written",
        "dd.csv:4: HTML markup removed from the choices of 'greet' (kept as plain text)",
    ]
