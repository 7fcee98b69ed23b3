"""State changes of cross-cutting records."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from console.events import HEALTH_GROUP, send_on_commit
from console.models import SocketHealthSample


def record_socket_health_sample() -> SocketHealthSample:
    """Store the current counters (for the chart) and push them to open dashboards."""
    from conversations.queries import socket_health_counts

    now = timezone.now()
    sample = SocketHealthSample.objects.create(at=now, counts=socket_health_counts())
    SocketHealthSample.objects.filter(at__lt=now - timedelta(days=settings.CONSOLE_SAMPLE_RETENTION_DAYS)).delete()
    send_on_commit(HEALTH_GROUP, {"type": "health.update", "counts": sample.counts, "at": now.isoformat()})
    return sample
