"""Signal files: one ``.npy`` per exam under Django's default storage, never in rows.

A signal is an integer array of shape (leads, samples), int16 or int32, in the
units recorded on its exam (``Exam.signal_gain`` microvolts per unit). Files are
written in NumPy's ``.npy`` format version 1.0, so any numpy (or a reader of
that simple format) opens them without this code, and their sha256 is the
sha256 of the file's bytes: ``sha256sum`` on a downloaded file checks it.

On the local filesystem (the default backend) a write goes to a temporary file
in the target folder and is renamed over the final name, so a reader never sees
a partial file and a killed writer leaves at most a stray temporary file (named
``.*.tmp``), never a half-written signal; reads are memory-mapped, so a window
of a 30-minute record reads only that window. Other backends (S3 through
django-storages) get one whole-object PUT per write, which object stores make
atomic, and reads download the object. Job outputs and intermediate files are
written the same way, through :func:`overwrite`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

import numpy as np
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from numpy.typing import NDArray

__all__ = [
    "delete_signal",
    "encode_signal",
    "load_signal",
    "overwrite",
    "save_encoded",
    "save_signal",
    "signal_key",
    "signal_sha256",
]

_ALLOWED_DTYPES = (np.dtype(np.int16), np.dtype(np.int32))
_NPY_VERSION = (1, 0)


def signal_key(dataset: str, exam_id: str) -> str:
    """The storage name of an exam's signal: ``signals/ab/abcdef….npy``.

    The name is the sha256 of the JSON array ``[dataset, exam_id]``, so it is
    unambiguous (no two pairs share a name), always a safe relative path
    whatever the id looks like (``../../etc/passwd``, ``a/b``), and it does
    not show the id. It is a plain hash, not a keyed one: someone who can list
    the files and guess candidate ids can confirm a guess, so identifying exam
    ids should still be pseudonymised before import. The first two hex digits
    shard the files into 256 folders.
    """
    payload = json.dumps([dataset, exam_id], ensure_ascii=False)
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return f"signals/{digest[:2]}/{digest}.npy"


def _check(array: NDArray[np.integer]) -> NDArray[np.integer]:
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"a signal has shape (leads, samples), got {arr.shape}")
    if arr.dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"a signal is int16 or int32, got {arr.dtype}")
    # Little-endian, C order: the same values always give the same bytes.
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))


def encode_signal(array: NDArray[np.integer]) -> tuple[bytes, str]:
    """The ``.npy`` file bytes of a signal and their sha256 (hex).

    Raises ``ValueError`` unless ``array`` is 2-D int16 or int32.
    """
    buffer = io.BytesIO()
    np.lib.format.write_array(
        buffer, _check(array), version=_NPY_VERSION, allow_pickle=False
    )
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def signal_sha256(array: NDArray[np.integer]) -> str:
    """The sha256 that :func:`save_signal` would return for ``array``."""
    return encode_signal(array)[1]


def _local_path(key: str) -> Path | None:
    """The file behind ``key`` on a local-filesystem backend, else None."""
    try:
        return Path(default_storage.path(key))
    except NotImplementedError:
        return None


def save_signal(key: str, array: NDArray[np.integer]) -> str:
    """Store ``array`` (leads x samples, int16 or int32) at ``key``; return its sha256.

    Writing the same key again replaces the file in one step (same name, no
    ``_abc123`` duplicate as ``Storage.save`` would make). Raises
    ``ValueError`` for a wrong shape or dtype and ``OSError`` when the write
    fails, in which case nothing is left under ``key``.
    """
    data, digest = encode_signal(array)
    save_encoded(key, data)
    return digest


def save_encoded(key: str, data: bytes) -> None:
    """Store bytes made by :func:`encode_signal` at ``key``, as :func:`save_signal`.

    For callers that hash a signal before deciding to store it (the importer
    skips exams it already has) and should not encode it twice.
    """
    overwrite(key, data)


def overwrite(key: str, content: bytes | IO[bytes]) -> None:
    """Store ``content`` (bytes, or a binary file read to its end) at ``key``,
    replacing whatever is there in one step, under the same name.

    ``Storage.save`` never replaces: it picks another name (``_abc123``). On
    the local filesystem the content goes to a temporary file that is renamed
    over ``key``, so a reader sees the old file or the new one, never a part;
    elsewhere it is one whole-object PUT. A file is copied in blocks, never
    held in memory. Raises ``OSError`` when the write fails, leaving the old
    content (or nothing) under ``key``.
    """
    path = _local_path(key)
    if path is None:
        # S3Storage (file_overwrite=True) replaces in one PUT; a storage that
        # would rename instead must lose the old object first.
        overwrites = getattr(default_storage, "file_overwrite", False)
        if not overwrites and default_storage.exists(key):
            default_storage.delete(key)
        body = ContentFile(content) if isinstance(content, bytes) else File(content)
        saved = default_storage.save(key, body)
        if saved != key:
            default_storage.delete(saved)
            raise OSError(f"storage renamed {key} to {saved}; refusing a duplicate")
        return

    directory_mode = default_storage.directory_permissions_mode
    file_mode = default_storage.file_permissions_mode or 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory_mode is not None:
        path.parent.chmod(directory_mode)
    fd, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                shutil.copyfileobj(content, handle, 1 << 20)
        os.chmod(temp_name, file_mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def load_signal(
    key: str, *, start: int | None = None, stop: int | None = None
) -> NDArray[np.integer]:
    """Read the signal at ``key``, optionally only samples ``start:stop``.

    Returns an in-memory array of shape (leads, stop - start) with the stored
    dtype; ``start``/``stop`` follow Python slice rules. Local files are
    memory-mapped, so only the requested window is read from disk. Raises
    ``FileNotFoundError`` when there is no signal at ``key``.
    """
    window = slice(start, stop)
    path = _local_path(key)
    if path is not None:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(mapped[:, window])
    if not default_storage.exists(key):
        raise FileNotFoundError(key)
    with default_storage.open(key, "rb") as handle:
        array = np.load(io.BytesIO(handle.read()), allow_pickle=False)
    return np.ascontiguousarray(array[:, window])


def delete_signal(key: str) -> None:
    """Remove the signal at ``key``; no error if it is already gone."""
    default_storage.delete(key)
