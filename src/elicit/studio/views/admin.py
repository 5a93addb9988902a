"""Administration: users, their roles and study memberships, and the audit log."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from elicit import audit
from elicit.db import db
from elicit.models import Role, Study, StudyMember, User, utcnow
from elicit.studio import access, audit_log, confirming
from elicit.studio.accounts import is_locked, unlock
from elicit.studio.blueprint import bp
from elicit.studio.forms import (
    ActionForm,
    MembershipForm,
    PasswordResetForm,
    UserAddForm,
    UserUpdateForm,
    options,
)
from elicit.users import UserError, add_user, hash_password

View = str | tuple[str, int] | WerkzeugResponse
ADMIN = Role.ADMIN


def _users_page(form: UserAddForm, status: int = 200) -> tuple[str, int]:
    users = list(db.session.scalars(select(User).order_by(User.email)))
    return render_template("studio/users.html", users=users, form=form, is_locked=is_locked), status


@bp.get("/users")
@access.role_required(ADMIN)
def users() -> View:
    return _users_page(UserAddForm())


@bp.post("/users")
@access.role_required(ADMIN)
def user_add() -> View:
    form = UserAddForm()
    if form.validate_on_submit():
        try:
            user = add_user(db.session, form.email.data or "", form.role.data or "", form.password.data or "")
        except UserError as exc:
            form.email.errors = [str(exc)]
        else:
            admin = access.current_user()
            audit.record(db.session, "user.add", admin.email, target=user.email, details={"role": user.role})
            flash(_("User %(email)s is added as %(role)s.", email=user.email, role=user.role), "success")
            return redirect(url_for("studio.user", user_id=user.id))
    return _users_page(form, 422)


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, _("No such user."))
    return user


def _user_page(
    user: User,
    update: UserUpdateForm | None = None,
    password: PasswordResetForm | None = None,
    membership: MembershipForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    studies = list(
        db.session.scalars(
            select(Study)
            .join(StudyMember, StudyMember.study_id == Study.id)
            .where(StudyMember.user_id == user.id)
            .order_by(Study.slug)
        )
    )
    if update is None:
        update = UserUpdateForm(role=user.role, active=user.is_active)
    membership = membership or MembershipForm()
    member_of = {s.id for s in studies}
    membership.study.choices = options(
        (s.slug, f"{s.slug} — {s.title}")
        for s in db.session.scalars(select(Study).order_by(Study.slug))
        if s.id not in member_of
    )
    return render_template(
        "studio/user.html",
        user=user,
        studies=studies,
        update=update,
        password=password or PasswordResetForm(),
        membership=membership,
        action_form=ActionForm(),
        locked=is_locked(user),
    ), status


@bp.get("/users/<int:user_id>")
@access.role_required(ADMIN)
def user(user_id: int) -> View:
    return _user_page(_user_or_404(user_id))


@bp.post("/users/<int:user_id>")
@access.role_required(ADMIN)
def user_update(user_id: int) -> View:
    user = _user_or_404(user_id)
    admin = access.current_user()
    form = UserUpdateForm()
    if not form.validate_on_submit():
        return _user_page(user, update=form, status=422)
    if user.id == admin.id and (form.role.data != ADMIN or not form.active.data):
        form.role.errors = [_("You cannot demote or deactivate yourself; ask another administrator.")]
        return _user_page(user, update=form, status=422)
    changes = {}
    if form.role.data != user.role:
        changes["role"] = [user.role, form.role.data]
        user.role = form.role.data or user.role
    if bool(form.active.data) != user.is_active:
        changes["active"] = [user.is_active, bool(form.active.data)]
        user.is_active = bool(form.active.data)
        if not user.is_active:
            user.session_version = (user.session_version or 0) + 1  # signed out everywhere at once
    if changes:
        audit.record(db.session, "user.update", admin.email, target=user.email, details=changes)
        flash(_("%(email)s is updated.", email=user.email), "success")
    return redirect(url_for("studio.user", user_id=user.id))


@bp.post("/users/<int:user_id>/unlock")
@access.role_required(ADMIN)
def user_unlock(user_id: int) -> View:
    user = _user_or_404(user_id)
    unlock(user)
    audit.record(db.session, "user.unlock", access.current_user().email, target=user.email)
    flash(_("%(email)s can sign in again.", email=user.email), "success")
    return redirect(url_for("studio.user", user_id=user.id))


@bp.post("/users/<int:user_id>/password")
@access.role_required(ADMIN)
def user_password(user_id: int) -> View:
    user = _user_or_404(user_id)
    form = PasswordResetForm()
    if not form.validate_on_submit():
        return _user_page(user, password=form, status=422)
    user.password_hash = hash_password(form.password.data or "")
    user.session_version = (user.session_version or 0) + 1
    unlock(user)
    admin = access.current_user()
    audit.record(db.session, "user.password", admin.email, target=user.email)
    if user.id == admin.id:
        access.begin_session(user)
    flash(_("The password of %(email)s is set; their sessions are signed out.", email=user.email), "success")
    return redirect(url_for("studio.user", user_id=user.id))


@bp.post("/users/<int:user_id>/memberships")
@access.role_required(ADMIN)
def membership_add(user_id: int) -> View:
    user = _user_or_404(user_id)
    form = MembershipForm()
    studies = {s.slug: s for s in db.session.scalars(select(Study))}
    form.study.choices = options((slug, slug) for slug in studies)
    if not form.validate_on_submit():
        return _user_page(user, membership=form, status=422)
    study = studies[form.study.data or ""]
    if db.session.get(StudyMember, (study.id, user.id)) is None:
        db.session.add(StudyMember(study_id=study.id, user_id=user.id))
        audit.record(
            db.session, "study.member_add", access.current_user().email, study_id=study.id, target=user.email
        )
        flash(_("%(email)s is a member of %(slug)s.", email=user.email, slug=study.slug), "success")
    return redirect(url_for("studio.user", user_id=user.id))


def _membership_or_404(user_id: int, slug: str) -> tuple[User, Study, StudyMember]:
    user = _user_or_404(user_id)
    study = db.session.scalar(select(Study).where(Study.slug == slug))
    membership = db.session.get(StudyMember, (study.id, user.id)) if study else None
    if study is None or membership is None:
        abort(404, _("%(email)s is not a member of that study.", email=user.email))
    return user, study, membership


def _remove_confirmation(user: User, study: Study) -> confirming.Confirmation:
    return confirming.Confirmation(
        title=_("Remove %(email)s from %(slug)s?", email=user.email, slug=study.slug),
        consequences=(
            _(
                "%(email)s can no longer see or manage this study (unless an administrator).",
                email=user.email,
            ),
            _("Nothing of the study changes; they can be added again later."),
        ),
        button=_("Remove %(email)s from %(slug)s", email=user.email, slug=study.slug),
        action=url_for("studio.membership_remove", user_id=user.id, slug=study.slug),
        cancel=url_for("studio.user", user_id=user.id),
    )


@bp.get("/users/<int:user_id>/memberships/<slug>/remove")
@access.role_required(ADMIN)
def membership_remove_confirm(user_id: int, slug: str) -> View:
    user, study, _membership = _membership_or_404(user_id, slug)
    return confirming.page(_remove_confirmation(user, study))


@bp.post("/users/<int:user_id>/memberships/<slug>/remove")
@access.role_required(ADMIN)
def membership_remove(user_id: int, slug: str) -> View:
    user, study, membership = _membership_or_404(user_id, slug)
    if not confirming.confirmed():
        return confirming.unconfirmed(_remove_confirmation(user, study))
    db.session.delete(membership)
    audit.record(
        db.session, "study.member_remove", access.current_user().email, study_id=study.id, target=user.email
    )
    flash(_("%(email)s is no longer a member of %(slug)s.", email=user.email, slug=study.slug), "success")
    return redirect(url_for("studio.user", user_id=user.id))


@bp.get("/audit")
@access.role_required(ADMIN)
def audit_events() -> View:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    action = request.args.get("action") or None
    study = request.args.get("study") or None
    events, total = audit_log.page_of_events(db.session, page, action, study)
    return render_template(
        "studio/audit.html",
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // audit_log.PER_PAGE)),
        action=action or "",
        study=study or "",
        actions=audit_log.actions(db.session),
        studies=list(db.session.scalars(select(Study.slug).order_by(Study.slug))),
    )


@bp.get("/audit.csv")
@access.role_required(ADMIN)
def audit_csv() -> View:
    admin = access.current_user()
    audit.record(db.session, "audit.download", admin.email)
    content = audit_log.log_csv(db.session)
    return Response(
        content,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="elicit-audit-{utcnow():%Y%m%d-%H%M%S}.csv"'},
    )
