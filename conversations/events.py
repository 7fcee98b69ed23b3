"""Live pushes about the mirror (through console.events, after commit)."""

from __future__ import annotations

from console.events import HEALTH_GROUP, conversation_group, send_on_commit


def delivery_applied(receipt) -> None:
    """A webhook changed (or was recorded for) a conversation: its open pages refresh their timeline."""
    if not receipt.conversation_id:
        return
    send_on_commit(
        conversation_group(receipt.conversation_id),
        {
            "type": "timeline.event",
            "event": {
                "kind": "webhook",
                "source": receipt.source,
                "eventId": receipt.event_id,
                "eventTypes": receipt.event_types,
                "outcome": receipt.outcome,
            },
        },
    )


def conversation_state_changed(conversation) -> None:
    """A conversation appeared or changed state: dashboards recount, its page refreshes its header."""
    summary = {"conversationId": conversation.pk, "state": conversation.state}
    send_on_commit(HEALTH_GROUP, {"type": "health.update", "conversation": summary})
    send_on_commit(conversation_group(conversation.pk), {"type": "conversation.updated", "conversation": summary})
