"""The analysis report at scale: ``run_analysis`` on a synthetic export of N responses in two cohorts.

The export is the analysis tests' flagship-shaped one (``tests/analysis/conftest.py``: 3 scales x 5 Likert items,
one reverse-keyed per scale, an affordability item, a constant-sum allocation, a ranking, a 5/50/95 quantiles item).

The floor, measured in the same run on the same arrays (prepared outside the timer): the bare library calls for
the statistics the report is made of, i.e. ``pingouin.cronbach_alpha`` per scale for all respondents and each
cohort, ``pingouin.intraclass_corr`` per cohort on the 15 reverse-keyed items of every expert with complete
answers (as ``agreement.py`` does: targets = items, raters = experts, no sampling), ``scipy.stats.friedmanchisquare``
and the three pairwise ``scipy.stats.wilcoxon`` within each cohort, ``scipy.stats.mannwhitneyu`` and Welch's
``scipy.stats.ttest_ind`` between the cohorts per scale, and ``pingouin.mixed_anova`` (cohort x scale).

Reported: ``run_analysis`` (best of 3; ``--quick``: 2), the floor (best of 3), the ratio, and the split of one run
into its phases (``load_export``, ``analyze``, ``build_results``, ``render_report`` = figures + HTML) and the share
of ``analyze`` spent in the Hodges-Lehmann intervals and in the agreement statistics. There is no target: the
ratio and the main cost are the result. Sizes: 5,000 responses (``--quick``: 1,000).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.analysis.conftest is imported from the source tree
    sys.path.insert(0, str(ROOT))


def make_export(folder: Path, n: int) -> Path:
    """N responses split evenly between UK and PK, written as ``elicit export`` writes them."""
    from tests.analysis.conftest import build_codebook, build_data, write_export

    data = build_data({"UK": n // 2, "PK": n - n // 2}, seed=11)
    return write_export(folder, data, build_codebook(("UK", "PK")))


def best(function: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


# --------------------------------------------------------------------------------------------- the floor


def floor_inputs(folder: Path) -> dict[str, Any]:
    """The arrays the bare library calls get: reverse-keyed items, scale scores, the long format for the ANOVA."""
    import numpy as np
    import pandas as pd
    from tests.analysis.conftest import LEVERAGES, PREFIX

    data = pd.read_csv(folder / "data.csv")
    items: dict[str, pd.DataFrame] = {}
    for leverage in LEVERAGES:
        ids = [f"{PREFIX[leverage]}_{i}" for i in range(1, 6)]
        frame = data[ids].astype("float64")
        frame[ids[3]] = 6 - frame[ids[3]]
        items[leverage] = frame
    scores = pd.DataFrame({lv: frame.mean(axis=1) for lv, frame in items.items()})
    scores["cohort"] = data["cohort"]
    scores["respondent"] = data["respondent"]
    keyed = pd.concat(items.values(), axis=1)
    icc_long = {}
    for cohort in ("UK", "PK"):
        complete = keyed[data["cohort"] == cohort].dropna().to_numpy().T  # targets x raters
        n_targets, n_raters = complete.shape
        icc_long[cohort] = pd.DataFrame(
            {
                "target": np.repeat(np.arange(n_targets), n_raters),
                "rater": np.tile(np.arange(n_raters), n_targets),
                "rating": complete.ravel(),
            }
        )
    complete_scores = scores.dropna(subset=list(LEVERAGES))
    long = complete_scores.melt(
        id_vars=["respondent", "cohort"], value_vars=list(LEVERAGES), var_name="scale", value_name="score"
    )
    return {
        "items": items,
        "cohort": data["cohort"].to_numpy(),
        "scores": complete_scores,
        "icc_long": icc_long,
        "long": long,
        "scales": list(LEVERAGES),
    }


def floor(inputs: dict[str, Any]) -> None:
    """The bare pingouin/scipy calls of the report's statistics."""
    import pingouin as pg
    from scipy import stats

    cohort = inputs["cohort"]
    scales = inputs["scales"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for frame in inputs["items"].values():
            pg.cronbach_alpha(data=frame)
            for code in ("UK", "PK"):
                pg.cronbach_alpha(data=frame[cohort == code])
        for long in inputs["icc_long"].values():
            pg.intraclass_corr(long, targets="target", raters="rater", ratings="rating")
        scores = inputs["scores"]
        for code in ("UK", "PK"):
            group = scores[scores["cohort"] == code]
            stats.friedmanchisquare(*[group[s].to_numpy() for s in scales])
            for i, first in enumerate(scales):
                for second in scales[i + 1 :]:
                    d = group[first].to_numpy() - group[second].to_numpy()
                    stats.wilcoxon(d[d != 0])
        for scale in scales:
            x = scores.loc[scores["cohort"] == "UK", scale].to_numpy()
            y = scores.loc[scores["cohort"] == "PK", scale].to_numpy()
            stats.mannwhitneyu(x, y, alternative="two-sided")
            stats.ttest_ind(x, y, equal_var=False)
        pg.mixed_anova(
            data=inputs["long"], dv="score", within="scale", between="cohort", subject="respondent"
        )


# --------------------------------------------------------------------------------------------- Elicit


def phases(folder: Path, out: Path) -> dict[str, float]:
    """One report, phase by phase, with the time ``analyze`` spends in Hodges-Lehmann and agreement."""
    from elicit.analysis import analyze, build_results, comparisons, load_export, pipeline, render_report

    spent = {"hodges_lehmann": 0.0, "agreement": 0.0}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    saved = comparisons.hodges_lehmann, pipeline.agreement
    comparisons.hodges_lehmann = timed("hodges_lehmann", saved[0])
    pipeline.agreement = timed("agreement", saved[1])
    try:
        clock = time.perf_counter()
        export = load_export(folder)
        loaded = time.perf_counter()
        analysis = analyze(export)
        analysed = time.perf_counter()
        results = build_results(analysis)
        built = time.perf_counter()
        html = render_report(analysis, results)
        rendered = time.perf_counter()
    finally:
        comparisons.hodges_lehmann, pipeline.agreement = saved
    (out / "phases.html").write_text(html, encoding="utf-8")
    return {
        "load_export": loaded - clock,
        "analyze": analysed - loaded,
        "build_results": built - analysed,
        "render_report": rendered - built,
        **spent,
    }


def run(quick: bool) -> list[dict[str, Any]]:
    from elicit.analysis import run_analysis

    n = 1_000 if quick else 5_000
    repeat = 2 if quick else 3
    scratch = Path(tempfile.mkdtemp(prefix="elicit-bench-analysis-"))
    try:
        folder = make_export(scratch / "export", n)
        out = scratch / "out"
        out.mkdir()
        inputs = floor_inputs(folder)
        floor(inputs)  # warm-up: imports, first-call caches
        floor_seconds = best(lambda: floor(inputs), 3)
        elicit_seconds = best(lambda: run_analysis(folder, out / "report.html", out / "results.json"), repeat)
        split = phases(folder, out)
        report_mb = (out / "report.html").stat().st_size / 1e6
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = sum(split[k] for k in ("load_export", "analyze", "build_results", "render_report"))
    rows: list[dict[str, Any]] = [
        {
            "responses": n,
            "case": "floor: bare pingouin/scipy calls",
            "seconds": floor_seconds,
            "vs_floor": 1.0,
            "note": "alpha x9, ICC x2, Friedman+Wilcoxon x2, MWU+Welch x3, mixed ANOVA",
        },
        {
            "responses": n,
            "case": "run_analysis (HTML + JSON)",
            "seconds": elicit_seconds,
            "vs_floor": elicit_seconds / floor_seconds,
            "note": f"best of {repeat}; report {report_mb:.1f} MB",
        },
    ]
    for name in ("load_export", "analyze", "build_results", "render_report"):
        rows.append(
            {
                "responses": n,
                "case": f"  phase {name}",
                "seconds": split[name],
                "vs_floor": split[name] / floor_seconds,
                "note": f"{100 * split[name] / total:.0f}% of one run"
                + (" (figures + HTML)" if name == "render_report" else ""),
            }
        )
    for name, what in (
        ("hodges_lehmann", "Hodges-Lehmann CIs: sort of all m x n pairwise differences"),
        ("agreement", "ICC + Kendall's W + Krippendorff's alpha per cohort"),
    ):
        rows.append(
            {
                "responses": n,
                "case": f"    in analyze: {name}",
                "seconds": split[name],
                "vs_floor": split[name] / floor_seconds,
                "note": f"{100 * split[name] / split['analyze']:.0f}% of analyze; {what}",
            }
        )
    return rows


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run("--quick" in sys.argv)))
