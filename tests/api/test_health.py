"""/healthz and /readyz: anonymous, terse, 503 naming the failing part."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from console import health


@pytest.mark.django_db
def test_it_is_ready_when_its_parts_answer(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_names_the_database_when_it_fails(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "failing", "failing": ["database"]}
    assert "refused" not in response.content.decode()


@pytest.mark.django_db
def test_it_checks_the_broker_and_the_redis_channel_layer_when_redis_is_configured(client, settings):
    # Nothing listens on port 1: both parts must be reported, quickly.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/readyz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json() == {"status": "failing", "failing": ["broker", "channel_layer"]}


@pytest.mark.redis
@pytest.mark.django_db
def test_it_is_ready_with_a_live_redis(client, settings):
    import redis

    from tests.conftest import require_service

    url = "redis://127.0.0.1:6379/4"
    try:
        available = redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        available = False
    require_service("redis", available, f"no Redis at {url}")
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/readyz")
    finally:
        channel_layers.backends.clear()
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_they_need_no_credentials(client, db):
    assert client.get("/healthz").status_code == 200
