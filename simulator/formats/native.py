"""Native platform: canonical events (docs/architecture.md, "Webhook contract") signed with Standard Webhooks v1.

Every event carries the conversation's sequence, so the console orders them exactly.
The platform does not report queues as participants; the queue is ``routingData.queueId``.
"""

from __future__ import annotations

from conversations.ingest.canonical import format_instant
from conversations.ingest.native import sign
from simulator.formats import Delivery, Secrets, dump
from simulator.platform import QUEUES, Change, SimConversation

SOURCE = "native"


def render(conversation: SimConversation, change: Change, secrets: Secrets) -> list[Delivery]:
    return [
        _delivery(conversation, change, event_type, data, secrets) for event_type, data in _events(conversation, change)
    ]


def _events(conversation: SimConversation, change: Change):
    data = change.data
    if change.kind == "started":
        yield (
            "conversation.started",
            {
                "channel": conversation.channel,
                "tenant": conversation.tenant,
                "customerKey": conversation.customer_key,
                "routingData": conversation.routing,
                "customAttributes": conversation.custom,
            },
        )
    elif change.kind == "joined" and data["participant"].role != "acd":
        participant = data["participant"]
        body = {"participantId": participant.id, "role": participant.role, "name": participant.name}
        if participant.queue_key:
            body["queueId"] = QUEUES[participant.queue_key].id_for(SOURCE)
        if participant.attributes:
            body["attributes"] = participant.attributes
        yield "participant.joined", body
    elif change.kind == "left" and data["participant"].role != "acd":
        participant = data["participant"]
        yield "participant.left", {"participantId": participant.id, "disconnectType": participant.disconnect_type}
    elif change.kind == "message":
        message = data["message"]
        body = {
            "messageId": message.id,
            "participantId": message.participant_id,
            "direction": message.direction,
            "text": message.text,
        }
        if message.idempotency_key:
            body["idempotencyKey"] = message.idempotency_key
        yield "message.created", body
    elif change.kind == "state":
        yield "conversation.state_changed", {"state": data["state"]}
    elif change.kind == "transfer":
        yield (
            "conversation.transferred",
            {
                "fromParticipantId": data["from"].id if data["from"] else "",
                "toParticipantId": "",
                "fromQueueId": QUEUES[data["from_queue"]].id_for(SOURCE),
                "toQueueId": QUEUES[data["to_queue"]].id_for(SOURCE),
                "routingData": conversation.routing,
                "customAttributes": conversation.custom,
            },
        )
    elif change.kind == "attributes":
        yield (
            "conversation.attributes_updated",
            {"routingData": conversation.routing, "customAttributes": conversation.custom},
        )
    elif change.kind == "closed":
        yield "conversation.state_changed", {"state": data["state"], "reason": data["reason"]}


def _delivery(conversation: SimConversation, change: Change, event_type: str, data: dict, secrets: Secrets) -> Delivery:
    sequence = conversation.next_sequence()
    event_id = f"evt_{conversation.id}_{sequence:04d}"
    body = dump(
        {
            "id": event_id,
            "type": event_type,
            "occurredAt": format_instant(change.at),
            "conversationId": conversation.id,
            "sequence": sequence,
            "data": data,
        }
    )

    def headers_for(timestamp: int) -> dict:
        return {
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets.native, event_id, timestamp, body),
        }

    return Delivery(SOURCE, conversation.id, event_id, event_type, body, headers_for)
