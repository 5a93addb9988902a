"""Benchmarks that print ratios against a floor measured in the same run (``python -m bench [--quick] [name...]``).

Every module ``bench/bench_<name>.py`` exposes ``run(quick: bool) -> list[dict]``; each dict is one row of the
printed table, and the rows of every benchmark are written to ``bench/results/latest.json``.
"""
