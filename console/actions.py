"""Cross-cutting state changes: API clients, socket-health samples, retention, the periodic tasks' schedule."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import get_application_model

from console.events import HEALTH_GROUP, send_on_commit
from console.models import ApiClient, AuditEntry, SocketHealthSample
from console.permissions import SCOPES
from conversations.models import WebhookReceipt
from diagnostics.models import Finding, FindingStatus, TelemetryBeacon

log = logging.getLogger(__name__)

PURGE_BATCH = 5000


@dataclass(frozen=True)
class NewApiClient:
    client_id: str
    client_secret: str  # shown once: only its hash is stored
    scopes: list[str]


def create_api_client(name: str, scopes: list[str], *, actor: str = "system:create_api_client") -> NewApiClient:
    """A confidential OAuth2 client-credentials application allowed exactly ``scopes``."""
    name = name.strip()
    if not name:
        raise ValueError("the client needs a name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; use {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    scopes = [scope for scope in SCOPES if scope in scopes]
    Application = get_application_model()
    client_id, client_secret = generate_client_id(), generate_client_secret()
    with transaction.atomic():
        application = Application.objects.create(
            name=name,
            client_id=client_id,
            client_secret=client_secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            hash_client_secret=True,
        )
        ApiClient.objects.create(application=application, scopes=scopes)
        AuditEntry.objects.create(
            actor=actor,
            action="api_client.created",
            target_type="api_client",
            target_id=client_id,
            after={"name": name, "scopes": scopes},
        )
    return NewApiClient(client_id=client_id, client_secret=client_secret, scopes=scopes)


def record_socket_health_sample() -> SocketHealthSample:
    """Store the current counters (for the chart) and push them to open dashboards."""
    from conversations.queries import socket_health_counts

    now = timezone.now()
    sample = SocketHealthSample.objects.create(at=now, counts=socket_health_counts())
    SocketHealthSample.objects.filter(at__lt=now - timedelta(days=settings.CONSOLE_SAMPLE_RETENTION_DAYS)).delete()
    send_on_commit(HEALTH_GROUP, {"type": "health.update", "counts": sample.counts, "at": now.isoformat()})
    return sample


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
