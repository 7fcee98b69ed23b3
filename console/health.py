"""Anonymous liveness and readiness probes: they say ok or which part fails, nothing more."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        log.warning("readyz: database check failed", exc_info=True)
        return False


def _redis_ping(target: str | dict) -> bool:
    """PING a Redis given as a URL or as channels_redis host kwargs (address, or host and port)."""
    import redis

    timeouts = {"socket_connect_timeout": PROBE_TIMEOUT_SECONDS, "socket_timeout": PROBE_TIMEOUT_SECONDS}
    if isinstance(target, dict) and "address" in target:
        target = target["address"]
    if isinstance(target, str):
        client = redis.Redis.from_url(target, **timeouts)
    else:
        client = redis.Redis(host=target.get("host", "localhost"), port=target.get("port", 6379), **timeouts)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _broker_ok() -> bool:
    """The Celery broker (Redis in production); checked only when REDIS_URL configures one."""
    try:
        return _redis_ping(settings.CELERY_BROKER_URL)
    except Exception:
        log.warning("readyz: broker check failed", exc_info=True)
        return False


def _channel_layer_ok() -> bool:
    """The Channels layer: configured, and its Redis hosts answering when it is channels_redis."""
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return False
        hosts = getattr(layer, "hosts", None)
        if not hosts:
            return True  # the in-memory layer of the embedded default lives in this process
        return all(_redis_ping(host) for host in hosts)
    except Exception:
        log.warning("readyz: channel layer check failed", exc_info=True)
        return False


def readiness_checks() -> dict:
    checks = {"database": _database_ok}
    if settings.REDIS_URL:
        checks["broker"] = _broker_ok
    checks["channel_layer"] = _channel_layer_ok
    return checks


def readyz(request):
    failing = [name for name, check in readiness_checks().items() if not check()]
    if failing:
        return JsonResponse({"status": "failing", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})
