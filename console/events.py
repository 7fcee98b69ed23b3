"""Live pushes to supervisor pages over Channels: the only module that calls group_send.

Every send waits for the surrounding transaction to commit, so a rolled-back change
pushes nothing (Zulip's send_event_on_commit). Apps describe what changed through
their own events.py, which calls ``send_on_commit`` here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

HEALTH_GROUP = "health"
# Groups a batch of pushes sends to at the same time (each holds one Redis connection meanwhile).
CONCURRENT_GROUP_SENDS = 32


def conversation_group(conversation_id: str) -> str:
    """Channels group names allow only ASCII letters, digits, '-', '_' and '.' (< 100 chars)."""
    return "conversation." + hashlib.sha1(conversation_id.encode()).hexdigest()[:32]


def send_on_commit(group: str, message: dict) -> None:
    transaction.on_commit(lambda: _send(group, message))


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if not isinstance(layer, InMemoryChannelLayer):
        PUSHER.push(layer, group, message)
        return
    # The in-memory layer lives in the ASGI server's own event loop: async_to_sync reaches it.
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
    if not isinstance(layer, InMemoryChannelLayer):
        PUSHER.push_many(layer, messages)
        return

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:  # best effort, as above: the change itself is committed
        log.warning("live push of %d messages failed", len(messages), exc_info=True)


class _Sender:
    """Sends channels_redis pushes from sync code on an event loop kept per thread.

    ``async_to_sync(group_send)`` from a sync worker makes a new event loop per call, and
    channels_redis keeps its connection pool per loop, so every push paid a fresh Redis
    connection (about 4 ms of a webhook's time, docs/performance.md). A loop per thread that
    lives as long as the thread keeps its connections; the pushes of one thread go in order.
    (A background sender thread was measured too: its wake-ups cost the webhook more CPU.)
    """

    def __init__(self):
        self._local = threading.local()

    def push_many(self, layer, messages: list[tuple[str, dict]]) -> None:
        try:
            if _server_loop() is not None:
                # Under an ASGI server each request's sync code runs in a thread of its own: a loop per
                # thread was a loop, a connection pool (channels_redis keeps one per loop, for ever) and a
                # Redis connection per request, never freed (tests/reliability/test_soak.py). The
                # server's own loop is running: async_to_sync sends from it, on its one pool.
                async_to_sync(self._send_all)(layer, messages)
            else:
                self._loop().run_until_complete(self._send_all(layer, messages))
        except Exception:  # a live push is best effort: the change itself is committed
            log.warning("live push of %d messages failed", len(messages), exc_info=True)

    def push(self, layer, group: str, message: dict) -> None:
        self.push_many(layer, [(group, message)])

    @staticmethod
    async def _send_all(layer, messages) -> None:
        """Each group's messages in order; different groups side by side (a set-based change such as
        an expiry sweep pushes to thousands of conversation groups: one after the other, each costs
        its Redis round trips in turn)."""
        by_group: dict[str, list[dict]] = {}
        for group, message in messages:
            by_group.setdefault(group, []).append(message)
        if len(by_group) == 1:
            [(group, queued)] = by_group.items()
            for message in queued:
                await layer.group_send(group, message)
            return
        slots = asyncio.Semaphore(CONCURRENT_GROUP_SENDS)

        async def send_group(group: str, queued: list[dict]) -> None:
            async with slots:
                for message in queued:
                    await layer.group_send(group, message)

        outcomes = await asyncio.gather(
            *(send_group(group, queued) for group, queued in by_group.items()), return_exceptions=True
        )
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            log.warning("live push to %d of %d groups failed: %r", len(failed), len(by_group), failed[0])

    def _loop(self) -> asyncio.AbstractEventLoop:
        local = self._local
        if getattr(local, "loop", None) is None or local.pid != os.getpid():  # a forked child makes its own
            local.loop, local.pid = asyncio.new_event_loop(), os.getpid()
        return local.loop


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The ASGI server's running event loop when this sync code was called from it (sync_to_async)."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


PUSHER = _Sender()
