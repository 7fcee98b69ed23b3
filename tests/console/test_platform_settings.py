"""Platform client settings come from the environment, with errors that name what is missing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from console.env import env_url, require_together
from tests.console.test_settings import PRODUCTION_ENV, _manage


def test_a_half_configured_client_stops_start_up_naming_what_is_missing():
    result = _manage("check", env_overrides={**PRODUCTION_ENV, "GENESYS_CLIENT_ID": "cid"})
    assert result.returncode != 0
    assert "Genesys Cloud client: GENESYS_CLIENT_ID is set but GENESYS_CLIENT_SECRET" in result.stderr
    assert "GENESYS_REGION (or GENESYS_API_BASE and GENESYS_LOGIN_BASE)" in result.stderr


def test_the_region_gives_the_api_and_login_bases():
    env = {**PRODUCTION_ENV, "GENESYS_REGION": "mypurecloud.ie", "GENESYS_CLIENT_ID": "c", "GENESYS_CLIENT_SECRET": "s"}
    script = "from django.conf import settings as s; print(s.GENESYS_API_BASE, s.GENESYS_LOGIN_BASE)"
    result = _manage("shell", "--verbosity", "0", "-c", script, env_overrides=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["https://api.mypurecloud.ie", "https://login.mypurecloud.ie"]


def test_url_settings_must_be_http_urls(monkeypatch):
    monkeypatch.setenv("NATIVE_PLATFORM_URL", "127.0.0.1:8765/platform")
    with pytest.raises(ImproperlyConfigured, match="NATIVE_PLATFORM_URL must be an http:// or https:// URL"):
        env_url("NATIVE_PLATFORM_URL")
    monkeypatch.setenv("NATIVE_PLATFORM_URL", "http://127.0.0.1:8765/platform/")
    assert env_url("NATIVE_PLATFORM_URL") == "http://127.0.0.1:8765/platform"


def test_credentials_are_all_or_nothing():
    require_together("x", {"A": "", "B": ""}, {"C": ""})  # nothing set: no client, no error
    with pytest.raises(ImproperlyConfigured, match="x: A is set but B, C is not"):
        require_together("x", {"A": "1", "B": ""}, {"C": ""})
