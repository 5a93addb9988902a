"""One call per request of the expert's pages: the posted form in, what to show or where to go out.

A survey view opens the link, parses the request, makes one call here and renders or redirects what comes back:
a ``PageShown`` or ``ReviewShown`` (the values to show, the errors, the answers version and, when another window
changed the answers, what changed), a ``Landing``, or a ``Redirect`` to a page, the review or the link's own
address.

Few requests per response: the link's own address shows the first page before the response exists (in the
negotiated language, with the language switch), and posting it starts the response and saves the page at once; the
last page's forward button submits as it saves (``nav=submit``), while its "Check your answers" button leads to
the review page, which submits too. Every step stays a POST answered by a redirect, and works without JavaScript.

The rules live here, not in the view: which page may be opened and which comes next, which fields a page
accepts (its items' types say, ``values.form_names``), the language switch, the Delphi rationale items, and what a
page shows when it opens. A post that no page of the link could have sent raises ``RefusedPost``; a post to a page
the instrument does not have raises ``UnknownPage``. Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from elicit.errors import ElicitError
from elicit.instruments.schema import Definition, Item, Page, Practice
from elicit.models import Discussion, PracticeStatus, RoundStatus
from elicit.responding import flow
from elicit.responding import practice as training
from elicit.responding.compiled import CompiledVersion, page_fields
from elicit.responding.feedback import feedback_for
from elicit.responding.values import (
    DONT_KNOW,
    RATIONALE_SUFFIX,
    FieldError,
    Message,
    form_fields,
    form_names,
    note_fields,
    parse_item,
)

if TYPE_CHECKING:
    from elicit.stats.distributions import Fits
    from elicit.stats.judgements import Points

Form = Mapping[str, Sequence[str]]  # the posted fields: every value sent for a name, in order

VERSION_FIELD = "answers-version"  # not a possible item id (ids have no hyphen), so it never meets an answer
SHOW_FIELD = (
    "show"  # "Show my distribution": the id of the item whose judgement the page draws (nothing saved)
)
#: "Yes, I do not take part": refusing consent takes this second press, so one stray click declines nothing.
CONFIRM_DECLINE = "confirm_decline"
CONTROL_FIELDS = frozenset(
    {"csrf_token", "nav", "switch_language", "language", VERSION_FIELD, SHOW_FIELD, CONFIRM_DECLINE}
)
SINGLE_FIELDS = ("nav", "switch_language", "csrf_token", VERSION_FIELD, SHOW_FIELD, CONFIRM_DECLINE)
MAX_FIELDS = 400
REVIEW = flow.REVIEW
LANDING = ""  # a Redirect to the link's own address: the landing page, or the thank-you page once finished
PRACTICE = "-practice"  # a Redirect to the practice page (never a page id: ids have no hyphen)

FOREIGN_FIELDS = Message("The form contained fields this page does not have.")
SENT_TWICE = Message("The form was sent twice in one request.")
UNKNOWN_LANGUAGE = Message("Unknown language.")
UNKNOWN_NAVIGATION = Message("Unknown navigation.")
#: What the first submit button of a page (hidden, before the language switch, Back and "Show my distribution")
#: sends, so that the Enter key in a text box does what the expert expects: save and continue.
ENTER_KEY = "enter"
NOTHING_TO_SHOW = Message("Give your values first, then your distribution can be shown.")
NOT_A_DISTRIBUTION = Message("These values do not describe a distribution; please check them.")
#: The practice page's buttons: score the answers (also what Enter does), or skip the practice.
SCORE, SKIP = "score", "skip"


class RefusedPost(ElicitError):
    """A post no page of this link could have sent (a foreign field, a field twice, an unknown button)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.english())
        self.message = message


class UnknownPage(ElicitError):
    """A post to a page the link's instrument does not have."""


@dataclass(frozen=True)
class Redirect:
    """Go elsewhere: ``target`` is a page id, ``REVIEW`` or ``LANDING``.

    ``language`` is set when this request chose the page language (the browser remembers it); ``response_id``
    when this request began the response (the browser remembers when, for an anonymous response's duration).
    """

    target: str
    language: str | None = None
    response_id: str | None = None


@dataclass(frozen=True)
class Landing:
    """The link's own page: ``open`` (choose a language to start), ``submitted`` or ``declined`` (thank you), or
    ``discussion`` (IDEA's discussion of the round the expert submitted)."""

    state: str


@dataclass(frozen=True)
class PageShown:
    """A questionnaire page to show, with the values in its fields and the version of the answers it shows.

    ``changed`` is set when another window changed this page since it was shown (nothing was saved): its items
    whose stored answers differ from what was sent, each with what is stored now. ``always_shown`` are items
    shown whatever their relevance (they hold typed values the server has not judged).
    """

    definition: Definition
    page: Page
    language: str
    values: Form
    answers: Mapping[str, Any]
    number: int
    total: int
    version: str
    errors: Mapping[str, Message] = field(default_factory=dict)
    feedback: Mapping[str, Any] = field(default_factory=dict)
    rationale_items: frozenset[str] = frozenset()
    k: int = 5
    always_shown: frozenset[str] = frozenset()
    changed: tuple[tuple[Item, Any], ...] = ()
    distribution: DistributionShown | None = None
    confirm_decline: bool = False  # the expert refused consent: the page asks them to confirm (nothing saved)
    landing: bool = False  # the first page shown before the response exists: posting it starts the response

    @property
    def stale(self) -> bool:
        return bool(self.changed)

    @property
    def last(self) -> bool:
        """The last page that may be shown: its forward button submits (``nav=submit``) as it saves."""
        return self.number == self.total


@dataclass(frozen=True)
class DistributionShown:
    """What "Show my distribution" draws for an item before anything is saved.

    ``points`` are the posted judgement as cumulative points, ``fits`` the families fitted to them (best first;
    None when none could be fitted), ``lower`` and ``upper`` the support the fit honoured: the item's ``min`` and
    ``max``, else where the judgement itself bounds it (a roulette's outer bins with chips).
    """

    item: Item
    points: Points
    fits: Fits | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class ReviewShown:
    """The review page: each visible page with its answered-or-not items and their values.

    ``missing`` lists required items without an answer (shown after a refused submit); ``incomplete`` says the
    submit was refused for them, ``stale`` that it was refused because another window changed the answers.
    """

    definition: Definition
    language: str
    sections: tuple[tuple[Page, tuple[tuple[Item, Any], ...]], ...]
    version: str
    missing: tuple[tuple[Page, Item], ...] = ()
    incomplete: bool = False
    stale: bool = False


@dataclass(frozen=True)
class PracticeShown:
    """The practice page: its questions with the values in their fields, or (once scored) the score.

    ``onward`` is where "Continue to the questions" goes (a page id or ``REVIEW``); ``stale`` says a post came from
    a page that another window had scored since (the stored score is shown, nothing of this post is kept).
    """

    definition: Definition
    language: str
    values: Form
    version: str
    onward: str
    errors: Mapping[str, Message] = field(default_factory=dict)
    score: training.PracticeScore | None = None
    distribution: DistributionShown | None = None
    stale: bool = False


# ------------------------------------------------------------------------------------------ one call per request


def show_landing(link: flow.ExpertLink, session: Session) -> Landing | Redirect | PageShown:
    """Opening the link: the thank-you page once finished (IDEA's ``discussion`` page while the finished round is
    discussed), where the expert was once started, else the first page (``PageShown.landing``: posting it starts
    the response) in the negotiated language."""
    if link.declined:
        return Landing("declined")
    if link.submitted:
        if link.round.status == RoundStatus.CLOSED:
            discussion = session.get(Discussion, link.round.id)
            if discussion is not None and discussion.is_open:
                return Landing("discussion")
        return Landing("submitted")
    if link.response is not None:
        return Redirect(_onward(link, flow.resume_page(link)))
    return _page_shown(session, link, _landing_page(link.definition), _stored_fields(session, link))


def _landing_page(definition: Definition) -> Page:
    """The page the link's own address shows before the response exists: the first page shown without answers."""
    visible = flow.visible_pages(definition, {})
    return visible[0] if visible else definition.pages[0]


def begin(session: Session, link: flow.ExpertLink, language: str) -> Redirect:
    """Start (or rejoin) the response in ``language`` and go where it continues: the POST an earlier landing page
    (a language choice) sent, still answered for a page left open in a tab or an outside client."""
    if link.submitted or link.declined:
        return Redirect(LANDING)
    chosen = language if language in link.definition.languages else None
    try:
        response = flow.start(session, link, language)
    except flow.AlreadySubmitted:
        return Redirect(LANDING, language=chosen)
    return Redirect(_onward(link, flow.resume_page(link)), language=chosen, response_id=response.id)


def show_page(session: Session, link: flow.ExpertLink, page_id: str) -> PageShown | Redirect:
    """A page with the stored answers; a page not open yet (or not visible) sends the expert where to resume."""
    if link.submitted or link.declined or link.response is None:
        return Redirect(LANDING)
    page = _page(link.definition, page_id)
    if page is None or not flow.reachable(link, page_id):
        return Redirect(_onward(link, flow.resume_page(link)))
    if training.due(link, page_id):
        return Redirect(PRACTICE)
    return _page_shown(session, link, page, _stored_fields(session, link))


def post_page(
    session: Session,
    link: flow.ExpertLink,
    page_id: str,
    form: Form,
    *,
    started: datetime | None = None,
) -> PageShown | ReviewShown | Redirect:
    """Save a posted page and move forward or back, submit (the last page), or switch the language, keeping
    everything typed.

    The page comes back with what was sent when it has errors (going forward), when only the language changed,
    or when another window changed its answers since it was shown (``PageShown.changed``); otherwise the answer
    is where to go next. ``nav=submit`` saves the page and submits the response (``started`` as for
    ``post_review``) once every page is saved, or goes to the page still to answer; the review comes back when
    required answers are missing. The landing page (before the response exists) starts the response as it
    saves. "Show my distribution" (``show`` = an item id) saves nothing: the page comes back with what was sent
    and that item's judgement fitted (``PageShown.distribution``), or its errors. Raises UnknownPage or
    RefusedPost for a post this page could not have sent.
    """
    if link.submitted or link.declined:
        return Redirect(LANDING)
    page = _page(link.definition, page_id)
    if page is None:
        raise UnknownPage(page_id)
    problem = _field_problem(form, page, link.rationale_items, link.compiled)
    if problem is not None:
        raise RefusedPost(problem)
    if link.response is None:
        return _post_landing(session, link, page, form, started)
    return _post_started(session, link, page, form, started)


def _post_started(
    session: Session, link: flow.ExpertLink, page: Page, form: Form, started: datetime | None
) -> PageShown | ReviewShown | Redirect:
    """``post_page`` once the response exists."""
    page_id = page.id
    if not flow.reachable(link, page_id):
        return Redirect(_onward(link, flow.resume_page(link)))
    shown_item = _first(form, SHOW_FIELD, None)
    if shown_item is not None:
        return _distribution_page(session, link, page, form, shown_item)
    nav, switch = _navigation(link, form)
    if nav in {"next", "submit"} and not switch and _declines(page, form) and not _confirmed(form):
        return _page_shown(session, link, page, form, confirm_decline=True)
    try:
        result = flow.save_page(session, link, page, form, _first(form, VERSION_FIELD, None) or None)
    except flow.AlreadySubmitted:
        return Redirect(LANDING)
    except flow.StaleAnswers as stale:
        changed = tuple((item, link.answers.get(item.id)) for item in stale.changed)
        return _page_shown(session, link, page, form, version=stale.current, changed=changed)
    if result.declined or link.response is None:
        return Redirect(LANDING)
    if switch:
        link.response.language = switch
        if not result.ok:
            # What was typed comes back in the new language, without scolding: the expert only switched language.
            return _page_shown(session, link, page, form)
        return Redirect(page_id, language=switch)
    if nav == "back" and _practice_before(link, page_id):
        return Redirect(PRACTICE)
    if not result.ok:
        if nav == "back":
            return Redirect(flow.neighbour(link, page_id, -1))
        return _page_shown(session, link, page, form, errors=result.errors)
    if nav == "submit":
        return _submit_after_save(session, link, started)
    return Redirect(_onward(link, flow.neighbour(link, page_id, -1 if nav == "back" else 1)))


def _navigation(link: flow.ExpertLink, form: Form) -> tuple[str, str | None]:
    """The button a page post was sent with: ``nav`` (``next``, ``back`` or ``submit``; Enter is ``next``) and
    the language switched to, if any. Raises RefusedPost for a button no page has."""
    nav = _first(form, "nav", "next") or "next"
    if nav == ENTER_KEY:  # the page's hidden default button: Enter in a text box saves and continues
        nav = "next"
    switch = _first(form, "switch_language", None)
    if switch is not None and switch not in link.definition.languages:
        raise RefusedPost(UNKNOWN_LANGUAGE)
    if nav not in {"next", "back", "submit"} and not switch:
        raise RefusedPost(UNKNOWN_NAVIGATION)
    return nav, switch


def _confirmed(form: Form) -> bool:
    """Whether the expert confirmed refusing consent ("Yes, I do not take part")."""
    return _first(form, CONFIRM_DECLINE, None) == "yes"


def _shown_in(link: flow.ExpertLink, form: Form) -> None:
    """A posted landing page carries the language it was shown in (``language``): it is shown again, and the
    response starts, in that language."""
    language = _first(form, "language", None)
    if language in link.definition.languages:
        link.negotiated = language


def _submit_after_save(
    session: Session, link: flow.ExpertLink, started: datetime | None
) -> ReviewShown | Redirect:
    """Submit once the last page is saved: the thank-you page; a page still to answer (a later page the saved
    answers made visible, or the practice) first; the review with what is missing when required answers are."""
    resume = flow.resume_page(link)
    if resume != REVIEW or training.due(link, REVIEW):
        return Redirect(_onward(link, resume))
    try:
        flow.submit(session, link, started=started)
    except flow.IncompleteResponse:
        return _review_shown(session, link, missing=True, incomplete=True)
    return Redirect(LANDING)


def _post_landing(
    session: Session, link: flow.ExpertLink, page: Page, form: Form, started: datetime | None
) -> PageShown | ReviewShown | Redirect:
    """The landing page posted (the response does not exist yet): a language switch shows it again in the new
    language (nothing is stored); a valid page starts the response in the language it was shown in (the form's
    ``language``) and is saved at once; a page with errors comes back and starts nothing."""
    if page.id != _landing_page(link.definition).id:
        return Redirect(LANDING)
    _shown_in(link, form)
    shown_item = _first(form, SHOW_FIELD, None)
    if shown_item is not None:
        return _distribution_page(session, link, page, form, shown_item)
    nav, switch = _navigation(link, form)
    if switch:
        link.negotiated = switch
        if any(name not in CONTROL_FIELDS for name in form):  # something typed: shown again with it
            return _page_shown(session, link, page, form)
        return Redirect(LANDING, language=switch)
    if nav == "back":
        return Redirect(LANDING)
    checked = flow.validate_page(link.definition, page, form, {}, link.rationale_items)
    if not checked.ok:
        return _page_shown(session, link, page, form, errors=checked.errors)
    if _declines(page, form) and not _confirmed(form):
        return _page_shown(session, link, page, form, confirm_decline=True)
    language = link.page_language()
    try:
        response = flow.start(session, link, language)
    except flow.AlreadySubmitted:
        return Redirect(LANDING, language=language)
    went = _post_started(session, link, page, form, started)
    if isinstance(went, Redirect):
        return replace(went, language=went.language or language, response_id=response.id)
    return went


def show_review(session: Session, link: flow.ExpertLink) -> ReviewShown | Redirect:
    """The review page, once every visible page is saved (before that, the page to resume at)."""
    if link.submitted or link.declined or link.response is None:
        return Redirect(LANDING)
    resume = flow.resume_page(link)
    if resume != REVIEW or training.due(link, REVIEW):
        return Redirect(_onward(link, resume))
    return _review_shown(session, link)


def post_review(
    session: Session, link: flow.ExpertLink, form: Form, started: datetime | None = None
) -> ReviewShown | Redirect:
    """Submit once (a double click, a replay or a second tab lands on the same thank-you page), or go back.

    ``started`` is when this browser started the response (the duration of an anonymous one). The review comes
    back when required answers are missing or another window changed the answers since it was shown.
    """
    if link.submitted or link.declined:
        return Redirect(LANDING)
    if any(key not in CONTROL_FIELDS for key in form) or _sent_twice(form):
        raise RefusedPost(FOREIGN_FIELDS)
    if link.response is None:
        return Redirect(LANDING)
    nav = _first(form, "nav", None)
    if nav == "back":
        return Redirect(flow.visible_pages(link.definition, link.answers)[-1].id)
    if nav != "submit":
        raise RefusedPost(UNKNOWN_NAVIGATION)
    try:
        flow.submit(
            session, link, started=started, expected_version=_first(form, VERSION_FIELD, None) or None
        )
    except flow.StaleAnswers as stale:
        return _review_shown(
            session, link, missing=bool(flow.missing_required(link)), version=stale.current, stale=True
        )
    except flow.IncompleteResponse:
        return _review_shown(session, link, missing=True, incomplete=True)
    return Redirect(LANDING)


def show_practice(session: Session, link: flow.ExpertLink) -> PracticeShown | Redirect:
    """The practice page: its questions, or the stored score once scored. Before the consent pages are saved
    (or on an instrument without practice) the expert goes where they resume."""
    if link.submitted or link.declined or link.response is None:
        return Redirect(LANDING)
    if not training.is_open(link):
        return Redirect(_onward(link, flow.resume_page(link)))
    return _practice_shown(session, link)


def post_practice(session: Session, link: flow.ExpertLink, form: Form) -> PracticeShown | Redirect:
    """Score the practice answers (stored apart, then the score is shown), skip the practice, show a judgement's
    distribution or switch the language. A post with errors comes back with them and stores nothing; a post
    from a page another window scored since shows the stored score. Raises UnknownPage on an instrument without
    practice and RefusedPost for a post the practice page could not have sent.
    """
    if link.submitted or link.declined or link.response is None:
        return Redirect(LANDING)
    practice = link.definition.practice
    if practice is None:
        raise UnknownPage(PRACTICE)
    problem = _practice_field_problem(form, practice)
    if problem is not None:
        raise RefusedPost(problem)
    if not training.is_open(link):
        return Redirect(_onward(link, flow.resume_page(link)))
    shown_item = _first(form, SHOW_FIELD, None)
    switch = _first(form, "switch_language", None)
    nav = _first(form, "nav", SCORE)
    if nav == ENTER_KEY:
        nav = SCORE
    if switch is not None and switch not in link.definition.languages:
        raise RefusedPost(UNKNOWN_LANGUAGE)
    if shown_item is None and not switch and nav not in {SCORE, SKIP}:
        raise RefusedPost(UNKNOWN_NAVIGATION)
    try:
        flow.lock_link(session, link)
    except flow.AlreadySubmitted:
        return Redirect(LANDING)
    response = link.response
    if response is None:
        return Redirect(LANDING)
    if switch:
        response.language = switch
        if link.practice_status == PracticeStatus.SCORED:
            return Redirect(PRACTICE, language=switch)
        return _practice_shown(session, link, form)
    if link.practice_status == PracticeStatus.SCORED:
        sent = _first(form, VERSION_FIELD, None)
        stored = training.load_values(session, response, practice)
        stale = nav == SCORE and sent is not None and sent != training.version(link, stored)
        if not stale:
            return Redirect(PRACTICE if nav == SCORE else flow.resume_page(link))
        return _practice_shown(session, link, stale=True)
    if shown_item is not None:
        return _practice_distribution(session, link, form, shown_item)
    if nav == SKIP:
        training.record_skip(session, link)
        return Redirect(flow.resume_page(link))
    values, errors = training.parse(practice, form)
    if errors:
        return _practice_shown(session, link, form, errors=errors)
    training.record_score(session, link, values)
    return Redirect(PRACTICE)


# ------------------------------------------------------------------------- a refused post shown back (recovery)


def show_page_again(session: Session, link: flow.ExpertLink, page_id: str, form: Form) -> PageShown | None:
    """A page post refused before it was read (no valid CSRF token): the page again with what was sent.

    None when this link could not have sent it (a page not open, a field the page has not). Before the response
    exists, only the landing page.
    """
    page = _page(link.definition, page_id)
    if page is None or _field_problem(form, page, link.rationale_items, link.compiled) is not None:
        return None
    if link.response is None:
        if page.id != _landing_page(link.definition).id:
            return None
        _shown_in(link, form)
        return _page_shown(session, link, page, form)
    if not flow.reachable(link, page_id):
        return None
    return _page_shown(session, link, page, form, version=_first(form, VERSION_FIELD, None) or None)


def show_review_again(session: Session, link: flow.ExpertLink, form: Form) -> ReviewShown | None:
    """A submit refused before it was read: the review again (with what is stored now, so its version is the
    current one); None when this link could not have sent it."""
    if (
        link.response is None
        or flow.resume_page(link) != REVIEW
        or any(key not in CONTROL_FIELDS for key in form)
    ):
        return None
    return _review_shown(session, link)


def page_from_memory(
    definition: Definition,
    page_id: str,
    form: Form,
    *,
    language: str,
    answers: Mapping[str, Any],
    rationale_items: frozenset[str],
    k: int,
) -> PageShown | None:
    """The posted page again without the database (it is down), from what this process knows of the link.

    Rationale fields the form carried count as asked; items that hold typed values are shown whatever their
    relevance (the server could not judge it). None when the form does not fit the page.
    """
    page = _page(definition, page_id)
    asked = rationale_items | _posted_rationales(form)
    if page is None or _field_problem(form, page, asked) is not None:
        return None
    typed = {item.id for item in page.answerable_items() if any(n.split(".")[0] == item.id for n in form)}
    typed |= {group.id for group in page.items if any(row.id in typed for row in group.rows)}
    return _page_of(
        definition,
        page,
        language,
        form,
        answers,
        version=_first(form, VERSION_FIELD, None) or "",
        rationale_items=asked,
        k=k,
        always_shown=frozenset(typed),
    )


def review_from_memory(
    definition: Definition, answers: Mapping[str, Any], language: str, form: Form
) -> ReviewShown:
    """The posted review again without the database, from the answers this request read before it failed."""
    version = _first(form, VERSION_FIELD, None) or ""
    return ReviewShown(definition, language, _sections(definition, answers), version)


# ---------------------------------------------------------------------------------------------------- details


def _first(form: Form, name: str, default: str | None) -> str | None:
    """The first value posted for ``name``, or ``default`` when it was not posted."""
    values = form.get(name)
    return values[0] if values else default


def _sent_twice(form: Form) -> bool:
    return any(len(form.get(control, ())) > 1 for control in SINGLE_FIELDS)


def _page(definition: Definition, page_id: str) -> Page | None:
    return next((p for p in definition.pages if p.id == page_id), None)


def _field_problem(
    form: Form, page: Page, asks_rationale: frozenset[str], compiled: CompiledVersion | None = None
) -> Message | None:
    """Why a post does not fit a page, or None when every field belongs to it (its items' types name them; with
    ``compiled``, the set made once per version)."""
    allowed = (
        compiled.fields(page, asks_rationale, CONTROL_FIELDS)
        if compiled is not None
        else page_fields(page, asks_rationale, CONTROL_FIELDS)
    )
    if len(form) > MAX_FIELDS or any(key not in allowed for key in form):
        return FOREIGN_FIELDS
    if _sent_twice(form):
        return SENT_TWICE
    return None


def _distribution_page(
    session: Session, link: flow.ExpertLink, page: Page, form: Form, item_id: str
) -> PageShown:
    """The posted page again with one item's judgement fitted, or that item's errors; nothing is saved."""
    item = next(
        (i for i in page.answerable_items() if i.id == item_id and i.kind.analysis == "distribution"), None
    )
    if item is None:
        raise RefusedPost(UNKNOWN_NAVIGATION)
    judged = _judged(item, form)
    if isinstance(judged, DistributionShown):
        return _page_shown(session, link, page, form, distribution=judged)
    return _page_shown(session, link, page, form, errors=judged)


def _judged(item: Item, form: Form) -> DistributionShown | dict[str, Message]:
    """The posted judgement of ``item`` fitted, as "Show my distribution" draws it, or the errors to show."""
    try:
        value = parse_item(item, form)
    except FieldError as exc:
        return {exc.field: exc.message}
    if value is None or value is DONT_KNOW:
        return {flow.field_of(item): NOTHING_TO_SHOW}
    try:
        points = item.kind.cumulative(item, value)
    except ValueError:
        points = None
    if points is None or not points.values:
        return {flow.field_of(item): NOT_A_DISTRIBUTION}
    lower = float(item.min) if item.min is not None else points.lower
    upper = float(item.max) if item.max is not None else points.upper
    return DistributionShown(
        item, points, _fitted(points, lower, upper, item.option("families")), lower, upper
    )


def _fitted(
    points: Points, lower: float | None, upper: float | None, families: tuple[str, ...] | None = None
) -> Fits | None:
    """The families fitted to ``points`` on the given support, best first; None when none can be fitted."""
    from elicit.stats.distributions import fit_judgement  # scipy loads when a distribution is first shown

    try:
        return fit_judgement(points, lower=lower, upper=upper, families=families)
    except (ValueError, ArithmeticError):
        return None


def _posted_rationales(form: Form) -> frozenset[str]:
    """Items the posted form carried a rationale for (the round asked for one)."""
    return frozenset(name[: -len(RATIONALE_SUFFIX)] for name in form if name.endswith(RATIONALE_SUFFIX))


def _stored_fields(session: Session, link: flow.ExpertLink) -> dict[str, list[str]]:
    """The fields that show the stored answers and notes, and what is held in questions that do not apply (a
    follow-up shows it again once its condition holds); in a later Delphi round, the expert's answers of the
    previous round fill the pages not saved yet in this one."""
    asks_notes = link.rationale_items or any(item.confidence for item in link.definition.items())
    notes = (  # no query on plain surveys, nor before the response exists
        flow.load_notes(session, link.response) if asks_notes and link.response is not None else {}
    )
    shown = _fields_of(link.definition, link.stored, notes)
    if link.round.number > 1:
        earlier = flow.previous_response(session, link)
        if earlier is not None:
            done = link.pages_done
            before = flow.load_answers(session, earlier, link.definition)
            unsaved = {k: v for k, v in before.items() if link.definition.page_of(k).id not in done}
            shown = {**_fields_of(link.definition, unsaved, {}), **shown}
    return shown


def _fields_of(
    definition: Definition, answers: Mapping[str, Any], notes: Mapping[str, tuple[int | None, str | None]]
) -> dict[str, list[str]]:
    """Form fields that show answers (and their confidence and rationale) again."""
    fields: dict[str, list[str]] = {}
    for item in definition.items():
        if item.id in answers:
            fields.update(form_fields(item, answers[item.id]))
        if item.id in notes:
            fields.update(note_fields(item, *notes[item.id]))
    return fields


def _declines(page: Page, form: Form) -> bool:
    """Whether the post refuses a consent of the page (the answer that ends the response)."""
    return any(
        item.kind.gates_response and _first(form, item.id, None) == "no" for item in page.answerable_items()
    )


def _page_shown(
    session: Session,
    link: flow.ExpertLink,
    page: Page,
    values: Form,
    *,
    version: str | None = None,
    errors: Mapping[str, Message] | None = None,
    changed: tuple[tuple[Item, Any], ...] = (),
    distribution: DistributionShown | None = None,
    confirm_decline: bool = False,
) -> PageShown:
    """A page of the link; ``version`` defaults to that of the stored answers it shows."""
    items = list(page.answerable_items())
    if version is None:
        version = flow.answers_version(session, link, items)
    return _page_of(
        link.definition,
        page,
        link.page_language(),
        values,
        link.answers,
        version=version,
        errors=errors or {},
        feedback=feedback_for(session, link, items),
        rationale_items=link.rationale_items,
        k=link.study.k_threshold,
        changed=changed,
        distribution=distribution,
        confirm_decline=confirm_decline,
        landing=link.response is None,
    )


def _page_of(
    definition: Definition,
    page: Page,
    language: str,
    values: Form,
    answers: Mapping[str, Any],
    **shown: Any,
) -> PageShown:
    """A page with its place in the questionnaire ("page k of n" counts the pages that may still be shown)."""
    ids = [p.id for p in flow.progress_pages(definition, answers)]
    number = ids.index(page.id) + 1 if page.id in ids else 1
    return PageShown(definition, page, language, values, answers, number, len(ids), **shown)


def _review_shown(
    session: Session,
    link: flow.ExpertLink,
    *,
    missing: bool = False,
    version: str | None = None,
    incomplete: bool = False,
    stale: bool = False,
) -> ReviewShown:
    """The link's review page; ``version`` defaults to that of the stored answers it shows."""
    return ReviewShown(
        definition=link.definition,
        language=link.page_language(),
        sections=_sections(link.definition, link.answers),
        version=flow.answers_version(session, link) if version is None else version,
        missing=tuple(flow.missing_required(link)) if missing else (),
        incomplete=incomplete,
        stale=stale,
    )


def _sections(
    definition: Definition, answers: Mapping[str, Any]
) -> tuple[tuple[Page, tuple[tuple[Item, Any], ...]], ...]:
    """Each visible page with its visible items and their answers; items that gate the response (consent) and
    pages left with nothing to show are left out."""
    sections = []
    for page in flow.visible_pages(definition, answers):
        rows = tuple(
            (item, answers.get(item.id))
            for item, matrix in flow.items_on(page)
            if not item.kind.gates_response and flow.item_visible(item, answers, matrix)
        )
        if rows:
            sections.append((page, rows))
    return tuple(sections)


# ------------------------------------------------------------------------------------------- the practice page


def _onward(link: flow.ExpertLink, target: str) -> str:
    """Where a move to ``target`` lands: the practice page instead, while it is due before ``target``."""
    if target != LANDING and training.due(link, target):
        return PRACTICE
    return target


def _practice_before(link: flow.ExpertLink, page_id: str) -> bool:
    """Whether Back on ``page_id`` goes to the practice page: it is the page the practice comes before."""
    return link.definition.practice is not None and training.point(link.definition, link.answers) == page_id


def _practice_field_problem(form: Form, practice: Practice) -> Message | None:
    """Why a post does not fit the practice page, or None when every field belongs to it."""
    allowed = set(CONTROL_FIELDS)
    for item in practice.items:
        allowed |= form_names(item, False)
    if len(form) > MAX_FIELDS or any(key not in allowed for key in form):
        return FOREIGN_FIELDS
    if _sent_twice(form):
        return SENT_TWICE
    return None


def _practice_shown(
    session: Session,
    link: flow.ExpertLink,
    values: Form | None = None,
    *,
    errors: Mapping[str, Message] | None = None,
    distribution: DistributionShown | None = None,
    stale: bool = False,
) -> PracticeShown:
    """The practice page of the link: the score once scored, else the questions with ``values`` (or the stored)."""
    practice, response = link.definition.practice, link.response
    assert practice is not None and response is not None  # nosec B101  # narrows the type: callers check both
    stored = training.load_values(session, response, practice) if link.practice_status else {}
    scored = link.practice_status == PracticeStatus.SCORED
    if values is None:
        values = {}
        for item in practice.items:
            if item.id in stored:
                values.update(form_fields(item, stored[item.id]))
    return PracticeShown(
        definition=link.definition,
        language=link.page_language(),
        values=values,
        version=training.version(link, stored),
        onward=flow.resume_page(link),
        errors=errors or {},
        score=training.score(practice, stored) if scored else None,
        distribution=distribution,
        stale=stale,
    )


def _practice_distribution(
    session: Session, link: flow.ExpertLink, form: Form, item_id: str
) -> PracticeShown:
    """The practice page again with one question's judgement fitted, or its errors; nothing is stored."""
    practice = link.definition.practice
    assert practice is not None  # nosec B101  # narrows the type: the caller checked it
    item = next((i for i in practice.items if i.id == item_id), None)
    if item is None:
        raise RefusedPost(UNKNOWN_NAVIGATION)
    judged = _judged(item, form)
    if isinstance(judged, DistributionShown):
        return _practice_shown(session, link, form, distribution=judged)
    return _practice_shown(session, link, form, errors=judged)
