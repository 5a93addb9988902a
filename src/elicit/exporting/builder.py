"""Building an export folder (docs/export.md) and its zip: the streamed row pipeline, the manifest, the audit.

The folder is written into a temporary folder next to the target and renamed into place at the end, so there is
never a half-written export; the temporary folder is private (mode 0700) and so is the result (folders 0700,
files 0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from elicit import audit
from elicit.errors import ElicitError
from elicit.exporting.anonymize import KAnonymity, Scrubber
from elicit.exporting.codebook import codebook_document, codebook_html, codebook_rows
from elicit.exporting.discussion import write_discussion
from elicit.exporting.flow import participant_flow
from elicit.exporting.interchange import write_interchange
from elicit.exporting.plan import ExportPlan, PlanError, build_plan, to_int
from elicit.exporting.rscript import R_LOADER, write_r_loader
from elicit.exporting.source import StudyInfo, chunk_answers, load_study, response_chunks, snapshot, user_role
from elicit.exporting.writers import (
    CsvSink,
    LongCsvSink,
    ParquetSink,
    WriterError,
    write_dta,
    write_sav,
    write_xlsx,
)
from elicit.formats import FORMATS
from elicit.instruments.types import REGISTRY
from elicit.lifecycle import manifest_entries
from elicit.models import Role, Study
from elicit.scrubbing import study_token_hashes
from elicit.tokens import pseudonym

if TYPE_CHECKING:  # pandas and scipy load only for a Delphi export
    from elicit.stats.consensus import ConsensusRule

EXPORT_FORMAT = "elicit-export/1"
MAX_K = 1000


class ExportError(ElicitError, ValueError):
    """An export that cannot be made as asked; the message is a sentence for the user."""


def check_options(
    fmt: str, *, k: int | None, identified: bool = False, suppress: bool = False, floor: int | None = None
) -> None:
    """Refuse an unknown format, a k out of range, or a k below ``floor`` (the study's k), with a sentence.

    The study's k is a floor for every export path (CLI, studio, API; DESIGN.md, "Privacy model"): a smaller k
    would report and suppress as if smaller groups were safe, so it is refused rather than quietly raised, and
    the user learns why their request was not what they got. ``build_export`` checks it again against the
    study it reads, so no caller can skip it. ``identified`` and ``suppress`` combine: suppression then blanks
    the raw quasi-identifiers of rows in small classes (an admin's explicit choice).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if k is not None and not 1 <= k <= MAX_K:
        raise ExportError(f"k must be a whole number from 1 to {MAX_K} (not {k})")
    if k is not None and floor is not None and k < floor:
        raise ExportError(
            f"k must be at least the study's k of {floor} (not {k}): groups smaller than the study's k are never "
            "treated as safe; leave k out to use the study's"
        )


def build_export(
    session: Session,
    study: Study,
    fmt: str,
    out_dir: Path,
    *,
    identified: bool = False,
    k: int | None = None,
    suppress: bool = False,
    actor: str,
) -> dict[str, Any]:
    """Write the export folder of ``study`` to ``out_dir`` and return its manifest.

    Reads committed data through its own read-only snapshot (see ``elicit.exporting.source``); ``session`` is
    used only to record the export in the audit log, which the caller commits. ``identified`` exports are refused
    unless ``actor`` is the e-mail of an active admin. ``k`` defaults to the study's threshold; ``suppress``
    blanks the quasi-identifiers of rows in classes smaller than k. ``out_dir`` must not exist, or be empty.
    """
    check_options(fmt, k=k, identified=identified, suppress=suppress)
    out_dir = Path(out_dir).absolute()
    if not out_dir.parent.is_dir():
        raise ExportError(f"folder {out_dir.parent} does not exist")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ExportError(f"{out_dir} exists and is not a folder; give a new folder name")
        if any(out_dir.iterdir()):
            raise ExportError(f"folder {out_dir} exists and is not empty; give a new folder name")
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial"))
    try:
        with snapshot(session) as conn:
            info = load_study(conn, study.id)
            if info is None:
                raise ExportError(f"study {study.slug!r} does not exist")
            check_options(fmt, k=k, identified=identified, suppress=suppress, floor=info.k_threshold)
            if identified and user_role(conn, actor) != Role.ADMIN:
                raise ExportError(f"identified exports are for administrators only ({actor} is not one)")
            manifest = _write_folder(
                conn, info, fmt, work, identified=identified, k=k, suppress=suppress, actor=actor
            )
        audit.record(
            session,
            "export",
            actor,
            study_id=info.id,
            target=info.slug,
            details={
                "format": fmt,
                "identified": identified,
                "rows": manifest["counts"]["rows"],
                "k": manifest["anonymization"]["k_anonymity"]["k"],
                "suppress": suppress,
            },
        )
        _make_private(work)
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def export_zip(
    session: Session,
    study: Study,
    fmt: str,
    *,
    actor: str,
    identified: bool = False,
    k: int | None = None,
    suppress: bool = False,
) -> Path:
    """The export folder as a zip file (for the studio download and the API); the caller deletes the file.

    The zip holds one folder, ``<slug>-<fmt>/``, with the same files ``build_export`` writes (its ``excalibur/``
    subfolder too). Entry times are fixed (1980-01-01) so the archive carries no clock time.
    """
    check_options(fmt, k=k, identified=identified, suppress=suppress)
    scratch = Path(tempfile.mkdtemp(prefix="elicit-export-"))
    try:
        folder = scratch / f"{study.slug}-{fmt}"
        build_export(session, study, fmt, folder, identified=identified, k=k, suppress=suppress, actor=actor)
        handle, name = tempfile.mkstemp(prefix=f"{study.slug}-", suffix=".zip")
        os.close(handle)
        archive = Path(name)
        try:
            with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                    entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    entry.external_attr = 0o600 << 16
                    with path.open("rb") as source, zf.open(entry, "w") as target:
                        shutil.copyfileobj(source, target, 1 << 20)
        except BaseException:
            archive.unlink(missing_ok=True)
            raise
        return archive
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the pipeline


class _Rows:
    """Turns chunks of responses and their answers into wide rows (lists in plan column order)."""

    def __init__(self, info: StudyInfo, plan: ExportPlan, identity: bool) -> None:
        self.info = info
        self.plan = plan
        self.identity = identity
        self.number = 0
        self.label = f"R{{:0{max(4, len(str(info.submitted)))}d}}"
        self.versions = {vid: v.version for vid, v in info.versions.items()}
        self.lookup = plan.lookup()

    def build(
        self, chunk: Sequence[Any], answers: Iterable[Sequence[Any]]
    ) -> tuple[list[list[Any]], list[str]]:
        """Rows for one chunk, and the respondent key of each row (for k-anonymity).

        The respondent is the expert's own pseudonym in pseudonymous studies, else ``R`` + an ordinal given in
        the order of the random response ids (which reveals nothing).
        """
        width = self.plan.width
        rounds = self.info.rounds
        cohorts = self.info.cohorts
        pseudonymous = self.info.pseudonymous
        rows: list[list[Any]] = []
        keys: list[str] = []
        by_id: dict[str, list[Any]] = {}
        for response in chunk:
            row: list[Any] = [None] * width
            if pseudonymous:
                row[0] = response[5] or pseudonym(self.info.pseudonym_key, "response:" + response[0])
            else:
                self.number += 1
                row[0] = self.label.format(self.number)
            row[1] = cohorts[response[2]][0]
            row[2] = rounds[response[1]][0]
            row[3] = self.versions[response[3]]
            row[4] = response[4]
            row[5] = response[6]
            if self.identity:
                row[6:10] = response[7:11]
            rows.append(row)
            keys.append(row[0] if pseudonymous else response[0])
            by_id[response[0]] = row
        lookup = self.lookup
        dont_know = self.plan.dont_know
        item_id = ""
        try:
            for response_id, item_id, part, num, text, unknown in answers:
                if unknown:
                    index = dont_know.get(item_id)
                    if index is not None:
                        by_id[response_id][index] = 1
                    continue
                parts = lookup.get(item_id)
                slot = parts.get(part) if parts is not None else None
                if slot is None:  # a dropped item (direct identifier) or a part no version declares
                    continue
                index, convert, dk_index = slot
                row = by_id[response_id]
                if convert is None and num is not None:
                    row[index] = int(num)
                else:
                    row[index] = (convert or to_int)(num, text)
                if dk_index is not None and row[dk_index] is None:
                    row[dk_index] = 0
        except PlanError as exc:
            raise ExportError(f"item {item_id}: {exc}") from None
        return rows, keys


COOKE_DEFAULTS = {
    "model": "Cooke's classical model, as computed by `elicit analyze`",
    "background": "per item: uniform unless the instrument says loguniform",
    "overshoot": 0.1,
    "cutoff": "optimized (the significance level maximizing the decision maker's score)",
    "weights": "global",
    "realization_on_a_quantile": "falls in the bin below it (as in EXCALIBUR and anduryl)",
}


def study_consensus_rule(conn: Connection, study_id: int) -> ConsensusRule:
    """The study's Delphi consensus rule, as the studio uses it; :class:`ExportError` if it is not valid."""
    from elicit.stats.consensus import ConsensusRule

    row = conn.execute(
        select(Study.slug, Study.consensus_max_iqr, Study.consensus_min_agreement).where(Study.id == study_id)
    ).one()
    try:
        return ConsensusRule(max_iqr=row.consensus_max_iqr, min_agreement=row.consensus_min_agreement)
    except (TypeError, ValueError) as exc:
        raise ExportError(
            f"the consensus rule of study {row.slug} cannot be used: {exc}; correct it on the study's Rounds page"
        ) from None


def write_delphi_tables(folder: Path, codebook: dict[str, Any], k: int, rule: ConsensusRule) -> list[str]:
    """consensus.csv and stability.csv when the data hold several rounds, under the study's ``rule``.

    Computed by :func:`elicit.stats.consensus.delphi_tables`, as the studio's Delphi page and ``elicit
    analyze`` are (small groups and their complements left out, as in the studio).
    """
    import pandas as pd

    from elicit.stats.consensus import answers_long, delphi_tables

    choices = {
        item["id"]: [c["code"] for c in item.get("choices", [])]
        for item in codebook["items"]
        if _coded_choice(item)
        and item.get("columns")
        and all(
            isinstance(c["code"], int | float) and not isinstance(c["code"], bool)
            for c in item.get("choices", [])
        )
        and item.get("choices")
    }
    if not choices:
        return []
    columns = ["respondent", "round", "cohort", *choices]
    data = pd.read_csv(folder / "data.csv", usecols=lambda c: c in columns)
    if data["round"].nunique() < 2:
        return []
    # A cohort under k is left out, and so is whatever would give it back as "all" minus the cohorts kept.
    tables = delphi_tables(answers_long(data, list(choices)), choices, rule, k=k)
    tables.consensus.to_csv(folder / "consensus.csv", index=False)
    tables.stability.to_csv(folder / "stability.csv", index=False)
    return ["consensus.csv", "stability.csv"]


def _coded_choice(item: dict[str, Any]) -> bool:
    """Whether a codebook item is one answer among coded choices (the items Delphi rounds feed back as counts).

    Asked of the type as exported, so a binned number (exported as ``single_choice``) counts as a choice item;
    its bin labels are not numbers, so the caller's check on the codes still leaves it out.
    """
    kind = REGISTRY.get(item.get("type", ""))
    return kind is not None and kind.feedback == "choice"


def _k_key(row: list[Any], indexes: Sequence[int]) -> tuple[Any, ...]:
    return tuple(row[i] for i in indexes)


def _write_folder(
    conn: Connection,
    info: StudyInfo,
    fmt: str,
    folder: Path,
    *,
    identified: bool,
    k: int | None,
    suppress: bool,
    actor: str,
) -> dict[str, Any]:
    scrubber = Scrubber.from_roster(info.roster, token_hashes=study_token_hashes(conn, info.id))
    identity = identified and info.pseudonymous
    plan = build_plan(
        list(info.versions.values()),
        list(info.cohorts.values()),
        identified=identified,
        pseudonymous=info.pseudonymous,
        scrubber=scrubber,
        rationale_items=info.feedback_items,
    )
    k_value = k if k is not None else info.k_threshold
    qi_names = [plan.variables[i].name for i in plan.qi_indexes]
    qi_indexes = plan.qi_indexes
    blank_indexes = [i for i in qi_indexes if plan.variables[i].name != "cohort"]

    # Suppression needs every class's size before the first row is written: a first pass over the
    # quasi-identifier answers only (a few items), with the same pipeline and the same respondent order.
    before: KAnonymity | None = None
    small: set[tuple[Any, ...]] = set()
    if suppress:
        before = KAnonymity(k_value, qi_names, rows_are_respondents=not info.pseudonymous)
        pre = _Rows(info, plan, identity=False)
        for chunk in response_chunks(conn, info.id):
            answers = chunk_answers(conn, [r[0] for r in chunk], plan.qi_items) if plan.qi_items else ()
            rows, keys = pre.build(chunk, answers)
            for row, key in zip(rows, keys, strict=True):
                before.add(_k_key(row, qi_indexes), key)
        small = before.small()

    written = KAnonymity(k_value, qi_names, rows_are_respondents=not info.pseudonymous)
    counts = _Counts(rows_are_respondents=not info.pseudonymous)
    data_parquet: Path | None = None
    if fmt == "parquet":
        data_parquet = folder / "data.parquet"
    elif fmt in {"xlsx", "sav", "dta"}:
        data_parquet = folder / ".data.parquet"
    parquet = ParquetSink(data_parquet, plan) if data_parquet else None
    data_csv = CsvSink(folder / "data.csv", plan)
    long_csv = LongCsvSink(folder / "long.csv", plan)
    suppressed_rows = 0
    try:
        pipeline = _Rows(info, plan, identity=identity)
        for chunk in response_chunks(conn, info.id, identity=identity):
            rows, keys = pipeline.build(chunk, chunk_answers(conn, [r[0] for r in chunk]))
            for row, key in zip(rows, keys, strict=True):
                if small and _k_key(row, qi_indexes) in small:
                    suppressed_rows += 1
                    for index in blank_indexes:
                        row[index] = None
                written.add(_k_key(row, qi_indexes), key)
                counts.add(row, key)
            if parquet is not None:
                parquet.write(rows)
            data_csv.write(rows)  # neutralises formula-like text in place: after the typed writers
            long_csv.write(rows)
    finally:
        data_csv.close()
        long_csv.close()
        if parquet is not None:
            parquet.close()

    document = codebook_document(info, plan)
    try:
        if fmt in {"xlsx", "sav", "dta"}:
            assert data_parquet is not None  # nosec B101  # narrows the type; the parquet file is always written for these formats
            target = folder / f"data.{fmt}"
            if fmt == "xlsx":
                write_xlsx(data_parquet, target, plan, codebook_rows(document))
            elif fmt == "sav":
                write_sav(data_parquet, target, plan, info.title)
            else:
                write_dta(data_parquet, target, plan, info.title)
            data_parquet.unlink()
    except WriterError as exc:
        raise ExportError(str(exc)) from None
    seeds = {entry.data["id"] for entry in plan.items if entry.data.get("seed")}
    document["realizations"] = {item: value for item, value in info.realizations.items() if item in seeds}
    document["cooke_settings"] = COOKE_DEFAULTS
    rounds_with_rows = sum(1 for number, _, _ in info.rounds.values() if counts.by_round.get(number))
    # A Delphi study's consensus rule travels with the export, so `elicit analyze` judges by the study's rule.
    rule = study_consensus_rule(conn, info.id) if len(info.rounds) > 1 else None
    if rule is not None:
        document["consensus_rule"] = rule.as_dict()
    delphi_files = (  # only a Delphi export reads data.csv back
        write_delphi_tables(folder, document, k if k is not None else info.k_threshold, rule)
        if rule is not None and rounds_with_rows > 1
        else []
    )
    _write_json(folder / "codebook.json", document)
    (folder / "codebook.html").write_text(codebook_html(document), encoding="utf-8")
    write_r_loader(folder / R_LOADER, document)  # from the codebook alone: it holds no answer
    # The quantile judgements for EXCALIBUR, anduryl and SHELF, from data.csv and the codebook just written.
    interchange_files = write_interchange(folder, document)
    discussion_files = write_discussion(conn, info.id, folder, scrubber, k_value)

    k_report = (before or written).report()
    if suppress:
        k_report["suppressed"] = True
        k_report["rows_suppressed"] = suppressed_rows
        k_report["suppressed_columns"] = [plan.variables[i].name for i in blank_indexes]
        k_report["after_suppression"] = written.report()
    else:
        k_report["suppressed"] = False
    files = (
        [f"data.{fmt}"]
        + (["data.csv"] if fmt != "csv" else [])
        + ["long.csv", "codebook.json", "codebook.html", R_LOADER]
        + delphi_files
        + interchange_files
        + discussion_files
    )
    manifest = {
        "format": EXPORT_FORMAT,
        "data_format": fmt,
        "exported_on": datetime.now(UTC).date().isoformat(),
        "identified": identified,
        **({"identified_by": actor} if identified else {}),
        "software": _software(),
        "study": {
            "slug": info.slug,
            "title": info.title,
            "anonymity": info.anonymity,
            "status": info.status,
            "k_threshold": info.k_threshold,
            **({"consensus_rule": document["consensus_rule"]} if "consensus_rule" in document else {}),
        },
        "instrument": {
            "id": info.instrument,
            "versions": [
                {
                    "version": v.version,
                    "sha256": v.sha256,
                    "rounds": sorted(n for n, vid, _ in info.rounds.values() if vid == v.id),
                    "rows": counts.by_version.get(v.version, 0),
                }
                for v in sorted(info.versions.values(), key=lambda v: v.key)
            ],
        },
        "rounds": [
            {
                "number": number,
                "version": info.versions[vid].version,
                "status": status,
                "rows": counts.by_round.get(number, 0),
            }
            for number, vid, status in sorted(info.rounds.values())
        ],
        "counts": {
            "rows": counts.rows,
            "respondents": counts.respondents,
            "columns": plan.width,
            "by_cohort": {
                code: {
                    "label": label,
                    "rows": counts.by_cohort.get(code, 0),
                    "respondents": counts.cohort_respondents(code),
                }
                for code, label in info.cohorts.values()
            },
        },
        # invitations by status per cohort and responses by status per round and cohort, for a flow table
        "participant_flow": participant_flow(conn, info, k_value),
        # the retention purges and erasures done before this export: date, kind and counts, never who
        "lifecycle": manifest_entries(conn, info.id),
        "anonymization": _anonymization(info, plan, scrubber, k_report, identified),
        "files": {name: _file_entry(folder / name) for name in files},
        # the audit log's head when the export was read (its own event follows): `elicit audit verify --manifest`
        "audit": audit.manifest_head(conn),
    }
    _write_json(folder / "manifest.json", manifest)
    return manifest


class _Counts:
    """Rows and respondents by cohort, round and version, for the manifest (sets only where rows can repeat
    a respondent, i.e. in pseudonymous studies)."""

    def __init__(self, rows_are_respondents: bool) -> None:
        self.distinct = not rows_are_respondents
        self.rows = 0
        self.by_cohort: Counter[str] = Counter()
        self.by_round: Counter[int] = Counter()
        self.by_version: Counter[str] = Counter()
        self.respondent_keys: set[str] = set()
        self.cohort_keys: dict[str, set[str]] = {}

    def add(self, row: list[Any], key: str) -> None:
        self.rows += 1
        self.by_cohort[row[1]] += 1
        self.by_round[row[2]] += 1
        self.by_version[row[3]] += 1
        if self.distinct:
            self.respondent_keys.add(key)
            self.cohort_keys.setdefault(row[1], set()).add(key)

    @property
    def respondents(self) -> int:
        return len(self.respondent_keys) if self.distinct else self.rows

    def cohort_respondents(self, code: str) -> int:
        return len(self.cohort_keys.get(code, ())) if self.distinct else self.by_cohort.get(code, 0)


def _anonymization(
    info: StudyInfo, plan: ExportPlan, scrubber: Scrubber, k_report: dict[str, Any], identified: bool
) -> dict[str, Any]:
    if info.pseudonymous:
        pseudonyms = (
            "stable per expert across rounds: a keyed HMAC (per-study secret) of a random value, "
            "not derivable from the invitation token or the roster"
        )
        link = (
            "identified export: invitation id and roster name, e-mail and organisation included"
            if identified
            else "not exported"
        )
    else:
        pseudonyms = "R + ordinal, assigned in the order of random response ids (the order reveals nothing)"
        link = (
            "none: this study is anonymous, so no invitation was ever stored with its response "
            "and no export, identified or not, can restore a link"
        )
    return {
        "identified": identified,
        "notice": (
            "IDENTIFIED EXPORT: contains direct identifiers and uncoarsened values; handle as personal data"
            if identified
            else "anonymized: direct identifiers dropped, quasi-identifiers coarsened, free text scrubbed"
        ),
        "pseudonyms": pseudonyms,
        "roster_link": link,
        "direct_identifiers_dropped": list(plan.dropped),
        "quasi_identifiers": [
            {
                "item": item_id,
                "rule": plan.coarsened[item_id].rule if item_id in plan.coarsened else None,
                "treatment": plan.coarsened[item_id].description
                if item_id in plan.coarsened
                else "kept as is",
            }
            for item_id in plan.qi_items
        ],
        "free_text": {
            "items": list(plan.scrubbed),
            "replacements": {
                kind: scrubber.counts.get(kind, 0)
                for kind in ("email", "phone", "url", "token", "name", "organisation")
            },
        },
        "dates": "submission date only (YYYY-MM-DD); no times are exported",
        "formula_injection": "text cells of CSV and XLSX files starting with = + - @ get a leading '",
        "k_anonymity": k_report,
    }


def _software() -> dict[str, str]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "name": "elicit",
        "version": version("elicit"),
        "python": platform.python_version(),
        "pandas": version("pandas"),
        "pyarrow": version("pyarrow"),
        "pyreadstat": version("pyreadstat"),
        "openpyxl": version("openpyxl"),
    }


def _make_private(folder: Path) -> None:
    """Files 0600 and folders 0700 under ``folder``, whichever library wrote them (pandas, openpyxl, pyreadstat
    and Arrow use the umask); done while the folder itself is still the private temporary one."""
    for path in folder.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    os.chmod(folder, 0o700)


def _file_entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(
        json.dumps(document, ensure_ascii=False, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
