"""A comparable snapshot of the whole mirror (for order-independence and replay tests)."""

from __future__ import annotations

from conversations.models import Conversation, Handoff, Message, Participant

CONVERSATION_FIELDS = (
    "id",
    "source",
    "tenant",
    "channel",
    "state",
    "queue_id",
    "routing_data",
    "custom_attributes",
    "customer_key",
    "started_at",
    "first_event_at",
    "activity_at",
    "last_activity_at",
    "last_inbound_at",
    "closed_at",
    "close_reason",
    "last_sequence",
)
PARTICIPANT_FIELDS = (
    "conversation_id",
    "participant_id",
    "role",
    "name",
    "user_id",
    "queue_id",
    "state",
    "joined_at",
    "left_at",
    "disconnect_type",
    "attributes",
)
MESSAGE_FIELDS = (
    "conversation_id",
    "message_id",
    "sequence",
    "participant_id",
    "direction",
    "text",
    "idempotency_key",
    "created_at",
)
HANDOFF_FIELDS = (
    "conversation_id",
    "key",
    "from_participant_id",
    "to_participant_id",
    "from_queue_id",
    "to_queue_id",
    "context_before",
    "context_after",
    "lost_keys",
    "occurred_at",
)


def snapshot() -> dict:
    return {
        "conversations": list(Conversation.objects.order_by("id").values(*CONVERSATION_FIELDS)),
        "participants": list(
            Participant.objects.order_by("conversation_id", "participant_id").values(*PARTICIPANT_FIELDS)
        ),
        "messages": list(Message.objects.order_by("conversation_id", "message_id").values(*MESSAGE_FIELDS)),
        "handoffs": list(Handoff.objects.order_by("conversation_id", "key").values(*HANDOFF_FIELDS)),
    }
