"""The ingest baselines: a minimal Django project, served by the same gunicorn from the same venv.

BENCH_BASELINE=orm or raw picks the receiver behind /webhooks/native/. No middleware, no
apps besides this one: the least a Django receiver of signed webhooks can do.
"""

import os
from urllib.parse import urlsplit

_url = urlsplit(os.environ["DATABASE_URL"])

SECRET_KEY = os.environ.get("SECRET_KEY", "bench-baseline")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["bench.baseline"]
MIDDLEWARE = []
ROOT_URLCONF = "bench.baseline.urls"
WSGI_APPLICATION = "bench.baseline.wsgi.application"
# The same connection handling as the console without a pool (console/settings.py).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "",
        "PASSWORD": _url.password or "",
        "HOST": _url.hostname or "",
        "PORT": str(_url.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WEBHOOK_SECRETS = [item for item in os.environ.get("CONSOLE_WEBHOOK_SECRETS", "").split(",") if item]
WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS = 300
BASELINE = os.environ.get("BENCH_BASELINE", "orm")
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
