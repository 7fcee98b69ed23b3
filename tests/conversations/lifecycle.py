"""Helpers for expiry, force-close and reconciliation tests: conversations at known times."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from asgiref.sync import async_to_sync

from conversations.models import Conversation
from tests.webhooks import BASE_TIME, event, post_native


def start_conversation(client, conversation_id: str, *, seq: int = 1, active: bool = False) -> Conversation:
    """A native conversation whose last activity is BASE_TIME + seq seconds (started, customer joined)."""
    post_native(
        client,
        event(
            f"{conversation_id}-start",
            "conversation.started",
            conversation_id,
            seq,
            {"channel": "web", "tenant": "acme", "customerKey": f"cust-{conversation_id}"},
        ),
    )
    if active:
        post_native(
            client,
            event(
                f"{conversation_id}-agent",
                "participant.joined",
                conversation_id,
                seq + 1,
                {"participantId": f"{conversation_id}-agent", "role": "agent"},
                seconds=seq,
            ),
        )
        post_native(
            client,
            event(
                f"{conversation_id}-active",
                "conversation.state_changed",
                conversation_id,
                seq + 2,
                {"state": "active"},
                seconds=seq,
            ),
        )
    return Conversation.objects.get(pk=conversation_id)


def bulk_conversations(prefix: str, count: int, *, idle_seconds: int, now, ttl_seconds=None) -> None:
    """Rows written directly (volume tests): open, last activity ``idle_seconds`` before ``now``."""
    last = now - timedelta(seconds=idle_seconds)
    Conversation.objects.bulk_create(
        [
            Conversation(
                id=f"{prefix}-{index}",
                state="active" if index % 2 else "pending",
                first_event_at=last,
                activity_at=last,
                last_activity_at=last,
                last_sequence=index,
                ttl_seconds=ttl_seconds,
            )
            for index in range(count)
        ]
    )


def at(seconds: float):
    return BASE_TIME + timedelta(seconds=seconds)


def receive(layer, channel: str, timeout: float = 5.0) -> dict:
    """The next message of a channel (bounded: a missing push fails instead of hanging)."""

    async def bounded():
        return await asyncio.wait_for(layer.receive(channel), timeout)

    return async_to_sync(bounded)()
