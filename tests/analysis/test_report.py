"""The HTML report renders from the package's Jinja2 templates (issue 14): every section, escaped, nothing blank.

One synthetic export holds what turns every optional section on (two Delphi rounds, a seed question with its
realization, a confidence rating) and hostile text where a researcher's or a respondent's words reach the page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from elicit.analysis import analyze, build_results, load_export, render_report
from elicit.analysis.report import environment
from tests.analysis.conftest import build_codebook, build_data, write_export

HOSTILE = '<script>alert("x")</script>'
SECTIONS = [  # id, heading: in the order the report gives them
    ("summary", "Summary"),
    ("methods", "Methods and rules"),
    ("descriptives", "Descriptives"),
    ("reliability", "Reliability"),
    ("measurement", "Measurement across languages and cohorts"),
    ("agreement", "Agreement among experts"),
    ("within", "Comparisons within cohorts"),
    ("between", "Comparisons between cohorts"),
    ("allocations", "Allocations and rankings"),
    ("other", "Other items"),
    ("delphi", "Delphi rounds: consensus and stability"),
    ("confidence", "Confidence-weighted answers"),
    ("cooke", "Structured expert judgement: Cooke's classical model"),
    ("judgements", "Fitted distributions and opinion pools"),
    ("rounds", "Rounds compared"),
    ("provenance", "Provenance"),
]
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "wbr", "source"}


class Outline(HTMLParser):
    """The section ids with their h2 headings, the in-page links, the ids, the text outside the stylesheet, and any
    tag left open or closed out of turn."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.stack: list[str] = []
        self.problems: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "section":
            self.sections.append((str(attributes.get("id")), ""))
        if tag == "a" and str(attributes.get("href", "")).startswith("#"):
            self.links.append(str(attributes["href"])[1:])
        if tag == "h2" and self.stack and "section" in self.stack:
            self._heading = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            section_id, _ = self.sections[-1]
            self.sections[-1] = (section_id, "".join(self._heading).strip())
            self._heading = None
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack[-1:] != ["style"]:
            self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    codebook = build_codebook()
    codebook["study"]["title"] = f"Defence & diplomacy {HOSTILE}"
    codebook["cohorts"][0]["label"] = HOSTILE
    afford = next(i for i in codebook["items"] if i["id"] == "afford")
    afford["text"] = f"My state can afford it {HOSTILE}"
    afford["note_columns"] = ["afford.confidence"]
    codebook["variables"].append({"name": "afford.confidence", "item": "afford", "part": "confidence"})
    quantiles = next(i for i in codebook["items"] if i["type"] == "quantiles")
    quantiles["seed"] = True
    codebook["realizations"] = {quantiles["id"]: 15.0}

    first = build_data({"UK": 12, "PK": 12}, seed=3)
    rng = np.random.default_rng(4)
    first["afford.confidence"] = rng.integers(1, 6, len(first))
    second = first.copy()
    second["round"] = 2
    moved = rng.random(len(second)) < 0.33
    second.loc[moved, "afford"] = np.clip(second.loc[moved, "afford"] + 1, 1, 5)
    folder = write_export(
        tmp_path_factory.mktemp("report") / "export", pd.concat([first, second], ignore_index=True), codebook
    )

    analysis = analyze(load_export(folder))
    return render_report(analysis, build_results(analysis), introduction=f"Read me {HOSTILE}")


@pytest.fixture(scope="module")
def outline(report: str) -> Outline:
    parser = Outline()
    parser.feed(report)
    parser.close()
    return parser


def test_every_section_is_there_in_order_under_its_heading(outline: Outline) -> None:
    assert outline.sections == SECTIONS


def test_the_markup_is_balanced_and_the_contents_link_to_sections(report: str, outline: Outline) -> None:
    assert outline.problems == [] and outline.stack == []
    assert report.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert outline.links and set(outline.links) <= outline.ids
    assert "Who answered" in outline.text and "Reliability of the scales" in outline.text


def test_hostile_text_is_escaped_wherever_it_appears(report: str) -> None:
    assert "<script" not in report
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    # the title (twice), the header, the introduction, the cohort's label, the item text, the provenance
    assert report.count(escaped) >= 6
    assert f'<td class="text">{escaped}</td>' in report  # the cohort's label in "Who answered"


def test_nothing_shows_none_nan_or_undefined(outline: Outline) -> None:
    words = " ".join(outline.text)
    # Case matters: Python's None and pandas' nan are leaks; a Cooke setting may read "none" and is not one.
    found = re.search(r"\b(None|nan|NaN|NA|undefined|inf)\b", words)
    assert found is None, words[max(found.start() - 120, 0) : found.end() + 40]


def test_the_templates_are_package_data_loaded_by_plain_jinja2() -> None:
    env = environment()
    folder = resources.files("elicit.analysis") / "templates"
    template = env.get_template("report.html")
    assert template.filename is not None
    assert Path(template.filename) == Path(str(folder / "report.html"))
    assert env.autoescape is True
    # Every template in the folder is used, and loads (a broken include or import fails here, not in a report).
    used = re.findall(r'\{%-?\s*(?:include|from|import)\s+"([^"]+)"', _all_sources(folder))
    names = set(env.list_templates())
    assert set(used) | {"report.html"} == names
    for name in names:
        env.get_template(name)


def _all_sources(folder: Any) -> str:
    return "\n".join(
        path.read_text(encoding="utf-8") for path in Path(str(folder)).rglob("*") if path.is_file()
    )
