"""Turning a definition page into what the expert sees: values to show, messages in the page language.

Every item renders through its type's template (``item.kind.template``, in ``templates/survey/items/``), called by
the ``question`` macro of ``templates/survey/_questions.html``; this module only prepares their inputs, so the
studio preview shows exactly what experts see.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import g, render_template
from flask_babel import gettext
from markupsafe import Markup, escape

from elicit.i18n import N_, direction
from elicit.instruments.schema import Definition, Item, Page, level_name, text_in
from elicit.instruments.types.base import fmt
from elicit.instruments.types.date import bound
from elicit.instruments.types.probabilities import Phrase, Probabilities, points_of
from elicit.instruments.types.slider import SLIDER_SUFFIX, START_SUFFIX, Slider
from elicit.responding import flow
from elicit.responding.pages import DistributionShown
from elicit.responding.values import DONT_KNOW, DONT_KNOW_SUFFIX, NOTE_SUFFIXES, Message, is_answered
from elicit.survey.conditions import FollowUp, follow_up
from elicit.survey.plots import density_svg, number_text

PERCENTILE_LABELS = {
    5: N_("Low (5th percentile)"),
    50: N_("Best estimate (median)"),
    95: N_("High (95th percentile)"),
}


# What the best-fitting family says, in plain words (the checks under "Show my distribution").
FAMILY_WORDS = {
    "normal": N_(
        "The curve is the distribution that fits your values best: a normal distribution, symmetric and bell-shaped."
    ),
    "t": N_(
        "The curve is the distribution that fits your values best: a Student-t distribution, symmetric, with more"
        " weight far from the middle than a normal one."
    ),
    "gamma": N_(
        "The curve is the distribution that fits your values best: a gamma distribution, skewed, with a long tail"
        " towards high values."
    ),
    "lognormal": N_(
        "The curve is the distribution that fits your values best: a log-normal distribution, skewed, with a long"
        " tail towards high values."
    ),
    "logt": N_(
        "The curve is the distribution that fits your values best: a log-t distribution, skewed, with a very long"
        " tail towards high values."
    ),
    "beta": N_(
        "The curve is the distribution that fits your values best: a beta distribution, between %(lower)s and"
        " %(upper)s."
    ),
    "mirrorgamma": N_(
        "The curve is the distribution that fits your values best: a mirrored gamma distribution, skewed, with a"
        " long tail towards low values."
    ),
    "mirrorlognormal": N_(
        "The curve is the distribution that fits your values best: a mirrored log-normal distribution, skewed,"
        " with a long tail towards low values."
    ),
    "mirrorlogt": N_(
        "The curve is the distribution that fits your values best: a mirrored log-t distribution, skewed, with a"
        " very long tail towards low values."
    ),
}
POOR_FIT = 0.01  # a best fit whose squared probability errors sum above this misses a point by about 0.1
SYMMETRIC = (
    0.8,
    1.25,
)  # a best estimate whose distances to the low and high values are this close is "halfway"


def translate(message: Message, language: str) -> str:
    """A domain message in the page language (instrument texts in theirs, interface strings via the catalog)."""
    if message.text is not None:
        return text_in(message.text, language)
    params = {  # a parameter written in every language (a value with its unit) is given in the page's
        name: value.texts.get(language, str(value)) if isinstance(value, Phrase) else value
        for name, value in message.params.items()
    }
    return str(gettext(message.msgid)).format(**params)  # noqa: INT001 - msgids are literals in the domain


@dataclass(frozen=True)
class SliderShown:
    """A slider as the page draws it: its ends and step, where the thumb stands, and where the page put it.

    ``start`` goes back in the hidden ``.start`` field, so an expert who never moves the thumb stays unanswered.
    """

    low: str
    high: str
    step: str
    position: str
    start: str


class ExpertTexts:
    """What the expert pages' templates ask of any view in the page language (``language``): texts, answers and
    numbers as shown, and whether the page reads right to left. Shared by the questionnaire and discussion pages."""

    language: str

    @property
    def rtl(self) -> bool:
        """Whether the page reads right to left (server-drawn charts are laid out for it)."""
        return direction(self.language) == "rtl"

    def answer_text(self, item: Item, value: Any) -> str:
        return format_answer(item, value, self.language)

    def choice_label(self, item: Item, code: str) -> str:
        choice = item.choice(code)
        return text_in(choice.label, self.language) if choice else code

    def isolated(self, text: str) -> Markup:
        """A number or unit laid out left to right inside a sentence of either direction."""
        return Markup('<bdi dir="ltr">{}</bdi>').format(text)

    def scale_text(self, item: Item, value: float | None) -> Markup:
        """A group's median or quartile on a labelled scale: the nearest answer's label with its number
        (``Agree (4)``); a plain number on items without numbered choices. Numbers are isolated."""
        numbered = [
            c for c in item.choices if isinstance(c.code, int | float) and not isinstance(c.code, bool)
        ]
        if value is None or not numbered:
            return self.isolated(self.number_text(value))
        nearest = min(numbered, key=lambda c: (abs(float(c.code) - value), float(c.code)))
        return Markup("{} ({})").format(
            text_in(nearest.label, self.language), self.isolated(self.number_text(value))
        )

    def number_text(self, value: float | None) -> str:
        if value is None:
            return "–"
        return str(int(value)) if float(value).is_integer() else f"{value:.1f}"

    def t(self, text: Mapping[str, str] | None) -> str:
        return text_in(text, self.language)


@dataclass
class PageView(ExpertTexts):
    """Everything the page template needs."""

    definition: Definition
    page: Page
    language: str
    values: Mapping[str, Sequence[str]]
    errors: dict[str, str] = field(default_factory=dict)
    answers: Mapping[str, Any] = field(default_factory=dict)
    number: int = 1
    total: int = 1
    preview: bool = False
    feedback: Mapping[str, Any] = field(default_factory=dict)
    rationale_items: frozenset[str] = frozenset()
    k: int = 5
    always_shown: frozenset[str] = (
        frozenset()
    )  # items shown whatever their relevance (they hold typed values)
    distribution: DistributionView | None = None  # the judgement "Show my distribution" drew (nothing saved)
    confirm_decline: bool = False  # consent refused: the page asks for a second press before anything ends
    landing: bool = False  # the link's first page before the response exists (posting it starts the response)
    last: bool = False  # the last page: its forward button submits the response as it saves
    #: Where the page posts ("" in the studio preview): buttons that post to their own fragment (``formaction``)
    #: need it, since the landing page's own address is the link's, not the page's.
    action: str = ""
    _follow_ups: dict[str, FollowUp | None] = field(default_factory=dict, repr=False)
    _required: Markup | None = field(default=None, repr=False)

    def distribution_for(self, item: Item) -> DistributionView | None:
        """The drawn judgement of ``item``, when the expert just asked to see it."""
        shown = self.distribution
        return shown if shown is not None and shown.item_id == item.id else None

    def value(self, name: str) -> str:
        values = self.values.get(name) or [""]
        return values[0]

    def checked(self, name: str, code: str) -> bool:
        return code in (self.values.get(name) or [])

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def item_errors(self, item: Item) -> list[tuple[str, str]]:
        """Errors of an item and its parts, with the field each points to (none to look for on most pages)."""
        if not self.errors:
            return []
        names = [*item.kind.form_names(item), *(item.id + suffix for suffix in NOTE_SUFFIXES)]
        seen: list[tuple[str, str]] = []
        for name in names:
            if name in self.errors and (name, self.errors[name]) not in seen:
                seen.append((name, self.errors[name]))
        return seen

    def visible(self, item: Item, matrix: Item | None = None) -> bool:
        """Items whose relevance depends on this page's answers are shown; the server decides on posting."""
        if item.relevant is None and (matrix is None or matrix.relevant is None):
            return True
        return item.id in self.always_shown or flow.shown_on_page(item, self.page, self.answers, matrix)

    def follow_up(self, item: Item) -> FollowUp | None:
        """What the page says of a question whose condition reads this page's answers (None for any other): its
        compiled condition for the browser and the note saying when to answer it."""
        if item.id not in self._follow_ups:
            self._follow_ups[item.id] = follow_up(item, self.page, self.answers, self.language)
        return self._follow_ups[item.id]

    def constant_sum_total(self, item: Item) -> str:
        total = 0.0
        for part in item.parts:
            text = self.value(f"{item.id}.{part}").replace(",", ".").strip()
            try:
                total += float(text) if text else 0.0
            except ValueError:
                return "?"
        return str(int(total)) if total.is_integer() else f"{total:g}"

    def percentile_label(self, level: int) -> str:
        label = PERCENTILE_LABELS.get(level)
        return str(gettext(label) if label else gettext("%(level)s th percentile", level=level))

    def dont_know_checked(self, item: Item) -> bool:
        return bool(self.values.get(item.id + DONT_KNOW_SUFFIX))

    def question_of(self, name: str) -> str:
        """The text of the question a field belongs to (the error summary names it, as GOV.UK's pattern does)."""
        base = name.split(".", 1)[0]
        for item in self.page.items:
            if item.id == base:
                return self.t(item.text)
        try:
            return self.t(self.definition.item(base).text)
        except KeyError:
            return ""

    def anchor(self, name: str) -> str:
        """The id of the input an error summary entry jumps to."""
        try:
            item = self.definition.item(name)
        except KeyError:
            return name
        return item.kind.anchor(item)

    def slider(self, item: Item) -> SliderShown:
        """Where a slider's thumb stands: as posted when the page is shown again, else at the stored answer or
        the type's start position (the page remembers that start in ``.start``)."""
        kind = item.kind
        if not isinstance(kind, Slider):
            raise TypeError(f"{item.id} is not a slider")
        start = self._slider_number(item, item.id + START_SUFFIX)
        if start is None:
            start = self._slider_number(item, item.id)
        if start is None:
            start = kind.start(item)
        position = self._slider_number(item, item.id + SLIDER_SUFFIX)
        return SliderShown(
            low=fmt(item.min or 0),
            high=fmt(item.max or 0),
            step=fmt(kind.step(item)),
            position=fmt(start if position is None else position),
            start=fmt(start),
        )

    def _slider_number(self, item: Item, name: str) -> float | None:
        """The number in field ``name`` when it is one on the slider's range, else None."""
        text = self.value(name).strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            return None
        low, high = float(item.min or 0), float(item.max or 0)
        return value if math.isfinite(value) and low <= value <= high else None

    def date_bounds(self, item: Item) -> tuple[str, str]:
        """A date item's earliest and latest dates in ISO form ('' where open), ``today`` resolved now."""
        low, high = bound(item, "min"), bound(item, "max")
        return (low.isoformat() if low else "", high.isoformat() if high else "")

    def level_name(self, level: int) -> str:
        return level_name(level)

    def probability_label(self, item: Item, part: str) -> Markup:
        """What a probabilities item's box asks: the probability that the true value is at most the part's value."""
        point = points_of(item)[int(part[1:]) - 1]
        unit = text_in(item.unit, self.language) if item.unit else ""
        return say(N_("Probability that the true value is at most %(point)s"), point=quantity(point, unit))

    def describe_required(self, item: Item) -> Markup:
        if not item.required:
            return Markup("")
        if self._required is None:  # the same mark for every required question of the page
            self._required = Markup(
                '<span class="required-mark" aria-hidden="true">*</span><span class="visually-hidden">{}</span>'
            ).format(gettext("(required)"))
        return self._required


@dataclass(frozen=True)
class DistributionView:
    """A judgement as "Show my distribution" shows it: the SVG and the checks in words (numbers in ``<bdi>``)."""

    item_id: str
    svg: Markup
    checks: tuple[Markup, ...]
    fitted: bool


def distribution_view(shown: DistributionShown, language: str) -> DistributionView:
    """The drawing and the checks of a judgement in the page language."""
    item = shown.item
    fit = shown.fits.best if shown.fits is not None else None
    title = (
        gettext("Your distribution: the curve fitted to your values, with your values marked.")
        if fit is not None
        else gettext("Your values marked on the scale.")
    )
    svg = density_svg(
        shown.points,
        fit,
        lower=shown.lower,
        upper=shown.upper,
        ident=f"{item.id}-density",
        title=str(title),
        unit=text_in(item.unit, language) if item.unit else "",
        rtl=direction(language) == "rtl",
    )
    return DistributionView(item.id, svg, tuple(distribution_checks(shown, language)), fit is not None)


RTL_LETTERS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")  # Hebrew and Arabic-script letters
PERCENT_AFTER = re.compile(r"(%\(\w+\)s) %%")  # a parameter followed by a percent sign, in a catalog message


def quantity(value: float, unit: str = "") -> Markup:
    """A number, and its unit, laid out left to right in its own ``<bdi>`` (``-20 %`` never reads ``% 20-``);
    a unit written right to left (``دن``) stays outside it, so it follows the number in its own direction, and
    both sit in a ``quantity`` span. Neither wraps apart (the stylesheet keeps both on one line)."""
    text = number_text(value)
    if not unit:
        return Markup('<bdi dir="ltr">{}</bdi>').format(text)
    if RTL_LETTERS.search(unit):
        return Markup('<span class="quantity"><bdi dir="ltr">{}</bdi> {}</span>').format(text, unit)
    return Markup('<bdi dir="ltr">{} {}</bdi>').format(text, unit)


def say(msgid: str, **params: str | Markup) -> Markup:
    """A catalog message with its parameters; plain numbers are isolated as ``quantity`` isolates them, and one
    followed by a percent sign sits with it in a ``quantity`` span (``90 %`` never wraps apart)."""
    template = escape(str(gettext(msgid)))  # noqa: INT001 - the msgids are literals marked where they are written
    pieces, end = [], 0
    for found in PERCENT_AFTER.finditer(template):  # the template is escaped: its slices are markup already
        pieces += [
            template[end : found.start()],
            Markup('<span class="quantity">{} %%</span>').format(found[1]),
        ]
        end = found.end()
    template = Markup("").join([*pieces, template[end:]])
    isolated = {
        name: value if isinstance(value, Markup) else Markup('<bdi dir="ltr">{}</bdi>').format(value)
        for name, value in params.items()
    }
    return template % isolated


def distribution_checks(shown: DistributionShown, language: str) -> list[Markup]:
    """What the values say, in plain words: the range and how sure it says the expert is, where the best
    estimate lies in it, which family fitted best and whether the curve passes close to the values."""
    item = shown.item
    unit = text_in(item.unit, language) if item.unit else ""

    def amount(value: float) -> Markup:
        return quantity(value, unit)

    if isinstance(item.kind, Probabilities):
        checks = _probability_checks(shown, amount)
    else:
        checks = _interval_checks(shown, amount)
        checks.extend(_median_check(shown, amount))
    return checks + _fit_checks(shown, amount)


def _interval_checks(shown: DistributionShown, amount: Callable[[float], Markup]) -> list[Markup]:
    """The range the values give (a roulette's chips, or the low and high values) and how sure it says the expert is."""
    points = shown.points
    values, probabilities = points.values, points.probabilities
    checks: list[Markup] = []
    roulette = points.lower is not None and points.upper is not None
    if points.lower is not None and points.upper is not None:
        checks.append(
            say(
                N_(
                    "You placed all your chips between %(lower)s and %(upper)s: you are saying the true value"
                    " certainly lies in that range."
                ),
                lower=amount(points.lower),
                upper=amount(points.upper),
            )
        )
    if len(values) >= 2:
        low, high = values[0], values[-1]
        percent = number_text(round((probabilities[-1] - probabilities[0]) * 100, 1))
        if roulette:
            checks.append(
                say(
                    N_(
                        "You are saying you are %(percent)s %% sure that the true value lies between %(low)s and"
                        " %(high)s."
                    ),
                    percent=percent,
                    low=amount(low),
                    high=amount(high),
                )
            )
        else:
            checks.append(
                say(
                    N_(
                        "Your low and high values, %(low)s and %(high)s, are %(width)s apart: you are saying you are"
                        " %(percent)s %% sure that the true value lies between them."
                    ),
                    low=amount(low),
                    high=amount(high),
                    width=amount(high - low),
                    percent=percent,
                )
            )
            checks.append(
                say(
                    N_(
                        "Put another way: you expect the true value to fall outside this range only %(outside)s"
                        " times in 100. Ranges are often too narrow; widen yours if a value outside it would not"
                        " surprise you that much."
                    ),
                    outside=number_text(round(100 - (probabilities[-1] - probabilities[0]) * 100, 1)),
                )
            )
    return checks


def _probability_checks(shown: DistributionShown, amount: Callable[[float], Markup]) -> list[Markup]:
    """A probabilities judgement in words: what 0 and 100 % rule out, the chance of each range between the values
    ("a 30 % chance that the true value lies between 2 and 3") and of the ends, and the even-chance value."""
    points = shown.points
    steps: list[tuple[float, float]] = list(zip(points.values, points.probabilities, strict=True))
    checks: list[Markup] = []
    if points.lower is not None:
        steps.insert(0, (points.lower, 0.0))
        checks.append(
            say(
                N_(
                    "You gave a 0 %% probability to values of at most %(lower)s: you are saying the true value is"
                    " certainly above %(lower)s."
                ),
                lower=amount(points.lower),
            )
        )
    if points.upper is not None:
        steps.append((points.upper, 1.0))
        checks.append(
            say(
                N_(
                    "You gave a 100 %% probability to values of at most %(upper)s: you are saying the true value is"
                    " certainly not above %(upper)s."
                ),
                upper=amount(points.upper),
            )
        )

    def percent(probability: float) -> str:
        return number_text(round(probability * 100, 1))

    if points.lower is None and steps:
        checks.append(
            say(
                N_("You are saying there is a %(percent)s %% chance that the true value is below %(high)s."),
                percent=percent(steps[0][1]),
                high=amount(steps[0][0]),
            )
        )
    for (low, p_low), (high, p_high) in zip(steps, steps[1:], strict=False):
        checks.append(
            say(
                N_(
                    "You are saying there is a %(percent)s %% chance that the true value lies between %(low)s and"
                    " %(high)s."
                ),
                percent=percent(p_high - p_low),
                low=amount(low),
                high=amount(high),
            )
        )
    if points.upper is None and steps:
        checks.append(
            say(
                N_("You are saying there is a %(percent)s %% chance that the true value is above %(low)s."),
                percent=percent(1 - steps[-1][1]),
                low=amount(steps[-1][0]),
            )
        )
    even = next(
        (v for v, p in zip(points.values, points.probabilities, strict=True) if abs(p - 0.5) < 1e-9), None
    )
    if even is not None:
        checks.append(
            say(
                N_("You are saying the true value is as likely to lie below %(median)s as above it."),
                median=amount(even),
            )
        )
    elif shown.fits is not None:
        checks.extend(_median_check(shown, amount))  # no value at 50 %: the fitted median is said instead
    return checks


def _fit_checks(shown: DistributionShown, amount: Callable[[float], Markup]) -> list[Markup]:
    """Which family fitted best and whether the curve passes close to the values."""
    checks: list[Markup] = []
    fit = shown.fits.best if shown.fits is not None else None
    if fit is None:
        checks.append(
            say(N_("No distribution could be fitted to these values: only your values are marked."))
        )
        return checks
    words = FAMILY_WORDS.get(fit.family)
    if words is None:
        checks.append(
            say(
                N_("The curve is the distribution that fits your values best: %(family)s."), family=fit.family
            )
        )
    elif fit.family == "beta":
        lower, upper = (
            fit.lower if fit.lower is not None else 0.0,
            fit.upper if fit.upper is not None else 1.0,
        )
        checks.append(say(words, lower=amount(lower), upper=amount(upper)))
    else:
        checks.append(say(words))
    if fit.sse > POOR_FIT:
        checks.append(
            say(
                N_(
                    "No common distribution passes close to all your values, so the curve is only a rough guide."
                    " Check that your values say what you mean."
                )
            )
        )
    return checks


def _median_check(shown: DistributionShown, amount: Callable[[float], Markup]) -> list[Markup]:
    """Where the best estimate (the median) lies between the low and high values, or the fitted median."""
    values, probabilities = shown.points.values, shown.points.probabilities
    middle = next((i for i, p in enumerate(probabilities) if abs(p - 0.5) < 1e-9), None)
    symmetric = abs(probabilities[0] + probabilities[-1] - 1) < 1e-9
    if middle is not None and 0 < middle < len(values) - 1 and symmetric:
        best = amount(values[middle])
        below, above = values[middle] - values[0], values[-1] - values[middle]
        if below < SYMMETRIC[0] * above:
            return [
                say(
                    N_(
                        "Your best estimate, %(best)s, is closer to your low value than to your high value: you think"
                        " the true value could be much higher than your best estimate, but not much lower."
                    ),
                    best=best,
                )
            ]
        if below > SYMMETRIC[1] * above:
            return [
                say(
                    N_(
                        "Your best estimate, %(best)s, is closer to your high value than to your low value: you think"
                        " the true value could be much lower than your best estimate, but not much higher."
                    ),
                    best=best,
                )
            ]
        return [
            say(
                N_(
                    "Your best estimate, %(best)s, lies about halfway between your low and high values: you are about"
                    " as unsure in both directions."
                ),
                best=best,
            )
        ]
    if middle is None and shown.fits is not None:
        median = amount(float(shown.fits.best.dist.ppf(0.5)))
        return [
            say(
                N_(
                    "The curve's median is %(median)s: on this curve, the true value is as likely to lie below"
                    " %(median)s as above it."
                ),
                median=median,
            )
        ]
    return []


def format_answer(item: Item, value: Any, language: str) -> str:
    """An answer as the expert reads it on the review page (the item's type words an answered value)."""
    if value is DONT_KNOW:
        return str(gettext("Don't know / prefer not to say"))
    if not is_answered(value):
        return str(gettext("Not answered"))
    return item.kind.describe(item, value, language, gettext)


def render_preview(definition: Definition, page_id: str | None, language: str) -> str:
    """A page exactly as experts see it, with a preview banner and inert forms (for the studio)."""
    if language not in definition.languages:
        language = definition.languages[0]
    pages = list(definition.pages)
    page = next((p for p in pages if p.id == page_id), pages[0]) if page_id else pages[0]
    g.language = language
    view = PageView(
        definition=definition,
        page=page,
        language=language,
        values={},
        number=pages.index(page) + 1,
        total=len(pages),
        preview=True,
    )
    index = pages.index(page)
    return render_template(
        "survey/page.html",
        view=view,
        token=None,
        previous_page=pages[index - 1].id if index > 0 else None,
        next_page=pages[index + 1].id if index + 1 < len(pages) else None,
    )
