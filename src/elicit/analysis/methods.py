"""A methods paragraph for a paper, written from what the run did, with the references it used and no others.

Every sentence reads ``results.json`` (the document :func:`elicit.analysis.results.build_results` makes): which
sections exist, and, for each test, the ``test`` it ran and the ``method`` of its p-value and interval as the
computing module recorded them (``p_method``, ``method``, ``ci_method``, ``ci_of``...). A method added to the
analysis later is therefore described as soon as it records its name, and its reference is listed when the name
matches a pattern in :data:`REFERENCES`. The references list holds only the works whose method appears in the
paragraph or in a recorded method name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["REFERENCES", "methods_summary"]

#: (pattern in the methods text or a recorded method name, the reference in APA style).
REFERENCES: tuple[tuple[str, str], ...] = (
    (
        r"Mann.Whitney",
        "Mann, H. B., & Whitney, D. R. (1947). On a test of whether one of two random variables is "
        "stochastically larger than the other. Annals of Mathematical Statistics, 18(1), 50–60.",
    ),
    (
        r"Wilcoxon",
        "Wilcoxon, F. (1945). Individual comparisons by ranking methods. Biometrics Bulletin, 1(6), 80–83.",
    ),
    (
        r"Friedman",
        "Friedman, M. (1937). The use of ranks to avoid the assumption of normality implicit in the "
        "analysis of variance. Journal of the American Statistical Association, 32(200), 675–701.",
    ),
    (
        r"Kendall's W|Kendall W|kendall_w",
        "Kendall, M. G., & Babington Smith, B. (1939). The problem of m rankings. "
        "Annals of Mathematical Statistics, 10(3), 275–287.",
    ),
    (
        r"Holm",
        "Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of "
        "Statistics, 6(2), 65–70.",
    ),
    (
        r"Benjamini|false discovery|FDR",
        "Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery "
        "rate: A practical and powerful approach to multiple testing. Journal of the Royal Statistical Society B, "
        "57(1), 289–300.",
    ),
    (
        r"Krippendorff",
        "Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg School for "
        "Communication, University of Pennsylvania.",
    ),
    (
        r"Fleiss' kappa|Fleiss kappa|fleiss",
        "Fleiss, J. L. (1971). Measuring nominal scale agreement among many "
        "raters. Psychological Bulletin, 76(5), 378–382.",
    ),
    (
        r"intraclass|ICC",
        "Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: Uses in assessing rater "
        "reliability. Psychological Bulletin, 86(2), 420–428.",
    ),
    (
        r"intraclass|ICC",
        "McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation "
        "coefficients. Psychological Methods, 1(1), 30–46.",
    ),
    (
        r"Cronbach",
        "Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests. Psychometrika, "
        "16(3), 297–334.",
    ),
    (
        r"Feldt",
        "Feldt, L. S. (1965). The approximate sampling distribution of Kuder-Richardson reliability "
        "coefficient twenty. Psychometrika, 30(3), 357–370.",
    ),
    (r"McDonald|omega", "McDonald, R. P. (1999). Test theory: A unified treatment. Lawrence Erlbaum."),
    (
        r"Hodges.Lehmann",
        "Hodges, J. L., & Lehmann, E. L. (1963). Estimates of location based on rank tests. "
        "Annals of Mathematical Statistics, 34(2), 598–611.",
    ),
    (
        r"rank-biserial",
        "Kerby, D. S. (2014). The simple difference formula: An approach to teaching "
        "nonparametric correlation. Comprehensive Psychology, 3, 11.IT.3.1.",
    ),
    (
        r"Welch",
        "Welch, B. L. (1947). The generalization of 'Student's' problem when several different population "
        "variances are involved. Biometrika, 34(1–2), 28–35.",
    ),
    (r"Hedges", "Hedges, L. V., & Olkin, I. (1985). Statistical methods for meta-analysis. Academic Press."),
    (
        r"Greenhouse",
        "Greenhouse, S. W., & Geisser, S. (1959). On methods in the analysis of profile data. "
        "Psychometrika, 24(2), 95–112.",
    ),
    (
        r"BCa",
        "Efron, B. (1987). Better bootstrap confidence intervals. Journal of the American Statistical "
        "Association, 82(397), 171–185.",
    ),
    (
        r"bootstrap",
        "Efron, B., & Tibshirani, R. J. (1993). An introduction to the bootstrap. Chapman & Hall.",
    ),
    (
        r"McNemar",
        "McNemar, Q. (1947). Note on the sampling error of the difference between correlated proportions "
        "or percentages. Psychometrika, 12(2), 153–157.",
    ),
    (
        r"Bowker",
        "Bowker, A. H. (1948). A test for symmetry in contingency tables. Journal of the American "
        "Statistical Association, 43(244), 572–574.",
    ),
    (
        r"Aitchison|log-ratio|CLR|clr",
        "Aitchison, J. (1986). The statistical analysis of compositional data. Chapman & Hall.",
    ),
    (
        r"Cooke's classical model|Cooke",
        "Cooke, R. M. (1991). Experts in uncertainty: Opinion and subjective "
        "probability in science. Oxford University Press.",
    ),
    (
        r"SHELF|fitted by least squares",
        "O'Hagan, A., Buck, C. E., Daneshkhah, A., Eiser, J. R., Garthwaite, P. H., "
        "Jenkinson, D. J., Oakley, J. E., & Rakow, T. (2006). Uncertain judgements: Eliciting experts' "
        "probabilities. Wiley.",
    ),
    (
        r"logarithmic pool",
        "Genest, C., & Zidek, J. V. (1986). Combining probability distributions: A critique and "
        "an annotated bibliography. Statistical Science, 1(1), 114–135.",
    ),
    (
        r"linear pool",
        "Stone, M. (1961). The opinion pool. Annals of Mathematical Statistics, 32(4), 1339–1342.",
    ),
    (
        r"IDEA",
        "Hemming, V., Burgman, M. A., Hanea, A. M., McBride, M. F., & Wintle, B. C. (2018). A practical "
        "guide to structured expert elicitation using the IDEA protocol. Methods in Ecology and Evolution, 9(1), "
        "169–180.",
    ),
    (
        r"Delphi",
        "von der Gracht, H. A. (2012). Consensus measurement in Delphi studies: Review and implications "
        "for future quality assurance. Technological Forecasting and Social Change, 79(8), 1525–1536.",
    ),
    (
        r"ordinal regression|differential item functioning|DIF",
        "Zumbo, B. D. (1999). A handbook on the theory and "
        "methods of differential item functioning (DIF): Logistic regression modeling as a unitary framework for "
        "binary and Likert-type (ordinal) item scores. Ottawa: Directorate of Human Resources Research and "
        "Evaluation.",
    ),
)

#: Keys whose text names a method (the test run, how its p-value or interval was computed).
_METHOD_KEY = re.compile(r"(^|_)(method|test|ci_of|correction|test_name)$")
#: Sections described by their own sentences below; any other section is described from its method names.
_DESCRIBED = frozenset(
    {
        "format",
        "k",
        "suppressed_groups",
        "disclosure_rule",
        "meta",
        "warnings",
        "sample",
        "descriptives",
        "reliability",
        "agreement",
        "comparisons",
        "delphi",
        "cooke",
        "judgements",
        "rounds_compared",
        "confidence",
        "participant_flow",
        "tables",
        "methods",
    }
)


def _methods_in(node: Any) -> Iterator[tuple[str, str]]:
    """Every (key, text) pair under ``node`` whose key names a method."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(value, str) and _METHOD_KEY.search(str(key)) and value:
                yield str(key), value
            else:
                yield from _methods_in(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _methods_in(value)


def _counted(names: Counter[str]) -> str:
    """ "exact (3 tests), normal approximation (2 tests)" in order of frequency."""
    return "; ".join(f"{name} ({n} {'test' if n == 1 else 'tests'})" for name, n in names.most_common())


def _tests(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every mapping under ``node`` that records a test (a ``test`` name and a ``p``)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("test"), str) and "p" in node:
            yield node
        for value in node.values():
            yield from _tests(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _tests(value)


def _comparisons_sentence(label: str, node: Any) -> str | None:
    tests = list(_tests(node))
    if not tests:
        return None
    names = Counter(str(t["test"]) for t in tests)
    p_methods = Counter(
        str(t.get("p_method") or t.get("method")) for t in tests if t.get("p_method") or t.get("method")
    )
    intervals = Counter(
        str((t.get("hodges_lehmann") or {}).get("method") or t.get("ci_method"))
        for t in tests
        if (t.get("hodges_lehmann") or {}).get("method") or t.get("ci_method")
    )
    sentence = f"{label}: {_counted(names)}"
    if p_methods:
        sentence += f"; p-values by {_counted(p_methods)}"
    if intervals:
        shifts = {str(t.get("ci_of")) for t in tests if t.get("ci_of")}
        of = f" ({'; '.join(sorted(shifts))})" if shifts else ""
        sentence += f"; intervals{of} by {_counted(intervals)}"
    return sentence + "."


def methods_summary(results: Mapping[str, Any]) -> dict[str, Any]:
    """The methods paragraphs (plain sentences) and the references they use, from a results document."""
    meta = results.get("meta") or {}
    paragraphs: list[str] = []
    sample = results.get("sample") or []
    groups = ", ".join(
        f"{row.get('cohort')} (n = {row.get('n')})" for row in sample if row.get("cohort") != "all"
    )
    opening = f"Round {meta.get('round')} of the study was analysed"
    if groups:
        opening += f": {groups}"
    opening += "."
    if results.get("k") is not None:
        opening += (
            f" Groups of fewer than k = {results['k']} respondents, and what would give them back, are not shown"
            + (
                f" ({', '.join(results.get('suppressed_groups') or [])} hidden)."
                if results.get("suppressed_groups")
                else "."
            )
        )
    if results.get("participant_flow"):
        opening += " The participant flow (invited, started, declined, submitted, analysed) is tabulated per round and cohort."
    paragraphs.append(opening)

    measures = []
    if meta.get("scales"):
        measures.append(
            "Scale scores are the mean of each scale's items after reverse keying; internal consistency is Cronbach's "
            "alpha with the Feldt interval and McDonald's omega total from a one-factor model"
        )
    agreement = results.get("agreement") or {}
    if agreement:
        measures.append(
            "agreement among the experts of each cohort is given by intraclass correlations (ICC), Kendall's W and "
            "Krippendorff's alpha"
            + (f" ({meta['agreement_design']})" if meta.get("agreement_design") else "")
        )
    if measures:
        paragraphs.append("; ".join(measures) + ".")

    comparisons = results.get("comparisons") or {}
    sentences = [
        _comparisons_sentence(
            "Between cohorts, scale scores were compared with", comparisons.get("between_cohorts")
        ),
        _comparisons_sentence(
            "Within cohorts, the scales were compared with", comparisons.get("within_cohort")
        ),
        _comparisons_sentence("Single ordinal items were compared with", comparisons.get("single_items")),
        _comparisons_sentence(
            "Constant-sum, ranking and quantile items were compared with",
            [comparisons.get(key) for key in ("allocations", "rankings", "quantiles")],
        ),
    ]
    paragraphs.extend(s for s in sentences if s)
    between = [e for e in (comparisons.get("between_cohorts") or {}).values() if isinstance(e, Mapping)]
    if any(e.get("welch") for e in between):
        paragraphs.append(
            "Welch's t-test with Hedges' g (and its interval) is reported beside each rank test; normality is "
            "checked with Shapiro–Wilk per cohort and equality of variances with the Brown–Forsythe test."
        )
    if (comparisons.get("mixed_anova") or {}).get("table"):
        paragraphs.append(
            "A cohort × scale mixed ANOVA (partial eta squared) is reported beside the rank tests, with "
            "Greenhouse–Geisser corrected p-values."
        )
    corrections = meta.get("corrections")
    if corrections:
        paragraphs.append(str(corrections))

    if results.get("delphi"):
        delphi = results["delphi"]
        paragraphs.append(
            f"Delphi rounds {', '.join(map(str, delphi.get('rounds') or []))}: {delphi.get('consensus_rule')} "
            "Stability between rounds: Wilcoxon signed-rank tests on each expert's change, McNemar or Bowker "
            "symmetry tests for categorical items."
        )
    if results.get("cooke"):
        cooke = results["cooke"]
        paragraphs.append(
            f"Cooke's classical model on {cooke.get('n_seeds')} seed question(s) gives each expert a calibration and "
            f"an information score; the decision maker reported is {cooke.get('reported_dm')}."
        )
    if results.get("judgements"):
        judgements = results["judgements"]
        paragraphs.append(f"{judgements.get('method')} {judgements.get('pools')}".strip())
    if results.get("rounds_compared"):
        paragraphs.append(str(results["rounds_compared"].get("method") or ""))
    for key, section in results.items():  # sections other helpers add: described from the methods they record
        if key in _DESCRIBED:
            continue
        # its own note when it has one, and the methods it names in words (not bare codes such as "holm")
        note = (
            section.get("note")
            if isinstance(section, Mapping) and isinstance(section.get("note"), str)
            else ""
        )
        names = [n for n in dict.fromkeys(text for _, text in _methods_in(section)) if " " in n and n != note]
        if note or names:
            text = " ".join(part for part in (note, "; ".join(names[:12]) + "." if names else "") if part)
            paragraphs.append(f"{key.replace('_', ' ').capitalize()}: {text}")
    # sentences end once even where a recorded text ends with its own full stop
    paragraphs = [re.sub(r"\.\)\.$", ").", re.sub(r"\.\.$", ".", p.strip())) for p in paragraphs if p]

    corpus = " ".join(paragraphs) + " " + " ".join(text for _, text in _methods_in(results))
    references = list(dict.fromkeys(ref for pattern, ref in REFERENCES if re.search(pattern, corpus)))
    return {"paragraphs": paragraphs, "references": sorted(references)}
