"""Every table of the report as a CSV file beside ``results.json``, so a paper's tables come from the same numbers.

``elicit analyze EXPORT --out report.html --json results.json`` writes ``results_tables/<section>_<table>.csv``
next to ``results.json`` (the folder is named after the JSON file: ``out.json`` gives ``out_tables/``), and
``results.json`` lists them under ``tables``. The CSV files are UTF-8 with a header row, one row per row of the
report's table (in tidy form: a column names the group, the item or the scale), and the numbers unrounded, as
the analysis computed them; a missing value is an empty cell. They hold what the report shows and nothing else:
the groups the analysis hides are in neither.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .pipeline import Analysis, as_records

__all__ = ["Table", "report_tables", "tables_folder", "write_tables"]


@dataclass(frozen=True)
class Table:
    """One table of the report: ``section`` (the report's section id), ``name`` within it, a caption, its rows."""

    section: str
    name: str
    caption: str
    rows: tuple[Mapping[str, Any], ...]

    @property
    def file_name(self) -> str:
        return f"{self.section}_{self.name}.csv"

    def csv(self) -> str:
        """The rows as CSV text: every column any row has, nested values as JSON, missing values empty."""
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        frame = pd.DataFrame(
            [{key: _flat(row.get(key)) for key in columns} for row in self.rows], columns=columns
        )
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()


def _flat(value: Any) -> Any:
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def tables_folder(out_json: Path) -> Path:
    """Where the CSV files of ``out_json`` go: ``<stem>_tables/`` in the same folder."""
    return out_json.parent / f"{out_json.stem}_tables"


def _tagged(rows: Sequence[Mapping[str, Any]], **tags: Any) -> list[dict[str, Any]]:
    return [{**tags, **row} for row in rows]


def report_tables(analysis: Analysis, results: Mapping[str, Any]) -> list[Table]:
    """The report's tables, in its order, with the rows it renders (unrounded); empty tables are left out."""
    book = analysis.export.codebook
    labels = {s.name: s.label for s in book.scales}
    tables: list[Table] = []

    def add(section: str, name: str, caption: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            tables.append(Table(section, name, caption, tuple(rows)))

    add("summary", "sample", "Who answered", as_records(analysis.overview))
    flow = results.get("participant_flow") or {}
    add("summary", "participant_flow", "Participant flow", flow.get("rows") or [])
    add(
        "reliability",
        "scales",
        "Reliability of the scales",
        [
            {
                "scale": r.scale,
                "label": labels.get(r.scale, r.scale),
                "group": r.group,
                "n": r.n,
                "n_excluded": r.n_excluded,
                "alpha": r.alpha.alpha,
                "alpha_ci_low": r.alpha.ci_low,
                "alpha_ci_high": r.alpha.ci_high,
                "alpha_standardized": r.alpha.standardized,
                "mean_inter_item_r": r.alpha.mean_inter_item_r,
                "omega": r.omega.omega,
                "omega_standardized": r.omega.omega_standardized,
            }
            for r in analysis.reliability
        ],
    )
    item_stats = []
    for r in analysis.reliability:
        loadings = dict(zip(r.item_total["item"], r.omega.fit.loadings, strict=True)) if r.omega.fit else {}
        for row in as_records(r.item_total):
            item_stats.append(
                {"scale": r.scale, "group": r.group, **row, "loading": loadings.get(row["item"])}
            )
    add("reliability", "items", "Item statistics per scale and group", item_stats)
    add("descriptives", "scales", "Scale scores", as_records(analysis.score_descriptives))
    add("descriptives", "items", "Items", as_records(analysis.item_descriptives))
    add("descriptives", "distribution", "Answers per code", as_records(analysis.distribution))
    add("descriptives", "choices", "Choice items", as_records(analysis.choice_counts))
    add("descriptives", "dates", "Date items", as_records(analysis.dates))
    add(
        "agreement",
        "summary",
        "Agreement among experts",
        [
            {
                "cohort": cohort,
                "n_raters": a.n_raters,
                "n_raters_complete": a.n_raters_complete,
                "kendall_w": a.kendall.w,
                "kendall_chi2": a.kendall.chi2,
                "kendall_df": a.kendall.df,
                "kendall_p": a.kendall.p,
                "krippendorff_alpha": a.krippendorff_alpha,
            }
            for cohort, a in analysis.agreement.items()
        ],
    )
    add(
        "agreement",
        "icc",
        "Intraclass correlations",
        [
            row
            for cohort, a in analysis.agreement.items()
            for row in _tagged(as_records(a.icc), cohort=cohort)
        ],
    )
    add(
        "within",
        "omnibus",
        "Comparisons within cohorts: Friedman and repeated-measures ANOVA",
        [
            {
                "cohort": group,
                "n": w.n,
                **{f"friedman_{k}": v for k, v in w.friedman.items()},
                **{f"rm_anova_{k}": v for k, v in (w.rm_anova or {}).items()},
            }
            for group, w in analysis.within.items()
        ],
    )
    add(
        "within",
        "posthoc",
        "Pairwise comparisons within cohorts",
        [row for g, w in analysis.within.items() for row in _tagged(as_records(w.posthoc), cohort=g)],
    )
    add(
        "between",
        "scales",
        "Comparisons between cohorts",
        [
            {"label": labels.get(row["variable"], row["variable"]), **row}
            for row in as_records(analysis.between)
        ],
    )
    add("between", "mixed_anova", "Mixed ANOVA: cohort x scale", as_records(analysis.mixed))
    for section, name, comparisons in (
        ("allocations", "composition", analysis.allocations),
        ("allocations", "ranking", analysis.rankings),
        ("other", "quantiles", analysis.quantiles),
    ):
        add(
            section,
            f"{name}_summary",
            f"{name.title()} items: summary per group",
            [row for c in comparisons for row in _tagged(as_records(c.summary), item=c.item.id)],
        )
        add(
            section,
            f"{name}_tests",
            f"{name.title()} items: tests between cohorts",
            [row for c in comparisons for row in _tagged(as_records(c.tests), item=c.item.id)],
        )
    add("other", "single_items", "Single ordinal items", as_records(analysis.single_items))
    if analysis.delphi is not None:
        add(
            "delphi",
            "consensus",
            "Consensus per round, cohort and item",
            as_records(analysis.delphi.consensus),
        )
        add("delphi", "stability", "Stability between rounds", as_records(analysis.delphi.stability))
    add(
        "confidence",
        "answers",
        "Answers weighted by the experts' confidence",
        as_records(analysis.confidence),
    )
    cooke = results.get("cooke") or {}
    for name in ("experts", "decision_makers", "robustness"):
        add("cooke", name, f"Cooke's classical model: {name.replace('_', ' ')}", cooke.get(name) or [])
    judged = (results.get("judgements") or {}).get("items") or {}
    add(
        "judgements",
        "fits",
        "Each expert's best-fitting family",
        [row for item, j in judged.items() for row in _tagged(j.get("experts") or [], item=item)],
    )
    add(
        "judgements",
        "pooled",
        "Pooled percentiles",
        [row for item, j in judged.items() for row in _tagged(j.get("pooled") or [], item=item)],
    )
    compared = (results.get("rounds_compared") or {}).get("items") or {}
    add(
        "rounds",
        "compared",
        "Rounds compared",
        [row for item, block in compared.items() for row in _tagged(block.get("rows") or [], item=item)],
    )
    described = {"sample", "descriptives", "reliability", "agreement", "comparisons", "delphi", "cooke"}
    described |= {
        "judgements",
        "rounds_compared",
        "confidence",
        "participant_flow",
        "meta",
        "methods",
        "tables",
    }
    for key, section in results.items():  # sections other modules add: each list of rows in them is a table
        if key not in described and isinstance(section, Mapping | list):
            for path, rows in _row_lists(section, (key,)):
                add(path[0], "_".join(path[1:]) or "table", " / ".join(path).replace("_", " "), rows)
    return tables


def _row_lists(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], list[Mapping[str, Any]]]]:
    """Every list of rows (mappings) under ``node`` with its path of keys, nested lists of rows included."""
    if isinstance(node, list):
        if node and all(isinstance(row, Mapping) for row in node):
            flat: list[Mapping[str, Any]] = [
                {
                    k: v
                    for k, v in row.items()
                    if not isinstance(v, list) or not v or not isinstance(v[0], Mapping)
                }
                for row in node
            ]
            return [(path, flat)]
        return []
    if isinstance(node, Mapping) and node and all(isinstance(v, Mapping) and v for v in node.values()):
        records = list(node.values())
        if all(not isinstance(x, Mapping | list) for row in records for x in row.values()):
            return [(path, [{"key": key, **row} for key, row in node.items()])]  # rows keyed by group or item
    if isinstance(node, Mapping):
        found = []
        for key, value in node.items():
            found += _row_lists(value, (*path, re.sub(r"[^A-Za-z0-9]+", "_", str(key)).strip("_")))
        return found
    return []


def write_tables(tables: Sequence[Table], folder: Path) -> dict[str, Any]:
    """Write each table as ``folder/<section>_<table>.csv`` and return the listing for ``results.json``.

    The folder is made if it does not exist; files of earlier runs that this run does not write are left as
    they are (the listing names the current ones, with their SHA-256).
    """
    from . import write_atomic  # the package's one way of writing a file (no half-written file is ever seen)

    folder.mkdir(parents=True, exist_ok=True)
    listing = {}
    for table in tables:
        text = table.csv()
        write_atomic(folder / table.file_name, text)
        listing[table.file_name] = {
            "section": table.section,
            "table": table.name,
            "caption": table.caption,
            "rows": len(table.rows),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
    return {"folder": folder.name, "encoding": "utf-8", "files": listing}
