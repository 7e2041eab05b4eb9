"""Signal storage: safe keys, atomic writes, windowed memory-mapped reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from annotator import storage
from annotator.storage import (
    delete_signal,
    load_signal,
    save_signal,
    signal_key,
    signal_sha256,
)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _signal(n_leads: int = 12, n_samples: int = 5000, dtype=np.int16) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(-3000, 3000, size=(n_leads, n_samples)).astype(dtype)


@pytest.mark.parametrize(
    "exam_id", ["../../etc/passwd", "/etc/passwd", "a/b", "..", ""]
)
def test_key_is_a_sharded_hash_that_never_contains_the_id(exam_id: str) -> None:
    key = signal_key("ds", exam_id)
    digest = hashlib.sha256(f'["ds", "{exam_id}"]'.encode()).hexdigest()
    assert key == f"signals/{digest[:2]}/{digest}.npy"
    assert ".." not in key and "//" not in key and not key.startswith("/")
    if exam_id.strip("./"):
        assert exam_id.strip("/") not in key


def test_keys_are_deterministic_and_unambiguous() -> None:
    assert signal_key("ds", "1") == signal_key("ds", "1")
    assert signal_key("ds", "1") != signal_key("ds", "2")
    assert signal_key("ds", "1") != signal_key("ds2", "1")
    # A naive "dataset/exam" join would make these two the same name.
    assert signal_key("a/b", "c") != signal_key("a", "b/c")


def test_path_like_ids_are_stored_inside_media_root(_isolated_media: Path) -> None:
    for exam_id in ["../../x", "/etc/passwd", "a/b"]:
        save_signal(signal_key("ds", exam_id), _signal(2, 10))
    root = _isolated_media.resolve()
    files = _files(root)
    assert len(files) == 3
    assert all(root in f.resolve().parents for f in files)


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_round_trip_keeps_values_and_dtype(dtype) -> None:
    signal = _signal(dtype=dtype)
    if dtype is np.int32:
        signal[0, 0] = 1_000_000
    key = signal_key("ds", "E1")
    save_signal(key, signal)
    loaded = load_signal(key)
    assert loaded.dtype == dtype
    np.testing.assert_array_equal(loaded, signal)


def test_sha256_is_the_sha256_of_the_file(_isolated_media: Path) -> None:
    signal = _signal()
    key = signal_key("ds", "E1")
    digest = save_signal(key, signal)
    assert digest == signal_sha256(signal)
    assert digest == hashlib.sha256((_isolated_media / key).read_bytes()).hexdigest()
    # The file is a plain .npy any numpy can open.
    np.testing.assert_array_equal(np.load(_isolated_media / key), signal)


def test_window_read_returns_only_the_requested_samples() -> None:
    signal = _signal(2, 30 * 60 * 360)  # a 30-minute, 2-lead Holter-like record
    key = signal_key("ds", "long")
    save_signal(key, signal)
    window = load_signal(key, start=360_000, stop=360_500)
    assert window.shape == (2, 500)
    assert window.flags.owndata  # a copy, not a view that pins the map
    np.testing.assert_array_equal(window, signal[:, 360_000:360_500])
    np.testing.assert_array_equal(load_signal(key, start=-10), signal[:, -10:])


def test_window_read_is_memory_mapped(monkeypatch) -> None:
    key = signal_key("ds", "E1")
    save_signal(key, _signal())
    modes = []
    real_load = np.load

    def spy(*args, **kwargs):
        modes.append(kwargs.get("mmap_mode"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(storage.np, "load", spy)
    load_signal(key, start=0, stop=10)
    assert modes == ["r"]


def test_overwriting_a_key_replaces_the_file_without_duplicates(
    _isolated_media: Path,
) -> None:
    key = signal_key("ds", "E1")
    save_signal(key, _signal())
    second = _signal(3, 100)
    save_signal(key, second)
    assert _files(_isolated_media) == [_isolated_media / key]
    np.testing.assert_array_equal(load_signal(key), second)


def test_a_failed_write_leaves_nothing_behind(monkeypatch, _isolated_media) -> None:
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_signal(signal_key("ds", "E1"), _signal())
    assert _files(_isolated_media) == []


def test_a_failed_overwrite_keeps_the_old_file(monkeypatch, _isolated_media) -> None:
    key = signal_key("ds", "E1")
    first = _signal()
    save_signal(key, first)
    monkeypatch.setattr(
        storage.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("boom"))
    )
    with pytest.raises(OSError):
        save_signal(key, _signal(1, 10))
    np.testing.assert_array_equal(load_signal(key), first)
    assert _files(_isolated_media) == [_isolated_media / key]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((12, 10), dtype=np.float32),
        np.zeros(10, dtype=np.int16),
        np.zeros((2, 3, 4), dtype=np.int16),
        np.zeros((2, 10), dtype=np.int64),
    ],
)
def test_only_2d_int16_or_int32_signals_are_stored(bad, _isolated_media) -> None:
    with pytest.raises(ValueError):
        save_signal(signal_key("ds", "E1"), bad)
    assert _files(_isolated_media) == []


def test_files_are_readable_by_others(_isolated_media: Path) -> None:
    key = signal_key("ds", "E1")
    save_signal(key, _signal())
    assert os.stat(_isolated_media / key).st_mode & 0o444 == 0o444


def test_delete_is_idempotent(_isolated_media: Path) -> None:
    key = signal_key("ds", "E1")
    save_signal(key, _signal())
    delete_signal(key)
    delete_signal(key)
    assert _files(_isolated_media) == []
    with pytest.raises(FileNotFoundError):
        load_signal(key)


def test_overwrite_replaces_bytes_under_the_same_name(_isolated_media: Path) -> None:
    storage.overwrite("jobs/1/report.json", b"old")
    storage.overwrite("jobs/1/report.json", b"new, longer")
    assert _files(_isolated_media) == [_isolated_media / "jobs/1/report.json"]
    assert (_isolated_media / "jobs/1/report.json").read_bytes() == b"new, longer"


def test_overwrite_streams_a_file(_isolated_media: Path, tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(os.urandom(3 << 20))  # more than one copy block
    storage.overwrite("jobs/1/labels.csv", b"old")
    with source.open("rb") as handle:
        storage.overwrite("jobs/1/labels.csv", handle)
    assert (_isolated_media / "jobs/1/labels.csv").read_bytes() == source.read_bytes()
    assert _files(_isolated_media) == [_isolated_media / "jobs/1/labels.csv"]


def test_a_failed_overwrite_keeps_the_old_bytes(monkeypatch, _isolated_media) -> None:
    storage.overwrite("jobs/1/report.json", b"old")
    monkeypatch.setattr(
        storage.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("boom"))
    )
    with pytest.raises(OSError, match="boom"):
        storage.overwrite("jobs/1/report.json", b"new")
    assert (_isolated_media / "jobs/1/report.json").read_bytes() == b"old"
    assert _files(_isolated_media) == [_isolated_media / "jobs/1/report.json"]


def test_overwrite_on_a_storage_without_paths_leaves_no_renamed_copy(
    monkeypatch, _isolated_media: Path
) -> None:
    # As on object storage: no local path, so Storage.save does the write, and
    # would name a second copy ``report_abc123.json`` if the first stayed.
    monkeypatch.setattr(storage, "_local_path", lambda key: None)
    storage.overwrite("jobs/1/report.json", b"old")
    storage.overwrite("jobs/1/report.json", b"new")
    assert _files(_isolated_media) == [_isolated_media / "jobs/1/report.json"]
    assert (_isolated_media / "jobs/1/report.json").read_bytes() == b"new"
