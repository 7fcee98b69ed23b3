"""Test settings: the real settings, with test-only secrets set before they are read."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("CONSOLE_ENV_FILE", "/nonexistent/console.env")
os.environ.setdefault(
    "CONSOLE_WEBHOOK_SECRETS", "whsec_dGVzdC1zZWNyZXQtb25lLTAxMjM0NTY3ODk=,whsec_dGVzdC1zZWNyZXQtdHdvLTAxMjM0NTY3ODk="
)
os.environ.setdefault("GENESYS_WEBHOOK_SECRET", "test-genesys-secret")
os.environ.setdefault("CXONE_WEBHOOK_TOKEN", "test-cxone-token")

from console.settings import *  # noqa: F403

# Pages assert counts right after changing data; tests/console/test_dashboard_cache.py covers the cache.
CONSOLE_DASHBOARD_CACHE_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
if not os.environ.get("DATABASE_URL"):
    # Tests on the embedded default use their own SQLite file, never the demo's.
    DATABASES["default"]["NAME"] = str(VAR_DIR / "test-console.sqlite3")  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-console.sqlite3")}  # noqa: F405
os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405 - whitenoise warns about a missing directory
# Live servers in tests serve static files straight from the source folders (never a stale collectstatic).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
