"""Readers of ECG files: detect a file's format, expand folders, yield exams.

Every reader is a generator ``iter_records(path, **options)`` yielding
:class:`ExamRecord` or :class:`Rejection` and never raising for bad input.
Options a reader does not use are ignored (``unit`` matters to CODE-15% files
only: the other formats state their units).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from annotator.ingest.base import ExamRecord, IngestError, Rejection

__all__ = [
    "FORMATS",
    "ExamRecord",
    "IngestError",
    "Rejection",
    "detect_format",
    "iter_sources",
]

FORMATS = ("wfdb", "code15", "dicom", "npy")
_EXTENSIONS = {
    ".hea": "wfdb",
    ".h5": "code15",
    ".hdf5": "code15",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".npy": "npy",
}
# Companions of exam files, never exams themselves: not even opened to sniff.
_COMPANIONS = {".dat", ".atr", ".json", ".csv", ".mat", ".xyz", ".txt", ".md"}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"


def detect_format(path: Path | str) -> str | None:
    """The format of a file by its extension, else its first bytes; None if unknown.

    ``.hea`` → ``wfdb``, ``.h5``/``.hdf5`` → ``code15``, ``.dcm`` or the
    ``DICM`` marker at byte 128 → ``dicom``, ``.npy`` → ``npy``. Other names
    (DICOM files are often called ``IM0001`` or by their UID) are told by
    their first bytes, except the companions of exam files (``.dat``,
    ``.atr``, ``.json``, ``.csv``, ``.mat``…), which are never exams.
    """
    path = Path(path)
    by_name = _EXTENSIONS.get(path.suffix.lower())
    if by_name:
        return by_name
    if path.suffix.lower() in _COMPANIONS:
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(_HDF5_MAGIC):
        return "code15"
    if head.startswith(_NPY_MAGIC):
        return "npy"
    return None


def _reader(fmt: str) -> Callable[..., Iterator[ExamRecord | Rejection]]:
    if fmt == "wfdb":
        from annotator.ingest.wfdb_records import iter_records
    elif fmt == "code15":
        from annotator.ingest.code15 import iter_records
    elif fmt == "dicom":
        from annotator.ingest.dicom import iter_records
    elif fmt == "npy":
        from annotator.ingest.npy import iter_records
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return iter_records


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, sorted, depth first; hidden entries skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def iter_files(
    paths: Iterable[Path | str], *, fmt: str = "auto"
) -> Iterator[tuple[Path, str | Rejection]]:
    """``(file, format)`` for each exam file in ``paths``, folders expanded.

    In folders only files of a known format are taken (with ``fmt`` set, only
    that format), so ``.dat``, ``.atr``, ``.json`` and ``.csv`` files beside
    the exams are skipped, and a WFDB record counts once, by its header. A file
    named explicitly is read with ``fmt`` (or its detected format); when that
    cannot be told, or the path does not exist, the format is a Rejection.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto or one of {FORMATS}")
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for file in _walk(path):
                found = detect_format(file)
                if found and (fmt == "auto" or found == fmt):
                    yield file, found
            continue
        if not path.exists() and path.with_name(path.name + ".hea").is_file():
            path = path.with_name(path.name + ".hea")  # a WFDB record name
        if not path.is_file():
            yield path, Rejection(str(path), None, "no such file or folder")
            continue
        found = fmt if fmt != "auto" else detect_format(path)
        if found is None:
            yield (
                path,
                Rejection(
                    str(path),
                    None,
                    "unrecognised format (expected .hea, .h5/.hdf5, .dcm or .npy;"
                    " or pass --format)",
                ),
            )
        else:
            yield path, found


def iter_sources(
    paths: Iterable[Path | str], *, fmt: str = "auto", **options: Any
) -> Iterator[ExamRecord | Rejection]:
    """Every exam (or rejection) in ``paths``: files, or folders read recursively.

    ``fmt`` is ``"auto"`` (detect each file) or one of :data:`FORMATS`;
    ``options`` go to the readers (``unit`` for CODE-15% files).
    """
    for path, found in iter_files(paths, fmt=fmt):
        if isinstance(found, Rejection):
            yield found
        else:
            yield from _reader(found)(path, **options)
