"""Import throughput and memory for CODE-15%-style HDF5 files, SQLite and PostgreSQL.

    .venv/bin/python bench/bench_import.py [--sizes 5000 10000 20000] [--keep DIR]

Writes deterministic CODE-15%-style files (``tracings`` (N, 4096, 12) float32
mV at 400 Hz, every third exam a 7 s recording centred in zero padding, plus
``exam_id``) into a temporary folder, then imports each into a fresh database
in its own subprocess: SQLite (a new file) and PostgreSQL (the throwaway
database ``ecg_bench_import`` on 127.0.0.1, dropped and created per run;
skipped when PostgreSQL is not reachable). For comparison it also runs, on the
smallest file, the obvious alternative: read ``tracings[:]`` whole and store
one exam per transaction, with its own existence query. Prints one table:
backend, mode, exams, seconds, exams/s, peak RSS of the child (MB).
Timing covers the import only (not migrations or start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "ecg_bench_import"
PG_BENCH_URL = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
N_TEMPLATES = 64
WRITE_CHUNK = 500


# --- Input files -----------------------------------------------------------------


def make_code15_file(path: Path, n: int, *, seed: int = 0) -> None:
    """``n`` exams built from a few synthetic ECGs, scaled so every exam differs."""
    import h5py

    sys.path.insert(0, str(REPO))
    from annotator.synthetic import synthesize

    rhythms = ["sinus", "sinus", "af", "brady", "tachy"]
    templates = []
    for k in range(N_TEMPLATES):
        seconds = 7.0 if k % 3 == 0 else 10.24
        ecg = synthesize(
            seed=seed * 1000 + k, fs=400.0, duration_s=seconds, rhythm=rhythms[k % 5]
        )
        padded = np.zeros((4096, 12), dtype=np.float32)
        length = ecg.signal_uv.shape[1]
        start = (4096 - length) // 2
        padded[start : start + length] = ecg.signal_uv.T / 1000.0  # µV → mV
        templates.append(padded)
    stack = np.stack(templates)
    with h5py.File(path, "w") as handle:
        tracings = handle.create_dataset("tracings", (n, 4096, 12), dtype=np.float32)
        handle.create_dataset("exam_id", data=np.arange(1, n + 1, dtype=np.int64))
        for start in range(0, n, WRITE_CHUNK):
            index = np.arange(start, min(n, start + WRITE_CHUNK))
            scale = (1.0 + 1e-3 * (index // N_TEMPLATES)).astype(np.float32)
            tracings[start : start + len(index)] = (
                stack[index % N_TEMPLATES] * scale[:, None, None]
            )


# --- One run, in a child process -------------------------------------------------


def naive_import(path: Path, dataset: str) -> int:
    """The obvious alternative: whole array in memory, one transaction per exam."""
    import h5py
    from django.db import transaction

    from annotator.ingest.importer import new_pseudonym
    from annotator.models import Exam
    from annotator.storage import save_signal, signal_key
    from annotator.waveforms import STANDARD_LEADS, to_integer_signal

    with h5py.File(path, "r") as handle:
        tracings = handle["tracings"][:]
        exam_ids = handle["exam_id"][:]
    imported = 0
    for tracing, raw_id in zip(tracings, exam_ids, strict=True):
        exam_id = str(int(raw_id))
        active = np.flatnonzero(np.any(tracing != 0, axis=1))
        if active.size == 0:
            continue
        values = tracing[active[0] : active[-1] + 1].T.astype(np.float64) * 1000
        signal = to_integer_signal(values)
        key = signal_key(dataset, exam_id)
        with transaction.atomic():
            if Exam.objects.filter(dataset=dataset, exam_id=exam_id).exists():
                continue
            digest = save_signal(key, signal)
            Exam.objects.create(
                dataset=dataset,
                exam_id=exam_id,
                patient_pseudonym=new_pseudonym(),
                sampling_rate=400.0,
                n_samples=signal.shape[1],
                lead_names=list(STANDARD_LEADS),
                signal_key=key,
                signal_dtype=str(signal.dtype),
                signal_sha256=digest,
                source_format="code15",
            )
        imported += 1
    return imported


def child(args: argparse.Namespace) -> None:
    import django

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    django.setup()
    from django.core.management import call_command

    from annotator.ingest.importer import import_exams

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.mode == "naive":
        imported = naive_import(Path(args.file), "bench")
    else:
        imported = import_exams([args.file], fmt="code15", dataset="bench").imported
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"imported": imported, "seconds": seconds, "peak_kb": peak_kb}))


# --- The parent: databases, runs, table -----------------------------------------


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def reset_postgres(*, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        if not drop_only:
            connection.execute(f"CREATE DATABASE {PG_BENCH_DB}")


def run(backend: str, mode: str, file: Path, work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    media = work / "media"
    shutil.rmtree(media, ignore_errors=True)
    env["MEDIA_ROOT"] = str(media)
    env["ANNOTATOR_DATA_DIR"] = str(work / "var")
    if backend == "postgresql":
        reset_postgres()
        env["DATABASE_URL"] = PG_BENCH_URL
    else:
        sqlite = work / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
        env["SQLITE_PATH"] = str(sqlite)
    output = subprocess.run(
        [sys.executable, __file__, "--child", "--mode", mode, "--file", str(file)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    shutil.rmtree(media, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--keep", type=Path, help="Keep the generated files here.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="batched", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    work = Path(tempfile.mkdtemp(prefix="bench_import_"))
    data = args.keep or work
    data.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    if "postgresql" not in backends:
        print("PostgreSQL on 127.0.0.1:5432 not reachable: SQLite only.")
    rows = []
    try:
        files = {}
        for n in args.sizes:
            files[n] = data / f"code15_{n}.hdf5"
            if not files[n].exists():
                make_code15_file(files[n], n)
        plan = [(b, "batched", n) for b in backends for n in args.sizes]
        plan += [(b, "naive", min(args.sizes)) for b in backends]
        for backend, mode, n in plan:
            result = run(backend, mode, files[n], work)
            assert result["imported"] == n, result
            rows.append((backend, mode, n, result["seconds"], result["peak_kb"]))
    finally:
        if "postgresql" in backends:
            reset_postgres(drop_only=True)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{'backend':<11} {'mode':<8} {'exams':>6} {'seconds':>8} "
        f"{'exams/s':>8} {'peak RSS MB':>11}"
    )
    for backend, mode, n, seconds, peak_kb in rows:
        print(
            f"{backend:<11} {mode:<8} {n:>6} {seconds:>8.1f} {n / seconds:>8.0f} "
            f"{peak_kb / 1024:>11.0f}"
        )
    smallest = min(args.sizes)
    rate = {(b, m): smallest / s for b, m, n, s, _ in rows if n == smallest}
    for backend in backends:
        ratio = rate[(backend, "batched")] / rate[(backend, "naive")]
        print(
            f"{backend}: batched is {ratio:.1f}x the naive import on {smallest} exams"
        )


if __name__ == "__main__":
    main()
