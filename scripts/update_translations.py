"""Re-extract the expert-facing strings and refresh the catalogs: `python scripts/update_translations.py`.

Extraction keywords: gettext/_ and N_ (marks), FieldError's 2nd and Message's 1st argument (domain messages).
New strings appear untranslated in the .po files (shown in English until translated); the .mo files are compiled
here and committed, so an install needs no build step. A test keeps .po and .mo in step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "src" / "elicit" / "translations"
POT = ROOT / "build" / "messages.pot"


def main() -> int:
    POT.parent.mkdir(exist_ok=True)
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [
            *pybabel,
            "extract",
            "--no-location",
            "--sort-output",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "FieldError:2",
            "-k",
            "Message:1",
            "-o",
            str(POT),
            ".",
        ],
        check=True,
        cwd=ROOT,
    )
    subprocess.run(
        [*pybabel, "update", "--no-fuzzy-matching", "-i", str(POT), "-d", str(TRANSLATIONS)], check=True
    )
    subprocess.run([*pybabel, "compile", "-d", str(TRANSLATIONS)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
