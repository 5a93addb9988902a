"""The researchers' studio: sign-in, instruments, studies, rosters and invitations, dashboards, users, audit.

``init_app`` is found and called by ``create_app``. Views are thin (``elicit.studio.views``); the work is done by
the service modules beside them (accounts, dashboard, invitations, mail, instruments, audit_log) and by
``elicit.studies``.
"""

from __future__ import annotations

from flask import Flask

STUDIO_DEFAULTS = {
    "STUDIO_IDLE_MINUTES": 30,  # a session ends after this long without a request
    "STUDIO_MAX_FAILURES": 5,  # every this-many consecutive failures lock the account
    "STUDIO_LOCK_MINUTES": 15,  # the first lock; each further lock doubles it
    "STUDIO_MAX_LOCK_MINUTES": 24 * 60,
    "STUDIO_SOURCE_FAILURES": 20,  # failures from one address within the window that slow it down
    "STUDIO_SOURCE_WINDOW_MINUTES": 15,
}


def init_app(app: Flask) -> None:
    """Register the studio blueprint and its defaults."""
    for key, value in STUDIO_DEFAULTS.items():
        app.config.setdefault(key, value)
    from elicit.studio.blueprint import bp
    from elicit.studio.views import (  # noqa: F401
        accounts,
        admin,
        delphi,
        instruments,
        invitations,
        lifecycle,
        passkeys,
        studies,
        twofactor,
    )

    app.register_blueprint(bp)

    from elicit.studio.views import oidc

    oidc.init_app(app)  # the single sign-on pages, when ELICIT_OIDC_* configure it
