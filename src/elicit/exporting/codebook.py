"""The codebook: ``codebook.json`` for programs (format ``elicit-codebook/1``, docs/export.md) and
``codebook.html`` for people, both from the export plan, so they describe exactly the columns written.

Labels are in the instrument's first language (the SPSS and Stata files use them); every language's wording of
the instrument is under ``wording``, keyed by language, and the page shows each language in its own direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from elicit.exporting.plan import ExportPlan, VersionInfo, value_labels_json
from elicit.exporting.source import StudyInfo
from elicit.exporting.writers import format_names
from elicit.instruments.schema import text_in

CODEBOOK_FORMAT = "elicit-codebook/1"


def codebook_document(info: StudyInfo, plan: ExportPlan) -> dict[str, Any]:
    """The machine-readable codebook."""
    ordered = sorted(info.versions.values(), key=lambda v: v.key)
    languages = list(plan.languages) or [plan.language]
    scales: dict[str, Any] = {}
    for version in ordered:  # newer versions overwrite older descriptions of the same scale
        for name, scale in version.definition.scales.items():
            scales[name] = {
                "label": text_in(scale.label, plan.language) if scale.label else name,
                "items": list(scale.items),
                "reverse": list(scale.reverse),
                "versions": [v.version for v in ordered if name in v.definition.scales],
                "wording": {
                    lang: {"label": text_in(scale.label, lang) if scale.label else name} for lang in languages
                },
            }
    hypotheses = hypotheses_entries(ordered, plan.language)
    for hypothesis in hypotheses:
        hypothesis["wording"] = {
            lang: {"text": entry["text"]}
            for lang in languages
            for entry in hypotheses_entries(ordered, lang)
            if entry["id"] == hypothesis["id"]
        }
    sav_names = format_names(plan.names, "sav")
    dta_names = format_names(plan.names, "dta")
    variables = []
    for variable, sav, dta in zip(plan.variables, sav_names, dta_names, strict=True):
        wording = {"wording": variable.wording} if variable.wording else {}
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
                **wording,
            }
        )
    document = {
        "format": CODEBOOK_FORMAT,
        "study": {"slug": info.slug, "title": info.title, "anonymity": info.anonymity},
        "instrument": {"id": info.instrument, "versions": [_version(v) for v in ordered]},
        "language": plan.language,
        "languages": languages,
        "identified": plan.identified,
        "cohorts": [{"code": code, "label": label} for code, label in info.cohorts.values()],
        "scales": scales,
        "items": [_wording_last(entry.data) for entry in plan.items],
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


def _wording_last(data: dict[str, Any]) -> dict[str, Any]:
    """An item's entry with its ``wording`` at the end, after the keys a reader looks at first."""
    entry = {key: value for key, value in data.items() if key != "wording"}
    if "wording" in data:
        entry["wording"] = data["wording"]
    return entry


def codebook_rows(document: dict[str, Any]) -> list[list[Any]]:
    """The codebook as a table (the ``codebook`` sheet of ``data.xlsx``): labels in the first language, then a
    ``label (ur)`` and a ``value labels (ur)`` column for each other language of the instrument."""
    others = [lang for lang in document.get("languages") or [] if lang != document["language"]]
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
        + [f"{heading} ({lang})" for lang in others for heading in ("label", "value labels")]
    ]
    for variable in document["variables"]:
        translated: list[Any] = []
        for lang in others:
            words = (variable.get("wording") or {}).get(lang) or {}
            translated += [words.get("label"), _joined(words.get("value_labels"))]
        rows.append(
            [
                variable["name"],
                variable["label"],
                variable["type"],
                variable["measure"],
                variable["item"],
                variable["part"],
                _joined(variable["value_labels"]),
                ", ".join(variable["versions"]),
                variable["privacy"],
                variable["treatment"],
            ]
            + translated
        )
    return rows


def _joined(labels: dict[str, str] | None) -> str:
    return "; ".join(f"{code} = {label}" for code, label in (labels or {}).items())


_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Codebook: {{ doc.study.title }}</title>
<style>
:root { --font: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif; }
body { font-family: var(--font); margin: 0 auto; max-width: 90rem; padding: 1rem 1.25rem 2rem; line-height: 1.45;
       color: #1b1b1b; }
[lang="ur"] { font-family: "Noto Nastaliq Urdu", "Jameel Noori Nastaleeq", "Noto Naskh Arabic", "Noto Sans Arabic",
              var(--font); line-height: 2.1; }
table { border-collapse: collapse; margin: 0; width: 100%; }
.scroll { overflow-x: auto; margin: 1rem 0 2rem; }
.scroll:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
th, td { border: 1px solid #bbb; padding: .3rem .5rem; text-align: start; vertical-align: top; }
thead th { background: #eee; } tbody th { font-weight: normal; }
code { font-size: .95em; } tbody th code { white-space: nowrap; } .note { color: #555; }
table.wide { min-width: 60rem; } th.long { min-width: 16rem; } /* on a phone the wide tables scroll sideways rather than squeeze each column */
.words + .words { margin-top: .35rem; padding-top: .35rem; border-top: 1px dashed #bbb; }
.choices { list-style: none; margin: 0; padding: 0; }
</style>
</head>
<body>
{%- set langs = doc.languages or [doc.language] %}
<header>
<h1>Codebook: {{ doc.study.title }}</h1>
<p>Study <code>{{ doc.study.slug }}</code> ({{ doc.study.anonymity }}); instrument <code>{{ doc.instrument.id }}</code>.
Labels in <code>{{ doc.language }}</code> (those of the SPSS and Stata files){% if langs | length > 1 %}; the wording
in every language of the instrument: {% for lang in langs %}<code>{{ lang }}</code>{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}.
{%- if doc.identified %} <strong>This export identifies respondents.</strong>{% endif %}</p>
</header>
<main>
<h2 id="versions">Instrument versions</h2>
<div class="scroll" role="region" aria-labelledby="versions" tabindex="0"><table>
<thead><tr><th scope="col">version</th><th scope="col">sha256</th></tr></thead><tbody>
{% for v in doc.instrument.versions %}<tr><th scope="row">{{ v.version }}</th><td><code>{{ v.sha256 }}</code></td></tr>{% endfor %}
</tbody></table></div>
<h2 id="cohorts">Cohorts</h2>
<div class="scroll" role="region" aria-labelledby="cohorts" tabindex="0"><table>
<thead><tr><th scope="col">code</th><th scope="col">label</th></tr></thead><tbody>
{% for c in doc.cohorts %}<tr><th scope="row"><code>{{ c.code }}</code></th><td>{{ c.label }}</td></tr>{% endfor %}
</tbody></table></div>
{% if doc.scales %}<h2 id="scales">Scales</h2>
<div class="scroll" role="region" aria-labelledby="scales" tabindex="0"><table>
<thead><tr><th scope="col">scale</th><th scope="col">label</th><th scope="col">items</th><th scope="col">reverse-keyed</th>
<th scope="col">versions</th></tr></thead><tbody>
{% for name, s in doc.scales.items() %}<tr><th scope="row"><code>{{ name }}</code></th>
<td>{% for lang, w in (s.wording or {doc.language: s}).items() %}<div class="words"{{ said(lang) }}>{{ w.label }}</div>{% endfor %}</td>
<td>{{ s["items"] | join(", ") }}</td><td>{{ s.reverse | join(", ") or "none" }}</td><td>{{ s.versions | join(", ") }}</td></tr>
{% endfor %}</tbody></table></div>{% endif %}
{% if doc.hypotheses %}<h2 id="hypotheses">Declared hypotheses</h2>
<div class="scroll" role="region" aria-labelledby="hypotheses" tabindex="0"><table>
<thead><tr><th scope="col">hypothesis</th><th scope="col">statement</th><th scope="col">tests</th><th scope="col">direction</th>
<th scope="col">versions</th></tr></thead><tbody>
{% for h in doc.hypotheses %}<tr><th scope="row"><code>{{ h.id }}</code></th>
<td>{% for lang, w in (h.wording or {doc.language: h}).items() %}<div class="words"{{ said(lang) }}>{{ w.text }}</div>{% endfor %}</td>
<td>{% if h.scale %}scale <code>{{ h.scale }}</code>{% else %}item <code>{{ h.item }}</code>{% endif %} between {{ h.compare }}</td>
<td>{% if h.direction.greater %}<code>{{ h.direction.greater }}</code> higher than <code>{{ h.direction.less }}</code> (one-sided){% else %}two-sided{% if h.direction.two_sided is not sameas true %}: {{ h.direction.two_sided | join(" vs ") }}{% endif %}{% endif %}</td>
<td>{{ h.versions | join(", ") }}</td></tr>
{% endfor %}</tbody></table></div>
<p class="note">Tested as confirmatory, with one correction for multiplicity over these hypotheses; every other test of the analysis is exploratory.</p>{% endif %}
<h2 id="items">Items</h2>
<div class="scroll" role="region" aria-labelledby="items" tabindex="0"><table class="wide">
<thead><tr><th scope="col">item</th><th scope="col">type</th><th scope="col" class="long">question</th><th scope="col" class="long">choices (code = label)</th>
<th scope="col">scale</th><th scope="col">versions</th><th scope="col">privacy</th><th scope="col">columns</th></tr></thead><tbody>
{% for i in doc["items"] %}{% set words = (i.wording or {doc.language: i}).items() | list %}<tr><th scope="row"><code>{{ i.id }}</code></th>
<td>{{ i.type }}{% if i.instrument_type %} (instrument: {{ i.instrument_type }}){% endif %}<br><span class="note">analysed as {{ i.analysis }}</span></td>
<td>{% for lang, w in words %}<div class="words"{{ said(lang) }}>{{ w.text }}{% if w.unit %} <span class="note">[{{ w.unit }}]</span>{% endif %}
{%- if w.min_label or w.max_label %}<br><span class="note">{{ i.min }}: {{ w.min_label or "–" }}; {{ i.max }}: {{ w.max_label or "–" }}</span>{% endif %}
{%- if w.parts and not w.choices %}<br><span class="note">{% for part, label in w.parts.items() %}<code>{{ part }}</code>: {{ label }}{% if not loop.last %}; {% endif %}{% endfor %}</span>{% endif %}</div>{% endfor %}</td>
<td>{% if i.choices %}{% for lang, w in words %}<ul class="choices words"{{ said(lang) }}>{% for c in w.choices or i.choices %}<li><code>{{ c.code }}</code> = {{ c.label }}</li>{% endfor %}</ul>{% endfor %}{% endif %}</td>
<td>{% if i.scale %}{{ i.scale }}{% if i.reverse %} (reverse-keyed){% endif %}{% endif %}</td>
<td>{{ i.versions | join(", ") }}</td>
<td>{{ i.privacy }}<br><span class="note">{{ i.treatment }}</span></td>
<td>{% for c in i.columns %}<code>{{ c }}</code> {% endfor %}</td></tr>
{% endfor %}</tbody></table></div>
<h2 id="variables">Variables</h2>
<div class="scroll" role="region" aria-labelledby="variables" tabindex="0"><table class="wide">
<thead><tr><th scope="col">column</th><th scope="col" class="long">label</th><th scope="col">type</th><th scope="col">measure</th>
<th scope="col" class="long">value labels</th><th scope="col">versions</th><th scope="col">SPSS / Stata name</th></tr></thead><tbody>
{% for v in doc.variables %}{% set words = (v.wording or {doc.language: v}).items() | list %}<tr><th scope="row"><code>{{ v.name }}</code></th>
<td>{% for lang, w in words %}<div class="words"{{ said(lang) }}>{{ w.label }}</div>{% endfor %}</td>
<td>{{ v.type }} ({{ v.dtype }})</td><td>{{ v.measure }}</td>
<td>{% if v.value_labels %}{% for lang, w in words %}<ul class="choices words"{{ said(lang) }}>{% for code, label in (w.value_labels or v.value_labels).items() %}<li><code>{{ code }}</code> = {{ label }}</li>{% endfor %}</ul>{% endfor %}{% endif %}</td>
<td>{{ v.versions | join(", ") }}</td><td><code>{{ v.names.sav }}</code> / <code>{{ v.names.dta }}</code></td></tr>
{% endfor %}</tbody></table></div>
<p class="note">Empty cells are missing: not answered, not shown, or not in the version the row answered; never zero.</p>
</main>
</body>
</html>
"""


PAGE_LANGUAGE = "en"  # the page's own words (headings, notes) are English
#: Languages written right to left (as ``elicit.i18n.RTL``, which the export does not import: it needs no Flask).
RIGHT_TO_LEFT = frozenset({"ur", "ar", "fa", "ps", "sd", "he"})


def said(language: str) -> Markup:
    """The attributes marking text in ``language`` on the (English) page: ``lang`` and, for Urdu, ``dir="rtl"``."""
    if language == PAGE_LANGUAGE:
        return Markup("")
    rtl = language.split("-")[0] in RIGHT_TO_LEFT
    return Markup(' lang="{}" dir="{}"').format(language, "rtl" if rtl else "ltr")


_environment = Environment(autoescape=True, keep_trailing_newline=True)
_environment.globals["said"] = said


def codebook_html(document: dict[str, Any]) -> str:
    """The codebook as a self-contained page (every text escaped, each language marked with its direction)."""
    return _environment.from_string(_HTML).render(doc=document)
