"""EXCALIBUR's ``.dtt``/``.rls`` files read for Cooke's classical model, and ``elicit analyze`` on such a pair.

A ``.dtt`` file holds the assessments: a header ``* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95`` (the
number of quantiles and the levels in percent), then one line per expert and item::

        1        C   17          Fires LOG  1.00000E+0001  5.00000E+0001  5.00000E+0002   <question>

(expert number, expert id, item number, item id, scale ``UNI`` or ``LOG``, the quantiles, optionally the question).
A ``.rls`` file holds one line per item: number, id, realization, scale and optionally the question. Numbers from
-1000 to -990 mean "no value" (a target item's realization, an item the expert did not answer). The columns are
those anduryl's ``read_excalibur`` takes (expert number in columns 1-5, expert id in 6-14, item number in 15-20);
the rest of a line is read by its fields, so an item id longer than EXCALIBUR's 14 characters is read too.
Items are matched between the two files by id, as anduryl does; the scale of the ``.dtt`` file decides the
background (``UNI`` uniform, ``LOG`` log-uniform).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import figures, write_atomic
from .cooke import CookeResult, CookeSettings, classical_model, level_name, plot_ranges, results_dict

__all__ = ["ExcaliburCase", "analyze_excalibur", "find_pair", "read_excalibur", "results_document"]

RESULTS_FORMAT = "elicit-excalibur-results/1"
NO_VALUE = (-1000.0, -990.0)
BACKGROUNDS = {"uni": "uniform", "log": "loguniform"}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?"
_HEADER = re.compile(r"QU\s*=\s*(?P<levels>.*)$", re.IGNORECASE)
_RLS = re.compile(
    rf"^\s*(?P<number>\d+)\s+(?P<item>.*?)\s+(?P<value>{_NUMBER})\s+(?P<scale>uni|log)(?:\s+(?P<question>.*?))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, eq=False)
class ExcaliburCase:
    """A ``.dtt``/``.rls`` pair in the form :func:`elicit.analysis.cooke.classical_model` takes.

    ``assessments`` has the columns ``expert, item`` and one per level (``q05, q50, q95``); ``realizations`` maps
    each seed item to its true value (target items are absent); ``backgrounds`` maps every item to ``uniform`` or
    ``loguniform``.
    """

    assessments: pd.DataFrame
    realizations: dict[str, float]
    levels: tuple[float, ...]
    backgrounds: dict[str, str]
    questions: dict[str, str]
    experts: tuple[str, ...]
    items: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())

    def settings(self, **overrides: Any) -> CookeSettings:
        """The classical model's settings for this case: its levels and backgrounds, EXCALIBUR's defaults else."""
        return CookeSettings(levels=self.levels, background=dict(self.backgrounds), **overrides)


def _float(text: str) -> float:
    return float(text.replace("D", "E").replace("d", "e"))


def _value(text: str) -> float:
    number = _float(text)
    return math.nan if NO_VALUE[0] <= number <= NO_VALUE[1] else number


def _lines(path: Path) -> list[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [(n, line.rstrip("\r\n")) for n, line in enumerate(handle, start=1) if line.strip()]


def _levels(path: Path, header: str) -> tuple[float, ...]:
    match = _HEADER.search(header)
    if not header.lstrip().startswith("*") or match is None:
        raise ValueError(
            f"{path.name}, line 1: not an EXCALIBUR .dtt header (it names the levels after 'QU=')"
        )
    try:
        levels = tuple(_float(x) / 100 for x in match["levels"].split())
    except ValueError:
        raise ValueError(f"{path.name}, line 1: the levels after 'QU=' must be numbers (percent)") from None
    count = re.search(r"NQ\s*=\s*(\d+)", header, re.IGNORECASE)
    if not levels or (count is not None and int(count[1]) != len(levels)):
        raise ValueError(f"{path.name}, line 1: NQ= does not match the number of levels after QU=")
    return levels


def _dtt_line(path: Path, number: int, line: str, n: int) -> tuple[str, str, str, list[float], str]:
    """expert, item, scale, values and question of one assessment line."""
    tail = (
        rf"(?P<item>.*?)\s+(?P<scale>uni|log)\s+(?P<values>(?:{_NUMBER}\s+){{{n - 1}}}{_NUMBER})"
        r"(?:\s+(?P<question>.*?))?\s*$"
    )
    expert = line[5:14].strip()
    fixed = line[:5].strip().isdigit() and line[14:20].strip().isdigit()
    match = re.match(r"^\s*" + tail, line[20:], re.IGNORECASE) if fixed else None
    if match is None or not expert or not match["item"].strip():
        match = re.match(r"^\s*\d+\s+(?P<expert>\S+)\s+\d+\s+" + tail, line, re.IGNORECASE)
        if match is None:
            raise ValueError(
                f"{path.name}, line {number}: expected expert number, expert id, item number, item id, UNI or "
                f"LOG and {n} numbers"
            )
        expert = match["expert"]
    values = [_value(x) for x in match["values"].split()]
    return expert, match["item"].strip(), match["scale"].lower(), values, (match["question"] or "").strip()


def read_excalibur(dtt: Path, rls: Path) -> ExcaliburCase:
    """Read an EXCALIBUR ``.dtt`` (assessments) and ``.rls`` (realizations) pair.

    Raises ``ValueError`` with the file and line when a line cannot be read, an expert gives an item twice, or the
    pair has no assessment.
    """
    dtt, rls = Path(dtt), Path(rls)
    lines = _lines(dtt)
    if not lines:
        raise ValueError(f"{dtt.name} is empty")
    levels = _levels(dtt, lines[0][1])
    columns = [level_name(x) for x in levels]
    warnings: list[str] = []
    rows: list[dict[str, Any]] = []
    experts: dict[str, None] = {}
    items: dict[str, None] = {}
    scales: dict[str, str] = {}
    questions: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    incomplete: list[str] = []
    for number, line in lines[1:]:
        expert, item, scale, values, question = _dtt_line(dtt, number, line, len(levels))
        if (expert, item) in seen:
            raise ValueError(f"{dtt.name}, line {number}: expert {expert} gives item {item} a second time")
        seen.add((expert, item))
        experts.setdefault(expert)
        items.setdefault(item)
        scales.setdefault(item, scale)
        if question and not questions.get(item):
            questions[item] = question
        missing = sum(math.isnan(v) for v in values)
        if missing == len(values):
            continue
        if missing:
            incomplete.append(f"{expert}/{item}")
            continue
        rows.append({"expert": expert, "item": item, **dict(zip(columns, values, strict=True))})
    if incomplete:
        warnings.append(
            "left out assessments that give only some of the quantiles: " + ", ".join(incomplete[:20])
        )
    if not rows:
        raise ValueError(f"{dtt.name} holds no assessment")

    realizations: dict[str, float] = {}
    listed: set[str] = set()
    for number, line in _lines(rls):
        match = _RLS.match(line)
        if match is None:
            raise ValueError(
                f"{rls.name}, line {number}: expected item number, item id, value and UNI or LOG"
            )
        item = match["item"].strip()
        listed.add(item)
        if item not in items:
            warnings.append(f"{rls.name}: item {item} has no assessments in {dtt.name} and is left out")
            continue
        if match["scale"].lower() != scales[item]:
            warnings.append(
                f"item {item}: the scale is {scales[item].upper()} in {dtt.name} and "
                f"{match['scale'].upper()} in {rls.name}; {dtt.name}'s is used"
            )
        value = _value(match["value"])
        if not math.isnan(value):
            realizations[item] = value
        if match["question"] and not questions.get(item):
            questions[item] = match["question"].strip()
    unlisted = [item for item in items if item not in listed]
    if unlisted:
        warnings.append(f"item(s) not in {rls.name}, read as targets: {', '.join(unlisted)}")
    return ExcaliburCase(
        assessments=pd.DataFrame(rows, columns=["expert", "item", *columns]),
        realizations=realizations,
        levels=levels,
        backgrounds={item: BACKGROUNDS[scale] for item, scale in scales.items()},
        questions=questions,
        experts=tuple(experts),
        items=tuple(items),
        warnings=tuple(warnings),
    )


def find_pair(paths: Sequence[Path]) -> tuple[Path, Path] | None:
    """The ``.dtt`` and ``.rls`` files that ``paths`` name, or None when they name an export folder.

    Accepted: a ``.dtt`` and a ``.rls`` file (either order); one of them (the other is the file with the same
    name beside it, as anduryl finds it); or a folder holding one ``.dtt`` file and its ``.rls``. Raises
    ``ValueError`` when the paths name something else.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 2:
        by_suffix = {p.suffix.lower(): p for p in paths}
        if set(by_suffix) != {".dtt", ".rls"}:
            raise ValueError("two files to analyse must be an EXCALIBUR .dtt file and its .rls file")
        return by_suffix[".dtt"], by_suffix[".rls"]
    if len(paths) != 1:
        raise ValueError("give an export folder, a folder with a .dtt and .rls pair, or the two files")
    path = paths[0]
    if path.is_dir():
        dtts = sorted(p for p in path.iterdir() if p.suffix.lower() == ".dtt" and p.is_file())
        if not dtts:
            return None
        if len(dtts) > 1:
            raise ValueError(
                f"{path} holds several .dtt files ({', '.join(p.name for p in dtts)}); name the .dtt and .rls files"
            )
        return dtts[0], _sibling(dtts[0], ".rls")
    if path.suffix.lower() == ".dtt":
        return path, _sibling(path, ".rls")
    if path.suffix.lower() == ".rls":
        return _sibling(path, ".dtt"), path
    if path.is_file():
        raise ValueError(f"{path} is neither a folder nor an EXCALIBUR .dtt or .rls file")
    return None


def _sibling(path: Path, suffix: str) -> Path:
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            if candidate.stem == path.stem and candidate.suffix.lower() == suffix and candidate.is_file():
                return candidate
    raise ValueError(f"no {suffix} file beside {path} (EXCALIBUR keeps the pair under one name)")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results_document(case: ExcaliburCase, dtt: Path, rls: Path, result: CookeResult) -> dict[str, Any]:
    """The results document (``results.json``) of the classical model on ``case``, with the files it read."""
    return {
        "format": RESULTS_FORMAT,
        "source": {
            "dtt": {"name": dtt.name, "sha256": _sha256(dtt)},
            "rls": {"name": rls.name, "sha256": _sha256(rls)},
            "experts": list(case.experts),
            "items": list(case.items),
            "seeds": [item for item in case.items if item in case.realizations],
            "questions": case.questions,
        },
        "cooke": results_dict(result),
        "warnings": [*case.warnings, *result.warnings],
    }


def analyze_excalibur(
    dtt: Path, rls: Path, out_html: Path, out_json: Path | None = None, **overrides: Any
) -> dict[str, Any]:
    """Read the pair, run Cooke's classical model, write the HTML report (and ``results.json``); return the results.

    ``overrides`` are :class:`CookeSettings` fields (``cutoff``, ``weights``, ``overshoot``...). Raises
    ``ValueError`` when the files cannot be read or the model cannot be computed.
    """
    dtt, rls = Path(dtt), Path(rls)
    case = read_excalibur(dtt, rls)
    result = classical_model(case.assessments, case.realizations, case.settings(**overrides))
    document = results_document(case, dtt, rls, result)
    write_atomic(Path(out_html), _report(document, figures.figure_uri(plot_ranges(result))))
    if out_json is not None:
        write_atomic(
            Path(out_json), json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        )
    return document


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


EXPERT_COLUMNS = (
    "expert",
    "n_seeds",
    "calibration",
    "information_seeds",
    "information_all",
    "score",
    "above_cutoff",
    "weight",
)
DM_COLUMNS = ("dm", "cutoff", "calibration", "information_seeds", "information_all", "score", "reported")
_STYLE = """body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 72rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #bbb; padding: .25rem .5rem; text-align: left; }
img { max-width: 100%; }"""


def _report(document: dict[str, Any], figure: str) -> str:
    """A self-contained page: the files read, the experts' scores, the decision makers and their quantiles."""
    cooke = document["cooke"]
    source = document["source"]
    levels = [level_name(x) for x in cooke["settings"]["levels"]]
    dtt, rls = html.escape(source["dtt"]["name"]), html.escape(source["rls"]["name"])
    title = f"Cooke's classical model: {dtt}"
    summary = (
        f"Read from <code>{dtt}</code> and <code>{rls}</code>: {len(source['experts'])} experts, "
        f"{len(source['items'])} items, {cooke['n_seeds']} seed items. Levels {', '.join(levels)}; "
        f"{cooke['settings']['overshoot']:g} overshoot; cut-off {_fmt(cooke['cutoff'])} "
        f"({html.escape(str(cooke['settings']['cutoff']))}); reported decision maker "
        f"<code>{html.escape(cooke['reported_dm'])}</code>."
    )
    notes = "".join(f"<li>{html.escape(w)}</li>" for w in document["warnings"])
    sections = [
        f"<h1>{title}</h1>",
        f"<p>{summary}</p>",
        f"<h2>Warnings</h2><ul>{notes}</ul>" if notes else "",
        "<h2>Experts</h2>",
        _table(cooke["experts"], EXPERT_COLUMNS),
        "<h2>Decision makers</h2>",
        _table(cooke["decision_makers"], DM_COLUMNS),
        "<h2>Decision makers' quantiles</h2>",
        _table(cooke["dm_quantiles"], ["dm", "item", "seed", "realization", *levels]),
        "<h2>Seed items</h2>",
        f'<img src="{figure}" alt="Each expert\'s and decision maker\'s range on every seed item against the '
        'realization">',
    ]
    body = "\n".join(s for s in sections if s)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
        f"<style>{_STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )
