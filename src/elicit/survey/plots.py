"""Server-drawn SVG of an expert's judgement: the density of the best-fitting family with the expert's values marked.

Drawn on the server so "Show my distribution" works without JavaScript. The scale runs from low to high values in
the reading direction: left to right, and right to left on a right-to-left page (as the slider and the quantile
boxes do there); every number is laid out left to right (``direction="ltr"``), so ``-5`` never reads ``5-``.
Only classes style it (the CSP forbids inline styles); ``elicit.css`` has the "distribution feedback" block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:  # numpy loads only when a curve is drawn, so the CLI and plain pages stay light
    import numpy as np

    from elicit.stats.distributions import Fit
    from elicit.stats.judgements import Points

WIDTH = 400
MARGIN = 26  # either side of the scale, so the end tick labels fit
ROW = 17  # the value labels' rows above the curve: the first at y = ROW, as many as labels need not to touch
CURVE = 130  # the height of the curve's peak above the scale
BELOW = 54  # the tick labels and the unit under the scale
SAMPLES = 161
TAIL = (
    0.005  # the curve is drawn between these quantiles of the fit (and wider where the expert's values lie)
)
EDGE = 3  # samples at either end that do not set the height of the drawing
CHAR_WIDTH = 9.5  # about how wide a character of a value label is (in SVG units)
MAX_ROWS = 4


def number_text(value: float) -> str:
    """A number as people read it on a scale: ``12``, ``12.5``, ``0.0031``, ``1250000``, at most 6 digits."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 15 or magnitude < -6:
        return f"{value:.3g}"
    decimals = min(12, max(0, 5 - magnitude))
    text = f"{round(value, decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """At most about ``count`` round values (1, 2, 2.5 or 5 times a power of ten apart) from ``low`` to ``high``."""
    span = high - low
    if not span > 0:
        return [low]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    tick = first
    while tick <= high + step * 1e-9:
        ticks.append(0.0 if abs(tick) < step * 1e-9 else round(tick, 12))
        tick += step
    return ticks


def scale_range(
    points: Points, fit: Fit | None, lower: float | None, upper: float | None
) -> tuple[float, float]:
    """The values the scale spans: the fit's central 99 % and every value of the expert, within the support."""
    values = list(points.values)
    low, high = min(values), max(values)
    if fit is not None:
        tails = [float(v) for v in fit.dist.ppf([TAIL, 1 - TAIL])]
        if all(math.isfinite(v) for v in tails):
            low, high = min(low, tails[0]), max(high, tails[1])
    span = high - low
    if not span > 0:
        span = abs(high) or 1.0
        low, high = low - span / 2, high + span / 2
    pad = span * (0.04 if fit is not None else 0.15)
    low, high = low - pad, high + pad
    if lower is not None:
        low = max(low, lower)
    if upper is not None:
        high = min(high, upper)
    return low, high


def density_svg(
    points: Points,
    fit: Fit | None,
    *,
    lower: float | None,
    upper: float | None,
    ident: str,
    title: str,
    unit: str = "",
    rtl: bool = False,
) -> Markup:
    """The SVG (``title`` its accessible name, ``ident`` a page-unique id): the fitted density, when there is a
    fit, and the expert's values marked on it and labelled above it; the scale's ticks and ``unit`` below."""
    low, high = scale_range(points, fit, lower, upper)
    left, right = MARGIN, WIDTH - MARGIN

    def x_of(value: float) -> float:
        share = (value - low) / (high - low)
        return right - share * (right - left) if rtl else left + share * (right - left)

    labels = [number_text(v) for v in points.values]
    rows = label_rows([x_of(v) for v in points.values], labels)
    top = ROW * (max(rows) + 1) + 14
    baseline = top + CURVE
    height = baseline + BELOW
    parts = [
        Markup(
            '<svg class="density" role="img" focusable="false" viewBox="0 0 {w} {h}" width="{w}" height="{h}"'
            ' aria-labelledby="{id}-title"><title id="{id}-title">{title}</title>'
        ).format(w=WIDTH, h=height, id=ident, title=title)
    ]
    heights = _curve(fit, low, high, top, baseline)
    at_points: Sequence[float] = [baseline] * len(points.values)
    if heights is not None:
        xs, ys, y_of = heights
        line = " ".join(f"{x_of(x):.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        start, end = x_of(float(xs[0])), x_of(float(xs[-1]))
        parts.append(
            Markup('<path class="density-area" d="M{s:.1f},{b} L{line} L{e:.1f},{b} Z"></path>').format(
                s=start, e=end, b=baseline, line=line
            )
        )
        parts.append(Markup('<path class="density-curve" d="M{line}"></path>').format(line=line))
        at_points = [y_of(v) for v in points.values]
    parts.append(scale_marks("density", x_of, low, high, baseline, unit, unit_gap=41))
    for value, label, row, y in zip(points.values, labels, rows, at_points, strict=True):
        x, label_y = x_of(value), ROW * (row + 1)
        parts.append(
            Markup(
                '<line class="density-point-line" x1="{x:.1f}" y1="{b}" x2="{x:.1f}" y2="{top}"></line>'
                '<circle class="density-point" cx="{x:.1f}" cy="{y:.1f}" r="4.5"></circle>'
                '<text class="density-point-label" x="{x:.1f}" y="{ly}" text-anchor="middle"'
                ' direction="ltr">{label}</text>'
            ).format(x=x, y=y, b=baseline, top=label_y + 5, ly=label_y, label=label)
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def scale_marks(
    prefix: str,
    x_of: Callable[[float], float],
    low: float,
    high: float,
    baseline: float,
    unit: str,
    *,
    unit_gap: float,
) -> Markup:
    """The scale under a drawing: its line, round ticks with left-to-right numbers, and the unit below;
    classes are ``<prefix>-axis``, ``-tick``, ``-tick-label`` and ``-unit``."""
    left, right = MARGIN, WIDTH - MARGIN
    parts = [
        Markup('<line class="{p}-axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"></line>').format(
            p=prefix, l=left, r=right, b=baseline
        )
    ]
    for tick in nice_ticks(low, high):
        parts.append(
            Markup(
                '<line class="{p}-tick" x1="{x:.1f}" y1="{b}" x2="{x:.1f}" y2="{t}"></line>'
                '<text class="{p}-tick-label" x="{x:.1f}" y="{ty}" text-anchor="middle"'
                ' direction="ltr">{label}</text>'
            ).format(
                p=prefix, x=x_of(tick), b=baseline, t=baseline + 5, ty=baseline + 19, label=number_text(tick)
            )
        )
    if unit:
        parts.append(
            Markup('<text class="{p}-unit" x="{x}" y="{y}" text-anchor="middle">{unit}</text>').format(
                p=prefix, x=WIDTH / 2, y=baseline + unit_gap, unit=unit
            )
        )
    return Markup("").join(parts)


def label_rows(xs: Sequence[float], labels: Sequence[str]) -> list[int]:
    """The row of each value label (0 the top one): the first row where it touches no label placed before."""
    placed: list[tuple[float, float, int]] = []  # each label's middle, half width and row
    rows = []
    for x, label in zip(xs, labels, strict=True):
        half = len(label) * CHAR_WIDTH / 2

        def free(row: int, x: float = x, half: float = half) -> bool:
            return all(at != row or abs(x - other) >= half + width + 4 for other, width, at in placed)

        row = next((r for r in range(MAX_ROWS) if free(r)), MAX_ROWS - 1)
        placed.append((x, half, row))
        rows.append(row)
    return rows


def _curve(
    fit: Fit | None, low: float, high: float, top_y: float, baseline: float
) -> tuple[np.ndarray, np.ndarray, Callable[[float], float]] | None:
    """Sampled density (values, heights in SVG units) and the height of any value; None without a fit."""
    if fit is None:
        return None
    import numpy as np

    xs = np.linspace(low, high, SAMPLES)
    with np.errstate(all="ignore"):
        density = np.asarray(fit.dist.pdf(xs), dtype=float)
    density[~np.isfinite(density)] = np.nan
    # The height is set by the density away from the ends, so one that shoots up at a bound (a beta or gamma
    # with a shape below 1) is cut off there instead of flattening the rest.
    inner = density[EDGE:-EDGE]
    inner = inner[np.isfinite(inner) & (inner > 0)]
    if inner.size == 0:
        return None
    top = float(inner.max())
    scale = (baseline - top_y) / top

    def height(density_at: float) -> float:
        if not math.isfinite(density_at):
            density_at = top
        return baseline - min(density_at, top) * scale

    ys = np.array([height(float(d)) if np.isfinite(d) else baseline for d in density])

    def y_of(value: float) -> float:
        with np.errstate(all="ignore"):
            return height(float(fit.dist.pdf(value)))

    return xs, ys, y_of
