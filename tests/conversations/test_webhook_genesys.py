"""POST /webhooks/genesys/: notification and EventBridge envelopes, as the Genesys SDK models shape them."""

from __future__ import annotations

import copy
import json

import pytest

from conversations.models import Conversation, Handoff, Participant, WebhookReceipt
from tests.webhooks import post_genesys

pytestmark = pytest.mark.django_db

CONV = "5c1e4b1a-3e0f-4c1e-9a3c-0d6f1f0b2a11"
CUSTOMER = "8a0b2c3d-1111-4222-8333-944455556666"
ACD_1 = "9b1c2d3e-5555-4666-8777-d88899990000"
ACD_2 = "9b1c2d3e-5555-4666-8777-d88899990001"
AGENT_1 = "2d3e4f5a-9999-4aaa-8bbb-c22233334444"
AGENT_2 = "2d3e4f5a-9999-4aaa-8bbb-c22233334445"
QUEUE_1 = "0a1b2c3d-7777-4888-8999-f00011112222"
QUEUE_2 = "0a1b2c3d-7777-4888-8999-f00011113333"
T0 = 1765551650107


def body(kind: str, participant: str, seconds: float, **fields) -> dict:
    base = {
        "eventTime": T0 + int(seconds * 1000),
        "conversationId": CONV,
        "participantId": participant,
        "sessionId": "d2f1e0c9-2222-4333-8444-a55566667777",
        "mediaType": "MESSAGE",
        "provider": "PureCloud Messaging",
        "direction": "INBOUND",
        "messageType": "WEBMESSAGING",
        "divisionId": "f0e1d2c3-4444-4555-8666-c77788889999",
        "conversationExternalContactIds": [],
        "conversationExternalOrganizationIds": [],
    }
    base.update(fields)
    return base


def notification(kind: str, event_body: dict) -> dict:
    return {
        "topicName": f"v2.detail.events.conversation.{CONV}.{kind}",
        "version": "2",
        "eventBody": event_body,
        "metadata": {"CorrelationId": "0c3f0b7e-6a2f-4b0e-8e0a-3f5f2d1c9a77"},
    }


def eventbridge(kind: str, event_body: dict, event_id: str) -> dict:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": f"v2.detail.events.conversation.{{id}}.{kind}",
        "source": "aws.partner/genesys.com/cloud/00000000-0000-0000-0000-000000000000/conversation-detail-events",
        "account": "123456789012",
        "time": "2025-12-12T15:02:30Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {**notification(kind, event_body), "timestamp": "2025-12-12T15:02:30.395Z"},
    }


def transfer_stream() -> list[dict]:
    """Customer in queue 1, agent 1 answers, transfers blind to queue 2, agent 2 answers, all end."""
    return [
        notification("customer.start", body("customer.start", CUSTOMER, 0, externalContactId="ext-contact-1")),
        notification(
            "attributes",
            {
                "eventTime": T0 + 500,
                "conversationId": CONV,
                "participantId": CUSTOMER,
                "attributes": {"AccountNumber": "12345", "Intent": "billing"},
                "conversationExternalContactIds": [],
                "conversationExternalOrganizationIds": [],
                "communications": [{"id": "c0ffee00", "mediaType": "MESSAGE"}],
            },
        ),
        notification(
            "acd.start",
            body(
                "acd.start",
                ACD_1,
                1,
                queueId=QUEUE_1,
                routingPriority=0,
                requestedRoutingSkillIds=["skill-billing"],
                skillExpressionApplied=False,
            ),
        ),
        notification(
            "acd.end",
            body(
                "acd.end",
                ACD_1,
                30,
                queueId=QUEUE_1,
                disconnectType="TRANSFER",
                acdOutcome="ANSWERED",
                answeredUserId="user-1",
                requestedRoutings=["STANDARD"],
                usedRouting="STANDARD",
                connectedDurationMs=29000,
            ),
        ),
        notification("user.start", body("user.start", AGENT_1, 30.5, userId="user-1", queueId=QUEUE_1)),
        notification(
            "user.end",
            body(
                "user.end",
                AGENT_1,
                90,
                userId="user-1",
                queueId=QUEUE_1,
                disconnectType="TRANSFER",
                interactingDurationMs=59500,
            ),
        ),
        notification(
            "acd.start", body("acd.start", ACD_2, 90, queueId=QUEUE_2, routingPriority=0, requestedRoutingSkillIds=[])
        ),
        notification(
            "acd.end",
            body(
                "acd.end",
                ACD_2,
                100,
                queueId=QUEUE_2,
                disconnectType="TRANSFER",
                acdOutcome="ANSWERED",
                answeredUserId="user-2",
            ),
        ),
        notification("user.start", body("user.start", AGENT_2, 100.5, userId="user-2", queueId=QUEUE_2)),
        notification(
            "user.end", body("user.end", AGENT_2, 200, userId="user-2", queueId=QUEUE_2, disconnectType="CLIENT")
        ),
        notification("customer.end", body("customer.end", CUSTOMER, 200.2, disconnectType="ENDPOINT")),
    ]


def test_it_mirrors_a_transfer_stream_with_handoff_and_teardown_close(client):
    for payload in transfer_stream():
        response = post_genesys(client, payload)
        assert response.status_code == 200, response.content
        assert response.json()["status"] in ("applied", "stale")
    conversation = Conversation.objects.get(pk=CONV)
    assert conversation.source == "genesys"
    assert conversation.channel == "webmessaging"
    assert conversation.customer_key == "ext-contact-1"
    assert conversation.custom_attributes == {"AccountNumber": "12345", "Intent": "billing"}
    assert conversation.state == "closed"
    assert conversation.close_reason == "ended"
    assert conversation.closed_at.timestamp() == pytest.approx((T0 + 200_200) / 1000)
    assert Participant.objects.filter(conversation=conversation).count() == 5
    handoff = Handoff.objects.get()
    assert (handoff.from_participant_id, handoff.to_participant_id) == (AGENT_1, ACD_2)
    assert (handoff.from_queue_id, handoff.to_queue_id) == (QUEUE_1, QUEUE_2)
    assert handoff.context_before["routingData"]["skillRequirements"] == ["skill-billing"]
    assert handoff.lost_keys == ["routingData.skillRequirements"]
    assert handoff.context_after["customAttributes"] == {"AccountNumber": "12345", "Intent": "billing"}


def test_acd_end_answered_is_not_a_handoff(client):
    for payload in transfer_stream()[:5]:
        post_genesys(client, payload)
    assert not Handoff.objects.exists()
    assert Conversation.objects.get(pk=CONV).state == "active"


def test_the_teardown_ends_are_not_after_close_and_order_does_not_matter(client):
    stream = transfer_stream()
    for payload in reversed(stream):
        post_genesys(client, payload)
    conversation = Conversation.objects.get(pk=CONV)
    assert conversation.state == "closed"
    assert conversation.closed_at.timestamp() == pytest.approx((T0 + 200_200) / 1000)
    assert Handoff.objects.get().lost_keys == ["routingData.skillRequirements"]


def test_a_bare_notification_redelivered_exactly_is_a_duplicate(client):
    payload = transfer_stream()[0]
    first = post_genesys(client, payload).json()
    again = post_genesys(client, copy.deepcopy(payload)).json()
    assert first["status"] == "applied"
    assert again == {"status": "duplicate", "eventId": first["eventId"]}


def test_it_uses_the_eventbridge_id_as_the_event_id(client):
    event_body = body("customer.start", CUSTOMER, 0)
    response = post_genesys(client, eventbridge("customer.start", event_body, "6efd5506-3fd6-09a1-5599-09ae48bd6dd8"))
    assert response.json() == {"status": "applied", "eventId": "6efd5506-3fd6-09a1-5599-09ae48bd6dd8"}
    assert Conversation.objects.filter(pk=CONV).exists()


def test_enum_values_are_case_insensitive(client):
    post_genesys(
        client,
        notification(
            "customer.start", body("customer.start", CUSTOMER, 0, mediaType="message", messageType="webmessaging")
        ),
    )
    post_genesys(client, notification("user.start", body("user.start", AGENT_1, 1, userId="u")))
    post_genesys(client, notification("user.end", body("user.end", AGENT_1, 5, userId="u", disconnectType="transfer")))
    post_genesys(client, notification("user.start", body("user.start", AGENT_2, 6, userId="u2")))
    assert Handoff.objects.get().to_participant_id == AGENT_2


def test_unknown_topics_are_ignored(client):
    for payload in (
        notification("acw", body("acw", AGENT_1, 1, wrapupCode="x")),
        {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}},
    ):
        response = post_genesys(client, payload)
        assert response.status_code == 200
        assert response.json()["status"] == "ignored"


def test_it_refuses_a_bad_signature_with_401(client):
    response = post_genesys(client, transfer_stream()[0], secret="not-the-secret")
    assert response.status_code == 401
    payload = json.dumps(transfer_stream()[0]).encode()
    assert client.post("/webhooks/genesys/", data=payload, content_type="application/json").status_code == 401
    assert WebhookReceipt.objects.filter(outcome="rejected").count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"eventBody": {}}, "topicName"),
        ({"topicName": f"v2.detail.events.conversation.{CONV}.customer.start"}, "eventBody"),
        (notification("customer.start", {"conversationId": CONV, "participantId": CUSTOMER}), "eventBody.eventTime"),
        (notification("customer.start", {"eventTime": "soon", "participantId": CUSTOMER}), "eventBody.eventTime"),
        (notification("user.start", {"eventTime": T0}), "eventBody.participantId"),
        ({"detail-type": "x", "detail": {}}, "id"),
    ],
)
def test_it_names_the_bad_field_in_a_400(client, payload, field):
    response = post_genesys(client, payload)
    assert response.status_code == 400
    assert response.json()["field"] == field
