"""Delphi consensus and stability: :mod:`elicit.stats.consensus`, under the names the analysis package gives them.

The computation lives in ``elicit.stats`` so that the studio's Delphi page, the export's ``consensus.csv`` and
``elicit analyze`` run the same code without the export or the studio importing the analysis package.
"""

from __future__ import annotations

from elicit.stats.consensus import *  # noqa: F403  (the same names, listed once, in elicit.stats.consensus)
from elicit.stats.consensus import __all__ as __all__
