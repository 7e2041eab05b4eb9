"""Files for an import from the browser: kept where the server chooses, never
where a name says.

An upload's files go into a folder of their own under ``ANNOTATOR_UPLOAD_DIR``
(a random name), each under its base name, cleaned; a zip is unpacked there
member by member, refusing absolute paths, ``..``, links and any member that
would land outside the folder, and stopping at the size limit (a zip bomb is
refused, not unpacked). Django streams each uploaded file to a temporary file
on disk as it arrives (``TemporaryFileUploadHandler``), so no file is ever held
in memory whole. A server-side folder (``ANNOTATOR_IMPORT_ROOT``) is named by
its path relative to the root, which must resolve inside the root (``..`` and
symlinks out of it are refused).
"""

from __future__ import annotations

import shutil
import stat
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

CHUNK = 1 << 20
# What an uploaded CSV can hold: readers' readings, a model's, a reference standard.
CSV_KINDS = ("readings", "machine", "reference")


class UploadRefused(ValueError):
    """An upload or a folder the import refuses, with the reason."""


def upload_root() -> Path:
    return Path(settings.ANNOTATOR_UPLOAD_DIR).resolve()


def safe_name(name: str) -> str:
    """A file name to store an uploaded file under: its base name, cleaned of
    anything but letters, digits, ``-``, ``_`` and ``.``; UploadRefused for a
    name with nothing left (``..``, ``/``, empty)."""
    base = PurePosixPath(str(name).replace("\\", "/")).name
    cleaned = get_valid_filename(base) if base not in {"", ".", ".."} else ""
    if not cleaned or cleaned in {".", ".."}:
        raise UploadRefused(_("Not a usable file name: %(name)r.") % {"name": name})
    return cleaned


def new_folder() -> tuple[str, Path]:
    """(key, path) of a new, empty folder for one upload."""
    key = uuid.uuid4().hex
    path = upload_root() / key
    path.mkdir(parents=True)
    return key, path


def folder_of(key: str) -> Path:
    """The folder of an upload's key; UploadRefused for anything but a key."""
    if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
        raise UploadRefused(_("Not an upload."))
    return upload_root() / key


def discard(key: str) -> None:
    """Remove an upload's folder and what it holds."""
    shutil.rmtree(folder_of(key), ignore_errors=True)


def store(files: Iterable[Any], folder: Path, *, max_bytes: int) -> list[str]:
    """Move uploaded files into ``folder`` (zips unpacked); the stored names.
    All or nothing: a refusal removes the folder."""
    stored: list[str] = []
    total = 0
    try:
        for upload in files:
            name = safe_name(upload.name)
            total += upload.size
            if total > max_bytes:
                raise UploadRefused(_too_large(max_bytes))
            target = _unused(folder, name)
            if hasattr(upload, "temporary_file_path"):
                # Already on disk (Django streamed it there): moved, not copied.
                shutil.move(upload.temporary_file_path(), target)
            else:
                with target.open("wb") as out:
                    for chunk in upload.chunks(CHUNK):
                        out.write(chunk)
            if zipfile.is_zipfile(target):
                members = unpack(target, folder, max_bytes=max_bytes - total)
                target.unlink()
                stored += members
            else:
                stored.append(target.name)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return stored


def unpack(archive: Path, folder: Path, *, max_bytes: int) -> list[str]:
    """Unpack a zip's regular files into ``folder`` (its own sub-folders kept);
    refuses members that are links, absolute, climb with ``..`` or would land
    outside the folder, and archives whose files exceed ``max_bytes``."""
    root = folder.resolve()
    names = []
    with zipfile.ZipFile(archive) as zipped:
        members = [m for m in zipped.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > max_bytes:
            raise UploadRefused(_too_large(max_bytes))
        for member in members:
            mode = member.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UploadRefused(
                    _("%(name)s in the zip is a link; links are refused.")
                    % {"name": member.filename}
                )
            path = PurePosixPath(member.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or not path.parts:
                raise UploadRefused(
                    _("%(name)s in the zip points outside it.")
                    % {"name": member.filename}
                )
            target = root.joinpath(*(safe_name(part) for part in path.parts)).resolve()
            if root not in target.parents:
                raise UploadRefused(
                    _("%(name)s in the zip points outside it.")
                    % {"name": member.filename}
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zipped.open(member) as source, target.open("wb") as out:
                while chunk := source.read(CHUNK):
                    written += len(chunk)
                    if written > member.file_size:  # a header that lies
                        raise UploadRefused(_too_large(max_bytes))
                    out.write(chunk)
            names.append(str(target.relative_to(root)))
    return names


def server_folders() -> list[str]:
    """The folders under ``ANNOTATOR_IMPORT_ROOT`` (relative paths, two levels
    deep at most), or [] when no root is configured."""
    root = import_root()
    if root is None:
        return []
    found = []
    for path in sorted(root.glob("*")) + sorted(root.glob("*/*")):
        if path.is_dir() and not path.is_symlink():
            found.append(str(path.relative_to(root)))
    return sorted(found)


def import_root() -> Path | None:
    configured = getattr(settings, "ANNOTATOR_IMPORT_ROOT", "")
    return Path(configured).resolve() if configured else None


def server_folder(relative: str) -> Path:
    """The server folder named by ``relative``; UploadRefused outside the root."""
    root = import_root()
    if root is None:
        raise UploadRefused(_("No server import folder is configured."))
    candidate = PurePosixPath(str(relative))
    if candidate.is_absolute() or ".." in candidate.parts:
        raise UploadRefused(_("Not a folder under the import root."))
    path = root.joinpath(*candidate.parts).resolve()
    if path != root and root not in path.parents:
        raise UploadRefused(_("Not a folder under the import root."))
    if not path.is_dir():
        raise UploadRefused(_("No such folder under the import root."))
    return path


def _unused(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}-{n}{dot}{suffix}"
        n += 1
    return target


def _too_large(max_bytes: int) -> str:
    return _("The upload is larger than the limit of %(mb)s MB.") % {
        "mb": max_bytes // 2**20
    }
