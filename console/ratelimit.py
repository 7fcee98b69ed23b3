"""Fixed-window rate limits kept in the cache (Redis in production, process memory embedded)."""

from __future__ import annotations

import time

from django.core.cache import cache


def check(scope: str, identity: str, limit: int, window_seconds: int = 60) -> int | None:
    """Count one request; return the seconds to wait when over ``limit``, else None.

    A ``limit`` of 0 switches the check off. The cache being down must not take the
    endpoint down with it: the request is then allowed.
    """
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // window_seconds)
    key = f"ratelimit:{scope}:{identity}:{window}"
    try:
        if cache.add(key, 1, timeout=window_seconds + 1):
            count = 1
        else:
            count = cache.incr(key)
    except Exception:  # noqa: BLE001 - a cache outage degrades to "no limit", never to a 500
        return None
    if count > limit:
        return max(1, int((window + 1) * window_seconds - now) + 1)
    return None
