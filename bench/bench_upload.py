"""Upload and import of a CODE-15%-style HDF5 through the browser path, beside
``import_exams`` on the same file, in one run.

    .venv/bin/python bench/bench_upload.py [--exams 5000]

Writes a deterministic file with ``bench_import.make_code15_file`` (5,000 exams
is about 1 GB). Then it measures two runs, each into a fresh SQLite database of
its own (tasks inline, as ``make demo`` runs):

1. ``import_exams`` on the file in a child process: its wall time and peak RSS
   (VmHWM);
2. the browser path: a ``manage.py runserver --noreload`` process, a manager
   logged in over HTTP, and the file posted to ``/imports/`` by ``curl -F``
   (streamed from disk, as a browser sends it). The import job runs inline, in
   the web process, so the request lasts until the exams are stored; its wall
   time runs from the first byte sent to the answer. The web process's peak
   RSS (VmHWM) is read before it stops.

Prints exams/s of both, their ratio (target: the browser path at least 0.8x),
and both peaks (target: flat, the upload never held in memory).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_import import make_code15_file  # noqa: E402

sys.path.insert(0, str(REPO))
from annotator.celery import command as celery_command  # noqa: E402

PASSWORD = "bench-upload-password-7431"
CHILD = """
import json, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from annotator.ingest.importer import import_exams
t0 = time.perf_counter()
summary = import_exams([sys.argv[1]], dataset="bench")
seconds = time.perf_counter() - t0
with open("/proc/self/status") as status:
    hwm = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "imported": summary.imported, "peak_kb": hwm}))
"""
SETUP = f"""
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)  # pages need the manifest
from django.contrib.auth.models import Group, User
manager = User.objects.create_user("bench_manager", password={PASSWORD!r})
manager.groups.add(Group.objects.get_or_create(name="manager")[0])
"""


def env_for(work: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        {
            "ANNOTATOR_DATA_DIR": str(work),
            "DJANGO_SETTINGS_MODULE": "annotator.settings",
            "SECRET_KEY": "bench-upload-" + "x" * 50,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def direct(file: Path, work: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(file)],
        cwd=REPO,
        env=env_for(work),
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(
            int(line.split()[1]) for line in status if line.startswith("VmHWM:")
        )


def curl(*args: str) -> str:
    return subprocess.run(
        ["curl", "-sS", *args], capture_output=True, text=True, check=True, timeout=1800
    ).stdout


def csrf_token(jar: str) -> str:
    text = Path(jar).read_text()
    found = re.search(r"csrftoken\s+(\S+)", text)
    if not found:
        raise RuntimeError(f"no CSRF cookie; the cookie jar holds:\n{text}")
    return found.group(1)


def job_state(database: Path) -> tuple[str, dict | None]:
    """The import job's status and result, read from the SQLite file."""
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT status, result FROM annotator_job WHERE kind = 'import'"
        ).fetchone()
    if row is None:
        return "missing", None
    return row[0], json.loads(row[1]) if row[1] else None


def browser_path(file: Path, work: Path) -> dict:
    env = env_for(work)
    subprocess.run(
        [sys.executable, "-c", SETUP], cwd=REPO, env=env, check=True, timeout=300
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # One worker process (solo pool), so its memory is the job's.
    worker = subprocess.Popen(
        celery_command("worker", "--pool", "solo", "--loglevel", "WARNING"),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    jar = str(work / "cookies")
    try:
        for _ in range(100):
            try:
                curl("-c", jar, f"{base}/login/")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.2)
        token = csrf_token(jar)
        curl(
            "-b", jar, "-c", jar, "-o", "/dev/null",
            "-d", f"csrfmiddlewaretoken={token}&username=bench_manager",
            "-d", f"password={PASSWORD}",
            "-H", f"Referer: {base}/login/",
            f"{base}/login/",
        )  # fmt: skip
        curl("-b", jar, "-c", jar, "-o", "/dev/null", f"{base}/imports/")
        token = csrf_token(jar)
        time.sleep(3)  # the worker ready
        t0 = time.perf_counter()
        curl(
            "-b", jar, "-o", "/dev/null",
            "-H", f"X-CSRFToken: {token}", "-H", f"Referer: {base}/imports/",
            "-F", "action=upload", "-F", "dataset=bench", "-F", "format=code15",
            "-F", f"files=@{file}",
            f"{base}/imports/",
        )  # fmt: skip
        uploaded = time.perf_counter() - t0
        database = work / "annotator.sqlite3"
        status, result = job_state(database)
        while status not in {"succeeded", "failed"}:
            if time.perf_counter() - t0 > 1800:
                raise RuntimeError(f"the import job is still {status}")
            time.sleep(0.2)
            status, result = job_state(database)
        seconds = time.perf_counter() - t0
        web_kb, worker_kb = vm_hwm_kb(server.pid), vm_hwm_kb(worker.pid)
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=60)
    if status != "succeeded":
        raise RuntimeError("the import job failed")
    return {
        "seconds": seconds,
        "uploaded_s": uploaded,
        "imported": result["imported"],
        "peak_kb": max(web_kb, worker_kb),
        "web_kb": web_kb,
        "worker_kb": worker_kb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exams", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        tmp_path = Path(tmp)
        file = tmp_path / "exams_part0.hdf5"
        make_code15_file(file, args.exams)
        size_mb = file.stat().st_size / 2**20
        print(f"{args.exams:,} exams, {size_mb:,.0f} MB; load {os.getloadavg()[0]:.2f}")
        runs = {}
        for name, run in (("import_exams", direct), ("browser upload", browser_path)):
            work = tmp_path / name.replace(" ", "-")
            work.mkdir()
            runs[name] = run(file, work)
            shutil.rmtree(work / "media", ignore_errors=True)
            r = runs[name]
            print(
                f"{name}: {r['imported']:,} exams in {r['seconds']:.1f} s "
                f"({r['imported'] / r['seconds']:,.0f} exams/s), peak RSS "
                f"{r['peak_kb'] / 1024:,.0f} MB",
                flush=True,
            )
        a, b = runs["import_exams"], runs["browser upload"]
        ratio = (b["imported"] / b["seconds"]) / (a["imported"] / a["seconds"])
        print(
            f"browser path: {ratio:.2f}x import_exams' exams/s (target >= 0.8x); "
            f"upload {b['uploaded_s']:.1f} s of {b['seconds']:.1f} s; peak RSS: web "
            f"{b['web_kb'] / 1024:,.0f} MB, worker {b['worker_kb'] / 1024:,.0f} MB, "
            f"import_exams {a['peak_kb'] / 1024:,.0f} MB; file {size_mb:,.0f} MB"
        )


if __name__ == "__main__":
    main()
