"""Benchmark of ``GET /api/jobs/`` when the listed jobs hold multi-MB reports.

It creates a throwaway database (a temporary SQLite file, or with ``--pg URL``
a PostgreSQL database of its own that is dropped at the end), migrates it, and
stores ``--jobs`` succeeded agreement jobs whose ``result`` is one real report
of ``--readers`` readers over the 66 default classes with a bootstrap (every
reader pair has a Cohen's kappa, an interval and maybe a reason, so the report
grows with the square of the readers). It then times the list as a manager
sees it (the first page, through Django's test client: URL routing,
authentication, the query, serialization and JSON rendering), best and median
of ``--repeat`` requests, with the number of queries and whether any of them
selects ``result``; then the dashboard's ``report/`` (the whole report without
its pairs) and ``report/pairs/`` (one class's matrix, read in the database).

    .venv/bin/python bench/bench_job_list.py [--jobs 24] [--readers 30]
        [--repeat 15] [--pg postgres://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def report(codes: list[str], n_readers: int, seed: int = 0) -> dict[str, Any]:
    """A real agreement report of ``n_readers`` readers over ``codes``."""
    from annotator import agreement

    rng = np.random.default_rng(seed)
    prevalence = np.geomspace(0.01, 0.3, len(codes))
    truth = rng.random((400, 1, len(codes))) < prevalence
    flips = rng.random((400, n_readers, len(codes))) < 0.05
    readings = (truth ^ flips).astype(np.int8)
    counts = agreement.count_chunk(
        readings,
        truth[:, 0].astype(np.int8),
        exam_keys=np.arange(len(readings)),
        bootstrap=20,
        seed=seed,
    )
    document = agreement.report(
        counts,
        class_codes=codes,
        reader_names=[f"reader{j:02d}" for j in range(n_readers)],
    )
    return {"campaign": "Bench", "taxonomy": "default 1.1", **document}


def run(args: argparse.Namespace) -> None:
    import django

    sys.path.insert(0, str(REPO))
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings"
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from rest_framework.test import APIClient

    from annotator.models import Campaign, Job
    from annotator.taxonomy import load_default_taxonomy
    from tests import factories

    setup_test_environment()
    call_command("migrate", verbosity=0)
    taxonomy = load_default_taxonomy()
    cast = factories.make_cast()
    campaign = Campaign.objects.create(
        name="Bench", taxonomy=taxonomy, created_by=cast.manager
    )
    document = report(taxonomy.codes(), args.readers)
    size = len(json.dumps(document))
    for i in range(args.jobs):
        job = Job.objects.create(
            kind=Job.Kind.AGREEMENT,
            campaign=campaign,
            params={"bootstrap": 20, "seed": 0, "chunk_size": 50_000},
            created_by=cast.manager,
        )
        job.start()
        job.succeed(result=document, output_key=f"jobs/{i}/agreement.json")
    client = APIClient()
    client.force_authenticate(cast.manager)
    timings, body = [], b""
    for _ in range(args.repeat):
        started = time.perf_counter()
        response = client.get("/api/jobs/")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:500]
        body = response.content
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/jobs/")
    listed = json.loads(body)["results"]
    assert len(listed) == min(args.jobs, 50), len(listed)
    fetches_result = any('"result"' in q["sql"] for q in queries.captured_queries)
    print(f"database            {connection.vendor}")
    print(f"jobs                {args.jobs}, each result {size / 1e6:.2f} MB of JSON")
    print(f"best                {min(timings) * 1000:9.1f} ms")
    print(f"median              {statistics.median(timings) * 1000:9.1f} ms")
    print(f"queries             {len(queries.captured_queries)}")
    print(f"selects result      {fetches_result}")
    print(f"response            {len(body) / 1e3:9.1f} kB")
    code = taxonomy.codes()[0]
    for route in ("report/", f"report/pairs/?code={code}"):
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(f"/api/campaigns/{campaign.pk}/{route}")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:500]
        print(
            f"{route.split('?')[0]:<19} best {min(timings) * 1000:.1f} ms, "
            f"median {statistics.median(timings) * 1000:.1f} ms, "
            f"{len(response.content) / 1e3:.1f} kB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--readers", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--pg", help="PostgreSQL server URL without a database name")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["MEDIA_ROOT"] = str(Path(scratch) / "media")
        os.environ.pop("REDIS_URL", None)
        os.environ.pop("CELERY_BROKER_URL", None)
        if not args.pg:
            os.environ.pop("DATABASE_URL", None)
            os.environ["SQLITE_PATH"] = str(Path(scratch) / "bench.sqlite3")
            run(args)
            return
        import psycopg

        name = f"bench_job_list_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = f"{args.pg}/{name}"
        try:
            run(args)
        finally:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
