"""socket-health, audit, webhook-receipts and replay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console.models import AuditEntry
from conversations.models import Message, Participant, WebhookReceipt
from tests.api.conftest import make_conversation
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db


def _participant(conversation, participant_id, **fields):
    return Participant.objects.create(conversation=conversation, participant_id=participant_id, **fields)


def test_it_counts_socket_health_over_open_conversations(client, supervisor):
    client.force_login(supervisor)
    now = timezone.now().replace(microsecond=0)
    live, other, closed = make_conversation("c-1"), make_conversation("c-2"), make_conversation("c-3", state="closed")
    _participant(live, "p-1", role="customer", socket_state="open", last_heartbeat_at=now)
    _participant(
        live,
        "p-2",
        role="customer",
        socket_state="silent",
        missed_pongs=4,
        last_heartbeat_at=now - timedelta(minutes=3),
    )
    _participant(
        other,
        "p-3",
        role="customer",
        socket_state="reconnecting",
        missed_pongs=1,
        last_heartbeat_at=now - timedelta(minutes=1),
    )
    _participant(other, "p-4", role="agent")
    _participant(
        other, "p-5", role="customer", state="left", socket_state="closed", last_heartbeat_at=now - timedelta(hours=2)
    )
    _participant(
        closed,
        "p-6",
        role="customer",
        socket_state="silent",
        missed_pongs=9,
        last_heartbeat_at=now - timedelta(hours=3),
    )
    body = client.get("/api/v1/socket-health/").json()
    # Widgets only: the agent (no widget, socket unknown) and the customer who left are not counted.
    assert body["participants"] == 3
    assert body["bySocketState"] == {"unknown": 0, "open": 1, "silent": 1, "reconnecting": 1, "polling": 0, "closed": 0}
    assert body["withMissedPongs"] == 2
    assert body["oldestHeartbeatAt"] == (now - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    assert [(row["participantId"], row["missedPongs"]) for row in body["missedPongs"]] == [("p-2", 4), ("p-3", 1)]
    assert body["missedPongs"][0]["conversationId"] == "c-1"


def test_it_lists_the_audit_log_newest_first_with_filters(client, admin_user):
    client.force_login(admin_user)
    for index, action in enumerate(["finding.resolved", "conversation.force_closed", "conversation.expired"]):
        AuditEntry.objects.create(
            actor=f"user:u{index}", action=action, target_type="conversation", target_id=f"c-{index}"
        )
    rows = client.get("/api/v1/audit/").json()["results"]
    assert [row["action"] for row in rows] == ["conversation.expired", "conversation.force_closed", "finding.resolved"]
    assert rows[0]["targetId"] == "c-2"
    filtered = client.get("/api/v1/audit/?action=conversation.force_closed").json()["results"]
    assert [row["actor"] for row in filtered] == ["user:u1"]
    assert client.get("/api/v1/audit/?target_id=c-0").json()["results"][0]["action"] == "finding.resolved"


def _deliver(event_id="evt-1", message_id="m-1"):
    payload = event(
        event_id, "message.created", "c-9", 1, {"messageId": message_id, "direction": "inbound", "text": "hi"}
    )
    assert post_native(Client(), payload).status_code == 200
    return WebhookReceipt.objects.get(event_id=event_id, outcome="applied")


def test_it_lists_receipts_and_shows_one_with_its_body(client, admin_user):
    client.force_login(admin_user)
    receipt = _deliver()
    post_native(Client(), {"id": "evt-bad"}, msg_id="evt-bad")  # rejected: no type
    rows = client.get("/api/v1/webhook-receipts/").json()["results"]
    assert [row["outcome"] for row in rows] == ["rejected", "applied"]
    assert "body" not in rows[0]
    assert (
        client.get("/api/v1/webhook-receipts/?outcome=applied&conversation=c-9").json()["results"][0]["id"]
        == receipt.pk
    )
    detail = client.get(f"/api/v1/webhook-receipts/{receipt.pk}/").json()
    assert '"messageId": "m-1"' in detail["body"] or '"messageId":"m-1"' in detail["body"]
    assert client.get("/api/v1/webhook-receipts/?outcome=nope").status_code == 400


def test_it_replays_a_stored_receipt_into_the_mirror_with_an_audit_entry(client, admin_user):
    client.force_login(admin_user)
    receipt = _deliver()
    Message.objects.all().delete()  # the mirror lost it
    response = client.post(f"/api/v1/webhook-receipts/{receipt.pk}/replay/")
    assert response.status_code == 200
    assert response.json() == {"receiptId": receipt.pk, "outcome": "applied", "conversationId": "c-9"}
    assert Message.objects.get().message_id == "m-1"
    audit = AuditEntry.objects.get(action="webhook_receipt.replayed")
    assert (audit.actor, audit.target_id) == ("user:ada-admin", str(receipt.pk))
    # Replaying again changes nothing in the mirror.
    assert client.post(f"/api/v1/webhook-receipts/{receipt.pk}/replay/").status_code == 200
    assert Message.objects.count() == 1


def test_it_refuses_to_replay_a_receipt_without_an_accepted_body(client, admin_user):
    client.force_login(admin_user)
    post_native(Client(), {"id": "evt-bad"}, msg_id="evt-bad")
    rejected = WebhookReceipt.objects.get(outcome="rejected")
    response = client.post(f"/api/v1/webhook-receipts/{rejected.pk}/replay/")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    broken = _deliver("evt-2", "m-2")
    WebhookReceipt.objects.filter(pk=broken.pk).update(body="{not json")
    assert client.post(f"/api/v1/webhook-receipts/{broken.pk}/replay/").status_code == 422
    assert client.post("/api/v1/webhook-receipts/999999/replay/").status_code == 404
    assert not AuditEntry.objects.filter(action="webhook_receipt.replayed").exists()
