"""Passkeys in the studio: adding one beside the authenticator app, removing one, and signing in with one.

Each ceremony is one ordinary form: the page carries the options (``data-options``), ``passkeys.js`` asks the
browser for the passkey, puts its answer in the form's hidden ``credential`` field and sends the form, so the
answer comes back as a page (a redirect, an error, a form kept from an ended session) as every other form's does.
Without JavaScript the passkey buttons stay hidden and the code field does the work. The checks are in
:mod:`elicit.studio.passkeys`.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from elicit.db import db
from elicit.models import Passkey, User
from elicit.studio import access, confirming, passkeys, twofactor
from elicit.studio.blueprint import bp
from elicit.studio.forms import PasskeyAddForm, PasskeySignInForm, SecondFactorForm
from elicit.studio.views.twofactor import (
    View,
    client_source,
    code_page,
    half_signed_in,
    login_policy,
    password_refused,
    refused_page,
    relying_party,
    sign_in_again,
    signed_in,
)

PASSKEYS = "studio.account"  # the account page lists them (#passkeys)


def _where() -> passkeys.RelyingParty:
    """This request's relying party; a 409 page when the studio is reached at an IP address."""
    rp = relying_party()
    if rp is None:
        message = _(
            "Passkeys work only when the studio is reached by a name (such as localhost or elicit.example.org), "
            "not by an IP address. Your authenticator app and recovery codes work everywhere."
        )
        abort(409, message)
    return rp


def _add_page(user: User, form: PasskeyAddForm, status: int = 200) -> tuple[str, int]:
    """The page that adds a passkey, with a new challenge (kept whatever the status: an error answer would roll
    it back)."""
    options = passkeys.add_options(db.session, user, _where())
    db.session.commit()
    return render_template("studio/passkey_add.html", form=form, options=options), status


def _usable(user: User) -> View | None:
    """Back to the account page when this account cannot add passkeys (no app set up, or single sign-on)."""
    if access.signs_on_elsewhere(user):
        flash(
            _("You sign in through single sign-on; your identity provider asks for the second factor."),
            "info",
        )
    elif not twofactor.is_on(user):
        flash(_("Set up your authenticator app first: a passkey is added beside it."), "info")
    else:
        return None
    return redirect(url_for(PASSKEYS, _anchor="two-factor"))


@bp.get("/account/passkeys/new")
@access.login_required
def passkey_new_again() -> View:
    """The add page is reached by its button (a POST makes its challenge); an address typed in goes back there."""
    return redirect(url_for(PASSKEYS, _anchor="passkeys"))


@bp.post("/account/passkeys/new")
@access.login_required
def passkey_new() -> View:
    user = access.current_user()
    back = _usable(user)
    if back is not None:
        return back
    return _add_page(user, PasskeyAddForm(formdata=None))


@bp.post("/account/passkeys")
@access.login_required
def passkey_add() -> View:
    user = access.current_user()
    back = _usable(user)
    if back is not None:
        return back
    form = PasskeyAddForm()
    if not form.validate_on_submit():
        return _add_page(user, form, 422)
    refused = password_refused(user, form.current)
    if refused is not None:
        return _add_page(user, form, refused)
    try:
        passkey = passkeys.add(db.session, user, _where(), form.credential.data or "", form.name.data or "")
    except passkeys.PasskeyError as exc:
        form.form_errors.append(str(exc))
        return _add_page(user, form, 422)
    flash(
        _("Passkey “%(name)s” added: you can sign in with it instead of a code.", name=passkey.name),
        "success",
    )
    return redirect(url_for(PASSKEYS, _anchor="passkeys"))


def _own_passkey(user: User, passkey_id: int) -> Passkey:
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        abort(404, _("No such passkey."))
    return passkey


def _removal(passkey: Passkey) -> confirming.Confirmation:
    return confirming.Confirmation(
        title=_("Remove the passkey “%(name)s”?", name=passkey.name),
        consequences=(
            _("It stops signing you in to this studio; your authenticator app and recovery codes still do."),
            _("The passkey stays on its device until you delete it there."),
        ),
        button=_("Remove the passkey “%(name)s”", name=passkey.name),
        action=url_for("studio.passkey_remove", passkey_id=passkey.id),
        cancel=url_for(PASSKEYS, _anchor="passkeys"),
    )


@bp.get("/account/passkeys/<int:passkey_id>/remove")
@access.login_required
def passkey_remove_confirm(passkey_id: int) -> View:
    return confirming.page(_removal(_own_passkey(access.current_user(), passkey_id)))


@bp.post("/account/passkeys/<int:passkey_id>/remove")
@access.login_required
def passkey_remove(passkey_id: int) -> View:
    user = access.current_user()
    passkey = _own_passkey(user, passkey_id)
    if not confirming.confirmed():
        return confirming.unconfirmed(_removal(passkey))
    name = passkey.name
    passkeys.remove(db.session, user, passkey.id)
    flash(_("Passkey “%(name)s” removed.", name=name), "success")
    return redirect(url_for(PASSKEYS, _anchor="passkeys"))


@bp.post("/login/passkey")
def login_passkey() -> View:
    """The second step of signing in, answered with a passkey instead of a code."""
    form = PasskeySignInForm()
    pending = request.form.get("pending", "")
    user = half_signed_in()
    if user is None:
        return sign_in_again(form.next.data or "", pending)
    code_form = SecondFactorForm(formdata=None, next=form.next.data)
    rp = relying_party()
    if not form.validate_on_submit() or rp is None:
        return code_page(user, code_form, pending, 422)
    checked = passkeys.check(
        db.session, user, rp, form.credential.data or "", client_source(), login_policy()
    )
    if checked.refused:
        return refused_page(user, code_form, pending, checked)
    if not checked.ok or checked.factor is None:
        if checked.problem is twofactor.Problem.STALE:
            problem = _("This page has expired for passkeys. Use your passkey again, or enter a code.")
        else:
            problem = _(
                "This passkey did not sign you in: it is not one of this account's, or it was made for another "
                "site. Use another passkey, or enter a code."
            )
        return code_page(user, code_form, pending, 200, passkey_problem=problem)
    return signed_in(user, checked.factor, pending, form.next.data)
