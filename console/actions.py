"""Cross-cutting state changes: retention of old records, the periodic tasks' schedule."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.models import WebhookReceipt
from diagnostics.models import Finding, FindingStatus, TelemetryBeacon

log = logging.getLogger(__name__)

PURGE_BATCH = 5000


def purge_old_records(*, now: datetime | None = None) -> dict:
    """Delete what is older than its retention (settings CONSOLE_*_RETENTION_DAYS), in bounded batches.

    Receipts (replay_events cannot rebuild what is purged), telemetry beacons, and findings resolved
    or dismissed before the cutoff. Open findings and audit rows are kept.
    """
    now = now or timezone.now()
    plans = {
        "receipts": WebhookReceipt.objects.filter(
            received_at__lt=now - timedelta(days=settings.CONSOLE_RECEIPT_RETENTION_DAYS)
        ),
        "beacons": TelemetryBeacon.objects.filter(
            received_at__lt=now - timedelta(days=settings.CONSOLE_BEACON_RETENTION_DAYS)
        ),
        "findings": Finding.objects.exclude(status=FindingStatus.OPEN).filter(
            resolved_at__lt=now - timedelta(days=settings.CONSOLE_FINDING_RETENTION_DAYS)
        ),
    }
    deleted = {}
    for name, queryset in plans.items():
        deleted[name] = _delete_in_batches(queryset)
        if deleted[name]:
            log.info("purged %d %s past retention", deleted[name], name)
    return deleted


def _delete_in_batches(queryset) -> int:
    total = 0
    while True:
        batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:PURGE_BATCH])
        if not batch:
            return total
        with transaction.atomic():
            count, _ = queryset.model.objects.filter(pk__in=batch).delete()
        total += count


def ensure_periodic_tasks() -> list[str]:
    """Create the beat entries of console.celery.PERIODIC_TASKS that are missing; answers their names.

    Migration console/0003 creates them on a fresh database; this puts back any that a flushed or
    restored database lost (beat and the embedded scheduler call it when they start). Existing entries
    are left as operators set them; to stop a periodic task, disable its entry rather than delete it.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from console.celery import PERIODIC_TASKS

    present = set(PeriodicTask.objects.filter(name__in=list(PERIODIC_TASKS)).values_list("name", flat=True))
    created = []
    for task, seconds in PERIODIC_TASKS.items():
        if task in present:
            continue
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        _, was_created = PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "kwargs": "{}", "args": "[]"}
        )
        if was_created:
            created.append(task)
    if created:
        log.info("created the missing periodic task entries: %s", ", ".join(created))
    return created
