"""The HTML report: one self-contained file (figures embedded as PNG data URIs), readable on screen and printable."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jinja2

from . import figures
from .descriptives import ALL
from .pipeline import (
    CORRECTIONS,
    MISSING_DATA_RULES,
    TEST_CHOICE,
    Analysis,
    as_records,
    describe_agreement_design,
)

__all__ = ["render_report"]


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table: fixed decimals, an en dash for missing."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "–"
    if number.is_integer() and digits and abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.{digits}f}"


def fmt_p(value: Any) -> str:
    """A p-value as APA style reads it: no leading zero, '< .001' for tiny values."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "–"
    try:
        p = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(p):
        return "–"
    if p < 0.001:
        return "< .001"
    return f"{p:.3f}".replace("0.", ".", 1) if p < 1 else "1.000"


def p_eq(value: Any) -> str:
    """'p = .023' or 'p < .001' for running text."""
    text = fmt_p(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_ci(low: Any, high: Any, digits: int = 2) -> str:
    if fmt(low, digits) == "–" or fmt(high, digits) == "–":
        return "–"
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  :root { --ink: #1d232a; --muted: #5b6670; --line: #d5dbe0; --warn: #8a5300; --warnbg: #fff6e5; }
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink);
         max-width: 62rem; margin: 0 auto; padding: 1.5rem; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.3rem; border-bottom: 2px solid var(--line);
  padding-bottom: .2rem; margin-top: 2.2rem; } h3 { font-size: 1.08rem; margin-top: 1.6rem; } h4 { margin-bottom: .3rem; }
  .muted, figcaption, .note { color: var(--muted); font-size: .88rem; }
  table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .86rem; width: 100%; }
  th, td { border-bottom: 1px solid var(--line); padding: .25rem .45rem; text-align: right; vertical-align: top; }
  th:first-child, td:first-child, td.text, th.text { text-align: left; }
  thead th { border-bottom: 2px solid var(--ink); }
  caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
  figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
  .warnings { background: var(--warnbg); border-left: 4px solid var(--warn); padding: .6rem 1rem; margin: 1rem 0; }
  .warnings li { margin: .2rem 0; }
  .summary { page-break-after: always; break-after: page; }
  section { break-inside: auto; } table, figure { break-inside: avoid; }
  code { font-size: .85em; word-break: break-all; }
  nav ol { columns: 2; font-size: .9rem; }
  @media print { body { font-size: 10.5pt; max-width: none; padding: 0; } nav { display: none; }
                 h2 { break-before: page; } .summary h2 { break-before: avoid; } a { color: inherit; text-decoration: none; } }
</style>
</head>
<body>
<header>
  <h1>{{ title }}</h1>
  <p class="muted">{{ study.title or study.slug or "Study" }}{% if study.slug %} ({{ study.slug }}){% endif %} ·
    instrument {{ instrument.id or "?" }} {% for v in instrument.versions %}{{ v.version }}{% if not loop.last %}, {% endif %}{% endfor %} ·
    round {{ results.meta.round }} · generated {{ results.meta.generated_at }} by Elicit {{ software.elicit }}</p>
  {% if introduction %}<p>{{ introduction }}</p>{% endif %}
</header>

<section class="summary" id="summary">
  <h2>Summary</h2>
  <h3>Who answered</h3>
  <table>
    <thead><tr><th>Cohort</th><th class="text">Label</th><th>Responses</th><th class="text">Instrument version(s)</th>
      <th class="text">Language(s)</th><th class="text">Submitted</th></tr></thead>
    <tbody>{% for row in overview %}<tr><td>{{ row.cohort }}</td><td class="text">{{ row.label }}</td><td>{{ row.n }}</td>
      <td class="text">{{ row.instrument_versions }}</td><td class="text">{{ row.languages }}</td>
      <td class="text">{{ row.first_submitted }}{% if row.last_submitted and row.last_submitted != row.first_submitted %} – {{ row.last_submitted }}{% endif %}</td></tr>{% endfor %}</tbody>
  </table>

  {% if warnings %}
  <div class="warnings" role="note"><strong>Read with care</strong>
    <ul>{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul></div>
  {% endif %}
  {% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}

  {% if reliability_rows %}
  <h3>Reliability of the scales</h3>
  <table>
    <thead><tr><th>Scale</th><th class="text">Group</th><th>n</th><th>Cronbach's α</th><th>95% CI</th>
      <th>Standardized α</th><th>McDonald's ω</th></tr></thead>
    <tbody>{% for r in reliability_rows %}<tr><td>{{ r.label }}</td><td class="text">{{ r.group }}</td><td>{{ r.n }}</td>
      <td>{{ fmt(r.alpha) }}</td><td>{{ r.ci }}</td><td>{{ fmt(r.std) }}</td><td>{{ fmt(r.omega) }}</td></tr>{% endfor %}</tbody>
  </table>
  <p class="note">Complete cases per scale (listwise). ω: omega total from a one-factor maximum-likelihood model.</p>
  {% endif %}

  {% if leverage_figure %}
  <h3>Comparing the scales between cohorts</h3>
  <figure><img src="{{ leverage_figure }}" alt="Scale scores by cohort: medians, interquartile ranges and means">
    <figcaption>Scale score = mean of the scale's items after reverse keying (range {{ fmt(value_range[0], 0) }}–{{ fmt(value_range[1], 0) }}).</figcaption></figure>
  {% endif %}
  {% if between_rows %}
  <table>
    <thead><tr><th>Scale</th>{% for c in cohorts %}<th>Median {{ c }} (n)</th>{% endfor %}<th>Test</th><th>Statistic</th><th>p</th><th>p (Holm)</th>
      <th>Effect size</th><th>Shift [95% CI]</th><th>Hedges' g [95% CI]</th></tr></thead>
    <tbody>{% for r in between_rows %}<tr><td>{{ r.label }}</td>
      {% for c in cohorts %}<td>{{ fmt(r['median_' ~ c]) }} ({{ r['n_' ~ c] }})</td>{% endfor %}
      <td class="text">{{ r.test }}</td><td>{{ fmt(r.statistic, 1) }}</td><td>{{ fmt_p(r.p) }}</td><td>{{ fmt_p(r.p_holm) }}</td>
      <td>{{ r.effect_size_name }} = {{ fmt(r.effect_size) }}</td>
      <td>{% if r.hl_shift is defined %}{{ fmt(r.hl_shift) }} {{ fmt_ci(r.hl_ci_low, r.hl_ci_high) }}{% else %}–{% endif %}</td>
      <td>{% if r.hedges_g is defined %}{{ fmt(r.hedges_g) }} {{ fmt_ci(r.hedges_g_ci_low, r.hedges_g_ci_high) }}{% else %}–{% endif %}</td></tr>{% endfor %}</tbody>
  </table>
  <p class="note">{% if cohorts|length == 2 %}Shift: Hodges–Lehmann estimate of {{ cohorts[0] }} minus {{ cohorts[1] }}; rank-biserial r &gt; 0 means {{ cohorts[0] }} tends to score higher. {% endif %}Holm correction across the scales.</p>
  {% endif %}
  {% if mixed_rows %}
  <p><strong>Mixed ANOVA</strong> (cohort × scale, n = {{ mixed_n }}):
    {% for r in mixed_rows %}{{ r.source }} F({{ fmt(r.df1, 0) }}, {{ fmt(r.df2, 0) }}) = {{ fmt(r.F) }}, {{ p_eq(r.p) }}, partial η² = {{ fmt(r.partial_eta_squared) }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>
  {% endif %}
</section>

<nav><h2>Contents</h2><ol>
  <li><a href="#methods">Methods and rules</a></li><li><a href="#descriptives">Descriptives</a></li>
  <li><a href="#reliability">Reliability</a></li><li><a href="#agreement">Agreement among experts</a></li>
  <li><a href="#within">Comparisons within cohorts</a></li><li><a href="#between">Comparisons between cohorts</a></li>
  {% if allocations or rankings %}<li><a href="#allocations">Allocations and rankings</a></li>{% endif %}
  {% if single_rows or quantiles %}<li><a href="#other">Other items</a></li>{% endif %}
  <li><a href="#provenance">Provenance</a></li></ol></nav>

<section id="methods">
  <h2>Methods and rules</h2>
  <h3>Missing data and scoring</h3>
  <ul>{% for rule in missing_rules %}<li>{{ rule }}</li>{% endfor %}</ul>
  <h3>Scales</h3>
  <table><thead><tr><th>Scale</th><th class="text">Items</th><th class="text">Reverse-keyed</th></tr></thead><tbody>
  {% for s in scales %}<tr><td>{{ s.label }} ({{ s.name }})</td><td class="text">{{ s.members|join(", ") }}</td><td class="text">{{ s.reverse|join(", ") or "–" }}</td></tr>{% endfor %}
  </tbody></table>
  <h3>Choice of tests</h3><p>{{ test_choice }}</p>
  <h3>Multiple comparisons</h3><p>{{ corrections }}</p>
  <h3>Agreement design</h3><p>{{ agreement_design }}</p>
</section>

<section id="descriptives">
  <h2>Descriptives</h2>
  {% for fig in likert_figures %}<figure><img src="{{ fig.uri }}" alt="Diverging stacked bars of the Likert items, {{ fig.cohort }}">
    <figcaption>Likert items, {{ fig.cohort }}: disagreement to the left of zero, agreement to the right; the middle answer is split across zero. Items as answered; (R) marks reverse-keyed items.</figcaption></figure>{% endfor %}
  {% if score_rows %}<h3>Scale scores</h3>
  {% if scale_figure %}<figure><img src="{{ scale_figure }}" alt="Distribution of the scale scores by cohort"><figcaption>Box plots (median, quartiles, whiskers to 1.5 IQR) with every respondent's score.</figcaption></figure>{% endif %}
  <table><thead><tr><th>Scale</th><th class="text">Group</th><th>n</th><th>Missing</th><th>Median</th><th>IQR</th><th>Mean</th><th>SD</th></tr></thead><tbody>
  {% for r in score_rows %}<tr><td>{{ r.scale }}</td><td class="text">{{ r.cohort }}</td><td>{{ r.n }}</td><td>{{ r.missing }}</td><td>{{ fmt(r.median) }}</td>
    <td>{{ fmt(r.q1) }}–{{ fmt(r.q3) }}</td><td>{{ fmt(r.mean) }}</td><td>{{ fmt(r.sd) }}</td></tr>{% endfor %}</tbody></table>{% endif %}
  <h3>Items</h3>
  <table><thead><tr><th>Variable</th><th class="text">Group</th><th>n</th><th>Missing</th><th>Median</th><th>IQR (Q1–Q3)</th><th>Mean</th><th>SD</th><th class="text">Distribution (count per code)</th></tr></thead><tbody>
  {% for r in item_rows %}<tr><td>{{ r.variable }}</td><td class="text">{{ r.cohort }}</td><td>{{ r.n }}</td><td>{{ r.missing }}</td><td>{{ fmt(r.median) }}</td>
    <td>{{ fmt(r.iqr) }} ({{ fmt(r.q1) }}–{{ fmt(r.q3) }})</td><td>{{ fmt(r.mean) }}</td><td>{{ fmt(r.sd) }}</td><td class="text">{{ r.distribution }}</td></tr>{% endfor %}</tbody></table>
  <p class="note">Quartiles: linear interpolation (Hyndman &amp; Fan type 7). SD with n − 1.</p>
</section>

<section id="reliability">
  <h2>Reliability</h2>
  {% for r in reliability_detail %}
  <h3>{{ r.label }} — {{ r.group }}</h3>
  <p>{{ r.interpretation }}</p>
  <p class="note">n = {{ r.n }} complete ({{ r.n_excluded }} excluded for missing items); standardized α = {{ fmt(r.std) }};
    mean inter-item r = {{ fmt(r.mean_r) }}; item statistics after reverse keying; ω total = {{ fmt(r.omega) }} (standardized items: {{ fmt(r.omega_std) }}){% if r.omega_note %}; {{ r.omega_note }}{% endif %}.</p>
  <table><thead><tr><th>Item</th><th>Mean</th><th>SD</th><th>Corrected item-total r</th><th>α if item deleted</th><th>Loading (one factor)</th></tr></thead><tbody>
  {% for i in r.item_stats %}<tr><td>{{ i.item }}{% if i.item in reverse_items %} (R){% endif %}</td><td>{{ fmt(i.mean) }}</td><td>{{ fmt(i.sd) }}</td><td>{{ fmt(i.corrected_item_total_r) }}</td>
    <td>{{ fmt(i.alpha_if_deleted) }}</td><td>{{ fmt(i.loading) }}</td></tr>{% endfor %}</tbody></table>
  {% endfor %}
</section>

<section id="agreement">
  <h2>Agreement among experts</h2>
  <p>{{ agreement_design }}</p>
  {% for a in agreement %}
  <h3>{{ a.cohort }}</h3>
  <p>{{ a.n_raters_complete }} of {{ a.n_raters }} experts answered every item; Kendall's W = {{ fmt(a.kendall.w) }}
    (χ²({{ a.kendall.df }}) = {{ fmt(a.kendall.chi2) }}, {{ p_eq(a.kendall.p) }}); Krippendorff's α (ordinal) = {{ fmt(a.krippendorff_alpha) }}.</p>
  {% for w in a.warnings %}<p class="note">⚠ {{ w }}</p>{% endfor %}
  <table><thead><tr><th>Form</th><th class="text">McGraw &amp; Wong</th><th class="text">Model</th><th>ICC</th><th>95% CI</th><th>F</th><th>df</th><th>p</th></tr></thead><tbody>
  {% for row in a.icc_rows %}<tr><td>{{ row.shrout_fleiss }}</td><td class="text">{{ row.mcgraw_wong }}</td><td class="text">{{ row.description }}</td>
    <td>{{ fmt(row.icc) }}</td><td>{{ fmt_ci(row.ci_low, row.ci_high) }}</td><td>{{ fmt(row.F) }}</td><td>{{ fmt(row.df1, 0) }}, {{ fmt(row.df2, 0) }}</td><td>{{ fmt_p(row.p) }}</td></tr>{% endfor %}</tbody></table>
  {% endfor %}
  <p class="note">ICC forms after Shrout &amp; Fleiss (1979) and McGraw &amp; Wong (1996). Consistency (C) asks whether experts order the items alike; absolute agreement (A) whether they give the same values. Single-measure forms describe one expert, average-measure forms the panel's mean. Koo &amp; Li (2016) read values below .5 as poor, .5–.75 moderate, .75–.9 good — conventions, to be read with the interval.</p>
</section>

<section id="within">
  <h2>Comparisons within cohorts</h2>
  {% for w in within %}
  <h3>{{ w.cohort }} (n = {{ w.n }} with every scale)</h3>
  <p>Friedman χ²({{ w.friedman.df }}) = {{ fmt(w.friedman.statistic) }}, {{ p_eq(w.friedman.p) }}, Kendall's W = {{ fmt(w.friedman.kendall_w) }}.
    Repeated-measures ANOVA: F({{ fmt(w.rm.df1, 0) }}, {{ fmt(w.rm.df2, 0) }}) = {{ fmt(w.rm.F) }}, {{ p_eq(w.rm.p) }} (Greenhouse–Geisser, ε = {{ fmt(w.rm.epsilon_gg) }}),
    partial η² = {{ fmt(w.rm.partial_eta_squared) }}; Mauchly's W = {{ fmt(w.rm.mauchly_w) }}, {{ p_eq(w.rm.mauchly_p) }}.
    Shapiro–Wilk p: {% for k, v in w.normality.items() %}{{ k }} {{ fmt_p(v) }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>
  <table><thead><tr><th>Pair</th><th>n</th><th>Median difference</th><th>V (R+)</th><th>p</th><th>p (Holm)</th><th>Rank-biserial r</th><th class="text">p method</th></tr></thead><tbody>
  {% for r in w.posthoc %}<tr><td>{{ r.a }} – {{ r.b }}</td><td>{{ r.n }}</td><td>{{ fmt(r.median_diff) }}</td><td>{{ fmt(r.V, 1) }}</td><td>{{ fmt_p(r.p) }}</td><td>{{ fmt_p(r.p_holm) }}</td><td>{{ fmt(r.rank_biserial) }}</td><td class="text">{{ r.method }}</td></tr>{% endfor %}</tbody></table>
  {% endfor %}
  {% if not within %}<p>Fewer than two scales: nothing to compare within cohorts.</p>{% endif %}
</section>

<section id="between">
  <h2>Comparisons between cohorts</h2>
  {% if between_rows %}
  <table><thead><tr><th>Scale</th>{% for c in cohorts %}<th>Mean (SD) {{ c }}</th>{% endfor %}<th>Welch t</th><th>df</th><th>p</th><th>p (Holm)</th><th>Mean difference [95% CI]</th>
    {% for c in cohorts %}<th>Shapiro–Wilk p {{ c }}</th>{% endfor %}<th>Brown–Forsythe p</th><th class="text">MWU p method</th></tr></thead><tbody>
  {% for r in between_rows %}<tr><td>{{ r.label }}</td>{% for c in cohorts %}<td>{{ fmt(r['mean_' ~ c]) }} ({{ fmt(r['sd_' ~ c]) }})</td>{% endfor %}
    <td>{{ fmt(r.welch_t) }}</td><td>{{ fmt(r.welch_df, 1) }}</td><td>{{ fmt_p(r.welch_p) }}</td><td>{{ fmt_p(r.welch_p_holm) }}</td><td>{{ fmt(r.mean_diff) }} {{ fmt_ci(r.mean_diff_ci_low, r.mean_diff_ci_high) }}</td>
    {% for c in cohorts %}<td>{{ fmt_p(r['shapiro_p_' ~ c]) }}</td>{% endfor %}<td>{{ fmt_p(r.levene_p) }}</td><td class="text">{{ r.p_method or "" }}</td></tr>{% endfor %}</tbody></table>
  <p class="note">The rank-based tests are in the summary table. Hedges' g uses the pooled SD (Hedges 1981) with the Hedges &amp; Olkin (1985) interval.</p>
  {% else %}<p>No between-cohort comparison (fewer than two cohorts with responses).</p>{% endif %}
  {% if mixed_rows %}
  <h3>Mixed ANOVA: cohort × scale</h3>
  <table><thead><tr><th>Effect</th><th>SS</th><th>df</th><th>F</th><th>p (unc.)</th><th>p (GG)</th><th>ε (GG)</th><th>partial η²</th></tr></thead><tbody>
  {% for r in mixed_rows %}<tr><td>{{ r.source }}</td><td>{{ fmt(r.SS) }}</td><td>{{ fmt(r.df1, 0) }}, {{ fmt(r.df2, 0) }}</td><td>{{ fmt(r.F) }}</td><td>{{ fmt_p(r.p_uncorrected) }}</td>
    <td>{{ fmt_p(r.p_gg) }}</td><td>{{ fmt(r.epsilon_gg) }}</td><td>{{ fmt(r.partial_eta_squared) }}</td></tr>{% endfor %}</tbody></table>
  {% endif %}
</section>

{% if allocations or rankings %}
<section id="allocations">
  <h2>Allocations and rankings</h2>
  {% for block in allocations + rankings %}
  <h3>{{ block.title }}</h3>
  <figure><img src="{{ block.figure }}" alt="{{ block.title }} by cohort"></figure>
  <table><thead><tr><th class="text">Choice</th>{% for c in cohorts %}<th>{{ block.stat_label }} {{ c }}</th>{% endfor %}{% if block.kind == "ranking" %}{% for c in cohorts %}<th>% first {{ c }}</th>{% endfor %}{% endif %}
    <th>Test</th><th>p</th><th>p (Holm)</th><th>Effect size</th></tr></thead><tbody>
  {% for r in block.rows %}<tr><td class="text">{{ r.label }}</td>{% for c in cohorts %}<td>{{ r.stats[c] }}</td>{% endfor %}{% if block.kind == "ranking" %}{% for c in cohorts %}<td>{{ fmt(r.first[c], 0) }}</td>{% endfor %}{% endif %}
    <td class="text">{{ r.test.test or "–" }} {{ fmt(r.test.statistic, 1) }}</td><td>{{ fmt_p(r.test.p) }}</td><td>{{ fmt_p(r.test.p_holm) }}</td><td>{{ fmt(r.test.effect_size) }}</td></tr>{% endfor %}</tbody></table>
  <p class="note">{{ block.note }}</p>
  {% endfor %}
</section>
{% endif %}

{% if single_rows or quantiles %}
<section id="other">
  <h2>Other items</h2>
  {% if single_rows %}
  <h3>Single ordinal items</h3>
  <table><thead><tr><th>Item</th><th class="text">Text</th>{% for c in cohorts %}<th>Median {{ c }} (n)</th>{% endfor %}<th>Test</th><th>p</th><th>p (Holm)</th><th>Effect size</th><th>Shift [95% CI]</th></tr></thead><tbody>
  {% for r in single_rows %}<tr><td>{{ r.variable }}</td><td class="text">{{ r.text }}</td>{% for c in cohorts %}<td>{{ fmt(r['median_' ~ c]) }} ({{ r['n_' ~ c] }})</td>{% endfor %}
    <td class="text">{{ r.test }} {{ fmt(r.statistic, 1) }}</td><td>{{ fmt_p(r.p) }}</td><td>{{ fmt_p(r.p_holm) }}</td><td>{{ fmt(r.effect_size) }}</td>
    <td>{% if r.hl_shift is defined %}{{ fmt(r.hl_shift) }} {{ fmt_ci(r.hl_ci_low, r.hl_ci_high) }}{% else %}–{% endif %}</td></tr>{% endfor %}</tbody></table>
  {% endif %}
  {% for q in quantiles %}
  <h3>{{ q.title }}</h3>
  <figure><img src="{{ q.figure }}" alt="{{ q.title }}: medians of the experts' quantiles by cohort"></figure>
  <table><thead><tr><th>Quantile</th><th class="text">Group</th><th>n</th><th>Median</th><th>IQR (Q1–Q3)</th><th>Mean</th><th>SD</th></tr></thead><tbody>
  {% for r in q.rows %}<tr><td>{{ r.level }}</td><td class="text">{{ r.cohort }}</td><td>{{ r.n }}</td><td>{{ fmt(r.median) }}</td><td>{{ fmt(r.q1) }}–{{ fmt(r.q3) }}</td><td>{{ fmt(r.mean) }}</td><td>{{ fmt(r.sd) }}</td></tr>{% endfor %}</tbody></table>
  {% if q.tests %}<table><thead><tr><th>Compared</th><th>Test</th><th>p</th><th>p (Holm)</th><th>Effect size</th><th>Shift [95% CI]</th></tr></thead><tbody>
  {% for r in q.tests %}<tr><td>{{ r.variable }}</td><td>{{ r.test }} {{ fmt(r.statistic, 1) }}</td><td>{{ fmt_p(r.p) }}</td><td>{{ fmt_p(r.p_holm) }}</td><td>{{ fmt(r.effect_size) }}</td>
    <td>{% if r.hl_shift is defined %}{{ fmt(r.hl_shift) }} {{ fmt_ci(r.hl_ci_low, r.hl_ci_high) }}{% else %}–{% endif %}</td></tr>{% endfor %}</tbody></table>{% endif %}
  <p class="note">Each expert gave {{ q.levels|join(", ") }} quantiles; "width" is the highest minus the lowest, the expert's stated uncertainty. The table gives the median and spread of the experts' answers.</p>
  {% endfor %}
</section>
{% endif %}

{% macro records_table(rows, caption) -%}
{%- if rows %}
<table><caption>{{ caption }}</caption>
  <thead><tr>{% for key in rows[0].keys() %}<th scope="col">{{ key }}</th>{% endfor %}</tr></thead>
  <tbody>{% for row in rows %}<tr>{% for value in row.values() %}<td>{% if value is number and value is not boolean %}{{ fmt(value, 3) }}{% else %}{{ value if value is not none else "–" }}{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table>
{%- endif %}
{%- endmacro %}
{% if delphi %}
<section id="delphi">
  <h2>Delphi rounds: consensus and stability</h2>
  <p>The data hold rounds {{ delphi.rounds|join(", ") }}. Consensus rule: {{ delphi.rule }}</p>
  {{ records_table(delphi.consensus, "Consensus per round, cohort and item") }}
  {{ records_table(delphi.stability, "Stability of each expert's answers between consecutive rounds") }}
  <p class="note">Quartiles: linear interpolation (Hyndman &amp; Fan type 7). Stability: Wilcoxon signed-rank on each expert's
    change (Wilcoxon 1945); McNemar (1947) / Bowker (1948) for categorical items.</p>
</section>
{% endif %}
{% if confidence %}
<section id="confidence">
  <h2>Confidence-weighted answers</h2>
  <p>For items that asked experts how confident they were (1 = not at all, 5 = very), the mean answer next to the
    mean weighted by each expert's confidence. "Don't know" answers are missing, never values.</p>
  {{ records_table(confidence, "Answers weighted by the experts' confidence") }}
</section>
{% endif %}
{% if cooke %}
<section id="cooke">
  <h2>Structured expert judgement: Cooke's classical model</h2>
  <p>Seed questions: {{ cooke.seeds|join(", ") }}{% if cooke.targets %}; target questions: {{ cooke.targets|join(", ") }}{% endif %}.
    Significance cut-off α = {{ fmt(cooke.results.cutoff, 4) }}.</p>
  <p>Settings that change the numbers:
    {% for key, value in cooke.results.settings.items() %}{{ key }} = {{ value }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>
  {{ records_table(cooke.results.experts, "Experts: calibration, information and weights") }}
  {{ records_table(cooke.results.decision_makers, "Decision makers: performance-weighted and equal-weight") }}
  {% if cooke.figure %}<figure><img src="{{ cooke.figure }}" alt="Each expert's and the decision makers' 5 to 95 per cent ranges against the realizations of the seed questions"><figcaption>Ranges against realizations.</figcaption></figure>{% endif %}
  <p class="note">Cooke (1991) Experts in Uncertainty; Cooke &amp; Goossens (2008) Reliability Engineering &amp; System Safety 93:657–674.</p>
</section>
{% endif %}
<section id="provenance">
  <h2>Provenance</h2>
  <table><tbody>
    <tr><td>Study</td><td class="text">{{ study.title or "" }} {% if study.slug %}({{ study.slug }}){% endif %} {% if study.anonymity %}· {{ study.anonymity }}{% endif %}</td></tr>
    {% for v in instrument.versions %}<tr><td>Instrument {{ instrument.id }} {{ v.version }}</td><td class="text">sha256 <code>{{ v.sha256 or "not recorded" }}</code></td></tr>{% endfor %}
    <tr><td>Export manifest</td><td class="text">{% if manifest_sha %}sha256 <code>{{ manifest_sha }}</code>{% else %}manifest.json missing{% endif %}</td></tr>
    {% for name, digest in checksums.items() if name != "manifest.json" %}<tr><td>{{ name }}</td><td class="text">sha256 <code>{{ digest }}</code></td></tr>{% endfor %}
    <tr><td>Software</td><td class="text">{% for k, v in software.items() %}{{ k }} {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</td></tr>
    <tr><td>Generated</td><td class="text">{{ results.meta.generated_at }}</td></tr>
  </tbody></table>
  <p class="note">References: Cronbach (1951); Feldt, Woodruff &amp; Salih (1987); McDonald (1999); Jöreskog (1967); Shrout &amp; Fleiss (1979);
    McGraw &amp; Wong (1996); Kendall &amp; Babington Smith (1939); Krippendorff (2011); Friedman (1937); Wilcoxon (1945); Mann &amp; Whitney (1947);
    Hodges &amp; Lehmann (1963); Kerby (2014); Welch (1947); Hedges &amp; Olkin (1985); Holm (1979); Greenhouse &amp; Geisser (1959); Heiberger &amp; Robbins (2014).</p>
</section>
</body>
</html>
"""


def _distribution_text(distribution: Any, item: str, cohort: str) -> str:
    sub = distribution[(distribution["item"] == item) & (distribution["cohort"] == cohort)]
    return " · ".join(f"{r.code}: {r.count}" for r in sub.itertuples()) if len(sub) else ""


def render_report(
    analysis: Analysis, results: Mapping[str, Any], title: str | None = None, introduction: str | None = None
) -> str:
    """Render the report for an :class:`Analysis` and its results document as one HTML string."""
    book = analysis.export.codebook
    # The analysis holds only what may be shown under the export's k (elicit.analysis.disclosure), as
    # results.json does: the report renders it and says which cohorts it hides, never their sizes.
    cohorts = list(analysis.cohorts)
    present = {str(row["cohort"]): row for row in as_records(analysis.overview)}
    labels = {c.code: c.label for c in book.cohorts} | {ALL: "All respondents"}
    hidden_row = {
        "n": "hidden",
        "instrument_versions": "",
        "languages": "",
        "first_submitted": "",
        "last_submitted": "",
    }
    overview_rows = [
        present.get(code) or {"cohort": code, "label": labels.get(code, code), **hidden_row}
        for code in (ALL, *book.cohort_codes)
        if code in present or code in analysis.suppressed
    ]
    scale_labels = {s.name: s.label for s in book.scales}
    scale_names = [s.name for s in book.scales]
    ranges = [book.item(i).code_range for s in book.scales for i in s.items]
    value_range = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else (float("nan"),) * 2
    reverse_items = {i for s in book.scales for i in s.reverse} | {i.id for i in book.items if i.reverse}

    reliability_rows, reliability_detail = [], []
    for r in analysis.reliability:
        label = scale_labels.get(r.scale, r.scale)
        reliability_rows.append(
            {
                "label": label,
                "group": r.group,
                "n": r.n,
                "alpha": r.alpha.alpha,
                "ci": fmt_ci(r.alpha.ci_low, r.alpha.ci_high),
                "std": r.alpha.standardized,
                "omega": r.omega.omega,
            }
        )
        loadings = dict(zip(r.item_total["item"], r.omega.fit.loadings, strict=True)) if r.omega.fit else {}
        item_stats = [{**row, "loading": loadings.get(row["item"])} for row in as_records(r.item_total)]
        reliability_detail.append(
            {
                "label": label,
                "group": r.group,
                "interpretation": r.interpretation,
                "n": r.n,
                "n_excluded": r.n_excluded,
                "std": r.alpha.standardized,
                "mean_r": r.alpha.mean_inter_item_r,
                "omega": r.omega.omega,
                "omega_std": r.omega.omega_standardized,
                "omega_note": r.omega.note,
                "item_stats": item_stats,
            }
        )

    between_rows = [
        {**row, "label": scale_labels.get(row["variable"], row["variable"])}
        for row in as_records(analysis.between)
    ]
    mixed_rows = as_records(analysis.mixed)

    likert = book.items_of_type("likert")
    likert_figures = []
    if likert:
        groups: dict[tuple[float, ...], list[Any]] = {}
        for item in likert:
            groups.setdefault(tuple(c.value for c in item.choices), []).append(item)
        for cohort in cohorts:
            for items in groups.values():
                likert_figures.append(
                    {
                        "cohort": cohort,
                        "uri": figures.diverging_likert(
                            analysis.distribution, items, cohort, sorted(reverse_items)
                        ),
                    }
                )
    scale_figure = leverage_figure = None
    # a cohort's scores are missing where the scale's table leaves it out, so there may be nothing to draw
    if scale_names and cohorts and analysis.scores[scale_names].notna().to_numpy().any():
        scale_figure = figures.scale_distributions(
            analysis.scores, scale_names, cohorts, scale_labels, value_range
        )
        leverage_figure = figures.leverage_comparison(
            analysis.scores, scale_names, cohorts, scale_labels, value_range
        )

    item_rows = []
    for row in as_records(analysis.item_descriptives):
        text = (
            _distribution_text(analysis.distribution, row["item"], row["cohort"])
            if row["type"] == "likert"
            else ""
        )
        item_rows.append({**row, "distribution": text})

    agreement_blocks = [
        {
            "cohort": c,
            "n_raters": a.n_raters,
            "n_raters_complete": a.n_raters_complete,
            "kendall": a.kendall,
            "krippendorff_alpha": a.krippendorff_alpha,
            "icc_rows": as_records(a.icc),
            "warnings": a.warnings,
        }
        for c, a in analysis.agreement.items()
    ]
    within_blocks = [
        {
            "cohort": g,
            "n": w.n,
            "friedman": w.friedman,
            "rm": w.rm_anova,
            "posthoc": as_records(w.posthoc),
            "normality": w.normality,
        }
        for g, w in analysis.within.items()
    ]

    def tests_by_part(tests: Any) -> dict[str, dict[str, Any]]:
        return {row["variable"]: row for row in as_records(tests)}

    allocation_blocks = []
    for comp in analysis.allocations:
        tests = tests_by_part(comp.tests)
        rows = []
        for part in dict.fromkeys(comp.summary["part"]):
            sub = comp.summary[comp.summary["part"] == part].set_index("cohort")
            rows.append(
                {
                    "label": sub["label"].iloc[0],
                    "stats": {
                        c: f"{fmt(sub.loc[c, 'mean'], 1)} ({fmt(sub.loc[c, 'sd'], 1)})"
                        if c in sub.index
                        else "–"
                        for c in cohorts
                    },
                    "test": tests.get(part, {}),
                }
            )
        allocation_blocks.append(
            {
                "kind": "allocation",
                "title": f"{comp.item.id}: {comp.item.text}".strip(": "),
                "rows": rows,
                "stat_label": "Mean % (SD)",
                "figure": figures.allocation_chart(comp.summary, cohorts, comp.item.id),
                "note": "Shares of each expert's total (constant sum). Mann–Whitney per part, Holm across the parts. "
                "The parts of a composition are not independent (Aitchison 1986): one share can only rise "
                "if another falls.",
            }
        )
    ranking_blocks = []
    for comp in analysis.rankings:
        tests = tests_by_part(comp.tests)
        rows = []
        for part in dict.fromkeys(comp.summary["part"]):
            sub = comp.summary[comp.summary["part"] == part].set_index("cohort")
            rows.append(
                {
                    "label": sub["label"].iloc[0],
                    "stats": {c: fmt(sub.loc[c, "mean_rank"]) if c in sub.index else "–" for c in cohorts},
                    "first": {c: sub.loc[c, "first_percent"] if c in sub.index else None for c in cohorts},
                    "test": tests.get(part, {}),
                }
            )
        ranking_blocks.append(
            {
                "kind": "ranking",
                "title": f"{comp.item.id}: {comp.item.text}".strip(": "),
                "rows": rows,
                "stat_label": "Mean rank",
                "figure": figures.ranking_chart(comp.summary, cohorts, comp.item.id),
                "note": "Rank 1 = first. Mann–Whitney on the ranks given to each choice, Holm across the choices.",
            }
        )
    quantile_blocks = []
    for comp in analysis.quantiles:
        levels = [lv for lv in dict.fromkeys(comp.summary["level"]) if lv != "width"]
        quantile_blocks.append(
            {
                "title": f"{comp.item.id}: {comp.item.text}".strip(": "),
                "rows": as_records(comp.summary),
                "tests": as_records(comp.tests),
                "levels": levels,
                "figure": figures.quantile_chart(comp.summary, cohorts, comp.item.id, comp.item.unit),
            }
        )
    texts = {i.id: i.text for i in book.items}
    single_rows = [
        {**row, "text": texts.get(row["variable"], "")} for row in as_records(analysis.single_items)
    ]

    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    template = env.from_string(TEMPLATE)
    meta = results.get("meta", {})
    return template.render(
        title=title or f"Analysis report — {book.study.get('title') or book.study.get('slug') or 'study'}",
        introduction=introduction,
        study=book.study,
        instrument={"id": book.instrument.get("id"), "versions": book.instrument.get("versions") or []},
        results=results,
        software=meta.get("software", {}),
        overview=overview_rows,
        warnings=analysis.warnings,
        notes=analysis.notes,
        cohorts=cohorts,
        reliability_rows=reliability_rows,
        reliability_detail=reliability_detail,
        reverse_items=reverse_items,
        between_rows=between_rows,
        mixed_rows=mixed_rows,
        mixed_n=(int(analysis.mixed["n_subjects"].iloc[0]) if len(mixed_rows) else 0),
        leverage_figure=leverage_figure,
        scale_figure=scale_figure,
        likert_figures=likert_figures,
        value_range=value_range,
        score_rows=as_records(analysis.score_descriptives),
        item_rows=item_rows,
        scales=[
            {"name": s.name, "label": s.label, "members": s.items, "reverse": s.reverse} for s in book.scales
        ],
        missing_rules=MISSING_DATA_RULES,
        test_choice=TEST_CHOICE,
        corrections=CORRECTIONS,
        agreement_design=describe_agreement_design(analysis),
        agreement=agreement_blocks,
        within=within_blocks,
        allocations=allocation_blocks,
        rankings=ranking_blocks,
        quantiles=quantile_blocks,
        single_rows=single_rows,
        delphi=(
            {
                "rounds": analysis.delphi.rounds,
                "rule": analysis.delphi.rule.describe(),
                "consensus": as_records(analysis.delphi.consensus),
                "stability": as_records(analysis.delphi.stability),
            }
            if analysis.delphi is not None
            else None
        ),
        confidence=as_records(analysis.confidence),
        cooke=(
            {
                "results": results.get("cooke", {}),
                "figure": analysis.cooke.figure,
                "seeds": analysis.cooke.seeds,
                "targets": analysis.cooke.targets,
            }
            if analysis.cooke is not None
            else None
        ),
        checksums=dict(analysis.export.checksums),
        manifest_sha=analysis.export.checksums.get("manifest.json"),
        fmt=fmt,
        fmt_p=fmt_p,
        fmt_ci=fmt_ci,
        p_eq=p_eq,
    )
