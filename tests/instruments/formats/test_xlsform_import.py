"""XLSForms in: groups as pages, translations, skip logic, constraints, or_other, rank, range and bad files.

The fixtures in fixtures/xlsform/ were written by hand from the XLSForm specification (https://xlsform.org/en/)
in pyxform's CSV layout; ``expert_survey.xls`` holds the same rows as ``expert_survey.csv`` (written once with
xlwt, with the codes of agree5 as number cells), and the ``.xlsx`` tests build their workbook from the CSV's rows.
Each good fixture is also converted by pyxform itself, so the fixtures are XLSForms as ODK reads them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from pyxform.xls2xform import convert as pyxform_convert

from elicit.cli import main
from elicit.instruments.formats import ImportFailed, import_file
from elicit.instruments.formats.xlsform import read

FIXTURES = Path(__file__).parent / "fixtures" / "xlsform"
EXPERT = FIXTURES / "expert_survey.csv"
SKIP = FIXTURES / "skip_logic.csv"


def items_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every item and matrix row of a document by id."""
    found: dict[str, dict[str, Any]] = {}
    for page in document["pages"]:
        for item in page["items"]:
            found[item["id"]] = item
            for row in item.get("rows", []):
                found[row["id"]] = row
    return found


def sheets_of(path: Path) -> dict[str, list[list[str]]]:
    """The sheets of a pyxform-layout CSV as rows of cells (the first cell, the sheet's name, removed)."""
    sheets: dict[str, list[list[str]]] = {}
    current = ""
    for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")):
        if row and row[0]:
            current = row[0]
            sheets[current] = []
        elif row:
            sheets[current].append(row[1:])
    return sheets


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append([cell if cell != "" else None for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def problems_of(name: str, data: bytes) -> list[str]:
    with pytest.raises(ImportFailed) as caught:
        read(name, data, "x", "1.0.0")
    return [str(problem) for problem in caught.value.problems]


def form(*survey: str, choices: tuple[str, ...] = (), settings: tuple[str, ...] = ()) -> bytes:
    """A small pyxform-layout CSV form from its rows (each a CSV line without the leading comma)."""
    lines = ["survey", *(f",{row}" for row in survey)]
    if choices:
        lines += ["choices", *(f",{row}" for row in choices)]
    if settings:
        lines += ["settings", *(f",{row}" for row in settings)]
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture(scope="module")
def expert(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("import") / "instruments" / "expert-views" / "1.0.0.yaml"
    kind, imported, definition = import_file(EXPERT, out)
    assert kind == "XLSForm"
    return imported, definition, out


@pytest.mark.parametrize("fixture", ["expert_survey.csv", "skip_logic.csv", "languages_by_name.csv"])
def test_the_fixtures_are_xlsforms_pyxform_converts(fixture: str) -> None:
    warnings: list[str] = []
    result = pyxform_convert((FIXTURES / fixture).read_bytes(), warnings=warnings, file_type=".csv")
    assert "<h:html" in result.xform
    expected = {
        "expert_survey.csv": "This form uses or_other and translations",  # as the spec warns; we say so too
        "skip_logic.csv": "",
        "languages_by_name.csv": "do not contain valid machine-readable codes: English, Urdu",  # the point of it
    }[fixture]
    assert all(expected and expected in warning for warning in warnings), warnings


# -- the bilingual expert survey ---------------------------------------------------------------------------
def test_groups_become_pages_and_ungrouped_questions_an_automatic_page(expert: Any) -> None:
    imported, definition, _ = expert
    assert [page.id for page in definition.pages] == ["page_1", "background", "views"]
    assert definition.languages == ("en", "ur")
    assert definition.title == {
        "en": "Defence diplomacy: expert views",
        "ur": "Defence diplomacy: expert views",
    }
    assert [item.id for item in definition.pages[0].items] == ["welcome", "consent"]
    assert definition.pages[1].title == {
        "en": "Your professional background",
        "ur": "آپ کا پیشہ ورانہ پس منظر",
    }
    assert imported.mapped[0] == "14 questions on 3 pages"
    assert "questions outside any group (from row 5) -> page 'page_1'" in imported.mapped


def test_every_language_is_carried_to_labels_hints_choices_and_messages(expert: Any) -> None:
    _, definition, _ = expert
    years = definition.item("years")
    assert years.text == {
        "en": "How many years of experience do you have in defence or foreign affairs?",
        "ur": "آپ کو دفاعی یا خارجہ امور میں کتنے سال کا تجربہ ہے؟",
    }
    assert years.help == {"en": "Whole years.", "ur": "پورے سال۔"}
    state = definition.item("state")
    assert [(c.code, c.label["ur"]) for c in state.choices] == [("UK", "برطانیہ"), ("PK", "پاکستان")]
    assert definition.item("tac_1").choices[0].label == {"en": "Strongly disagree", "ur": "مکمل اختلاف"}


def test_types_map_to_elicit_types(expert: Any) -> None:
    _, definition, _ = expert
    types = {item.id: item.type for page in definition.pages for item in page.items}
    assert types == {
        "welcome": "note",
        "consent": "consent",
        "state": "single_choice",
        "sector": "single_choice",
        "sector_other": "text",
        "years": "integer",
        "activities": "multiple_choice",
        "exercise_detail": "text",
        "rank_leverage": "ranking",
        "afford": "slider",
        "agreement": "likert_matrix",
        "next_dialogue": "date",
        "budget_share": "decimal",
        "comments": "text",
    }
    afford = definition.item("afford")
    assert (afford.min, afford.max, afford.option("step")) == (0, 10, 1)
    assert [row.id for row in definition.pages[2].items[2].rows] == ["tac_1", "tac_2"]
    assert definition.item("comments").multiline


def test_skip_logic_and_constraints_are_translated(expert: Any) -> None:
    imported, definition, _ = expert
    assert definition.pages[1].relevant is not None
    assert definition.pages[1].relevant.source == "consent == 'yes'"
    assert definition.pages[2].relevant.source == "consent == 'yes' and years >= 2"  # type: ignore[union-attr]
    assert definition.item("exercise_detail").relevant.source == "selected(activities, 'exercises')"  # type: ignore[union-attr]
    assert definition.item("budget_share").relevant.source == "answered(state)"  # type: ignore[union-attr]
    assert "relevant of 'budget_share' translated to: answered(state)" in imported.mapped
    # Bounds written as constraints become the items' own settings, with Elicit's own messages:
    years = definition.item("years")
    assert (years.min, years.max, years.constraint) == (0, 60, None)
    assert definition.item("activities").max_selected == 3
    assert definition.item("exercise_detail").max_length == 500
    assert definition.item("next_dialogue").option("min") == "today"
    lost = [str(problem) for problem in imported.lost]
    assert f"{EXPERT}:10: constraint_message of 'years': Elicit shows its own message for min, max" in lost


def test_acknowledge_first_is_consent_and_its_ok_reads_as_yes(expert: Any) -> None:
    imported, definition, _ = expert
    consent = definition.item("consent")
    assert consent.type == "consent" and consent.required
    assert any(
        line.startswith("acknowledge 'consent' (the first question) -> consent") for line in imported.mapped
    )


def test_or_other_adds_an_other_choice_and_a_follow_up(expert: Any) -> None:
    imported, definition, _ = expert
    sector = definition.item("sector")
    assert [c.code for c in sector.choices] == ["armed_forces", "foreign_service", "academia", "other"]
    follow_up = definition.item("sector_other")
    assert follow_up.relevant.source == "selected(sector, 'other')"  # type: ignore[union-attr]
    assert follow_up.text == {"en": "Specify other.", "ur": "Specify other."}
    lost = [problem.message for problem in imported.lost]
    assert any("are in English in every language, as pyxform writes them" in message for message in lost)


def test_metadata_and_unused_settings_are_listed_as_not_carried_over(expert: Any) -> None:
    imported, _, _ = expert
    lost = [str(problem) for problem in imported.lost]
    assert (
        f"{EXPERT}:3: start is ODK metadata: Elicit records when each response was started and submitted"
        in lost
    )
    assert any("'instance_name'" in line for line in lost)
    assert "form_id 'defence_views' -> the instrument id 'expert-views' (from --out)" in imported.mapped


def test_an_xlsx_and_an_xls_of_the_same_rows_read_the_same(expert: Any, tmp_path: Path) -> None:
    imported, _, _ = expert
    xlsx = workbook(sheets_of(EXPERT))  # type: ignore[arg-type]
    from_xlsx = read("expert_survey.xlsx", xlsx, "expert-views", "1.0.0")
    from_xls = read(
        "expert_survey.xls", (FIXTURES / "expert_survey.xls").read_bytes(), "expert-views", "1.0.0"
    )
    assert from_xlsx.document == imported.document
    assert from_xls.document == imported.document
    # rows are the spreadsheet's: the header is row 1, so 'years' (line 10 of the CSV) is on row 9
    assert (
        "expert_survey.xlsx:9: constraint_message of 'years': Elicit shows its own message for min, max"
        in [str(problem) for problem in from_xlsx.lost]
    )


def test_an_xlsx_with_typed_cells_and_sheet_names_in_capitals(tmp_path: Path) -> None:
    data = workbook(
        {
            "Survey": [
                ["type", "name", "label", "Required", "Constraint Message", "constraint"],
                ["integer", "age", "How old are you?", True, "From 18", ". >= 18"],
            ],
            "Settings": [["form_title"], ["Typed cells"]],
        }
    )
    imported = read("typed.xlsx", data, "typed", "1.0.0")
    age = items_of(imported.document)["age"]
    assert (age["required"], age["min"]) == (True, 18)
    assert imported.document["title"] == "Typed cells"


# -- skip logic in one language ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def skip() -> Any:
    return read(str(SKIP), SKIP.read_bytes(), "postings", "1.0.0")


def test_a_plain_label_column_is_english_and_said_so(skip: Any) -> None:
    assert skip.document["languages"] == ["en"]
    assert any(
        line.startswith("the form names no language: its labels are read as English (en)")
        for line in skip.mapped
    )


def test_nested_groups_are_flattened_with_their_relevance(skip: Any) -> None:
    items = items_of(skip.document)
    assert [page["id"] for page in skip.document["pages"]] == ["postings", "judgement"]
    assert items["details"] == {
        "id": "details",
        "type": "note",
        "text": "About your longest posting",
        "help": "Answer only if it lasted a year or more.",
        "relevant": "count_selected(regions) > 0",
    }
    assert items["posting_region"]["relevant"] == (
        "count_selected(regions) > 0 and (selected(regions, 'asia') or selected(regions, 'europe'))"
    )
    assert items["posting_count"]["relevant"] == "count_selected(regions) > 0"
    assert "nested group 'details' flattened into page 'postings'" in skip.mapped


@pytest.mark.parametrize(
    ("item", "key", "expected"),
    [
        ("years_abroad", "relevant", "worked_abroad == 'yes'"),
        ("regions", "relevant", "worked_abroad == 'yes' and years_abroad >= 1"),
        ("why_not", "relevant", "not can_judge >= 3"),
        ("shares_note", "relevant", "answered(share_a) and answered(share_b)"),
        ("total_years", "relevant", "years_abroad * 2 > 10 or worked_abroad == 'no'"),
        ("share_b", "constraint", ". + share_a <= 100"),
        ("total_years", "constraint", ". >= years_abroad or not answered(years_abroad)"),
        ("years_abroad", "min", 1),  # . > 0 for a whole number
        ("years_abroad", "max", 49),  # . < 50
        ("share_b", "min", 0),
    ],
)
def test_each_expression_is_translated(skip: Any, item: str, key: str, expected: Any) -> None:
    assert items_of(skip.document)[item][key] == expected


def test_appearances_choose_the_type_and_a_static_choice_filter_the_choices(skip: Any) -> None:
    items = items_of(skip.document)
    assert items["worked_abroad"]["type"] == "dropdown"  # appearance minimal
    assert items["can_judge"]["type"] == "likert"  # appearance likert, numbered choices
    assert list(items["regions"]["choices"]) == ["asia", "europe", "africa", "americas"]  # area != 'polar'
    assert "choice_filter of 'regions' (area != 'polar') keeps 4 of the 5 choices of 'regions'" in skip.mapped


def test_answers_shown_in_labels_and_defaults_are_listed(skip: Any) -> None:
    items = items_of(skip.document)
    assert items["shares_note"]["text"] == "You gave … % for representation and … % for reporting."
    lost = [problem.message for problem in skip.lost]
    assert "default of 'posting_count' (1): Elicit's questions start empty" in lost
    assert any("shows the answer ${share_a}, ${share_b}" in message for message in lost)


# -- languages -----------------------------------------------------------------------------------------------
def test_languages_named_without_a_code_take_the_common_code() -> None:
    imported = read("by_name.csv", (FIXTURES / "languages_by_name.csv").read_bytes(), "x", "1.0.0")
    assert imported.document["languages"] == ["ur", "en"]  # default_language Urdu comes first
    assert items_of(imported.document)["served_abroad"]["text"] == {
        "ur": "کیا آپ نے بیرونِ ملک خدمات انجام دی ہیں؟",
        "en": "Have you served abroad?",
    }
    assert "by_name.csv:8: choices: no ur label; the en text is shown to experts answering in ur" in [
        str(problem) for problem in imported.lost
    ]


def test_a_plain_label_beside_translations_needs_a_language() -> None:
    data = form("type,name,label,label::Urdu (ur)", "text,a,Name?,نام؟")
    assert problems_of("f.csv", data) == [
        "f.csv:2: survey: the 'label' column without a language sits beside translated columns (ur): name its "
        "language (label::English (en)) or set default_language in the settings sheet"
    ]
    ok = form(
        "type,name,label,label::Urdu (ur)", "text,a,Name?,نام؟", settings=("default_language", "English (en)")
    )
    assert read("f.csv", ok, "x", "1.0.0").document["languages"] == ["en", "ur"]


# -- smaller forms -------------------------------------------------------------------------------------------
def test_a_table_list_group_at_the_top_is_a_page_with_a_matrix() -> None:
    data = form(
        "type,name,label,appearance",
        "begin group,grid,How far do you agree?,table-list",
        "select_one agree,header,Statement,label",
        "select_one agree,s1,It works.,list-nolabel",
        "select_one agree,s2,It is cheap.,list-nolabel",
        "end group",
        choices=("list_name,name,label", "agree,1,No", "agree,2,Yes"),
    )
    imported = read("grid.csv", data, "x", "1.0.0")
    (page,) = imported.document["pages"]
    (matrix,) = page["items"]
    assert (page["id"], matrix["id"], matrix["type"]) == ("grid", "grid_matrix", "likert_matrix")
    assert [row["id"] for row in matrix["rows"]] == ["s1", "s2"]
    assert any(
        "(appearance label) only shows the choice labels" in problem.message for problem in imported.lost
    )


def test_an_acknowledge_that_is_not_first_is_a_single_choice() -> None:
    data = form("type,name,label", "text,name,Your name?", "acknowledge,seen,I have seen the briefing.")
    item = items_of(read("f.csv", data, "x", "1.0.0").document)["seen"]
    assert (item["type"], item["choices"]) == ("single_choice", {"OK": "OK"})


def test_names_that_are_no_identifiers_are_renamed_and_references_follow() -> None:
    data = form(
        "type,name,label,relevant",
        "integer,Q1-Years,How many years?",
        "text,Q2.why,Why?,${Q1-Years} > 2",
        "integer,selected,How many were selected?",
        "text,why_so_many,Why so many?,${selected} > 2",
    )
    imported = read("f.csv", data, "x", "1.0.0")
    items = items_of(imported.document)
    assert items["q2_why"]["relevant"] == "q1_years > 2"
    assert items["why_so_many"]["relevant"] == "selected_item > 2"
    assert "renamed 'Q1-Years' -> 'q1_years'" in imported.mapped
    assert "renamed 'selected' -> 'selected_item' (a word of Elicit's expressions)" in imported.mapped


def test_a_range_with_decimal_steps_and_the_default_parameters() -> None:
    data = form(
        "type,name,label,parameters",
        "range,level,Level?,start=0 end=1 step=0.1",
        "range,score,Score?",
    )
    items = items_of(read("f.csv", data, "x", "1.0.0").document)
    assert (items["level"]["min"], items["level"]["max"], items["level"]["step"]) == (0, 1, 0.1)
    assert (items["score"]["min"], items["score"]["max"], items["score"]["step"]) == (1, 10, 1)


def test_a_header_on_the_sheet_name_row_and_a_bom_are_accepted() -> None:
    data = "\ufeffsurvey,type,name,label\n,text,a,Name?\n".encode()
    assert items_of(read("f.csv", data, "x", "1.0.0").document)["a"]["text"] == "Name?"


def test_html_in_labels_is_removed_and_listed() -> None:
    data = form("type,name,label", 'note,n,"<span style=""color:red"">Careful</span><br>now"')
    imported = read("f.csv", data, "x", "1.0.0")
    assert items_of(imported.document)["n"]["text"] == "Careful\nnow"
    assert any("markup (HTML) removed" in problem.message for problem in imported.lost)


@pytest.mark.parametrize(
    ("survey", "message"),
    [
        (
            ("text,a,A?,maybe",),
            "f.csv:3: required of 'a' is a condition (maybe); Elicit's questions are required or not",
        ),
        (("begin group,g,G", "text,a,A?"), "f.csv:3: group 'g' has no 'end group'"),
        (("end group",), "f.csv:3: 'end group' without a 'begin group'"),
        (("text,a,A?", "integer,a,B?"), "f.csv:4: survey: the name 'a' is used already on row 3"),
        (("text,,A?",), "f.csv:3: survey: the text row has no name"),
        (("text,a,",), "f.csv:3: 'a' has no label"),
        (("select_one,a,A?",), "f.csv:3: 'a' (select_one) needs a list name: select_one LIST"),
        (
            ("select_one_from_file places.csv,a,A?",),
            "f.csv:3: 'a' (select_one_from_file places.csv) takes its choices from an external file",
        ),
        (("range,r,R?,,start=10 end=0",), "f.csv:3: range 'r' runs from 10 down to 0"),
    ],
)
def test_bad_rows_are_problems_with_their_row(survey: tuple[str, ...], message: str) -> None:
    data = form("type,name,label,required,parameters", *survey)
    found = problems_of("f.csv", data)
    assert any(problem.startswith(message) for problem in found), found


def test_a_choice_filter_that_reads_an_answer_is_a_problem() -> None:
    data = form(
        "type,name,label,choice_filter",
        "select_one country,country,Country?",
        "select_one city,city,City?,country = ${country}",
        choices=("list_name,name,label,country", "country,pk,Pakistan", "city,lhr,Lahore,pk"),
    )
    assert problems_of("f.csv", data) == [
        "f.csv:4: choice_filter of 'city' (country = ${country}) cannot be carried over: it depends on the answer "
        "to ${country}; Elicit shows every choice of a question (split the question into one per case, each with "
        "its own relevant)"
    ]


def test_comparing_a_question_with_a_choice_it_does_not_have_is_a_problem() -> None:
    data = form(
        "type,name,label,relevant",
        "select_one yn,q,Q?",
        "text,a,A?,${q} = 'maybe'",
        "select_one yn or_other,r,R?",
        "text,c,C?,\"selected(${r}, 'other') and ${q} != 'no'\"",
        choices=("list_name,name,label", "yn,yes,Yes", "yn,no,No"),
    )
    assert problems_of("f.csv", data) == [
        "f.csv:4: relevant of 'a': \"${q} = 'maybe'\" compares ${q} with 'maybe', which is not a choice of list "
        "'yn' (its choices: yes, no)"
    ]


def test_bad_choices_are_problems_with_their_row() -> None:
    data = form(
        "type,name,label",
        "select_one l,a,A?",
        choices=("list_name,name,label", "l,x y,Spaced", "l,ok,", "l,b,B", "l,b,B again"),
    )
    assert problems_of("f.csv", data) == [
        "f.csv:6: choices: the name 'x y' of list 'l' cannot be a choice code (letters, digits and _ only)",
        "f.csv:7: choices: choice 'ok' of list 'l' has no label",
        "f.csv:9: choices: list 'l' has the choice 'b' twice",
    ]


# -- bad files, through the command --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("bad_no_survey.csv", ["1: there is no 'survey' sheet with rows (sheets found: choices, settings)"]),
        (
            "bad_types.csv",
            [
                "4: unknown type 'geopont'",
                "5: 'location' asks for a location, which Elicit cannot ask (type geopoint)",
                "6: calculate 'age_in_months' computes a value (${age} * 12); Elicit has no calculated fields",
                "7: repeat 'postings' asks its questions any number of times",
                "10: 'country' uses the list 'countries', which is not on the choices sheet",
                "11: 'meeting_time' asks for a time of day",
            ],
        ),
        (
            "bad_expressions.csv",
            [
                "3: constraint of 'age': cannot read '. >= 18 and . <= = 120': expected a value at column 18",
                "4: relevant of 'title': 'if(${age} > 30, true(), false())' cannot be translated: if() has no "
                "equivalent",
                "5: relevant of 'unit' reads ${rank}, which comes after it",
                "6: constraint of 'rank': \"regex(., '^[a-z]+$')\" cannot be translated: regex() has no equivalent",
                "7: relevant of 'years' reads ${years_total}, which comes after it",
                "9: relevant of 'posting': cannot read \"/data/rank = 'yes'\": paths such as /data/x have no "
                "equivalent",
            ],
        ),
        ("bad_language.csv", ["2: the language 'Klingon' of column 'label::Klingon' has no code"]),
        ("bad_encoding.csv", ["3: the file is not UTF-8 (save it as CSV UTF-8)"]),
        ("not_a_zip.xlsx", ["1: is not an .xlsx workbook (it is not a zip archive)"]),
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
    assert len(lines) == len(expected) + 1, lines
    for line, start in zip(lines, expected, strict=False):
        assert line.startswith(f"{source}:{start}"), line
    assert lines[-1] == f"{len(expected)} problem(s); nothing was written"
    assert result.stdout == ""
    assert not out.exists() and not out.parent.exists()


def test_a_damaged_xls_is_a_problem_not_a_traceback() -> None:
    assert problems_of("f.xls", b"\xd0\xcf\x11\xe0 not really a workbook")[0].startswith(
        "f.xls:1: cannot be read as an .xls workbook:"
    )
    zipped = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "a zip, but no workbook")
    assert problems_of("f.xlsx", zipped.getvalue())[0].startswith(
        "f.xlsx:1: cannot be read as an .xlsx workbook:"
    )


def test_the_command_says_what_it_mapped_and_what_it_could_not(tmp_path: Path) -> None:
    out = tmp_path / "instruments" / "expert-views" / "1.0.0.yaml"
    result = CliRunner().invoke(main, ["instrument", "import", str(EXPERT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{EXPERT}: read as XLSForm"
    assert "  mapped: 14 questions on 3 pages" in lines
    assert "  mapped: range 'afford' -> slider from 0 to 10 in steps of 1" in lines
    assert "  mapped: group 'agreement' (table-list) -> likert_matrix 'agreement'" in lines
    assert (
        f"  not carried over: {EXPERT}:4: end is ODK metadata: Elicit records when each response was started and submitted"
        in lines
    )
    assert lines[-1].startswith(f"{out}: wrote expert-views@1.0.0 (3 pages, 14 items, languages en, ur)")
    check = CliRunner().invoke(main, ["instrument", "check", str(out)])
    assert check.exit_code == 0, check.output
