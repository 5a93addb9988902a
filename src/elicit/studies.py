"""Studies, cohorts, rosters and invitations: the domain the CLI and the studio share."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicit.csvsafe import csv_safe
from elicit.errors import ElicitError
from elicit.instruments.versions import definition_of
from elicit.models import (
    Anonymity,
    Cohort,
    InstrumentVersion,
    Invitation,
    RosterEntry,
    Round,
    RoundStatus,
    Study,
    StudyStatus,
    utcnow,
)
from elicit.tokens import new_token, pseudonym, token_hash
from elicit.users import EMAIL_RE, normalize_email

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
COHORT_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KNOWN_COHORTS = {"UK": "United Kingdom", "PK": "Pakistan"}
ROSTER_COLUMNS = ("name", "email", "organisation", "cohort")
OPTIONAL_COLUMNS = ("language",)  # the language of the expert's e-mails (one of the instrument's)
MAX_INVITATIONS = 10000
# Control characters (CR, LF, tab, NUL, DEL, C1) and the Unicode line separators: none belongs in a name, an
# address or a title, and in an e-mail header a line break would start a new header.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
TITLE_CONTROL = "the title contains a line break or another control character; type it on one line"


class StudyError(ElicitError, ValueError):
    """A study operation that cannot be done; the message is a sentence for the user."""


@dataclass(frozen=True)
class RosterProblem:
    line: int
    message: str


class RosterError(StudyError):
    """A roster file with bad rows; nothing is imported. ``problems`` has every bad line."""

    def __init__(self, problems: list[RosterProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    email: str
    organisation: str
    cohort: str
    language: str | None = None


@dataclass(frozen=True)
class IssuedLink:
    """A freshly made invitation with its token, which exists only here and in the links file."""

    invitation: Invitation
    token: str
    roster_entry: RosterEntry | None = None


def parse_cohort_spec(spec: str) -> tuple[str, str]:
    """``UK`` or ``UK=United Kingdom`` -> (code, label)."""
    code, _, label = spec.partition("=")
    code = code.strip()
    if not COHORT_RE.match(code):
        raise StudyError(f"cohort code {code!r} must be 1-32 letters, digits, - or _")
    return code, (label.strip() or KNOWN_COHORTS.get(code.upper(), code))


def create_study(
    session: Session,
    slug: str,
    version: InstrumentVersion,
    cohorts: Sequence[tuple[str, str]],
    title: str | None = None,
    k_threshold: int = 5,
) -> Study:
    """A study on a published version with its cohorts and an open first round."""
    if not SLUG_RE.match(slug):
        raise StudyError(f"study name {slug!r} must be 3-64 lowercase letters, digits and -")
    if session.scalar(select(func.count()).select_from(Study).where(Study.slug == slug)):
        raise StudyError(f"a study named {slug!r} exists already")
    if not cohorts:
        raise StudyError("a study needs at least one cohort (e.g. --cohort UK --cohort PK)")
    codes = [code for code, _ in cohorts]
    if len(set(codes)) != len(codes):
        raise StudyError("cohort codes must be distinct")
    check_title(title or "")
    definition = definition_of(version)
    study = Study(
        slug=slug,
        title=title or definition.title[definition.languages[0]],
        anonymity=definition.anonymity,
        status=StudyStatus.OPEN,
        k_threshold=k_threshold,
        pseudonym_key=secrets.token_hex(32),
    )
    study.cohorts = [Cohort(code=code, label=label) for code, label in cohorts]
    study.rounds = [Round(number=1, instrument_version=version, status=RoundStatus.OPEN, opened_at=utcnow())]
    session.add(study)
    session.flush()
    return study


def check_title(title: str) -> None:
    """Refuse a study title that could not go into an e-mail's Subject on one line."""
    if CONTROL_RE.search(title):
        raise StudyError(TITLE_CONTROL)


def find_study(session: Session, slug: str) -> Study:
    study = session.scalar(select(Study).where(Study.slug == slug))
    if study is None:
        raise StudyError(f"no study named {slug!r}")
    return study


def find_cohort(study: Study, code: str) -> Cohort:
    for cohort in study.cohorts:
        if cohort.code == code:
            return cohort
    known = ", ".join(c.code for c in study.cohorts)
    raise StudyError(f"study {study.slug!r} has no cohort {code!r} (it has: {known})")


def parse_roster(text: str, study: Study, default_cohort: str | None = None) -> list[RosterRow]:
    """Check a roster CSV row by row; raise RosterError listing every bad line, or return all rows."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[RosterProblem] = []
    try:
        header = next(reader)
    except StopIteration:
        raise RosterError(
            [RosterProblem(1, "the roster is empty; expected a header name,email,organisation,cohort")]
        ) from None
    except csv.Error as exc:
        raise RosterError([RosterProblem(1, f"not a CSV file ({exc})")]) from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in ("name", "email") if c not in columns]
    if "cohort" not in columns and default_cohort is None:
        missing.append("cohort")
    if missing:
        raise RosterError(
            [
                RosterProblem(
                    1, f"the header lacks column(s) {', '.join(missing)}; expected {','.join(ROSTER_COLUMNS)}"
                )
            ]
        )
    index = {name: columns.index(name) for name in (*ROSTER_COLUMNS, *OPTIONAL_COLUMNS) if name in columns}
    languages = _study_languages(study)
    codes = {c.code for c in study.cohorts}
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    existing = set(session_emails(study))
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                problems.append(RosterProblem(line, f"expected {len(columns)} fields, found {len(record)}"))
                continue

            def cell(name: str, rec: list[str] = record) -> str:
                return rec[index[name]].strip() if name in index else ""

            name, email = cell("name"), normalize_email(cell("email"))
            organisation, cohort = cell("organisation"), cell("cohort") or (default_cohort or "")
            language = cell("language") or None
            if language is not None and language not in languages:
                problems.append(
                    RosterProblem(
                        line, f"unknown language {language!r} (the instrument has: {', '.join(languages)})"
                    )
                )
            for label, value in (("name", name), ("organisation", organisation), ("e-mail", email)):
                if CONTROL_RE.search(value):
                    problems.append(
                        RosterProblem(
                            line, f"the {label} contains a control character (a line break, tab or similar)"
                        )
                    )
            if not name:
                problems.append(RosterProblem(line, "the name is empty"))
            elif len(name) > 200:
                problems.append(RosterProblem(line, "the name is longer than 200 characters"))
            if CONTROL_RE.search(email):
                pass  # said above
            elif EMAIL_RE.match(email) and not email.partition("@")[0].isascii():
                problems.append(
                    RosterProblem(line, f"{email}: letters outside ASCII before the @ cannot be e-mailed")
                )
            elif not EMAIL_RE.match(email) or not _one_address(email):
                problems.append(RosterProblem(line, f"{email!r} is not an e-mail address"))
            elif email in seen:
                problems.append(RosterProblem(line, f"duplicate e-mail {email} (also on line {seen[email]})"))
            elif email in existing:
                problems.append(RosterProblem(line, f"{email} is on this study's roster already"))
            else:
                seen[email] = line
            if len(organisation) > 200:
                problems.append(RosterProblem(line, "the organisation is longer than 200 characters"))
            if cohort not in codes:
                problems.append(
                    RosterProblem(
                        line, f"unknown cohort {cohort!r} (this study has: {', '.join(sorted(codes))})"
                    )
                )
            rows.append(RosterRow(line, name, email, organisation, cohort, language))
    except csv.Error as exc:
        problems.append(RosterProblem(line + 1, f"malformed CSV ({exc})"))
    if problems:
        raise RosterError(problems)
    if not rows:
        raise RosterError([RosterProblem(1, "the roster has a header but no rows")])
    return rows


def _study_languages(study: Study) -> tuple[str, ...]:
    rnd = current_round(study) or (study.rounds[-1] if study.rounds else None)
    return definition_of(rnd.instrument_version).languages if rnd is not None else ()


def _one_address(email: str) -> bool:
    """Whether the e-mail library reads ``email`` as exactly this one address (no list, no display name)."""
    try:
        mailbox = Address(addr_spec=email)
    except (HeaderParseError, ValueError, IndexError):
        return False
    return bool(mailbox.username and mailbox.domain) and mailbox.addr_spec == email


def session_emails(study: Study) -> list[str]:
    from sqlalchemy.orm import object_session

    session = object_session(study)
    if session is None or study.id is None:
        return []
    return list(session.scalars(select(RosterEntry.email).where(RosterEntry.study_id == study.id)))


def _invitation(study: Study, cohort: Cohort, entry: RosterEntry | None) -> tuple[Invitation, str]:
    token = new_token()
    invitation = Invitation(
        study_id=study.id, cohort=cohort, roster_entry=entry, token_hash=token_hash(token)
    )
    if study.anonymity == Anonymity.PSEUDONYMOUS:
        invitation.pseudonym = pseudonym(study.pseudonym_key, secrets.token_hex(16))
    return invitation, token


def issue_links(session: Session, study: Study, cohort: Cohort, count: int) -> list[IssuedLink]:
    """``count`` anonymous links for a cohort (no roster)."""
    if not 1 <= count <= MAX_INVITATIONS:
        raise StudyError(f"--count must be between 1 and {MAX_INVITATIONS}")
    links = []
    for _ in range(count):
        invitation, token = _invitation(study, cohort, None)
        session.add(invitation)
        links.append(IssuedLink(invitation, token))
    session.flush()
    return links


def import_roster(session: Session, study: Study, rows: Sequence[RosterRow]) -> list[IssuedLink]:
    """Add roster rows and one invitation each (all or nothing: the caller's transaction).

    Refused for a purged study (whichever way the roster comes: studio, ``elicit invite``, ``elicit mail send``):
    its retention is over, so it holds no personal data any more."""
    if study.purged_at is not None:
        raise StudyError(
            f"study {study.slug}: its personal data was purged on {study.purged_at.date().isoformat()}: "
            "it takes no new roster"
        )
    links = []
    for row in rows:
        cohort = find_cohort(study, row.cohort)
        entry = RosterEntry(
            study_id=study.id,
            cohort=cohort,
            name=row.name,
            email=row.email,
            organisation=row.organisation,
            language=row.language,
        )
        session.add(entry)
        invitation, token = _invitation(study, cohort, entry)
        session.add(invitation)
        links.append(IssuedLink(invitation, token, entry))
    session.flush()
    return links


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/s/{token}"


def links_csv(base_url: str, study: Study, links: Sequence[IssuedLink]) -> str:
    """The links file: one URL per row, with the roster columns when there is a roster."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["study", "cohort", "invitation", "name", "email", "organisation", "url"])
    for link in links:
        entry = link.roster_entry
        writer.writerow(
            [
                study.slug,
                link.invitation.cohort.code,
                link.invitation.id,
                csv_safe(entry.name) if entry else "",
                csv_safe(entry.email) if entry else "",
                csv_safe(entry.organisation) if entry else "",
                link_url(base_url, link.token),
            ]
        )
    return out.getvalue()


def current_round(study: Study) -> Round | None:
    """The open round, if any (a plain survey has exactly one)."""
    for rnd in study.rounds:
        if rnd.status == RoundStatus.OPEN:
            return rnd
    return None
