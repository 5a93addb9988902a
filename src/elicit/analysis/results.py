"""The machine-readable results (``results.json``), structured as DESIGN.md "Analysis results" documents.

The document renders the same :class:`~elicit.analysis.pipeline.Analysis` as the HTML report, so it shows the
groups the report shows and no others (the decisions are the analysis's, :mod:`elicit.analysis.disclosure`).
At its top, ``k`` is the study's k and ``suppressed_groups`` names the groups hidden throughout.
"""

from __future__ import annotations

import copy
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, cast

import pandas as pd

from .agreement import categorical_results
from .comparisons import inference_settings, interval_entry
from .compositional import COMPOSITION_METHOD, RANKING_METHOD, results_block
from .flow import participant_flow
from .hypotheses import hypotheses_results
from .invariance import measurement_results
from .json_values import json_safe
from .judgement import GIVEN_WEIGHTS_METHOD, METHOD, POOLS
from .methods import methods_summary
from .pipeline import (
    CORRECTIONS,
    MISSING_DATA_RULES,
    TEST_CHOICE,
    Analysis,
    as_records,
    describe_agreement_design,
)
from .rounds_compared import METHOD as ROUNDS_METHOD

__all__ = ["FORMAT", "build_results", "software_versions"]

FORMAT = "elicit-analysis/1"

DISCLOSURE_RULE = (
    "A cohort of 1 to k-1 respondents is left out of every section, and so is whatever would give it back as "
    "'all' minus the cohorts shown (the next smallest cohort, or 'all'); comparisons between cohorts are then "
    "left out too. Within a section, a group is also left out of an item, a scale or a test that fewer than k of "
    "it answered, with its complement. Left-out groups have no entry; a zero is shown (it names nobody)."
)

#: The k-anonymity report's counts of the export's small classes (1 to k-1 respondents each): the export's, kept
#: out of the copy of its manifest here, as are the counts of the cohorts the results leave out.
CLASS_SIZES = (
    "smallest_class",
    "classes_below_k",
    "class_sizes_below_k",
    "respondents_below_k",
    "rows_below_k",
    "rows_suppressed",
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def software_versions() -> dict[str, str]:
    """Versions of Elicit and of the libraries that computed the results."""
    versions = {"elicit": _version("elicit"), "python": platform.python_version()}
    packages = ("numpy", "pandas", "scipy", "pingouin", "krippendorff", "statsmodels", "matplotlib", "jinja2")
    for package in packages:
        versions[package] = _version(package)
    return versions


def _between_entry(row: Mapping[str, Any], groups: tuple[str, ...]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "test": row.get("test"),
        "statistic": row.get("statistic"),
        "p": row.get("p"),
        "p_holm": row.get("p_holm"),
        "p_method": row.get("p_method"),
        "effect_size": row.get("effect_size"),
        "effect_size_name": row.get("effect_size_name"),
        "effect_size_ci": interval_entry(row, "effect_size"),
        "groups": list(groups),
        "n": {g: row.get(f"n_{g}") for g in groups},
        "median": {g: row.get(f"median_{g}") for g in groups},
        "mean": {g: row.get(f"mean_{g}") for g in groups},
        "sd": {g: row.get(f"sd_{g}") for g in groups},
        "assumptions": {
            "shapiro_wilk_p": {g: row.get(f"shapiro_p_{g}") for g in groups},
            "brown_forsythe_p": row.get("levene_p"),
        },
    }
    if row.get("test") == "Mann-Whitney U":
        entry.update(
            ci=[row.get("hl_ci_low"), row.get("hl_ci_high")],
            ci_of=f"Hodges-Lehmann shift ({groups[0]} minus {groups[1]}), 95% requested",
            hodges_lehmann={
                "shift": row.get("hl_shift"),
                "ci": [row.get("hl_ci_low"), row.get("hl_ci_high")],
                "method": row.get("hl_ci_method"),
                "confidence": row.get("hl_ci_confidence"),
            },
            welch={
                "t": row.get("welch_t"),
                "df": row.get("welch_df"),
                "p": row.get("welch_p"),
                "p_holm": row.get("welch_p_holm"),
                "p_method": row.get("welch_p_method"),
                "mean_diff": row.get("mean_diff"),
                "ci": [row.get("mean_diff_ci_low"), row.get("mean_diff_ci_high")],
            },
            hedges_g={
                "g": row.get("hedges_g"),
                "ci": [row.get("hedges_g_ci_low"), row.get("hedges_g_ci_high")],
            },
        )
    else:
        entry.update(df=row.get("df"), ci=[None, None], ci_of=None)
    return entry


def _between_block(frame: pd.DataFrame, groups: tuple[str, ...]) -> dict[str, Any]:
    return {row["variable"]: _between_entry(row, groups) for row in as_records(frame)}


def published_manifest(
    manifest: Mapping[str, Any] | None, suppressed: tuple[str, ...]
) -> tuple[dict[str, Any] | None, list[str]]:
    """A copy of the export's manifest for the results, and the dotted paths of what it leaves out.

    Left out: the counts of the ``suppressed`` cohorts (in ``counts``, ``counts.by_cohort`` and
    ``participant_flow``) and the sizes of the small classes in
    the k-anonymity report (:data:`CLASS_SIZES`). The copy no longer hashes to ``manifest_sha256``, which stays the
    export's own.
    """
    if not manifest:
        return None, []
    document = copy.deepcopy(dict(manifest))
    omitted = []
    counts = document["counts"] if isinstance(document.get("counts"), dict) else {}
    for path, table in (("counts", counts), ("counts.by_cohort", counts.get("by_cohort"))):
        if isinstance(table, dict):
            for code in [c for c in table if c in suppressed]:
                del table[code]
                omitted.append(f"{path}.{code}")
    flow = document.get("participant_flow")
    if isinstance(flow, dict):  # the flow's counts per cohort: the suppressed cohorts' are left out
        invitations = flow.get("invitations")
        if isinstance(invitations, dict):
            for code in [c for c in invitations if c in suppressed]:
                del invitations[code]
                omitted.append(f"participant_flow.invitations.{code}")
        for index, entry in enumerate(flow.get("rounds") or []):
            responses = entry.get("responses") if isinstance(entry, dict) else None
            if isinstance(responses, dict):
                for code in [c for c in responses if c in suppressed]:
                    del responses[code]
                    omitted.append(f"participant_flow.rounds.{index}.responses.{code}")
    report = (document.get("anonymization") or {}).get("k_anonymity")
    reports = {"anonymization.k_anonymity": report}
    if isinstance(report, dict):
        reports["anonymization.k_anonymity.after_suppression"] = report.get("after_suppression")
    for path, section in reports.items():
        if isinstance(section, dict):
            for key in [key for key in CLASS_SIZES if key in section]:
                del section[key]
                omitted.append(f"{path}.{key}")
    return document, omitted


def build_results(analysis: Analysis) -> dict[str, Any]:
    """The results document; every value JSON-safe (NaN -> ``None``)."""
    export = analysis.export
    book = export.codebook
    cohorts = analysis.cohorts

    reliability: dict[str, dict[str, Any]] = {}
    for r in analysis.reliability:
        loadings = dict(zip(r.item_total["item"], r.omega.fit.loadings, strict=True)) if r.omega.fit else {}
        reliability.setdefault(r.scale, {})[r.group] = {
            "n": r.n,
            "n_excluded": r.n_excluded,
            "k": r.k,
            "alpha": r.alpha.alpha,
            "alpha_ci": [r.alpha.ci_low, r.alpha.ci_high],
            "alpha_ci_method": "Feldt (1965) F-distribution interval, 95%",
            "alpha_standardized": r.alpha.standardized,
            "mean_inter_item_r": r.alpha.mean_inter_item_r,
            "omega": r.omega.omega,
            "omega_standardized": r.omega.omega_standardized,
            "omega_model": "one-factor maximum likelihood (Joreskog 1967), omega total for the unit-weighted sum",
            "omega_note": r.omega.note or None,
            "factor_loadings": loadings,
            "item_total": as_records(r.item_total),
            "missing_data": "listwise: respondents with every item of the scale",
            "interpretation": r.interpretation,
        }

    agreement = {}
    for cohort, a in analysis.agreement.items():
        agreement[cohort] = {
            "raters": "experts",
            "targets": list(a.targets),
            "n_raters": a.n_raters,
            "n_raters_complete": a.n_raters_complete,
            "icc": {
                row["form"]: {
                    "shrout_fleiss": row["shrout_fleiss"],
                    "mcgraw_wong": row["mcgraw_wong"],
                    "description": row["description"],
                    "icc": row["icc"],
                    "F": row["F"],
                    "df1": row["df1"],
                    "df2": row["df2"],
                    "p": row["p"],
                    "ci": [row["ci_low"], row["ci_high"]],
                }
                for row in as_records(a.icc)
            },
            "kendall_w": a.kendall.w,
            "keying": a.keying,
            "kendall_w_test": {
                "chi2": a.kendall.chi2,
                "df": a.kendall.df,
                "p": a.kendall.p,
                "p_method": a.kendall_method,
                "p_chi2_approximation": a.kendall_p_asymptotic,
                "n_raters": a.kendall.m,
                "n_targets": a.kendall.n,
            },
            "krippendorff_alpha": a.krippendorff_alpha,
            "krippendorff_level": "ordinal",
            "warnings": list(a.warnings),
        }

    within = {}
    for group, w in analysis.within.items():
        within[group] = {
            "test": w.friedman["test"],
            "statistic": w.friedman["statistic"],
            "df": w.friedman["df"],
            "p": w.friedman["p"],
            "p_method": w.friedman.get("p_method"),
            "p_asymptotic": w.friedman.get("p_asymptotic"),
            "effect_size": w.friedman["kendall_w"],
            "effect_size_name": "Kendall's W",
            "effect_size_ci": interval_entry(w.friedman, "kendall_w"),
            "n": w.n,
            "posthoc": [
                {**row, "test": "Wilcoxon signed-rank", "effect_size_name": "matched-pairs rank-biserial r"}
                for row in as_records(w.posthoc)
            ],
            "posthoc_correction": "Holm",
            "rm_anova": w.rm_anova,
            "normality_shapiro_wilk_p": w.normality,
            "warnings": list(w.warnings),
        }

    mixed: dict[str, Any]
    if analysis.mixed.empty:
        mixed = {
            "table": [],
            "note": "not estimated (needs two cohorts with at least two complete respondents)",
        }
    else:
        mixed = {
            "design": "cohort (between) x scale (within)",
            "effect_size_name": "partial eta squared",
            "n_subjects": int(analysis.mixed["n_subjects"].iloc[0]),
            "table": as_records(analysis.mixed.drop(columns=["n_subjects"])),
            "p_note": "p is the permutation p-value where p_method says so (small samples), else the F test's; "
            "p_asymptotic is the F test's, Greenhouse-Geisser corrected for within effects with more than two levels",
        }

    def items_block(comparisons: Any, key: str) -> dict[str, Any]:
        block = {}
        for c in comparisons:
            tests = _between_block(c.tests, cohorts) if len(cohorts) >= 2 else {}
            block[c.item.id] = {"summary": as_records(c.summary), key: tests}
        return block

    versions = book.instrument.get("versions") or []
    manifest, omitted = published_manifest(export.manifest, analysis.suppressed)
    results: dict[str, Any] = {
        "format": FORMAT,
        "k": analysis.disclosure.k,
        "suppressed_groups": list(analysis.suppressed),
        "disclosure_rule": DISCLOSURE_RULE if analysis.disclosure.k is not None else None,
        "meta": {
            "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "software": software_versions(),
            "study": dict(book.study),
            "instrument": {"id": book.instrument.get("id"), "versions": list(versions)},
            "export": {
                "folder": export.folder.name,
                "checksums_sha256": dict(export.checksums),
                "manifest_sha256": export.checksums.get("manifest.json"),
                "manifest": manifest,
                "manifest_omitted": omitted,
            },
            "round": analysis.round,
            "cohorts": [{"code": c.code, "label": c.label} for c in book.cohorts],
            "scales": {
                s.name: {"label": s.label, "items": list(s.items), "reverse": list(s.reverse)}
                for s in book.scales
            },
            "missing_data": list(MISSING_DATA_RULES),
            "test_choice": TEST_CHOICE,
            "corrections": CORRECTIONS,
            "inference": inference_settings(),
            "agreement_design": describe_agreement_design(analysis),
            "notes": list(analysis.notes),
        },
        "warnings": list(analysis.warnings),
        "sample": as_records(analysis.overview),
        "descriptives": {
            "items": as_records(analysis.item_descriptives),
            "distribution": as_records(analysis.distribution),
            "choices": as_records(analysis.choice_counts),
            "dates": as_records(analysis.dates),
            "scales": as_records(analysis.score_descriptives),
        },
        "hypotheses": hypotheses_results(analysis.hypotheses),
        "reliability": reliability,
        "measurement": measurement_results(analysis.measurement),
        "agreement": agreement,
        "categorical_agreement": categorical_results(analysis.categorical_agreement),
        "comparisons": {
            "between_cohorts": _between_block(analysis.between, cohorts) if len(cohorts) >= 2 else {},
            "within_cohort": within,
            "mixed_anova": mixed,
            "single_items": _between_block(analysis.single_items, cohorts) if len(cohorts) >= 2 else {},
            **dict(  # the judged items, a section per field of the Analysis and named as it
                allocations=results_block(analysis.allocations, cohorts, COMPOSITION_METHOD),
                rankings=results_block(analysis.rankings, cohorts, RANKING_METHOD),
                quantiles=items_block(analysis.quantiles, "tests"),
            ),
            "corrections": CORRECTIONS,
        },
    }
    if analysis.delphi is not None:
        results["delphi"] = {
            "rounds": list(analysis.delphi.rounds),
            "consensus_rule": analysis.delphi.rule.describe(),
            "k": analysis.delphi.k,
            "suppressed": analysis.delphi.suppressed,
            "consensus": as_records(analysis.delphi.consensus),
            "stability": as_records(analysis.delphi.stability),
        }
    if analysis.cooke is not None:
        results["cooke"] = dict(analysis.cooke.results)
    if analysis.judgements:
        results["judgements"] = {
            "method": METHOD,
            "pools": POOLS,
            "given_weights": (
                {"method": GIVEN_WEIGHTS_METHOD, **analysis.weights.describe()}
                if analysis.weights is not None
                else None
            ),
            "items": {
                j.item.id: {
                    "elicitation": j.elicitation,
                    "support": {"lower": j.lower, "upper": j.upper},
                    "families": list(j.families),
                    "experts": as_records(j.fits),
                    "pooled": as_records(j.pooled),
                    "weights": j.weights,
                    "not_fitted": j.skipped,
                }
                for j in analysis.judgements
            },
        }
    compared = analysis.rounds_compared
    if compared is not None:
        results["rounds_compared"] = {
            "rounds": list(compared.rounds),
            "method": ROUNDS_METHOD,
            "items": {
                item: {
                    "rows": as_records(compared.table[compared.table["item"] == item].drop(columns=["item"])),
                    "left_out": list(compared.left_out.get(item, ())),
                }
                for item in dict.fromkeys(compared.table["item"])
            },
        }
    if not analysis.confidence.empty:
        results["confidence"] = as_records(analysis.confidence)
    flow = participant_flow(
        analysis
    )  # from the export's manifest, under the analysis's k (elicit.analysis.flow)
    if flow is not None:
        results["participant_flow"] = flow
    # last: the methods paragraph reads every section above (and those added after it, if kept above this line)
    results["methods"] = methods_summary(cast(dict[str, Any], json_safe(results)))
    return cast(dict[str, Any], json_safe(results))  # a Mapping comes back as a dict
