"""Server cost of the display filters on the signal endpoint.

In one run, against a throwaway SQLite database and media folder (as
bench/bench_signal.py), the signal endpoint through Django's full request path
in-process (test ``Client``: middleware, session authentication, the exam query,
the memory-mapped read with the filters' context on each side, the filters at
full resolution (``annotator.filters``, ``sosfiltfilt``), M4 decimation where it
applies, encoding, and gzip when accepted) for

- MIT-BIH 100 (2 x 650,000 at 360 Hz, 30 min; imported from WFDB with
  ``import_exams``) at width 1500 (M4),
- a synthetic 12-lead (``synthesize(seed=0)``, 500 Hz, 10 s) at width 1500
  (raw: 3.3 samples per column),

each with no filter, ``highpass=0.5&lowpass=40`` and
``highpass=0.5&lowpass=40&notch=60``. Each row is timed in blocks of
consecutive requests after one untimed request (as bench_signal.py does); the
blocks of all six rows are repeated ``--passes`` times, so drift on the shared
machine falls on every row alike; the ratio is each filtered row's median
over the unfiltered median of the same record in the same run. "filter only" is
``DisplayFilters.apply`` alone on the same padded window (µV float64), no HTTP.

    .venv/bin/python bench/bench_filters.py [--reps 21] [--passes 3] [--max-load 1.5]

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
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WFDB = Path(os.environ.get("ECG_TEST_DATA", REPO.parent / "shared" / "data" / "wfdb"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_signal import (  # noqa: E402
    header_of,
    setup_django,
    synthetic_exam,
    table,
    timings_ms,
    wait_for_load,
)

FILTERS = [
    ("none", ""),
    ("0.5-40 Hz", "highpass=0.5&lowpass=40"),
    ("0.5-40 Hz + 60 Hz notch", "highpass=0.5&lowpass=40&notch=60"),
]
WIDTH = 1500


def make_exams() -> dict[str, Any]:
    from annotator.ingest.importer import import_exams
    from annotator.models import Exam

    summary = import_exams(WFDB / "100.hea", dataset="mitdb")
    assert summary.imported == 1, summary
    return {
        "MIT-BIH 100, 2 x 650,000, 360 Hz, 30 min": Exam.objects.get(dataset="mitdb"),
        "synthetic 12 x 5,000, 500 Hz, 10 s": synthetic_exam(),
    }


def filter_only(exam: Any, query: str) -> Callable[[], Any] | None:
    """``DisplayFilters.apply`` on the window the endpoint filters (whole record)."""
    from annotator.filters import DisplayFilters
    from annotator.storage import load_signal

    if not query:
        return None
    values = dict(part.split("=") for part in query.split("&"))
    filters = DisplayFilters.from_values(values)
    stored = load_signal(exam.signal_key)  # the whole record: pad is clipped at ends

    def run() -> Any:
        return filters.apply(stored * exam.signal_gain, exam.sampling_rate)

    return run


def measure(exams: dict[str, Any], reps: int, passes: int) -> list[dict[str, Any]]:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    manager = User.objects.create_user("bench-manager")
    manager.groups.add(Group.objects.get_or_create(name="manager")[0])
    client = Client()
    client.force_login(manager)

    cases: list[dict[str, Any]] = []
    for record, exam in exams.items():
        for name, query in FILTERS:
            path = f"/api/exams/{exam.pk}/signal/?width={WIDTH}"
            if query:
                path += f"&{query}"
            response = client.get(path)
            assert response.status_code == 200, response.content
            zipped = client.get(path, HTTP_ACCEPT_ENCODING="gzip")
            assert zipped["Content-Encoding"] == "gzip"
            assert gzip.decompress(zipped.content) == response.content
            header = header_of(response.content)
            if query:
                assert header["filters"], header  # the server says it filtered
                assert response["Display-Filters"]
            cases.append(
                {
                    "record": record,
                    "filters": name,
                    "path": path,
                    "method": header["method"],
                    "points": max(lead["n"] for lead in header["leads"]),
                    "bytes": len(response.content),
                    "gzip": len(zipped.content),
                    "alone": filter_only(exam, query),
                    "times": [],
                    "times_gzip": [],
                    "times_alone": [],
                }
            )

    # Blocks of consecutive requests, as bench_signal.py times them: one untimed
    # request first, so a block never starts in the memory state the previous
    # case left (a 30-min filtered window allocates tens of MB). The blocks of
    # all cases are repeated ``passes`` times, so drift on the shared machine
    # falls on every row.
    per_block = -(-reps // passes)
    for _ in range(passes):
        for case in cases:
            path = case["path"]
            case["times"] += timings_ms(lambda p=path: client.get(p), per_block)
            case["times_gzip"] += timings_ms(
                lambda p=path: client.get(p, HTTP_ACCEPT_ENCODING="gzip"), per_block
            )
            if case["alone"] is not None:
                case["times_alone"] += timings_ms(case["alone"], per_block)

    rows = []
    for case in cases:
        base = next(
            c for c in cases if c["record"] == case["record"] and c["filters"] == "none"
        )
        ms = statistics.median(case["times"])
        ms_gzip = statistics.median(case["times_gzip"])
        rows.append(
            {
                **case,
                "ms": ms,
                "ms_range": f"{min(case['times']):.2f}-{max(case['times']):.2f}",
                "ratio": f"{ms / statistics.median(base['times']):.2f}x",
                "ms_gzip": ms_gzip,
                "ratio_gzip": f"{ms_gzip / statistics.median(base['times_gzip']):.2f}x",
                "ms_alone": (
                    f"{statistics.median(case['times_alone']):.2f}"
                    if case["times_alone"]
                    else "-"
                ),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=21, help="timed requests (>= 7)")
    parser.add_argument("--passes", type=int, default=3, help="blocks per case")
    parser.add_argument("--max-load", type=float, default=1.5)
    args = parser.parse_args()
    if args.reps < 7:
        parser.error("--reps must be at least 7")
    if not (WFDB / "100.hea").exists():
        sys.exit(f"MIT-BIH record 100 not found in {WFDB}; set ECG_TEST_DATA")

    workdir = Path(tempfile.mkdtemp(prefix="bench-filters-"))
    try:
        setup_django(workdir)
        exams = make_exams()
        load_start = wait_for_load(args.max_load)
        rows = measure(exams, args.reps, args.passes)
        load_end = os.getloadavg()[0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"{os.cpu_count()} cores; Python {platform.python_version()}, numpy"
        f" {np.__version__}, scipy {version('scipy')}, Django {version('django')};"
        f" SQLite; width {WIDTH}; median of"
        f" {args.passes} x {-(-args.reps // args.passes)} requests per row;"
        f" 1-min load {load_start:.2f} at start, {load_end:.2f} at end"
    )
    print()
    print(
        table(
            rows,
            [
                ("record", "record", "{}"),
                ("filters", "filters", "{}"),
                ("method", "method", "{}"),
                ("points", "points/lead", "{:,}"),
                ("bytes", "sent B", "{:,}"),
                ("gzip", "gzip B", "{:,}"),
                ("ms", "ms/request", "{:.2f}"),
                ("ms_range", "min-max ms", "{}"),
                ("ratio", "x unfiltered", "{}"),
                ("ms_gzip", "ms/request gzip", "{:.2f}"),
                ("ratio_gzip", "x unfiltered gzip", "{}"),
                ("ms_alone", "ms filter only", "{}"),
            ],
        )
    )


if __name__ == "__main__":
    main()
