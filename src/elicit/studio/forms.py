"""The studio's forms (Flask-WTF: every POST carries the session's CSRF token)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

try:  # WTForms 3.3 declares options as SelectChoice (tuples are deprecated there)
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None

from elicit.formats import FORMAT_LABELS
from elicit.i18n import direction
from elicit.instruments.formats import IMPORT_SUFFIXES
from elicit.instruments.formats.common import INSTRUMENT_ID_RE, MAX_ID, VERSION_RE
from elicit.models import Role, StudyStatus
from elicit.studies import CONTROL_RE, MAX_INVITATIONS, StudyError, check_title
from elicit.studio import letters
from elicit.studio.mail import MailError, address
from elicit.studio.twofactor import Code, TwoFactorError, parse_code
from elicit.users import EMAIL_RE, MIN_PASSWORD


def options(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    """Choices for a select or radio field, as this WTForms version wants them."""
    if SelectChoice is None:
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


ROLE_CHOICES = [
    (Role.RESEARCHER, _l("Researcher — manages the studies they are a member of")),
    (Role.VIEWER, _l("Viewer — reads the studies they are a member of")),
    (Role.ADMIN, _l("Administrator — everything, including users and the audit log")),
]
STATUS_CHOICES = [
    (StudyStatus.DRAFT, _l("Draft — links do not open yet")),
    (StudyStatus.OPEN, _l("Open — experts can answer")),
    (StudyStatus.CLOSED, _l("Closed — no more answers")),
]
DELIVERY_CHOICES = [
    ("links", _l("Show the links once, to download as a CSV file")),
    ("email", _l("E-mail each expert their link")),
]
EXPORT_FORMATS = list(FORMAT_LABELS.items())


class StudioForm(FlaskForm):
    """Base of the studio's forms: Flask-WTF's, so each carries and checks the session's CSRF token."""


class ActionForm(StudioForm):
    """A button that changes something: only the CSRF token."""


class ConfirmForm(StudioForm):
    """The form of a confirmation page: a destructive action is done only when ``confirm`` comes back as "yes",
    which only that page's button sends (so it works without JavaScript, and a bare POST is not enough)."""

    confirm = HiddenField(validators=[AnyOf(["yes"], message="Confirm on the confirmation page.")])


class LoginForm(StudioForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])
    next = HiddenField()


class PasswordChangeForm(StudioForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1000)],
        description=_l("At least %(n)s characters.", n=MIN_PASSWORD),
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
    )


class InstrumentUploadForm(StudioForm):
    file = FileField(
        _l("Instrument file (YAML), or an XLSForm, REDCap data dictionary or LimeSurvey file to convert"),
        validators=[FileRequired(_l("Choose an instrument file."))],
        description=_l(
            "Checked exactly as the command elicit instrument check does. “Check” keeps a valid file as the "
            "instrument's draft, to preview every page before publishing; “Check and publish” publishes it at once. "
            "An XLSForm (.xlsx, .xls, .csv), a REDCap data dictionary (.csv) or a LimeSurvey structure file (.lss) "
            "is converted as elicit instrument import does and always kept as a draft first."
        ),
        render_kw={"accept": ".yaml,.yml,.xlsx,.xls,.csv,.lss"},
    )
    instrument_id = StringField(
        _l("Instrument id (for a file to convert)"),
        validators=[Length(max=64)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description=_l(
            "The id the converted instrument gets: lowercase letters, digits and -, e.g. defence-diplomacy."
        ),
    )
    version = StringField(
        _l("Version (for a file to convert)"),
        validators=[Length(max=32)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description=_l("Its version number, e.g. 1.0.0. A YAML file names its own id and version."),
    )
    check = SubmitField(_l("Check and preview"))
    publish = SubmitField(_l("Check and publish"))

    def _converting(self) -> bool:
        upload = self.file.data
        name = str(getattr(upload, "filename", "") or "")
        return name.lower().endswith(IMPORT_SUFFIXES)

    def validate_instrument_id(self, field: StringField) -> None:
        if not self._converting():
            return
        if not field.data:
            raise ValidationError(_l("Give the id the converted instrument gets, e.g. defence-diplomacy."))
        if not INSTRUMENT_ID_RE.match(field.data) or len(field.data) > MAX_ID:
            raise ValidationError(
                _l(
                    "An instrument id is lowercase letters, digits and - and starts with a letter, e.g. defence-diplomacy."
                )
            )

    def validate_version(self, field: StringField) -> None:
        if not self._converting():
            return
        if not field.data:
            raise ValidationError(_l("Give the version the converted instrument gets, e.g. 1.0.0."))
        if not VERSION_RE.match(field.data):
            raise ValidationError(_l("A version is three whole numbers with dots between them, e.g. 1.0.0."))


class DraftPublishForm(StudioForm):
    """Publish a draft: ``sha256`` names the content previewed, so a draft replaced meanwhile is not published."""

    sha256 = HiddenField(validators=[DataRequired(), Length(max=64)])


def _one_line_title(field: StringField) -> None:
    """A study title goes into e-mail subjects: refuse line breaks and other control characters."""
    try:
        check_title(field.data or "")
    except StudyError:
        raise ValidationError(
            "The title contains a line break or another control character; type it on one line."
        ) from None


class StudyForm(StudioForm):
    slug = StringField(
        _l("Short name"),
        validators=[DataRequired(), Length(min=3, max=64)],
        description=_l("3–64 lowercase letters, digits and hyphens; it appears in addresses, e.g. dd-2026."),
    )
    title = StringField(
        _l("Title"),
        validators=[Optional(), Length(max=300)],
        description=_l("Leave empty to use the instrument's title."),
    )
    version = SelectField(_l("Instrument version"), validators=[DataRequired()])
    cohorts = SelectMultipleField(
        _l("Cohorts"), choices=options([("UK", "United Kingdom"), ("PK", "Pakistan")])
    )
    other_cohorts = TextAreaField(
        _l("Other cohorts"),
        validators=[Optional(), Length(max=2000)],
        description=_l("One per line, as CODE or CODE=Label, e.g. US=United States."),
    )
    status = SelectField(_l("Status"), choices=options(STATUS_CHOICES), default=StudyStatus.OPEN)
    opens_on = DateField(_l("Opens on"), validators=[Optional()])
    closes_on = DateField(_l("Closes on"), validators=[Optional()])

    def validate_title(self, field: StringField) -> None:
        _one_line_title(field)

    def validate_slug(self, field: StringField) -> None:
        if (field.data or "").strip() == "new":
            raise ValidationError(_l("“new” is reserved; choose another short name."))

    def validate_closes_on(self, field: DateField) -> None:
        if field.data and self.opens_on.data and field.data < self.opens_on.data:
            raise ValidationError(_l("The closing date is before the opening date."))


class StudySettingsForm(StudioForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    status = SelectField(_l("Status"), choices=options(STATUS_CHOICES))
    opens_on = DateField(_l("Opens on"), validators=[Optional()])
    closes_on = DateField(_l("Closes on"), validators=[Optional()])
    team_name = StringField(
        _l("Research team's name"),
        validators=[Optional(), Length(max=200)],
        description=_l(
            "Shown as the sender's name of the study's e-mails, in their signature and on the error pages of "
            "its links, e.g. UK–Pakistan Defence Diplomacy team."
        ),
    )
    team_email = EmailField(
        _l("Team's contact e-mail"),
        validators=[Optional(), Length(max=254)],
        description=_l(
            "Replies to the study's e-mails go here (Reply-To), and the error pages of its links show it."
        ),
    )
    team_contact = TextAreaField(
        _l("Other contact details (optional)"),
        validators=[Optional(), Length(max=500)],
        description=_l("A telephone number, an address or office hours; shown under the e-mail address."),
        render_kw={"rows": 3},
    )

    def validate_title(self, field: StringField) -> None:
        _one_line_title(field)

    def validate_closes_on(self, field: DateField) -> None:
        if field.data and self.opens_on.data and field.data < self.opens_on.data:
            raise ValidationError(_l("The closing date is before the opening date."))

    def validate_team_name(self, field: StringField) -> None:
        if CONTROL_RE.search(field.data or ""):
            raise ValidationError("The team's name contains a line break or another control character.")

    def validate_team_email(self, field: EmailField) -> None:
        """One plain address, as the e-mail library reads it: it goes into every message's Reply-To."""
        email = (field.data or "").strip()
        if not email:
            return
        try:
            mailbox = address("", email)
        except MailError:
            mailbox = None
        if not EMAIL_RE.match(email) or mailbox is None or mailbox.addr_spec != email or not email.isascii():
            raise ValidationError(f"{email!r} is not one e-mail address (such as team@example.org).")

    def validate_team_contact(self, field: TextAreaField) -> None:
        if letters.BODY_CONTROL_RE.search((field.data or "").replace("\r", "")):
            raise ValidationError("The contact details contain a control character other than a line break.")


def _wording_key(kind: str, language: str, part: str) -> str:
    return f"{kind}_{language.replace('-', '_')}_{part}"


class WordingForm(StudioForm):
    """A study's e-mail wording: a subject and a text per kind and language (fields made by :func:`wording_form`).

    Both empty, or the built-in wording, means the built-in wording; otherwise both are checked by
    :func:`elicit.studio.letters.check`, and the form is refused (nothing saved) on any problem.
    """

    preview = SubmitField(_l("Preview"))
    save = SubmitField(_l("Save the e-mail wording"))
    languages: tuple[str, ...] = ()

    def field_for(self, kind: str, language: str, part: str) -> Any:
        return self[_wording_key(kind, language, part)]

    def wordings(self) -> dict[tuple[str, str], letters.Wording]:
        """The posted wording by (kind, language), as stored (line breaks normalised); a kind and language whose
        fields were not posted at all is left out (and so left as it is)."""
        typed = {}
        for kind in letters.KINDS:
            for language in self.languages:
                subject, body = (
                    self.field_for(kind, language, "subject"),
                    self.field_for(kind, language, "body"),
                )
                if subject.raw_data or body.raw_data:
                    typed[(kind.value, language)] = letters.Wording(
                        letters.normalise(subject.data or ""), letters.normalise(body.data or "")
                    )
        return typed

    def validate(self, extra_validators: Any = None) -> bool:
        ok = bool(super().validate(extra_validators))
        for (kind, language), wording in self.wordings().items():
            subject, body = self.field_for(kind, language, "subject"), self.field_for(kind, language, "body")
            if not wording.subject and not wording.body:
                continue
            for field, problems in (
                (subject, letters.check(wording.subject, subject=True)),
                (body, letters.check(wording.body, subject=False)),
            ):
                if problems:
                    field.errors = [*field.errors, *problems]
                    ok = False
        return ok


def wording_form(languages: tuple[str, ...]) -> type[WordingForm]:
    """The wording form of a study whose instrument has ``languages``; Urdu fields are right to left."""
    attributes: dict[str, Any] = {"languages": languages}
    for kind in letters.KINDS:
        for language in languages:
            name = letters.language_label(language)
            kind_label = letters.KIND_LABELS[kind]
            render = {"dir": direction(language), "lang": language}
            attributes[_wording_key(kind, language, "subject")] = StringField(
                f"{kind_label} subject, {name}",
                validators=[Optional(), Length(max=letters.MAX_SUBJECT)],
                render_kw={**render, "size": 70},
            )
            attributes[_wording_key(kind, language, "body")] = TextAreaField(
                f"{kind_label} text, {name}",
                validators=[Optional(), Length(max=letters.MAX_BODY)],
                render_kw={**render, "rows": 16},
            )
    return type("StudyWordingForm", (WordingForm,), attributes)


def _finite(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int | float) and math.isfinite(value)


class ConsensusRuleForm(StudioForm):
    """The study's Delphi consensus rule; the ranges are those of ``elicit.stats.consensus.ConsensusRule``."""

    max_iqr = DecimalField(
        _l("Largest interquartile range"),
        validators=[InputRequired(_l("Give the largest interquartile range, a number 0 or more."))],
    )
    min_agreement = DecimalField(
        _l("Smallest share in the top or bottom two categories (0 to 1)"),
        validators=[InputRequired(_l("Give the smallest share, greater than 0 and at most 1 (0.7 = 70 %)."))],
    )

    def validate_max_iqr(self, field: DecimalField) -> None:
        if not (_finite(field.data) and 0 <= field.data <= 100):
            raise ValidationError(
                _l("The largest interquartile range must be a number, 0 or more (at most 100).")
            )

    def validate_min_agreement(self, field: DecimalField) -> None:
        if not (_finite(field.data) and 0 < field.data <= 1):
            raise ValidationError(_l("The smallest share must be greater than 0 and at most 1 (0.7 = 70 %)."))


class CohortForm(StudioForm):
    code = StringField(_l("Cohort code"), validators=[DataRequired(), Length(max=32)])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=200)])


def _new_nonce() -> str:
    return secrets.token_urlsafe(16)


class OnceForm(StudioForm):
    """A form that makes links: ``nonce`` names one load of the form, so posting it again (a reload) makes
    nothing new; a second batch takes a new load of the form."""

    nonce = HiddenField(default=_new_nonce, validators=[Optional(), Length(max=64)])


class RosterForm(OnceForm):
    file = FileField(
        _l("Roster (CSV)"),
        validators=[FileRequired(_l("Choose a roster file."))],
        description=_l(
            "UTF-8 CSV with the header name,email,organisation,cohort. Every row is checked; if any row is "
            "wrong, nothing is imported."
        ),
    )
    default_cohort = SelectField(_l("Cohort for rows without one"), validators=[Optional()])
    delivery = RadioField(_l("Links"), choices=options(DELIVERY_CHOICES), default="links")


class GenerateForm(OnceForm):
    cohort = SelectField(_l("Cohort"), validators=[DataRequired()])
    count = IntegerField(
        _l("Number of links"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_INVITATIONS)],
        default=10,
        description=_l("Links without a roster: each one is for one expert; hand them out yourself."),
    )


class ReissueForm(StudioForm):
    delivery = RadioField(_l("New link"), choices=options(DELIVERY_CHOICES), default="links")


class RemindForm(OnceForm):
    cohort = SelectField(_l("Cohort"))
    in_progress = BooleanField(_l("Also remind experts who started but have not submitted"), default=True)


class ExportForm(StudioForm):
    format = SelectField(_l("Format"), choices=options(EXPORT_FORMATS), default="csv")


class UserAddForm(StudioForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=254)])
    role = RadioField(_l("Role"), choices=options(ROLE_CHOICES), default=Role.RESEARCHER)
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1000)],
        description=_l(
            "At least %(n)s characters. Tell it to the person another way than e-mail.", n=MIN_PASSWORD
        ),
    )
    confirm = PasswordField(
        _l("Password again"), validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))]
    )


class UserUpdateForm(StudioForm):
    role = RadioField(_l("Role"), choices=options(ROLE_CHOICES))
    active = BooleanField(_l("Account active (can sign in)"))


class PasswordResetForm(StudioForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1000)],
        description=_l("At least %(n)s characters. Signs the user out everywhere.", n=MIN_PASSWORD),
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", _l("The passwords differ."))],
    )


class MembershipForm(StudioForm):
    study = SelectField(_l("Study"), validators=[DataRequired()])


def first_errors(form: StudioForm) -> list[tuple[str, str]]:
    """(field id, message) for the error summary, in field order."""
    result: list[tuple[str, str]] = []
    for field in form:
        errors: Any = field.errors
        if isinstance(errors, dict):  # FormField/FieldList nest errors; not used here
            continue
        for message in errors or ():
            result.append((field.id, str(message)))
    return result


class CarryForm(StudioForm):
    """A step of signing in or of a required enrolment: where to go once it is done (``safe_next`` checks it then).

    A form kept from an ended session rides along as the raw field ``pending``, as on the sign-in page."""

    next = HiddenField()


# A code field that takes recovery codes too: letters, so no numeric keyboard, and no automatic capitals.
ANY_CODE_INPUT = {
    "autocomplete": "one-time-code",
    "autocapitalize": "none",
    "spellcheck": "false",
    "size": 22,
}


class SecondFactorForm(CarryForm):
    """The second step of signing in: a code from the authenticator app, or one of the recovery codes."""

    recovery = True
    code = StringField(
        _l("Code"),
        description=_l("The 6 digits your authenticator app shows now, or one of your recovery codes."),
        render_kw=ANY_CODE_INPUT,
    )
    parsed: Code | None = None

    def validate_code(self, field: StringField) -> None:
        try:
            self.parsed = parse_code(field.data or "", recovery=self.recovery)
        except TwoFactorError as exc:
            raise ValidationError(str(exc)) from None


class EnrolmentCodeForm(SecondFactorForm):
    """The first code from the app, which turns two-factor sign-in on, and the password: whoever finds the studio
    open in someone's browser must not tie the account to their own phone."""

    recovery = False
    code = StringField(
        _l("Code from the app"),
        description=_l("Once the account is added, the app shows a 6-digit code that changes every 30 s."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 10},
    )
    current = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )


class CurrentCodeForm(SecondFactorForm):
    """A code from the app now, to make new recovery codes (a stolen session alone cannot)."""

    recovery = False
    code = StringField(
        _l("Current code from the app"),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 10},
    )


class TurnOffForm(SecondFactorForm):
    """A code from the app or a recovery code, to turn two-factor sign-in off."""

    code = StringField(
        _l("Current code from the app, or a recovery code"),
        render_kw=ANY_CODE_INPUT,
    )


class PasskeySignInForm(CarryForm):
    """The second step of signing in with a passkey: the browser's answer, put there by passkeys.js."""

    credential = HiddenField()


class PasskeyAddForm(StudioForm):
    """Adding a passkey: a name to tell it apart, the password (as for setting up the app), and the browser's
    answer, put there by passkeys.js."""

    name = StringField(
        _l("Name of the passkey"),
        validators=[
            DataRequired(_l("Give the passkey a name, such as the device it is on.")),
            Length(max=80),
        ],
        description=_l("To tell your passkeys apart, such as “Work laptop” or “Security key”."),
        render_kw={"autocomplete": "off", "maxlength": 80},
    )
    current = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )
    credential = HiddenField()


class RetentionForm(StudioForm):
    """A study's retention date: after it (UTC) the personal data is purged (``elicit.lifecycle``)."""

    retain_until = DateField(
        _l("Keep personal data until"),
        validators=[Optional()],
        description=_l(
            "After this day (UTC) the roster, the links and the outbox are purged automatically. It may not be "
            "before the study closes. Leave it empty to keep them until a date is set."
        ),
    )
    save = SubmitField(_l("Save the retention date"))
    clear = SubmitField(_l("Remove the date"))
