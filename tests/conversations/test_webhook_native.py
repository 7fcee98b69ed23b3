"""POST /webhooks/native/: Standard Webhooks signatures, contract status codes, receipts, ordering."""

from __future__ import annotations

import json
import time

import pytest
import time_machine

from conversations.models import Conversation, Handoff, Message, Participant, WebhookReceipt
from tests.webhooks import event, native_headers, post_native

pytestmark = pytest.mark.django_db

SECOND_SECRET = "whsec_dGVzdC1zZWNyZXQtdHdvLTAxMjM0NTY3ODk="


def started(conversation_id="c-1", seq=1, event_id=None, **data):
    payload = {
        "channel": "web-messaging",
        "tenant": "acme",
        "customerKey": "cust-1",
        "routingData": {"queueId": "billing", "skillRequirements": ["billing"], "priority": 3},
        "customAttributes": {"tier": "gold"},
        **data,
    }
    return event(event_id or f"evt-start-{conversation_id}", "conversation.started", conversation_id, seq, payload)


def test_it_applies_a_signed_event_and_answers_the_contract_shape(client):
    response = post_native(client, started())
    assert response.status_code == 200
    assert response.json() == {"status": "applied", "eventId": "evt-start-c-1"}
    conversation = Conversation.objects.get(pk="c-1")
    assert conversation.state == "pending"
    assert conversation.routing_data["queueId"] == "billing"
    assert conversation.queue_id == "billing"
    assert conversation.customer_key == "cust-1"
    receipt = WebhookReceipt.objects.get()
    assert (receipt.outcome, receipt.signature_valid, receipt.conversation_id) == ("applied", True, "c-1")
    assert json.loads(receipt.body)["id"] == "evt-start-c-1"


def test_it_records_a_redelivery_as_duplicate_with_200(client):
    post_native(client, started())
    response = post_native(client, started())
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert list(WebhookReceipt.objects.order_by("id").values_list("outcome", flat=True)) == ["applied", "duplicate"]


def test_it_accepts_a_rotated_secret(client):
    response = post_native(client, started(), secret=SECOND_SECRET)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "tamper",
    ["body", "wrong_secret", "missing_signature", "missing_id", "missing_timestamp", "old", "ahead", "not_v1"],
)
def test_it_refuses_unauthentic_deliveries_with_401(client, tamper):
    payload = started()
    body = json.dumps(payload).encode()
    now = int(time.time())
    headers = native_headers(body, msg_id="m1", timestamp=now)
    if tamper == "body":
        body = body.replace(b"billing", b"premium")
    elif tamper == "wrong_secret":
        headers = native_headers(body, msg_id="m1", timestamp=now, secret="whsec_d3Jvbmctc2VjcmV0LTAxMjM0NTY3ODk=")
    elif tamper == "missing_signature":
        del headers["HTTP_WEBHOOK_SIGNATURE"]
    elif tamper == "missing_id":
        del headers["HTTP_WEBHOOK_ID"]
    elif tamper == "missing_timestamp":
        del headers["HTTP_WEBHOOK_TIMESTAMP"]
    elif tamper == "old":
        headers = native_headers(body, msg_id="m1", timestamp=now - 301)
    elif tamper == "ahead":
        headers = native_headers(body, msg_id="m1", timestamp=now + 301)
    elif tamper == "not_v1":
        headers["HTTP_WEBHOOK_SIGNATURE"] = headers["HTTP_WEBHOOK_SIGNATURE"].replace("v1,", "v2,")
    with time_machine.travel(now, tick=False):  # exactly 301 s, whatever the test machine's speed
        response = client.post("/webhooks/native/", data=body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert not Conversation.objects.exists()
    receipt = WebhookReceipt.objects.get()
    assert (receipt.outcome, receipt.status_code, receipt.signature_valid) == ("rejected", 401, False)
    assert receipt.body == ""


def test_it_accepts_timestamps_300_seconds_either_way(client):
    now = int(time.time())
    with time_machine.travel(now, tick=False):
        assert post_native(client, started(), timestamp=now - 300).status_code == 200
        assert post_native(client, started("c-2"), timestamp=now + 300).status_code == 200


def test_it_refuses_an_oversize_body_with_413(client):
    payload = started(customAttributes={"blob": "x" * (256 * 1024)})
    response = post_native(client, payload)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert WebhookReceipt.objects.get().outcome == "rejected"


def test_it_refuses_non_json_with_415(client):
    body = b"id=1"
    response = client.post(
        "/webhooks/native/", data=body, content_type="application/x-www-form-urlencoded", **native_headers(body)
    )
    assert response.status_code == 415
    assert response["Content-Type"] == "application/problem+json"


def test_it_refuses_malformed_json_with_400(client):
    body = b'{"id": "x", '
    response = client.post("/webhooks/native/", data=body, content_type="application/json", **native_headers(body))
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["detail"]


def test_it_refuses_invalid_utf8_and_deep_nesting_with_400(client):
    for body in (b'{"id": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
        response = client.post("/webhooks/native/", data=body, content_type="application/json", **native_headers(body))
        assert response.status_code in (400, 413)
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(occurredAt="yesterday"), "occurredAt"),
        (lambda e: e.pop("conversationId"), "conversationId"),
        (lambda e: e.update(sequence="seven"), "sequence"),
        (lambda e: e.update(data=[]), "data"),
        (lambda e: e["data"].update(routingData="billing"), "data.routingData"),
        (lambda e: e["data"]["routingData"].update(skillRequirements="billing"), "data.routingData.skillRequirements"),
    ],
)
def test_it_names_the_bad_field_in_a_400(client, mutate, field):
    payload = started()
    mutate(payload)
    response = post_native(client, payload, msg_id="m-bad")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert field in response.json()["detail"]


def test_it_names_missing_participant_id(client):
    payload = event("e1", "participant.joined", "c-1", 2, {"role": "agent"})
    response = post_native(client, payload)
    assert response.status_code == 400
    assert response.json()["field"] == "data.participantId"


def test_it_ignores_unknown_event_types(client):
    payload = {"id": "evt-x", "type": "deployment.updated", "occurredAt": "2026-11-24T10:00:00Z", "data": {}}
    response = post_native(client, payload)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "eventId": "evt-x"}
    assert WebhookReceipt.objects.get().outcome == "ignored"


def test_it_answers_404_for_an_unknown_source_and_405_for_get(client):
    assert client.post("/webhooks/zendesk/", data=b"{}", content_type="application/json").status_code == 404
    response = client.get("/webhooks/native/")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"


def test_it_creates_a_conversation_from_an_event_that_arrives_before_started(client):
    message = event(
        "e-msg",
        "message.created",
        "c-9",
        5,
        {"messageId": "m-1", "participantId": "p-1", "direction": "inbound", "text": "hello"},
    )
    assert post_native(client, message).json()["status"] == "applied"
    conversation = Conversation.objects.get(pk="c-9")
    assert conversation.state == "pending"
    assert post_native(client, started("c-9", seq=1)).json()["status"] == "stale"
    conversation.refresh_from_db()
    assert conversation.channel == "web-messaging"
    assert conversation.routing_data["queueId"] == "billing"
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_it_keeps_terminal_states_sticky(client):
    post_native(client, started())
    post_native(
        client, event("e-close", "conversation.state_changed", "c-1", 5, {"state": "closed", "reason": "agent"})
    )
    post_native(client, event("e-active", "conversation.state_changed", "c-1", 6, {"state": "active"}))
    conversation = Conversation.objects.get(pk="c-1")
    assert conversation.state == "closed"
    assert conversation.close_reason == "agent"
    # A late delivery from before the close is stale and changes nothing.
    response = post_native(client, event("e-early", "conversation.state_changed", "c-1", 3, {"state": "active"}))
    assert response.json()["status"] == "stale"
    assert Conversation.objects.get(pk="c-1").state == "closed"


def test_it_records_a_handoff_with_lost_keys(client):
    post_native(client, started())
    transfer = event(
        "e-t",
        "conversation.transferred",
        "c-1",
        4,
        {
            "fromParticipantId": "a-1",
            "toParticipantId": "a-2",
            "fromQueueId": "billing",
            "toQueueId": "tech",
            "routingData": {"queueId": "tech"},
            "customAttributes": {"tier": "gold"},
        },
    )
    post_native(client, transfer)
    handoff = Handoff.objects.get()
    assert handoff.context_before["routingData"]["skillRequirements"] == ["billing"]
    assert handoff.context_after["routingData"] == {"queueId": "tech"}
    assert handoff.lost_keys == ["routingData.priority", "routingData.skillRequirements"]
    conversation = Conversation.objects.get(pk="c-1")
    assert conversation.queue_id == "tech"


def test_it_fixes_handoff_context_when_an_earlier_context_change_arrives_late(client):
    post_native(client, started())
    post_native(
        client,
        event(
            "e-t",
            "conversation.transferred",
            "c-1",
            4,
            {"toQueueId": "tech", "routingData": {"queueId": "tech"}, "customAttributes": {"tier": "gold"}},
        ),
    )
    # An attributes update from before the transfer (seq 2) arrives after it.
    post_native(
        client,
        event(
            "e-attr", "conversation.attributes_updated", "c-1", 2, {"customAttributes": {"tier": "gold", "vip": "yes"}}
        ),
    )
    handoff = Handoff.objects.get()
    assert handoff.context_before["customAttributes"] == {"tier": "gold", "vip": "yes"}
    assert "customAttributes.vip" in handoff.lost_keys


def test_participant_left_before_joined_ends_left(client):
    post_native(
        client, event("e-left", "participant.left", "c-1", 6, {"participantId": "p-1", "disconnectType": "client"})
    )
    post_native(
        client,
        event("e-join", "participant.joined", "c-1", 2, {"participantId": "p-1", "role": "customer", "name": "Ann"}),
    )
    participant = Participant.objects.get()
    assert (participant.state, participant.role, participant.name, participant.disconnect_type) == (
        "left",
        "customer",
        "Ann",
        "client",
    )


def test_it_masks_card_numbers_in_pci_scoped_conversations(client):
    post_native(client, started(routingData={"queueId": "q", "complianceFlags": ["pci-scoped"]}))
    post_native(
        client,
        event(
            "e-m",
            "message.created",
            "c-1",
            2,
            {"messageId": "m-1", "direction": "inbound", "text": "my card is 4111 1111 1111 1111 thanks"},
        ),
    )
    assert Message.objects.get().text == "my card is **** **** **** 1111 thanks"


def test_a_conversation_that_becomes_pci_scoped_masks_earlier_messages(client):
    post_native(
        client,
        event(
            "e-m", "message.created", "c-1", 2, {"messageId": "m-1", "direction": "inbound", "text": "4111111111111111"}
        ),
    )
    post_native(client, started(routingData={"complianceFlags": ["pci-scoped"]}))
    assert Message.objects.get().text == "************1111"


def test_activity_and_inbound_times(client):
    post_native(client, started())
    post_native(
        client, event("e-m", "message.created", "c-1", 9, {"messageId": "m-1", "direction": "inbound", "text": "hi"})
    )
    post_native(client, event("e-s", "conversation.state_changed", "c-1", 20, {"state": "active"}))
    conversation = Conversation.objects.get(pk="c-1")
    assert conversation.last_activity_at.second == 9  # state changes are not activity
    assert conversation.last_inbound_at == conversation.last_activity_at
    assert conversation.expires_at - conversation.last_activity_at == conversation.ttl
