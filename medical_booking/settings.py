"""Settings, all read from the environment in this one module.

Embedded default (no variable set): SQLite file + in-memory channel layer, one daphne
process. Production: ``DATABASE_URL`` (PostgreSQL) + ``REDIS_URL`` (channels_redis).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    # A development key: the embedded default must start with no configuration.
    # Production sets SECRET_KEY; check_production_settings refuses to run without it.
    "dev-insecure-medical-booking-key-change-me-in-production-0123456789"
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CORS_ALLOWED_ORIGINS = env_list(
    "CORS_ALLOWED_ORIGINS", ["http://localhost:3000", "http://127.0.0.1:3000"]
)
CORS_ALLOW_ALL_ORIGINS = env_bool("CORS_ALLOW_ALL_ORIGINS", False)
CSRF_TRUSTED_ORIGINS = CORS_ALLOWED_ORIGINS

INSTALLED_APPS = [
    "daphne",  # runserver is daphne too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "rendezvous",
    "messagerie",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "medical_booking.urls"
# A missing slash gets a JSON 404, not an HTML redirect that would drop a POST body.
APPEND_SLASH = False
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
            ]
        },
    }
]
ASGI_APPLICATION = "medical_booking.asgi.application"
WSGI_APPLICATION = None

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
# Request threads (medical_booking/handlers.py): at most REQUEST_THREADS requests run
# Django at once per server process, each on a thread kept for the life of the process;
# more wait their turn on the event loop (never refused). Of those, at most
# AUTH_REQUEST_THREADS hash a password at once (login, sign-up, password reset), so a crowd
# of them leaves the other threads to everyone else.
REQUEST_THREADS = env_int("REQUEST_THREADS", 8)
AUTH_REQUEST_THREADS = env_int("AUTH_REQUEST_THREADS", 2)
# Each request thread keeps its connection (no connect, and on SQLite no PRAGMA
# journal_mode, per request). Database connections per server process are therefore at
# most REQUEST_THREADS + 1: the request threads, plus asgiref's one shared sync thread
# (socket authentication, room checks, replay, the reminder scheduler).
DATABASES = {"default": dj_database_url.parse(
    DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 600), conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the API and a manage.py command write side by side.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The server checkpoints the WAL from a background thread (medical_booking/sqlite_wal.py).
    SQLITE_CHECKPOINT_SECONDS = env_int("SQLITE_CHECKPOINT_SECONDS", 2)
    TEST_SQLITE_NAME = os.environ.get("TEST_SQLITE_NAME")
    if TEST_SQLITE_NAME:
        DATABASES["default"]["TEST"] = {"NAME": TEST_SQLITE_NAME}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Channel capacity: channel layers drop messages silently once a channel is full, so the
# socket bus gets room for a burst far larger than any transaction we commit.
CHANNEL_CAPACITY = env_int("CHANNEL_CAPACITY", 200_000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py >= 8 reads with a 5 s socket timeout by default, the same as
                # channels_redis's 5 s BRPOP: an idle listener then fails every 5 s and
                # resubscribes. Reads must outlast the BRPOP.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": CHANNEL_CAPACITY,
                "expiry": 120,
                "prefix": os.environ.get("CHANNEL_PREFIX", "medical_booking"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": 120},
        }
    }

AUTH_USER_MODEL = "rendezvous.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# PBKDF2-SHA256 iterations; 0 = Django's default (1,000,000 in 5.2, ~0.25 s of CPU here).
PASSWORD_HASH_ITERATIONS = env_int("PASSWORD_HASH_ITERATIONS", 0)
PASSWORD_HASHERS = [
    "medical_booking.hashers.PBKDF2PasswordHasher",  # Django's, with the count above
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
if env_bool("FAST_PASSWORD_HASHER", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "fr-fr"
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "frontend"]  # the web front's assets, under /static/

# Requests larger than this are refused with a JSON 400 before any view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "medical_booking.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "medical_booking.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_TOKEN_CLASSES": ("realtime.auth.RevocableAccessToken",),
    "USER_AUTHENTICATION_RULE": "rest_framework_simplejwt.authentication.default_user_authentication_rule",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Medical booking API",
    "DESCRIPTION": "Cabinets, médecins, créneaux, rendez-vous, messagerie, notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Socket.IO
SOCKETIO_PING_INTERVAL = env_int("SOCKETIO_PING_INTERVAL", 25)
SOCKETIO_PING_TIMEOUT = env_int("SOCKETIO_PING_TIMEOUT", 20)
SOCKETIO_MAX_PAYLOAD = env_int("SOCKETIO_MAX_PAYLOAD", 64 * 1024)
SOCKETIO_MAX_ROOMS_PER_SOCKET = env_int("SOCKETIO_MAX_ROOMS_PER_SOCKET", 100)
# Token bucket for client-sent events: burst, then this many per second.
SOCKETIO_RATE_BURST = env_int("SOCKETIO_RATE_BURST", 30)
SOCKETIO_RATE_PER_SECOND = env_int("SOCKETIO_RATE_PER_SECOND", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Daphne tuning (realtime/daphne_tuning.py, only under daphne): eager socket writes,
# autobahn sendData without per-frame debug formatting, application_checker without a
# tuple per connection. Each can be turned off; none changes the bytes on the wire.
DAPHNE_EAGER_WRITES = env_bool("DAPHNE_EAGER_WRITES", True)
DAPHNE_FAST_WS_SEND = env_bool("DAPHNE_FAST_WS_SEND", True)
DAPHNE_LEAN_APP_CHECKER = env_bool("DAPHNE_LEAN_APP_CHECKER", True)
DAPHNE_SLIM_QUEUES = env_bool("DAPHNE_SLIM_QUEUES", True)
DAPHNE_RELEASE_UPGRADE_REQUEST = env_bool("DAPHNE_RELEASE_UPGRADE_REQUEST", True)
# Engine.IO sockets without a task per socket (realtime/transport.py): direct websocket
# writes under daphne, one heartbeat timer, slim queues. Off: python-engineio's own.
ENGINEIO_LEAN_SOCKETS = env_bool("ENGINEIO_LEAN_SOCKETS", True)

# Full garbage collections in the serving process: every N seconds instead of whenever
# CPython decides (realtime/gc_policy.py); 0 keeps CPython's policy.
GC_FULL_INTERVAL_SECONDS = env_int("GC_FULL_INTERVAL_SECONDS", 300)

# Reminders: the in-server scheduler (on by default) and how often it looks.
REMINDERS_IN_SERVER = env_bool("REMINDERS_IN_SERVER", True)
REMINDER_INTERVAL_SECONDS = env_int("REMINDER_INTERVAL_SECONDS", 30)
# Replay on reconnect (auth.lastEventId): how far back the event log is replayed.
REPLAY_RETENTION_HOURS = env_int("REPLAY_RETENTION_HOURS", 24)
REPLAY_MAX_EVENTS = env_int("REPLAY_MAX_EVENTS", 5000)
