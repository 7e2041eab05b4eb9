"""Shared fixtures: isolated storage, the fixed cast of users, service gates.

Tests that need PostgreSQL, Redis with a Celery worker, or Chromium skip with a
message saying how to enable them, unless REQUIRE_SERVICES=1 /
REQUIRE_BROWSER=1 are set (as in CI), where a missing service fails the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from tests import factories

# CI derandomizes property tests so a run is reproducible; locally they explore.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REPO = Path(__file__).resolve().parent.parent
# Real ECG records for tests live beside the repository, never inside it.
SHARED_WFDB = Path(
    os.environ.get("ECG_TEST_DATA", REPO.parent / "shared" / "data" / "wfdb")
)


def _require(flag: str, message: str) -> None:
    if os.environ.get(flag) == "1":
        pytest.fail(f"{message} ({flag}=1 makes this a failure instead of a skip)")
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _inline_without_a_broker() -> Iterator[None]:
    """Without REDIS_URL, the suite asks for tasks inline (the application's
    default sends them to its file-based queue for a worker). With REDIS_URL
    they go to Redis, and tests that need them inline take ``inline_tasks``."""
    from annotator.celery import app

    if os.environ.get("REDIS_URL"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path: Path) -> Path:
    """Every test stores signals and job outputs in its own folder, and starts
    with an empty cache (failed-login counters live there)."""
    from django.core.cache import cache

    cache.clear()
    settings.MEDIA_ROOT = tmp_path / "media"
    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No collectstatic before tests: serve static files without the manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }
    return settings.MEDIA_ROOT


@pytest.fixture
def wfdb_dir() -> Path:
    if not (SHARED_WFDB / "s0010_re.hea").exists():
        pytest.skip(f"real WFDB records not found in {SHARED_WFDB}; set ECG_TEST_DATA")
    return SHARED_WFDB


@pytest.fixture
def postgres() -> None:
    """Skip (or fail under REQUIRE_SERVICES=1) unless the suite runs on PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        _require(
            "REQUIRE_SERVICES",
            "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres",
        )


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    if not url:
        _require(
            "REQUIRE_SERVICES",
            "needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/0",
        )
    return url


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(path):
        _require(
            "REQUIRE_BROWSER", f"needs Chromium at {path}: apt-get install -y chromium"
        )
    return path


@pytest.fixture
def inline_tasks():
    """Run Celery tasks in the test's process even when REDIS_URL is set (as in
    CI): for tests of what a job computes; test_celery_worker covers workers."""
    from annotator.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def browser(chromium_path: str, monkeypatch) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM must
    # still be usable from the test around it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def cast(db) -> factories.Cast:
    """Two readers, an adjudicator, a manager and an outsider."""
    return factories.make_cast()


@pytest.fixture
def taxonomy(db):
    return factories.default_taxonomy()
