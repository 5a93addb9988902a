"""Interface translations (Flask-Babel catalogs in src/elicit/translations) and the page language.

Expert pages are shown in the language the expert chose (kept on the response); other pages follow the browser.
Right-to-left languages get ``dir="rtl"`` on the page.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import Babel

SUPPORTED = ("en", "ur")
RTL = frozenset({"ur", "ar", "fa", "ps", "sd", "he"})
LANGUAGE_NAMES = {"en": "English", "ur": "اردو"}

babel = Babel()


def N_(message: str) -> str:  # noqa: N802 - the conventional name extraction tools look for
    """Mark a string for the catalog where it is defined; it is translated where it is shown."""
    return message


def select_locale() -> str:
    chosen = g.get("language")
    if chosen in SUPPORTED:
        return str(chosen)
    return request.accept_languages.best_match(SUPPORTED) or "en"


def direction(language: str) -> str:
    return "rtl" if language.split("-")[0] in RTL else "ltr"


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")

    @app.context_processor
    def _language() -> dict[str, object]:
        language = g.get("language") or select_locale()
        return {"page_language": language, "page_dir": direction(language), "language_names": LANGUAGE_NAMES}
