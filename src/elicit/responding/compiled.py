"""What a page request derives from a published instrument version alone, made once per version per process.

A published version never changes: its sha256 names its canonical content. Its parsed definition and what follows
from the definition alone (the form fields each page accepts) are made on first use and kept in a bounded LRU keyed by the version's id *and* sha256, so a new version, or another database
whose version of the same id differs, never meets another version's entry. Nothing here depends on an expert, a
response or a request: process memory holds published data only, never state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from elicit.instruments.schema import Definition, Page
from elicit.responding.values import form_names

#: Enough for every version a server answers at once (a study's rounds may each pin one); the least recently
#: used goes first, so a long-running worker never grows.
CAPACITY = 64


class CompiledVersion:
    """A published version's definition with what pages derive from it, computed once (see the module)."""

    def __init__(self, definition: Definition, sha256: str) -> None:
        self.definition = definition
        self.sha256 = sha256
        self._fields: dict[tuple[str, frozenset[str]], frozenset[str]] = {}
        self._lock = threading.Lock()

    def fields(self, page: Page, asks_rationale: frozenset[str], control: frozenset[str]) -> frozenset[str]:
        """Every field name a post of ``page`` may carry: ``control`` fields and its items' own (with a rationale
        for the items in ``asks_rationale``, which only the round decides)."""
        rationale = asks_rationale & {item.id for item in page.answerable_items()}
        key = (page.id, rationale)
        found = self._fields.get(key)
        if found is None:
            found = page_fields(page, rationale, control)
            with self._lock:
                self._fields[key] = found
        return found


def page_fields(page: Page, asks_rationale: frozenset[str], control: frozenset[str]) -> frozenset[str]:
    """Every field name a post of ``page`` may carry, computed (``CompiledVersion.fields`` keeps it)."""
    allowed = set(control)
    for item in page.answerable_items():
        allowed |= form_names(item, item.id in asks_rationale)
    return frozenset(allowed)


class VersionCache:
    """A bounded, thread-safe LRU of compiled versions keyed by (version id, sha256)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[int, str], CompiledVersion] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int, sha256: str, make: Callable[[], Definition]) -> CompiledVersion:
        """The compiled version, made with ``make`` (which reads and parses the version) when not held."""
        key = (version_id, sha256)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        compiled = CompiledVersion(make(), sha256)  # parsed outside the lock: a slow parse blocks no other
        with self._lock:
            self._entries[key] = compiled
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return compiled

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


VERSIONS = VersionCache()
