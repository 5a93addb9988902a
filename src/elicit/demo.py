"""A ready demo: the flagship instrument published, a UK/PK study, simulated experts and a researcher login.

Simulated experts answer through the same domain functions as real ones (start, save each page, submit), so the
demo data pass the instrument's own validation. Re-running tops up to N experts per cohort and prints fresh links.
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
from elicit.instruments.versions import publish_version
from elicit.models import Invitation, Response, ResponseStatus, Role, Study, StudyMember, User
from elicit.responding import flow
from elicit.responding.values import form_fields
from elicit.studies import create_study, find_cohort, issue_links, link_url
from elicit.tokens import new_token, pseudonym, token_hash
from elicit.users import add_user, hash_password

FLAGSHIP = Path(__file__).resolve().parents[2] / "instruments" / "defence-diplomacy" / "1.0.0.yaml"
DEMO_SLUG = "defence-diplomacy-demo"
DEMO_RESEARCHER = "researcher@example.org"
ACTOR = "demo"

# Leverage each cohort tends to see (1-5), so the demo analysis has something to find.
COHORT_TENDENCY: Mapping[str, Mapping[str, float]] = {
    "UK": {"tactical": 4.0, "strategic": 3.9, "economic": 3.8},
    "PK": {"tactical": 3.7, "strategic": 4.2, "economic": 3.1},
}


def ensure_demo(
    session: Session, config: Mapping[str, Any], instance: Path, responses: int = 12, links: int = 3
) -> list[str]:
    """Create what is missing of the demo and return the lines to print (login, links)."""
    definition = load_file(FLAGSHIP)
    version, created = publish_version(session, definition, ACTOR)
    if created:
        audit.record(
            session, "instrument.publish", ACTOR, target=definition.ref, details={"sha256": version.sha256}
        )
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
    password = _demo_password(instance)
    user = session.scalar(select(User).where(User.email == DEMO_RESEARCHER))
    if user is None:
        user = add_user(session, DEMO_RESEARCHER, Role.ADMIN.value, password)
    else:
        user.password_hash = hash_password(password)
    if session.get(StudyMember, (study.id, user.id)) is None:
        session.add(StudyMember(study_id=study.id, user_id=user.id))
    rng = random.Random(20261127)  # noqa: S311  # nosec B311  # simulated demo answers, not secrets
    for cohort in study.cohorts:
        have = session.scalar(
            select(func.count())
            .select_from(Response)
            .where(Response.cohort_id == cohort.id, Response.status == ResponseStatus.SUBMITTED.value)
        )
        for _ in range(max(0, responses - (have or 0))):
            simulate_expert(session, study, cohort.code, definition, rng)
    base = config.get("BASE_URL", "http://127.0.0.1:5000")
    lines = [
        f"Demo study '{study.slug}' on {definition.ref} with cohorts "
        + ", ".join(c.code for c in study.cohorts)
        + f" ({responses} simulated experts per cohort).",
        f"Studio: {base}/studio/login   e-mail: {DEMO_RESEARCHER}   password: {password}",
        "Invitation links (each is one expert's own; they stay valid across restarts):",
    ]
    for cohort in study.cohorts:
        for link in issue_links(session, study, cohort, links) if links else []:
            lines.append(f"  {cohort.code}: {link_url(base, link.token)}")
    return lines


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
    if study.anonymity == "pseudonymous":
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
    """A plausible answer for one item (mostly complete; optional items sometimes left empty)."""
    if item.type == "consent":
        return "yes"
    if not item.required and item.type in {"text", "integer"} and rng.random() < 0.15:
        return None
    scale = definition.scale_of(item.id)
    if item.type == "likert":
        codes = [int(c.code) for c in item.choices]
        low, high = min(codes), max(codes)
        centre = latent[scale.name] if scale else rng.gauss(3.3 if cohort == "UK" else 3.0, 0.8)
        if scale and item.id in scale.reverse:
            centre = low + high - centre
        return int(min(high, max(low, round(rng.gauss(centre, 0.7)))))
    if item.type == "single_choice":
        if item.id == "state":
            return next((c.code for c in item.choices if str(c.code) == cohort), item.choices[0].code)
        weights = [0.1 if str(c.code) == "other" else 1.0 for c in item.choices]
        return rng.choices([c.code for c in item.choices], weights)[0]
    if item.type == "multiple_choice":
        pool = [c.code for c in item.choices if str(c.code) != "none"]
        return sorted(
            rng.sample(pool, rng.randint(1, min(4, len(pool)))), key=[c.code for c in item.choices].index
        )
    if item.type == "integer":
        low = int(item.min if item.min is not None else 0)
        high = int(item.max if item.max is not None else 100)
        return max(low, min(high, int(rng.gammavariate(3, 5)) + low))
    if item.type == "decimal":
        lower = item.min if item.min is not None else 0.0
        upper = item.max if item.max is not None else 100.0
        return round(rng.uniform(lower, upper), 2)
    if item.type == "text":
        return rng.choice(
            [
                "Staff talks build trust that pays off in a crisis.",
                "Exports matter, but the relationships matter more.",
                "Budgets are tight; the benefits are long term.",
            ]
        )
    if item.type == "constant_sum":
        total = int(item.total or 100)
        weights = [max(0.05, latent.get(c.key, 3.5) - 1 + rng.random()) for c in item.choices]
        shares = [int(total * w / sum(weights)) for w in weights]
        shares[0] += total - sum(shares)
        return {c.key: s for c, s in zip(item.choices, shares, strict=True)}
    if item.type == "ranking":
        order = sorted(item.choices, key=lambda c: -(latent.get(c.key, 3.5) + rng.gauss(0, 0.5)))
        return {c.key: rank for rank, c in enumerate(order, start=1)}
    if item.type == "quantiles":
        mid = rng.gauss(12 if cohort == "UK" else 20, 8)
        spread = abs(rng.gauss(15, 5)) + 1
        low_bound = item.min if item.min is not None else -1e9
        high_bound = item.max if item.max is not None else 1e9
        q = sorted(
            {
                max(low_bound, round(mid - spread, 1)),
                round(mid, 1),
                min(high_bound, round(mid + spread * 1.3, 1)),
            }
        )
        if len(q) < len(item.levels):
            q = [mid - 2 * spread, mid, mid + 2 * spread]
        return {f"q{level:02d}": value for level, value in zip(item.levels, q, strict=False)}
    return None
