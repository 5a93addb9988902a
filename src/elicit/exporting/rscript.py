"""``data.R``: a base-R script that reads the export's ``data.csv`` with the codebook's column types, factor levels,
value labels and variable labels (docs/export.md, "Reading the export in R").

A script rather than ``data.rds``: pyreadr (0.5.8), the maintained Python writer of R data files, writes string
categoricals as plain factors but no ordered factors and no variable labels, and whole numbers and dates as
doubles and text. The script is written from the codebook document alone (the one ``codebook.json`` holds, built
from the same export plan as the SPSS and Stata labels), so it holds no answer and nothing a respondent wrote.
Every string in it is ASCII: other characters are written as ``\\u{...}`` escapes, so the script reads the same
in any R locale and encoding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from elicit.csvsafe import csv_safe
from elicit.exporting.anonymize import bound_text

R_LOADER = "data.R"
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_INT_MAX = 2**31 - 1


def r_string(text: str) -> str:
    """``text`` as an R string literal of ASCII characters only (R has no NUL or lone surrogate: they become U+FFFD)."""
    out = ['"']
    for char in text:
        point = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= point < 0x7F:
            out.append(char)
        else:
            if point == 0 or 0xD800 <= point <= 0xDFFF:
                point = 0xFFFD
            out.append(f"\\u{{{point:04x}}}" if point <= 0xFFFF else f"\\U{{{point:08x}}}")
    out.append('"')
    return "".join(out)


def _scalar(value: Any) -> str | None:
    """An R literal of a JSON scalar, or None if ``value`` is not one."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"{value}L" if -_INT_MAX <= value <= _INT_MAX else repr(float(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "NA_real_"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        return repr(value)
    if isinstance(value, str):
        return r_string(value)
    if isinstance(value, date):
        return r_string(value.isoformat())
    return None


def _vector(values: Sequence[Any]) -> str | None:
    """An atomic R vector of a non-empty list of scalars of one kind (numbers may mix), or None."""
    if not values or any(v is None or isinstance(v, list | dict) for v in values):
        return None
    kinds = {
        "logical"
        if isinstance(v, bool)
        else "number"
        if isinstance(v, int | float)
        else "string"
        if isinstance(v, str | date)
        else "other"
        for v in values
    }
    if len(kinds) != 1 or "other" in kinds:
        return None
    if kinds == {"number"} and not all(isinstance(v, int) for v in values):
        values = [float(v) for v in values]  # one double vector: 1 and 2.5, not 1L and 2.5
    return "c(" + ", ".join(str(_scalar(v)) for v in values) + ")"


class RNamed(dict[str, str]):
    """Labels by code that ``r_literal`` writes as a named character vector, ``c("1" = "Strongly disagree")``."""


def r_literal(value: Any, indent: int = 0) -> str:
    """A JSON-like value as R: objects as named lists, lists of scalars as vectors, other lists as lists."""
    if isinstance(value, RNamed):
        return _named(value)
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    pad = "  " * (indent + 1)
    end = "\n" + "  " * indent + ")"
    if isinstance(value, Mapping):
        if not value:
            return "list()"
        keys = [str(k) for k in value]
        if "" in keys:  # list("" = ...) is not R; structure() can name anything
            inner = ",\n".join(pad + r_literal(v, indent + 1) for v in value.values())
            names = "c(" + ", ".join(r_string(k) for k in keys) + ")"
            return f"structure(list(\n{inner}{end}, names = {names})"
        inner = ",\n".join(
            f"{pad}{r_string(k)} = {r_literal(v, indent + 1)}"
            for k, v in zip(keys, value.values(), strict=True)
        )
        return f"list(\n{inner}{end}"
    if isinstance(value, list | tuple):
        vector = _vector(list(value))
        if vector is not None:
            return vector
        if not value:
            return "list()"
        inner = ",\n".join(pad + r_literal(v, indent + 1) for v in value)
        return f"list(\n{inner}{end}"
    raise TypeError(f"cannot write {type(value).__name__} to R")


def _named(labels: Mapping[str, str]) -> str:
    """Value labels as a named character vector, ``c("1" = "Strongly disagree", ...)``."""
    if not labels:
        return "character(0)"
    return "c(" + ", ".join(f"{r_string(k)} = {r_string(v)}" for k, v in labels.items()) + ")"


def _code(key: str, dtype: str) -> Any:
    """A value label's code as the column holds it (codebook keys are text)."""
    if dtype == "int":
        return int(key)
    if dtype == "float":
        return float(key)
    return key


def _unique(labels: list[str], codes: list[Any]) -> list[str]:
    """Labels made unique for factor levels: a label two codes share gets the code after it."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return [
        label if counts[label] == 1 else f"{label} [{code}]"
        for label, code in zip(labels, codes, strict=True)
    ]


def _column_call(variable: Mapping[str, Any], item: Mapping[str, Any] | None) -> str:
    """The line of the script that types one column of ``data.csv``."""
    name, dtype = variable["name"], variable["dtype"]
    args = [r_string(name), r_string(dtype), r_string(variable["label"])]
    labels = variable.get("value_labels") or {}
    # A column with value labels for every code (a choice item's own column, the cohort) is a factor; 0/1 flags
    # (a multiple choice's columns, "don't know") and a confidence rating's anchors keep their numbers.
    factor = bool(labels) and (variable["item"] is None or variable["part"] is None)
    if labels:
        codes = [_code(k, dtype) for k in labels]
        texts = list(labels.values())
        rule = (item or {}).get("privacy_rule") or {}
        if factor and "bins" in rule:  # values outside the bins are written as <first and >last
            bins = rule["bins"]
            below, above = f"<{bound_text(bins[0])}", f">{bound_text(bins[-1])}"
            codes, texts = [below, *codes, above], [below, *texts, above]
            args.append(f"optional = {r_literal([below, above])}")
        args.append(f"codes = {r_literal(codes)}")
        args.append(f"labels = {r_literal(_unique(texts, codes) if factor else texts)}")
        if dtype == "string":
            written = [csv_safe(code) for code in codes]
            if written != codes:
                args.append(f"written = {r_literal(written)}")
        if factor:
            args.append("factor = TRUE")
            if variable.get("measure") == "ordinal":
                args.append("ordered = TRUE")
    note = _note(variable, item)
    if note:
        args.append(f"note = {r_string(note)}")
    return "  d <- elicit_column(d, " + ", ".join(args) + ")"


def _note(variable: Mapping[str, Any], item: Mapping[str, Any] | None) -> str:
    """What a missing value of the column means beyond "not answered" (a "don't know", the formula guard)."""
    if variable.get("type") == "dont_know":
        return (
            "1 = the expert answered \"don't know\" (the item's value columns are NA then); "
            "NA = the item was not asked (not shown, or not in the version the row answered)"
        )
    notes = []
    if item is not None and item.get("dont_know") and variable["part"] != "dont_know":
        notes.append(f'NA also when the expert answered "don\'t know": see column {item["id"]}.dont_know (1)')
    if variable["dtype"] == "string" and variable["item"] is not None and not variable.get("value_labels"):
        notes.append(
            "text starting with = + - @ has a ' put before it (the spreadsheet formula guard of data.csv)"
        )
    return "; ".join(notes)


_HEADER = """\
# data.R - reads data.csv of this Elicit export into R with the codebook's types, factor levels and labels.
# Study: {slug}; instrument {instrument}; labels in language "{language}". Base R only: no package is needed.
#
#   source("path/to/export/data.R")          # finds data.csv beside the script (or in the working directory)
#   source("path/to/export/data.R", chdir = TRUE)
#   Rscript path/to/export/data.R            # reads the data and prints a summary
#   elicit_csv <- "elsewhere/data.csv"; source("data.R")   # a data.csv kept somewhere else
#
# It leaves two objects and a function in the environment source() evaluates in (the global one by default):
#   elicit_data      a data frame, one row per submitted response (as data.csv): whole numbers are integer,
#                    other numbers double, dates Date, text character; a choice item's column (and the cohort) is
#                    a factor whose levels are the choice labels in the codebook's order, an ordered factor when
#                    the item is ordinal (likert, binned numbers); attr(x, "label") is the column's label and
#                    attr(x, "labels") the codes behind the labels (as haven and labelled have them).
#   elicit_codebook  codebook.json as an R list; its variables and items are named by column and item id.
#   elicit_relabel   elicit_relabel(d) puts the labels back on the columns of d after subsetting, which drops them.
# Missing is NA: not answered, not shown, or not in the version the row answered. A "don't know" answer is NA in
# the item's columns and 1 in the column item.dont_know. The script holds no data: it is written from the
# codebook alone, and it checks that data.csv has the columns and codes it was written for.
"""

_FUNCTIONS = r"""
  find_csv <- function() {
    if (exists("elicit_csv", inherits = TRUE)) return(get("elicit_csv", inherits = TRUE))
    here <- character(0)
    for (n in rev(seq_len(sys.nframe()))) {  # source() keeps the script's path in its frame as `ofile`
      f <- sys.frame(n)$ofile
      if (is.character(f) && length(f) == 1L) {
        here <- dirname(f)
        break
      }
    }
    arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)  # Rscript data.R
    if (length(arg)) here <- c(here, dirname(sub("^--file=", "", arg[1L])))
    places <- file.path(c(here, getwd()), "data.csv")
    found <- places[file.exists(places)]
    if (!length(found)) {
      stop("data.R: data.csv is not beside data.R nor in the working directory (", getwd(), "); ",
           "source() the script by its path, or set elicit_csv <- \"path/to/data.csv\" first", call. = FALSE)
    }
    found[1L]
  }

  elicit_column <- function(d, name, dtype, label, codes = NULL, labels = NULL, written = codes,
                            factor = FALSE, ordered = FALSE, optional = NULL, note = NULL) {
    v <- d[[name]]
    given <- !is.na(v)
    check <- function(ok, what) {
      bad <- which(given & !ok)
      if (length(bad)) {
        stop(sprintf("data.R: data.csv row %d, column %s: %s is not %s", bad[1L] + 1L, name,
                     encodeString(v[bad[1L]], quote = '"'), what), call. = FALSE)
      }
    }
    if (dtype %in% c("int", "float")) {
      num <- suppressWarnings(as.numeric(v))
      check(!is.na(num), "a number")
      if (dtype == "int" && all(is.na(num) | (abs(num) <= .Machine$integer.max & num == round(num)))) {
        num <- as.integer(num)
      }
      x <- num
    } else if (dtype == "date") {
      x <- as.Date(v, format = "%Y-%m-%d")
      check(!is.na(x), "a date (YYYY-MM-DD)")
    } else {
      x <- v
    }
    if (factor) {
      index <- match(if (is.character(x)) x else as.numeric(x), if (is.character(x)) written else as.numeric(codes))
      check(!is.na(index), "one of the codes the codebook lists")
      x <- labels[index]  # a level no row has is left out only if it is optional (a binned number's <min, >max)
      x <- factor(x, levels = setdiff(labels, setdiff(optional, x)), ordered = ordered)
    }
    if (!is.null(codes)) attr(x, "labels") <- stats::setNames(codes, labels)
    attr(x, "label") <- label
    if (!is.null(note)) attr(x, "note") <- note
    d[[name]] <- x
    d
  }

  path <- find_csv()
  d <- utils::read.csv(path, colClasses = "character", na.strings = "", check.names = FALSE,
                       stringsAsFactors = FALSE, encoding = "UTF-8", quote = "\"", comment.char = "")
  if (!identical(names(d), columns)) {
    stop("data.R: ", path, " does not have the columns this script was written for; ",
         "use the data.R of the same export", call. = FALSE)
  }
"""

_FOOTER = r"""  attr(d, "label") <- title
  d
})

elicit_relabel <- function(d) {
  for (name in intersect(names(d), names(elicit_codebook$variables))) {
    variable <- elicit_codebook$variables[[name]]
    attr(d[[name]], "label") <- variable$label
  }
  d
}
"""

_SUMMARY = r"""if (sys.nframe() == 0L && !interactive()) {  # run as Rscript data.R
  cat(sprintf("elicit_data: %d rows, %d columns\n", nrow(elicit_data), ncol(elicit_data)))
  utils::str(elicit_data, give.attr = FALSE, vec.len = 2)
}
"""


def r_loader(document: Mapping[str, Any]) -> str:
    """The text of ``data.R`` for a codebook document (``codebook.json``'s content): ASCII, ending in a newline."""
    items = {item["id"]: item for item in document["items"]}
    variables = document["variables"]
    codebook = {
        **document,
        "items": items,
        "variables": {
            v["name"]: {**v, "value_labels": RNamed(v["value_labels"]) if v.get("value_labels") else None}
            for v in variables
        },
    }
    parts = [
        _HEADER.format(
            slug=_ascii(document["study"]["slug"]),
            instrument=_ascii(document["instrument"]["id"]),
            language=_ascii(document.get("language", "")),
        ),
        "elicit_data <- local({",
        f"  columns <- {r_literal([v['name'] for v in variables])}",
        f"  title <- {r_string(document['study']['title'])}",
        _FUNCTIONS,
        *(_column_call(variable, items.get(variable["item"])) for variable in variables),
        _FOOTER,
        _codebook_statements(codebook),
        _SUMMARY,
    ]
    return "\n".join(parts)


def _codebook_statements(codebook: Mapping[str, Any]) -> str:
    """``elicit_codebook`` built by one short statement per key, item and variable.

    Short statements keep ``Rscript data.R`` fast: R reading a file as a script re-parses the statement it is in
    at every line, so one statement of thousands of lines would take seconds.
    """
    lines = [
        "# codebook.json as an R list (items and variables named by id and column)",
        "elicit_codebook <- list()",
    ]
    for key, value in codebook.items():
        target = f"elicit_codebook[[{r_string(key)}]]"
        if key in {"items", "variables"} and value:
            lines.append(f"{target} <- list()")
            lines += [f"{target}[[{r_string(name)}]] <- {r_literal(entry)}" for name, entry in value.items()]
        elif value is None:  # [[<- NULL would drop the key
            lines.append(f"elicit_codebook[{r_string(key)}] <- list(NULL)")
        else:
            lines.append(f"{target} <- {r_literal(value)}")
    return "\n".join(lines) + "\n"


def _ascii(text: Any) -> str:
    """Text for a comment line of the script: ASCII, on one line."""
    return " ".join(str(text).split()).encode("ascii", "backslashreplace").decode()


def write_r_loader(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``data.R`` for ``document`` (see :func:`r_loader`)."""
    path.write_text(r_loader(document), encoding="ascii", newline="\n")
