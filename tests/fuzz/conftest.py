"""Fixtures of the hostile-input tests: the heavy multi-worker test runs alone (see tests/load/harness.py)."""

from __future__ import annotations

from tests.load.conftest import _one_heavy_test_at_a_time

__all__ = ["_one_heavy_test_at_a_time"]
