"""The export's ``data.R`` run by R itself (Debian's r-base-core, no R package): column classes, factor levels and
labels, ordered factors, variable labels and NAs as the codebook and data.csv say, in an anonymous and a
pseudonymous (Urdu-first) export; R strings that survive quotes, backslashes, newlines and any Unicode; and no
respondent value in the script.

R prints what it read as ASCII lines of code points (``utf8ToInt``), so nothing depends on R's locale.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from elicit.db import db
from elicit.exporting import build_export
from elicit.exporting.rscript import r_literal, r_string, write_r_loader
from elicit.responding.values import DONT_KNOW
from elicit.studies import create_study
from tests.exporting.helpers import (
    BASE_ANSWERS,
    ROOT,
    SLUG,
    answer,
    flagship_variant,
    new_invitation,
    publish_text,
    run,
)

RSCRIPT = "/usr/bin/Rscript"
LATEST = ROOT / "instruments" / "defence-diplomacy" / "1.1.0.yaml"

# Prints, for every column of elicit_data: name, class, typeof, label, levels, names and values of the "labels"
# attribute, note, and every value; each text as code points joined by ".", texts by " ", NA as "NA".
SUMMARY = r"""
u <- function(s) {
  if (is.null(s) || length(s) == 0L) return("-")
  paste(vapply(as.character(s), function(x) if (is.na(x)) "NA" else paste(utf8ToInt(enc2utf8(x)), collapse = "."),
               ""), collapse = " ")
}
for (name in names(elicit_data)) {
  x <- elicit_data[[name]]
  labels <- attr(x, "labels")
  values <- if (inherits(x, "Date")) format(x) else if (is.double(x)) sprintf("%.17g", x) else as.character(x)
  values[is.na(x)] <- NA
  cat(paste(c(u(name), paste(class(x), collapse = ","), typeof(x), u(attr(x, "label")), u(levels(x)),
              u(names(labels)), u(labels), u(attr(x, "note")), u(values)), collapse = "\t"), "\n", sep = "")
}
cat("codebook", u(elicit_codebook$study$slug), u(names(elicit_codebook$variables)), "\n", sep = "\t")
"""


def rscript(*args: str, cwd: Path, locale: str = "C.UTF-8") -> subprocess.CompletedProcess[str]:
    """Run Rscript; fail (never skip) when R is not installed."""
    if not os.access(RSCRIPT, os.X_OK) and shutil.which("Rscript") is None:
        pytest.fail(
            "Rscript is missing: install Debian's r-base-core (apt-get install r-base-core; `make browser` does), "
            "the data.R tests need R itself",
            pytrace=False,
        )
    command = RSCRIPT if os.access(RSCRIPT, os.X_OK) else str(shutil.which("Rscript"))
    env = {**os.environ, "LC_ALL": locale, "LANG": locale}
    return subprocess.run(  # noqa: S603 - a fixed program and the test's own arguments
        [command, "--vanilla", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def _texts(field: str) -> list[str | None] | None:
    if field == "-":
        return None
    if field == "":
        return []
    return [None if t == "NA" else "".join(chr(int(c)) for c in t.split(".") if c) for t in field.split(" ")]


def read_in_r(folder: Path, cwd: Path, locale: str = "C.UTF-8") -> dict[str, dict[str, Any]]:
    """What ``source(folder/data.R)`` leaves, column by column, as R itself reports it."""
    script = f"source({r_string(str(folder / 'data.R'))})\n{SUMMARY}"
    result = rscript("-e", script, cwd=cwd, locale=locale)
    assert result.returncode == 0, result.stderr
    columns: dict[str, dict[str, Any]] = {}
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "codebook":
            continue
        name, cls, kind, label, levels, label_names, label_codes, note, values = fields
        (text,) = _texts(name) or [""]
        (label_text,) = _texts(label) or [None]
        columns[str(text)] = {
            "class": cls,
            "typeof": kind,
            "label": label_text,
            "levels": _texts(levels),
            "labels": None
            if label_names == "-"
            else dict(zip(_texts(label_names) or [], _texts(label_codes) or [], strict=True)),
            "note": (_texts(note) or [None])[0],
            "values": _texts(values) or [],
        }
    return columns


def expected_class(variable: dict[str, Any]) -> str:
    if variable["value_labels"] and (variable["item"] is None or variable["part"] is None):
        return "ordered,factor" if variable["measure"] == "ordinal" else "factor"
    return {"int": "integer", "float": "numeric", "date": "Date", "string": "character"}[variable["dtype"]]


def check_against_codebook(folder: Path, columns: dict[str, dict[str, Any]]) -> None:
    """Every column as data.csv and codebook.json describe it: class, label, levels, codes, every value."""
    codebook = json.loads((folder / "codebook.json").read_text(encoding="utf-8"))
    data = pd.read_csv(folder / "data.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    variables = {v["name"]: v for v in codebook["variables"]}
    assert list(columns) == list(variables) == list(data.columns)
    problems = []
    for name, variable in variables.items():
        got = columns[name]
        cls = expected_class(variable)
        if got["class"] != cls or got["label"] != variable["label"]:
            problems.append(f"{name}: {got['class']} {got['label']!r}, expected {cls} {variable['label']!r}")
            continue
        labels = variable["value_labels"] or {}
        cells = list(data[name])
        if labels:
            assert got["labels"] is not None, name
            named = {v: k for k, v in got["labels"].items()}  # code -> label, as R holds them
            assert {k: named[k] for k in labels} == labels, name
        if cls.endswith("factor"):
            used = {cell for cell in cells if cell}
            levels = [label for code, label in labels.items()]
            extra = sorted(used - set(labels))  # a binned number outside its bins: <min, >max
            assert got["levels"] == levels or extra, (name, got["levels"], levels)
            expected = [labels.get(cell, cell) if cell else None for cell in cells]
        elif cls == "integer":
            expected = [cell or None for cell in cells]
        elif cls == "numeric":
            values = [None if v is None else float(v) for v in got["values"]]
            wanted = [float(cell) if cell else None for cell in cells]
            if any(
                (a is None) != (b is None) or (a is not None and b is not None and not math.isclose(a, b))
                for a, b in zip(values, wanted, strict=True)
            ):
                problems.append(f"{name}: values {values} != {wanted}")
            continue
        else:
            expected = [cell or None for cell in cells]
        if got["values"] != expected:
            problems.append(f"{name}: values {got['values']} != {expected}")
    assert problems == []


def unescaped(script: str) -> str:
    """data.R with its R escapes decoded, so a search sees every string as R does."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        return (
            chr(int(code, 16))
            if code
            else {"n": "\n", "r": "\r", "t": "\t"}.get(match.group(3), match.group(3))
        )

    return re.sub(r'\\(?:u\{([0-9a-f]+)\}|U\{([0-9a-f]+)\}|([nrt"\\]))', one, script)


def assert_no_respondent_value(folder: Path) -> None:
    """No free-text answer, pseudonym or submission date of data.csv is in data.R, escaped or not."""
    raw = (folder / "data.R").read_text(encoding="ascii")
    script = unescaped(raw)
    codebook = json.loads((folder / "codebook.json").read_text(encoding="utf-8"))
    data = pd.read_csv(folder / "data.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    personal = ["respondent", "submitted_on"] + [
        v["name"] for v in codebook["variables"] if v["privacy"] == "free_text" or v["type"] == "text"
    ]
    needles = {cell.lstrip("'") for name in personal for cell in data[name] if len(cell) > 3}
    assert needles, "the test needs respondent values to look for"
    found = sorted(n for n in needles if n in script or n in raw)
    assert found == [], f"data.R holds respondent values: {found}"


def test_anonymous_export_reads_in_r_as_the_codebook_and_the_sav_labels_say(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    code, _, err = run(runner, "demo", "--responses", "6", "--links", "0", "--instrument", str(LATEST))
    assert code == 0, err
    folder = tmp_path / "export"
    code, _, err = run(runner, "export", SLUG, "--format", "sav", "--out", str(folder))
    assert code == 0, err
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    script = (folder / "data.R").read_bytes()
    assert manifest["files"]["data.R"]["bytes"] == len(script)
    assert script.isascii()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    columns = read_in_r(
        folder, cwd=elsewhere, locale="C"
    )  # an ASCII locale: the Unicode survives all the same
    check_against_codebook(folder, columns)
    assert columns["tac_1"]["class"] == "ordered,factor" and columns["state"]["class"] == "factor"
    assert columns["tac_1"]["levels"] == [
        "Strongly disagree",
        "Disagree",
        "Neither agree nor disagree",
        "Agree",
        "Strongly agree",
    ]
    assert columns["tac_1"]["labels"] == {
        "Strongly disagree": "1",
        "Disagree": "2",
        "Neither agree nor disagree": "3",
        "Agree": "4",
        "Strongly agree": "5",
    }
    assert columns["years"]["class"] == "ordered,factor" and columns["years"]["levels"] == [
        "0-4",
        "5-9",
        "10-19",
        "20-29",
        "30-60",
    ]
    assert (
        columns["round"]["typeof"] == "integer" and columns["rank_leverage.tactical"]["typeof"] == "integer"
    )
    assert columns["activities.none"]["class"] == "integer"  # a 0/1 flag stays a number, with its labels
    assert columns["activities.none"]["labels"] == {"not selected": "0", "selected": "1"}
    assert columns["alloc.tactical"]["class"] == "numeric" and columns["submitted_on"]["class"] == "Date"
    assert columns["next_dialogue"]["class"] == "Date" and columns["rationale"]["class"] == "character"

    # The same labels as the SPSS file, where SPSS's limits did not shorten them.
    _, meta = pyreadstat.read_sav(folder / "data.sav")
    codebook = json.loads((folder / "codebook.json").read_text(encoding="utf-8"))
    for variable in codebook["variables"]:
        sav = variable["names"]["sav"]
        if len(variable["label"].encode("utf-8")) <= 256:
            assert meta.column_names_to_labels[sav] == columns[variable["name"]]["label"], variable["name"]
        for code, label in (variable["value_labels"] or {}).items():
            spss = {str(k): v for k, v in meta.variable_value_labels[sav].items()}
            spss = {k[:-2] if k.endswith(".0") else k: v for k, v in spss.items()}
            if len(label.encode("utf-8")) <= 120:
                assert spss[code] == label, (variable["name"], code)

    assert_no_respondent_value(folder)


URDU_FIRST = {
    "id: defence-diplomacy": "id: r-urdu-check",
    "anonymity: anonymous": "anonymity: pseudonymous",
    "languages: [en, ur]": "languages: [ur, en]",
    # A label with quotes, a backslash, a line break and a character outside the Basic Multilingual Plane.
    'ur: "آپ پیشہ ورانہ طور پر کس ملک سے وابستہ ہیں؟"': 'ur: "آپ \\"پیشہ\\" ورانہ \\\\ طور\\nپر کس ملک 🌍 سے وابستہ ہیں؟"',
    "      - id: afford\n        type: likert\n": "      - id: afford\n        type: likert\n        dont_know: true\n",
}
STATE_UR = 'آپ "پیشہ" ورانہ \\ طور\nپر کس ملک 🌍 سے وابستہ ہیں؟'
WRITTEN = [
    'میں نے کہا "ہاں" \\ پھر\nدوسری سطر 😀',
    "=1+1 is 'not' a formula here",
    "Plain English, with a comma, and a tab\there.",
]


def test_pseudonymous_urdu_export_keeps_unicode_and_dont_know_in_r(app: Flask, tmp_path: Path) -> None:
    with app.app_context(), db.transaction() as session:
        version = publish_text(session, flagship_variant(**URDU_FIRST))
        study = create_study(session, "r-urdu", version, [("UK", "United Kingdom"), ("PK", "پاکستان")])
        for number, (afford, text) in enumerate(zip((DONT_KNOW, 2, None), WRITTEN, strict=True)):
            values = {**BASE_ANSWERS, "afford": afford, "rationale": text, "state": "PK" if number else "UK"}
            answer(session, new_invitation(session, study, values["state"]), values, language="ur")
    folder = tmp_path / "export"
    with app.app_context(), db.transaction() as session:
        build_export(session, study, "csv", folder, actor="cli")

    columns = read_in_r(folder, cwd=tmp_path)
    check_against_codebook(folder, columns)
    assert columns["state"]["label"] == STATE_UR
    assert columns["state"]["levels"] == ["برطانیہ", "پاکستان"]
    assert columns["cohort"]["levels"] == ["United Kingdom", "پاکستان"]
    assert columns["tac_1"]["levels"][0] == "مکمل اختلاف" and columns["tac_1"]["class"] == "ordered,factor"
    assert all(r is not None and r.startswith("P") for r in columns["respondent"]["values"])
    # Text answers come through data.csv as written (the formula guard's quote aside).
    assert columns["rationale"]["values"] == [WRITTEN[0], "'" + WRITTEN[1], WRITTEN[2]] or sorted(
        columns["rationale"]["values"]
    ) == sorted([WRITTEN[0], "'" + WRITTEN[1], WRITTEN[2]])
    # "Don't know": NA in the value column, 1 in item.dont_know, and both columns say so.
    by_text = dict(zip(columns["rationale"]["values"], range(3), strict=True))
    row = by_text[WRITTEN[0]]
    assert columns["afford"]["values"][row] is None and columns["afford.dont_know"]["values"][row] == "1"
    other = by_text["'" + WRITTEN[1]]
    assert (
        columns["afford"]["values"][other] == "اختلاف" and columns["afford.dont_know"]["values"][other] == "0"
    )
    skipped = by_text[WRITTEN[2]]
    assert (
        columns["afford"]["values"][skipped] is None
        and columns["afford.dont_know"]["values"][skipped] is None
    )
    assert "afford.dont_know" in (columns["afford"]["note"] or "")
    assert columns["afford.dont_know"]["class"] == "integer"
    assert (columns["afford.dont_know"]["note"] or "").startswith('1 = the expert answered "don\'t know"')

    assert_no_respondent_value(folder)
    script = (folder / "data.R").read_text(encoding="ascii")
    assert not any(text in unescaped(script) for text in WRITTEN)


NASTY = [
    'quote " and \\ backslash',
    "new\nline, cr\r, tab\t, bell\a, del\x7f",
    "اردو متن ۱۲۳",
    "emoji 😀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "right-to-left mark \u200f and line separator \u2028",
    "${x} `y` %s \\u0041 '",
    "nul\x00here",
    "",
]


def test_r_strings_survive_any_text(tmp_path: Path) -> None:
    values = {
        "texts": NASTY,
        "mixed": [1, 2.5, True, None, "x"],
        "": "an empty name",
        "numbers": [1, 2**40, float("nan"), float("inf")],
        "when": date(2026, 5, 31),
    }
    script = f"x <- {r_literal(values)}\n" + (
        'for (s in x$texts) cat(paste(utf8ToInt(enc2utf8(s)), collapse = "."), "\\n", sep = "")\n'
        'cat(class(x$mixed), length(x$mixed), is.null(x$mixed[[4]]), x[[3]], x$when, "\\n")\n'
        'cat(sprintf("%.0f", x$numbers[2]), is.na(x$numbers[3]), x$numbers[4], typeof(x$numbers), "\\n")\n'
    )
    assert script.isascii()
    (tmp_path / "t.R").write_text(script, encoding="ascii")
    result = rscript(str(tmp_path / "t.R"), cwd=tmp_path, locale="C")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    decoded = ["".join(chr(int(c)) for c in line.split(".") if c) for line in lines[: len(NASTY)]]
    assert decoded == [text.replace("\x00", "\ufffd") for text in NASTY]
    assert lines[len(NASTY)] == "list 5 TRUE an empty name 2026-05-31 "
    assert lines[len(NASTY) + 1] == f"{2**40} TRUE Inf double "


# A codebook document and a data.csv written by hand: the loader's own behaviour, without a database.
TINY = {
    "study": {"slug": "tiny", "title": "Tiny"},
    "instrument": {"id": "tiny"},
    "language": "en",
    "items": [
        {
            "id": "agree",
            "type": "likert",
            "choices": [{"code": 1, "label": "No"}, {"code": 2, "label": "Yes"}],
        }
    ],
    "variables": [
        {
            "name": "respondent",
            "item": None,
            "part": None,
            "type": "meta",
            "dtype": "string",
            "measure": "nominal",
            "label": "Respondent",
            "value_labels": None,
        },
        {
            "name": "submitted_on",
            "item": None,
            "part": None,
            "type": "meta",
            "dtype": "date",
            "measure": "scale",
            "label": "Date submitted",
            "value_labels": None,
        },
        {
            "name": "agree",
            "item": "agree",
            "part": None,
            "type": "likert",
            "dtype": "int",
            "measure": "ordinal",
            "label": "Agree?",
            "value_labels": {"1": "No", "2": "Yes"},
        },
        {
            "name": "count",
            "item": "count",
            "part": None,
            "type": "integer",
            "dtype": "int",
            "measure": "scale",
            "label": "How many?",
            "value_labels": None,
        },
    ],
}
TINY_CSV = "respondent,submitted_on,agree,count\nR0001,2026-05-01,2,7\nR0002,2026-05-02,,\n"


def test_the_loader_finds_its_data_csv_and_refuses_data_it_was_not_written_for(tmp_path: Path) -> None:
    folder, elsewhere = tmp_path / "export", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    write_r_loader(folder / "data.R", TINY)
    (folder / "data.csv").write_text(TINY_CSV, encoding="utf-8")
    # Rscript data.R from another folder finds data.csv beside the script; without one it says so and exits 1.
    result = rscript(str(folder / "data.R"), cwd=elsewhere)
    assert result.returncode == 0 and result.stdout.startswith("elicit_data: 2 rows, 4 columns"), (
        result.stderr
    )
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(folder / "data.R", alone / "data.R")
    result = rscript(str(alone / "data.R"), cwd=elsewhere)
    assert result.returncode == 1 and "data.csv is not beside data.R" in result.stderr, result.stderr

    # source() by path, from the folder, with chdir, or with elicit_csv naming a data.csv kept elsewhere; and
    # data.csv files it was not written for, each refused with the row and column at fault (one R session).
    scenarios: list[tuple[Path, str, str]] = [
        (elsewhere, f"source({r_string(str(folder / 'data.R'))})", "2 ordered factor No Yes Agree?"),
        (folder, 'source("data.R")', "2 ordered factor No Yes Agree?"),
        (
            elsewhere,
            f"source({r_string(str(folder / 'data.R'))}, chdir = TRUE)",
            "2 ordered factor No Yes Agree?",
        ),
        (
            elsewhere,
            f"elicit_csv <- {r_string(str(folder / 'data.csv'))}; source({r_string(str(alone / 'data.R'))})",
            "2 ordered factor No Yes Agree?",
        ),
    ]
    for number, (csv, message) in enumerate(
        (
            (
                TINY_CSV.replace(",2,7", ",3,7"),
                'row 2, column agree: "3" is not one of the codes the codebook lists',
            ),
            (TINY_CSV.replace(",2,7", ",2,seven"), 'row 2, column count: "seven" is not a number'),
            (
                TINY_CSV.replace("2026-05-02", "02/05/2026"),
                'row 3, column submitted_on: "02/05/2026" is not a date',
            ),
            (TINY_CSV.replace(",count", ",total"), "does not have the columns this script was written for"),
        )
    ):
        bad = tmp_path / f"bad{number}"
        bad.mkdir()
        shutil.copy(folder / "data.R", bad / "data.R")
        (bad / "data.csv").write_text(csv, encoding="utf-8")
        scenarios.append((elsewhere, f"source({r_string(str(bad / 'data.R'))})", message))
    script = "".join(
        f"setwd({r_string(str(cwd))}); rm(list = ls(all.names = FALSE)[ls() != 'show'])\n"
        f"cat(tryCatch({{{call}; show()}}, error = function(e) conditionMessage(e)), '\\n', sep = '')\n"
        for cwd, call, _ in scenarios
    )
    show = "show <- function() paste(nrow(elicit_data), paste(class(elicit_data$agree), collapse = ' '), "
    show += "paste(levels(elicit_data$agree), collapse = ' '), attr(elicit_data$agree, 'label'))\n"
    (tmp_path / "scenarios.R").write_text(show + script, encoding="ascii")
    result = rscript(str(tmp_path / "scenarios.R"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(scenarios)
    for line, (_, call, expected) in zip(lines, scenarios, strict=True):
        assert expected in line, (call, line)
