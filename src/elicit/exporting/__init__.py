"""Exports: anonymization, codebook, writers (csv, xlsx, parquet, sav, dta) and the manifest (docs/export.md).

``build_export`` writes an export folder; ``export_zip`` returns the same folder as a zip file. Both read
committed data through their own read-only snapshot, stream responses in chunks, and record the export in the
audit log through the caller's session. Nothing here imports Flask.
"""

from __future__ import annotations

from elicit.exporting.builder import ExportError, build_export, check_options, export_zip
from elicit.formats import FORMATS

__all__ = ["FORMATS", "ExportError", "build_export", "check_options", "export_zip"]
