"""Who is signed in, and what they may do: studio sessions and the view decorators.

A studio session is Flask's signed cookie holding the user id, the user's ``session_version``, the sign-in time
and the time of the last request. It is refused when the version no longer matches (the user signed out, or the
password changed: a copied cookie dies then), after ``STUDIO_IDLE_MINUTES`` without a request, or
``PERMANENT_SESSION_LIFETIME`` after signing in, whatever the cookie's own expiry says.

A form posted after the session ended is not lost: the sign-in page carries it (signed with the secret key,
without the CSRF token, passwords or files) and, once the same user has signed in again, shows it back with
[Save it now] and [Discard] (``keep_posted_form``, ``read_pending``). Nothing kept is ever applied before the
researcher presses [Save it now] on a page rendered after signing in.

When the session cookie is gone altogether (the browser was closed, the cookie expired or was cleared), the CSRF
check refuses the post before anyone is known: the studio's CSRF handler asks ``keep_form_without_session``,
which keeps the form bound to no user (``uid`` None: whoever signs in next on this browser sees it, still only
to confirm) if the post is provably same-origin (``same_origin``: an ``Origin``, ``Sec-Fetch-Site`` or
``Referer`` header naming this site, none naming another). A cross-site post, or one that does not say where it
came from, is not kept: another site could otherwise plant a form for the researcher to "save". A session that
is present but whose CSRF token is wrong is not a lost cookie either; both get the plain "form has expired" page.

Roles: admins may do everything; researchers manage the studies they are members of; viewers read the studies
they are members of. A study the user is not a member of answers 404, so its existence is not revealed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import Select, select
from werkzeug.exceptions import HTTPException

from elicit.db import db
from elicit.models import Role, Study, StudyMember, User
from elicit.responding.unlinking import confirm_finished
from elicit.studio import twofactor
from elicit.studio.forms import LoginForm
from elicit.studio.oidc import UNUSABLE_PASSWORD

P = ParamSpec("P")
R = TypeVar("R")

UID, VERSION, SIGNED_IN, SEEN = "studio_uid", "studio_version", "studio_signed_in", "studio_seen"
SEEN_RESOLUTION = 30  # seconds: the last-seen time is rewritten at most this often (fewer new cookies)
ENDED = "studio_session_ended"  # on ``g``: the user id of a session this request found ended

# A form posted after its session ended is kept, signed, on the sign-in page; never the CSRF token or a password
# (every PasswordField of studio/forms.py is named here: tests/studio/test_session_expiry.py checks it), and never
# a file (a browser cannot post a file it was sent back; the researcher chooses it again).
NEVER_KEPT = frozenset({"csrf_token", "password", "current", "confirm", "pending", "code"})
PENDING_SALT = "elicit.studio.pending-form"
PENDING_MAX_BYTES = 64 * 1024  # of kept text; a larger form is not kept (the sign-in page says so)
PENDING_MAX_AGE = 8 * 3600  # seconds a kept form stays valid

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
    # Flask-WTF caches this request's token on ``g``; a page rendered now must get one of the new session.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


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
        session.clear()  # signed out, or the password changed: a copied cookie dies here, keeping nothing
        return None
    if now - float(session.get(SEEN, 0)) > idle or now - float(session.get(SIGNED_IN, 0)) > _lifetime():
        session.clear()
        g.setdefault(ENDED, user.id)  # a form this request posted is kept (``_to_login``)
        flash(_("Your session has expired. Please sign in again."), "info")
        return None
    if now - float(session.get(SEEN, 0)) > SEEN_RESOLUTION:
        session[SEEN] = int(now)
    g.studio_user = user
    return user


# Where an account that must set up a second factor first may go meanwhile: setting it up, and signing out.
ENROLMENT_ENDPOINTS = frozenset(
    {
        "studio.twofactor_setup",
        "studio.twofactor_start",
        "studio.twofactor_confirm",
        "studio.twofactor_continue",
        "studio.login",
        "studio.login_post",
        "studio.login_code",
        "studio.login_passkey",
        "studio.logout",
    }
)


def signs_on_elsewhere(user: User) -> bool:
    """An account with no usable password signs in through single sign-on, whose provider does the second factor."""
    return user.password_hash == UNUSABLE_PASSWORD


def second_factor_due(user: User) -> bool:
    """Whether ``user`` must set up a second factor before anything else: an administrator (or anyone, under
    ELICIT_REQUIRE_2FA) without one, unless the account signs in through single sign-on."""
    if signs_on_elsewhere(user) or twofactor.is_on(user):
        return False
    return twofactor.required(user, current_app.config)


def hold_for_enrolment() -> Any | None:
    """Before every studio request: an account that must set up a second factor reaches only that page (and
    signing out). Checked on every request, not once at sign-in, so that a session begun before the rule, or a
    researcher made administrator meanwhile, is held too. What such a request asked for is not done."""
    user = g.get("studio_user")
    if user is None or request.endpoint in ENROLMENT_ENDPOINTS or not second_factor_due(user):
        return None
    target = request.full_path if request.method == "GET" else ""
    if target.endswith("?"):
        target = target[:-1]
    code = 302 if request.method == "GET" else 303
    return redirect(url_for("studio.twofactor_setup", next=target or None), code)


def current_user() -> User:
    """The signed-in user (only inside views guarded by ``login_required``)."""
    user: User | None = g.get("studio_user")
    if user is None:
        abort(401)
    return user


@dataclass(frozen=True)
class PendingForm:
    """A form posted after its session ended: where it went, its fields in order, and the files it lost."""

    path: str
    fields: list[tuple[str, str]]
    files: list[tuple[str, str]]  # (field name, file name)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=PENDING_SALT)


def keep_posted_form(user_id: int | None) -> str | None:
    """This request's form, signed for the sign-in page; None when it is too large to keep.

    ``user_id`` None keeps it for whoever signs in next (the session, and with it the user, was gone)."""
    fields = [(name, value) for name, value in request.form.items(multi=True) if name not in NEVER_KEPT]
    files = [
        (name, upload.filename or "") for name, upload in request.files.items(multi=True) if upload.filename
    ]
    if sum(len(name) + len(value) for name, value in fields) > PENDING_MAX_BYTES:
        return None
    path = request.full_path[:-1] if request.full_path.endswith("?") else request.full_path
    return _serializer().dumps({"uid": user_id, "path": path, "fields": fields, "files": files})


def read_pending(blob: str, user_id: int) -> PendingForm | None:
    """The kept form, if ``blob`` is intact, recent, kept for ``user_id`` (or for no one in particular: posted
    without a session) and aimed at a studio form. It is only ever shown back, to be confirmed."""
    try:
        data = _serializer().loads(blob, max_age=PENDING_MAX_AGE)
    except BadData:
        return None
    if not isinstance(data, dict) or "uid" not in data or data["uid"] not in (None, user_id):
        return None
    path = str(data.get("path", ""))
    if safe_next(path) != path:
        return None
    try:
        current_app.url_map.bind("").match(path.split("?", 1)[0], method="POST")
    except HTTPException:
        return None
    fields = [(str(name), str(value)) for name, value in data.get("fields", [])]
    files = [(str(name), str(filename)) for name, filename in data.get("files", [])]
    return PendingForm(path, fields, files)


def _signed_out_before_saving(user_id: int | None) -> Any:
    """The sign-in page that carries the form this request posted after its session ended."""
    pending = keep_posted_form(user_id)
    if pending is None:
        message = _(
            "Your session ended, so what you sent was not saved, and it is too large to keep: sign in and "
            "enter it again."
        )
        return _sign_in_page("", message)
    return _sign_in_page(pending, _not_saved_yet())


def _not_saved_yet() -> str:
    return str(_("Your session ended, so what you sent is not saved yet. Sign in again to save it."))


def _sign_in_page(pending: str, message: str) -> Any:
    html = render_template("studio/login.html", form=LoginForm(), pending=pending, signed_out=message)
    return html, 401


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, default ports dropped; else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def same_origin() -> bool:
    """Whether this request provably came from a page of this site (the request's host or BASE_URL).

    At least one of ``Origin`` (unless ``null``), ``Sec-Fetch-Site`` and ``Referer`` must be present, and every
    one present must name this site. Pages send ``Referrer-Policy: no-referrer``, so a browser's own
    same-origin form post carries ``Origin: null`` and no Referer; ``Sec-Fetch-Site: same-origin`` (which no
    page can forge) is what says so then. A post that says nothing is not same-origin.
    """
    ours = {_origin(request.host_url), _origin(str(current_app.config.get("BASE_URL") or ""))} - {None}
    verdicts = []
    origin = request.headers.get("Origin")
    if origin is not None and origin.strip().lower() != "null":
        verdicts.append(_origin(origin) in ours)
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        verdicts.append(fetch_site.strip().lower() == "same-origin")
    referer = request.headers.get("Referer")
    if referer:
        verdicts.append(_origin(referer) in ours)
    return bool(verdicts) and all(verdicts)


def keep_form_without_session() -> Any | None:
    """For a studio POST the CSRF check refused: the sign-in page carrying the form, or None (refuse it).

    Only when the session is gone (it holds neither a CSRF token nor a user: the cookie was lost, so the form's
    token cannot match) and the post is same-origin. The form is kept for no user in particular. A sign-in
    posted so keeps the form it already carried; a sign-out, nothing.
    """
    token_key = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if request.method != "POST" or token_key in session or UID in session or not same_origin():
        return None
    if request.endpoint == "studio.logout":
        return None
    if request.endpoint in {"studio.login_post", "studio.login_code", "studio.login_passkey"}:
        pending = request.form.get("pending", "")
        if not pending:
            return None
        return _sign_in_page(pending, _not_saved_yet())
    return _signed_out_before_saving(None)


def _to_login() -> Any:
    ended = g.get(ENDED)
    if request.method == "POST" and ended is not None and request.endpoint != "studio.logout":
        return _signed_out_before_saving(ended)
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
    if user.role == Role.ADMIN:
        return True
    if need == ADMIN or not is_member(user, study):
        return False
    return need == READ or user.role == Role.RESEARCHER


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
            # Anonymous finishes reach invitation statuses here, in groups of k, never in an expert's request.
            confirm_finished(db.session, current_app.config["SECRET_KEY"], study)
            g.study = study
            return view(*args, study=study, **kwargs)

        return wrapped

    return decorate


def visible_studies(user: User) -> Select[Study]:
    """The studies ``user`` may see: all for admins, else those they are a member of."""
    query = select(Study).order_by(Study.created_at.desc(), Study.id.desc())
    if user.role != Role.ADMIN:
        query = query.join(StudyMember, StudyMember.study_id == Study.id).where(
            StudyMember.user_id == user.id
        )
    return query


def can_manage(user: User | None, study: Study) -> bool:
    """For templates: whether to show the forms that change a study."""
    return user is not None and may(user, study, MANAGE)


def safe_next(target: str | None) -> str:
    """Only a plain path inside the studio may be a place to return to after signing in; else the studio home.

    The path must be printable ASCII of the URL grammar (RFC 3986: no CR, LF, space, backslash, other control or
    non-ASCII characters, which could split the ``Location`` header or be folded into ``/`` by a browser) and
    must stay under ``/studio/`` once percent-decoded (no ``.`` or ``..`` segment, backslash or control
    character).
    """
    from string import ascii_letters, digits
    from urllib.parse import unquote

    home = url_for("studio.index")
    allowed = set(ascii_letters + digits + "-._~!$&'()*+,;=:@/?#%")
    if not target or not target.startswith("/studio/") or not set(target) <= allowed:
        return home
    path = unquote(target.split("?", 1)[0].split("#", 1)[0])
    if not path.isprintable() or "\\" in path or any(segment in {".", ".."} for segment in path.split("/")):
        return home
    return target
