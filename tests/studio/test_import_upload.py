"""The studio's instrument upload takes an XLSForm, a REDCap data dictionary or a LimeSurvey file besides YAML:
converted as ``elicit instrument import`` does, shown with what was mapped and what was not carried over, kept as a
draft (preview, download the YAML, publish), and from there a study experts answer through the web and export.

The files are written here by hand, from the formats' published descriptions (REDCap's 18 data dictionary
columns; pyxform's CSV layout of an XLSForm's survey, choices and settings sheets; the tables of a
LimeSurvey 6 .lss).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect
from sqlalchemy import select

from elicit.db import db
from elicit.instruments.versions import definition_of
from elicit.models import AuditEvent, InstrumentDraft, InstrumentVersion, Study
from elicit.responding.values import form_fields
from tests.conftest import ARTIFACTS, axe_violations
from tests.studio.conftest import PASSWORD, People, csrf, csrf_from, issue, login, make_user, post

HEADER = (
    'Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider '
    'Labels",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,'
    "Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,"
    "Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation\n"
)
REDCAP = HEADER + (
    'sector,about,,radio,In which sector do you work?,"1, Government | 2, Academia | 3, Other",,,,,,,y,,,,,\n'
    "sector_other,about,,text,Please specify.,,,,,,,[sector] = '3',,,,,,\n"
    "years,about,,text,Years of experience,,,integer,0,60,,,,,,,,\n"
    "email,about,,text,Your e-mail address (to send you the results),,,email,,,y,,,,,,,\n"
    'activities,views,,checkbox,Which have you done?,"1, Staff talks | 2, Joint exercises",,,,,,,,RH,,,,\n'
    "next_talk,views,,text,When are the next talks?,,,date_ymd,,,,,,,,,,\n"
)
XLSFORM = """survey,type,name,label::English (en),label::Urdu (ur),required,relevant,constraint
,begin group,about,About you,آپ کے بارے میں,,,
,select_one sector,sector,In which sector do you work?,آپ کس شعبے میں کام کرتے ہیں؟,yes,,
,text,sector_other,Please specify.,براہ کرم وضاحت کریں۔,,${sector} = 'other',
,integer,years,Years of experience,تجربے کے سال,,,. >= 0 and . <= 60
,end group,,,,,,
,begin group,views,Your views,آپ کی رائے,,,
,select_multiple activity,activities,Which have you done?,آپ نے کیا کیا ہے؟,,,
,date,next_talk,When are the next talks?,اگلی بات چیت کب ہے؟,,,
,end group,,,,,,
choices,list_name,name,label::English (en),label::Urdu (ur),,,
,sector,gov,Government,حکومت,,,
,sector,academia,Academia,تعلیمی ادارہ,,,
,sector,other,Other,دیگر,,,
,activity,talks,Staff talks,اسٹاف مذاکرات,,,
,activity,exercises,Joint exercises,مشترکہ مشقیں,,,
settings,form_title,form_id,version,default_language,,,
,Imported views,views_form,2024050101,English (en),,,
"""
#: The same questionnaire as a LimeSurvey 6 survey structure (.lss), as LimeSurvey exports one: a section per
#: table, texts in the *_l10ns sections (LimeSurvey wraps every value in CDATA; plain text reads the same).
#: Question codes are letters and digits only in LimeSurvey, so sector_other and next_talk are coded sectorother
#: and nexttalk (answer codes are at most 5 characters: gov, acad, other).
LIMESURVEY_VIEWS = """<?xml version="1.0" encoding="UTF-8"?>
<document>
 <LimeSurveyDocType>Survey</LimeSurveyDocType>
 <DBVersion>640</DBVersion>
 <languages><language>en</language><language>ur</language></languages>
 <answers>
  <fields><fieldname>aid</fieldname><fieldname>qid</fieldname><fieldname>code</fieldname>
   <fieldname>sortorder</fieldname><fieldname>assessment_value</fieldname><fieldname>scale_id</fieldname></fields>
  <rows>
   <row><aid>1</aid><qid>1</qid><code>gov</code><sortorder>1</sortorder><assessment_value>0</assessment_value>
    <scale_id>0</scale_id></row>
   <row><aid>2</aid><qid>1</qid><code>acad</code><sortorder>2</sortorder><assessment_value>0</assessment_value>
    <scale_id>0</scale_id></row>
   <row><aid>3</aid><qid>1</qid><code>other</code><sortorder>3</sortorder><assessment_value>0</assessment_value>
    <scale_id>0</scale_id></row>
  </rows>
 </answers>
 <answer_l10ns>
  <fields><fieldname>id</fieldname><fieldname>aid</fieldname><fieldname>answer</fieldname>
   <fieldname>language</fieldname></fields>
  <rows>
   <row><id>1</id><aid>1</aid><answer>Government</answer><language>en</language></row>
   <row><id>2</id><aid>1</aid><answer>حکومت</answer><language>ur</language></row>
   <row><id>3</id><aid>2</aid><answer>Academia</answer><language>en</language></row>
   <row><id>4</id><aid>2</aid><answer>تعلیمی ادارہ</answer><language>ur</language></row>
   <row><id>5</id><aid>3</aid><answer>Other</answer><language>en</language></row>
   <row><id>6</id><aid>3</aid><answer>دیگر</answer><language>ur</language></row>
  </rows>
 </answer_l10ns>
 <groups>
  <fields><fieldname>gid</fieldname><fieldname>sid</fieldname><fieldname>group_order</fieldname>
   <fieldname>randomization_group</fieldname><fieldname>grelevance</fieldname></fields>
  <rows>
   <row><gid>1</gid><sid>123456</sid><group_order>1</group_order><randomization_group/>
    <grelevance>1</grelevance></row>
   <row><gid>2</gid><sid>123456</sid><group_order>2</group_order><randomization_group/>
    <grelevance>1</grelevance></row>
  </rows>
 </groups>
 <group_l10ns>
  <fields><fieldname>id</fieldname><fieldname>gid</fieldname><fieldname>group_name</fieldname>
   <fieldname>description</fieldname><fieldname>language</fieldname></fields>
  <rows>
   <row><id>1</id><gid>1</gid><group_name>About you</group_name><description/><language>en</language></row>
   <row><id>2</id><gid>1</gid><group_name>آپ کے بارے میں</group_name><description/><language>ur</language></row>
   <row><id>3</id><gid>2</gid><group_name>Your views</group_name><description/><language>en</language></row>
   <row><id>4</id><gid>2</gid><group_name>آپ کی رائے</group_name><description/><language>ur</language></row>
  </rows>
 </group_l10ns>
 <questions>
  <fields><fieldname>qid</fieldname><fieldname>parent_qid</fieldname><fieldname>sid</fieldname>
   <fieldname>gid</fieldname><fieldname>type</fieldname><fieldname>title</fieldname><fieldname>preg</fieldname>
   <fieldname>other</fieldname><fieldname>mandatory</fieldname><fieldname>encrypted</fieldname>
   <fieldname>question_order</fieldname><fieldname>scale_id</fieldname><fieldname>same_default</fieldname>
   <fieldname>relevance</fieldname><fieldname>question_theme_name</fieldname></fields>
  <rows>
   <row><qid>1</qid><parent_qid>0</parent_qid><sid>123456</sid><gid>1</gid><type>L</type><title>sector</title>
    <preg/><other>N</other><mandatory>Y</mandatory><encrypted>N</encrypted><question_order>1</question_order>
    <scale_id>0</scale_id><same_default>0</same_default><relevance>1</relevance>
    <question_theme_name>listradio</question_theme_name></row>
   <row><qid>2</qid><parent_qid>0</parent_qid><sid>123456</sid><gid>1</gid><type>S</type>
    <title>sectorother</title><preg/><other>N</other><mandatory>N</mandatory><encrypted>N</encrypted>
    <question_order>2</question_order><scale_id>0</scale_id><same_default>0</same_default>
    <relevance><![CDATA[sector == "other"]]></relevance>
    <question_theme_name>shortfreetext</question_theme_name></row>
   <row><qid>3</qid><parent_qid>0</parent_qid><sid>123456</sid><gid>1</gid><type>N</type><title>years</title>
    <preg/><other>N</other><mandatory>N</mandatory><encrypted>N</encrypted><question_order>3</question_order>
    <scale_id>0</scale_id><same_default>0</same_default><relevance>1</relevance>
    <question_theme_name>numerical</question_theme_name></row>
   <row><qid>4</qid><parent_qid>0</parent_qid><sid>123456</sid><gid>2</gid><type>M</type>
    <title>activities</title><preg/><other>N</other><mandatory>N</mandatory><encrypted>N</encrypted>
    <question_order>1</question_order><scale_id>0</scale_id><same_default>0</same_default>
    <relevance>1</relevance><question_theme_name>multiplechoice</question_theme_name></row>
   <row><qid>5</qid><parent_qid>0</parent_qid><sid>123456</sid><gid>2</gid><type>D</type><title>nexttalk</title>
    <preg/><other>N</other><mandatory>N</mandatory><encrypted>N</encrypted><question_order>2</question_order>
    <scale_id>0</scale_id><same_default>0</same_default><relevance>1</relevance>
    <question_theme_name>date</question_theme_name></row>
  </rows>
 </questions>
 <subquestions>
  <fields><fieldname>qid</fieldname><fieldname>parent_qid</fieldname><fieldname>sid</fieldname>
   <fieldname>gid</fieldname><fieldname>type</fieldname><fieldname>title</fieldname><fieldname>other</fieldname>
   <fieldname>question_order</fieldname><fieldname>scale_id</fieldname><fieldname>relevance</fieldname></fields>
  <rows>
   <row><qid>6</qid><parent_qid>4</parent_qid><sid>123456</sid><gid>2</gid><type>T</type><title>talks</title>
    <other>N</other><question_order>1</question_order><scale_id>0</scale_id><relevance>1</relevance></row>
   <row><qid>7</qid><parent_qid>4</parent_qid><sid>123456</sid><gid>2</gid><type>T</type>
    <title>exercises</title><other>N</other><question_order>2</question_order><scale_id>0</scale_id>
    <relevance>1</relevance></row>
  </rows>
 </subquestions>
 <question_l10ns>
  <fields><fieldname>id</fieldname><fieldname>qid</fieldname><fieldname>question</fieldname>
   <fieldname>help</fieldname><fieldname>language</fieldname></fields>
  <rows>
   <row><id>1</id><qid>1</qid><question>In which sector do you work?</question><help/><language>en</language></row>
   <row><id>2</id><qid>1</qid><question>آپ کس شعبے میں کام کرتے ہیں؟</question><help/><language>ur</language></row>
   <row><id>3</id><qid>2</qid><question>Please specify.</question><help/><language>en</language></row>
   <row><id>4</id><qid>2</qid><question>براہ کرم وضاحت کریں۔</question><help/><language>ur</language></row>
   <row><id>5</id><qid>3</qid><question>Years of experience</question><help/><language>en</language></row>
   <row><id>6</id><qid>3</qid><question>تجربے کے سال</question><help/><language>ur</language></row>
   <row><id>7</id><qid>4</qid><question>Which have you done?</question><help/><language>en</language></row>
   <row><id>8</id><qid>4</qid><question>آپ نے کیا کیا ہے؟</question><help/><language>ur</language></row>
   <row><id>9</id><qid>5</qid><question>When are the next talks?</question><help/><language>en</language></row>
   <row><id>10</id><qid>5</qid><question>اگلی بات چیت کب ہے؟</question><help/><language>ur</language></row>
   <row><id>11</id><qid>6</qid><question>Staff talks</question><help/><language>en</language></row>
   <row><id>12</id><qid>6</qid><question>اسٹاف مذاکرات</question><help/><language>ur</language></row>
   <row><id>13</id><qid>7</qid><question>Joint exercises</question><help/><language>en</language></row>
   <row><id>14</id><qid>7</qid><question>مشترکہ مشقیں</question><help/><language>ur</language></row>
  </rows>
 </question_l10ns>
 <question_attributes>
  <fields><fieldname>qid</fieldname><fieldname>attribute</fieldname><fieldname>value</fieldname>
   <fieldname>language</fieldname></fields>
  <rows>
   <row><qid>3</qid><attribute>num_value_int_only</attribute><value>1</value><language/></row>
   <row><qid>3</qid><attribute>min_num_value_n</attribute><value>0</value><language/></row>
   <row><qid>3</qid><attribute>max_num_value_n</attribute><value>60</value><language/></row>
  </rows>
 </question_attributes>
 <surveys>
  <fields><fieldname>sid</fieldname><fieldname>language</fieldname><fieldname>additional_languages</fieldname>
   <fieldname>format</fieldname><fieldname>anonymized</fieldname><fieldname>assessments</fieldname></fields>
  <rows>
   <row><sid>123456</sid><language>en</language><additional_languages>ur</additional_languages>
    <format>G</format><anonymized>Y</anonymized><assessments>N</assessments></row>
  </rows>
 </surveys>
 <surveys_languagesettings>
  <fields><fieldname>surveyls_survey_id</fieldname><fieldname>surveyls_language</fieldname>
   <fieldname>surveyls_title</fieldname></fields>
  <rows>
   <row><surveyls_survey_id>123456</surveyls_survey_id><surveyls_language>en</surveyls_language>
    <surveyls_title>Imported views</surveyls_title></row>
   <row><surveyls_survey_id>123456</surveyls_survey_id><surveyls_language>ur</surveyls_language>
    <surveyls_title>درآمد شدہ آراء</surveyls_title></row>
  </rows>
 </surveys_languagesettings>
</document>
"""
FILES = {
    "redcap": ("views_dictionary.csv", REDCAP),
    "xlsform": ("views_form.csv", XLSFORM),
    "limesurvey": ("views.lss", LIMESURVEY_VIEWS),
}
#: The questions every file holds, in order (the REDCap dictionary adds an e-mail address) ...
QUESTIONS = ("sector", "sector_other", "years", "activities", "next_talk")
#: ... and their item ids where a format cannot name them so.
RENAMED = {"limesurvey": {"sector_other": "sectorother", "next_talk": "nexttalk"}}


def upload(client: FlaskClient, content: bytes, name: str, button: str = "check", **fields: str) -> Any:
    token = csrf(client, "/studio/instruments/upload")
    return client.post(
        "/studio/instruments/upload",
        data={"file": (io.BytesIO(content), name), "csrf_token": token, button: "1", **fields},
        content_type="multipart/form-data",
    )


def test_a_redcap_dictionary_is_converted_shown_kept_as_a_draft_and_published(
    app: Flask, client: FlaskClient, people: People
) -> None:
    login(client, "researcher@example.org")
    form = client.get("/studio/instruments/upload").text
    assert 'name="instrument_id"' in form and 'name="version"' in form and ".lss" in form
    response = upload(client, REDCAP.encode(), "views_dictionary.csv", instrument_id="views", version="1.0.0")
    page = response.text
    assert response.status_code == 200, page[:3000]
    assert "views_dictionary.csv is converted and kept as the draft views@1.0.0" in page
    assert "REDCap data dictionary" in page
    # what was mapped, and what was not carried over, each with its row
    assert "radio &#39;sector&#39; -&gt; single_choice &#39;sector&#39;" in page
    assert "branching logic of &#39;sector_other&#39; translated to: sector == 3" in page
    assert "&#39;Identifier?&#39; of &#39;email&#39; -&gt; privacy: direct_identifier" in page
    assert "Not carried over (2)" in page
    assert "<code>views_dictionary.csv:5</code>: validation &#39;email&#39; of &#39;email&#39;" in page
    assert re.search(r"<code>views_dictionary.csv:6</code>: custom alignment", page)
    assert 'href="/studio/instruments/drafts/views/source"' in page
    assert 'href="/studio/instruments/drafts/views"' in page

    with app.app_context():
        assert db.session.scalar(select(InstrumentVersion)) is None
        draft = db.session.scalar(select(InstrumentDraft))
        assert draft is not None and (draft.ref, draft.filename) == ("views@1.0.0", "views-1.0.0.yaml")
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "instrument.draft"))
        assert event is not None
        details = json.loads(event.details_json)
        assert details["converted_from"] == "views_dictionary.csv"
        assert details["format"] == "REDCap data dictionary"

    # the YAML to download and edit, the draft's page with its origin and previews, then publishing
    source = client.get("/studio/instruments/drafts/views/source")
    assert source.headers["Content-Disposition"] == 'attachment; filename="views-1.0.0.yaml"'
    assert source.text.startswith(
        "# Imported in Elicit Studio from views_dictionary.csv (REDCap data dictionary)."
    )
    assert "privacy: direct_identifier" in source.text and "relevant: sector == 3" in source.text
    draft_page = client.get("/studio/instruments/drafts/views").text
    assert "Imported in Elicit Studio from views_dictionary.csv" in draft_page
    assert "/studio/instruments/drafts/views/preview/en?page=views" in draft_page
    assert 'name="instrument_id" type="hidden" value="views"' in draft_page
    preview = client.get("/studio/instruments/drafts/views/preview/en?page=views")
    assert preview.status_code == 200 and "When are the next talks?" in preview.text
    sha256 = re.search(r'name="sha256" type="hidden" value="([0-9a-f]+)"', draft_page)
    assert sha256 is not None
    published = post(
        client,
        "/studio/instruments/drafts/views/publish",
        {"sha256": sha256.group(1)},
        page="/studio/instruments/drafts/views",
    )
    assert published.status_code == 302
    assert published.headers["Location"] == "/studio/instruments/views/1.0.0"
    with app.app_context():
        version = db.session.scalar(select(InstrumentVersion))
        assert version is not None and version.ref == "views@1.0.0"
        assert [i.id for i in definition_of(version).items()] == [
            "sector",
            "sector_other",
            "years",
            "email",
            "activities",
            "next_talk",
        ]
        assert db.session.scalar(select(InstrumentDraft)) is None


def test_a_file_to_convert_needs_an_id_and_version_and_bad_files_store_nothing(
    app: Flask, client: FlaskClient, people: People
) -> None:
    login(client, "researcher@example.org")
    missing = upload(client, REDCAP.encode(), "dictionary.csv")
    assert missing.status_code == 422
    assert "Give the id the converted instrument gets" in missing.text
    assert "Give the version the converted instrument gets" in missing.text
    bad = upload(client, REDCAP.encode(), "dictionary.csv", instrument_id="My Views", version="1.0")
    assert bad.status_code == 422
    assert "An instrument id is lowercase letters, digits and -" in bad.text
    assert "A version is three whole numbers" in bad.text

    # every problem of the file, with its row; nothing kept
    broken = HEADER + (
        'q1,about,,radio,First?,"1, Yes | 2, No",,,,,,,,,,,,\n'
        "q2,about,,calc,Sum,[q1] + 1,,,,,,,,,,,,\n"
        "q3,about,,wibble,Third?,,,,,,,,,,,,,\n"
    )
    response = upload(client, broken.encode(), "broken.csv", instrument_id="broken", version="1.0.0")
    assert response.status_code == 422, response.text[:2000]
    assert "nothing was stored" in response.text
    assert re.search(r"<code>broken.csv:3</code>: [^<]*calc", response.text)
    assert re.search(r"<code>broken.csv:4</code>: [^<]*wibble", response.text)
    # a dictionary saved as Windows-1252 is refused with a sentence saying how to save it
    latin = (HEADER + "q1,about,,text,Café?,,,,,,,,,,,,,\n").encode("cp1252")
    response = upload(client, latin, "latin.csv", instrument_id="latin", version="1.0.0")
    assert response.status_code == 422 and "UTF-8" in response.text
    # a file of no known kind
    response = upload(client, b"<xml/>", "survey.txt", instrument_id="x", version="1.0.0")
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(InstrumentDraft)) is None
        assert db.session.scalar(select(InstrumentVersion)) is None

    # "Check and publish" of a file to convert keeps a draft first: what was lost is read before publishing
    response = upload(client, XLSFORM.encode(), "form.csv", "publish", instrument_id="views", version="2.0.0")
    assert response.status_code == 200
    assert "A converted file is kept as a draft first, not published" in response.text
    assert "Not carried over (0)" in response.text and "XLSForm" in response.text
    with app.app_context():
        assert db.session.scalar(select(InstrumentVersion)) is None
        assert db.session.scalar(select(InstrumentDraft.key)) == "views"


LIMESURVEY = (
    Path(__file__).parents[1]
    / "instruments"
    / "formats"
    / "fixtures"
    / "limesurvey"
    / "defence_views_ls6.lss"
)


def test_a_limesurvey_structure_file_is_converted_into_a_draft(
    app: Flask, client: FlaskClient, people: People
) -> None:
    login(client, "researcher@example.org")
    response = upload(
        client, LIMESURVEY.read_bytes(), LIMESURVEY.name, instrument_id="ls-views", version="1.0.0"
    )
    assert response.status_code == 200, response.text[:3000]
    assert f"{LIMESURVEY.name} (LimeSurvey)" in response.text and "Not carried over (" in response.text
    with app.app_context():
        draft = db.session.scalar(select(InstrumentDraft))
        assert draft is not None and draft.ref == "ls-views@1.0.0"


def _answers(definition: Any) -> dict[str, Any]:
    """An answer to every item of the imported instrument, by its type (the second choice of a single choice)."""
    values: dict[str, Any] = {}
    for item in definition.items():
        if item.type == "single_choice":
            values[item.id] = item.choices[1].code
        elif item.type == "multiple_choice":
            values[item.id] = [item.choices[0].code]
        elif item.type == "integer":
            values[item.id] = 12
        elif item.type == "date":
            values[item.id] = "2027-03-01"
        elif item.type == "text":
            values[item.id] = (
                "expert@example.org" if item.privacy.kind == "direct_identifier" else "Other work"
            )
    return values


def _follow(client: FlaskClient, response: Any) -> Any:
    while response.status_code in (302, 303):
        response = client.get(response.headers["Location"])
    return response


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_an_imported_questionnaire_is_answered_on_the_web_and_exported(
    app: Flask, client: FlaskClient, people: People, fmt: str
) -> None:
    name, content = FILES[fmt]
    login(client, "researcher@example.org")
    response = upload(client, content.encode(), name, instrument_id="views", version="1.0.0")
    assert response.status_code == 200, response.text[:2000]
    draft_page = client.get("/studio/instruments/drafts/views").text
    sha256 = re.search(r'name="sha256" type="hidden" value="([0-9a-f]+)"', draft_page)
    assert sha256 is not None
    page = "/studio/instruments/drafts/views"
    assert post(client, f"{page}/publish", {"sha256": sha256.group(1)}, page=page).status_code == 302

    study = {
        "version": "views@1.0.0",
        "slug": "imported-views",
        "title": "Imported views",
        "cohorts": ["UK", "PK"],
        "other_cohorts": "",
        "status": "open",
        "opens_on": "",
        "closes_on": "",
    }
    created = post(client, "/studio/studies/new", study, page="/studio/studies/new?version=views@1.0.0")
    assert created.status_code == 302, created.text[:2000]
    with app.app_context():
        version = db.session.scalar(select(InstrumentVersion))
        assert version is not None
        definition = definition_of(version)
        assert db.session.scalar(select(Study.slug)) == "imported-views"
    values = _answers(definition)

    # an expert answers through the web, page by page, with the fields the pages post
    expert = app.test_client()
    (token,) = issue(app, "imported-views", "UK", 1)
    landing = expert.get(f"/s/{token}")
    assert landing.status_code == 200
    shown = _follow(
        expert, expert.post(f"/s/{token}", data={"csrf_token": csrf_from(landing.text), "language": "en"})
    )
    for page_def in definition.pages:
        assert f"/p/{page_def.id}" in shown.request.path, shown.request.path
        data: dict[str, Any] = {"csrf_token": csrf_from(shown.text), "nav": "next"}
        for item in page_def.answerable_items():
            if item.relevant is None:
                data.update(form_fields(item, values[item.id]))
        shown = _follow(expert, expert.post(f"/s/{token}/p/{page_def.id}", data=data))
        assert shown.status_code == 200
    assert shown.request.path.endswith("/review"), shown.text[:2000]
    done = expert.post(f"/s/{token}/review", data={"csrf_token": csrf_from(shown.text), "nav": "submit"})
    assert _follow(expert, done).status_code == 200

    # the export holds the imported items' answers (and not the direct identifier)
    export = post(
        client,
        "/studio/studies/imported-views/export",
        {"format": "csv"},
        page="/studio/studies/imported-views",
    )
    assert export.status_code == 200 and export.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(export.data))
    (data_csv,) = [n for n in archive.namelist() if n.endswith("/data.csv")]
    assert any(n.endswith("/data.R") for n in archive.namelist())
    (row,) = list(csv.DictReader(io.StringIO(archive.read(data_csv).decode("utf-8"))))
    assert row["cohort"] == "UK" and row["instrument_version"] == "1.0.0"
    ids = {name: RENAMED.get(fmt, {}).get(name, name) for name in QUESTIONS}
    assert [i.id for i in definition.items() if i.id != "email"] == list(ids.values())
    sector = definition.item("sector")
    activities = definition.item("activities")
    assert row["sector"] == str(sector.choices[1].code)
    assert row[ids["sector_other"]] == ""  # not shown: the expert's sector was not "other"
    assert row["years"] == "12" and row[ids["next_talk"]] == "2027-03-01"
    assert row[f"activities.{activities.choices[0].key}"] == "1"
    assert row[f"activities.{activities.choices[1].key}"] == "0"
    assert ("email" in row) is False and "expert@example.org" not in archive.read(data_csv).decode("utf-8")


@pytest.mark.browser
@pytest.mark.rendering
def test_the_conversion_pages_read_well_and_pass_axe(
    app: Flask, live_server: str, page: Any, axe_source: str, tmp_path: Path
) -> None:
    make_user(app, "rita@example.org", "researcher")
    page.set_default_timeout(10_000)
    page.goto(f"{live_server}/studio/login")
    page.get_by_label("E-mail address").fill("rita@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER + "q1,about,,wibble,First?,,,,,,,,,,,,,\n", encoding="utf-8")
    dictionary = tmp_path / "views_dictionary.csv"
    dictionary.write_text(REDCAP, encoding="utf-8")
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/studio/instruments/upload")
        page.get_by_label("Instrument file (YAML)").set_input_files(str(broken))
        page.get_by_label("Instrument id").fill("broken")
        page.get_by_label("Version").fill("1.0.0")
        page.get_by_role("button", name="Check and preview").click()
        expect(
            page.get_by_role("heading", name="1 problem in broken.csv; nothing was stored")
        ).to_be_visible()
        assert axe_violations(page, axe_source) == []
        page.screenshot(path=str(ARTIFACTS / f"studio-import-problems-{width}.png"), full_page=True)
        page.get_by_label("Instrument file (YAML)").set_input_files(str(dictionary))
        page.get_by_label("Instrument id").fill("views")
        page.get_by_label("Version").fill("1.0.0")
        page.get_by_role("button", name="Check and preview").click()
        expect(page.get_by_role("heading", name="Not carried over (2)")).to_be_visible()
        assert axe_violations(page, axe_source) == []
        page.screenshot(path=str(ARTIFACTS / f"studio-import-converted-{width}.png"), full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
        page.get_by_role("link", name="Preview and publish the draft").click()
        expect(page.get_by_role("heading", name="Draft views@1.0.0")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"studio-import-draft-{width}.png"), full_page=True)
