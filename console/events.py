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

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

HEALTH_GROUP = "health"
# Batches of pushes waiting for the channel layer in one process; beyond this (Redis down for long)
# new ones are dropped.
MAX_PENDING_PUSHES = 10_000


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


class _Pusher:
    """One event loop thread per process that sends live pushes in order (channels_redis).

    ``async_to_sync(group_send)`` from a sync worker makes a new event loop per call, and
    channels_redis keeps its connection pool per loop, so every push paid a fresh Redis
    connection (about 4 ms of a webhook's time, docs/performance.md). Here the loop and its
    connections live as long as the process; the request only queues the push.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._dropped = 0

    def push(self, layer, group: str, message: dict) -> None:
        self.push_many(layer, [(group, message)])

    def push_many(self, layer, messages: list[tuple[str, dict]]) -> None:
        """Queue pushes to be sent in order; returns at once."""
        loop, queue = self._started()
        loop.call_soon_threadsafe(self._enqueue, queue, (layer, messages))

    def _enqueue(self, queue: asyncio.Queue, item) -> None:
        if queue.qsize() >= MAX_PENDING_PUSHES:
            self._dropped += len(item[1])
            if self._dropped == len(item[1]):  # the first drop of a backlog is logged, not each one
                log.warning("live pushes dropped: %d batches are waiting for the channel layer", queue.qsize())
            return
        if self._dropped:
            log.warning("live pushes resumed after %d were dropped", self._dropped)
            self._dropped = 0
        queue.put_nowait(item)

    def _started(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked worker starts its own
                loop = asyncio.new_event_loop()
                queue: asyncio.Queue = asyncio.Queue()
                ready = threading.Event()
                threading.Thread(target=self._run, args=(loop, queue, ready), name="live-push", daemon=True).start()
                ready.wait()
                self._loop, self._queue, self._pid = loop, queue, os.getpid()
            return self._loop, self._queue

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)

        async def drain():
            ready.set()
            while True:
                layer, messages = await queue.get()
                for group, message in messages:
                    try:
                        await layer.group_send(group, message)
                    except Exception:  # best effort, as above
                        log.warning("live push to %s failed", group, exc_info=True)

        loop.run_until_complete(drain())


PUSHER = _Pusher()
