"""Live pushes about conversations (docs/architecture.md, "Live updates"), sent after commit.

Group ``conversation.<hash>`` receives ``conversation.updated`` (the mirror's new lifecycle state)
and ``timeline.event`` (a webhook or an audit row about it), so an open conversation page sees a
delivery, a force-close, an expiry or a reconciliation without reloading; group ``health`` hears
that a conversation appeared or changed state. Nothing is sent when the transaction rolls back.
"""

from __future__ import annotations

from console.events import HEALTH_GROUP, conversation_group, send_many_on_commit, send_on_commit
from console.models import AuditEntry
from conversations.ingest.canonical import format_instant
from conversations.models import Conversation, ForceCloseRequest


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


def conversation_state_changed(conversation, *, to_page: bool = True) -> None:
    """A conversation appeared or changed state: dashboards recount, its page refreshes its header."""
    summary = {"conversationId": conversation.pk, "state": conversation.state}
    send_on_commit(HEALTH_GROUP, {"type": "health.update", "conversation": summary})
    if to_page:
        send_on_commit(conversation_group(conversation.pk), {"type": "conversation.updated", "conversation": summary})


def _instant(value):
    return format_instant(value) if value else None


def conversation_payload(conversation: Conversation, force_close: ForceCloseRequest | None = None) -> dict:
    payload = {
        "conversationId": conversation.id,
        "state": conversation.state,
        "closedAt": _instant(conversation.closed_at),
        "closeReason": conversation.close_reason,
        "lastActivityAt": _instant(conversation.last_activity_at),
        "expiresAt": _instant(conversation.expires_at),
    }
    if force_close is not None:
        payload["forceClose"] = {
            "status": force_close.status,
            "attempts": force_close.attempts,
            "nextAttemptAt": _instant(force_close.next_attempt_at),
            "lastError": force_close.last_error,
        }
    return payload


def conversation_updated(conversation: Conversation, *, force_close: ForceCloseRequest | None = None) -> None:
    send_on_commit(
        conversation_group(conversation.id),
        {"type": "conversation.updated", "conversation": conversation_payload(conversation, force_close)},
    )


def audit_recorded(entry: AuditEntry) -> None:
    """An audit row about a conversation, as a timeline item of its page."""
    send_on_commit(
        conversation_group(entry.target_id),
        {
            "type": "timeline.event",
            "event": {
                "kind": "audit",
                "at": _instant(entry.at),
                "action": entry.action,
                "actor": entry.actor,
                "reason": entry.reason,
                "before": entry.before,
                "after": entry.after,
            },
        },
    )


def lifecycle_changed(changes: list[dict]) -> None:
    """Set-based transitions (expiry): one conversation.updated per conversation, sent together after commit."""
    send_many_on_commit(
        [
            (conversation_group(change["conversationId"]), {"type": "conversation.updated", "conversation": change})
            for change in changes
        ]
    )
