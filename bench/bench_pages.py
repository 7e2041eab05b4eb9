"""What each page and API list costs as a campaign grows: 10 k and 1 M exams, one run.

One PostgreSQL database (``--db``, created and migrated if missing) holds one
campaign per ``--sizes`` entry, side by side. Each campaign is seeded once, in
one transaction, by bulk SQL (``INSERT … SELECT generate_series``) against the
app's tables, and reused by later runs of the bench on the same database:

- exams (metadata rows only, no signal files), 2 readers per exam; the first
  90 % read by both readers, the next 5 % by the first reader only, the last
  5 % not read yet; each reader holds one live claim, and every 2,000th exam of
  the unread tail has a claim whose lease ran out;
- of the exams read twice, 7 % disagree: 0.6 % are adjudicated and 6.4 % wait
  in the adjudication queue (about 57,600 at 1 M exams, so ``?page=996``
  exists); the others are unanimous. Every decision and adjudication has its
  version-1 history row, and the progress counters the app keeps (where this
  version of it has them) are set from the seeded rows;
- 12 finished agreement jobs per campaign whose ``result`` is a report made by
  ``annotator.agreement`` (bootstrap 200) for a program-sized panel of 23, 30
  or 36 readers, 2 per exam: 2.2-5.7 MB of JSON each; the newest is the largest;
- its own cast (``reader1_<size>``, ``reader2_<size>``, ``adjudicator_<size>``),
  so a reader's or an adjudicator's pages hold that campaign only; one
  ``manager`` sees every campaign.

Then each route is requested in process through Django's test ``Client``, as a
browser would (session login, ``Accept-Encoding: gzip``): one warm-up per
size, then ``--runs`` rounds alternating between the sizes; medians per route.
SQL time is the sum over the request's statements, timed around the driver call
by ``connection.execute_wrapper``; wall time is the whole request through the
middleware (gzip included). Bytes are the body before and after gzip.

Deep pages: a list that answers with a ``next`` link carrying ``cursor=`` is
followed ``--hops`` links deep, then, if the cursor's position is a number or
a timestamp, sent straight to the position at the same row as the page-number
request (extrapolated from the hops and checked to return rows); a list with
page numbers is asked ``?page=N``. N is 20,000 for the manager's decisions of
the whole database, and for one campaign 10,000 (a reader's decisions) and 996
(the adjudication queue) at 1 M exams, scaled to other sizes (100 and 10 at
10 k).

The dashboard's latest report is ``GET /api/campaigns/{id}/report/`` where that
route answers 200, else the job list lookup and ``GET /api/jobs/{id}/`` it
made before. For each route whose median SQL time reaches ``--explain-ms``, the
slowest statement of its last request is run again under ``EXPLAIN ANALYZE``
(whose "Execution Time" leaves out sending and decoding the rows, which the
statement time includes: a multi-MB ``result`` costs there, not in the plan).

    .venv/bin/python bench/bench_pages.py [--db ecg_bench_pages]
        [--sizes 10000,1000000] [--runs 10] [--hops 20] [--seed-only] [--reseed]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib import parse

REPO = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432"
DB_DEFAULT = "ecg_bench_pages"
SEED_VERSION = 1
CAMPAIGN_PREFIX = "Bench pages"
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
# (labels, weight out of 100): the first reader's read; a disagreeing second
# read toggles one class of TOGGLES.
LABEL_MIX: list[tuple[list[str], int]] = [
    (["SR"], 50),
    (["NORM", "SR"], 14),
    (["SR", "1dAVb"], 6),
    (["SR", "RBBB"], 5),
    (["AF"], 5),
    (["SB"], 4),
    (["ST"], 3),
    (["SR", "LVH"], 3),
    (["SR", "LAFB"], 2),
    (["SR", "PVC"], 2),
    (["SR", "TAB"], 2),
    (["AF", "LBBB"], 1),
    (["SR", "LVH", "STD"], 1),
    (["PACE"], 1),
    (["SR", "IRBBB"], 1),
]
TOGGLES = ["1dAVb", "LVH", "TAB", "NORM", "PVC", "RBBB", "LAFB"]
PANELS = (23, 30, 36)  # readers in the panels of the stored agreement reports
JOBS_PER_CAMPAIGN = 12
# Deep pages at 1,000,000 exams (page size 50), scaled to other sizes.
DEEP_READER_DECISIONS = 10_000
DEEP_ADJUDICATION = 996
DEEP_MANAGER_DECISIONS = 20_000  # over the whole database
BROWSER_HEADERS = {"accept-encoding": "gzip, deflate, br", "accept": "*/*"}
sys.path.insert(0, str(REPO))


def size_list(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part.strip()})


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", PG_DEFAULT))
    parser.add_argument("--db", default=DB_DEFAULT, help="PostgreSQL database")
    parser.add_argument("--sizes", type=size_list, default=[10_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=10, help="measured rounds")
    parser.add_argument("--hops", type=int, default=20, help="next links followed")
    parser.add_argument(
        "--explain-ms", type=float, default=20.0, help="EXPLAIN routes this slow"
    )
    parser.add_argument("--full-plans", action="store_true", help="print whole plans")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--reseed", action="store_true", help="drop the database first")
    return parser.parse_args(argv)


def tag(n: int) -> str:
    """``10000`` → ``10k``, ``1000000`` → ``1M``: campaign, dataset and user names."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def scaled_page(page_at_1m: int, n: int) -> int:
    return max(1, round(page_at_1m * n / 1_000_000))


# --- Database ----------------------------------------------------------------------


def ensure_database(pg: str, name: str, reseed: bool) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        if reseed:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def sql(statement: str, params: Any = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


class Inserter:
    """``INSERT INTO <model's table> (…) SELECT …`` naming the columns it knows.

    A column the seeder does not set gets the model field's default (or NULL),
    so a field added later does not break the seed; the ones filled that way
    are collected in ``defaulted`` and printed, since a counter among them
    would hold its default rather than the real count. A key written
    ``"?column"`` is set only where the model has that column (fields that
    some versions of the schema have and others not).
    """

    def __init__(self) -> None:
        self.defaulted: dict[str, set[str]] = {}
        self.steps: list[tuple[str, int, float]] = []  # table, rows, seconds

    def __call__(
        self, model: Any, values: dict[str, str], tail: str, params: dict[str, Any]
    ) -> None:
        from django.db import connection
        from django.db.models import NOT_PROVIDED

        table = model._meta.db_table
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        have = {f.column for f in fields}
        values = {
            key.lstrip("?"): expr
            for key, expr in values.items()
            if not key.startswith("?") or key[1:] in have
        }
        unknown = set(values) - have
        if unknown:
            raise RuntimeError(f"{table} has no column {', '.join(sorted(unknown))}")
        params = dict(params)
        columns, exprs = [], []
        for f in fields:
            if f.column in values:
                expr = values[f.column]
            elif f.has_default():
                params[f"_default_{f.column}"] = f.get_db_prep_save(
                    f.get_default(), connection
                )
                expr = f"%(_default_{f.column})s"
                self.defaulted.setdefault(table, set()).add(f.column)
            elif f.null:
                expr = "NULL"
                self.defaulted.setdefault(table, set()).add(f.column)
            elif getattr(f, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
                self.defaulted.setdefault(table, set()).add(f.column)
                continue
            else:
                raise RuntimeError(f"{table}.{f.column} needs a value from the seeder")
            columns.append(f.column)
            exprs.append(expr)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(exprs)} {tail}",
                params,
            )
            rows = cursor.rowcount
        self.steps.append((table, rows, time.perf_counter() - started))


def agreement_reports(codes: list[str]) -> list[dict[str, Any]]:
    """One report per panel size, by the app's own agreement code (bootstrap 200)."""
    import numpy as np

    from annotator import agreement

    rng = np.random.default_rng(0)
    prevalence = np.geomspace(0.0005, 0.3, len(codes))
    reports = []
    for n_readers in PANELS:
        n_exams = 6_000
        truth = rng.random((n_exams, len(codes))) < prevalence
        readings = np.full((n_exams, n_readers, len(codes)), -1, np.int8)
        pairs = np.argsort(rng.random((n_exams, n_readers)), axis=1)[:, :2]
        for j in range(2):
            noise = rng.random((n_exams, len(codes))) < 0.01
            readings[np.arange(n_exams), pairs[:, j]] = truth ^ noise
        names = [f"reader{j + 1:02d}" for j in range(n_readers)]
        counts = agreement.count_chunk(
            readings,
            truth.astype(np.int8),
            exam_keys=np.arange(1, n_exams + 1),
            bootstrap=200,
            seed=0,
        )
        report = agreement.report(counts, class_codes=codes, reader_names=names)
        reports.append({"bootstrap": 200, "seed": 0, **report})
    return reports


@dataclass
class Cast:
    manager: Any
    reader1: Any
    reader2: Any
    adjudicator: Any


def user(username: str, group: str) -> Any:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    account, created = User.objects.get_or_create(
        username=username, defaults={"password": make_password(None)}
    )
    if created:
        account.groups.add(Group.objects.get(name=group))
    return account


def cast_for(n: int) -> Cast:
    t = tag(n).lower()
    return Cast(
        manager=user("manager", "manager"),
        reader1=user(f"reader1_{t}", "reader"),
        reader2=user(f"reader2_{t}", "reader"),
        adjudicator=user(f"adjudicator_{t}", "adjudicator"),
    )


def campaign_name(n: int) -> str:
    return f"{CAMPAIGN_PREFIX} {tag(n)}"


def seed_campaign(n: int, reports: list[dict[str, Any]], insert: Inserter) -> float:
    """Seed one campaign of ``n`` exams in one transaction; returns the seconds."""
    from django.db import DatabaseError, transaction

    from annotator import services
    from annotator.models import (
        Adjudication,
        Assignment,
        Campaign,
        CampaignExam,
        Decision,
        Exam,
        Job,
        LabelRevision,
    )
    from annotator.taxonomy import load_default_taxonomy

    started = time.perf_counter()
    t = tag(n)
    dataset = f"bench_pages_{t.lower()}"
    with transaction.atomic():
        sql("SET LOCAL synchronous_commit TO off")
        sql("SET LOCAL work_mem TO '256MB'")
        # Every row is made from rows already there, so its foreign keys hold
        # by construction; checking the 19 M of a 1 M-exam campaign at COMMIT
        # (Django's are deferred) took longer than the inserts. Replica mode
        # skips those triggers; it needs a superuser, else the checks run.
        with contextlib.suppress(DatabaseError), transaction.atomic():
            sql("SET LOCAL session_replication_role TO replica")
        taxonomy = load_default_taxonomy()
        codes = taxonomy.codes()
        order = {code: i for i, code in enumerate(codes)}
        cast = cast_for(n)
        campaign = services.create_campaign(
            name=campaign_name(n),
            taxonomy=taxonomy,
            exams=[],
            readers=[cast.reader1, cast.reader2],
            adjudicators=[cast.adjudicator],
            readers_per_exam=2,
            created_by=cast.manager,
            description=f"Synthetic campaign of bench/bench_pages.py "
            f"(seed v{SEED_VERSION}, {n:,} exams).",
        )
        # Exams: h is a deterministic per-exam hash that draws every choice.
        insert(
            Exam,
            {
                "dataset": "%(dataset)s",
                "exam_id": "'P' || lpad(g::text, 8, '0')",
                "patient_pseudonym": "substr(md5(%(dataset)s || g), 1, 16)",
                "age": "CASE WHEN h %% 20 = 0 THEN NULL ELSE 18 + h %% 73 END",
                "sex": "(ARRAY['F', 'M', 'U'])[1 + h %% 3]",
                "acquired_at": "timestamptz '2019-01-01' + g * interval '1 minute'",
                "sampling_rate": "CASE WHEN h %% 5 = 0 THEN 400.0 ELSE 500.0 END",
                "n_samples": "CASE WHEN h %% 5 = 0 THEN 4096 ELSE 5000 END",
                "lead_names": "%(leads)s::jsonb",
                "signal_key": "'signals/' || %(dataset)s || '/' || g || '.npy'",
                "signal_dtype": "'int16'",
                "signal_gain": "4.88",
                "signal_sha256": "md5(%(dataset)s || g) || md5(g || %(dataset)s)",
                "source_format": "'npy'",
                "machine_statements": '(ARRAY[\'["SR"]\', \'["SR", "LVH"]\', '
                "'[\"AF\"]', '[\"SB\"]', '[]'])[1 + h %% 5]::jsonb",
                "measurements": "jsonb_build_object('hr', 45 + h %% 85, "
                "'qrs', 70 + h %% 80)",
                "notes": "'[]'::jsonb",
                "imported_at": "now()",
            },
            "FROM (SELECT g, hashint8(g::bigint * 31 + 7)::bigint & 2147483647 AS h "
            "FROM generate_series(1, %(n)s) g) s ORDER BY g",
            {"dataset": dataset, "n": n, "leads": json.dumps(LEADS)},
        )
        # The plan: who read, who holds a claim, who disagrees, per exam.
        n90, n95 = n * 9 // 10, n * 95 // 100
        sql(
            """
            CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
            SELECT i, exam, h, (h / 1000) %% 100 AS k,
                CASE WHEN i <= %(n95)s THEN 'submitted'
                     WHEN i = %(n95)s + 1 THEN 'claimed' END AS s1,
                CASE WHEN i <= %(n90)s THEN 'submitted'
                     WHEN i = %(n90)s + 1 OR (i > %(n95)s + 1 AND i %% 2000 = 0)
                     THEN 'claimed' END AS s2,
                i IN (%(n90)s + 1, %(n95)s + 1) AS live,
                i <= %(n90)s AND h %% 1000 < 70 AS disagree,
                i <= %(n90)s AND h %% 1000 < 6 AS adjudicated
            FROM (SELECT substring(exam_id from 2)::int AS i, id AS exam,
                         hashint8(id::bigint * 17 + 3)::bigint & 2147483647 AS h
                  FROM annotator_exam WHERE dataset = %(dataset)s) e
            """,
            {"n90": n90, "n95": n95, "dataset": dataset},
        )
        sql("CREATE INDEX ON bench_plan (exam)")
        sql("CREATE INDEX ON bench_plan (i)")
        mix = [labels for labels, weight in LABEL_MIX for _ in range(weight)]
        rows = []
        for k, first in enumerate(mix):
            toggled = TOGGLES[k % len(TOGGLES)]
            second = sorted(set(first) ^ {toggled}, key=order.__getitem__)
            first = sorted(first, key=order.__getitem__)
            rows.append({"k": k, "r1": first, "r2": second, "diff": [toggled]})
        sql(
            "CREATE TEMP TABLE bench_labels (k int PRIMARY KEY, r1 jsonb, r2 jsonb, "
            "diff jsonb) ON COMMIT DROP"
        )
        sql(
            "INSERT INTO bench_labels SELECT * FROM "
            "json_to_recordset(%s::json) AS x(k int, r1 jsonb, r2 jsonb, diff jsonb)",
            [json.dumps(rows)],
        )
        sql("ANALYZE bench_plan")
        ids = {
            "campaign": campaign.pk,
            "r1": cast.reader1.pk,
            "r2": cast.reader2.pk,
            "adjudicator": cast.adjudicator.pk,
            "t0": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "lease": campaign.lease_minutes,
        }
        insert(
            CampaignExam,
            {
                "campaign_id": "%(campaign)s",
                "exam_id": "p.exam",
                "n_assigned": "na",
                "is_open": "na < 2",
                "n_submitted": "ns",
                "consensus_state": "CASE WHEN ns < 2 THEN 'pending' "
                "WHEN adjudicated THEN 'adjudicated' "
                "WHEN disagree THEN 'needs_adjudication' ELSE 'unanimous' END",
                "consensus_labels": "CASE WHEN ns = 2 AND (adjudicated OR NOT disagree)"
                " THEN l.r1 END",
                "disagreeing_classes": "CASE WHEN ns = 2 AND disagree THEN l.diff "
                "ELSE '[]'::jsonb END",
            },
            """FROM (SELECT *, (s1 IS NOT NULL)::int + (s2 IS NOT NULL)::int AS na,
                       (s1 IS NOT DISTINCT FROM 'submitted')::int
                       + (s2 IS NOT DISTINCT FROM 'submitted')::int AS ns
                     FROM bench_plan) p
               JOIN bench_labels l ON l.k = p.k ORDER BY p.exam""",
            ids,
        )
        insert(
            Assignment,
            {
                "campaign_id": "%(campaign)s",
                "exam_id": "p.exam",
                "reader_id": "r.reader",
                "status": "r.status",
                "claimed_at": "r.at",
                "lease_expires_at": "CASE WHEN p.live THEN now() + %(lease)s * "
                "interval '1 minute' ELSE r.at + %(lease)s * interval '1 minute' END",
                "submitted_at": "CASE WHEN r.status = 'submitted' THEN r.at + "
                "(2000 + p.h %% 88000) * interval '1 millisecond' END",
            },
            """FROM bench_plan p CROSS JOIN LATERAL (VALUES
                 (1, %(r1)s, p.s1, %(t0)s + p.i * interval '20 seconds'),
                 (2, %(r2)s, p.s2, %(t0)s + p.i * interval '20 seconds'
                                   + interval '7 seconds')
               ) AS r(n, reader, status, at)
               WHERE r.status IS NOT NULL ORDER BY p.i, r.n""",
            ids,
        )
        insert(
            Decision,
            {
                "assignment_id": "a.id",
                "?reader_id": "a.reader_id",
                "labels": "CASE WHEN a.reader_id = %(r1)s OR NOT p.disagree "
                "THEN l.r1 ELSE l.r2 END",
                "quality": "CASE WHEN (p.h / 100000 + a.reader_id) %% 50 = 0 "
                "THEN '[\"noise\"]'::jsonb ELSE '[]'::jsonb END",
                "comment": "CASE WHEN (p.h + a.reader_id) %% 97 = 0 "
                "THEN 'borderline voltage' ELSE '' END",
                "duration_ms": "2000 + p.h %% 88000",
                "version": "1",
                "created_at": "a.submitted_at",
                "updated_at": "a.submitted_at",
            },
            """FROM annotator_assignment a JOIN bench_plan p ON p.exam = a.exam_id
               JOIN bench_labels l ON l.k = p.k
               WHERE a.campaign_id = %(campaign)s AND a.status = 'submitted'
               ORDER BY a.id""",
            ids,
        )
        revision = {
            "version": "1",
            "old_labels": "NULL",
            "old_quality": "NULL",
            "source": "'api'",
        }
        insert(
            LabelRevision,
            {
                **revision,
                "kind": "'decision'",
                "decision_id": "d.id",
                "adjudication_id": "NULL",
                "campaign_id": "a.campaign_id",
                "exam_id": "a.exam_id",
                "actor_id": "a.reader_id",
                "new_labels": "d.labels",
                "new_quality": "d.quality",
                "note": "d.comment",
                "created_at": "d.created_at",
            },
            """FROM annotator_decision d JOIN annotator_assignment a
                 ON a.id = d.assignment_id
               WHERE a.campaign_id = %(campaign)s ORDER BY d.id""",
            ids,
        )
        insert(
            Adjudication,
            {
                "campaign_id": "%(campaign)s",
                "exam_id": "p.exam",
                "adjudicator_id": "%(adjudicator)s",
                "labels": "l.r1",
                "note": "'second read agrees with the first on review'",
                "version": "1",
                "created_at": "%(t0)s + p.i * interval '20 seconds' + interval '1 day'",
                "updated_at": "%(t0)s + p.i * interval '20 seconds' + interval '1 day'",
            },
            """FROM bench_plan p JOIN bench_labels l ON l.k = p.k
               WHERE p.adjudicated ORDER BY p.i""",
            ids,
        )
        insert(
            LabelRevision,
            {
                **revision,
                "kind": "'adjudication'",
                "decision_id": "NULL",
                "adjudication_id": "j.id",
                "campaign_id": "j.campaign_id",
                "exam_id": "j.exam_id",
                "actor_id": "j.adjudicator_id",
                "new_labels": "j.labels",
                "new_quality": "'[]'::jsonb",
                "note": "j.note",
                "created_at": "j.created_at",
            },
            "FROM annotator_adjudication j WHERE j.campaign_id = %(campaign)s "
            "ORDER BY j.id",
            ids,
        )
        lo, hi = sql(
            "SELECT min(exam_id), max(exam_id) FROM annotator_campaignexam "
            "WHERE campaign_id = %s",
            [campaign.pk],
        )[0]
        chunks = [[a, min(a + 49_999, hi)] for a in range(lo, hi + 1, 50_000)]
        now = dt.datetime.now(dt.UTC)
        for j in range(JOBS_PER_CAMPAIGN):
            # Oldest first; the newest job holds the largest report.
            report = reports[-1 - (JOBS_PER_CAMPAIGN - 1 - j) % len(reports)]
            document = {
                "campaign": campaign.name,
                "taxonomy": f"{taxonomy.name} {taxonomy.version}",
                **report,
            }
            params = {
                "bootstrap": 200,
                "seed": 0,
                "chunk_size": 50_000,
                "plan": {
                    "reader_ids": [cast.reader1.pk, cast.reader2.pk],
                    "reader_names": report["readers"],
                    "codes": codes,
                    "chunks": chunks,
                },
            }
            finished = now - dt.timedelta(days=JOBS_PER_CAMPAIGN - j)
            result = json.dumps(document)
            summary = getattr(Job, "summary_of", lambda kind, result: None)
            insert(
                Job,
                {
                    "kind": "'agreement'",
                    "campaign_id": "%(campaign)s",
                    "params": "%(params)s::jsonb",
                    "status": "'succeeded'",
                    "progress": "100",
                    "result": "%(result)s::jsonb",
                    "?summary": "%(summary)s::jsonb",
                    "output_key": "''",
                    "output_sha256": "%(sha256)s",
                    "error": "''",
                    "attempts": "1",
                    "created_by_id": "%(manager)s",
                    "created_at": "%(finished)s - interval '40 seconds'",
                    "started_at": "%(finished)s - interval '38 seconds'",
                    "finished_at": "%(finished)s",
                },
                "",
                {
                    "campaign": campaign.pk,
                    "manager": cast.manager.pk,
                    "params": json.dumps(params),
                    "result": result,
                    "summary": json.dumps(summary("agreement", document)),
                    "sha256": hashlib.sha256(result.encode()).hexdigest(),
                    "finished": finished,
                },
            )
        sql(
            "UPDATE annotator_job SET output_key = 'jobs/' || id || '/agreement.json' "
            "WHERE campaign_id = %s",
            [campaign.pk],
        )
        fill_counters(campaign.pk)
        before_commit = time.perf_counter()
    seconds = time.perf_counter() - started
    steps: dict[str, list[float]] = {}
    for table, rows, took in insert.steps:
        step = steps.setdefault(table, [0, 0.0])
        step[0] += rows
        step[1] += took
    for table, (rows, took) in steps.items():
        print(f"  {table}: {rows:,} rows in {took:.1f} s")
    print(f"  COMMIT {seconds - (before_commit - started):.1f} s")
    insert.steps.clear()
    Campaign.objects.filter(pk=campaign.pk).update(
        description=f"{campaign.description} Seeded in {seconds:.0f} s."
    )
    return seconds


COUNTED_ELSEWHERE = {"n_assigned", "n_submitted"}  # per-exam, set by the seed


def fill_counters(campaign_id: int) -> None:
    """The progress counters this version of the app keeps, from the seeded rows.

    Campaign: ``n_exams``, ``n_reads_submitted``, ``n_claims_open`` and
    ``n_<consensus state>``; its reader rows: ``n_submitted``, ``cursor`` (and
    ``n_claimed``, which earlier versions kept). Each is set only if the model
    has it; any other ``n_…`` field is printed, since it keeps its default.
    """
    from annotator.models import Campaign, CampaignExam

    c = {"c": campaign_id}
    states = dict(
        sql(
            "SELECT consensus_state, count(*) FROM annotator_campaignexam "
            "WHERE campaign_id = %(c)s GROUP BY 1",
            c,
        )
    )
    reads = dict(
        sql(
            "SELECT status, count(*) FROM annotator_assignment "
            "WHERE campaign_id = %(c)s GROUP BY 1",
            c,
        )
    )
    counts = {
        "n_exams": sum(states.values()),
        "n_reads_submitted": reads.get("submitted", 0),
        "n_claims_open": reads.get("claimed", 0),
        **{f"n_{state}": states.get(state, 0) for state in CampaignExam.ConsensusState},
    }
    fields = {f.name for f in Campaign._meta.concrete_fields}
    Campaign.objects.filter(pk=campaign_id).update(
        **{name: value for name, value in counts.items() if name in fields}
    )
    through = Campaign.readers.through
    reader_fields = {f.name for f in through._meta.concrete_fields}
    per_reader = sql(
        "SELECT reader_id, count(*) FILTER (WHERE status = 'claimed'), "
        "count(*) FILTER (WHERE status = 'submitted'), max(exam_id) "
        "FROM annotator_assignment WHERE campaign_id = %(c)s GROUP BY 1",
        c,
    )
    for reader, claimed, submitted, cursor in per_reader:
        row = {"n_claimed": claimed, "n_submitted": submitted, "cursor": cursor}
        through.objects.filter(campaign_id=campaign_id, user_id=reader).update(
            **{name: value for name, value in row.items() if name in reader_fields}
        )
    unknown = sorted(
        f"{model._meta.db_table}.{name}"
        for model, names, known in (
            (Campaign, fields, counts),
            (through, reader_fields, {"n_claimed", "n_submitted", "cursor"}),
        )
        for name in names
        if name.startswith("n_") and name not in known and name not in COUNTED_ELSEWHERE
    )
    if unknown:
        print(f"note: counters the seed does not know keep their default: {unknown}")


def seed(sizes: list[int]) -> dict[int, str]:
    """Seed the sizes not in the database yet; ``{size: how it was seeded}``."""
    from annotator.models import Campaign
    from annotator.taxonomy import load_default_taxonomy

    done: dict[int, str] = {}
    for campaign in Campaign.objects.filter(name__startswith=CAMPAIGN_PREFIX):
        if match := re.search(r"seed v(\d+), ([\d,]+) exams", campaign.description):
            n = int(match[2].replace(",", ""))
            if int(match[1]) != SEED_VERSION:
                raise SystemExit(
                    f"{campaign.name} was seeded by another version of this bench; "
                    "rerun with --reseed"
                )
            took = re.search(r"Seeded in (\d+) s", campaign.description)
            done[n] = f"reused (seeded in {took[1] if took else '?'} s)"
    missing = [n for n in sizes if n not in done]
    if not missing:
        return done
    started = time.perf_counter()
    reports = agreement_reports(load_default_taxonomy().codes())
    print(f"agreement reports computed in {time.perf_counter() - started:.1f} s")
    insert = Inserter()
    for n in missing:
        seconds = seed_campaign(n, reports, insert)
        done[n] = f"seeded in {seconds:.0f} s"
        print(f"{n:,} exams {done[n]}", flush=True)
    started = time.perf_counter()
    sql("VACUUM ANALYZE")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.0f} s")
    for table, columns in sorted(insert.defaulted.items()):
        print(f"note: {table} columns left to the model's default: {sorted(columns)}")
    report_empty_tables()
    return done


def report_empty_tables() -> None:
    """A table the seeder does not know (a new counter table, say) stays empty."""
    from django.apps import apps

    for model in apps.get_app_config("annotator").get_models():
        table = model._meta.db_table
        if not sql(f"SELECT EXISTS (SELECT 1 FROM {table})")[0][0]:  # noqa: S608 - a model's table
            print(f"note: {table} is empty after seeding")


# --- Measuring ---------------------------------------------------------------------


class QueryTimer:
    """``connection.execute_wrapper`` hook: each statement's time and its SQL."""

    def __init__(self) -> None:
        self.statements: list[tuple[float, str, Any, bool]] = []

    def __call__(
        self, execute: Callable, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.statements.append((elapsed, sql, params, many))


@dataclass
class Sample:
    status: int
    sql_ms: float
    queries: int
    wall_ms: float
    body: bytes  # emptied once measured (a report is megabytes)
    body_len: int
    sent: int
    slowest: tuple[float, str, Any, bool] | None

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(client: Any, url: str) -> Sample:
    from django.db import connection

    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        started = time.perf_counter()
        response = client.get(url, headers=BROWSER_HEADERS)
        content = (
            b"".join(response.streaming_content)
            if response.streaming
            else response.content
        )
        wall = time.perf_counter() - started
    body = (
        gzip.decompress(content)
        if response.get("Content-Encoding") == "gzip"
        else content
    )
    return Sample(
        status=response.status_code,
        sql_ms=1000 * sum(s[0] for s in timer.statements),
        queries=len(timer.statements),
        wall_ms=1000 * wall,
        body=body,
        body_len=len(body),
        sent=len(content),
        slowest=max(timer.statements, default=None, key=lambda s: s[0]),
    )


def _cursor_parts(url: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    query = parse.parse_qs(parse.urlsplit(url).query, keep_blank_values=True)
    decoded = base64.b64decode(query["cursor"][0].encode()).decode()
    return query, parse.parse_qs(decoded, keep_blank_values=True)


def _with_position(url: str, position: str) -> str:
    query, tokens = _cursor_parts(url)
    tokens.pop("o", None)  # an offset belongs to the old position
    tokens["p"] = [position]
    encoded = base64.b64encode(parse.urlencode(tokens, doseq=True).encode())
    query["cursor"] = [encoded.decode()]
    parts = parse.urlsplit(url)
    return parts._replace(query=parse.urlencode(query, doseq=True)).geturl()


def _extrapolate(first: str, last: str, fraction: float) -> str | None:
    """The cursor position ``fraction`` of the way from ``first`` on past ``last``."""
    try:
        a, b = int(first), int(last)
        return str(round(a + (b - a) * fraction))
    except ValueError:
        pass
    try:
        a_t, b_t = dt.datetime.fromisoformat(first), dt.datetime.fromisoformat(last)
    except ValueError:
        return None
    return str(a_t + (b_t - a_t) * fraction)


def deep_url(client: Any, url: str, page: int, hops: int) -> tuple[str, str]:
    """The URL of the deep page and how it was reached (see the module docstring)."""
    first = fetch(client, url)
    if first.status != 200:
        return url, f"page 1 answered {first.status}"
    data = first.json()
    next_url = data.get("next") if isinstance(data, dict) else None
    if not next_url or "cursor=" not in next_url:
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}page={page}", f"?page={page:,}"
    size = len(data.get("results", [])) or 1
    links = [next_url]
    for _ in range(hops - 1):
        data = fetch(client, links[-1]).json()
        if not data.get("next"):
            break
        links.append(data["next"])
    hop_url = links[-1]
    how = f"cursor, {len(links)} next links"
    target_row = (page - 1) * size
    p_first = _cursor_parts(links[0])[1].get("p", [None])[0]
    p_last = _cursor_parts(hop_url)[1].get("p", [None])[0]
    if len(links) < 2 or p_first is None or p_last is None:
        return hop_url, how
    fraction = (target_row - size) / (size * (len(links) - 1))
    position = _extrapolate(p_first, p_last, fraction)
    if position is None:
        return hop_url, how
    jumped = _with_position(hop_url, position)
    probe = fetch(client, jumped)
    if probe.status == 200 and probe.json().get("results"):
        return jumped, f"cursor at ≈ row {target_row:,} ({len(links)} links, then p)"
    return hop_url, how + " (deep position gave no rows)"


@dataclass
class Route:
    label: str
    who: str  # "manager", "reader", "adjudicator"
    path: Callable[[Any], str]  # campaign → URL (campaign is None for DB-wide)
    deep_page: Callable[[int], int] | None = None
    resolve: Callable[[Any, Any], tuple[str, str]] | None = None


@dataclass
class Result:
    url: str
    how: str = ""
    samples: list[Sample] = field(default_factory=list)
    error: str = ""

    def median(self, attr: str) -> float:
        values = [getattr(s, attr) for s in self.samples]
        return statistics.median(values) if values else float("nan")


def latest_report(client: Any, campaign: Any) -> tuple[str, str]:
    """The dashboard's report URL: the campaign's report route, else the newest
    succeeded agreement job's detail (found as the dashboard finds it)."""
    url = f"/api/campaigns/{campaign.pk}/report/"
    if fetch(client, url).status == 200:
        return url, "report route"
    lookup = fetch(client, LOOKUP.format(id=campaign.pk))
    results = lookup.json().get("results") if lookup.status == 200 else None
    if not results:
        return url, f"no report route, job lookup answered {lookup.status}"
    return f"/api/jobs/{results[0]['id']}/", "newest agreement job"


LOOKUP = "/api/jobs/?campaign={id}&kind=agreement&status=succeeded&page_size=1"

CAMPAIGN_ROUTES = [
    Route("`/` (home)", "reader", lambda c: "/"),
    Route("`/` (home)", "adjudicator", lambda c: "/"),
    Route("`GET /api/campaigns/`", "reader", lambda c: "/api/campaigns/"),
    Route("`GET /api/campaigns/{id}/`", "manager", lambda c: f"/api/campaigns/{c.pk}/"),
    Route("`GET /api/campaigns/{id}/`", "reader", lambda c: f"/api/campaigns/{c.pk}/"),
    Route("`GET /api/decisions/` page 1", "reader", lambda c: "/api/decisions/"),
    Route(
        "`GET /api/decisions/` deep",
        "reader",
        lambda c: "/api/decisions/",
        deep_page=lambda n: scaled_page(DEEP_READER_DECISIONS, n),
    ),
    Route(
        "`GET /api/campaigns/{id}/adjudication/` page 1",
        "adjudicator",
        lambda c: f"/api/campaigns/{c.pk}/adjudication/",
    ),
    Route(
        "`GET /api/campaigns/{id}/adjudication/` deep",
        "adjudicator",
        lambda c: f"/api/campaigns/{c.pk}/adjudication/",
        deep_page=lambda n: scaled_page(DEEP_ADJUDICATION, n),
    ),
    Route(
        "`/campaigns/{id}/` (dashboard page)",
        "manager",
        lambda c: f"/campaigns/{c.pk}/",
    ),
    Route(
        "`GET /api/jobs/?campaign={id}` (dashboard's job list)",
        "manager",
        lambda c: f"/api/jobs/?campaign={c.pk}",
    ),
    Route(
        "dashboard's latest-report lookup `GET /api/jobs/?campaign={id}&kind=…`",
        "manager",
        lambda c: LOOKUP.format(id=c.pk),
    ),
    Route(
        "dashboard's latest report",
        "manager",
        lambda c: "",
        resolve=latest_report,
    ),
    Route("`GET /api/exams/` page 1", "reader", lambda c: "/api/exams/"),
    Route(
        "`GET /api/exams/?dataset=…` page 1",
        "manager",
        lambda c: f"/api/exams/?dataset=bench_pages_{tag(c.n).lower()}",
    ),
]
DATABASE_ROUTES = [
    Route("`/` (home)", "manager", lambda c: "/"),
    Route("`GET /api/campaigns/`", "manager", lambda c: "/api/campaigns/"),
    Route("`GET /api/decisions/` page 1", "manager", lambda c: "/api/decisions/"),
    Route(
        "`GET /api/decisions/` deep",
        "manager",
        lambda c: "/api/decisions/",
        # 20,000 with the default sizes (1,010,000 exams in the database).
        deep_page=lambda total: max(
            1, round(DEEP_MANAGER_DECISIONS * total / 1_010_000)
        ),
    ),
    Route("`GET /api/jobs/`", "manager", lambda c: "/api/jobs/"),
    Route("`GET /api/exams/` page 1", "manager", lambda c: "/api/exams/"),
]


def clients(sizes: list[int]) -> tuple[dict[tuple[int, str], Any], dict[int, Any]]:
    """A logged-in test client per (size, role), and each size's campaign."""
    from django.test import Client

    from annotator.models import Campaign

    logged: dict[tuple[int, str], Any] = {}
    campaigns: dict[int, Any] = {}
    for n in sizes:
        cast = cast_for(n)
        campaigns[n] = Campaign.objects.get(name=campaign_name(n))
        campaigns[n].n = n
        for role in ("manager", "reader1", "adjudicator"):
            client = Client(raise_request_exception=False)
            client.force_login(getattr(cast, role))
            logged[(n, role.rstrip("1"))] = client
    return logged, campaigns


def run_routes(
    routes: list[Route],
    keys: list[int],
    client_of: Callable[[int, str], Any],
    campaign_of: Callable[[int], Any],
    args: argparse.Namespace,
) -> list[tuple[Route, dict[int, Result]]]:
    """Per route: resolve each key's URL, warm up once, then alternate the keys."""
    table = []
    for route in routes:
        results: dict[int, Result] = {}
        for key in keys:
            client, campaign = client_of(key, route.who), campaign_of(key)
            if route.resolve:
                url, how = route.resolve(client, campaign)
            elif route.deep_page:
                url, how = deep_url(
                    client, route.path(campaign), route.deep_page(key), args.hops
                )
            else:
                url, how = route.path(campaign), ""
            results[key] = Result(url, how)
            warm = fetch(client, url)
            if warm.status != 200:
                results[key].error = f"HTTP {warm.status}: {warm.body[:160]!r}"
        for _ in range(args.runs):
            for key in keys:
                if not results[key].error:
                    sample = fetch(client_of(key, route.who), results[key].url)
                    if sample.status != 200:
                        results[key].error = f"HTTP {sample.status} on a later run"
                    sample.body = b""
                    results[key].samples.append(sample)
        table.append((route, results))
        print(f"measured {route.label} as {route.who}", file=sys.stderr, flush=True)
    return table


# --- Report ------------------------------------------------------------------------


def _num(value: float, digits: int = 1) -> str:
    return "—" if value != value else f"{value:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return "—" if not a or a != a or b != b else f"{b / a:.1f}x"


METRICS = [("SQL ms", "sql_ms"), ("queries", "queries"), ("wall ms", "wall_ms")]


def _cell(result: Result, attr: str) -> str:
    if result.error:
        return result.error.split(":")[0]
    if attr == "bytes":
        body, sent = result.median("body_len"), result.median("sent")
        return f"{body / 1000:,.1f} ({sent / 1000:,.1f})"
    return _num(result.median(attr), 0 if attr == "queries" else 1)


def print_table(
    table: list[tuple[Route, dict[int, Result]]], keys: list[int], names: list[str]
) -> None:
    """One row per route; per metric a column per size, then the largest/smallest
    ratio for the times."""
    many = len(keys) > 1
    head = ["route", "as"]
    for title, _ in [*METRICS, ("KB body (sent)", "bytes")]:
        head += [f"{title} {name}" if many else title for name in names]
        if many and title.endswith(" ms"):
            head.append(f"{title} {names[-1]}/{names[0]}")
    head.append("page")
    print("| " + " | ".join(head) + " |")
    print("|---|---|" + "---:|" * (len(head) - 3) + "---|")
    for route, results in table:
        cells = [route.label, route.who]
        for title, attr in [*METRICS, ("KB body (sent)", "bytes")]:
            cells += [_cell(results[key], attr) for key in keys]
            if many and title.endswith(" ms"):
                first, last = results[keys[0]], results[keys[-1]]
                cells.append(_ratio(first.median(attr), last.median(attr)))
        hows = [(names[i], results[k].how) for i, k in enumerate(keys)]
        if len({how for _, how in hows}) == 1:
            cells.append(hows[0][1])
        else:
            cells.append("; ".join(f"{name}: {how}" for name, how in hows if how))
        print("| " + " | ".join(cells) + " |")
    for route, results in table:
        for key, r in results.items():
            if r.error:
                print(f"error: {route.label} as {route.who} ({key:,}): {r.error}")


def explain(
    tables: list[list[tuple[Route, dict[int, Result]]]],
    names: dict[int, str],
    limit_ms: float,
    full: bool,
) -> None:
    """EXPLAIN ANALYZE the slowest statement of each route's last request.

    "statement ms" is the driver call (execution and fetching the rows);
    "Execution Time" is the server's part of it.
    """
    print(f"\nSlowest statement of each request with median SQL >= {limit_ms:g} ms:\n")
    rows = [row for table in tables for row in table]
    for route, results in rows:
        for key, r in results.items():
            if r.error or not r.samples or r.median("sql_ms") < limit_ms:
                continue
            if r.samples[-1].slowest is None:
                continue
            ms, statement, params, many = r.samples[-1].slowest
            text = " ".join(statement.split())
            if (
                many
                or not re.match(r"(?is)\s*(SELECT|WITH)\b", statement)
                or re.search(r"(?i)\b(UPDATE|INSERT|DELETE)\b", statement)
            ):
                continue
            plan = [
                row[0] for row in sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            ]
            print(
                f"- {route.label} as {route.who}, {names[key]}: statement "
                f"{1000 * ms:.1f} ms of {r.samples[-1].sql_ms:.1f} ms SQL"
            )
            print(f"  `{text[:300]}{' …' if len(text) > 300 else ''}`")
            print("  ```")
            for line in plan if full else key_lines(plan):
                print(f"  {line}")
            print("  ```")


def key_lines(plan: list[str]) -> list[str]:
    """The plan's top node, its largest scans and sorts, and the execution time."""
    nodes = []
    for line in plan:
        if m := re.search(
            r"actual time=[\d.]+\.\.([\d.]+) rows=(\d+) loops=(\d+)", line
        ):
            nodes.append((float(m[1]) * int(m[3]), int(m[2]) * int(m[3]), line.strip()))
    scans = [n for n in nodes if re.search(r"Scan|Sort|Aggregate|Hash Join", n[2])]
    chosen = sorted(scans, key=lambda n: -n[1])[:3]
    lines = [nodes[0][2]] if nodes else []
    lines += [n[2] for n in chosen if n[2] not in lines]
    lines += [
        x.strip() for x in plan if x.startswith(("Execution Time", "Planning Time"))
    ]
    return lines


def header(args: argparse.Namespace, seeded: dict[int, str]) -> None:
    import django

    commit = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"code: {commit}{' (with uncommitted changes)' if dirty else ''}")
    print(
        f"PostgreSQL {sql('SHOW server_version')[0][0]}, database {args.db}; "
        f"Django {django.get_version()}, Python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the start"
    )
    for n, how in sorted(seeded.items()):
        print(f"campaign of {n:,} exams: {how}")
    print(
        f"medians of {args.runs} requests after 1 warm-up, sizes alternating; "
        "SQL ms = sum of statement times (execute_wrapper); wall ms = whole request "
        "in process (test Client, session login, gzip accepted); KB body = JSON/HTML "
        "before gzip, in brackets as sent"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DATABASE_URL"] = f"{args.pg}/{args.db}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings"
    os.environ["DB_CONN_MAX_AGE"] = "600"
    os.environ["DEBUG"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
    os.environ.pop("REDIS_URL", None)
    # Pages need the static manifest (DEBUG off): collected into a folder of
    # the run's own, as a deployment would have it.
    data_dir = tempfile.mkdtemp(prefix="bench-pages-")
    os.environ["ANNOTATOR_DATA_DIR"] = data_dir
    try:
        return run(args, argv)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    ensure_database(args.pg, args.db, args.reseed)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    seeded = seed(args.sizes)
    if args.seed_only:
        for n, how in sorted(seeded.items()):
            print(f"campaign of {n:,} exams: {how}")
        return 0
    call_command("collectstatic", verbosity=0, interactive=False)
    print("    .venv/bin/python bench/bench_pages.py " + " ".join(argv or sys.argv[1:]))
    header(args, seeded)
    sizes = args.sizes
    names = {n: tag(n) for n in sizes}
    logged, campaigns = clients(sizes)
    per_campaign = run_routes(
        CAMPAIGN_ROUTES, sizes, lambda n, who: logged[(n, who)], campaigns.get, args
    )
    total = sum(seeded)
    whole = run_routes(
        DATABASE_ROUTES,
        [total],
        lambda n, who: logged[(sizes[0], who)],
        lambda n: None,
        args,
    )
    print("\nPer campaign (each size's own reader, adjudicator; manager for {id}):\n")
    print_table(per_campaign, sizes, [names[n] for n in sizes])
    print(
        f"\nWhole database, manager ({' + '.join(tag(n) for n in sorted(seeded))} "
        "campaigns):\n"
    )
    print_table(whole, [total], ["all"])
    if args.explain_ms > 0:
        names[total] = "all"
        explain([per_campaign, whole], names, args.explain_ms, args.full_plans)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
