"""How many password guesses a login endpoint tests, under the attacks that matter.

Counts the guesses that reach the password check (``ModelBackend.authenticate``),
whatever the endpoint answers, in a throwaway PostgreSQL database:

- **one account, one address**: 200 wrong passwords from 8 parallel clients;
- **simultaneous**: 40 wrong passwords for one account released at once;
- **spraying**: 300 usernames, one guess each, from one address;
- **a colleague behind the same address** (a hospital NAT): after 10 wrong
  passwords for one reader, can another reader at that address log in?
- **a user elsewhere**: after 10 wrong passwords for the manager from an
  attacker's address, can the manager log in from their own?

Run it from the checkout to measure (the same script measures an older checkout
when run from there):

    .venv/bin/python bench/bench_logins.py [--db NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "a-long-enough-password-7"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="ecg_bench_logins")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = f"{args.pg}/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("REDIS_URL", None)  # the count must not need a cache
    os.environ["LOG_LEVEL"] = "ERROR"
    import django
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    django.setup()
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    for name in ("manager", "reader1", "reader2", "target", "target2"):
        User.objects.create_user(name, password=PASSWORD)

    tested = [0]
    lock = threading.Lock()
    original = ModelBackend.authenticate

    def counting(self, request, username=None, password=None, **kwargs):
        with lock:
            tested[0] += 1
        return original(self, request, username, password, **kwargs)

    ModelBackend.authenticate = counting

    def login(username: str, password: str, address: str) -> int:
        return (
            Client()
            .post(
                "/api/auth/token/",
                {"username": username, "password": password},
                content_type="application/json",
                REMOTE_ADDR=address,
            )
            .status_code
        )

    def parallel(n_threads: int, work) -> None:
        barrier = threading.Barrier(n_threads)

        def run(i: int) -> None:
            try:
                barrier.wait()
                work(i)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    rows = []

    def measure(name: str, attempts: int, run) -> None:
        tested[0] = 0
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        rows.append((name, attempts, tested[0], seconds))

    measure(
        "one account, one address: 8 clients x 25 guesses",
        200,
        lambda: parallel(
            8, lambda i: [login("target", "guess", "203.0.113.9") for _ in range(25)]
        ),
    )
    measure(
        "simultaneous: 40 guesses released at once",
        40,
        lambda: parallel(40, lambda i: login("target2", "guess", "203.0.113.10")),
    )
    measure(
        "spraying: 300 usernames, one guess each, one address",
        300,
        lambda: [
            login(f"user{i:03d}", "Summer2026!", "198.51.100.3") for i in range(300)
        ],
    )
    for _ in range(10):
        login("reader1", "typo", "10.20.30.40")
    colleague = login("reader2", PASSWORD, "10.20.30.40")
    for _ in range(10):
        login("manager", "guess", "203.0.113.66")
    elsewhere = login("manager", PASSWORD, "10.0.0.5")

    print("| attack | guesses sent | reached the password check | seconds |")
    print("|---|---:|---:|---:|")
    for name, attempts, reached, seconds in rows:
        print(f"| {name} | {attempts} | {reached} | {seconds:.1f} |")
    print()
    print(f"colleague behind the same address after 10 typos: HTTP {colleague}")
    print(
        f"manager from their own address after 10 guesses elsewhere: HTTP {elsewhere}"
    )
    connection.close()
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
