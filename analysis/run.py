"""The flagship study's analysis: perceived leverages of defence diplomacy, UK and Pakistani experts.

One command from an anonymized export folder to the leverage report::

    python analysis/run.py EXPORT_DIR --out OUT_DIR

writes ``OUT_DIR/report.html``, ``OUT_DIR/results.json`` and ``OUT_DIR/leverage_summary.csv`` (the headline
comparisons in one table). Everything is computed by :mod:`elicit.analysis`; this script checks that the export
is the flagship instrument's and adds the study's framing.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from elicit.analysis import Kind, load_export, run_analysis, write_atomic

LEVERAGES = ("tactical", "strategic", "economic")
COHORTS = ("UK", "PK")
#: The flagship's items the report's framing speaks of, with the kind the analysis must treat each as.
EXPECTED_ITEMS = {
    "afford": Kind.ORDINAL,
    "alloc": Kind.COMPOSITION,
    "rank_leverage": Kind.RANKING,
    "exports_change": Kind.DISTRIBUTION,
}

TITLE = "Perceived leverages of defence diplomacy: United Kingdom and Pakistan"
INTRODUCTION = (
    "Experts in the United Kingdom (UK) and Pakistan (PK) rated statements on the tactical, strategic and "
    "economic leverage that defence diplomacy gives their state, divided 100 points among the three leverages, "
    "ranked them, judged whether their state can afford defence diplomacy, and gave 5/50/95% quantiles for the "
    "expected change in defence exports. The report compares the three leverages within each state (Friedman, "
    "Wilcoxon, repeated-measures ANOVA) and each leverage between the states (Mann-Whitney, Welch), and the "
    "state x leverage interaction (mixed ANOVA)."
)


def check_flagship(folder: Path) -> list[str]:
    """Differences between the export and the flagship design, as messages (empty when it matches)."""
    book = load_export(folder).codebook
    problems = []
    scales = {s.name for s in book.scales}
    problems += [f"scale {name!r} is missing" for name in LEVERAGES if name not in scales]
    problems += [f"cohort {code!r} is missing" for code in COHORTS if code not in book.cohort_codes]
    kinds = {i.id: i.analysis for i in book.items}
    problems += [
        f"item {item!r} ({kind}) is missing"
        for item, kind in EXPECTED_ITEMS.items()
        if kinds.get(item) != kind
    ]
    return problems


def leverage_summary(results: dict[str, Any]) -> str:
    """The headline comparisons as CSV: one row per leverage (between states) and per state (within)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "comparison",
            "what",
            "test",
            "statistic",
            "p",
            "p_holm",
            "effect_size",
            "effect_size_name",
            "shift_or_posthoc",
        ]
    )
    for name, entry in results["comparisons"]["between_cohorts"].items():
        shift = entry.get("hodges_lehmann", {})
        writer.writerow(
            [
                "between states",
                name,
                entry["test"],
                entry["statistic"],
                entry["p"],
                entry["p_holm"],
                entry["effect_size"],
                entry["effect_size_name"],
                f"HL {shift.get('shift')} CI {shift.get('ci')}",
            ]
        )
    for group, entry in results["comparisons"]["within_cohort"].items():
        posthoc = "; ".join(f"{r['a']}-{r['b']} p_holm={r.get('p_holm')}" for r in entry["posthoc"])
        writer.writerow(
            [
                "within state",
                group,
                entry["test"],
                entry["statistic"],
                entry["p"],
                "",
                entry["effect_size"],
                entry["effect_size_name"],
                posthoc,
            ]
        )
    for row in results["comparisons"]["mixed_anova"].get("table", []):
        writer.writerow(
            [
                "mixed ANOVA",
                row["source"],
                "F",
                row["F"],
                row["p"],
                "",
                row["partial_eta_squared"],
                "partial eta squared",
                "",
            ]
        )
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="export folder written by `elicit export`")
    parser.add_argument("--out", type=Path, required=True, help="folder for report.html, results.json, CSV")
    parser.add_argument(
        "--strict", action="store_true", help="refuse an export that is not the flagship design"
    )
    args = parser.parse_args(argv)
    try:
        problems = check_flagship(args.export)
        if problems and args.strict:
            raise ValueError("not the flagship design: " + "; ".join(problems))
        args.out.mkdir(parents=True, exist_ok=True)
        intro = INTRODUCTION
        if problems:
            intro += " Note: this export differs from the flagship design (" + "; ".join(problems) + ")."
        results = run_analysis(
            args.export, args.out / "report.html", args.out / "results.json", title=TITLE, introduction=intro
        )
        write_atomic(args.out / "leverage_summary.csv", leverage_summary(results))
    except ValueError as exc:
        print(f"analysis: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out / 'report.html'}, {args.out / 'results.json'}, {args.out / 'leverage_summary.csv'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
