"""Settings for the Conversation State Console.

Everything deploy-specific comes from the environment (see console/env.py and
docs/architecture.md "Configuration"). With no environment at all the console
runs on its embedded default: SQLite under var/, in-memory channel layer,
eager tasks, no services to install.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from console.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    env_url,
    load_env_file,
    parse_database_url,
    parse_redis_url,
    require_together,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONSOLE_VAR_DIR", str(BASE_DIR / "var")))
load_env_file(Path(env_str("CONSOLE_ENV_FILE", str(VAR_DIR / "console.env"))))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (make demo generates one in var/secret_key)"
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Security: TLS settings are switched on by their own variables, never by DEBUG=0 alone.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "console",
    "conversations",
    "diagnostics",
    "simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so that static files (an SVG opened on its own) carry the policy too.
    "console.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "console.middleware.RequestIdMiddleware",
    "console.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.roles",
            ],
        },
    },
]

# --- Database: DATABASE_URL, default a SQLite file under var/ in WAL mode.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": parse_database_url(DATABASE_URL, base_dir=BASE_DIR)}
else:
    DATABASES = {"default": sqlite_database(str(VAR_DIR / "console.sqlite3"))}
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if DATABASE_IS_POSTGRES:
    # DATABASE_POOL_SIZE > 0 switches on psycopg's connection pool (needed when HTTP is
    # served by the ASGI server: one connection per thread otherwise exhausts PostgreSQL).
    pool_size = env_int("DATABASE_POOL_SIZE", 0, minimum=0)
    if pool_size:
        DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: optional. Without it: local-memory cache, in-memory channel layer, eager tasks.
REDIS_URL = parse_redis_url(env_str("REDIS_URL")) if env_str("REDIS_URL") else ""

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # channels_redis waits for a live socket's messages with BZPOPMIN for 5 s; redis-py 8 reads with a
    # 5 s socket timeout by default, so every quiet socket was torn down after 5 s. The read timeout
    # must outlast that wait; connecting stays quick so that a Redis outage fails pushes fast.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery (docs/architecture.md, "Celery"). Without REDIS_URL tasks run eagerly in-process, and the
# periodic tasks run from the embedded scheduler the ASGI server starts (console/scheduler.py).
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"  # with a host: kombu warns at the first eager job without one
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker keeps reconnecting through a broker outage instead of exiting after 100 attempts.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Publishing fails fast when Redis is down (about 0.3 s, then console/jobs.py defers the job to the
# database and stops trying for a few seconds), so webhooks keep answering during an outage.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# An unacknowledged task (its worker was killed) is delivered again after the visibility timeout;
# it must exceed the longest countdown a task is scheduled with (force-close retries: at most 30 min).
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 2,
    # Look for messages of lost workers about ten times per visibility timeout.
    "unacked_restore_interval": max(1, min(10, CELERY_BROKER_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1 if CELERY_BROKER_VISIBILITY_TIMEOUT < 100 else 10,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Seconds a deferred job (broker down when it was enqueued) waits before publishing is tried again
# from the request path; the flush_deferred_jobs sweep publishes the backlog once Redis answers.
CONSOLE_BROKER_RETRY_SECONDS = env_int("CONSOLE_BROKER_RETRY_SECONDS", 5, minimum=0)
# The embedded default runs the periodic tasks from the ASGI server process (only without REDIS_URL).
CONSOLE_EMBEDDED_SCHEDULER = env_bool("CONSOLE_EMBEDDED_SCHEDULER", True)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- Webhooks (docs/architecture.md "Webhook contract").
# Standard Webhooks secrets, whsec_<base64>, comma-separated; any one may match (rotation).
CONSOLE_WEBHOOK_SECRETS = env_list("CONSOLE_WEBHOOK_SECRETS")
GENESYS_WEBHOOK_SECRET = env_str("GENESYS_WEBHOOK_SECRET")
CXONE_WEBHOOK_TOKEN = env_str("CXONE_WEBHOOK_TOKEN")
WEBHOOK_MAX_BODY_BYTES = 256 * 1024
WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS = 300
# Per source and client address, requests per minute; 0 switches the limit off.
WEBHOOK_RATE_LIMIT_PER_MINUTE = env_int("WEBHOOK_RATE_LIMIT_PER_MINUTE", 0, minimum=0)
if DEBUG and not CONSOLE_WEBHOOK_SECRETS:
    # Development only: a fixed, documented secret so sample webhooks work out of the box.
    CONSOLE_WEBHOOK_SECRETS = ["whsec_ZGV2LW9ubHktd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=="]

# --- Session lifecycle (guide, "Core Concepts": default inactivity timeout 15 minutes).
CONSOLE_SESSION_TTL_SECONDS = env_int("CONSOLE_SESSION_TTL_SECONDS", 15 * 60, minimum=1)

# --- Diagnostics thresholds (docs/architecture.md, "Diagnostics"). Each of the first five can be
# overridden per widget deployment (WidgetDeployment fields of the same name; empty = these).
# Ghost grace period: a customer socket closed or silent this long, with no inbound message since,
# makes an active conversation a ghost session (guide, Edge Case 1).
CONSOLE_GHOST_GRACE_SECONDS = env_int("CONSOLE_GHOST_GRACE_SECONDS", 5 * 60, minimum=1)
# A ping whose pong did not arrive within this window is a missed pong (guide, Edge Case 1: 5 s).
CONSOLE_PONG_WINDOW_SECONDS = env_int("CONSOLE_PONG_WINDOW_SECONDS", 5, minimum=1)
# Consecutive missed pongs after which the client must reconnect (guide, Edge Case 1: three).
CONSOLE_MISSED_PONGS_THRESHOLD = env_int("CONSOLE_MISSED_PONGS_THRESHOLD", 3, minimum=1)
# Equal text from one participant within this window, without a shared idempotency key, is a duplicate.
CONSOLE_DUPLICATE_MESSAGE_WINDOW_SECONDS = env_int("CONSOLE_DUPLICATE_MESSAGE_WINDOW_SECONDS", 10, minimum=1)
# A socket reported open that has sent nothing for this long counts as silent (socket health).
CONSOLE_HEARTBEAT_TIMEOUT_SECONDS = env_int("CONSOLE_HEARTBEAT_TIMEOUT_SECONDS", 90, minimum=1)
# reconnect_storm: this many consecutive reconnect attempts whose delays do not grow, each delay
# below the backoff cap (a capped exponential backoff repeats its cap; that is not a storm).
CONSOLE_RECONNECT_STORM_ATTEMPTS = env_int("CONSOLE_RECONNECT_STORM_ATTEMPTS", 3, minimum=2)
CONSOLE_RECONNECT_BACKOFF_CAP_MS = env_int("CONSOLE_RECONNECT_BACKOFF_CAP_MS", 30_000, minimum=1)
# Detectors run this long after the first webhook of a burst, once for every conversation the burst
# touched (docs/architecture.md "Celery": run_detectors after ingest, debounced). 0 runs them right
# after each webhook's commit. Without a broker (eager tasks) they always run right after the commit.
CONSOLE_DETECTOR_DEBOUNCE_SECONDS = env_int("CONSOLE_DETECTOR_DEBOUNCE_SECONDS", 2, minimum=0)

# The dashboard's socket counters aggregate every open conversation's widgets; dashboards share one
# answer for this many seconds (0: recompute on every request).
CONSOLE_DASHBOARD_CACHE_SECONDS = env_int("CONSOLE_DASHBOARD_CACHE_SECONDS", 2, minimum=0)

# --- Client telemetry (docs/architecture.md, "Client telemetry contract").
# Requests per minute per deployment key and client address; 0 switches the limit off.
TELEMETRY_RATE_LIMIT_PER_MINUTE = env_int("TELEMETRY_RATE_LIMIT_PER_MINUTE", 1200, minimum=0)
# Beacons one deployment key may store per UTC day (a widget deployment may override it); over it,
# telemetry is answered 429 until midnight UTC. With CONSOLE_BEACON_RETENTION_DAYS this bounds the
# storage one key can take, whatever the number of client addresses. 0 switches it off.
TELEMETRY_DAILY_BEACON_QUOTA = env_int("TELEMETRY_DAILY_BEACON_QUOTA", 1_000_000, minimum=0)
TELEMETRY_MAX_BODY_BYTES = 256 * 1024
TELEMETRY_MAX_BEACONS = 100

# --- Force-close (docs/architecture.md "Force-close"): a platform failure is retried in the background
# with exponential backoff from CONSOLE_FORCE_CLOSE_RETRY_SECONDS, at most CONSOLE_FORCE_CLOSE_MAX_ATTEMPTS
# attempts. An attempt holds its request for CONSOLE_FORCE_CLOSE_LEASE_SECONDS; a worker killed mid-attempt
# leaves the lease to expire, then the request is taken over (the platform is asked first).
CONSOLE_FORCE_CLOSE_RETRY_SECONDS = env_int("CONSOLE_FORCE_CLOSE_RETRY_SECONDS", 30, minimum=1)
CONSOLE_FORCE_CLOSE_MAX_ATTEMPTS = env_int("CONSOLE_FORCE_CLOSE_MAX_ATTEMPTS", 8, minimum=1)
CONSOLE_FORCE_CLOSE_LEASE_SECONDS = env_int("CONSOLE_FORCE_CLOSE_LEASE_SECONDS", 300, minimum=1)
# reconcile_with_platform: platform look-ups of single conversations per source and run.
CONSOLE_RECONCILE_MAX_LOOKUPS = env_int("CONSOLE_RECONCILE_MAX_LOOKUPS", 200, minimum=0)

# --- Platform clients (conversations/platforms/). A source without credentials has no client:
# force-close then closes the mirror only and its audit entry says so.
GENESYS_REGION = env_str("GENESYS_REGION").strip()
GENESYS_CLIENT_ID = env_str("GENESYS_CLIENT_ID")
GENESYS_CLIENT_SECRET = env_str("GENESYS_CLIENT_SECRET")
GENESYS_API_BASE = env_url("GENESYS_API_BASE") or (f"https://api.{GENESYS_REGION}" if GENESYS_REGION else "")
GENESYS_LOGIN_BASE = env_url("GENESYS_LOGIN_BASE") or (f"https://login.{GENESYS_REGION}" if GENESYS_REGION else "")
CXONE_API_BASE = env_url("CXONE_API_BASE")
CXONE_TOKEN_URL = env_url("CXONE_TOKEN_URL")
CXONE_CLIENT_ID = env_str("CXONE_CLIENT_ID")
CXONE_CLIENT_SECRET = env_str("CXONE_CLIENT_SECRET")
NATIVE_PLATFORM_URL = env_url("NATIVE_PLATFORM_URL")
NATIVE_PLATFORM_TOKEN = env_str("NATIVE_PLATFORM_TOKEN")
require_together(
    "Genesys Cloud client",
    {"GENESYS_CLIENT_ID": GENESYS_CLIENT_ID, "GENESYS_CLIENT_SECRET": GENESYS_CLIENT_SECRET},
    {"GENESYS_REGION (or GENESYS_API_BASE and GENESYS_LOGIN_BASE)": GENESYS_API_BASE and GENESYS_LOGIN_BASE},
)
require_together(
    "NICE CXone client",
    {"CXONE_CLIENT_ID": CXONE_CLIENT_ID, "CXONE_CLIENT_SECRET": CXONE_CLIENT_SECRET},
    {"CXONE_API_BASE": CXONE_API_BASE, "CXONE_TOKEN_URL": CXONE_TOKEN_URL},
)
PLATFORM_CONNECT_TIMEOUT_SECONDS = env_int("PLATFORM_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
PLATFORM_READ_TIMEOUT_SECONDS = env_int("PLATFORM_READ_TIMEOUT_SECONDS", 15, minimum=1)
# Attempts per platform call (429, 5xx and timeouts are retried with backoff; Retry-After is honoured
# up to PLATFORM_MAX_RETRY_AFTER_SECONDS, a longer wait fails the call so the caller retries later).
PLATFORM_MAX_ATTEMPTS = env_int("PLATFORM_MAX_ATTEMPTS", 3, minimum=1)
PLATFORM_MAX_RETRY_AFTER_SECONDS = env_int("PLATFORM_MAX_RETRY_AFTER_SECONDS", 30, minimum=0)

# --- Retention (purge_old_records).
CONSOLE_RECEIPT_RETENTION_DAYS = env_int("CONSOLE_RECEIPT_RETENTION_DAYS", 30, minimum=1)
CONSOLE_BEACON_RETENTION_DAYS = env_int("CONSOLE_BEACON_RETENTION_DAYS", 7, minimum=1)
CONSOLE_FINDING_RETENTION_DAYS = env_int("CONSOLE_FINDING_RETENTION_DAYS", 90, minimum=1)
CONSOLE_SAMPLE_RETENTION_DAYS = env_int("CONSOLE_SAMPLE_RETENTION_DAYS", 2, minimum=1)

# --- REST API (docs/architecture.md "REST API"): deny by default, problem+json errors, camelCase.
# Requests per minute per API client or user; 0 switches the limit off.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600, minimum=0)
# How long a force-close response is replayed for the same Idempotency-Key.
IDEMPOTENCY_KEY_TTL_SECONDS = env_int("IDEMPOTENCY_KEY_TTL_SECONDS", 24 * 60 * 60, minimum=60)
# A request holding a key longer than this is taken to have died; a retry may take the key over.
IDEMPOTENCY_LEASE_SECONDS = env_int("IDEMPOTENCY_LEASE_SECONDS", 120, minimum=5)
REST_FRAMEWORK = {
    # OAuth2 first: an anonymous request gets 401 with "WWW-Authenticate: Bearer".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.permissions.ClientCredentialsAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["console.permissions.HasConsoleScope"],
    "DEFAULT_THROTTLE_CLASSES": ["console.permissions.PerClientThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "console.pagination.ListCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "console.problems.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Named explicitly so migrations that point at the application model resolve it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "Read conversations, messages, findings, timelines and socket health",
        "findings": "Resolve and dismiss findings",
        "force-close": "Force-close conversations on the platform and in the mirror",
        "admin": "Everything, including the audit log and webhook receipts (replay)",
    },
    "DEFAULT_SCOPES": [],
    "OAUTH2_VALIDATOR_CLASS": "console.oauth.ConsoleOAuth2Validator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("API_TOKEN_EXPIRE_SECONDS", 3600, minimum=60),
    # RFC 9700 (OAuth 2.0 Security BCP): the compliant behaviour everywhere. Only client
    # credentials are used; tokens are stored hashed and accepted in the Authorization header only.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Conversation State Console API",
    "DESCRIPTION": (
        "Mirror of contact-center conversation state, widget telemetry, findings and the actions that fix "
        "them. Authenticate with a browser session or an OAuth2 client-credentials token from `/o/token/` "
        "(`manage.py create_api_client NAME --scope read`). Errors are `application/problem+json`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["console.permissions.CanReadSchema"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False},
    "OAUTH2_FLOWS": ["clientCredentials"],
    "OAUTH2_TOKEN_URL": "/o/token/",
    "OAUTH2_SCOPES": None,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.openapi.add_problem_responses",
    ],
}

# Error reports hide secret-looking POST parameters on every view (client_secret on /o/token/ included).
DEFAULT_EXCEPTION_REPORTER_FILTER = "console.errorreports.SecretsReporterFilter"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        # oauthlib logs every issued access token at DEBUG ("Issuing token to client id ..."): never below
        # INFO, whatever LOG_LEVEL says (tests/security/test_secrets_not_logged.py).
        "oauthlib": {"level": "INFO"},
        # One line per task run drowns the demo's output; failures still log at WARNING/ERROR.
        "celery.app.trace": {"level": "WARNING"},
    },
}
