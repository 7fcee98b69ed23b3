"""The production environment README documents passes ``manage.py check --deploy`` and behaves as a
TLS deployment: HTTPS redirect, HSTS, secure cookies, the security headers (issue 10, item 13).

The environment is read from README's "Production" section, so the test follows the documentation
(tests/console/test_settings.py checks a fixed production-like environment and the error messages).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Placeholders README uses in its export line, and values of the documented shape.
PLACEHOLDERS = {
    "<50+ random characters>": secrets.token_urlsafe(48),
    "whsec_<base64>": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
    "<secret>": secrets.token_urlsafe(24),
    "<token>": secrets.token_urlsafe(24),
}

PROBE = """
import json
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="console.example.com")
plain = client.get("/healthz")  # no database, no collected static files needed
tls = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "debug": settings.DEBUG,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": settings.CSRF_COOKIE_SECURE,
    "plain": [plain.status_code, plain.get("Location", "")],
    "tls": [tls.status_code, dict(tls.headers)],
}))
"""


def documented_production_env() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production", 1)[1]
    block = re.search(r"```sh\n(export .*?)\n[^\n]*manage\.py", section, re.S)
    assert block, "README's Production section has no export line"
    text = block.group(1).replace("\\\n", " ")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    assert "<" not in text, f"an unknown placeholder in README's export line: {text}"
    words = shlex.split(text)
    assert words[0] == "export"
    return dict(word.split("=", 1) for word in words[1:])


def run_in(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(env_overrides)
    env["CONSOLE_ENV_FILE"] = "/nonexistent"  # nothing from a developer's var/console.env
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_readme_production_environment_passes_check_deploy():
    env = documented_production_env()
    assert {"DEBUG", "SECRET_KEY", "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "DATABASE_URL"} <= set(env)
    result = run_in(env, "manage.py", "check", "--deploy", "--fail-level", "DEBUG")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_readme_production_environment_redirects_to_https_and_sends_the_headers():
    result = run_in(documented_production_env(), "manage.py", "shell", "-c", PROBE)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["debug"] is False
    assert seen["session_cookie_secure"] and seen["csrf_cookie_secure"]
    assert seen["plain"] == [301, "https://console.example.com/healthz"]
    status, headers = seen["tls"]
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
