"""Read paths of the mirror, shared by the API, the pages and the admin."""

from __future__ import annotations

from conversations.models import Conversation, Message

ADMIN_MESSAGE_LIMIT = 100


def latest_messages(conversation: Conversation, limit: int) -> list[Message]:
    """The newest messages in cursor order (index message_cursor, no OFFSET)."""
    newest_first = conversation.messages.order_by("-sequence", "-message_id")[:limit]
    return list(reversed(newest_first))
