"""Settings come from the environment with clear errors; production settings pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from console.env import env_bool, env_int, parse_database_url, parse_redis_url

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
    "ALLOWED_HOSTS": "console.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_COOKIES": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "1",
    "BEHIND_TLS_PROXY": "1",
    "CONSOLE_WEBHOOK_SECRETS": "whsec_cHJvZHVjdGlvbi1zZWNyZXQtMDEyMzQ1Njc4OQ==",
    "GENESYS_WEBHOOK_SECRET": "genesys-secret",
    "CXONE_WEBHOOK_TOKEN": "cxone-token",
    "CONSOLE_ENV_FILE": "/nonexistent",
}


def _manage(*args, env_overrides: dict, remove=("DATABASE_URL", "REDIS_URL")):
    env = {key: value for key, value in os.environ.items() if key not in remove and key != "DJANGO_SETTINGS_MODULE"}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_a_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_a_missing_secret_key_without_debug_names_the_variable():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _manage("check", env_overrides=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_value_names_the_variable():
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "SECURE_HSTS_SECONDS": "a year"})
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS must be an integer" in result.stderr


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be at least 0"):
        env_int("X_INT", 5, minimum=0)


def test_database_urls(tmp_path):
    pg = parse_database_url("postgres://app:p%40ss@db.internal:5433/console?sslmode=require", base_dir=tmp_path)
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "console",
        "app",
        "p@ss",
        "db.internal",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    relative = parse_database_url("sqlite:///var/x.sqlite3", base_dir=tmp_path)
    assert relative["NAME"] == str(tmp_path / "var/x.sqlite3")
    assert "journal_mode=WAL" in relative["OPTIONS"]["init_command"]
    assert parse_database_url("sqlite:////tmp/abs.sqlite3", base_dir=tmp_path)["NAME"] == "/tmp/abs.sqlite3"
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with"):
        parse_database_url("mysql://x/y", base_dir=tmp_path)
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        parse_redis_url("http://localhost:6379")


@pytest.mark.django_db
def test_health_probes_are_anonymous_and_terse(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}
