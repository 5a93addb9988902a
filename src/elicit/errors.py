"""The one base of Elicit's domain errors: a sentence for a person, never a traceback.

Every error a user can cause (a bad file, a name that does not exist, a refused action) subclasses
:class:`ElicitError`, so the command line catches that one class and prints ``elicit: error: <message>``; the web
views map the ones they meet to a 4xx page. Kept free of imports so that any module can use it.
"""

from __future__ import annotations


class ElicitError(Exception):
    """Something the user asked for cannot be done; ``str(error)`` says why in a sentence."""
