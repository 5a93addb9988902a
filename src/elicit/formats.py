"""The export formats, named once: the exporter, the CLI, the API, its OpenAPI document and the studio form.

Kept free of heavy imports so that ``elicit --help`` does not load pandas and pyarrow to list them.
"""

from __future__ import annotations

FORMAT_LABELS = {
    "csv": "CSV",
    "xlsx": "Excel (xlsx)",
    "parquet": "Parquet",
    "sav": "SPSS (sav)",
    "dta": "Stata (dta)",
}
FORMATS = tuple(FORMAT_LABELS)
