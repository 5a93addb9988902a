"""The item-type registry: one module per type, each owning everything that differs between types.

``REGISTRY`` maps a type name to its :class:`~elicit.instruments.types.base.ItemType`; ``Item.kind`` looks an
item's type up here. Adding a type is one module here, its ``templates/survey/items/<name>.html`` macro and its
tests: the checker, the survey, storage, export, codebook, analysis and ``elicit demo`` all loop over this.
"""

from __future__ import annotations

from elicit.instruments.types.base import (
    DONT_KNOW,
    DemoContext,
    FieldError,
    ItemType,
    Message,
    StoredValue,
)
from elicit.instruments.types.consent import Consent
from elicit.instruments.types.constant_sum import ConstantSum
from elicit.instruments.types.date import Date
from elicit.instruments.types.decimal import Decimal
from elicit.instruments.types.dropdown import Dropdown
from elicit.instruments.types.four_point import FourPoint
from elicit.instruments.types.integer import Integer
from elicit.instruments.types.likert import Likert
from elicit.instruments.types.likert_matrix import ROW_TYPE, LikertMatrix
from elicit.instruments.types.multiple_choice import MultipleChoice
from elicit.instruments.types.note import Note
from elicit.instruments.types.probabilities import Probabilities
from elicit.instruments.types.quantiles import Quantiles, level_name
from elicit.instruments.types.ranking import Ranking
from elicit.instruments.types.roulette import Roulette
from elicit.instruments.types.single_choice import SingleChoice
from elicit.instruments.types.slider import Slider
from elicit.instruments.types.text import Text

__all__ = [
    "ANALYSIS_KINDS",
    "DONT_KNOW",
    "FEEDBACK_TYPES",
    "ITEM_TYPES",
    "REGISTRY",
    "ROW_TYPE",
    "DemoContext",
    "FieldError",
    "ItemType",
    "Message",
    "StoredValue",
    "level_name",
]

REGISTRY: dict[str, ItemType] = {
    kind.name: kind
    for kind in (
        Likert(),
        LikertMatrix(),
        SingleChoice(),
        MultipleChoice(),
        Integer(),
        Decimal(),
        Text(),
        Ranking(),
        ConstantSum(),
        Quantiles(),
        Consent(),
        Note(),
        Slider(),
        Date(),
        Dropdown(),
        Roulette(),
        FourPoint(),
        Probabilities(),
    )
}
#: Type names, in the order they were added (the checker lists them so).
ITEM_TYPES: tuple[str, ...] = tuple(REGISTRY)
#: Types a Delphi round can feed back to the experts.
FEEDBACK_TYPES: frozenset[str] = frozenset(name for name, kind in REGISTRY.items() if kind.feedback)
#: How the analysis may treat an item (the codebook's ``analysis``), in the order the docs describe them.
ANALYSIS_KINDS: tuple[str, ...] = (
    "ordinal",
    "interval",
    "nominal",
    "multi-select",
    "composition",
    "ranking",
    "distribution",
    "date",
    "text",
)
