"""Settings from environment variables, so one build runs anywhere (12-factor); tests pass a dict instead."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///instance/elicit.db"


def _secret_key(instance_path: Path) -> str:
    """Return ELICIT_SECRET_KEY, or a key kept in the instance folder so restarts and workers share it."""
    key = os.environ.get("ELICIT_SECRET_KEY")
    if key:
        return key
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    os.replace(tmp, path)
    return key


def from_environment(instance_path: Path) -> dict[str, Any]:
    """Build the Flask config mapping from the process environment."""
    env = os.environ
    return {
        "DATABASE_URL": env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        "SECRET_KEY": _secret_key(instance_path),
        "BASE_URL": env.get("ELICIT_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "SMTP_URL": env.get("ELICIT_SMTP_URL"),
        "REDIS_URL": env.get("ELICIT_REDIS_URL"),
        "SESSION_COOKIE_SECURE": env.get("ELICIT_SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
        "K_ANONYMITY": int(env.get("ELICIT_K", "5")),
    }
