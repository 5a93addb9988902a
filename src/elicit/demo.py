"""A ready demo: the flagship instrument published, a UK/PK study, simulated experts, researcher and admin logins.

Simulated experts answer through the same domain functions as real ones (start, save each page, submit), so the
demo data pass the instrument's own validation; each answer comes from the item type's own ``demo``. Re-running
tops up to N experts per cohort and prints fresh links.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from elicit import audit
from elicit.instruments.loading import load_file
from elicit.instruments.schema import Definition, Item
from elicit.instruments.types import DemoContext
from elicit.instruments.versions import definition_of, publish_version
from elicit.models import (
    Anonymity,
    InstrumentVersion,
    Invitation,
    Response,
    ResponseStatus,
    Role,
    Study,
    StudyMember,
    User,
)
from elicit.responding import flow
from elicit.responding.values import form_fields
from elicit.studies import create_study, find_cohort, issue_links, link_url
from elicit.tokens import new_token, pseudonym, token_hash
from elicit.users import add_user, hash_password

FLAGSHIPS = Path(__file__).resolve().parents[2] / "instruments" / "defence-diplomacy"
#: The flagship the demo study runs on unless told otherwise (the export tests pin its content).
FLAGSHIP = FLAGSHIPS / "1.0.0.yaml"
#: The flagship's newest version: 1.0.0 plus a slider, a dropdown and a date, so a demo on it shows every kind
#: of item.
LATEST = FLAGSHIPS / "1.1.0.yaml"
DEMO_SLUG = "defence-diplomacy-demo"
DEMO_RESEARCHER = "researcher@example.org"  # a researcher, member of the demo study
DEMO_ADMIN = "admin@example.org"  # an administrator: users and the audit log too
ACTOR = "demo"
# The demo study's research team, shown in its e-mails and on its links' error pages (made up, like the study).
DEMO_TEAM = (
    "UK–Pakistan Defence Diplomacy team",
    "dd-team@example.org",
    "Demo team (made up): +44 20 7946 0000, weekdays 9:00–17:00 UK time",
)

# Leverage each cohort tends to see (1-5), so the demo analysis has something to find.
COHORT_TENDENCY: Mapping[str, Mapping[str, float]] = {
    "UK": {"tactical": 4.0, "strategic": 3.9, "economic": 3.8},
    "PK": {"tactical": 3.7, "strategic": 4.2, "economic": 3.1},
}


def ensure_demo(
    session: Session,
    config: Mapping[str, Any],
    instance: Path,
    responses: int = 12,
    links: int = 3,
    instrument: Path = FLAGSHIP,
) -> list[str]:
    """Create what is missing of the demo and return the lines to print (login, links).

    The flagship 1.0.0 is always published; ``instrument`` (a later version, e.g. :data:`LATEST`) is published
    after it and is what a new demo study runs on. A demo study that exists already keeps its version.
    """
    definition, version = _publish(session, FLAGSHIP)
    if instrument != FLAGSHIP:
        definition, version = _publish(session, instrument)
    study = session.scalar(select(Study).where(Study.slug == DEMO_SLUG))
    if study is None:
        study = create_study(
            session,
            DEMO_SLUG,
            version,
            [("UK", "United Kingdom"), ("PK", "Pakistan")],
            "Defence diplomacy (demo)",
        )
        audit.record(session, "study.create", ACTOR, study_id=study.id, target=DEMO_SLUG)
    if not (study.team_name or study.team_email or study.team_contact):  # an older demo gets one; yours stays
        study.team_name, study.team_email, study.team_contact = DEMO_TEAM
    requested = definition.ref
    running = study.rounds[-1].instrument_version
    if running.sha256 != definition.sha256:
        definition = definition_of(running)
    password = _demo_password(instance)
    user = _demo_user(session, DEMO_RESEARCHER, Role.RESEARCHER, password)
    _demo_user(session, DEMO_ADMIN, Role.ADMIN, password)
    if session.get(StudyMember, (study.id, user.id)) is None:
        session.add(StudyMember(study_id=study.id, user_id=user.id))
    rng = random.Random(20261127)  # noqa: S311  # nosec B311  # simulated demo answers, not secrets
    for cohort in study.cohorts:
        have = session.scalar(
            select(func.count())
            .select_from(Response)
            .where(Response.cohort_id == cohort.id, Response.status == ResponseStatus.SUBMITTED)
        )
        for _ in range(max(0, responses - (have or 0))):
            simulate_expert(session, study, cohort.code, definition, rng)
    base = config.get("BASE_URL", "http://127.0.0.1:5000")
    lines = [
        f"Demo study '{study.slug}' on {definition.ref} with cohorts "
        + ", ".join(c.code for c in study.cohorts)
        + f" ({responses} simulated experts per cohort).",
        f"Studio: {base}/studio/login   password: {password} (for both logins below)",
        f"  researcher (manages the demo study): {DEMO_RESEARCHER}",
        f"  administrator (also users and the audit log): {DEMO_ADMIN}"
        " (administrators must have two-factor sign-in: its first sign-in sets it up with an authenticator app)",
    ]
    if definition.ref != requested:
        lines.append(
            f"(The demo study exists already on {definition.ref}, so it stays there; "
            f"{requested} is published for new studies.)"
        )
    lines.append("Invitation links (each is one expert's own; they stay valid across restarts):")
    for cohort in study.cohorts:
        for link in issue_links(session, study, cohort, links) if links else []:
            lines.append(f"  {cohort.code}: {link_url(base, link.token)}")
    return lines


def _demo_user(session: Session, email: str, role: Role, password: str) -> User:
    """The demo login ``email`` with ``role`` and the demo password (an older demo's account is set right)."""
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        return add_user(session, email, role, password)
    user.role = role
    user.password_hash = hash_password(password)
    return user


def _publish(session: Session, path: Path) -> tuple[Definition, InstrumentVersion]:
    """Load and publish one instrument file (a no-op when that version is published already)."""
    definition = load_file(path)
    version, created = publish_version(session, definition, ACTOR)
    if created:
        audit.record(
            session, "instrument.publish", ACTOR, target=definition.ref, details={"sha256": version.sha256}
        )
    return definition, version


def _demo_password(instance: Path) -> str:
    """A random demo password kept in the instance folder (mode 0600), the same on every `make run`."""
    path = instance / "demo-password.txt"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    instance.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password


def simulate_expert(
    session: Session, study: Study, cohort_code: str, definition: Definition, rng: random.Random
) -> None:
    """One simulated expert completes the questionnaire through the real flow."""
    cohort = find_cohort(study, cohort_code)
    token = new_token()
    invitation = Invitation(study_id=study.id, cohort=cohort, token_hash=token_hash(token))
    if study.anonymity == Anonymity.PSEUDONYMOUS:
        invitation.pseudonym = pseudonym(study.pseudonym_key, secrets.token_hex(16))
    session.add(invitation)
    session.flush()
    link = flow.open_by_token(session, token, secret=current_app.config["SECRET_KEY"])
    language = rng.choice(definition.languages) if cohort_code == "PK" else definition.languages[0]
    flow.start(session, link, language)
    tendency = COHORT_TENDENCY.get(cohort_code, {})
    latent = {name: rng.gauss(tendency.get(name, 3.5), 0.6) for name in definition.scales}
    while True:
        page_id = flow.resume_page(link)
        if page_id == flow.REVIEW:
            break
        page = next(p for p in definition.pages if p.id == page_id)
        for _attempt in range(20):
            form: dict[str, list[str]] = {}
            answers = dict(link.answers)
            for item in page.answerable_items():
                if not flow.item_visible(item, answers):
                    continue
                value = simulated_value(item, definition, latent, cohort_code, rng)
                answers[item.id] = value
                form.update(form_fields(item, value))
            result = flow.save_page(session, link, page, form)
            if result.ok:
                break
        else:
            raise RuntimeError(f"the simulator could not answer page {page_id} validly")
    flow.submit(session, link)


def simulated_value(
    item: Item, definition: Definition, latent: Mapping[str, float], cohort: str, rng: random.Random
) -> Any:
    """A plausible answer for one item, from its type's ``demo`` (mostly complete; optional items sometimes empty).

    An item in a scale answers near the expert's ``latent`` position on that scale (mirrored when reverse-keyed).
    """
    scale = definition.scale_of(item.id)
    context = DemoContext(
        cohort,
        latent,
        rng,
        scale_position=latent[scale.name] if scale else None,
        reverse=scale is not None and item.id in scale.reverse,
    )
    return item.kind.demo(item, context)
