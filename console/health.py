"""Anonymous liveness and readiness probes: they say ok or which part fails, nothing more."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse

log = logging.getLogger(__name__)


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


READINESS_CHECKS = {"database": _database_ok}


def readyz(request):
    failing = [name for name, check in READINESS_CHECKS.items() if not check()]
    if failing:
        return JsonResponse({"status": "failing", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})
