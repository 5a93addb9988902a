"""Cells a spreadsheet will not run: the one guard against formula injection in every CSV and XLSX Elicit writes.

Shared by the studio's files (invitation links, mail reports, the audit log), ``elicit.studies`` and the export's
writers, none of which need the others for it.
"""

from __future__ import annotations

__all__ = ["csv_safe"]


def csv_safe(value: str) -> str:
    """Neutralise spreadsheet formula injection: a cell starting with = + - @ (or a tab/CR) gets a leading '."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value
