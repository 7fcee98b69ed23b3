"""GET conversations/{id}/timeline/: webhooks, telemetry, findings and audit merged in time order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import AuditEntry
from conversations.models import WebhookReceipt
from diagnostics.actions import close_finding
from diagnostics.models import TelemetryBeacon, WidgetDeployment
from tests.api.conftest import T0, make_conversation, make_finding

pytestmark = pytest.mark.django_db


def _at(seconds):
    return T0 + timedelta(seconds=seconds)


def _receipt(conversation_id, seconds, event_id):
    receipt = WebhookReceipt.objects.create(
        source="native",
        event_id=event_id,
        signature_valid=True,
        outcome="applied",
        status_code=200,
        conversation_id=conversation_id,
        event_types="message.created",
    )
    WebhookReceipt.objects.filter(pk=receipt.pk).update(received_at=_at(seconds))
    return receipt


def _beacon(deployment, conversation_id, seconds, beacon_id):
    return TelemetryBeacon.objects.create(
        deployment=deployment,
        beacon_id=beacon_id,
        kind="socket.state",
        session_key="s-1",
        conversation_id=conversation_id,
        sent_at=_at(seconds),
        payload={"event": "pong_missed", "missedPongs": 3},
    )


def _audit(target_type, target_id, seconds, action):
    entry = AuditEntry.objects.create(actor="user:ada", action=action, target_type=target_type, target_id=target_id)
    AuditEntry.objects.filter(pk=entry.pk).update(at=_at(seconds))
    return entry


@pytest.fixture
def timeline():
    make_conversation("c-1")
    deployment = WidgetDeployment.objects.create(name="shop")
    _receipt("c-1", 0, "evt-1")
    _beacon(deployment, "c-1", 5, "b-1")
    finding = make_finding("c-1", first_seen=_at(10))
    _receipt("c-1", 15, "evt-2")
    _audit("conversation", "c-1", 20, "conversation.force_closed")
    close_finding(finding, status="resolved", actor="user:ada", note="fixed")
    AuditEntry.objects.filter(action="finding.resolved").update(at=_at(25))
    # Same instant as evt-2: kinds break the tie (audit, finding, telemetry, webhook).
    _beacon(deployment, "c-1", 15, "b-2")
    # Rows of other conversations never show.
    _receipt("c-2", 1, "evt-other")
    _beacon(deployment, "c-2", 2, "b-other")
    make_finding("c-2", first_seen=_at(3))
    _audit("conversation", "c-2", 4, "conversation.expired")
    return finding


def test_it_merges_the_four_sources_in_time_order(client, supervisor, timeline):
    client.force_login(supervisor)
    body = client.get("/api/v1/conversations/c-1/timeline/").json()
    assert [(row["kind"], row["at"]) for row in body["results"]] == [
        ("webhook", "2026-11-24T10:00:00Z"),
        ("telemetry", "2026-11-24T10:00:05Z"),
        ("finding", "2026-11-24T10:00:10Z"),
        ("telemetry", "2026-11-24T10:00:15Z"),
        ("webhook", "2026-11-24T10:00:15Z"),
        ("audit", "2026-11-24T10:00:20Z"),
        ("audit", "2026-11-24T10:00:25Z"),
    ]
    finding_row = body["results"][2]
    assert finding_row["id"] == f"finding:{timeline.pk}"
    assert finding_row["data"]["findingKind"] == "ghost_session"
    assert body["results"][6]["data"]["action"] == "finding.resolved"
    assert body["results"][1]["data"]["payload"] == {"event": "pong_missed", "missedPongs": 3}
    assert body["next"] is None and body["previous"] is None


def test_it_pages_forward_and_back_without_gaps_or_repeats(client, supervisor, timeline):
    client.force_login(supervisor)
    everything = [row["id"] for row in client.get("/api/v1/conversations/c-1/timeline/").json()["results"]]
    forward, url, pages = [], "/api/v1/conversations/c-1/timeline/?limit=2", []
    while url:
        body = client.get(url).json()
        pages.append(body)
        forward += [row["id"] for row in body["results"]]
        url = body["next"]
    assert forward == everything
    assert len(pages) == 4
    backward, url = [], pages[-1]["previous"]
    while url:
        body = client.get(url).json()
        backward = [row["id"] for row in body["results"]] + backward
        url = body["previous"]
    assert backward + [row["id"] for row in pages[-1]["results"]] == everything
    assert client.get("/api/v1/conversations/c-1/timeline/?cursor=garbage").status_code == 404


def test_it_reads_the_timeline_with_constant_queries(client, supervisor, timeline):
    client.force_login(supervisor)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/conversations/c-1/timeline/?limit=500")
    deployment = WidgetDeployment.objects.get()
    for index in range(120):
        _receipt("c-1", 100 + index, f"evt-bulk-{index}")
        _beacon(deployment, "c-1", 100 + index, f"b-bulk-{index}")
        _audit("conversation", "c-1", 100 + index, "conversation.note")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/v1/conversations/c-1/timeline/?limit=500")
    assert len(response.json()["results"]) == 7 + 360
    assert len(many) == len(few)
