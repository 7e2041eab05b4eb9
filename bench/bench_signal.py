"""Server-side benchmark of the signal endpoint and of M4 decimation.

In one run, against a throwaway SQLite database and media folder:

1. the endpoint, through Django's full request path in-process (middleware,
   session authentication, the exam query, the memory-mapped read, encoding,
   gzip when accepted), for
   - the pydicom 12-lead sample (12 x 10,000 at 1000 Hz) at width 1200,
   - a synthetic 12-lead (``synthesize(seed=0)``, 500 Hz, 10 s) at width 1200,
   - MIT-BIH 100 (2 x 650,000 at 360 Hz, 30 min) at width 1500 (M4), and the
     same window sent undecimated (the raw path forced),
   - MIT-BIH 100 zoomed to 10 s (600-610 s) at width 1500 (raw);
   each row gives the median time per request with and without gzip, the
   bytes sent (identity and gzip) and the median time of the body alone
   (``annotator.display``: window arithmetic, read, convert, encode; no HTTP);
2. the decimation alone on the same windows, on a 12-lead 10 min 1000 Hz
   record and on a 24 h 500 Hz lead, with pacemaker-like spikes added:
   ``m4_indices`` with the numpy engine and the tsdownsample engine (x array
   aligning its bins to the pixel columns), tsdownsample's M4 without x (its
   own bins, not aligned), and every-Nth with the same point budget (4 per
   column); for each, how many pixel columns keep
   their first, last, lowest and highest sample, and how many one-sample spikes
   (+3000 stored units, every 0.6-1.1 s) are still drawn to their full height.

    .venv/bin/python bench/bench_signal.py [--reps 50]

MIT-BIH 100 is read from ``ECG_TEST_DATA`` (default ``../shared/data/wfdb``
beside the repository, as the tests do).
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WFDB = Path(os.environ.get("ECG_TEST_DATA", REPO.parent / "shared" / "data" / "wfdb"))
sys.path.insert(0, str(REPO))


def timings_ms(call: Callable[[], Any], reps: int) -> list[float]:
    call()  # warm-up: imports, caches, page cache
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return times


def median_ms(call: Callable[[], Any], reps: int) -> float:
    return statistics.median(timings_ms(call, reps))


def setup_django(workdir: Path) -> None:
    os.environ["SQLITE_PATH"] = str(workdir / "bench.sqlite3")
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def synthetic_exam(seed: int = 0) -> Any:
    """A synthetic 10 s, 500 Hz 12-lead exam, stored like an imported one."""
    from annotator.models import Exam
    from annotator.storage import save_signal, signal_key
    from annotator.synthetic import synthesize

    ecg = synthesize(seed=seed)
    key = signal_key("synthetic", f"seed-{seed}")
    return Exam.objects.create(
        dataset="synthetic",
        exam_id=f"seed-{seed}",
        patient_pseudonym="bench",
        sampling_rate=ecg.fs,
        n_samples=ecg.signal_uv.shape[1],
        lead_names=list(ecg.lead_names),
        signal_key=key,
        signal_sha256=save_signal(key, ecg.signal_uv),
        source_format="npy",
    )


def wait_for_load(max_load: float, budget_s: float = 900) -> float:
    """Wait (at most ``budget_s``) until the 1-minute load is under ``max_load``."""
    deadline = time.monotonic() + budget_s
    while True:
        load = os.getloadavg()[0]
        if load < max_load or time.monotonic() > deadline:
            return load
        print(f"1-minute load {load:.2f} >= {max_load}; waiting 30 s", flush=True)
        time.sleep(30)


def make_exams() -> dict[str, Any]:
    from pydicom.data import get_testdata_file

    from annotator.ingest.importer import import_exams
    from annotator.models import Exam

    import_exams([get_testdata_file("waveform_ecg.dcm")], dataset="dicom")
    import_exams([WFDB / "100.hea"], dataset="mitdb")
    return {
        "dicom": Exam.objects.get(dataset="dicom"),
        "synthetic": synthetic_exam(),
        "mitdb": Exam.objects.get(dataset="mitdb", exam_id="100"),
    }


def endpoint_rows(exams: dict[str, Any], reps: int) -> list[dict[str, Any]]:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from annotator import display
    from annotator.storage import load_signal

    manager = User.objects.create_user("bench-manager")
    manager.groups.add(Group.objects.get_or_create(name="manager")[0])
    client = Client()
    client.force_login(manager)

    # (label, exam, width, start s, end s or None for the record's end, force raw)
    cases = [
        ("pydicom 12-lead 1 kHz 10 s", exams["dicom"], 1200, 0.0, None, False),
        ("synthetic 12-lead 500 Hz 10 s", exams["synthetic"], 1200, 0.0, None, False),
        ("MIT-BIH 100 30 min, M4", exams["mitdb"], 1500, 0.0, None, False),
        ("MIT-BIH 100 30 min, undecimated", exams["mitdb"], 1500, 0.0, None, True),
        ("MIT-BIH 100 10 s zoom", exams["mitdb"], 1500, 600.0, 610.0, False),
    ]
    rows = []
    threshold = display.M4_SAMPLES_PER_COLUMN
    for label, exam, width, start, end, force_raw in cases:
        # Forcing raw: no window has 10^9 samples per pixel column.
        display.M4_SAMPLES_PER_COLUMN = 10**9 if force_raw else threshold
        query = f"width={width}"
        if end is not None:
            query += f"&start={start:g}&end={end:g}"
        path = f"/api/exams/{exam.pk}/signal/?{query}"

        def plain(path: str = path) -> Any:
            return client.get(path)

        def zipped(path: str = path) -> Any:
            return client.get(path, HTTP_ACCEPT_ENCODING="gzip")

        def body(
            exam: Any = exam, width: int = width, start: float = start, end: Any = end
        ) -> bytes:
            duration = exam.n_samples / exam.sampling_rate
            x0, stop = display.sample_window(
                start,
                duration if end is None else end,
                fs=exam.sampling_rate,
                n_samples=exam.n_samples,
            )
            stored = load_signal(exam.signal_key, start=x0, stop=stop)
            return display.encode_signal(
                stored,
                exam=exam.pk,
                sampling_rate=exam.sampling_rate,
                n_samples=exam.n_samples,
                gain_uv=exam.signal_gain,
                x0=x0,
                width=width,
                lead_names=exam.lead_names,
            )

        response = plain()
        assert response.status_code == 200, response.content
        assert body() == response.content, "the endpoint sends display's bytes"
        compressed = zipped()
        assert compressed["Content-Encoding"] == "gzip"
        assert gzip.decompress(compressed.content) == response.content
        header = header_of(response.content)
        rows.append(
            {
                "case": label,
                "method": header["method"],
                "points": max(lead["n"] for lead in header["leads"]),
                "raw_int16": 2 * len(header["leads"]) * header["n_window"],
                "bytes": len(response.content),
                "gzip": len(compressed.content),
                "ms": median_ms(plain, reps),
                "ms_gzip": median_ms(zipped, reps),
                "ms_body": median_ms(body, reps),
            }
        )
    display.M4_SAMPLES_PER_COLUMN = threshold
    return rows


def header_of(body: bytes) -> dict[str, Any]:
    import json

    length = int.from_bytes(body[:4], "little")
    return json.loads(body[4 : 4 + length])


# --- Decimation alone ---------------------------------------------------------------


def fidelity(
    signal: np.ndarray, kept: list[np.ndarray], width: int, spikes: list[np.ndarray]
) -> tuple[int, int]:
    """Pixel columns (all leads) that keep their first, last, lowest and highest
    sample; and spikes drawn to full height (their column's kept points reach
    the spike's value; two spikes in one column draw one line)."""
    from annotator.waveforms import pixel_column_edges

    edges = pixel_column_edges(signal.shape[1], width)
    lows = np.minimum.reduceat(signal, edges[:-1], axis=1)
    highs = np.maximum.reduceat(signal, edges[:-1], axis=1)
    exact = shown = 0
    for lead, x in enumerate(kept):
        x = np.unique(x)
        column = np.searchsorted(edges, x, side="right") - 1
        y = signal[lead, x].astype(np.int64)
        low = np.full(width, np.iinfo(np.int64).max)
        high = np.full(width, np.iinfo(np.int64).min)
        np.minimum.at(low, column, y)
        np.maximum.at(high, column, y)
        ends = np.isin(edges[:-1], x) & np.isin(edges[1:] - 1, x)
        exact += int(np.sum(ends & (low == lows[lead]) & (high == highs[lead])))
        at = spikes[lead]
        spike_column = np.searchsorted(edges, at, side="right") - 1
        shown += int(np.sum(high[spike_column] >= signal[lead, at]))
    return exact, shown


def every_nth(signal: np.ndarray, width: int) -> list[np.ndarray]:
    step = -(-signal.shape[1] // (4 * width))
    return [np.arange(0, signal.shape[1], step)] * signal.shape[0]


def tsdownsample_plain(signal: np.ndarray, width: int) -> list[np.ndarray]:
    from tsdownsample import M4Downsampler

    downsampler = M4Downsampler()
    return [downsampler.downsample(row, n_out=4 * width) for row in signal]


def with_spikes(signal: np.ndarray, fs: float, seed: int) -> tuple[np.ndarray, list]:
    """One-sample +3000-unit spikes at irregular 0.6-1.1 s intervals in every lead."""
    rng = np.random.default_rng(seed)
    out = signal.astype(np.int16, copy=True)
    positions = []
    for lead in range(out.shape[0]):
        at = np.cumsum(rng.uniform(0.6, 1.1, int(out.shape[1] / fs / 0.6) + 2) * fs)
        at = at[at < out.shape[1] - 1].astype(np.int64)
        out[lead, at] = np.clip(out[lead, at].astype(np.int32) + 3000, -32768, 32767)
        positions.append(at)
    return out, positions


def decimation_rows(exams: dict[str, Any], reps: int) -> list[dict[str, Any]]:
    from annotator.storage import load_signal
    from annotator.synthetic import synthesize
    from annotator.waveforms import m4_indices

    mitdb = load_signal(exams["mitdb"].signal_key)
    dicom = load_signal(exams["dicom"].signal_key)
    long = synthesize(seed=1, fs=1000.0, duration_s=600.0).signal_uv
    # A 24 h Holter lead at 500 Hz: 10 min of synthetic lead II, repeated.
    holter = np.tile(synthesize(seed=2, duration_s=600.0).signal_uv[1], 144)[None]
    inputs = [
        ("MIT-BIH 100 2 x 650,000 -> 1500 px", mitdb, 360.0, 1500),
        ("pydicom 12 x 10,000 -> 1200 px", dicom, 1000.0, 1200),
        ("synthetic 12 x 600,000 (10 min 1 kHz) -> 1500 px", long, 1000.0, 1500),
        ("synthetic 1 x 43,200,000 (24 h 500 Hz) -> 3840 px", holter, 500.0, 3840),
    ]
    methods: list[tuple[str, Callable[[np.ndarray, int], list[np.ndarray]]]] = [
        ("m4_indices numpy (aligned)", lambda s, w: list(m4_indices(s, w))),
        (
            "m4_indices tsdownsample (aligned)",
            lambda s, w: list(m4_indices(s, w, engine="tsdownsample")),
        ),
        ("tsdownsample M4, no x (not aligned)", tsdownsample_plain),
        ("every-Nth, 4 points per column", every_nth),
    ]
    rows = []
    for label, signal, fs, width in inputs:
        spiky, spikes = with_spikes(signal, fs, seed=0)
        for name, method in methods:
            kept = method(spiky, width)
            exact, shown = fidelity(spiky, kept, width, spikes)
            times = timings_ms(lambda m=method, s=spiky, w=width: m(s, w), reps)
            rows.append(
                {
                    "input": label,
                    "method": name,
                    "ms": statistics.median(times),
                    "best": min(times),
                    "exact": f"{exact}/{width * len(spiky)}",
                    "spikes": f"{shown}/{sum(len(at) for at in spikes)}",
                }
            )
    return rows


# --- Output ---------------------------------------------------------------------------


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    cells = [[fmt.format(row[key]) for key, _, fmt in columns] for row in rows]
    heads = [title for _, title, _ in columns]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    numeric = [
        all(
            c[i].replace(",", "").replace(".", "").replace("/", "").isdigit()
            for c in cells
        )
        for i in range(len(heads))
    ]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "| "
        + " | ".join(
            "-" * (w - 1) + ":" if num else "-" * w
            for w, num in zip(widths, numeric, strict=True)
        )
        + " |"
    )
    return "\n".join([line(heads), rule, *(line(c) for c in cells)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50, help="timed repetitions")
    args = parser.parse_args()
    if not (WFDB / "100.hea").exists():
        sys.exit(f"MIT-BIH record 100 not found in {WFDB}; set ECG_TEST_DATA")

    workdir = Path(tempfile.mkdtemp(prefix="bench-signal-"))
    try:
        setup_django(workdir)
        load_start = os.getloadavg()[0]
        exams = make_exams()
        endpoint = endpoint_rows(exams, args.reps)
        decimation = decimation_rows(exams, args.reps)
        load_end = os.getloadavg()[0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"{os.cpu_count()} cores; Python {platform.python_version()}, numpy"
        f" {np.__version__}, tsdownsample {version('tsdownsample')}, Django"
        f" {version('django')}; SQLite; median of {args.reps} requests;"
        f" 1-min load {load_start:.2f} at start, {load_end:.2f} at end"
    )
    print()
    print(
        table(
            endpoint,
            [
                ("case", "request", "{}"),
                ("method", "method", "{}"),
                ("points", "points/lead", "{:,}"),
                ("raw_int16", "raw int16 B", "{:,}"),
                ("bytes", "sent B", "{:,}"),
                ("gzip", "gzip B", "{:,}"),
                ("ms", "ms/request", "{:.2f}"),
                ("ms_gzip", "ms/request gzip", "{:.2f}"),
                ("ms_body", "ms body only", "{:.2f}"),
            ],
        )
    )
    print()
    print(
        table(
            decimation,
            [
                ("input", "input", "{}"),
                ("method", "decimation", "{}"),
                ("ms", "median ms", "{:.2f}"),
                ("best", "best ms", "{:.2f}"),
                ("exact", "pixel columns exact", "{}"),
                ("spikes", "1-sample spikes drawn", "{}"),
            ],
        )
    )


if __name__ == "__main__":
    main()
