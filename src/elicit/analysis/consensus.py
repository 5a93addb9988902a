"""Delphi consensus and stability: :mod:`elicit.stats.consensus`, under the names the analysis package gives them.

The computation lives in ``elicit.stats`` so that the studio's Delphi page, the export's ``consensus.csv`` and
``elicit analyze`` run the same code without the export or the studio importing the analysis package.
"""

from __future__ import annotations

from elicit.stats.consensus import (
    ALL_COHORTS,
    QUARTILE_METHODS,
    ConsensusRule,
    DelphiTables,
    SymmetryTest,
    answers_long,
    consensus_table,
    delphi_tables,
    ranking_agreement,
    ranking_agreement_table,
    stability_table,
    symmetry_test,
)

__all__ = [
    "ALL_COHORTS",
    "QUARTILE_METHODS",
    "ConsensusRule",
    "DelphiTables",
    "SymmetryTest",
    "answers_long",
    "consensus_table",
    "delphi_tables",
    "ranking_agreement",
    "ranking_agreement_table",
    "stability_table",
    "symmetry_test",
]
