"""Store what the readers yield: signal files, Exam rows and patient pseudonyms.

Each exam is stored whole or not at all. A batch's signal files are written
first (each atomically, see :mod:`annotator.storage`), then its rows go in with
one ``bulk_create`` in one transaction. When that transaction fails, the batch
is retried one exam at a time, so one bad row does not take its neighbours with
it, and the file of every exam that still fails is deleted. A process killed
between the two steps leaves signal files without rows; they are harmless,
because a file's name is derived from (dataset, exam_id) alone: importing the
same exam again writes to the same name and the row then points to it.

Re-importing is idempotent: an exam whose (dataset, exam_id) is stored with the
same signal sha256 is skipped; with a different signal it is rejected ("conflicts
with the stored exam"), never overwritten. Existing exams are found with one
query per batch. Two imports of the same exam running at the same time are
safe when they carry the same signal (one row wins, the other is skipped);
with different signals the later file write wins while the first row stays,
so import one version of a dataset at a time.

Patients get random pseudonyms (``secrets.token_hex``), never derived from
their ids: one per (dataset, source patient id), kept in :class:`PatientLink`,
created when missing and reused otherwise (``INSERT … ON CONFLICT DO NOTHING``
then a read, so concurrent imports agree); an exam without a patient id gets a
fresh pseudonym of its own. Source patient ids go to that table only: they are
never logged, printed or put in a message.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction

from annotator.ingest import iter_sources
from annotator.ingest.base import ExamRecord, Rejection
from annotator.ingest.common import describe_error, parse_sex
from annotator.models import AGE_CAP, Exam, PatientLink
from annotator.storage import delete_signal, encode_signal, save_encoded, signal_key

__all__ = ["ImportSummary", "import_exams", "import_records", "new_pseudonym"]

_MAX_ID = Exam._meta.get_field("exam_id").max_length
_MAX_DATASET = Exam._meta.get_field("dataset").max_length
_MAX_PATIENT_ID = PatientLink._meta.get_field("source_patient_id").max_length
_BATCH_BYTES = 64 * 1024 * 1024  # flush early for long records
_QUERY_CHUNK = 900  # below SQLite's old 999-parameter limit
# Creating a file costs a few hundred microseconds of waiting on the filesystem
# (more on object storage); a few writer threads overlap those waits.
_WRITERS = 4

CONFLICT = "conflicts with the stored exam (different signal)"


@dataclass
class ImportSummary:
    """What an import did: counts, and every rejection with its reason."""

    imported: int = 0
    skipped: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.imported + self.skipped + len(self.rejected)

    def progress_line(self) -> str:
        return (
            f"{self.processed} processed: {self.imported} imported, "
            f"{self.skipped} skipped, {len(self.rejected)} rejected"
        )

    def as_text(self, *, relative_to: Path | str | None = None) -> str:
        """A summary for people: counts, then one line per rejection.

        File names are shown relative to ``relative_to`` (default: the current
        folder) when they lie under it. No patient id ever appears.
        """
        base = Path(relative_to or Path.cwd()).resolve()
        lines = [
            f"Imported {self.imported}, skipped {self.skipped} (already stored), "
            f"rejected {len(self.rejected)}."
        ]
        for rejection in self.rejected:
            where = _relative(rejection.source, base)
            exam = f" [exam {rejection.exam_id}]" if rejection.exam_id else ""
            lines.append(f"  rejected {where}{exam}: {rejection.reason}")
        return "\n".join(lines)


def _relative(source: str, base: Path) -> str:
    path = Path(source)
    try:
        return str(path.resolve().relative_to(base))
    except (ValueError, OSError):
        return str(path)


def new_pseudonym() -> str:
    """A random patient pseudonym: 24 hex digits (96 bits), unrelated to any id."""
    return secrets.token_hex(12)


def default_dataset(path: Path | str) -> str:
    """The dataset name of an import source: a folder's name or a file's stem."""
    path = Path(path)
    name = path.resolve().name if path.is_dir() else path.stem
    return (name or "default")[:_MAX_DATASET]


def import_exams(
    paths: Iterable[Path | str] | Path | str,
    *,
    fmt: str = "auto",
    dataset: str | None = None,
    unit: str | float = "mV",
    batch_size: int | None = None,
    progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import the exams in ``paths`` (files, or folders read recursively).

    ``dataset`` defaults to each path's folder name or file stem; ``unit`` is
    the unit of CODE-15% tracings (the other formats state theirs);
    ``progress`` is called with the running summary after every batch of
    ``batch_size`` exams (default ``settings.ANNOTATOR_IMPORT_BATCH``).
    Raises ``ValueError`` for an unknown format or an unusable dataset name;
    bad input is reported in the summary, never raised.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    if dataset is not None:
        _check_dataset(dataset)
    summary = ImportSummary()
    for path in paths:
        records = iter_sources([path], fmt=fmt, unit=unit)
        import_records(
            records,
            dataset=dataset or default_dataset(path),
            batch_size=batch_size,
            progress=progress,
            summary=summary,
        )
    return summary


def _check_dataset(dataset: str) -> None:
    if not dataset.strip() or len(dataset) > _MAX_DATASET or "\x00" in dataset:
        raise ValueError(
            f"a dataset name must be 1 to {_MAX_DATASET} characters, got {dataset!r}"
        )


@dataclass
class _Pending:
    """An exam ready to store: its record (signal dropped) and encoded file."""

    record: ExamRecord
    key: str
    data: bytes
    sha256: str
    dtype: str
    n_leads: int
    n_samples: int


def import_records(
    records: Iterable[ExamRecord | Rejection],
    *,
    dataset: str,
    batch_size: int | None = None,
    progress: Callable[[ImportSummary], None] | None = None,
    summary: ImportSummary | None = None,
) -> ImportSummary:
    """Store ``records`` (from a reader, or made in code) into ``dataset``.

    The storing half of :func:`import_exams`, also used by ``make_synthetic``.
    Adds to ``summary`` when given, and returns it.
    """
    _check_dataset(dataset)
    summary = summary if summary is not None else ImportSummary()
    batch_size = max(1, batch_size or settings.ANNOTATOR_IMPORT_BATCH)
    with ThreadPoolExecutor(_WRITERS, thread_name_prefix="signal-writer") as pool:
        _store(records, _Batch(dataset, summary, pool), batch_size, progress)
    return summary


def _store(
    records: Iterable[ExamRecord | Rejection],
    batch: _Batch,
    batch_size: int,
    progress: Callable[[ImportSummary], None] | None,
) -> None:
    summary = batch.summary
    current_source: str | None = None
    seen_in_source: set[str] = set()
    for item in records:
        if isinstance(item, Rejection):
            summary.rejected.append(item)
            continue
        if item.source != current_source:
            current_source, seen_in_source = item.source, set()
        problem = _problem(item)
        if problem is None and item.exam_id in seen_in_source:
            problem = "duplicate exam id in this file; the first one was kept"
        seen_in_source.add(item.exam_id)
        if problem:
            summary.rejected.append(Rejection(item.source, item.exam_id, problem))
            continue
        batch.add(item)
        if len(batch) >= batch_size or batch.n_bytes >= _BATCH_BYTES:
            batch.flush()
            if progress:
                progress(summary)
    if len(batch):
        batch.flush()
        if progress:
            progress(summary)


def _problem(record: ExamRecord) -> str | None:
    """Why a record cannot be stored as it is, or None."""
    exam_id = record.exam_id
    if not isinstance(exam_id, str) or not exam_id.strip():
        return "empty exam id"
    if len(exam_id) > _MAX_ID:
        return f"exam id longer than {_MAX_ID} characters"
    if "\x00" in exam_id:
        return "exam id contains a NUL character"
    signal = record.signal
    if not isinstance(signal, np.ndarray) or signal.ndim != 2:
        return "signal is not a leads x samples array"
    if signal.dtype not in (np.dtype(np.int16), np.dtype(np.int32)):
        return f"signal is {signal.dtype}, not int16 or int32"
    if signal.shape[0] != len(record.lead_names) or signal.shape[0] == 0:
        return "signal leads do not match the lead names"
    limit = settings.ANNOTATOR_MAX_SAMPLES
    if not 0 < signal.shape[1] <= limit:
        return f"signal has {signal.shape[1]} samples per lead (1 to {limit} allowed)"
    for name, value in (
        ("sampling rate", record.sampling_rate),
        ("gain", record.gain_uv),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            return f"{name} must be a positive number"
    patient = record.patient_id
    if patient is not None and (len(patient) > _MAX_PATIENT_ID or "\x00" in patient):
        # The id itself is never echoed: it may identify the patient.
        return f"patient id is longer than {_MAX_PATIENT_ID} characters or has NUL"
    return None


def _clean_text(values: Iterable[Any]) -> list[str]:
    return [str(value).replace("\x00", "") for value in values]


def _clean_measurements(values: dict[str, Any]) -> dict[str, Any]:
    """Finite numbers and short strings only: JSON columns reject NaN."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float | np.number):
            number = float(value)
            if math.isfinite(number):
                out[str(key)] = int(number) if number.is_integer() else number
        elif isinstance(value, str):
            out[str(key)] = value.replace("\x00", "")
    return out


def _age(age: int | None) -> int | None:
    if age is None or age < 0:
        return None
    return min(int(age), AGE_CAP)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _write(item: _Pending) -> str | None:
    """Write one exam's file; the reason it failed, or None."""
    try:
        save_encoded(item.key, item.data)
    except OSError as error:
        return describe_error(error)
    item.data = b""
    return None


class _Batch:
    """Exams of one dataset waiting to be stored together."""

    def __init__(self, dataset: str, summary: ImportSummary, pool: Executor) -> None:
        self.dataset = dataset
        self.summary = summary
        self.pool = pool
        self.pending: dict[str, _Pending] = {}
        self.n_bytes = 0

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, record: ExamRecord) -> None:
        data, digest = encode_signal(record.signal)
        pending = _Pending(
            record=record,
            key=signal_key(self.dataset, record.exam_id),
            data=data,
            sha256=digest,
            dtype=str(record.signal.dtype),
            n_leads=record.signal.shape[0],
            n_samples=record.signal.shape[1],
        )
        # Keep only the encoded bytes: the array is not needed any more.
        record.signal = np.empty((0, 0), dtype=record.signal.dtype)
        earlier = self.pending.get(record.exam_id)
        if earlier is not None:
            # The same exam twice in one batch, from two files.
            if earlier.sha256 == digest:
                self.summary.skipped += 1
            else:
                self.summary.rejected.append(
                    Rejection(
                        record.source,
                        record.exam_id,
                        f"conflicts with the same exam id in {earlier.record.source}"
                        " (different signal)",
                    )
                )
            return
        self.pending[record.exam_id] = pending
        self.n_bytes += len(data)

    def flush(self) -> None:
        pending, self.pending, self.n_bytes = list(self.pending.values()), {}, 0
        stored = self._stored([p.record.exam_id for p in pending])
        new: list[_Pending] = []
        for item in pending:
            known = stored.get(item.record.exam_id)
            if known is None:
                new.append(item)
            elif known == item.sha256:
                self.summary.skipped += 1
            else:
                self._reject(item, CONFLICT)
        written = self._write_all(new)
        if not written:
            return
        try:
            with transaction.atomic():
                pseudonyms = self._pseudonyms(written)
                Exam.objects.bulk_create(
                    [self._row(item, pseudonyms) for item in written]
                )
        except (DatabaseError, ValueError, TypeError):
            for item in written:
                self._store_one(item)
        else:
            self.summary.imported += len(written)

    def _stored(self, exam_ids: list[str]) -> dict[str, str]:
        """exam_id → signal sha256 of those already stored in this dataset."""
        stored: dict[str, str] = {}
        for start in range(0, len(exam_ids), _QUERY_CHUNK):
            stored.update(
                Exam.objects.filter(
                    dataset=self.dataset,
                    exam_id__in=exam_ids[start : start + _QUERY_CHUNK],
                ).values_list("exam_id", "signal_sha256")
            )
        return stored

    def _write_all(self, items: list[_Pending]) -> list[_Pending]:
        """Write the items' files (in parallel); return those written."""
        written = []
        for item, error in zip(items, self.pool.map(_write, items), strict=True):
            if error is None:
                written.append(item)
            else:
                self._reject(item, f"cannot store its signal: {error}")
        return written

    def _pseudonyms(self, items: list[_Pending]) -> dict[str, str]:
        """Source patient id → pseudonym, creating the missing links."""
        wanted = sorted({i.record.patient_id for i in items if i.record.patient_id})
        links: dict[str, str] = {}
        for start in range(0, len(wanted), _QUERY_CHUNK):
            chunk = wanted[start : start + _QUERY_CHUNK]
            links.update(self._links(chunk))
            missing = [pid for pid in chunk if pid not in links]
            if missing:
                PatientLink.objects.bulk_create(
                    [
                        PatientLink(
                            dataset=self.dataset,
                            source_patient_id=pid,
                            pseudonym=new_pseudonym(),
                        )
                        for pid in missing
                    ],
                    ignore_conflicts=True,
                )
                # Read back: a concurrent import may have won for some ids.
                links.update(self._links(missing))
        return links

    def _links(self, patient_ids: list[str]) -> dict[str, str]:
        return dict(
            PatientLink.objects.filter(
                dataset=self.dataset, source_patient_id__in=patient_ids
            ).values_list("source_patient_id", "pseudonym")
        )

    def _row(self, item: _Pending, pseudonyms: dict[str, str]) -> Exam:
        record = item.record
        pid = record.patient_id
        return Exam(
            dataset=self.dataset,
            exam_id=record.exam_id,
            patient_pseudonym=pseudonyms[pid] if pid else new_pseudonym(),
            age=_age(record.age),
            sex=parse_sex(record.sex),
            acquired_at=_aware(record.acquired_at),
            sampling_rate=float(record.sampling_rate),
            n_samples=item.n_samples,
            lead_names=list(record.lead_names),
            signal_key=item.key,
            signal_dtype=item.dtype,
            signal_gain=float(record.gain_uv),
            signal_sha256=item.sha256,
            source_format=record.source_format,
            machine_statements=_clean_text(record.machine_statements),
            measurements=_clean_measurements(record.measurements),
            notes=_clean_text(record.notes),
        )

    def _store_one(self, item: _Pending) -> None:
        """Insert one exam whose file is written; on failure, undo or explain."""
        try:
            with transaction.atomic():
                Exam.objects.bulk_create([self._row(item, self._pseudonyms([item]))])
        except IntegrityError as error:
            known = self._stored([item.record.exam_id]).get(item.record.exam_id)
            if known == item.sha256:
                self.summary.skipped += 1  # stored meanwhile by another import
            elif known is not None:
                self._reject(item, CONFLICT)  # the file is that exam's: keep it
            else:
                delete_signal(item.key)
                self._reject(item, f"database refused it: {describe_error(error)}")
        except (DatabaseError, ValueError, TypeError) as error:
            delete_signal(item.key)
            self._reject(item, f"database refused it: {describe_error(error)}")
        else:
            self.summary.imported += 1

    def _reject(self, item: _Pending, reason: str) -> None:
        self.summary.rejected.append(
            Rejection(item.record.source, item.record.exam_id, reason)
        )
