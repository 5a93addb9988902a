"""The wording of a study's e-mails: a subject and a body per kind (invitation, reminder) and language.

A wording is plain text with placeholders in braces, such as ``{name}`` and ``{link}`` (:data:`PLACEHOLDERS`).
Only those names are filled, by plain substitution: never ``str.format`` (whose ``{x.attr}`` and ``{x[0]}`` reach
into objects) and never a template engine, so what a researcher types can do nothing but show text. ``{{`` and
``}}`` are literal braces. Checked when saved (:func:`check`):

* ``{link}`` stands alone on a line of the body, and never in the subject: mail programs show a link on its own
  line whole, also inside right-to-left text, and the subject is listed in the studio's outbox, which shows a
  link only once;
* the subject is one line; neither part holds control characters other than the body's line breaks.

A line of the text whose placeholders have no value (no closing date, no contact details) is left out, so one
wording suits studies with and without them (in the subject, such a placeholder is left empty).

Built-in wordings exist in English and Urdu. The Urdu one is written for right-to-left reading: the study's
title, the link and each contact detail stand on lines of their own, and in a right-to-left message a Latin or
numeric value is kept in its order by invisible left-to-right marks (:func:`keep_order`). Another language starts
from the English wording until the study's researchers write theirs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from string import Formatter

from babel.dates import format_date
from sqlalchemy.orm import Session

from elicit.models import InvitationTemplate, MailKind, Study, utcnow
from elicit.studies import CONTROL_RE

#: Every placeholder a wording may use, with what it becomes (the studio lists them).
PLACEHOLDERS: Mapping[str, str] = {
    "name": "the expert's name, as on the roster",
    "link": "the expert's personal link (body only, on a line of its own)",
    "study": "the study's title",
    "team": "the research team's name (“The study team” when the study has none)",
    "contact": "the team's contact e-mail",
    "contact_text": "the team's other contact details",
    "closes_on": "the study's closing date, written in the e-mail's language",
}
KINDS = (MailKind.INVITE, MailKind.REMIND)
KIND_LABELS = {MailKind.INVITE: "Invitation", MailKind.REMIND: "Reminder"}
LANGUAGE_LABELS = {"en": "English", "ur": "Urdu"}  # the studio's (English) names of the languages
MAX_SUBJECT = 300
MAX_BODY = 10_000
# In a body: every control character but the line break (a tab is allowed: it is plain spacing).
BODY_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
BLANK_LINES_RE = re.compile(r"\n{3,}")
_PARSER = Formatter()
LRM = "\u200e"


@dataclass(frozen=True)
class Wording:
    """The subject and body templates of one e-mail."""

    subject: str
    body: str


@dataclass(frozen=True)
class Team:
    """The research team as experts see it (each part may be empty)."""

    name: str = ""
    email: str = ""
    contact: str = ""

    @classmethod
    def of(cls, study: Study) -> Team:
        return cls(study.team_name or "", study.team_email or "", study.team_contact or "")


# ---------------------------------------------------------------------------------------------- built-in wording
_EN_REST = (
    "The study closes on {closes_on}.\n"
    "You can stop at any time and come back to the same link later. If you do not wish to take part, open the "
    "link and decline; you will not be contacted about this study again.\n"
    "\n"
    "With thanks,\n"
    "{team}\n"
    "{contact}\n"
    "{contact_text}\n"
)
_UR_REST = (
    "یہ مطالعہ {closes_on} کو بند ہو جائے گا۔\n"
    "آپ کسی بھی وقت رک سکتے ہیں اور بعد میں اسی لنک سے وہیں سے جاری رکھ سکتے ہیں۔ اگر آپ حصہ نہیں لینا "
    "چاہتے تو لنک کھول کر حصہ نہ لینے کا انتخاب کریں؛ اس مطالعے کے بارے میں آپ سے دوبارہ رابطہ نہیں کیا "
    "جائے گا۔\n"
    "\n"
    "شکریہ کے ساتھ،\n"
    "{team}\n"
    "{contact}\n"
    "{contact_text}\n"
)
_BUILT_IN: Mapping[tuple[MailKind, str], Wording] = {
    (MailKind.INVITE, "en"): Wording(
        "Invitation: {study}",
        "Dear {name},\n"
        "\n"
        'You are invited to take part in the study "{study}".\n'
        "Your personal link (please do not forward it; it is yours alone):\n"
        "\n"
        "{link}\n"
        "\n" + _EN_REST,
    ),
    (MailKind.REMIND, "en"): Wording(
        "Reminder: {study}",
        "Dear {name},\n"
        "\n"
        'This is a friendly reminder about the study "{study}".\n'
        "Here is a new personal link; it replaces the one we sent before, and any answers you saved are kept:\n"
        "\n"
        "{link}\n"
        "\n" + _EN_REST,
    ),
    (MailKind.INVITE, "ur"): Wording(
        "دعوت نامہ: {study}",
        "محترم/محترمہ {name}،\n"
        "\n"
        "آپ کو اس تحقیقی مطالعے میں حصہ لینے کی دعوت دی جاتی ہے:\n"
        "{study}\n"
        "\n"
        "یہ آپ کا ذاتی لنک ہے۔ براہِ کرم اسے کسی اور کو نہ بھیجیں، یہ صرف آپ کے لیے ہے:\n"
        "\n"
        "{link}\n"
        "\n" + _UR_REST,
    ),
    (MailKind.REMIND, "ur"): Wording(
        "یاد دہانی: {study}",
        "محترم/محترمہ {name}،\n"
        "\n"
        "یہ اس تحقیقی مطالعے کے بارے میں ایک دوستانہ یاد دہانی ہے:\n"
        "{study}\n"
        "\n"
        "یہ آپ کا نیا ذاتی لنک ہے۔ یہ پہلے بھیجے گئے لنک کی جگہ لیتا ہے، اور آپ کے محفوظ کیے گئے جوابات "
        "برقرار رہیں گے:\n"
        "\n"
        "{link}\n"
        "\n" + _UR_REST,
    ),
}
# Anonymous studies cannot know who has answered (see elicit.responding.unlinking), so their reminders say so.
_ANSWERED_ALREADY = {
    "en": "If you have already answered, thank you: this study is anonymous, so we cannot tell who has, and you "
    "need do nothing more.\n",
    "ur": "اگر آپ جواب دے چکے ہیں تو آپ کا شکریہ: یہ مطالعہ گمنام ہے، اس لیے ہم نہیں جان سکتے کہ کس نے جواب "
    "دیا ہے، اور آپ کو مزید کچھ کرنے کی ضرورت نہیں۔\n",
}
_NO_TEAM_NAME = {"en": "The study team", "ur": "تحقیقی ٹیم"}
_DATE_LOCALES = {"en": "en_GB"}


def built_in(kind: MailKind | str, language: str, *, anonymous: bool = False) -> Wording:
    """The built-in wording of ``kind`` in ``language`` (English for a language without one)."""
    base = _base_language(language)
    kind = MailKind(kind)
    wording = _BUILT_IN[(kind, base)]
    if kind == MailKind.REMIND and anonymous:
        marker = "{link}\n\n"
        head, _, rest = wording.body.partition(marker)
        return Wording(wording.subject, head + marker + _ANSWERED_ALREADY[base] + rest)
    return wording


def has_built_in(language: str) -> bool:
    """Whether ``language`` has a built-in wording of its own (else the English one is used)."""
    return language.split("-")[0] in _NO_TEAM_NAME


def language_label(language: str) -> str:
    """A language as the studio names it: "Urdu (ur)"."""
    return f"{LANGUAGE_LABELS.get(language.split('-')[0], language)} ({language})"


def _base_language(language: str) -> str:
    base = language.split("-")[0]
    return base if base in _NO_TEAM_NAME else "en"


# ----------------------------------------------------------------------------------------------------- checking
def normalise(text: str) -> str:
    """``text`` as stored: line breaks as ``\\n``, no trailing spaces on a line, no blank lines around it."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def check(text: str, *, subject: bool) -> list[str]:
    """What is wrong with a subject (``subject=True``) or body template, in sentences; empty when it is fine."""
    part = "subject" if subject else "text"
    problems: list[str] = []
    if not text.strip():
        return [f"The {part} is empty."]
    limit = MAX_SUBJECT if subject else MAX_BODY
    if len(text) > limit:
        problems.append(f"The {part} is longer than {limit} characters.")
    if subject and CONTROL_RE.search(text):
        problems.append("The subject must be one line, without line breaks or other control characters.")
    if not subject and BODY_CONTROL_RE.search(text):
        problems.append("The text contains a control character other than a line break; remove it.")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in _PARSER.parse(text)]
    except ValueError:
        return [
            *problems,
            f"The {part} has a {{ or }} that does not belong to a placeholder; write {{{{ or }}}} "
            "for a brace itself.",
        ]
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            problems.append(f"Unknown placeholder {{{name}}} in the {part}; the placeholders are {known}.")
        elif spec or conversion:
            problems.append(f"Write the placeholder as {{{name}}}, without a format or conversion.")
    names = [name for name, _, _ in fields]
    if subject and "link" in names:
        problems.append("The subject cannot hold {link}: put the link in the text, on a line of its own.")
    if not subject:
        if "link" not in names:
            problems.append("The text must contain {link}, the expert's personal link, on a line of its own.")
        elif not all(_alone(line) for line in text.split("\n")):
            problems.append("Put {link} on a line of its own, with nothing else on that line.")
    return list(dict.fromkeys(problems))


def _alone(line: str) -> bool:
    """Whether a body line holding {link} holds nothing else (a line without it is fine)."""
    pieces = list(_PARSER.parse(line))
    if "link" not in [name for _, name, _, _ in pieces]:
        return True
    return (
        len([name for _, name, _, _ in pieces if name is not None]) == 1
        and not "".join(literal for literal, _, _, _ in pieces).strip()
    )


def is_valid(wording: Wording) -> bool:
    return not check(wording.subject, subject=True) and not check(wording.body, subject=False)


# ------------------------------------------------------------------------------------------------------ filling
def fill(template: str, values: Mapping[str, str], *, subject: bool = False) -> str:
    """``template`` with its placeholders replaced by ``values``. In a text, a line with a placeholder that has no
    value is left out and blank lines are collapsed to one (values may span lines: ``contact_text``); in a
    subject, such a placeholder is left empty."""
    if subject:
        return _fill_line(template, values, keep_empty=True) or ""
    lines: list[str] = []
    for line in template.split("\n"):
        filled = _fill_line(line, values)
        if filled is not None:
            lines.append(filled.rstrip())
    return BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")


def _fill_line(line: str, values: Mapping[str, str], *, keep_empty: bool = False) -> str | None:
    try:
        pieces = list(_PARSER.parse(line))
    except ValueError:  # a checked template has none; an unchecked line is kept as it is
        return line
    out: list[str] = []
    for literal, name, spec, conversion in pieces:
        out.append(literal)
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            out.append(
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
            continue
        value = values.get(name, "")
        if not value and not keep_empty:
            return None
        out.append(value)
    return "".join(out)


def keep_order(value: str) -> str:
    """``value`` between two left-to-right marks (U+200E) when it has no right-to-left letter, for a message in
    a right-to-left language: a phone number ("+92 51 000 0000") or a Latin name ending in punctuation
    ("Drones?") then keeps its order inside right-to-left text, in any mail program (the marks are invisible and
    older than the isolates, which some programs draw as boxes). Links and addresses are never wrapped: a mark
    after them could be taken into the address when it is copied or made a link."""
    if not value or any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in value):
        return value
    return f"{LRM}{value}{LRM}"


def closing_date(day: date | None, language: str) -> str:
    """The closing date as the e-mail's language writes it (empty when the study has none)."""
    if day is None:
        return ""
    base = _base_language(language)
    return format_date(day, "d MMMM y", locale=_DATE_LOCALES.get(base, base))


def team_name(team: Team, language: str) -> str:
    """The team's name, or "The study team" in ``language`` when the study has none."""
    return team.name or _NO_TEAM_NAME[_base_language(language)]


# ------------------------------------------------------------------------------------------- a study's wording
def language_for(languages: Sequence[str], *choices: str | None) -> str:
    """The first of ``choices`` that the instrument offers (the roster's, the expert's own), else its first."""
    for choice in choices:
        if choice and choice in languages:
            return choice
    return languages[0] if languages else "en"


def stored(study: Study, kind: MailKind | str, language: str) -> InvitationTemplate | None:
    kind = MailKind(kind)
    for row in study.invitation_templates:
        if row.kind == kind and row.language == language:
            return row
    return None


def wording_for(study: Study, kind: MailKind | str, language: str) -> Wording:
    """What ``study`` sends as ``kind`` in ``language``: its own wording, else the built-in one.

    A stored wording that no longer passes :func:`check` (a placeholder renamed since it was saved) is not used:
    the built-in wording goes instead, so no expert receives a message without a working link.
    """
    row = stored(study, kind, language)
    if row is not None:
        wording = Wording(row.subject, row.body)
        if is_valid(wording):
            return wording
    return built_in(kind, language, anonymous=study.anonymity == "anonymous")


def save(session: Session, study: Study, kind: MailKind, language: str, wording: Wording, actor: str) -> bool:
    """Store the study's wording of ``kind`` in ``language`` (checked by the caller); the built-in wording, or an
    empty one, removes the study's own. Whether anything changed."""
    subject, body = normalise(wording.subject), normalise(wording.body)
    row = stored(study, kind, language)
    default = built_in(kind, language, anonymous=study.anonymity == "anonymous")
    if (not subject and not body) or (subject == default.subject and body == normalise(default.body)):
        if row is None:
            return False
        study.invitation_templates.remove(row)
        session.flush()
        return True
    if row is not None and row.subject == subject and row.body == body:
        return False
    if row is None:
        row = InvitationTemplate(kind=kind, language=language, subject=subject, body=body, updated_by=actor)
        study.invitation_templates.append(row)
    else:
        row.subject, row.body, row.updated_by, row.updated_at = subject, body, actor, utcnow()
    session.flush()
    return True
