"""purge_old_records: each kind of record past its retention goes; recent ones, open findings and audit stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import AuditEntry
from console.tasks import purge_old_records
from conversations.models import WebhookReceipt
from diagnostics.models import Finding, TelemetryBeacon, WidgetDeployment

pytestmark = pytest.mark.django_db


def receipt(event_id: str, age_days: float) -> WebhookReceipt:
    row = WebhookReceipt.objects.create(source="native", event_id=event_id, outcome="applied", status_code=200)
    WebhookReceipt.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=age_days))
    return row


def beacon(deployment, beacon_id: str, age_days: float) -> TelemetryBeacon:
    row = TelemetryBeacon.objects.create(
        deployment=deployment, beacon_id=beacon_id, kind="socket.state", session_key="s", sent_at=timezone.now()
    )
    TelemetryBeacon.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=age_days))
    return row


def finding(subject: str, status: str, resolved_days_ago: float | None) -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        kind="cursor_drift",
        severity="warning",
        status=status,
        subject=subject,
        evidence={},
        remediation="r",
        guide_section="s",
        first_seen=now - timedelta(days=200),
        last_seen=now - timedelta(days=200),
        resolved_at=None if resolved_days_ago is None else now - timedelta(days=resolved_days_ago),
    )


def test_it_deletes_what_is_past_retention_and_keeps_the_rest(settings):
    settings.CONSOLE_RECEIPT_RETENTION_DAYS, settings.CONSOLE_BEACON_RETENTION_DAYS = 30, 7
    settings.CONSOLE_FINDING_RETENTION_DAYS = 90
    old_receipt, new_receipt = receipt("old", 31), receipt("new", 29)
    deployment = WidgetDeployment.objects.create(name="shop")
    old_beacon, new_beacon = beacon(deployment, "b-old", 8), beacon(deployment, "b-new", 6)
    old_resolved = finding("conversation:a", "resolved", 91)
    old_dismissed = finding("conversation:b", "dismissed", 100)
    recent_resolved = finding("conversation:c", "resolved", 10)
    old_open = finding("conversation:d", "open", None)
    AuditEntry.objects.create(
        actor="system:x", action="conversation.expired", target_type="conversation", target_id="a"
    )
    assert purge_old_records.apply().get() == {"receipts": 1, "beacons": 1, "findings": 2}
    assert list(WebhookReceipt.objects.values_list("pk", flat=True)) == [new_receipt.pk]
    assert list(TelemetryBeacon.objects.values_list("pk", flat=True)) == [new_beacon.pk]
    assert set(Finding.objects.values_list("pk", flat=True)) == {recent_resolved.pk, old_open.pk}
    assert AuditEntry.objects.count() == 1
    assert old_receipt.pk != new_receipt.pk and old_beacon.pk and old_resolved.pk and old_dismissed.pk
    assert purge_old_records.apply().get() == {"receipts": 0, "beacons": 0, "findings": 0}


def test_it_deletes_in_batches(settings, monkeypatch):
    monkeypatch.setattr("console.actions.PURGE_BATCH", 3)
    for index in range(7):
        receipt(f"e-{index}", 40)
    assert purge_old_records.apply().get()["receipts"] == 7
    assert not WebhookReceipt.objects.exists()
