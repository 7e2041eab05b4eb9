"""``manage.py make_synthetic N``: create N synthetic exams (demo, load tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.ingest.base import ExamRecord
from annotator.ingest.importer import ImportSummary, import_records
from annotator.synthetic import SyntheticECG, synthetic_batch

SOURCE = "make_synthetic"


def synthetic_records(
    n: int, *, seed: int, fs: float, duration_s: float
) -> Iterator[ExamRecord]:
    """``n`` exams from :func:`synthetic_batch`, with deterministic ages and sexes.

    Exam ids are ``syn-{seed}-{i:06d}``, so running again with the same seed
    stores nothing new. The generated truth becomes the machine statements and
    measurements (rhythm, conduction, class codes; HR, PR, QRS, QT). There is
    no patient id: each exam gets a random pseudonym of its own.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    for i, ecg in enumerate(
        synthetic_batch(n, seed=seed, fs=fs, duration_s=duration_s)
    ):
        yield ExamRecord(
            exam_id=f"syn-{seed}-{i:06d}",
            signal=np.asarray(ecg.signal_uv),
            gain_uv=1.0,
            sampling_rate=ecg.fs,
            lead_names=list(ecg.lead_names),
            source_format="synthetic",
            source=SOURCE,
            age=int(rng.integers(18, 96)),  # above 90 is capped on import
            sex=str(rng.choice(["F", "M"])),
            machine_statements=_statements(ecg),
            measurements=_measurements(ecg),
            notes=["synthetic ECG (dipole model), not a recording"],
        )


def _statements(ecg: SyntheticECG) -> list[str]:
    truth = f"Synthetic: rhythm {ecg.rhythm}"
    if ecg.conduction != "none":
        truth += f", conduction {ecg.conduction}"
    return [truth, "Classes: " + ", ".join(ecg.labels)]


def _measurements(ecg: SyntheticECG) -> dict[str, float]:
    values = {
        "hr_bpm": round(ecg.heart_rate, 1),
        "qrs_ms": round(ecg.qrs_ms),
        "qt_ms": round(ecg.qt_ms),
    }
    if ecg.pr_ms is not None:
        values["pr_ms"] = round(ecg.pr_ms)
    return values


class Command(BaseCommand):
    help = "Create N synthetic 12-lead exams, stored like imported ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("n", type=int, metavar="N")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--dataset", default="synthetic")
        parser.add_argument("--fs", type=float, default=500.0, help="Hz (500).")
        parser.add_argument(
            "--duration", type=float, default=10.0, help="Seconds (10)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        n = options["n"]
        if n < 0 or options["seed"] < 0:
            raise CommandError("N and --seed must not be negative")
        if not (options["fs"] > 0 and options["duration"] > 0):
            raise CommandError("--fs and --duration must be positive")

        def progress(summary: ImportSummary) -> None:
            if options["verbosity"] >= 2:
                self.stderr.write(summary.progress_line())

        try:
            summary = import_records(
                synthetic_records(
                    n,
                    seed=options["seed"],
                    fs=options["fs"],
                    duration_s=options["duration"],
                ),
                dataset=options["dataset"],
                progress=progress,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["verbosity"] >= 1:
            self.stdout.write(summary.as_text())
