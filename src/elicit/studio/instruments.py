"""Instruments as the studio shows them: published versions, drafts, checking an upload, and a side-by-side diff."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from elicit.instruments.formats import IMPORT_SUFFIXES, ImportFailed, ImportProblem, convert
from elicit.instruments.formats.common import dump_yaml
from elicit.instruments.loading import load_text
from elicit.instruments.model import Problem
from elicit.instruments.schema import Definition, InstrumentError, Item, text_in
from elicit.instruments.versions import Diff, definition_of, diff_definitions
from elicit.models import Instrument, InstrumentDraft, InstrumentVersion, utcnow

SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class VersionRow:
    key: str
    version: str
    ref: str
    title: str
    anonymity: str
    languages: tuple[str, ...]
    pages: int
    items: int
    sha256: str
    published_at: datetime
    published_by: str


def published(session: Session) -> list[VersionRow]:
    """Every published version, newest instrument first, versions in publishing order."""
    rows = []
    instruments = session.scalars(
        select(Instrument).options(selectinload(Instrument.versions)).order_by(Instrument.key)
    )
    for instrument in instruments:
        for version in instrument.versions:
            rows.append(row_of(version))
    return rows


def row_of(version: InstrumentVersion) -> VersionRow:
    definition = definition_of(version)
    return VersionRow(
        key=version.instrument.key,
        version=version.version,
        ref=version.ref,
        title=text_in(definition.title, definition.languages[0]),
        anonymity=definition.anonymity,
        languages=definition.languages,
        pages=len(definition.pages),
        items=sum(1 for _ in definition.items()),
        sha256=version.sha256,
        published_at=version.published_at,
        published_by=version.published_by,
    )


def find(session: Session, key: str, version: str) -> InstrumentVersion | None:
    return session.scalar(
        select(InstrumentVersion)
        .join(Instrument)
        .where(Instrument.key == key, InstrumentVersion.version == version)
    )


def upload_name(filename: str | None) -> str:
    """The name problems are reported under: the file's base name, harmless characters only."""
    base = (filename or "upload.yaml").replace("\\", "/").rsplit("/", 1)[-1]
    return SAFE_NAME_RE.sub("_", base)[:100] or "upload.yaml"


def check(data: str | bytes, filename: str | None) -> Definition:
    """The same checks as ``elicit instrument check``; raises InstrumentError with every problem."""
    return load_text(data, upload_name(filename))


def is_import(filename: str | None) -> bool:
    """Whether an upload is another tool's questionnaire to convert (XLSForm, REDCap, LimeSurvey), not YAML."""
    return PurePosixPath(upload_name(filename)).suffix.lower() in IMPORT_SUFFIXES


@dataclass(frozen=True)
class Conversion:
    """An upload converted into instrument YAML, checked, with what was mapped and what was not carried over."""

    kind: str  # "XLSForm", "REDCap data dictionary", "LimeSurvey"
    name: str  # the uploaded file's name
    filename: str  # the YAML's name, ID-VERSION.yaml
    text: str
    definition: Definition
    mapped: tuple[str, ...]
    lost: tuple[Problem, ...]


class ConversionFailed(InstrumentError):
    """A conversion or its check failed; ``text`` is the converted YAML when the check (not the reading) refused it."""

    def __init__(self, problems: list[Problem], text: str | None = None) -> None:
        super().__init__(problems)
        self.text = text


def _as_problem(problem: ImportProblem) -> Problem:
    return Problem(problem.path, problem.row, problem.message)


def convert_upload(data: bytes, filename: str | None, instrument_id: str, version: str) -> Conversion:
    """Convert an uploaded XLSForm, REDCap dictionary or LimeSurvey file and check the YAML as a YAML upload is.

    The same conversion as ``elicit instrument import``; raises :class:`ConversionFailed` with every problem
    (the file's as ``file:row``, the converted YAML's as ``ID-VERSION.yaml:line``).
    """
    name = upload_name(filename)
    try:
        kind, imported = convert(name, data, instrument_id, version)
    except ImportFailed as exc:
        raise ConversionFailed([_as_problem(p) for p in exc.problems]) from None
    target = f"{instrument_id}-{version}.yaml"
    text = dump_yaml(imported.document, f"Imported in Elicit Studio from {name} ({kind}).")
    try:
        definition = load_text(text, target)
    except InstrumentError as exc:
        raise ConversionFailed(exc.problems, text) from None
    lost = tuple(_as_problem(p) for p in imported.lost)
    return Conversion(kind, name, target, text, definition, tuple(imported.mapped), lost)


@dataclass(frozen=True)
class UploadState:
    """How an uploaded definition relates to what is published."""

    state: str  # "new", "unchanged" (the very same content is published) or "conflict"
    previous: InstrumentVersion | None  # the newest published version of the same instrument, if any
    diff: Diff | None


def upload_state(session: Session, definition: Definition) -> UploadState:
    same = find(session, definition.id, definition.version)
    newest = session.scalar(
        select(InstrumentVersion)
        .join(Instrument)
        .where(Instrument.key == definition.id)
        .order_by(InstrumentVersion.published_at.desc(), InstrumentVersion.id.desc())
        .limit(1)
    )
    if same is not None:
        if same.sha256 == definition.sha256:
            return UploadState("unchanged", same, None)
        return UploadState("conflict", same, diff_definitions(definition_of(same), definition))
    diff = diff_definitions(definition_of(newest), definition) if newest is not None else None
    return UploadState("new", newest, diff)


@dataclass(frozen=True)
class ItemSide:
    type: str
    text: str
    choices: str
    page: str


@dataclass(frozen=True)
class DiffRow:
    item: str
    change: str  # added, removed, changed, same
    fields: tuple[str, ...]
    old: ItemSide | None
    new: ItemSide | None


def _side(item: Item, language: str) -> ItemSide:
    choices = "; ".join(f"{c.key} = {text_in(c.label, language)}" for c in item.choices)
    text = text_in(item.text, language)
    if item.matrix:
        text = f"[{item.matrix}] {text}"
    return ItemSide(item.type, text, choices, item.page)


def side_by_side(old: Definition, new: Definition, language: str) -> tuple[Diff, list[DiffRow]]:
    """Every item of either version in questionnaire order, with what changed between them."""
    diff = diff_definitions(old, new)
    changed = {c.item: c.fields for c in diff.changed}
    old_items = {i.id: i for i in old.items()}
    new_items = {i.id: i for i in new.items()}
    order = list(new_items)
    for position, item_id in enumerate(old_items):
        if item_id not in new_items:
            order.insert(min(position, len(order)), item_id)
    rows = []
    for item_id in order:
        before, after = old_items.get(item_id), new_items.get(item_id)
        if before is None:
            change = "added"
        elif after is None:
            change = "removed"
        else:
            change = "changed" if item_id in changed else "same"
        rows.append(
            DiffRow(
                item_id,
                change,
                changed.get(item_id, ()),
                _side(before, _language(old, language)) if before else None,
                _side(after, _language(new, language)) if after else None,
            )
        )
    return diff, rows


def _language(definition: Definition, language: str) -> str:
    return language if language in definition.languages else definition.languages[0]


# ------------------------------------------------------------------------------------------------------ drafts
def drafts(session: Session) -> list[InstrumentDraft]:
    """Every draft, by instrument id."""
    return list(session.scalars(select(InstrumentDraft).order_by(InstrumentDraft.key)))


def find_draft(session: Session, key: str) -> InstrumentDraft | None:
    return session.scalar(select(InstrumentDraft).where(InstrumentDraft.key == key))


def save_draft(
    session: Session, definition: Definition, source: str, filename: str, actor: str
) -> tuple[InstrumentDraft, str | None]:
    """Keep a checked file as its instrument's draft, replacing the draft of that id.

    Returns the draft and the ``id@version`` of the draft it replaced (None when there was none).
    """
    draft = find_draft(session, definition.id)
    replaced = None
    if draft is None:
        draft = InstrumentDraft(key=definition.id)
        session.add(draft)
    else:
        replaced = draft.ref
    draft.version = definition.version
    draft.filename = filename
    draft.source = source
    draft.sha256 = definition.sha256
    draft.uploaded_by = actor
    draft.uploaded_at = utcnow()
    session.flush()
    return draft, replaced


def draft_definition(draft: InstrumentDraft) -> Definition:
    """The draft's definition, checked again (raises InstrumentError if today's checks refuse the stored file)."""
    return load_text(draft.source, draft.filename)
