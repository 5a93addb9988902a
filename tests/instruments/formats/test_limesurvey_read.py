"""Reading LimeSurvey ``.lss`` survey structures (LimeSurvey 3 to 6) into instrument documents.

The two full fixtures were written by hand from the published structure of a LimeSurvey export (a LimeSurvey 6
file with the texts in ``*_l10ns`` tables, and a LimeSurvey 3 file with the texts in the rows). The small
surveys below are built from literal rows by :func:`lss`, one ``<row>`` per line, in the LimeSurvey 6 layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from elicit.instruments.formats import limesurvey
from elicit.instruments.formats.common import Imported, ImportFailed

FIXTURES = Path(__file__).parent / "fixtures" / "limesurvey"


def cells(row: dict[str, Any]) -> str:
    return "".join(f"<{key}><![CDATA[{value}]]></{key}>" for key, value in row.items())


def table(name: str, rows: list[dict[str, Any]]) -> str:
    body = "".join(f"   <row>{cells(row)}</row>\n" for row in rows)
    return f" <{name}>\n  <rows>\n{body}  </rows>\n </{name}>\n"


def lss(
    questions: list[dict[str, Any]],
    *,
    subquestions: Sequence[dict[str, Any]] = (),
    answers: Sequence[dict[str, Any]] = (),
    attributes: Sequence[dict[str, Any]] = (),
    languages: tuple[str, ...] = ("en",),
    extra: str = "",
) -> bytes:
    """A LimeSurvey 6 survey structure with one group, from compact question rows.

    A question is ``{qid, type, title, ...}`` with an optional ``text`` (a string or ``{lang: text}``), ``help``,
    ``gid`` (default 1; group 2 exists too) and any other column; subquestions name their ``parent_qid``;
    answers are ``{aid, qid, code, text}``; attributes ``{qid, attribute, value}``.
    """
    question_rows, l10n_rows = [], []
    for order, question in enumerate([*questions, *subquestions]):
        q = dict(question)
        text = q.pop("text", f"Text of {q['title']}")
        helptext = q.pop("help", "")
        texts = text if isinstance(text, dict) else {lang: text for lang in languages}
        row = {
            "qid": q.pop("qid"),
            "parent_qid": q.pop("parent_qid", 0),
            "sid": 123456,
            "gid": q.pop("gid", 1),
        }
        row.update(type=q.pop("type", "T"), title=q.pop("title"), other=q.pop("other", "N"))
        row.update(mandatory=q.pop("mandatory", "N"), question_order=q.pop("order", order))
        row.update(scale_id=q.pop("scale_id", 0), relevance=q.pop("relevance", "1"), **q)
        question_rows.append(row)
        for lang, value in texts.items():
            l10n_rows.append({"qid": row["qid"], "question": value, "help": helptext, "language": lang})
    main = [r for r in question_rows if r["parent_qid"] == 0]
    subs = [r for r in question_rows if r["parent_qid"] != 0]
    answer_rows = [
        {
            "aid": a["aid"],
            "qid": a["qid"],
            "code": a["code"],
            "sortorder": i,
            "scale_id": a.get("scale_id", 0),
        }
        for i, a in enumerate(answers)
    ]
    answer_l10ns = [
        {"aid": a["aid"], "answer": a["text"], "language": lang} for a in answers for lang in languages
    ]
    attribute_rows = [{"language": "", **a} for a in attributes]
    groups = [{"gid": 1, "sid": 123456, "group_order": 0, "grelevance": 1},
              {"gid": 2, "sid": 123456, "group_order": 1, "grelevance": 1}]  # fmt: skip
    group_l10ns = [
        {"gid": gid, "group_name": f"Group {gid}", "language": lang} for gid in (1, 2) for lang in languages
    ]
    survey = {"sid": 123456, "language": languages[0], "additional_languages": " ".join(languages[1:])}
    settings = [{"surveyls_language": lang, "surveyls_title": f"Survey ({lang})"} for lang in languages]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<document>\n <LimeSurveyDocType>Survey</LimeSurveyDocType>\n'
        " <DBVersion>640</DBVersion>\n"
        + table("groups", groups)
        + table("group_l10ns", group_l10ns)
        + table("questions", main)
        + (table("subquestions", subs) if subs else "")
        + table("question_l10ns", l10n_rows)
        + (table("answers", answer_rows) + table("answer_l10ns", answer_l10ns) if answers else "")
        + (table("question_attributes", attribute_rows) if attributes else "")
        + table("surveys", [survey])
        + table("surveys_languagesettings", settings)
        + extra
        + "</document>\n"
    ).encode("utf-8")


def read(data: bytes, name: str = "survey.lss") -> Imported:
    return limesurvey.read(name, data, "imported", "1.0.0")


def problems(data: bytes, name: str = "survey.lss") -> list[str]:
    with pytest.raises(ImportFailed) as failed:
        read(data, name)
    return [str(p) for p in failed.value.problems]


def items(imported: Imported) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for page in imported.document["pages"] for item in page["items"]}


def line_of(data: bytes, needle: str) -> int:
    text = data.decode("utf-8")
    return text[: text.index(needle)].count("\n") + 1


# -- the LimeSurvey 6 fixture ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def views() -> Imported:
    path = FIXTURES / "defence_views_ls6.lss"
    return limesurvey.read(str(path), path.read_bytes(), "views", "1.0.0")


def test_ls6_groups_become_pages_in_group_order(views: Imported) -> None:
    document = views.document
    assert document["languages"] == ["en", "ur"]
    assert document["title"] == {"en": "Views on defence diplomacy", "ur": "دفاعی سفارت کاری پر آراء"}
    assert document["description"]["en"] == "A short survey of experts."
    assert [page["id"] for page in document["pages"]] == ["about_you", "your_views"]
    first, second = document["pages"]
    assert first["title"] == {"en": "About you", "ur": "آپ کے بارے میں"}
    assert first["intro"]["en"] == "A few questions about your work."  # <p> removed
    assert second["relevant"] == "consent == 'Y'"
    assert [i["id"] for i in first["items"]] == ["intro", "consent", "role", "role_other", "years", "topics"]


def test_ls6_question_types(views: Imported) -> None:
    got = items(views)
    assert {k: v["type"] for k, v in got.items()} == {
        "intro": "note",
        "consent": "single_choice",
        "role": "single_choice",
        "role_other": "text",
        "years": "integer",
        "topics": "multiple_choice",
        "agree": "likert_matrix",
        "aims": "ranking",
        "budget": "constant_sum",
        "costs": "note",
        "costs_low": "decimal",
        "costs_high": "decimal",
        "exercise": "text",
        "comment": "text",
        "nextdialogue": "date",
        "afford": "likert",
    }
    assert got["intro"]["text"]["en"] == "Thank you for taking part.\nAll answers are anonymous."
    assert got["consent"]["choices"] == {"Y": {"en": "Yes", "ur": "ہاں"}, "N": {"en": "No", "ur": "نہیں"}}
    assert got["consent"]["required"] is True
    assert got["years"] | {"text": None} == {
        "id": "years",
        "type": "integer",
        "text": None,
        "relevant": "consent == 'Y'",
        "min": 0,
        "max": 60,
        "unit": {"en": "years", "ur": "سال"},
    }
    assert got["topics"]["max_selected"] == 2
    assert list(got["topics"]["choices"]) == ["SQ001", "SQ002", "SQ003"]
    assert got["comment"]["multiline"] is True
    assert got["exercise"]["max_length"] == 200
    assert got["exercise"]["help"] == {"en": "Optional.", "ur": "اختیاری۔"}
    assert got["nextdialogue"]["min"] == "2025-01-01"
    assert got["afford"]["choices"] == {1: "1", 2: "2", 3: "3", 4: "4", 5: "5"}


def test_ls6_list_with_other_gets_a_choice_and_a_follow_up(views: Imported) -> None:
    got = items(views)
    assert got["role"]["choices"]["other"] == {"en": "Another role", "ur": "کوئی اور کردار"}
    assert list(got["role"]["choices"]) == ["A1", "A2", "A3", "other"]
    assert got["role_other"]["relevant"] == "consent == 'Y' and role == 'other'"
    assert got["role_other"]["text"]["en"] == "Another role: please specify"


def test_ls6_array_is_a_likert_matrix_with_renumbered_codes(views: Imported) -> None:
    agree = items(views)["agree"]
    assert agree["choices"][1] == {"en": "Strongly disagree", "ur": "مکمل اختلاف"}
    assert list(agree["choices"]) == [1, 2, 3, 4, 5]
    assert [row["id"] for row in agree["rows"]] == ["agree_sq001", "agree_sq002"]
    assert all(row["required"] for row in agree["rows"]) and "required" not in agree
    assert agree["rows"][1]["relevant"] == "years > 5"
    assert (
        "answer codes of agree renumbered for a likert scale: A1 -> 1, A2 -> 2, A3 -> 3, A4 -> 4, A5 -> 5"
        in (views.mapped)
    )


def test_ls6_ranking_and_multiple_numerical(views: Imported) -> None:
    got = items(views)
    assert got["aims"]["choices"] == {
        1: {"en": "Security", "ur": "سلامتی"},
        2: {"en": "Trade", "ur": "تجارت"},
        3: {"en": "Influence", "ur": "اثر و رسوخ"},
    }
    assert got["budget"]["total"] == 100
    assert list(got["budget"]["choices"]) == ["army", "navy", "air"]
    assert got["costs_low"]["text"] == {"en": "At least", "ur": "کم از کم"}
    assert got["costs_low"]["min"] == 0


def test_ls6_relevance_equations_are_translated(views: Imported) -> None:
    got = items(views)
    assert got["role"]["relevant"] == "consent == 'Y'"  # consent.NAOK == "Y"
    assert got["topics"]["relevant"] == "answered(role)"  # !is_empty(role)
    assert got["aims"]["relevant"] == "role == 'A1' or role == 'other'"  # {role == "A1" or role == "-oth-"}
    assert got["exercise"]["relevant"] == "selected(topics, 'SQ001') or years > 10"
    assert (
        got["comment"]["relevant"] == "role != 'A3' and answered(role)"
    )  # role.NAOK != "A3" && !is_empty(role)
    assert (
        'relevance of question exercise translated: topics_SQ001 == "Y" or years > 10 -> '
        "selected(topics, 'SQ001') or years > 10" in views.mapped
    )


def test_ls6_what_is_lost_is_listed_with_its_line(views: Imported) -> None:
    path = FIXTURES / "defence_views_ls6.lss"
    data = path.read_bytes()
    lost = [str(p) for p in views.lost]
    assert any(
        f":{line_of(data, '<attribute><![CDATA[random_order]]>')}: question topics: attribute random_order = 1"
        in p
        for p in lost
    )
    assert any("HTML formatting of question intro (strong)" in p for p in lost)
    # the Urdu text of 'comment' is empty: the English one is shown, and that is said
    assert any("question comment has texts without a ur translation" in p for p in lost)
    assert items(views)["comment"]["text"] == "Anything else you would like to add?"


# -- the LimeSurvey 3 fixture ---------------------------------------------------------------------------
def test_ls3_texts_in_the_rows_are_read_per_language() -> None:
    path = FIXTURES / "travel_ls3.lss"
    imported = limesurvey.read(str(path), path.read_bytes(), "travel", "1.0.0")
    document = imported.document
    assert document["languages"] == ["en", "de"]
    assert document["title"] == {"en": "Commuting", "de": "Pendeln"}
    assert document["description"]["de"] == "Willkommen zu unserer Umfrage zum Pendeln."
    got = items(imported)
    assert got["mode"]["type"] == "dropdown"
    assert got["mode"]["choices"]["train"] == {"en": "Train", "de": "Zug"}
    assert got["distance"] | {"text": None} == {
        "id": "distance",
        "type": "decimal",
        "text": None,
        "relevant": "mode != 'bike'",
        "min": 0.5,
        "unit": "km",
    }
    assert got["often"]["choices"] == {1: {"en": "Never", "de": "Nie"}, 2: {"en": "Sometimes", "de": "Manchmal"},
                                       3: {"en": "Often", "de": "Oft"}}  # fmt: skip
    assert got["extras"]["relevant"] == "often_sq001 >= 2 or distance > 10"
    assert got["extras"]["choices"]["other"] == {"en": "Other", "de": "Sonstiges"}
    assert (
        got["extras_other"]["relevant"] == "(often_sq001 >= 2 or distance > 10) and selected(extras, 'other')"
    )
    assert [got[i]["type"] for i in ("stops", "stops_first", "stops_last")] == ["note", "text", "text"]
    assert got["stops_first"]["relevant"] == "answered(extras_other) and answered(mode)"
    assert document["pages"][1]["relevant"] == "answered(mode)"
    assert "question codes became item ids in lower case: Distance -> distance" in imported.mapped
    assert any("one question at a time" in str(p) for p in imported.lost)


# -- relevance equations ----------------------------------------------------------------------------------
BASE_QUESTIONS = [
    {"qid": 1, "type": "L", "title": "Q1", "other": "Y"},
    {"qid": 2, "type": "M", "title": "Q2"},
    {"qid": 3, "type": "N", "title": "Q3"},
    {"qid": 4, "type": "S", "title": "Q4"},
    {"qid": 5, "type": "F", "title": "Q5"},
    {"qid": 6, "type": "R", "title": "Q6"},
    {"qid": 7, "type": "Y", "title": "Q7"},
]
BASE_SUBQUESTIONS = [
    {"qid": 21, "parent_qid": 2, "title": "SQ001"},
    {"qid": 22, "parent_qid": 2, "title": "SQ002"},
    {"qid": 51, "parent_qid": 5, "title": "SQ001"},
]
BASE_ANSWERS = [
    {"aid": 101, "qid": 1, "code": "A1", "text": "One"},
    {"aid": 102, "qid": 1, "code": "A2", "text": "Two"},
    {"aid": 501, "qid": 5, "code": "A1", "text": "Low"},
    {"aid": 502, "qid": 5, "code": "A2", "text": "Middle"},
    {"aid": 503, "qid": 5, "code": "A3", "text": "High"},
    {"aid": 601, "qid": 6, "code": "r1", "text": "First aim"},
    {"aid": 602, "qid": 6, "code": "r2", "text": "Second aim"},
]


def with_relevance(equation: str, *, later: bool = True) -> bytes:
    target = {"qid": 9, "type": "T", "title": "target", "relevance": equation}
    after = [{"qid": 10, "type": "S", "title": "LATER"}] if later else []
    return lss([*BASE_QUESTIONS, target, *after], subquestions=BASE_SUBQUESTIONS, answers=BASE_ANSWERS)


@pytest.mark.parametrize(
    ("equation", "expected"),
    [
        ("1", None),
        ("", None),
        ('Q1 == "A1"', "q1 == 'A1'"),
        ('Q1.NAOK == "A1"', "q1 == 'A1'"),
        ("Q1.code == 'A2'", "q1 == 'A2'"),
        ('Q1 != "A1"', "q1 != 'A1'"),
        ('Q1 == "-oth-"', "q1 == 'other'"),
        ("Q3 > 3", "q3 > 3"),
        ('Q3 >= "3.5"', "q3 >= 3.5"),
        ("3 < Q3", "q3 > 3"),
        ("Q3 + 2 > 5 * 2", "q3 + 2 > 5 * 2"),
        ('Q1 eq "A1" or Q3 gt 4', "q1 == 'A1' or q3 > 4"),
        ("is_empty(Q1)", "not answered(q1)"),
        ("!is_empty(Q1)", "answered(q1)"),
        ("!is_empty(Q1.NAOK)", "answered(q1)"),
        ('Q4 == ""', "not answered(q4)"),
        ('Q4 != ""', "answered(q4)"),
        ('Q4 == "it\'s"', "q4 == 'it\\'s'"),
        ('Q2_SQ001 == "Y"', "selected(q2, 'SQ001')"),
        ('Q2_SQ001.NAOK != "Y"', "not selected(q2, 'SQ001')"),
        ('Q2_SQ002 == ""', "not selected(q2, 'SQ002')"),
        ("is_empty(Q2_SQ002)", "not selected(q2, 'SQ002')"),
        ("!is_empty(Q2_SQ002)", "selected(q2, 'SQ002')"),
        ('Q5_SQ001 == "A2"', "q5_sq001 == 2"),
        ('Q7 == "Y"', "q7 == 'Y'"),
        ('Q1_other != ""', "answered(q1_other)"),
        ('{Q1 == "A1" and Q3 > 2}', "q1 == 'A1' and q3 > 2"),
        ('Q1 == "A1" && (Q3 > 2 || Q4 == "x")', "q1 == 'A1' and (q3 > 2 or q4 == 'x')"),
        ('!(Q1 == "A1")', "not (q1 == 'A1')"),
        ('!(Q1 == "A1" or Q3 > 1)', "not (q1 == 'A1' or q3 > 1)"),
        ("-Q3 < -1", "-q3 < -1"),
        ('Q4 == "{Q1}"', "q4 == '{Q1}'"),  # braces inside a string are text, not substitution
    ],
)
def test_relevance_is_translated(equation: str, expected: str | None) -> None:
    target = items(read(with_relevance(equation)))["target"]
    assert target.get("relevant") == expected


@pytest.mark.parametrize(
    ("equation", "message"),
    [
        ("count(Q2) > 1", "the function count() has no equivalent in Elicit"),
        ("strlen(Q4) > 3", "the function strlen() has no equivalent in Elicit"),
        ('Q6 == "r1"', "it uses Q6, a ranking, which Elicit's conditions cannot read"),
        ('Q6_1 == "r1"', "not asked before this point"),
        ('Q9 == "Y"', "it refers to 'Q9', which is not a question in this survey"),
        ('LATER == "x"', "it refers to LATER, which is not asked before this point"),
        ('target == "x"', "it refers to target, which is not asked before this point"),
        ('Q1.shown == "One"', "'.shown' of Q1 has no equivalent"),
        ('Q2_SQ001 == "N"', "it compares the option Q2_SQ001 with 'N' using ==; an option is either 'Y'"),
        ('Q2 == "Y"', "it uses Q2, a multiple choice (refer to one option, e.g. Q2_SQ001)"),
        (
            'Q5_SQ001 > "A1"',
            "the answer codes of Q5_SQ001 are renumbered for Elicit (A1 -> 1, A2 -> 2, A3 -> 3)",
        ),
        ('Q5_SQ001 == "7"', "are renumbered"),
        ('Q1 == "A9"', "it compares Q1 with 'A9', which is not one of its answer codes (A1, A2, -oth-)"),
        ('Q5 == "A1"', "it uses Q5, an array (refer to one row, e.g. Q5_SQ001)"),
        ('12345X1X2 == "A1"', "12345X1X2 is a LimeSurvey SGQA code"),
        ('Q1 = "A1"', "'=' assigns a value; a condition compares with '=='"),
        ("self.NAOK > 1", "'self.NAOK' (LimeSurvey's self/that references) cannot be translated"),
        ("that.Q1.NAOK == 'A1'", "self/that references"),
        ('(Q1 == "A1"', "a '(' is not closed"),
        ('Q1 == "A1" and', "the equation ends too early"),
        ('Q4 + "x" > 1', "arithmetic on the text 'x'"),
        ('Q1 == "A1" ? 1 : 0', "'?' cannot be translated"),
    ],
)
def test_untranslatable_relevance_is_a_problem_on_its_line(equation: str, message: str) -> None:
    data = with_relevance(equation)
    line = line_of(data, "<title><![CDATA[target]]>")
    (problem,) = problems(data)
    assert problem.startswith(f"survey.lss:{line}: the relevance of question target cannot be translated: ")
    assert message in problem
    assert problem.endswith(f": {' '.join(equation.split())}")


def test_a_deeply_nested_relevance_is_refused_not_a_crash() -> None:
    (problem,) = problems(with_relevance("(" * 400 + "1" + ")" * 400))
    assert "nests more than 50 levels deep" in problem


def test_group_relevance_may_use_earlier_pages_only() -> None:
    data = lss([{"qid": 1, "type": "Y", "title": "ok"}, {"qid": 2, "type": "S", "title": "later", "gid": 2}])
    group_1, group_2 = (
        f"<gid><![CDATA[{gid}]]></gid><sid><![CDATA[123456]]></sid><group_order><![CDATA[{gid - 1}]]></group_order>"
        "<grelevance><![CDATA[1]]></grelevance>"
        for gid in (1, 2)
    )
    good = data.decode().replace(group_2, group_2.replace("[1]]></grelevance>", '[ok == "Y"]]></grelevance>'))
    assert read(good.encode()).document["pages"][1]["relevant"] == "ok == 'Y'"
    bad = data.decode().replace(
        group_1, group_1.replace("[1]]></grelevance>", '[later == "x"]]></grelevance>')
    )
    (problem,) = problems(bad.encode())
    assert (
        "the relevance of group 'Group 1' cannot be translated: it refers to later, which is not asked"
        in problem
    )


# -- the other question types ----------------------------------------------------------------------------
def test_array_of_texts_becomes_one_text_item_per_cell() -> None:
    data = lss(
        [{"qid": 1, "type": ";", "title": "grid", "mandatory": "Y", "text": "Name the partners"}],
        subquestions=[
            {"qid": 11, "parent_qid": 1, "title": "r1", "text": "Army"},
            {"qid": 12, "parent_qid": 1, "title": "r2", "text": "Navy"},
            {"qid": 13, "parent_qid": 1, "title": "c1", "text": "Partner", "scale_id": 1},
            {"qid": 14, "parent_qid": 1, "title": "c2", "text": "Since", "scale_id": 1},
        ],
    )
    imported = read(data)
    got = items(imported)
    assert list(got) == ["grid", "grid_r1_c1", "grid_r1_c2", "grid_r2_c1", "grid_r2_c2"]
    assert got["grid"] == {"id": "grid", "type": "note", "text": "Name the partners"}
    assert got["grid_r2_c1"] == {
        "id": "grid_r2_c1",
        "type": "text",
        "text": "Navy — Partner",
        "required": True,
    }
    assert any(
        "is a grid in LimeSurvey; Elicit asks its 4 cells one below the other" in str(p)
        for p in imported.lost
    )


def test_array_of_numbers_becomes_integer_items_within_its_range() -> None:
    data = lss(
        [{"qid": 1, "type": ":", "title": "n"}],
        subquestions=[
            {"qid": 11, "parent_qid": 1, "title": "r1", "text": "Row"},
            {"qid": 13, "parent_qid": 1, "title": "c1", "text": "Col", "scale_id": 1},
        ],
        attributes=[{"qid": 1, "attribute": "multiflexible_max", "value": "5"}],
    )
    assert items(read(data))["n_r1_c1"] | {"text": ""} == {"id": "n_r1_c1", "type": "integer", "text": "",
                                                           "min": 1, "max": 5}  # fmt: skip


def test_list_with_comment_and_multiple_choice_with_comments() -> None:
    data = lss(
        [
            {"qid": 1, "type": "O", "title": "pick"},
            {"qid": 2, "type": "P", "title": "many", "relevance": 'pick == "a"'},
        ],
        subquestions=[{"qid": 21, "parent_qid": 2, "title": "x", "text": "Ex"}],
        answers=[
            {"aid": 1, "qid": 1, "code": "a", "text": "Aa"},
            {"aid": 2, "qid": 1, "code": "b", "text": "Bb"},
        ],
    )
    got = items(read(data))
    assert got["pick"]["type"] == "single_choice"
    assert got["pick_comment"] == {"id": "pick_comment", "type": "text", "text": "Comment", "multiline": True}
    assert got["many"]["choices"] == {"x": "Ex"}
    assert got["many_xcomment"] == {"id": "many_xcomment", "type": "text", "text": "Ex: Comment",
                                    "relevant": "pick == 'a' and selected(many, 'x')"}  # fmt: skip


def test_gender_and_yes_no_labels_come_in_every_language() -> None:
    data = lss([{"qid": 1, "type": "G", "title": "g", "text": {"de": "Geschlecht", "en": "Gender"}}],
               languages=("de", "en"))  # fmt: skip
    g = items(read(data))["g"]
    assert g["choices"] == {"F": {"de": "Weiblich", "en": "Female"}, "M": {"de": "Männlich", "en": "Male"}}


def test_a_language_without_built_in_labels_gets_english_and_a_note() -> None:
    data = lss([{"qid": 1, "type": "Y", "title": "yn"}], languages=("en", "sw"))
    imported = read(data)
    assert items(imported)["yn"]["choices"]["Y"] == "Yes"
    assert any("no built-in 'sw' texts" in str(p) for p in imported.lost)


def test_numbers_only_short_text_and_validation_become_a_decimal_with_a_constraint() -> None:
    data = lss(
        [{"qid": 1, "type": "S", "title": "share"}, {"qid": 2, "type": "N", "title": "pct"}],
        attributes=[
            {"qid": 1, "attribute": "numbers_only", "value": "1"},
            {"qid": 2, "attribute": "em_validation_q", "value": "pct >= 0 and pct <= 100"},
            {"qid": 2, "attribute": "em_validation_q_tip", "value": "A percentage, please."},
        ],
    )
    got = items(read(data))
    assert got["share"]["type"] == "decimal"
    assert got["pct"]["constraint"] == ". >= 0 and . <= 100"
    assert got["pct"]["constraint_message"] == "A percentage, please."


def test_multiple_numerical_without_total_is_decimal_items_with_integer_option() -> None:
    data = lss(
        [{"qid": 1, "type": "K", "title": "k", "relevance": "1"}, {"qid": 2, "type": "T", "title": "t",
         "relevance": "k_a > 1"}],
        subquestions=[{"qid": 11, "parent_qid": 1, "title": "a", "text": "A"}],
        attributes=[{"qid": 1, "attribute": "num_value_int_only", "value": "1"},
                    {"qid": 1, "attribute": "max_num_value_n", "value": "9"}],
    )  # fmt: skip
    got = items(read(data))
    assert got["k_a"] == {"id": "k_a", "type": "integer", "text": "A", "max": 9}
    assert got["t"]["relevant"] == "k_a > 1"


def test_reserved_words_and_odd_codes_become_safe_item_ids() -> None:
    imported = read(lss([{"qid": 1, "type": "S", "title": "IN"}, {"qid": 2, "type": "S", "title": "Q2",
                         "relevance": 'IN == "x"'}]))  # fmt: skip
    got = items(imported)
    assert list(got) == ["q_in", "q2"]
    assert got["q2"]["relevant"] == "q_in == 'x'"
    assert "renamed 'IN' -> 'q_in'" in imported.mapped


def test_html_and_images_are_removed_and_listed() -> None:
    text = '<p>Look at <img src="map.png" alt="map"/> this <a href="https://x.org">map</a>.</p><ul><li>one</li></ul>'
    imported = read(lss([{"qid": 1, "type": "S", "title": "q", "text": text}]))
    assert items(imported)["q"]["text"] == "Look at this map.\n\n- one"
    assert any("HTML formatting of question q (a, img, li, ul) is removed" in str(p) for p in imported.lost)


def test_language_switch_is_left_out_with_a_note() -> None:
    imported = read(lss([{"qid": 1, "type": "I", "title": "lang"}, {"qid": 2, "type": "S", "title": "s"}]))
    assert list(items(imported)) == ["s"]
    assert any("question lang (a language switch) is left out" in str(p) for p in imported.lost)


# -- what cannot be imported ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "message"),
    [
        (
            {"type": "*", "title": "calc"},
            "question calc is an equation (type *): an equation question computes",
        ),
        (
            {"type": "|", "title": "cv"},
            "question cv is a file upload (type |): a file upload cannot be asked",
        ),
        ({"type": "1", "title": "dual"}, "dual-scale array (two answers per row) has no Elicit equivalent"),
        ({"type": "Z", "title": "odd"}, "question odd has the unknown question type 'Z'"),
        ({"type": "S", "title": "mail", "preg": "/^.+@.+$/"}, "checks its answer with a regular expression"),
        ({"type": "L", "title": "empty"}, "question empty has no answer options"),
        ({"type": "M", "title": "nosub"}, "question nosub has no subquestions"),
    ],
)
def test_types_and_settings_that_cannot_be_carried_over(question: dict[str, Any], message: str) -> None:
    data = lss([{"qid": 1, "type": "S", "title": "fine"}, {"qid": 2, **question}])
    (problem,) = problems(data)
    assert message in problem
    assert problem.startswith(f"survey.lss:{line_of(data, '<qid><![CDATA[2]]></qid><parent_qid>')}: ")


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("hidden", "1", "question q is hidden (attribute hidden = 1): a hidden question holds a preset"),
        ("array_filter", "Q0", "shows only the rows chosen in another question (array filter)"),
        ("exclude_all_others", "SQ001", "makes one option exclude all others"),
        ("em_validation_q", "strlen(q) > 2", "the validation of question q cannot be translated"),
        ("max_num_value_n", "{Q0}", "max_num_value_n = {Q0} is not a number"),
    ],
)
def test_attributes_that_would_change_the_answers_are_problems(
    attribute: str, value: str, message: str
) -> None:
    data = lss(
        [{"qid": 1, "type": "N", "title": "q"}],
        attributes=[{"qid": 1, "attribute": attribute, "value": value}],
    )
    (problem,) = problems(data)
    assert message in problem
    assert problem.startswith(f"survey.lss:{line_of(data, f'<attribute><![CDATA[{attribute}]]>')}: ")


def test_every_problem_is_reported_at_once() -> None:
    data = lss(
        [
            {"qid": 1, "type": "*", "title": "calc"},
            {"qid": 2, "type": "S", "title": "a", "relevance": "calc > 1"},
            {"qid": 3, "type": "Z", "title": "odd"},
        ]
    )
    found = problems(data)
    assert len(found) == 3
    assert "question calc is an equation (type *)" in found[0]
    assert "it uses calc, an equation" in found[1]
    assert "'Z'" in found[2]


def test_conditions_without_a_relevance_equation_are_a_problem() -> None:
    conditions = (
        " <conditions>\n  <rows>\n   <row><cid>1</cid><qid>2</qid><cqid>1</cqid><cfieldname>123456X1X1</cfieldname>"
        "<method>==</method><value>Y</value></row>\n  </rows>\n </conditions>\n"
    )
    data = lss(
        [{"qid": 1, "type": "Y", "title": "a"}, {"qid": 2, "type": "S", "title": "b"}], extra=conditions
    )
    (problem,) = problems(data)
    assert f"survey.lss:{line_of(data, '<cid>')}: question b is shown by LimeSurvey conditions" in problem


def test_date_with_a_time_of_day_is_refused() -> None:
    data = lss([{"qid": 1, "type": "D", "title": "when"}],
               attributes=[{"qid": 1, "attribute": "date_format", "value": "dd.mm.yyyy HH:MM"}])  # fmt: skip
    assert "asks for a time of day" in problems(data)[0]


@pytest.mark.parametrize(
    ("languages", "ok"),
    [(("en", "de-informal"), True), (("en", "zh-Hans"), True), (("en", "es-AR-informal"), False)],
)
def test_language_codes(languages: tuple[str, ...], ok: bool) -> None:
    data = lss([{"qid": 1, "type": "S", "title": "s"}], languages=languages)
    if ok:
        assert read(data).document["languages"] == list(languages)
    else:
        (problem,) = problems(data)
        assert "the language code 'es-AR-informal' cannot be used" in problem


# -- files that are not survey structures ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "line", "message"),
    [
        (
            "bad_not_xml.lss",
            1,
            "the file is not XML (syntax error at column 1); a LimeSurvey .lss file is XML",
        ),
        ("bad_bomb.lss", 3, "the file declares XML entities, which are refused"),
        ("bad_not_survey.lss", 2, "this is a LimeSurvey .lsg (a question group) export, not a survey"),
        ("bad_unknown_type.lss", 33, "question mystery has the unknown question type 'Z'"),
        (
            "bad_relevance.lss",
            37,
            "the relevance of question more cannot be translated: the function strlen()",
        ),
    ],
)
def test_bad_fixtures(fixture: str, line: int, message: str) -> None:
    path = FIXTURES / fixture
    (problem,) = problems(path.read_bytes(), str(path))
    assert problem.startswith(f"{path}:{line}: {message}")


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"", 1, "the file is not XML (no element found"),
        (b"<?xml version='1.0'?>\n<survey><title>x</title></survey>", 2, "it starts with <survey>, not <document>"),
        ("<document>\n<LimeSurveyDocType>Survey</LimeSurveyDocType>\n<x>Gr\u00fc\u00dfe</x></document>".encode("latin-1"),
         3, "the file is not UTF-8"),
        (b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><document>&x;</document>', 1, "declares XML entities"),
    ],
)  # fmt: skip
def test_files_that_are_not_survey_structures(data: bytes, line: int, message: str) -> None:
    (problem,) = problems(data)
    assert problem.startswith(f"survey.lss:{line}: ")
    assert message in problem


def test_a_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + lss([{"qid": 1, "type": "S", "title": "s"}])
    assert list(items(read(data))) == ["s"]


@pytest.mark.parametrize(("kind", "top"), [("A", 5), ("B", 10)])
def test_point_arrays_are_likert_matrices(kind: str, top: int) -> None:
    data = lss([{"qid": 1, "type": kind, "title": "arr"}],
               subquestions=[{"qid": 11, "parent_qid": 1, "title": "r1", "text": "Row one"}])  # fmt: skip
    matrix = items(read(data))["arr"]
    assert matrix["type"] == "likert_matrix"
    assert list(matrix["choices"]) == list(range(1, top + 1))
    assert matrix["rows"] == [{"id": "arr_r1", "text": "Row one"}]


def test_array_by_column_huge_text_and_date_years() -> None:
    data = lss(
        [
            {"qid": 1, "type": "H", "title": "cols"},
            {"qid": 2, "type": "U", "title": "essay"},
            {"qid": 3, "type": "D", "title": "born"},
        ],
        subquestions=[{"qid": 11, "parent_qid": 1, "title": "r1"}],
        answers=[
            {"aid": 1, "qid": 1, "code": "1", "text": "Low"},
            {"aid": 2, "qid": 1, "code": "2", "text": "High"},
        ],
        attributes=[
            {"qid": 3, "attribute": "date_min", "value": "1940"},
            {"qid": 3, "attribute": "date_max", "value": "2010"},
        ],
    )
    imported = read(data)
    got = items(imported)
    assert got["cols"]["type"] == "likert_matrix" and list(got["cols"]["choices"]) == [1, 2]
    assert any("is an array by column in LimeSurvey" in str(p) for p in imported.lost)
    assert got["essay"]["multiline"] is True
    assert (got["born"]["min"], got["born"]["max"]) == ("1940-01-01", "2010-12-31")
