"""Statistics and the report for an anonymized export folder.

This package stands alone: it reads the files of an export folder (``data.csv``, ``codebook.json``,
``manifest.json``) and imports nothing from Flask, SQLAlchemy or the rest of Elicit but ``elicit.stats`` (the
Delphi consensus it shares with the studio and the export, re-exported here), so an analyst can use it without
the web application or its database.

The entry point is :func:`run_analysis`; the building blocks (reliability, agreement, comparisons) take tidy
DataFrames and return tidy DataFrames or frozen dataclasses.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .agreement import AgreementResult, KendallW, agreement, icc_table, kendall_w, krippendorff_alpha
from .comparisons import (
    WithinResult,
    between_groups,
    hedges_g,
    hodges_lehmann,
    holm,
    mann_whitney,
    mixed_anova,
    rank_biserial_paired,
    welch_t,
    wilcoxon_paired,
    within_subjects,
)
from .descriptives import (
    choice_counts,
    date_descriptives,
    describe,
    item_descriptives,
    item_distribution,
    sample_overview,
)
from .export_folder import Codebook, ExportData, Item, Kind, Scale, load_export, parse_codebook
from .given_weights import GivenWeights, WeightsError, read_weights
from .json_values import json_safe
from .pipeline import Analysis, analyze
from .reliability import (
    AlphaResult,
    OmegaResult,
    OneFactorFit,
    ScaleReliability,
    cronbach_alpha,
    item_total_statistics,
    mcdonald_omega,
    omega_from_loadings,
    one_factor_ml,
    scale_reliability,
)
from .report import render_report
from .results import build_results
from .scoring import reverse_key, scale_scores, scores_long

__all__ = [
    "AgreementResult",
    "AlphaResult",
    "Analysis",
    "Codebook",
    "ExportData",
    "GivenWeights",
    "Item",
    "KendallW",
    "Kind",
    "OmegaResult",
    "OneFactorFit",
    "Scale",
    "ScaleReliability",
    "WeightsError",
    "WithinResult",
    "agreement",
    "analyze",
    "between_groups",
    "build_results",
    "choice_counts",
    "cronbach_alpha",
    "date_descriptives",
    "describe",
    "hedges_g",
    "hodges_lehmann",
    "holm",
    "icc_table",
    "item_descriptives",
    "item_distribution",
    "item_total_statistics",
    "json_safe",
    "kendall_w",
    "krippendorff_alpha",
    "load_export",
    "mann_whitney",
    "mcdonald_omega",
    "mixed_anova",
    "omega_from_loadings",
    "one_factor_ml",
    "parse_codebook",
    "rank_biserial_paired",
    "read_weights",
    "render_report",
    "reverse_key",
    "run_analysis",
    "sample_overview",
    "scale_reliability",
    "scale_scores",
    "scores_long",
    "welch_t",
    "wilcoxon_paired",
    "within_subjects",
    "write_atomic",
]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written file; on failure the temporary file is removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: folder does not exist")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, mode)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_analysis(
    folder: Path,
    out_html: Path,
    out_json: Path | None = None,
    *,
    title: str | None = None,
    introduction: str | None = None,
    weights: Path | None = None,
) -> dict[str, Any]:
    """Analyse an export folder and write the HTML report (and ``results.json``).

    Parameters
    ----------
    folder
        The export folder (``data.csv`` + ``codebook.json`` [+ ``manifest.json``]).
    out_html
        Where to write the self-contained HTML report.
    out_json
        Where to write the results document (structure: DESIGN.md, "Analysis results"); optional. With it,
        every table of the report is also written as CSV to ``<stem>_tables/`` beside it, listed in ``tables``.
    title, introduction
        Optional framing for the report (used by study-specific pipelines).
    weights
        A CSV of researcher-given weights (``respondent,weight[,item]``, :mod:`.given_weights`) for the linear
        pool ``linear_given``; optional.

    Returns
    -------
    dict
        The results document (JSON-safe).

    Raises
    ------
    ValueError
        With a researcher-readable message when the folder is missing files, the codebook does not match the
        data, or there is nothing to analyse; :class:`WeightsError` (a ``ValueError``) with ``file:line:
        message`` lines when the weights file has problems.
    """
    export = load_export(Path(folder))
    given = None
    if weights is not None:
        respondents = set(export.data["respondent"].dropna().astype(str))
        items = {item.id for item in export.codebook.items_of_kind(Kind.DISTRIBUTION)}
        given = read_weights(Path(weights), respondents, items)
    analysis = analyze(export, weights=given)
    results = build_results(analysis)
    html = render_report(analysis, results, title=title, introduction=introduction)
    if (
        out_json is not None
    ):  # every table of the report also as CSV, beside results.json (elicit.analysis.tables)
        from .tables import report_tables, tables_folder, write_tables

        results["tables"] = write_tables(report_tables(analysis, results), tables_folder(Path(out_json)))
    text = json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_atomic(Path(out_html), html)
    if out_json is not None:
        write_atomic(Path(out_json), text)
    return results
