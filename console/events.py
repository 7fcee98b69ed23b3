"""Live pushes to supervisor pages over Channels: the only module that calls group_send.

Every send waits for the surrounding transaction to commit, so a rolled-back change
pushes nothing (Zulip's send_event_on_commit). Apps describe what changed through
their own events.py, which calls ``send_on_commit`` here.
"""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

HEALTH_GROUP = "health"


def conversation_group(conversation_id: str) -> str:
    """Channels group names allow only ASCII letters, digits, '-', '_' and '.' (< 100 chars)."""
    return "conversation." + hashlib.sha1(conversation_id.encode()).hexdigest()[:32]


def send_on_commit(group: str, message: dict) -> None:
    transaction.on_commit(lambda: _send(group, message))


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a live push is best effort: the change itself is committed
        log.warning("live push to %s failed", group, exc_info=True)


def send_many_on_commit(messages: list[tuple[str, dict]]) -> None:
    """Many pushes after one commit, sent from one event loop (a set-based change touches many groups)."""
    if messages:
        transaction.on_commit(lambda: _send_many(messages))


def _send_many(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:  # best effort, as above: the change itself is committed
        log.warning("live push of %d messages failed", len(messages), exc_info=True)
