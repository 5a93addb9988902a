"""Who is signed in, and what they may do: studio sessions and the view decorators.

A studio session is Flask's signed cookie holding the user id, the user's ``session_version``, the sign-in time
and the time of the last request. It is refused when the version no longer matches (the user signed out, or the
password changed: a copied cookie dies then), after ``STUDIO_IDLE_MINUTES`` without a request, or
``PERMANENT_SESSION_LIFETIME`` after signing in, whatever the cookie's own expiry says.

Roles: admins may do everything; researchers manage the studies they are members of; viewers read the studies
they are members of. A study the user is not a member of answers 404, so its existence is not revealed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import Select, select

from elicit.db import db
from elicit.models import Role, Study, StudyMember, User

P = ParamSpec("P")
R = TypeVar("R")

UID, VERSION, SIGNED_IN, SEEN = "studio_uid", "studio_version", "studio_signed_in", "studio_seen"
SEEN_RESOLUTION = 30  # seconds: the last-seen time is rewritten at most this often (fewer new cookies)

# What each study-level action needs: read (any member), manage (researcher members), admin.
READ, MANAGE, ADMIN = "viewer", "researcher", "admin"


def session_payload(user: User, now: float | None = None) -> dict[str, Any]:
    """The session keys of a fresh sign-in (tests use it to sign in without a password)."""
    now = time.time() if now is None else now
    return {UID: user.id, VERSION: user.session_version, SIGNED_IN: int(now), SEEN: int(now)}


def begin_session(user: User) -> None:
    """Start a new session: everything from before (a planted session id, an old CSRF token) is dropped."""
    session.clear()
    session.update(session_payload(user))
    session.permanent = True


def end_session(user: User | None) -> None:
    """Sign out: raising the version kills this cookie and any copy of it."""
    if user is not None:
        user.session_version = (user.session_version or 0) + 1
    session.clear()


def _lifetime() -> float:
    value = current_app.config.get("PERMANENT_SESSION_LIFETIME", 8 * 3600)
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def load_user() -> User | None:
    """The signed-in user of this request (``g.studio_user``), or None; expired sessions end here."""
    g.studio_user = None
    uid = session.get(UID)
    if uid is None:
        return None
    user = db.session.get(User, uid)
    now = time.time()
    idle = float(current_app.config.get("STUDIO_IDLE_MINUTES", 30)) * 60
    if user is None or not user.is_active or session.get(VERSION) != user.session_version:
        session.clear()
        return None
    if now - float(session.get(SEEN, 0)) > idle or now - float(session.get(SIGNED_IN, 0)) > _lifetime():
        session.clear()
        flash(_("Your session has expired. Please sign in again."), "info")
        return None
    if now - float(session.get(SEEN, 0)) > SEEN_RESOLUTION:
        session[SEEN] = int(now)
    g.studio_user = user
    return user


def current_user() -> User:
    """The signed-in user (only inside views guarded by ``login_required``)."""
    user: User | None = g.get("studio_user")
    if user is None:
        abort(401)
    return user


def _to_login() -> Any:
    target = request.full_path if request.method == "GET" else None
    if target is not None and target.endswith("?"):
        target = target[:-1]
    return redirect(url_for("studio.login", next=target))


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Send anyone not signed in to the sign-in page (and back here afterwards)."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if g.get("studio_user") is None:
            return cast(R, _to_login())
        return view(*args, **kwargs)

    return wrapped


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Allow only users with one of ``roles`` (others get 403); implies ``login_required``."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            user = g.get("studio_user")
            if user is None:
                return cast(R, _to_login())
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapped)

    return decorate


def is_member(user: User, study: Study) -> bool:
    return db.session.get(StudyMember, (study.id, user.id)) is not None


def may(user: User, study: Study, need: str) -> bool:
    """Whether ``user`` may do what needs ``need`` (READ, MANAGE or ADMIN) in ``study``."""
    if user.role == Role.ADMIN.value:
        return True
    if need == ADMIN or not is_member(user, study):
        return False
    return need == READ or user.role == Role.RESEARCHER.value


def study_access(need: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Load the study named by the ``slug`` URL part and pass it as ``study``: 404 unless a member (or admin),
    403 when the member's role is not enough."""

    def decorate(view: Callable[..., R]) -> Callable[..., R]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> R:
            user = g.get("studio_user")
            if user is None:
                return cast(R, _to_login())
            study = db.session.scalar(select(Study).where(Study.slug == kwargs.pop("slug")))
            if study is None or not may(user, study, READ):
                abort(404)
            if not may(user, study, need):
                abort(403)
            g.study = study
            return view(*args, study=study, **kwargs)

        return wrapped

    return decorate


def visible_studies(user: User) -> Select[Study]:
    """The studies ``user`` may see: all for admins, else those they are a member of."""
    query = select(Study).order_by(Study.created_at.desc(), Study.id.desc())
    if user.role != Role.ADMIN.value:
        query = query.join(StudyMember, StudyMember.study_id == Study.id).where(
            StudyMember.user_id == user.id
        )
    return query


def can_manage(user: User | None, study: Study) -> bool:
    """For templates: whether to show the forms that change a study."""
    return user is not None and may(user, study, MANAGE)


def safe_next(target: str | None) -> str:
    """Only a path inside the studio may be a place to return to after signing in."""
    if target and target.startswith("/studio/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("studio.index")
