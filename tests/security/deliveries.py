"""Sign any body, valid or not, the way each platform signs its webhooks, and post it."""

from __future__ import annotations

import json
import time

from django.conf import settings

from conversations.ingest import genesys
from conversations.ingest.native import sign as native_sign
from tests.conversations.test_webhook_cxone import message as cxone_message
from tests.conversations.test_webhook_cxone import stream as cxone_stream
from tests.conversations.test_webhook_genesys import eventbridge, transfer_stream
from tests.webhooks import event

SOURCES = ("native", "genesys", "cxone")


def encode(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def signed_headers(source: str, body: bytes, *, msg_id: str = "msg-sec", timestamp: int | None = None) -> dict:
    """Valid authenticity headers for ``body`` (Django test-client META names)."""
    if source == "native":
        timestamp = int(time.time()) if timestamp is None else timestamp
        return {
            "HTTP_WEBHOOK_ID": msg_id,
            "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
            "HTTP_WEBHOOK_SIGNATURE": native_sign(settings.CONSOLE_WEBHOOK_SECRETS[0], msg_id, timestamp, body),
        }
    if source == "genesys":
        return {"HTTP_X_HUB_SIGNATURE_256": genesys.sign(settings.GENESYS_WEBHOOK_SECRET, body)}
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.CXONE_WEBHOOK_TOKEN}"}


def post(client, source: str, body: bytes, headers: dict, content_type: str = "application/json"):
    return client.post(f"/webhooks/{source}/", data=body, content_type=content_type, **headers)


def post_signed(client, source: str, payload, **options):
    body = encode(payload)
    return post(client, source, body, signed_headers(source, body, **options))


def valid_payloads(source: str) -> list[dict]:
    """Realistic deliveries of each source (the shapes the adapter tests pin down)."""
    if source == "native":
        conversation = "c-sec"
        return [
            event(
                "e-start",
                "conversation.started",
                conversation,
                1,
                {
                    "channel": "web",
                    "tenant": "acme",
                    "customerKey": "k-1",
                    "routingData": {"queueId": "q", "skillRequirements": ["s"], "priority": 2, "complianceFlags": []},
                    "customAttributes": {"tier": "gold"},
                },
            ),
            event("e-state", "conversation.state_changed", conversation, 2, {"state": "active", "reason": "agent"}),
            event(
                "e-attrs",
                "conversation.attributes_updated",
                conversation,
                3,
                {"routingData": {"queueId": "q2"}, "customAttributes": {"tier": "silver"}},
            ),
            event(
                "e-join",
                "participant.joined",
                conversation,
                4,
                {"participantId": "p-1", "role": "agent", "name": "Ann", "queueId": "q", "attributes": {}},
            ),
            event("e-pstate", "participant.state_changed", conversation, 5, {"participantId": "p-1", "state": "held"}),
            event(
                "e-msg",
                "message.created",
                conversation,
                6,
                {
                    "messageId": "m-1",
                    "participantId": "p-1",
                    "direction": "outbound",
                    "text": "hello",
                    "idempotencyKey": "i-1",
                },
            ),
            event(
                "e-xfer",
                "conversation.transferred",
                conversation,
                7,
                {
                    "fromParticipantId": "p-1",
                    "toParticipantId": "p-2",
                    "fromQueueId": "q",
                    "toQueueId": "q2",
                    "routingData": {"queueId": "q2"},
                    "customAttributes": {"tier": "gold"},
                },
            ),
            event("e-left", "participant.left", conversation, 8, {"participantId": "p-1", "disconnectType": "client"}),
        ]
    if source == "genesys":
        stream = transfer_stream()
        return [*stream, eventbridge("user.start", stream[4]["eventBody"], "eb-1")]
    return [*cxone_stream(), cxone_message("e-msg-x", 30, "m-x", "text")]
