"""Settings come from the environment; production settings pass the deploy check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
    "'eager': settings.CELERY_TASK_ALWAYS_EAGER, 'broker': settings.CELERY_BROKER_URL, "
    "'debug': settings.DEBUG, 'secure': settings.SESSION_COOKIE_SECURE}))"
)
APP_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "DEBUG",
    "SECURE_HTTPS",
    "ALLOWED_HOSTS",
    "STORAGE_BUCKET",
)


def run_settings(tmp_path: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
    clean.update(
        DJANGO_SETTINGS_MODULE="annotator.settings",
        ANNOTATOR_DATA_DIR=str(tmp_path),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(tmp_path: Path, **env: str) -> dict:
    result = run_settings(tmp_path, PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_nothing_configured_means_sqlite_a_file_queue_and_no_debug(tmp_path):
    """No job runs inside a web request, even on the embedded default: tasks
    go to a queue in files beside the SQLite database, for `make demo`'s worker."""
    values = probe(tmp_path)
    assert values == {
        "engine": "django.db.backends.sqlite3",
        "eager": False,
        "broker": "filesystem://",
        "debug": False,
        "secure": False,
    }
    assert (tmp_path / "job-queue" / "messages").is_dir()
    # A generated secret key is kept, readable by its owner only.
    key = tmp_path / "secret_key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"


def test_database_url_selects_postgresql_and_redis_url_selects_workers(tmp_path):
    values = probe(
        tmp_path,
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["eager"] is False
    assert values["broker"] == "redis://127.0.0.1:6379/0"


def test_a_malformed_boolean_is_a_clear_error(tmp_path):
    result = run_settings(tmp_path, PROBE, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = run_settings(
        tmp_path,
        "from django.core.management import execute_from_command_line as run; "
        "run(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-0123456789",
        SECURE_HTTPS="1",
        DEBUG="0",
        ALLOWED_HOSTS="ecg.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def settings_variables() -> set[str]:
    text = (REPO / "annotator" / "settings.py").read_text()
    pattern = (
        r"(?:os\.environ(?:\.get)?[\[(]|env_(?:bool|int|list)\(|env\.db_url\()\"(\w+)\""
    )
    return set(re.findall(pattern, text))


def test_docker_compose_sets_only_variables_the_app_reads():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "migrate"} <= set(services)
    read = settings_variables()
    for name in ("web", "worker", "migrate"):
        environment = services[name]["environment"]
        # A variable a command of the service is told to read by name counts.
        command = " ".join(services[name]["command"])
        told = set(re.findall(r"--password-env (\w+)", command))
        unknown = set(environment) - read - told
        assert not unknown, f"{name} sets variables settings.py never reads: {unknown}"
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(environment)

    # Least privilege: web and worker are not the role that owns the tables.
    def db_user(service: str) -> str:
        return (
            services[service]["environment"]["DATABASE_URL"]
            .split("//")[1]
            .split(":")[0]
        )

    owner = db_user("migrate")
    assert db_user("web") == db_user("worker") == "annotator_app" != owner
    assert "grant_app_role annotator_app" in " ".join(services["migrate"]["command"])
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:3] == ["celery", "-A", "annotator"]
    assert "--appendonly" in services["redis"]["command"]


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL", "SECURE_HTTPS"])
def test_settings_reads_the_documented_variables(name):
    assert name in settings_variables()
    assert name in (REPO / "README.md").read_text()
