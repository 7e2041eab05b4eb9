"""Benchmark of the agreement engine against per-class loops of the reference libraries.

On a synthetic campaign (default 1,000,000 exams x 3 readers x 66 classes, every
reader reads every exam, class prevalences spread geometrically from 0.1% to 10%,
fixed seed) it times, in one run:

1. ``consensus_labels`` (majority on), the consensus the reader statistics use;
2. ``count_chunk`` + ``report``: every statistic of the report for all classes
   (prevalence, observed agreement, Fleiss, Krippendorff, PABAK, AC1, specific
   agreement, Cohen's kappa per pair, reader sensitivity/specificity/PPV/F1, macro
   and micro), best of ``--repeat`` runs; then the same in 10 chunks merged, as
   the Celery job does;
3. the reference libraries, one call per class (per pair for Cohen's kappa):
   scikit-learn ``cohen_kappa_score``, statsmodels ``aggregate_raters`` +
   ``fleiss_kappa``, ``krippendorff.alpha(level_of_measurement="nominal")``, on all
   classes by default (about two minutes at full size); ``--ref-classes N`` times
   them on N classes spread over the prevalence range and extrapolates linearly to
   all classes (the table says so). Their values are checked against ours;
4. ``count_chunk`` with a Poisson bootstrap of ``--bootstrap`` replicates + report.

    .venv/bin/python bench/bench_agreement.py [--exams 1000000] [--bootstrap 200]
        [--classes 66] [--readers 3] [--ref-classes 66] [--repeat 3] [--seed 0]

The engine (annotator.agreement, annotator.consensus) is imported without Django.
Only numpy, the standard library and the three reference libraries are used.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from annotator import agreement, consensus  # noqa: E402 (needs the path above)

# The engine is framework-free: timing it must not time Django's import too.
assert "django" not in sys.modules, "the agreement engine imported Django"


def synthetic(
    n_exams: int, n_readers: int, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Readings (E, J, K) int8 and the class prevalences; generated in blocks."""
    rng = np.random.default_rng(seed)
    prevalence = np.geomspace(0.001, 0.10, n_classes).astype(np.float32)
    sensitivity = np.linspace(0.92, 0.80, n_readers, dtype=np.float32)[:, None]
    specificity = np.linspace(0.999, 0.997, n_readers, dtype=np.float32)[:, None]
    readings = np.empty((n_exams, n_readers, n_classes), dtype=np.int8)
    for start in range(0, n_exams, 100_000):
        size = min(100_000, n_exams - start)
        truth = rng.random((size, 1, n_classes), dtype=np.float32) < prevalence
        p_yes = np.where(truth, sensitivity, 1 - specificity)
        draw = rng.random((size, n_readers, n_classes), dtype=np.float32)
        readings[start : start + size] = draw < p_yes
    return readings, prevalence


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """(wall, process CPU time, result) of the fastest of ``repeat`` runs."""
    best, best_cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, best_cpu = wall, time.process_time() - cpu
    return best, best_cpu, result


def reference_loops(readings: np.ndarray, classes: list[int]) -> dict[str, Any]:
    """Time the reference libraries class by class; return times and values."""
    import krippendorff
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    pairs = list(combinations(range(readings.shape[1]), 2))
    out: dict[str, Any] = {"cohen": {}, "fleiss": {}, "alpha": {}}

    def cohen() -> None:
        for k in classes:
            for a, b in pairs:
                out["cohen"][k, a, b] = cohen_kappa_score(
                    readings[:, a, k], readings[:, b, k], replace_undefined_by=np.nan
                )

    def fleiss() -> None:
        for k in classes:
            table, _ = aggregate_raters(readings[:, :, k], n_cat=2)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["fleiss"][k] = fleiss_kappa(table)

    def alpha() -> None:
        for k in classes:
            data = readings[:, :, k].T.astype(np.float64)
            try:
                out["alpha"][k] = krippendorff.alpha(
                    reliability_data=data, level_of_measurement="nominal"
                )
            except ValueError:  # a class nobody chose
                out["alpha"][k] = np.nan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in (("cohen", cohen), ("fleiss", fleiss), ("alpha", alpha)):
            out[f"t_{name}"], out[f"cpu_{name}"], _ = timed(fn)
    return out


def max_difference(ours: dict, ref: dict, codes: list[str], names: list[str]) -> dict:
    """Largest |ours - reference| per statistic; undefined must match undefined."""

    def diff(a: float | None, b: float) -> float:
        if a is None or np.isnan(b):
            return 0.0 if a is None and np.isnan(b) else float("inf")
        return abs(a - b)

    classes = ours["classes"]
    return {
        "cohen": max(
            diff(classes[codes[k]]["cohen_kappa"][f"{names[a]}|{names[b]}"], v)
            for (k, a, b), v in ref["cohen"].items()
        ),
        "fleiss": max(
            diff(classes[codes[k]]["fleiss_kappa"], v) for k, v in ref["fleiss"].items()
        ),
        "alpha": max(
            diff(classes[codes[k]]["krippendorff_alpha"], v)
            for k, v in ref["alpha"].items()
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exams", type=int, default=1_000_000)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--classes", type=int, default=66)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--ref-classes", type=int, default=66)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, j, k = args.exams, args.readers, args.classes
    codes = [f"C{i:02d}" for i in range(k)]
    names = [f"reader{i + 1}" for i in range(j)]

    readings, prevalence = synthetic(n, j, k, args.seed)
    t_cons, cpu_cons, (labels, _) = timed(
        lambda: consensus.consensus_labels(readings, majority=True), args.repeat
    )

    def ours() -> dict:
        counts = agreement.count_chunk(readings, labels)
        return agreement.report(counts, class_codes=codes, reader_names=names)

    t_ours, cpu_ours, rep = timed(ours, args.repeat)
    chunk = max(1, n // 10)

    def chunked() -> dict:
        # As the agreement job: one count per chunk, merged, one report.
        total = None
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            counts = agreement.count_chunk(readings[rows], labels[rows])
            total = counts if total is None else agreement.merge(total, counts)
        return agreement.report(total, class_codes=codes, reader_names=names)

    t_chunked, cpu_chunked, rep_chunked = timed(chunked)
    assert rep_chunked == rep, "chunked report differs from the one-chunk report"

    n_ref = min(args.ref_classes, k)
    ref_classes = sorted({round(i) for i in np.linspace(0, k - 1, n_ref)})
    ref = reference_loops(readings, ref_classes)
    scale = k / len(ref_classes)
    diffs = max_difference(rep, ref, codes, names)
    t_refs = {name: ref[f"t_{name}"] * scale for name in ("cohen", "fleiss", "alpha")}
    t_ref_total = sum(t_refs.values())

    t_boot = None
    if args.bootstrap:
        keys = np.arange(n, dtype=np.int64)

        def boot() -> dict:
            counts = agreement.count_chunk(
                readings, labels, exam_keys=keys, bootstrap=args.bootstrap, seed=1
            )
            return agreement.report(counts, class_codes=codes, reader_names=names)

        t_boot, cpu_boot, rep_boot = timed(boot)
        assert rep_boot["classes"][codes[-1]]["ci95"]["fleiss_kappa"] is not None

    measured = (
        "all classes"
        if len(ref_classes) == k
        else f"measured on {len(ref_classes)} classes, x{scale:.2f} to {k}"
    )
    pairs = j * (j - 1) // 2
    print(
        f"exams {n:,} x readers {j} x classes {k}; prevalence "
        f"{prevalence[0]:.1%}-{prevalence[-1]:.0%}; seed {args.seed}; "
        f"{os.cpu_count()} cores; Python {platform.python_version()}, numpy "
        f"{np.__version__}, scikit-learn {version('scikit-learn')}, statsmodels "
        f"{version('statsmodels')}, krippendorff {version('krippendorff')}; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )
    print()

    def row(step: str, wall: float, cpu: float, note: str) -> tuple[str, ...]:
        return step, f"{wall:.2f}", f"{cpu:.2f}", note

    cpu_refs = {name: ref[f"cpu_{name}"] * scale for name in t_refs}
    rows = [
        row(
            "consensus_labels (majority on)",
            t_cons,
            cpu_cons,
            f"best of {args.repeat}",
        ),
        row(
            "engine: count_chunk + report, every statistic",
            t_ours,
            cpu_ours,
            f"one chunk, best of {args.repeat}",
        ),
        row(
            f"engine: same in 10 chunks of {chunk:,}, merged",
            t_chunked,
            cpu_chunked,
            "report identical to one chunk",
        ),
        row(
            f"sklearn cohen_kappa_score, {pairs} pairs x {k} classes",
            t_refs["cohen"],
            cpu_refs["cohen"],
            f"{measured}; max abs diff {diffs['cohen']:.1e}",
        ),
        row(
            f"statsmodels aggregate_raters + fleiss_kappa x {k}",
            t_refs["fleiss"],
            cpu_refs["fleiss"],
            f"{measured}; max abs diff {diffs['fleiss']:.1e}",
        ),
        row(
            f"krippendorff.alpha nominal x {k}",
            t_refs["alpha"],
            cpu_refs["alpha"],
            f"{measured}; max abs diff {diffs['alpha']:.1e}",
        ),
        row(
            "reference libraries, total",
            t_ref_total,
            sum(cpu_refs.values()),
            "kappa, Fleiss and alpha only",
        ),
        (
            "speed-up (references / engine)",
            f"{t_ref_total / t_ours:.0f}x",
            f"{sum(cpu_refs.values()) / cpu_ours:.0f}x",
            "target >= 20x (wall time)",
        ),
    ]
    if t_boot is not None:
        rows.append(
            row(
                f"engine: count_chunk + report, bootstrap {args.bootstrap}",
                t_boot,
                cpu_boot,
                "95% CI for every statistic, one run",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"| {'step':<{width}} | wall (s) | CPU (s) | note |")
    print(f"| {'-' * width} | -------: | ------: | ---- |")
    for step, wall, cpu, note in rows:
        print(f"| {step:<{width}} | {wall:>8} | {cpu:>7} | {note} |")
    print()
    print(
        "wall = elapsed time; CPU = process CPU time over all threads (BLAS uses "
        "both cores, so CPU can exceed wall)."
    )


if __name__ == "__main__":
    main()
