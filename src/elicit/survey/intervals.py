"""Server-drawn SVG of a panel's estimates in IDEA's discussion step: one row per expert, range and best estimate.

Each row is a line from the expert's lowest to highest value with a dot at the best estimate; the rows are in
order of the best estimate and carry no names, and the expert's own row is drawn and labelled as theirs. As in
:mod:`elicit.survey.plots`, the scale runs in the reading direction (right to left on a right-to-left page), every
number is laid out left to right, and only classes style it (``elicit.css``, "discussion").
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from elicit.responding.feedback import Estimate
from elicit.survey.plots import MARGIN, WIDTH, scale_marks

ROW_HEIGHT = 16
TOP = 8
BELOW = 48  # tick labels and the unit under the scale


def estimates_svg(
    estimates: Sequence[Estimate],
    *,
    ident: str,
    title: str,
    own_label: str,
    unit: str = "",
    rtl: bool = False,
) -> Markup:
    """The SVG (``title`` its accessible name, ``ident`` a page-unique id); ``own_label`` marks the expert's row."""
    low = min(e.low for e in estimates)
    high = max(e.high for e in estimates)
    span = high - low
    if not span > 0:
        span = abs(high) or 1.0
        low, high = low - span / 2, high + span / 2
    pad = span * 0.04
    low, high = low - pad, high + pad
    left, right = MARGIN, WIDTH - MARGIN

    def x_of(value: float) -> float:
        share = (value - low) / (high - low)
        return right - share * (right - left) if rtl else left + share * (right - left)

    baseline = TOP + ROW_HEIGHT * len(estimates) + 4
    height = baseline + BELOW
    parts = [
        Markup(
            '<svg class="estimates" role="img" focusable="false" viewBox="0 0 {w} {h}" width="{w}" height="{h}"'
            ' aria-labelledby="{id}-title"><title id="{id}-title">{title}</title>'
        ).format(w=WIDTH, h=height, id=ident, title=title)
    ]
    for row, estimate in enumerate(estimates):
        y = TOP + ROW_HEIGHT * row + ROW_HEIGHT / 2
        own = " own" if estimate.own else ""
        parts.append(
            Markup(
                '<line class="estimate-range{o}" x1="{a:.1f}" y1="{y}" x2="{b:.1f}" y2="{y}"></line>'
            ).format(o=own, a=x_of(estimate.low), b=x_of(estimate.high), y=y)
        )
        if estimate.best is not None:
            parts.append(
                Markup('<circle class="estimate-best{o}" cx="{x:.1f}" cy="{y}" r="4"></circle>').format(
                    o=own, x=x_of(estimate.best), y=y
                )
            )
        if estimate.own:
            end = x_of(estimate.high)
            anchor = "end" if rtl else "start"
            parts.append(
                Markup(
                    '<text class="estimate-own-label" x="{x:.1f}" y="{y}" text-anchor="{a}">{label}</text>'
                ).format(x=end + (-6 if rtl else 6), y=y + 4, a=anchor, label=own_label)
            )
    parts.append(scale_marks("estimates", x_of, low, high, baseline, unit, unit_gap=40))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
