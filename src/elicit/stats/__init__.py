"""Statistics that the app shows as well as the analysis: the Delphi consensus rule and what it is built on.

The studio's Delphi page, the export's ``consensus.csv`` and ``elicit analyze`` compute consensus and stability
with :func:`elicit.stats.consensus.delphi_tables`, so the three cannot disagree. These modules use numpy, pandas
and scipy and import nothing else of Elicit, so ``elicit.analysis`` (which re-exports them) still stands alone
and the export needs no part of the analysis package. Import the module you need: this one imports nothing.
"""
