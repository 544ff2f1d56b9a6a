"""Settings for the SQS & SNS Playground.

Every value comes from the environment with a default that runs the playground on a
bare machine (SQLite file + the Redis that `make run` starts). See `.env.example`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def secret_key() -> str:
    """SECRET_KEY, else the key kept in SECRET_KEY_FILE (by default beside the SQLite
    database), made at random the first time. No key is written in the source: one that
    anybody can read would let anybody forge what it signs and open what it seals."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    return read_or_create_key(
        Path(os.environ.get("SECRET_KEY_FILE") or BASE_DIR / ".playground" / "secret_key")
    )


def read_or_create_key(path: Path) -> str:
    """The key in `path`, or a new random one written there (mode 0600). The processes
    that start together race here: the file appears whole, by a hard link, or not at all."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    if path.exists():  # there, but empty: made by hand or cut short, never by this
        raise RuntimeError(f"{path} is empty: delete it to make a new key, or set SECRET_KEY.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        except OSError:  # a file system without hard links: rename, which is atomic too
            if not path.exists():
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path.read_text().strip()


# Off unless asked for (`DEBUG=true make run`, for developers of the playground): its
# error pages show settings and tracebacks to whoever reaches the server, and it keeps
# every query's SQL, large message bodies included, in the web process's memory.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key()
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "*").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.humanize",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "broker",
    "playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "playground.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# Every script and style is a file of ours under /static/: no inline code, no eval
# (htmx's is switched off in base.html), so a message body that slips past escaping
# still cannot run. `'self'` covers the page's own ws:// socket (CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "playground.urls"
ASGI_APPLICATION = "playground.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'playground.sqlite3'}"),
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (Daphne, the Celery worker, the ticker) share the file:
    # WAL lets readers run beside the writer, IMMEDIATE takes the write lock at
    # BEGIN so two receivers queue up instead of deadlocking on lock upgrade.
    # synchronous=FULL: a sent message survives a power cut, not only a crash
    # (about 0.2 ms per commit on this kind of disk).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("PLAYGROUND_TEST_SQLITE")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The image collects static files at build time (hashed names, compressed, cached for
# a year); `make run` serves them from static/ as they are, with no collect step.
STATIC_COLLECTED = env_bool("PLAYGROUND_STATIC_COLLECTED", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_COLLECTED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
STATIC_ROOT = BASE_DIR / "staticfiles" if STATIC_COLLECTED else None
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED

# Server-side sessions: the cookie is a random key to a row, so nobody can write a
# session that opens a workspace, whatever they know of the server.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 365

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 500, "expiry": 10},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# Every acks_late task is idempotent (its step is claimed in the database), so when a
# pool process dies mid-task the message goes back to Redis for the next process at
# once, instead of the claim standing until the ticker calls it stale. `run_code` is
# acks_late=False: user code that crashed its process is not run again.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# The local-emulator convention: secret "test" with any access key id.
PLAYGROUND_LOCAL_CREDENTIALS = env_bool("PLAYGROUND_LOCAL_CREDENTIALS", True)
PLAYGROUND_REGION = os.environ.get("PLAYGROUND_REGION", "us-east-1")
# AWS's strict rules (a queue's Policy must let a topic send to it; a deleted queue's
# name waits 60 s; one purge a minute): a new workspace's default, which its page
# switches. Browser workspaces start strict; the test-credential accounts relaxed, as
# other local emulators are, so test suites run fast.
PLAYGROUND_STRICT_WORKSPACES = env_bool("PLAYGROUND_STRICT_WORKSPACES", True)
PLAYGROUND_STRICT_LOCAL_ACCOUNTS = env_bool("PLAYGROUND_STRICT_LOCAL_ACCOUNTS", False)
# A browser's workspace that no page, form, socket or API call has reached for this
# many days is deleted, with everything in it (0: never). Local-convention accounts
# (secret `test`) are kept: they exist only where that convention is on.
PLAYGROUND_WORKSPACE_EXPIRY_DAYS = float(os.environ.get("PLAYGROUND_WORKSPACE_EXPIRY_DAYS", "7"))
# Run the Python code uploaded to a function (in a worker subprocess, no container).
# Anyone who reaches the endpoint can upload code, so by default only single-user
# mode (local credentials on) runs it; a shared deployment simulates functions.
PLAYGROUND_RUN_CODE = env_bool("PLAYGROUND_RUN_CODE", PLAYGROUND_LOCAL_CREDENTIALS)
# Where a function's boto3 calls go (its AWS_ENDPOINT_URL): this server, as the
# workers reach it. `make run` and the test stacks set it to their own port.
PLAYGROUND_ENDPOINT_URL = os.environ.get("PLAYGROUND_ENDPOINT_URL", "http://127.0.0.1:8000")
# Unpacked function zips, one directory per code digest.
PLAYGROUND_CODE_DIR = os.environ.get(
    "PLAYGROUND_CODE_DIR", str(Path(tempfile.gettempdir()) / "playground-lambda-code")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
