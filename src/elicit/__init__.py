"""Elicit: survey and expert-elicitation platform. ``create_app`` is the application factory.

The app itself lives in :mod:`elicit.app`, imported only when an app is made, so importing a package that stands
alone (``elicit.analysis``) loads no web framework or database library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. With no ``config`` the settings come from environment variables (see config.py)."""
    from elicit.app import create_app as make_app

    return make_app(config)
