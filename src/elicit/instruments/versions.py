"""Publishing immutable versions, finding them by ``id@version``, and diffing two versions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from elicit.errors import ElicitError
from elicit.instruments.loading import load_canonical
from elicit.instruments.schema import Definition, Item
from elicit.models import Instrument, InstrumentVersion

REF_RE = re.compile(r"^(?P<id>[a-z][a-z0-9-]*)@(?P<version>\d+\.\d+\.\d+)$")


class VersionError(ElicitError, ValueError):
    """A publish or look-up that cannot be done; the message says why in a sentence."""


@dataclass(frozen=True)
class ItemChange:
    item: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Diff:
    """What changed from version ``old`` to ``new``, item by item."""

    old: str
    new: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[ItemChange, ...] = ()
    pages_changed: tuple[str, ...] = ()
    scale_breaks: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.pages_changed or self.scale_breaks)

    def lines(self) -> list[str]:
        """A readable report, one finding per line."""
        out = [f"{self.old} -> {self.new}"]
        out += [f"+ {item}: added" for item in self.added]
        out += [f"- {item}: removed" for item in self.removed]
        out += [f"~ {c.item}: {', '.join(c.fields)} changed" for c in self.changed]
        out += [f"~ {p}" for p in self.pages_changed]
        out += [f"! {b}" for b in self.scale_breaks]
        if self.empty:
            out.append("no differences")
        return out


def _item_signature(item: Item) -> dict[str, Any]:
    return {
        "type": item.type,
        "text": dict(item.text or {}),
        "help": dict(item.help or {}),
        "choices": [(c.key, dict(c.label)) for c in item.choices],
        "codes": [c.key for c in item.choices],
        "relevant": item.relevant.source if item.relevant else None,
        "constraint": item.constraint.source if item.constraint else None,
        "required": item.required,
        "range": (item.min, item.max, item.total, item.levels, item.max_length),
        "privacy": item.privacy,
        "page": item.page,
    }


def diff_definitions(old: Definition, new: Definition) -> Diff:
    """Compare two definitions by item id, and flag changes that break a scale's comparability."""
    old_items = {i.id: i for i in old.items()}
    new_items = {i.id: i for i in new.items()}
    added = tuple(i for i in new_items if i not in old_items)
    removed = tuple(i for i in old_items if i not in new_items)
    changed: list[ItemChange] = []
    for item_id, before in old_items.items():
        after = new_items.get(item_id)
        if after is None:
            continue
        a, b = _item_signature(before), _item_signature(after)
        fields = tuple(key for key in a if key != "codes" and a[key] != b[key])
        if fields:
            changed.append(ItemChange(item_id, fields))
    pages_changed: list[str] = []
    old_pages = {p.id: p for p in old.pages}
    for page in new.pages:
        before_page = old_pages.get(page.id)
        if before_page is None:
            pages_changed.append(f"page {page.id}: added")
        elif (before_page.relevant and before_page.relevant.source) != (
            page.relevant and page.relevant.source
        ):
            pages_changed.append(f"page {page.id}: relevance changed")
    pages_changed += [f"page {p}: removed" for p in old_pages if p not in {q.id for q in new.pages}]

    breaks: list[str] = []
    for name in sorted(set(old.scales) | set(new.scales)):
        s_old, s_new = old.scales.get(name), new.scales.get(name)
        if s_old is None or s_new is None:
            breaks.append(
                f"scale {name}: {'added' if s_old is None else 'removed'}; scores are not comparable"
            )
            continue
        if set(s_old.items) != set(s_new.items):
            breaks.append(f"scale {name}: items differ; scores are not comparable across versions")
        if set(s_old.reverse) != set(s_new.reverse):
            breaks.append(f"scale {name}: reverse keying differs; scores are not comparable across versions")
        for item_id in sorted(set(s_old.items) & set(s_new.items)):
            a_item, b_item = old_items.get(item_id), new_items.get(item_id)
            if a_item and b_item:
                sa, sb = _item_signature(a_item), _item_signature(b_item)
                if sa["codes"] != sb["codes"]:
                    breaks.append(f"scale {name}: response codes of {item_id} changed")
                elif sa["text"] != sb["text"] or sa["choices"] != sb["choices"]:
                    breaks.append(f"scale {name}: wording of {item_id} changed; check comparability")
    return Diff(old.ref, new.ref, added, removed, tuple(changed), tuple(pages_changed), tuple(breaks))


def find_version(session: Session, ref: str) -> InstrumentVersion:
    """The published version named ``id@version``, or VersionError."""
    match = REF_RE.match(ref)
    if not match:
        raise VersionError(f"{ref!r} is not of the form id@version, e.g. defence-diplomacy@1.0.0")
    version = session.scalar(
        select(InstrumentVersion)
        .join(Instrument)
        .where(Instrument.key == match["id"], InstrumentVersion.version == match["version"])
    )
    if version is None:
        raise VersionError(f"{ref} is not published (publish it with `elicit instrument publish FILE`)")
    return version


def definition_of(version: InstrumentVersion) -> Definition:
    return load_canonical(version.canonical_json)


def publish_version(session: Session, definition: Definition, actor: str) -> tuple[InstrumentVersion, bool]:
    """Store an immutable version; the same content again is a no-op, different content is refused.

    Returns the version and whether it was newly created.
    """
    instrument = session.scalar(select(Instrument).where(Instrument.key == definition.id))
    if instrument is None:
        instrument = Instrument(key=definition.id)
        session.add(instrument)
        session.flush()
    existing = session.scalar(
        select(InstrumentVersion).where(
            InstrumentVersion.instrument_id == instrument.id, InstrumentVersion.version == definition.version
        )
    )
    if existing is not None:
        if existing.sha256 == definition.sha256:
            return existing, False
        differences = diff_definitions(definition_of(existing), definition)
        detail = "; ".join(differences.lines()[1:6]) or "formatting of the canonical form"
        raise VersionError(
            f"{definition.ref} is already published with different content (sha256 {existing.sha256[:12]}…): "
            f"{detail}. Published versions never change: give the new content a new version number."
        )
    version = InstrumentVersion(
        instrument=instrument,
        version=definition.version,
        canonical_json=definition.canonical_json(),
        sha256=definition.sha256,
        published_by=actor,
    )
    session.add(version)
    session.flush()
    return version, True
