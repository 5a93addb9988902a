"""Slow down anyone guessing invitation links: unknown tokens are counted per source address.

An invitation token has 192 random bits, so guessing one is hopeless; the limit is there so that nobody can
*try*, at scale, from one address (and so that scanning shows up in the logs as 429s rather than as load).
Only answers that say "this link is not known" (404) count: an expert who reloads, goes back and forth or
submits twice never comes near the limit, whatever they do. Once a source has had ``UNKNOWN_LINK_LIMIT``
unknown links, every expert page answers 429 to it until the window has moved on.

Counts live in Redis when ``REDIS_URL`` (env ``ELICIT_REDIS_URL``) is set, so every gunicorn worker and every
instance behind a load balancer shares them; otherwise in the process's memory (fine for one process, e.g.
``elicit serve``; each gunicorn worker would count on its own). If Redis becomes unreachable the limiter falls
back to per-process memory and logs it, instead of failing the experts' requests.

Behind a reverse proxy the source address is the proxy's unless ``ELICIT_PROXY_FIX`` names how many proxies
to trust (werkzeug's ``ProxyFix``, applied in ``elicit.app``); see README, "Operating Elicit".
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, current_app, render_template
from flask_babel import gettext
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from elicit.i18n import N_

log = logging.getLogger("elicit.ratelimit")

UNKNOWN_LINK_LIMIT = "30 per minute"  # override with app.config["UNKNOWN_LINK_LIMIT"]
UNKNOWN_LINK_SCOPE = "invitation-token-guess"  # one counter per source across every expert page
GUARDED_BLUEPRINTS = ("survey",)  # the expert pages at /s/<token>
EXTENSION = "elicit.ratelimit"

TOO_MANY_TITLE = N_("Too many unknown links")
TOO_MANY_MESSAGE = N_(
    "Too many links that do not exist were opened from your network. Please wait %(minutes)s minute(s), "
    "then open the link from your invitation again, exactly as you received it."
)


def unknown_link(response: Response) -> bool:
    """Count a request against the limit only when its answer is "this link is not known"."""
    return response.status_code == 404


def _limit_value() -> str:
    return str(current_app.config.get("UNKNOWN_LINK_LIMIT", UNKNOWN_LINK_LIMIT))


def storage_uri(app: Flask) -> str:
    """Redis when configured (shared by every worker and instance), else this process's memory."""
    return str(app.config.get("REDIS_URL") or "memory://")


def init_app(app: Flask) -> Limiter:
    """Bind a limiter to ``app`` and put the unknown-token limit on the expert pages' blueprint.

    A limiter per app rather than one at module level: Flask-Limiter keeps its storage and its enabled flag on
    the instance, so one shared instance would carry counts and settings from one app to the next (tests build
    many apps in one process). Call after the blueprints are registered; set ``RATELIMIT_ENABLED = False`` in
    the config to switch it off.
    """
    app.config.setdefault("RATELIMIT_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "elicit")
    uri = storage_uri(app)
    # Short socket timeouts: an unreachable Redis must cost an expert's request a second at most, not minutes.
    options: dict[str, str | int] = (
        {"socket_connect_timeout": 1, "socket_timeout": 1} if uri.startswith("redis") else {}
    )
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=uri,
        storage_options=options,
        strategy="moving-window",  # no burst of twice the limit across a window's edge
        headers_enabled=False,  # a guesser learns nothing about the counter; the 429 page says when to retry
        swallow_errors=True,  # a storage failure must not fail an expert's request ...
        in_memory_fallback_enabled=True,  # ... and the limit goes on per process meanwhile
    )
    limiter.init_app(app)
    guard = limiter.shared_limit(_limit_value, scope=UNKNOWN_LINK_SCOPE, deduct_when=unknown_link)
    for name in GUARDED_BLUEPRINTS:
        blueprint = app.blueprints.get(name)
        if isinstance(blueprint, Blueprint):
            guard(blueprint)
    app.extensions[EXTENSION] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)
    return limiter


def _too_many(exc: RateLimitExceeded) -> tuple[str, int, dict[str, str]]:
    """The 429 page, in the site's layout, with Retry-After."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    retry_after = 60
    current = limiter.current_limit if limiter is not None else None
    if current is not None:
        retry_after = max(1, int(current.reset_at - time.time()))
    log.warning("invitation-token guessing limit reached (%s)", exc.description)
    minutes = max(1, -(-retry_after // 60))
    body = render_template(
        "error.html",
        status=429,
        title=gettext(TOO_MANY_TITLE),
        message=gettext(TOO_MANY_MESSAGE) % {"minutes": minutes},
    )
    return body, 429, {"Retry-After": str(retry_after)}
