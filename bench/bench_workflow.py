"""Load benchmark of the labeling workflow: readers claim and submit over HTTP.

For each table size (a small one and a large one, in the same run) it:

1. drops and recreates a throwaway PostgreSQL database, migrates it and seeds
   N exams (metadata rows only, no signal files) with ``COPY``, one campaign
   over all of them (two readers per exam) and the reader accounts with tokens;
2. starts gunicorn on a free 127.0.0.1 port against that database;
3. runs N virtual readers (asyncio + aiohttp), each looping
   ``POST /api/campaigns/{id}/next/`` → ``POST /api/assignments/{id}/decision/``
   for a warm-up and then a measured window: first flat out (no think time,
   which measures capacity; with 50 readers in a closed loop the cycle time is
   then 50 / throughput by Little's law), then paced to ``--rate`` cycles/s
   (which measures latency at that load; a cycle counts from its scheduled
   start, so falling behind shows);
4. checks the workflow invariants in SQL after each run: no exam over its
   overlap, no reader twice on an exam, one decision and one revision per
   submitted read, counters equal to the real counts, consensus states
   settled; then resets the campaign for the next run;
5. prints one table row per run: exams in the database, cycles/s, p50/p99 of
   the claim, the submit and the whole cycle, errors, double claims, and the
   CPU each part used per cycle (from /proc).

The load generator runs on the same machine as gunicorn and PostgreSQL and
shares its cores, as does anything else running there: the last columns say
how the machine's CPU was split, and what throughput the measured CPU per
cycle would allow if gunicorn, PostgreSQL and the client had the cores alone.

    .venv/bin/python bench/bench_workflow.py [--exams 1000000] [--small 10000]
        [--readers 50] [--seconds 60] [--rate R[,R…]] [--workers N[,N…]]
        [--threads N[,N…]] [--worker-class auto|sync|gthread]

Loopback only, bounded in time (every request has a timeout, gunicorn is
stopped on exit and on error) and the throwaway database is dropped at the end
unless ``--keep-db`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432"
DB_DEFAULT = "ecg_bench_workflow"
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
# (labels, weight): mostly sinus rhythm, some findings, and a few reads that
# disagree with the other reader so settling also reaches adjudication.
LABEL_MIX: list[tuple[list[str], int]] = [
    (["SR"], 70),
    (["SR", "1dAVb"], 8),
    (["SR", "RBBB"], 6),
    (["AF"], 5),
    (["SB"], 4),
    (["ST", "LVH"], 3),
    (["NORM", "SR"], 4),
]
REQUEST_TIMEOUT_S = 30.0
sys.path.insert(0, str(REPO))


# --- Command line ------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    """``"2,3"`` → ``[2, 3]``: several values sweep the gunicorn configuration."""
    return [int(part) for part in text.split(",") if part.strip()]


def float_list(text: str) -> list[float]:
    """``"50,150"`` → ``[50.0, 150.0]``; zeros are dropped."""
    return [float(part) for part in text.split(",") if part.strip() and float(part)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exams", type=int, default=1_000_000, help="large table")
    parser.add_argument(
        "--small", type=int, default=10_000, help="small table (0 to skip)"
    )
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument(
        "--rate",
        type=float_list,
        default=[150.0],
        help="after the flat-out run, runs paced to these many cycles/s (0: none)",
    )
    parser.add_argument(
        "--workers", type=int_list, default=[4], help="gunicorn workers (list: sweep)"
    )
    parser.add_argument(
        "--threads",
        type=int_list,
        # Sync workers by default: each request is a new connection taken by
        # whichever worker is free. gthread keeps connections alive but pins
        # each to one worker, and with 50 readers some workers queue while
        # others idle (see bench/RESULTS.md).
        default=[1],
        help="threads per worker (list: sweep); 1 means sync workers",
    )
    parser.add_argument(
        "--worker-class",
        choices=["auto", "sync", "gthread"],
        default="auto",
        help="auto: sync for 1 thread (no keep-alive), else gthread",
    )
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", PG_DEFAULT))
    parser.add_argument("--db", default=DB_DEFAULT, help="throwaway database name")
    parser.add_argument("--keep-db", action="store_true", help="do not drop it")
    parser.add_argument(
        "--no-explain", action="store_true", help="skip EXPLAIN of the claim"
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


# --- Database ----------------------------------------------------------------------


def admin_connect(pg: str) -> Any:
    import psycopg

    return psycopg.connect(f"{pg}/postgres", autocommit=True)


def recreate_database(pg: str, name: str) -> None:
    """Drop and create the throwaway database (WITH FORCE ends old sessions)."""
    from django.db import connections

    connections.close_all()
    with admin_connect(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(pg: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connect(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def exam_rows(n: int, seed: int) -> Iterator[bytes]:
    """COPY text lines of synthetic exams, in chunks; no field needs escaping."""
    rng = random.Random(seed)
    leads = json.dumps(LEADS)
    statements = ['["SR"]', '["SR", "LVH"]', '["AF"]', '["SB"]', "[]"]
    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    chunk: list[str] = []
    for i in range(1, n + 1):
        digest = hashlib.sha256(f"bench/{i}".encode()).hexdigest()
        age = rng.randint(18, 90) if rng.random() < 0.95 else None
        fs, samples = (500.0, 5000) if rng.random() < 0.8 else (400.0, 4096)
        hr = rng.randint(45, 130)
        chunk.append(
            "\t".join(
                (
                    "bench",  # dataset
                    f"B{i:08d}",  # exam_id
                    digest[:16],  # patient_pseudonym
                    r"\N" if age is None else str(age),
                    rng.choice("FMU"),
                    "2020-01-01 00:00:00+00",  # acquired_at
                    str(fs),
                    str(samples),
                    leads,
                    f"signals/bench/{digest}.npy",
                    "int16",
                    "4.88",
                    digest,
                    "npy",
                    rng.choice(statements),
                    f'{{"hr": {hr}, "qrs": {rng.randint(70, 150)}}}',
                    "[]",
                    now,
                )
            )
        )
        if len(chunk) >= 20_000:
            yield ("\n".join(chunk) + "\n").encode()
            chunk.clear()
    if chunk:
        yield ("\n".join(chunk) + "\n").encode()


@dataclass
class Seeded:
    campaign_id: int
    tokens: list[str]
    seconds: float


def seed(n_exams: int, n_readers: int, seed_value: int) -> Seeded:
    """Exams by COPY, the campaign's links by INSERT…SELECT, readers with tokens."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotator import services
    from annotator.taxonomy import load_default_taxonomy

    started = time.perf_counter()
    columns = (
        "dataset, exam_id, patient_pseudonym, age, sex, acquired_at, sampling_rate, "
        "n_samples, lead_names, signal_key, signal_dtype, signal_gain, "
        "signal_sha256, source_format, machine_statements, measurements, notes, "
        "imported_at"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        with raw.copy(f"COPY annotator_exam ({columns}) FROM STDIN") as copy:
            for block in exam_rows(n_exams, seed_value):
                copy.write(block)
    readers = User.objects.bulk_create(
        User(username=f"bench_reader_{i:03d}", password=make_password(None))
        for i in range(n_readers)
    )
    group = Group.objects.get(name="reader")
    group.user_set.add(*readers)
    tokens = Token.objects.bulk_create(
        Token(key=Token.generate_key(), user=u) for u in readers
    )
    campaign = services.create_campaign(
        name="Bench workflow",
        taxonomy=load_default_taxonomy(),
        exams=[],
        readers=readers,
        readers_per_exam=2,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO annotator_campaignexam (campaign_id, exam_id, n_assigned, "
            "is_open, n_submitted, consensus_state, consensus_labels, "
            "disagreeing_classes) SELECT %s, id, 0, true, 0, 'pending', NULL, "
            "'[]'::jsonb FROM annotator_exam ORDER BY id",
            [campaign.pk],
        )
        cursor.execute("VACUUM ANALYZE")
    # The links went in by SQL, past the services: count them once.
    services.recount_progress(campaign)
    return Seeded(campaign.pk, [t.key for t in tokens], time.perf_counter() - started)


def reset_workflow(campaign_id: int) -> None:
    """Forget every read so the next configuration starts from a fresh campaign."""
    from django.db import connection

    from annotator import services
    from annotator.models import Campaign, CampaignReader

    with connection.cursor() as cursor:
        # TRUNCATE, not DELETE: the history guard refuses row deletes by design.
        cursor.execute(
            "TRUNCATE annotator_labelrevision, annotator_decision, annotator_assignment"
        )
        cursor.execute(
            "UPDATE annotator_campaignexam SET n_assigned = 0, n_submitted = 0, "
            "is_open = true, consensus_state = 'pending', consensus_labels = NULL, "
            "disagreeing_classes = '[]'::jsonb WHERE campaign_id = %s AND "
            "(n_assigned > 0 OR NOT is_open OR consensus_state <> 'pending')",
            [campaign_id],
        )
        cursor.execute("VACUUM ANALYZE")
    CampaignReader.objects.filter(campaign_id=campaign_id).update(
        n_submitted=0, cursor=0
    )
    services.recount_progress(Campaign.objects.get(pk=campaign_id))


INVARIANTS = {
    # name: (SQL counting violations, counts as a double claim)
    "progress counters that differ from a count of the rows": (
        """SELECT count(*) FROM annotator_campaign c WHERE c.id = %(c)s AND (
               c.n_reads_submitted <> (SELECT count(*) FROM annotator_assignment a
                   WHERE a.campaign_id = c.id AND a.status = 'submitted')
            OR c.n_claims_open <> (SELECT count(*) FROM annotator_assignment a
                   WHERE a.campaign_id = c.id AND a.status = 'claimed'))""",
        False,
    ),
    "exams over the overlap": (
        """SELECT count(*) FROM (SELECT exam_id FROM annotator_assignment
           WHERE campaign_id = %(c)s AND status IN ('claimed', 'submitted')
           GROUP BY exam_id HAVING count(*) > %(k)s) t""",
        True,
    ),
    "exams with more assignment rows than the overlap": (
        """SELECT count(*) FROM (SELECT exam_id FROM annotator_assignment
           WHERE campaign_id = %(c)s GROUP BY exam_id HAVING count(*) > %(k)s) t""",
        True,
    ),
    "(campaign, exam, reader) duplicates": (
        """SELECT count(*) FROM (SELECT 1 FROM annotator_assignment
           WHERE campaign_id = %(c)s GROUP BY exam_id, reader_id
           HAVING count(*) > 1) t""",
        True,
    ),
    "submitted reads without exactly one decision": (
        """SELECT count(*) FROM annotator_assignment a
           WHERE a.campaign_id = %(c)s AND a.status = 'submitted'
           AND (SELECT count(*) FROM annotator_decision d
                WHERE d.assignment_id = a.id) <> 1""",
        False,
    ),
    "decisions on unsubmitted assignments": (
        """SELECT count(*) FROM annotator_decision d
           JOIN annotator_assignment a ON a.id = d.assignment_id
           WHERE a.campaign_id = %(c)s AND a.status <> 'submitted'""",
        False,
    ),
    "decisions without exactly one revision (v1)": (
        """SELECT count(*) FROM annotator_decision d
           WHERE d.version <> 1 OR (SELECT count(*) FROM annotator_labelrevision r
                WHERE r.decision_id = d.id AND r.version = 1) <> 1""",
        False,
    ),
    "counters unequal to the real counts": (
        """SELECT count(*) FROM annotator_campaignexam ce
           LEFT JOIN (SELECT exam_id,
                 count(*) FILTER (WHERE status IN ('claimed', 'submitted')) AS a,
                 count(*) FILTER (WHERE status = 'submitted') AS s
               FROM annotator_assignment WHERE campaign_id = %(c)s
               GROUP BY exam_id) x ON x.exam_id = ce.exam_id
           WHERE ce.campaign_id = %(c)s AND (ce.n_assigned <> coalesce(x.a, 0)
             OR ce.n_submitted <> coalesce(x.s, 0)
             OR ce.is_open <> (ce.n_assigned < %(k)s))""",
        False,
    ),
    "consensus state inconsistent with the reads": (
        """SELECT count(*) FROM annotator_campaignexam
           WHERE campaign_id = %(c)s AND n_assigned > 0
           AND ((n_submitted < %(k)s) <> (consensus_state = 'pending'))""",
        False,
    ),
}


def check_invariants(campaign_id: int, overlap: int = 2) -> dict[str, int]:
    from django.db import connection

    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for name, (sql, _) in INVARIANTS.items():
            cursor.execute(sql, {"c": campaign_id, "k": overlap})
            found[name] = cursor.fetchone()[0]
    return found


def explain_claim(campaign_id: int) -> str:
    """EXPLAIN ANALYZE the candidate query a claim runs, as the service issues it.

    The claim runs for real inside a transaction that is rolled back, with its
    SQL captured, so the plan shown is that of the code under test.
    """
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from annotator import services
    from annotator.models import Campaign

    campaign = Campaign.objects.get(pk=campaign_id)
    reader = User.objects.filter(username__startswith="bench_reader_").first()
    plans: list[str] = []
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            services.claim_next(campaign=campaign, reader=reader)
        with connection.cursor() as cursor:
            for query in queries.captured_queries:
                sql = query["sql"]
                if "annotator_campaignexam" in sql and sql.lstrip().startswith(
                    ("SELECT", "WITH")
                ):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                    plans.append("\n".join(row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)
    return "\n\n".join(plans) or "(no claim query captured)"


# --- Gunicorn ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        """TERM the master (it stops its workers); KILL the group if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        return ""


def start_gunicorn(
    database_url: str,
    workers: int,
    threads: int,
    log_dir: Path,
    worker_class: str = "auto",
) -> Server:
    if worker_class == "auto":
        worker_class = "gthread" if threads > 1 else "sync"
    port = free_port()
    log = log_dir / f"gunicorn-{workers}x{threads}-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        # Persistent connections for the whole run: a reconnect per request would
        # measure connection setup, and backends outliving the window keep the
        # /proc CPU accounting whole.
        "DB_CONN_MAX_AGE": "600",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "x" * 50),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "annotator.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        worker_class,
        "--backlog",
        "512",
        "--keep-alive",
        "10",
        "--timeout",
        "60",
    ]
    with log.open("w") as handle:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so a stuck worker can be killed
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/health/", timeout=2) as r:  # noqa: S310 - our own loopback URL
                if r.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer in 60 s:\n{server.log_tail()}")


# --- CPU accounting from /proc -----------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, utime+stime ticks) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return comm, int(fields[1]), int(fields[11]) + int(fields[12])


def _is_our_postgres(pid: int, database: str) -> bool:
    """A backend of our database or a shared server process (WAL writer…);
    other databases' backends (someone else's tests) count as "other"."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    is_backend = "(" in title or "[local]" in title
    return not is_backend or f" {database} " in title


def cpu_snapshot(gunicorn_pid: int, database: str) -> dict[str, float]:
    """CPU seconds used so far by gunicorn (master and workers), PostgreSQL (our
    database's backends and the server's own processes) and this process, and
    the machine's busy and total seconds."""
    out = {"gunicorn": 0.0, "postgres": 0.0, "client": 0.0, "busy": 0.0, "all": 0.0}
    procs: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            procs[int(entry.name)] = stat
    for pid, (comm, ppid, ticks) in procs.items():
        if pid == gunicorn_pid or ppid == gunicorn_pid:
            out["gunicorn"] += ticks / TICK
        elif comm == "postgres" and _is_our_postgres(pid, database):
            out["postgres"] += ticks / TICK
        elif pid == os.getpid():
            out["client"] += ticks / TICK
    with contextlib.suppress(OSError):
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in cpu[:8]]
        idle = values[3] + values[4]  # idle + iowait
        out["all"] = sum(values) / TICK
        out["busy"] = (sum(values) - idle) / TICK
    return out


def cpu_split(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Share of the machine (100 % = all cores) used by each part in between."""
    total = after["all"] - before["all"]
    if total <= 0:
        return {}
    split = {
        key: 100.0 * (after[key] - before[key]) / total
        for key in ("gunicorn", "postgres", "client", "busy")
    }
    # Whatever else ran meanwhile (other jobs on a shared machine) shows up here.
    split["other"] = max(
        0.0, split["busy"] - split["gunicorn"] - split["postgres"] - split["client"]
    )
    split["idle"] = 100.0 - split["busy"]
    return split


# --- Load generator ----------------------------------------------------------------


@dataclass
class Stats:
    claim_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    cycle_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    exhausted: int = 0
    # Client-side view of who got which exam, checked for double claims too.
    holders_of: dict[int, dict[int, int]] = field(default_factory=dict)
    client_double: int = 0

    def error(self, kind: str, detail: str, measuring: bool) -> None:
        if measuring:
            self.errors[kind] += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{kind}: {detail[:300]}")


async def reader_loop(
    session: Any,
    base: str,
    campaign_id: int,
    reader_no: int,
    token: str,
    window: tuple[float, float],
    stats: Stats,
    rng: random.Random,
    period: float,
) -> None:
    """Claim → submit until the window closes; the cycle in flight completes.

    With ``period`` 0 the reader starts its next cycle at once (the server's
    capacity is measured). Otherwise cycles are scheduled every ``period``
    seconds from a random phase, and a cycle's latency counts from its
    scheduled start, so time spent waiting behind a late cycle is not hidden.
    """
    import aiohttp

    headers = {"Authorization": f"Token {token}"}
    next_url = f"{base}/api/campaigns/{campaign_id}/next/"
    labels_pool = [labels for labels, _ in LABEL_MIX]
    weights = [w for _, w in LABEL_MIX]
    start, end = window
    scheduled = time.perf_counter() + rng.random() * period
    while time.perf_counter() < end:
        if period:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t_start = scheduled
            scheduled += period
        t0 = time.perf_counter()
        if not period:
            t_start = t0
        measuring = t_start >= start
        try:
            async with session.post(next_url, headers=headers) as response:
                body = await response.read()
                status = response.status
            t1 = time.perf_counter()
            if status == 204:
                stats.exhausted += 1
                return
            if status != 200:
                stats.error(
                    f"claim HTTP {status}", body.decode(errors="replace"), measuring
                )
                await asyncio.sleep(0.05)
                continue
            claim = json.loads(body)
            assignment = claim["assignment"]
            # exam → reader → assignment: the same claim handed back is fine, a
            # second assignment for a reader or a third reader is a double claim.
            holders = stats.holders_of.setdefault(claim["exam"]["id"], {})
            if holders.get(reader_no, assignment) != assignment or (
                reader_no not in holders and len(holders) >= 2
            ):
                stats.client_double += 1
            holders[reader_no] = assignment
            decision = {
                "labels": rng.choices(labels_pool, weights)[0],
                "duration_ms": rng.randint(2_000, 90_000),
            }
            if rng.random() < 0.02:
                decision["quality"] = ["noise"]
            async with session.post(
                f"{base}/api/assignments/{assignment}/decision/",
                headers=headers,
                json=decision,
            ) as response:
                body = await response.read()
                status = response.status
            t2 = time.perf_counter()
            if status != 201:
                stats.error(
                    f"submit HTTP {status}", body.decode(errors="replace"), measuring
                )
                continue
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            stats.error(type(exc).__name__, repr(exc), measuring)
            await asyncio.sleep(0.05)
            continue
        if measuring and t2 <= end:
            stats.claim_ms.append(1000 * (t1 - t0))
            stats.submit_ms.append(1000 * (t2 - t1))
            stats.cycle_ms.append(1000 * (t2 - t_start))


async def run_load(
    base: str,
    campaign_id: int,
    tokens: list[str],
    warmup: float,
    seconds: float,
    seed_value: int,
    on_measure: Any,
    rate: float = 0.0,
) -> Stats:
    """All readers at once; ``rate`` > 0 paces them to that many cycles/s."""
    import aiohttp

    stats = Stats()
    now = time.perf_counter()
    window = (now + warmup, now + warmup + seconds)
    connector = aiohttp.TCPConnector(limit=len(tokens) + 5)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def mark() -> None:
            await asyncio.sleep(warmup)
            on_measure("start")
            await asyncio.sleep(seconds)
            on_measure("end")

        marker = asyncio.create_task(mark())
        await asyncio.gather(
            *(
                reader_loop(
                    session,
                    base,
                    campaign_id,
                    i,
                    token,
                    window,
                    stats,
                    random.Random(seed_value * 1000 + i),
                    len(tokens) / rate if rate else 0.0,
                )
                for i, token in enumerate(tokens)
            )
        )
        await marker
    return stats


# --- Report ------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Row:
    exams: int
    config: str
    load: str
    cycles_per_s: float
    claim: tuple[float, float]
    submit: tuple[float, float]
    cycle: tuple[float, float]
    errors: int
    double_claims: int
    other_violations: int
    cpu: dict[str, float]  # % of the machine, see cpu_split
    cpu_ms: dict[str, float]  # CPU milliseconds per measured cycle


HEADER = (
    "| exams in DB | gunicorn | load | cycles/s | claim p50 / p99 ms "
    "| submit p50 / p99 ms | cycle p50 / p99 ms | errors | double claims "
    "| other invariant violations "
    "| CPU ms per cycle: gunicorn + PostgreSQL + client (cycles/s if alone) "
    "| machine CPU %: ours / others / idle |"
)


def format_row(row: Row) -> str:
    cpu, ms = row.cpu, row.cpu_ms
    ms_text = "n/a"
    if ms:
        total = ms["gunicorn"] + ms["postgres"] + ms["client"]
        alone = (os.cpu_count() or 1) * 1000 / total if total else float("nan")
        ms_text = (
            f"{ms['gunicorn']:.1f} + {ms['postgres']:.1f} + {ms['client']:.1f} "
            f"= {total:.1f} (≈ {alone:.0f})"
        )
    share_text = (
        f"{cpu['gunicorn'] + cpu['postgres'] + cpu['client']:.0f} / "
        f"{cpu['other']:.0f} / {cpu['idle']:.0f}"
        if cpu
        else "n/a"
    )
    return (
        f"| {row.exams:,} | {row.config} | {row.load} | {row.cycles_per_s:.0f} "
        f"| {row.claim[0]:.1f} / {row.claim[1]:.1f} "
        f"| {row.submit[0]:.1f} / {row.submit[1]:.1f} "
        f"| {row.cycle[0]:.1f} / {row.cycle[1]:.1f} "
        f"| {row.errors} | {row.double_claims} | {row.other_violations} "
        f"| {ms_text} | {share_text} |"
    )


def print_table(rows: list[Row]) -> None:
    print()
    print(HEADER)
    print("|" + "---|" * (HEADER.count(" | ") + 1))
    for row in rows:
        print(format_row(row))


# --- Main --------------------------------------------------------------------------


def _snapshot(into: dict[str, Any], pid: int, database: str, mark: str) -> None:
    into[mark] = cpu_snapshot(pid, database)


def measure(
    args: argparse.Namespace,
    server: Server,
    seeded: Seeded,
    n_exams: int,
    config: str,
    rate: float,
) -> Row:
    """One load run against a running server, then the invariants in SQL."""
    snapshots: dict[str, dict[str, float]] = {}
    stats = asyncio.run(
        run_load(
            server.url,
            seeded.campaign_id,
            seeded.tokens,
            args.warmup,
            args.seconds,
            args.seed,
            functools.partial(_snapshot, snapshots, server.process.pid, args.db),
            rate,
        )
    )
    if stats.error_samples:
        print("first errors:\n  " + "\n  ".join(stats.error_samples))
        print("gunicorn log tail:\n" + server.log_tail())
    if stats.exhausted:
        print(
            f"warning: {stats.exhausted} readers ran out of exams; "
            "use a larger --small or a shorter window"
        )
    found = check_invariants(seeded.campaign_id)
    for name, count in found.items():
        if count:
            print(f"INVARIANT VIOLATED: {name}: {count}")
    double = stats.client_double + sum(
        count for name, count in found.items() if INVARIANTS[name][1]
    )
    cycles = len(stats.cycle_ms)
    cpu: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}
    if {"start", "end"} <= snapshots.keys():
        before, after = snapshots["start"], snapshots["end"]
        cpu = cpu_split(before, after)
        if cycles:
            cpu_ms = {
                key: 1000 * (after[key] - before[key]) / cycles
                for key in ("gunicorn", "postgres", "client")
            }
    row = Row(
        exams=n_exams,
        config=config,
        load=f"paced {rate:.0f}/s" if rate else "flat out",
        cycles_per_s=cycles / args.seconds,
        claim=(percentile(stats.claim_ms, 50), percentile(stats.claim_ms, 99)),
        submit=(percentile(stats.submit_ms, 50), percentile(stats.submit_ms, 99)),
        cycle=(percentile(stats.cycle_ms, 50), percentile(stats.cycle_ms, 99)),
        errors=sum(stats.errors.values()),
        double_claims=double,
        other_violations=sum(
            count for name, count in found.items() if not INVARIANTS[name][1]
        ),
        cpu=cpu,
        cpu_ms=cpu_ms,
    )
    print(format_row(row), flush=True)
    return row


def run_size(
    args: argparse.Namespace, n_exams: int, database_url: str, log_dir: Path
) -> list[Row]:
    """Seed one table size; per gunicorn configuration a flat-out run, then one
    paced to each ``--rate``, each from a fresh campaign."""
    recreate_database(args.pg, args.db)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    seeded = seed(n_exams, args.readers, args.seed)
    print(f"seeded {n_exams:,} exams in {seeded.seconds:.1f} s", flush=True)
    rows: list[Row] = []
    explained = args.no_explain
    for workers, threads in itertools.product(args.workers, args.threads):
        kind = args.worker_class
        if kind == "auto":
            kind = "gthread" if threads > 1 else "sync"
        config = f"{workers} {kind} x {threads}t"
        server = start_gunicorn(database_url, workers, threads, log_dir, kind)
        try:
            for rate in (0.0, *args.rate):
                rows.append(measure(args, server, seeded, n_exams, config, rate))
                if not explained:
                    # The plan with the campaign under way, not on a fresh table.
                    plan = explain_claim(seeded.campaign_id)
                    print(f"claim statement plans at {n_exams:,} exams:\n{plan}")
                    explained = True
                reset_workflow(seeded.campaign_id)
        finally:
            server.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database_url = f"{args.pg}/{args.db}"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings"
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
    import django

    django.setup()
    sizes = sorted({n for n in (args.small, args.exams) if n > 0})
    print(
        f"{args.readers} readers, warm-up {args.warmup:.0f} s, measured "
        f"{args.seconds:.0f} s per run; {os.cpu_count()} CPUs shared by gunicorn, "
        "PostgreSQL and this load generator",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as log_dir:
        try:
            for n in sizes:
                rows.extend(run_size(args, n, database_url, Path(log_dir)))
        finally:
            if not args.keep_db:
                drop_database(args.pg, args.db)
    print_table(rows)
    failed = any(r.errors or r.double_claims or r.other_violations for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
