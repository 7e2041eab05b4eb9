"""`manage.py demo`: a ready installation with users, exams and a campaign."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from annotator.models import Campaign, Exam

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo_env(monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DEMO_PASSWORD", "a-demo-password-42")
    settings.STATIC_ROOT = tmp_path / "static"


@pytest.mark.django_db
def test_demo_sets_up_users_exams_and_a_campaign_once(demo_env, capsys):
    call_command("demo", no_serve=True, exams=6)
    assert Exam.objects.filter(dataset="synthetic").count() == 6
    sample = Exam.objects.get(dataset="pydicom-sample")
    assert sample.n_samples == 10000 and len(sample.lead_names) == 12
    campaign = Campaign.objects.get(name="Demo campaign")
    assert campaign.exam_links.count() == 7
    assert set(campaign.readers.values_list("username", flat=True)) == {
        "reader1",
        "reader2",
    }
    roles = {
        u.username: set(u.groups.values_list("name", flat=True))
        for u in User.objects.all()
    }
    assert roles == {
        "reader1": {"reader"},
        "reader2": {"reader"},
        "adjudicator": {"adjudicator"},
        "manager": {"manager"},
    }
    client = Client()
    assert client.login(username="reader1", password="a-demo-password-42")
    assert b"Demo campaign" in client.get("/").content

    call_command("demo", no_serve=True, exams=6)  # again: nothing new
    assert Exam.objects.count() == 7 and Campaign.objects.count() == 1
    assert "Demo ready: 7 exams" in capsys.readouterr().out


def test_demo_generates_and_prints_a_password_when_none_is_given(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEMO_PASSWORD", "DATABASE_URL", "REDIS_URL"}
    }
    env["ANNOTATOR_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--exams", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "have the password" in x)
    password = line.rsplit(": ", 1)[1].strip()
    assert len(password) >= 12
    assert (
        "Demo users and their roles: reader1 (reader), reader2 (reader), "
        "adjudicator (adjudicator), manager (manager, superuser)."
    ) in result.stdout
    again = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--exams", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "have the password" not in again.stdout
    assert "passwords are unchanged" in again.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, path: str, body: dict | None = None, token: str = ""):
    """(status, JSON) of one request to the demo server."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    method = "GET" if body is None else "POST"
    data = None if body is None else json.dumps(body)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def background_job_runs(port: int) -> None:
    """No job inside a web request: the start answers 202 with the job queued,
    and the demo's own worker runs it."""
    _, token = call(
        port,
        "/api/auth/token/",
        {"username": "manager", "password": "a-demo-password-42"},
    )
    key = token["token"]
    _, campaigns = call(port, "/api/campaigns/", token=key)
    campaign = campaigns["results"][0]["id"]
    started_at = time.monotonic()
    status, job = call(
        port, f"/api/campaigns/{campaign}/exports/", {"format": "csv"}, token=key
    )
    answered_in = time.monotonic() - started_at
    assert status == 202 and job["status"] == "queued", (job, answered_in)
    deadline = time.monotonic() + 120
    while job["status"] in {"queued", "running"}:
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
        _, job = call(port, f"/api/jobs/{job['id']}/", token=key)
    assert job["status"] == "succeeded", job
    assert job["result"]["rows"] == 0  # nothing read yet: an empty export


def test_demo_serves_the_login_page(tmp_path):
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(ANNOTATOR_DATA_DIR=str(tmp_path), DEMO_PASSWORD="a-demo-password-42")
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "demo",
            "--exams",
            "2",
            "--addr",
            f"127.0.0.1:{port}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/login/", timeout=5
                ) as r:
                    body = r.read().decode()
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the demo server did not answer"
                time.sleep(0.5)
        assert 'name="password"' in body
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/static/frontend/css/app.css", timeout=5
        ) as r:
            assert b"--ink" in r.read()
        background_job_runs(port)
    finally:
        server.terminate()
        server.wait(timeout=30)
