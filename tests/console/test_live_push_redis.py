"""Live pushes through channels_redis (production): sent after the commit, in order, on a kept event loop."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers

from console import events
from tests.conftest import require_service
from tests.console.broker import SHARED_REDIS, redis_answers
from tests.webhooks import event, post_native

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def redis_layer(settings):
    require_service("redis", redis_answers(SHARED_REDIS), SHARED_REDIS)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [SHARED_REDIS], "prefix": "test-live-push"},
        }
    }
    channel_layers.backends.clear()
    layer = channel_layers["default"]
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.HEALTH_GROUP, channel)
    yield layer, channel
    async_to_sync(layer.group_discard)(events.HEALTH_GROUP, channel)
    channel_layers.backends.clear()


def _receive(layer, channel) -> dict:
    async def receive():
        import asyncio

        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    return async_to_sync(receive)()


def test_it_pushes_new_conversations_to_the_health_group_in_order_after_the_commit(
    client, redis_layer, django_capture_on_commit_callbacks
):
    layer, channel = redis_layer
    for number in (1, 2, 3):
        payload = event(f"evt-{number}", "conversation.started", f"c-{number}", 1, {"channel": "web"})
        with django_capture_on_commit_callbacks(execute=True):
            assert post_native(client, payload).status_code == 200
    # The detectors (eager here) also push finding.raised to the group: the dashboard's counters are
    # the health.update messages.
    updates = []
    for _ in range(20):  # bounded: at most a few finding.raised between them
        message = _receive(layer, channel)
        if message["type"] == "health.update":
            updates.append(message)
        if len(updates) == 3:
            break
    assert [(m["type"], m["conversation"]["conversationId"]) for m in updates] == [
        ("health.update", "c-1"),
        ("health.update", "c-2"),
        ("health.update", "c-3"),
    ]


def test_it_pushes_nothing_when_the_transaction_rolls_back(redis_layer, django_capture_on_commit_callbacks):
    from django.db import transaction

    layer, channel = redis_layer
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events.send_on_commit(events.HEALTH_GROUP, {"type": "health.update", "n": 1})
        transaction.set_rollback(True)
    with django_capture_on_commit_callbacks(execute=True):
        events.send_many_on_commit([(events.HEALTH_GROUP, {"type": "health.update", "n": 2})])
    assert _receive(layer, channel)["n"] == 2
