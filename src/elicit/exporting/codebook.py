"""The codebook: ``codebook.json`` for programs (format ``elicit-codebook/1``, docs/export.md) and
``codebook.html`` for people, both from the export plan, so they describe exactly the columns written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment

from elicit.exporting.plan import ExportPlan, VersionInfo, value_labels_json
from elicit.exporting.source import StudyInfo
from elicit.exporting.writers import format_names
from elicit.instruments.schema import text_in

CODEBOOK_FORMAT = "elicit-codebook/1"


def codebook_document(info: StudyInfo, plan: ExportPlan) -> dict[str, Any]:
    """The machine-readable codebook."""
    ordered = sorted(info.versions.values(), key=lambda v: v.key)
    scales: dict[str, Any] = {}
    for version in ordered:  # newer versions overwrite older descriptions of the same scale
        for name, scale in version.definition.scales.items():
            scales[name] = {
                "label": text_in(scale.label, plan.language) if scale.label else name,
                "items": list(scale.items),
                "reverse": list(scale.reverse),
                "versions": [v.version for v in ordered if name in v.definition.scales],
            }
    hypotheses = hypotheses_entries(ordered, plan.language)
    sav_names = format_names(plan.names, "sav")
    dta_names = format_names(plan.names, "dta")
    variables = []
    for variable, sav, dta in zip(plan.variables, sav_names, dta_names, strict=True):
        variables.append(
            {
                "name": variable.name,
                "item": variable.item_id,
                "part": variable.part,
                "type": variable.type,
                "dtype": variable.dtype,
                "measure": variable.measure,
                "label": variable.label,
                "value_labels": value_labels_json(variable.value_labels),
                "versions": list(variable.versions) if variable.item_id else [v.version for v in ordered],
                "privacy": variable.privacy,
                "quasi_identifier": variable.quasi_identifier,
                "treatment": variable.treatment,
                "names": {"sav": sav, "dta": dta},
            }
        )
    document = {
        "format": CODEBOOK_FORMAT,
        "study": {"slug": info.slug, "title": info.title, "anonymity": info.anonymity},
        "instrument": {"id": info.instrument, "versions": [_version(v) for v in ordered]},
        "language": plan.language,
        "identified": plan.identified,
        "cohorts": [{"code": code, "label": label} for code, label in info.cohorts.values()],
        "scales": scales,
        "items": [entry.data for entry in plan.items],
        "variables": variables,
    }
    if hypotheses:  # only when declared: the codebook of a study without them is unchanged
        document["hypotheses"] = hypotheses
    return document


def hypotheses_entries(ordered: Sequence[VersionInfo], language: str) -> list[dict[str, Any]]:
    """The declared hypotheses of every version, by id (a newer version's text and test replace an older's)."""
    found: dict[str, dict[str, Any]] = {}
    for version in ordered:
        for hypothesis in version.definition.hypotheses:
            if hypothesis.greater is not None:
                direction: dict[str, Any] = {"greater": hypothesis.greater, "less": hypothesis.less}
            else:
                direction = {"two_sided": list(hypothesis.cohorts) or True}
            found[hypothesis.id] = {
                "id": hypothesis.id,
                "text": text_in(hypothesis.text, language),
                "scale": hypothesis.scale,
                "item": hypothesis.item,
                "compare": hypothesis.compare,
                "direction": direction,
                "versions": [
                    v.version for v in ordered if any(h.id == hypothesis.id for h in v.definition.hypotheses)
                ],
            }
    return list(found.values())


def _version(version: VersionInfo) -> dict[str, Any]:
    return {"version": version.version, "sha256": version.sha256}


def codebook_rows(document: dict[str, Any]) -> list[list[Any]]:
    """The codebook as a table (the ``codebook`` sheet of ``data.xlsx``)."""
    rows: list[list[Any]] = [
        [
            "variable",
            "label",
            "type",
            "measure",
            "item",
            "part",
            "value labels",
            "versions",
            "privacy",
            "treatment",
        ]
    ]
    for variable in document["variables"]:
        labels = variable["value_labels"] or {}
        rows.append(
            [
                variable["name"],
                variable["label"],
                variable["type"],
                variable["measure"],
                variable["item"],
                variable["part"],
                "; ".join(f"{code} = {label}" for code, label in labels.items()),
                ", ".join(variable["versions"]),
                variable["privacy"],
                variable["treatment"],
            ]
        )
    return rows


_HTML = """<!doctype html>
<html lang="{{ doc.language }}">
<head>
<meta charset="utf-8">
<title>Codebook: {{ doc.study.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; line-height: 1.4; color: #1b1b1b; }
table { border-collapse: collapse; margin: 1rem 0 2rem; width: 100%; }
th, td { border: 1px solid #bbb; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #eee; } code { font-size: .95em; } .note { color: #555; }
</style>
</head>
<body>
<h1>Codebook: {{ doc.study.title }}</h1>
<p>Study <code>{{ doc.study.slug }}</code> ({{ doc.study.anonymity }}); instrument <code>{{ doc.instrument.id }}</code>;
labels in <code>{{ doc.language }}</code>.{% if doc.identified %} <strong>This export identifies respondents.</strong>{% endif %}</p>
<h2>Instrument versions</h2>
<table><tr><th>version</th><th>sha256</th></tr>
{% for v in doc.instrument.versions %}<tr><td>{{ v.version }}</td><td><code>{{ v.sha256 }}</code></td></tr>{% endfor %}
</table>
<h2>Cohorts</h2>
<table><tr><th>code</th><th>label</th></tr>
{% for c in doc.cohorts %}<tr><td><code>{{ c.code }}</code></td><td>{{ c.label }}</td></tr>{% endfor %}
</table>
{% if doc.scales %}<h2>Scales</h2>
<table><tr><th>scale</th><th>label</th><th>items</th><th>reverse-keyed</th><th>versions</th></tr>
{% for name, s in doc.scales.items() %}<tr><td><code>{{ name }}</code></td><td>{{ s.label }}</td>
<td>{{ s["items"] | join(", ") }}</td><td>{{ s.reverse | join(", ") or "none" }}</td><td>{{ s.versions | join(", ") }}</td></tr>
{% endfor %}</table>{% endif %}
{% if doc.hypotheses %}<h2>Declared hypotheses</h2>
<table><tr><th>hypothesis</th><th>statement</th><th>tests</th><th>direction</th><th>versions</th></tr>
{% for h in doc.hypotheses %}<tr><td><code>{{ h.id }}</code></td><td>{{ h.text }}</td>
<td>{% if h.scale %}scale <code>{{ h.scale }}</code>{% else %}item <code>{{ h.item }}</code>{% endif %} between {{ h.compare }}</td>
<td>{% if h.direction.greater %}<code>{{ h.direction.greater }}</code> higher than <code>{{ h.direction.less }}</code> (one-sided){% else %}two-sided{% if h.direction.two_sided is not sameas true %}: {{ h.direction.two_sided | join(" vs ") }}{% endif %}{% endif %}</td>
<td>{{ h.versions | join(", ") }}</td></tr>
{% endfor %}</table>
<p class="note">Tested as confirmatory, with one correction for multiplicity over these hypotheses; every other test of the analysis is exploratory.</p>{% endif %}
<h2>Items</h2>
<table><tr><th>item</th><th>type</th><th>question</th><th>choices (code = label)</th><th>scale</th>
<th>versions</th><th>privacy</th><th>columns</th></tr>
{% for i in doc["items"] %}<tr><td><code>{{ i.id }}</code></td>
<td>{{ i.type }}{% if i.instrument_type %} (instrument: {{ i.instrument_type }}){% endif %}<br><span class="note">analysed as {{ i.analysis }}</span></td>
<td>{{ i.text }}{% if i.unit %} <span class="note">[{{ i.unit }}]</span>{% endif %}</td>
<td>{% for c in i.choices or [] %}<code>{{ c.code }}</code> = {{ c.label }}<br>{% endfor %}</td>
<td>{% if i.scale %}{{ i.scale }}{% if i.reverse %} (reverse-keyed){% endif %}{% endif %}</td>
<td>{{ i.versions | join(", ") }}</td>
<td>{{ i.privacy }}<br><span class="note">{{ i.treatment }}</span></td>
<td>{% for c in i.columns %}<code>{{ c }}</code> {% endfor %}</td></tr>
{% endfor %}</table>
<h2>Variables</h2>
<table><tr><th>column</th><th>label</th><th>type</th><th>measure</th><th>value labels</th><th>versions</th>
<th>SPSS / Stata name</th></tr>
{% for v in doc.variables %}<tr><td><code>{{ v.name }}</code></td><td>{{ v.label }}</td><td>{{ v.type }} ({{ v.dtype }})</td>
<td>{{ v.measure }}</td><td>{% for code, label in (v.value_labels or {}).items() %}<code>{{ code }}</code> = {{ label }}<br>{% endfor %}</td>
<td>{{ v.versions | join(", ") }}</td><td><code>{{ v.names.sav }}</code> / <code>{{ v.names.dta }}</code></td></tr>
{% endfor %}</table>
<p class="note">Empty cells are missing: not answered, not shown, or not in the version the row answered; never zero.</p>
</body>
</html>
"""

_environment = Environment(autoescape=True, keep_trailing_newline=True)


def codebook_html(document: dict[str, Any]) -> str:
    """The codebook as a self-contained page (every text escaped)."""
    return _environment.from_string(_HTML).render(doc=document)
