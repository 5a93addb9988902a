"""Re-extract the expert-facing strings and refresh the catalogs: `python scripts/update_translations.py`.

Extraction keywords: gettext/_ and N_ (marks), FieldError's 2nd and Message's 1st argument (domain messages).
New strings appear untranslated in the .po files (shown in English until translated); the .mo files are compiled
here and committed, so an install needs no build step. tests/test_translations.py uses ``extract`` to check that
every string is translated and that .po and .mo agree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "src" / "elicit" / "translations"
POT = ROOT / "build" / "messages.pot"
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]
KEYWORDS = ["-k", "N_", "-k", "FieldError:2", "-k", "Message:1"]


def extract(pot: Path) -> None:
    """Extract the expert-facing strings of the sources named in babel.cfg into ``pot``."""
    command = [
        *PYBABEL,
        "extract",
        "--no-location",
        "--sort-output",
        "-F",
        "babel.cfg",
        *KEYWORDS,
        "-o",
        str(pot),
        ".",
    ]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)


def main() -> int:
    POT.parent.mkdir(exist_ok=True)
    extract(POT)
    subprocess.run(
        [
            *PYBABEL,
            "update",
            "--no-fuzzy-matching",
            "--ignore-obsolete",
            "-i",
            str(POT),
            "-d",
            str(TRANSLATIONS),
        ],
        check=True,
    )
    subprocess.run([*PYBABEL, "compile", "-d", str(TRANSLATIONS)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
