"""Settings for ECG Annotator, read from the environment.

Nothing configured gives a working single-machine setup: SQLite under ``var/``,
Celery tasks run inline, signal files on the local disk, ``DEBUG`` off. Each
production concern is switched on by one variable (see the README's table):
``DATABASE_URL`` for PostgreSQL, ``REDIS_URL`` for Celery over Redis,
``SECURE_HTTPS`` for the HTTPS-only cookie and header set.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no variable; anything but a clear boolean is an error."""
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (1/0, true/false), not {raw!r}"
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
DATA_DIR = Path(os.environ.get("ANNOTATOR_DATA_DIR", BASE_DIR / "var")).resolve()


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR.

    A generated key keeps a laptop install working across restarts without
    anyone having to invent a secret; a deployment sets ``SECRET_KEY``.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY = _secret_key()
# The key of exams' pseudonyms in pseudonymous exports (annotator/exports.py).
# Unset, it is derived from SECRET_KEY, so rotating that changes the pseudonyms.
ANNOTATOR_EXAM_PSEUDONYM_KEY = os.environ.get("EXAM_PSEUDONYM_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "annotator",
    "api",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A login attempt per (username, address) at a time, then axes' lockout.
    "annotator.logins.SerialisedLogins",
    "axes.middleware.AxesMiddleware",
]

# Failed logins (django-axes, counted in the database): the admin's login, the
# login page and the token endpoint alike. See annotator/logins.py.
AUTHENTICATION_BACKENDS = [
    "annotator.logins.LoginGuardBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "annotator.logins.LoginGuardHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)  # per (username, address)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked out are refused unread and do not restart the cool-off.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "annotator.logins.locked_out"
# The address is the connection's: a client-sent X-Forwarded-For would let a
# guesser pick a new address per attempt. Behind a proxy, set the proxy's header.
AXES_IPWARE_META_PRECEDENCE_ORDER = tuple(
    os.environ.get("LOGIN_ADDRESS_HEADERS", "REMOTE_ADDR").split(",")
)
AXES_ENABLE_ACCESS_FAILURE_LOG = False  # the attempt rows are the record
ANNOTATOR_LOGIN_ADDRESS_LIMIT = env_int("LOGIN_ADDRESS_LIMIT", 30)
API_TOKEN_HOURS = env_int("API_TOKEN_HOURS", 24 * 7)  # see api/tokens.py

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.app",
            ],
        },
    },
]

# Database: PostgreSQL from DATABASE_URL, else a SQLite file. The SQLite options
# make writers queue for the lock instead of failing with "database is locked".
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", DATA_DIR / "annotator.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # Tests use a file too (one per process), so concurrent tests see the
            # same WAL locking as production rather than shared-cache memory.
            "TEST": {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# A set-password link a manager makes for an account works once, and only
# this long (Django's password-reset token).
PASSWORD_RESET_TIMEOUT = env_int("SET_PASSWORD_LINK_HOURS", 72) * 3600

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it to exist
# Media holds signal files and job outputs; it is never served as static files.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if os.environ.get("STORAGE_BUCKET"):
    # S3-compatible object storage for signals and job outputs (django-storages).
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["STORAGE_BUCKET"],
            "endpoint_url": os.environ.get("STORAGE_ENDPOINT_URL") or None,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
WHITENOISE_USE_FINDERS = DEBUG

# HTTPS hardening: on when the site is served over HTTPS (SECURE_HTTPS=1).
SECURE_HTTPS = env_bool("SECURE_HTTPS")
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
if env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Cache (short-lived state): Redis when configured, so every
# gunicorn worker shares it; else per-process memory.
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "annotator",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery is the one job engine, and no job runs inside a web request. Redis when
# REDIS_URL (or CELERY_BROKER_URL) is set; else a broker that needs no server:
# kombu's filesystem transport in DATA_DIR beside the SQLite file, with results
# in files, on which `make demo` starts its worker. CELERY_TASK_ALWAYS_EAGER=1
# runs tasks in the calling process instead (tests that ask for it).
_BROKER = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
CELERY_BROKER_URL = _BROKER or "filesystem://"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Inline tasks behave like a worker's: a failing job is recorded on its Job row
# and does not turn the request that started it into a server error.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = (
    os.environ.get("CELERY_RESULT_BACKEND")
    or _BROKER
    or f"file://{DATA_DIR / 'job-results'}"
)
# Separate deployments (or test runs) sharing one Redis use separate queues.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "annotator")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Redelivery of an unacknowledged task waits for this; it must exceed the time limit.
_VISIBILITY = env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _VISIBILITY,
    # Look for abandoned (unacknowledged, timed-out) tasks every few seconds, not
    # kombu's default of every 100 s, so a dead worker's task comes back promptly.
    "unacked_restore_interval": min(10, max(1, _VISIBILITY // 4)),
    "unacked_restore_throttle": 1,
}
if not _BROKER:
    _QUEUE = DATA_DIR / "job-queue"
    for _folder in (_QUEUE / "messages", _QUEUE / "control", DATA_DIR / "job-results"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        # The worker looks for new messages every 0.2 s (kombu's default is 1 s,
        # a second's wait before every job starts).
        "polling_interval": 0.2,
        "data_folder_in": str(_QUEUE / "messages"),
        "data_folder_out": str(_QUEUE / "messages"),
        "control_folder": str(_QUEUE / "control"),
    }
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
# A start with the broker down fails within a couple of seconds (503), not after
# kombu's default retries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
# Celery beat (docker compose's `beat`): re-queue jobs whose worker died.
CELERY_BEAT_SCHEDULE = {
    "sweep-stalled-jobs": {
        "task": "annotator.tasks.sweep_stalled_jobs_task",
        "schedule": env_int("JOB_SWEEP_SECONDS", 60),
    }
}

REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ECG Annotator API",
    "DESCRIPTION": "Blinded multi-reader labeling of 12-lead ECGs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "AssignmentStatusEnum": "annotator.models.Assignment.Status",
        "JobStatusEnum": "annotator.models.Job.Status",
        "CampaignStatusEnum": "annotator.models.Campaign.Status",
    },
}

# The domain's own knobs.
ANNOTATOR_LEASE_MINUTES = env_int("ANNOTATOR_LEASE_MINUTES", 30)
ANNOTATOR_IMPORT_BATCH = env_int("ANNOTATOR_IMPORT_BATCH", 500)
ANNOTATOR_EXPORT_BATCH = env_int("ANNOTATOR_EXPORT_BATCH", 5000)
# Imports from the browser: where uploads wait for their import job, the most
# one upload may hold, and an optional server folder to import from in place.
ANNOTATOR_UPLOAD_DIR = Path(
    os.environ.get("ANNOTATOR_UPLOAD_DIR", DATA_DIR / "uploads")
).resolve()
ANNOTATOR_UPLOAD_MAX_MB = env_int("ANNOTATOR_UPLOAD_MAX_MB", 4096)
ANNOTATOR_IMPORT_ROOT = os.environ.get("ANNOTATOR_IMPORT_ROOT", "")
ANNOTATOR_MAX_SAMPLES = env_int("ANNOTATOR_MAX_SAMPLES", 24 * 3600 * 1000)
# A running job with no heartbeat for this long has stalled (its worker died);
# the sweep re-queues it, at most ANNOTATOR_JOB_MAX_ATTEMPTS runs in all.
ANNOTATOR_JOB_STALL_SECONDS = env_int("JOB_STALL_SECONDS", 300)
ANNOTATOR_JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # lockouts and repeated failures only
    },
}
