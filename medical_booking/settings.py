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


def env_seconds(name: str, default: float) -> float:
    """A positive duration in seconds: ``<name>_MS`` (whole milliseconds) when set, else
    ``<name>`` (seconds, decimals allowed: ``0.3``), else the default."""
    from django.core.exceptions import ImproperlyConfigured

    millis, seconds = os.environ.get(f"{name}_MS"), os.environ.get(name)
    try:
        value = int(millis) / 1000 if millis else float(seconds) if seconds else float(default)
    except ValueError:
        raise ImproperlyConfigured(f"{name}_MS must be whole milliseconds, {name} seconds "
                                   f"(got {millis if millis else seconds!r})") from None
    if not 0 < value < 10**6:  # also refuses nan and inf
        raise ImproperlyConfigured(f"{name} must be positive (got {value} s)")
    return value


DEBUG = env_bool("DEBUG", False)
# The embedded default must start with no configuration, hence a development key.
DEV_SECRET_KEY = "dev-insecure-medical-booking-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY

# Production mode: Redis, a database other than SQLite, or DJANGO_ENV=production. Anyone
# holding the (public) development key can sign a token for any user, so production
# refuses to load without a real key, and with DEBUG on.
PRODUCTION_REASONS = [reason for reason, on in (
    ("REDIS_URL is set", bool(os.environ.get("REDIS_URL"))),
    ("DATABASE_URL is not SQLite", not (os.environ.get("DATABASE_URL") or "sqlite:").startswith("sqlite")),
    ("DJANGO_ENV=production", os.environ.get("DJANGO_ENV", "").strip().lower() == "production"),
) if on]
PRODUCTION = bool(PRODUCTION_REASONS)


def production_refusal(secret_key: str, debug: bool) -> str | None:
    """Why these settings must not serve production, or None. Key rules: Django's (security.W009)."""
    generate = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(64))'"
    if not os.environ.get("SECRET_KEY"):
        return f"SECRET_KEY must be set in production; {generate}"
    if secret_key == DEV_SECRET_KEY or secret_key.startswith("django-insecure-"):
        return f"SECRET_KEY is a development key, not usable in production; {generate}"
    if len(secret_key) < 50 or len(set(secret_key)) < 5:
        return f"SECRET_KEY is too weak: at least 50 characters, 5 of them distinct; {generate}"
    if debug:
        return "DEBUG must be off in production (unset DEBUG or set DEBUG=false)"
    return None


if PRODUCTION and (refusal := production_refusal(SECRET_KEY, DEBUG)):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"{refusal} [production mode: {', '.join(PRODUCTION_REASONS)}]")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CORS_ALLOWED_ORIGINS = env_list(
    "CORS_ALLOWED_ORIGINS", ["http://localhost:3000", "http://127.0.0.1:3000"]
)
CORS_ALLOW_ALL_ORIGINS = env_bool("CORS_ALLOW_ALL_ORIGINS", False)
CSRF_TRUSTED_ORIGINS = CORS_ALLOWED_ORIGINS

# HTTPS deployments (TLS at daphne or at a load balancer): HSTS, secure cookies, and a
# redirect of plain HTTP. Behind a proxy that terminates TLS, trust its X-Forwarded-Proto
# only when told to (the proxy must overwrite the header), or every request looks insecure.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True  # Django's default, stated: statics get it too (medical_booking/static.py)

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
    "csp",
    "rendezvous",
    "messagerie",
    "realtime",
    "audit",  # access log of personal data (audit.JournalAcces)
    "outbox",  # e-mail and SMS to patients, preferences, calendar subscriptions
    "attente",  # slot holds and the waiting list
]

MIDDLEWARE = [
    # Outermost: times every request (/metrics) and logs one line for it (operations/).
    "operations.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # IP, user agent and request id of this request, for the access log (audit/context.py).
    "audit.context.ContexteRequeteMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Content-Security-Policy on every response (the front, the admin, the API docs, statics):
# scripts and styles from this origin only, never inline. Socket.IO connects to this
# origin ('self' covers ws:/wss: there). Images may be data: URIs (icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

ROOT_URLCONF = "medical_booking.urls"
# A missing slash gets a JSON 404, not an HTML redirect that would drop a POST body.
APPEND_SLASH = False
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "medical_booking" / "templates"],  # the API docs page
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
# Request threads (serving/handlers.py): at most REQUEST_THREADS requests run
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
    # The server checkpoints the WAL from a background thread (serving/sqlite_wal.py).
    SQLITE_CHECKPOINT_SECONDS = env_int("SQLITE_CHECKPOINT_SECONDS", 2)
    TEST_SQLITE_NAME = os.environ.get("TEST_SQLITE_NAME")
    if TEST_SQLITE_NAME:
        DATABASES["default"]["TEST"] = {"NAME": TEST_SQLITE_NAME}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Keys of this deployment on a shared Redis (channel layer and cache).
CHANNEL_PREFIX = os.environ.get("CHANNEL_PREFIX", "medical_booking")
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
                "prefix": CHANNEL_PREFIX,
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

# The cache holds the throttling counters: on Redis they are shared by every process of
# the deployment; embedded, one process, local memory. Short timeouts: throttling fails
# open (medical_booking/throttling.py) rather than hang a request when Redis is away.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{CHANNEL_PREFIX}:cache",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "rendezvous.User"
AUTH_PASSWORD_VALIDATORS = [
    # A password close to the e-mail or the name is refused.
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
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
# Where `collectstatic` writes (nginx serves it: deploy/nginx/medical-booking.conf).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [
    BASE_DIR / "frontend",  # the web front's assets, under /static/
    BASE_DIR / "medical_booking" / "static",  # the API docs page's stylesheet
]

# Requests larger than this are refused with a JSON 400 before any view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, plus the token version check (realtime/auth.py)
        "realtime.auth.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # orjson: invalid Unicode (a lone surrogate), NaN, 1e400 or nesting past 1024 is a 400.
    "DEFAULT_PARSER_CLASSES": ["medical_booking.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "medical_booking.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "medical_booking.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Rates ("N/s|min|hour|day") of medical_booking/throttling.py, counted in the cache
    # (shared by every process on Redis). A 429 carries Retry-After.
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": os.environ.get("THROTTLE_LOGIN_IP", "30/min"),
        "login_email": os.environ.get("THROTTLE_LOGIN_EMAIL", "20/hour"),
        "register": os.environ.get("THROTTLE_REGISTER", "20/hour"),
        "password_reset_ip": os.environ.get("THROTTLE_PASSWORD_RESET_IP", "20/hour"),
        "password_reset_email": os.environ.get("THROTTLE_PASSWORD_RESET_EMAIL", "5/hour"),
        "password_change": os.environ.get("THROTTLE_PASSWORD_CHANGE", "10/hour"),
        "broadcast": os.environ.get("THROTTLE_BROADCAST", "10/min"),
        # Anonymous reads of the published slots (publication/), per client IP.
        "fhir_publication": os.environ.get("THROTTLE_FHIR_PUBLICATION", "120/min"),
    },
    # Proxies in front that append to X-Forwarded-For: the client is the address that many
    # hops from the end. 0: the header is ignored (anyone can write it), the peer is the client.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
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
    # Log-in opens a session (a ``sid`` claim kept by refreshes) that logout revokes;
    # refresh checks the session and the user's token version (realtime/auth.py).
    "TOKEN_OBTAIN_SERIALIZER": "realtime.auth.SessionTokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "realtime.auth.SessionTokenRefreshSerializer",
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
    # Ids in URLs (medical_booking/routing.py); ".json" suffix routes stay out of the docs.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1,
                                        "maximum": 2**63 - 1}},  # BIGINT
    "PREPROCESSING_HOOKS": ["drf_spectacular.hooks.preprocess_exclude_path_format"],
}

# Socket.IO
# Engine.IO heartbeat, in seconds: SOCKETIO_PING_INTERVAL_MS / SOCKETIO_PING_TIMEOUT_MS
# (milliseconds) win over SOCKETIO_PING_INTERVAL / SOCKETIO_PING_TIMEOUT (seconds, decimals
# allowed). The handshake gives clients the exact milliseconds (serving/transport.py).
SOCKETIO_PING_INTERVAL = env_seconds("SOCKETIO_PING_INTERVAL", 25)
SOCKETIO_PING_TIMEOUT = env_seconds("SOCKETIO_PING_TIMEOUT", 20)
# On SIGTERM a daphne process stops accepting, closes its sockets' transports (clients
# reconnect elsewhere and replay), finishes its requests and exits within this bound
# (serving/graceful.py). systemd's TimeoutStopSec must be larger.
SHUTDOWN_TIMEOUT_SECONDS = env_seconds("SHUTDOWN_TIMEOUT_SECONDS", 10)
SOCKETIO_MAX_PAYLOAD = env_int("SOCKETIO_MAX_PAYLOAD", 64 * 1024)
SOCKETIO_MAX_ROOMS_PER_SOCKET = env_int("SOCKETIO_MAX_ROOMS_PER_SOCKET", 100)
# Token bucket for client-sent events: burst, then this many per second.
SOCKETIO_RATE_BURST = env_int("SOCKETIO_RATE_BURST", 30)
SOCKETIO_RATE_PER_SECOND = env_int("SOCKETIO_RATE_PER_SECOND", 10)
# Malformed packets are the client's error: one log line each (no traceback), at most this
# many lines per interval, then one line saying how many more there were.
SOCKETIO_CLIENT_ERROR_LOG_LINES = env_int("SOCKETIO_CLIENT_ERROR_LOG_LINES", 20)
SOCKETIO_CLIENT_ERROR_LOG_SECONDS = env_int("SOCKETIO_CLIENT_ERROR_LOG_SECONDS", 60)

# Operations (operations/, README "Operations"): /healthz, /readyz, /metrics, request logs.
# /metrics counts in this process only (one registry per process: scrape each daphne on
# its own port). METRICS_ENABLED=false: no counting at all, and /metrics answers 404.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# Who may read /metrics: a client address in these IPs/networks (the address Django sees:
# REMOTE_ADDR, or behind NUM_PROXIES trusted proxies the one the nearest proxy saw), or
# ``Authorization: Bearer <METRICS_TOKEN>`` (empty: no token accepted).
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Each /readyz check (database, Redis) gives up after this long: READYZ_TIMEOUT (seconds)
# or READYZ_TIMEOUT_MS.
READYZ_TIMEOUT = env_seconds("READYZ_TIMEOUT", 2)


def _check_networks(values: list[str]) -> None:
    import ipaddress

    from django.core.exceptions import ImproperlyConfigured

    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {value!r} is not an IP address or network") from None


_check_networks(METRICS_ALLOWED_IPS)

# Log lines: ``text`` (the message alone) or ``json`` (one object per line: time, level,
# logger, message, the request id when there is one, and the fields of request lines).
# Default: json in production mode, text otherwise (``make run``).
LOG_FORMAT = (os.environ.get("LOG_FORMAT") or ("json" if PRODUCTION else "text")).strip().lower()
if LOG_FORMAT not in ("text", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json (got {LOG_FORMAT!r})")
# One line per HTTP request (logger ``access``: request id, user id, method, route, status,
# duration), whatever LOG_LEVEL says.
ACCESS_LOG = env_bool("ACCESS_LOG", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(message)s"},
        "json": {"()": "operations.jsonlog.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"access": {"level": "INFO" if ACCESS_LOG else "WARNING"}},
}

# Daphne tuning (serving/daphne_tuning.py, only under daphne): eager socket writes,
# autobahn sendData without per-frame debug formatting, application_checker without a
# tuple per connection, slim queues, the upgrade request let go, autobahn's debug-line
# arguments formatted only when written. Each can be turned off; none changes the bytes
# on the wire.
DAPHNE_EAGER_WRITES = env_bool("DAPHNE_EAGER_WRITES", True)
DAPHNE_FAST_WS_SEND = env_bool("DAPHNE_FAST_WS_SEND", True)
DAPHNE_LEAN_APP_CHECKER = env_bool("DAPHNE_LEAN_APP_CHECKER", True)
DAPHNE_SLIM_QUEUES = env_bool("DAPHNE_SLIM_QUEUES", True)
DAPHNE_RELEASE_UPGRADE_REQUEST = env_bool("DAPHNE_RELEASE_UPGRADE_REQUEST", True)
DAPHNE_LAZY_LOG_ARGS = env_bool("DAPHNE_LAZY_LOG_ARGS", True)
# Engine.IO sockets without a task per socket (serving/transport.py): direct websocket
# writes under daphne, one heartbeat timer, slim queues. Off: python-engineio's own.
ENGINEIO_LEAN_SOCKETS = env_bool("ENGINEIO_LEAN_SOCKETS", True)

# Accept queue of each listening socket under daphne (serving/listen_backlog.py): Twisted's
# 50 drops most of a reconnect storm's handshakes (clients then retry after 1, 2, 4... s).
# The kernel caps it at net.core.somaxconn. 0 keeps Twisted's.
LISTEN_BACKLOG = env_int("LISTEN_BACKLOG", 4096)

# Full garbage collections in the serving process: every N seconds instead of whenever
# CPython decides (serving/gc_policy.py); 0 keeps CPython's policy.
GC_FULL_INTERVAL_SECONDS = env_int("GC_FULL_INTERVAL_SECONDS", 300)
# ...and sooner once this many more memory blocks (about one per small object) are
# allocated than after the last one: closed connections leave reference cycles (~170
# blocks each), and a connection flood must not grow the heap until the timer; 0 = the
# timer only.
GC_FULL_GROWTH_BLOCKS = env_int("GC_FULL_GROWTH_BLOCKS", 500_000)

# Reminders: the in-server scheduler (on by default) and how often it looks.
REMINDERS_IN_SERVER = env_bool("REMINDERS_IN_SERVER", True)
REMINDER_INTERVAL_SECONDS = env_int("REMINDER_INTERVAL_SECONDS", 30)
# Slots generated from doctors' weekly hours (rendezvous/agenda.py): up to this many weeks
# ahead (whole local days), by the in-server scheduler at start and every N seconds
# (0: not in the server; ``manage.py generer_creneaux`` from cron instead).
CRENEAUX_HORIZON_SEMAINES = env_int("CRENEAUX_HORIZON_SEMAINES", 8)
CRENEAUX_GENERATION_SECONDS = env_int("CRENEAUX_GENERATION_SECONDS", 3600)
# Slot holds (attente/): a patient's hold while booking, a waiting-list offer, and how
# often the in-server scheduler closes lapsed ones (0: never; manage.py expirer_retenues).
RETENUE_SECONDES = env_int("RETENUE_SECONDES", 300)
OFFRE_SECONDES = env_int("OFFRE_SECONDES", 900)
RETENUES_INTERVAL_SECONDES = env_int("RETENUES_INTERVAL_SECONDES", 5)
# Password reset / claim links (rendezvous/comptes.py) point to the web front:
# FRONTEND_URL + /reinitialiser?uid=…&token=… (empty: the host the request came to).
FRONTEND_URL = os.environ.get("FRONTEND_URL", "")
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)
# E-mail settings: with the outbox's, at the end of this module.
# Replay on reconnect (auth.lastEventId): how far back the event log is replayed.
REPLAY_RETENTION_HOURS = env_int("REPLAY_RETENTION_HOURS", 24)
REPLAY_MAX_EVENTS = env_int("REPLAY_MAX_EVENTS", 5000)
# After a channel-layer (Redis) failure, each server delivers to its sockets the logged
# events committed since this many seconds before the failure that it had not delivered
# (realtime/manager.py). It covers the time from an event's insert to its publication,
# and clock skew between servers. A gap over REPLAY_MAX_EVENTS makes clients reconnect
# and replay instead.
BUS_CATCHUP_MARGIN_SECONDS = env_int("BUS_CATCHUP_MARGIN_SECONDS", 10)

# Slots published to other systems (publication/, SMART Scheduling Links under /fhir/).
# Absolute URLs of the manifest and files: FHIR_BASE_URL (e.g. https://rdv.example.fr),
# else the request's scheme and host. Booking deep links go into the web front at
# FRONTEND_URL (above), else the same origin. Cache-Control max-age (seconds) of those
# responses: the polling interval suggested to the clients.
FHIR_BASE_URL = os.environ.get("FHIR_BASE_URL", "").rstrip("/")
FHIR_PUBLICATION_MAX_AGE = env_int("FHIR_PUBLICATION_MAX_AGE", 300)

# --- Patients reached outside the app (outbox/, rendezvous/calendrier.py) -----------------
# Links in e-mails and calendar subscription URLs start with FRONTEND_URL (above).
# E-mail: SMTP when EMAIL_HOST is set (production), else the console (``make run``: the
# messages show in the server's output). EMAIL_BACKEND (a dotted path) wins over both.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# A mail server that hangs must not hold a sender past its lease (OUTBOX_LEASE_SECONDS).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "sent-emails"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Cabinet médical <no-reply@localhost>")
DEFAULT_FROM_EMAIL_ADDRESS = DEFAULT_FROM_EMAIL.rpartition("<")[2].rstrip(">").strip()
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# SMS: a dotted path to a ``outbox.sms.BaseSmsBackend`` (console, file, or a provider's).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "outbox.sms.ConsoleSmsBackend")
SMS_FILE_PATH = os.environ.get("SMS_FILE_PATH", str(BASE_DIR / "sent-sms"))
SMS_SENDER = os.environ.get("SMS_SENDER", "RDV MEDIC")
# Phone numbers are read in this region when written without +country (E.164 stored).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "FR")
# The outbox's sender: in every server process every N seconds (0: not in the server;
# ``manage.py send_outbox`` from cron instead), at most OUTBOX_BATCH rows per claim. A
# failed send is tried again after OUTBOX_BACKOFF_SECONDS, doubling each time, at most
# OUTBOX_MAX_TENTATIVES times, then the row is ECHEC (visible in the admin). A claimed row
# comes back to other senders after OUTBOX_LEASE_SECONDS (a sender killed mid-send).
OUTBOX_INTERVAL_SECONDS = env_int("OUTBOX_INTERVAL_SECONDS", 5)
OUTBOX_BATCH = env_int("OUTBOX_BATCH", 20)
OUTBOX_MAX_TENTATIVES = env_int("OUTBOX_MAX_TENTATIVES", 5)
OUTBOX_BACKOFF_SECONDS = env_int("OUTBOX_BACKOFF_SECONDS", 30)
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 300)
# Sent rows (their text is personal data) are deleted after this many days (0: kept).
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 90)
# Unsubscribe links in e-mails (signed, no login) stay valid this many days.
DESABONNEMENT_MAX_AGE_DAYS = env_int("DESABONNEMENT_MAX_AGE_DAYS", 365)
# iCalendar: the domain of bookings' UIDs (never change it: calendars key entries on it),
# the organiser's name, how far back subscription feeds go.
CALENDAR_UID_DOMAIN = os.environ.get("CALENDAR_UID_DOMAIN", "medical-booking.local")
CALENDAR_ORGANIZER_NAME = os.environ.get("CALENDAR_ORGANIZER_NAME", "Rendez-vous médicaux")
CALENDAR_FEED_PAST = timedelta(days=env_int("CALENDAR_FEED_PAST_DAYS", 90))
