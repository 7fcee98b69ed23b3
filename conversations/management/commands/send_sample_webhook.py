"""Sign and POST a small sample conversation to a running console, as a platform would.

The conversation starts with routing context, an agent joins, messages flow, and a
transfer drops part of the context, so the admin shows a handoff with lost keys.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.ingest.canonical import format_instant
from conversations.ingest.native import sign


def sample_events(conversation_id: str, start: datetime) -> list[dict]:
    def event(seq: int, event_type: str, data: dict) -> dict:
        return {
            "id": f"evt_{conversation_id}_{seq}",
            "type": event_type,
            "occurredAt": format_instant(start + timedelta(seconds=seq)),
            "conversationId": conversation_id,
            "sequence": seq,
            "data": data,
        }

    routing = {
        "queueId": "billing",
        "skillRequirements": ["billing", "priority"],
        "priority": 5,
        "complianceFlags": ["pci-scoped"],
    }
    custom = {"tenantId": "acme-corp", "sessionOrigin": "direct-widget", "tier": "gold"}
    return [
        event(
            1,
            "conversation.started",
            {
                "channel": "web-messaging",
                "tenant": "acme-corp",
                "customerKey": f"cust-{conversation_id}",
                "routingData": routing,
                "customAttributes": custom,
            },
        ),
        event(
            2,
            "participant.joined",
            {"participantId": f"{conversation_id}-customer", "role": "customer", "name": "Sample Customer"},
        ),
        event(
            3,
            "participant.joined",
            {"participantId": f"{conversation_id}-agent-1", "role": "agent", "name": "Agent One", "queueId": "billing"},
        ),
        event(4, "conversation.state_changed", {"state": "active"}),
        event(
            5,
            "message.created",
            {
                "messageId": f"{conversation_id}-m1",
                "participantId": f"{conversation_id}-customer",
                "direction": "inbound",
                "text": "I need to update my payment method.",
                "idempotencyKey": secrets.token_hex(8),
            },
        ),
        event(
            6,
            "message.created",
            {
                "messageId": f"{conversation_id}-m2",
                "participantId": f"{conversation_id}-agent-1",
                "direction": "outbound",
                "text": "Let me transfer you to a specialist.",
                "idempotencyKey": secrets.token_hex(8),
            },
        ),
        event(
            7,
            "conversation.transferred",
            {
                "fromParticipantId": f"{conversation_id}-agent-1",
                "toParticipantId": f"{conversation_id}-agent-2",
                "fromQueueId": "billing",
                "toQueueId": "specialists",
                "routingData": {"queueId": "specialists", "skillRequirements": ["technical"]},
                "customAttributes": {"tenantId": "acme-corp", "sessionOrigin": "direct-widget"},
            },
        ),
        event(8, "participant.left", {"participantId": f"{conversation_id}-agent-1", "disconnectType": "transfer"}),
        event(
            9,
            "participant.joined",
            {
                "participantId": f"{conversation_id}-agent-2",
                "role": "agent",
                "name": "Agent Two",
                "queueId": "specialists",
            },
        ),
    ]


class Command(BaseCommand):
    help = (
        "Sign (Standard Webhooks, first secret of CONSOLE_WEBHOOK_SECRETS) and POST a sample conversation "
        "with a lossy transfer to a running console's /webhooks/native/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Console base URL (default %(default)s)")
        parser.add_argument("--conversation", help="Conversation id (default: sample-<random>)")

    def handle(self, *args, **options):
        if not settings.CONSOLE_WEBHOOK_SECRETS:
            raise CommandError("CONSOLE_WEBHOOK_SECRETS is not set; the console would refuse the signature")
        secret = settings.CONSOLE_WEBHOOK_SECRETS[0]
        conversation_id = options["conversation"] or f"sample-{secrets.token_hex(4)}"
        endpoint = options["url"].rstrip("/") + "/webhooks/native/"
        events = sample_events(conversation_id, datetime.now(UTC) - timedelta(seconds=30))
        with httpx.Client(timeout=10) as client:
            for index, event in enumerate(events, start=1):
                body = json.dumps(event).encode()
                timestamp = str(int(time.time()))
                headers = {
                    "content-type": "application/json",
                    "webhook-id": event["id"],
                    "webhook-timestamp": timestamp,
                    "webhook-signature": sign(secret, event["id"], timestamp, body),
                }
                try:
                    response = client.post(endpoint, content=body, headers=headers)
                except httpx.HTTPError as error:
                    raise CommandError(f"could not reach {endpoint}: {error}") from None
                self.stdout.write(
                    f"[{index}/{len(events)}] {event['type']:<28} -> {response.status_code} {response.text}"
                )
                if response.status_code != 200:
                    raise CommandError(f"the console refused {event['id']}")
        page = f"{options['url'].rstrip('/')}/admin/conversations/conversation/{conversation_id}/change/"
        self.stdout.write(self.style.SUCCESS(f"Conversation {conversation_id} sent; see {page}"))
