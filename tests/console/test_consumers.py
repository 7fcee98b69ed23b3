"""ws/health/ and ws/conversations/<id>/: refused at the handshake unless allowed; pushes only after commit."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from console.asgi import application
from console.events import HEALTH_GROUP, conversation_group, send_on_commit
from conversations.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _connect(path: str, headers: list[tuple[bytes, bytes]]):
    async def run():
        communicator = WebsocketCommunicator(application, path, headers=[(b"host", b"127.0.0.1:8000"), *headers])
        connected, _ = await communicator.connect()
        if connected:
            await communicator.receive_json_from()  # hello
        return communicator, connected

    return async_to_sync(run)()


def test_it_refuses_anonymous_connections_at_the_handshake():
    communicator, connected = _connect("/ws/health/", [ORIGIN])
    assert not connected


def test_it_refuses_users_without_a_console_role(outsider):
    communicator, connected = _connect("/ws/health/", [ORIGIN, (b"cookie", _cookie_for(outsider))])
    assert not connected


def test_it_refuses_a_foreign_origin(supervisor):
    communicator, connected = _connect(
        "/ws/health/", [(b"origin", b"https://evil.example"), (b"cookie", _cookie_for(supervisor))]
    )
    assert not connected


def test_it_refuses_an_unknown_conversation(supervisor):
    communicator, connected = _connect("/ws/conversations/nope/", [ORIGIN, (b"cookie", _cookie_for(supervisor))])
    assert not connected


def _commit(*messages, rollback: bool = False):
    with transaction.atomic():
        for group, message in messages:
            send_on_commit(group, message)
        if rollback:
            transaction.set_rollback(True)


def _scenario(path: str, cookie: bytes, steps, expected: dict):
    """Connect, run the (sync) steps in a worker thread, expect exactly one message."""

    async def run():
        communicator = WebsocketCommunicator(
            application, path, headers=[(b"host", b"127.0.0.1:8000"), ORIGIN, (b"cookie", cookie)]
        )
        connected, _ = await communicator.connect()
        assert connected
        try:
            assert (await communicator.receive_json_from())["type"] == "hello"
            await sync_to_async(steps)()
            assert await communicator.receive_json_from(timeout=2) == expected
            assert await communicator.receive_nothing(timeout=0.2)
        finally:
            await communicator.disconnect()

    async_to_sync(run)()


def test_a_committed_event_reaches_the_dashboard_and_a_rolled_back_one_does_not(supervisor):
    def steps():
        _commit((HEALTH_GROUP, {"type": "health.update", "marker": "rolled-back"}), rollback=True)
        _commit((HEALTH_GROUP, {"type": "health.update", "marker": "committed"}))

    _scenario("/ws/health/", _cookie_for(supervisor), steps, {"type": "health.update", "marker": "committed"})


def test_a_conversation_socket_gets_only_its_conversation(supervisor):
    now = "2026-11-24T10:00:00Z"
    for pk in ("c-1", "c-2"):
        Conversation.objects.create(id=pk, first_event_at=now, last_activity_at=now)

    def steps():
        _commit(
            (conversation_group("c-2"), {"type": "timeline.event", "id": "other"}),
            (conversation_group("c-1"), {"type": "timeline.event", "id": "mine"}),
        )

    _scenario("/ws/conversations/c-1/", _cookie_for(supervisor), steps, {"type": "timeline.event", "id": "mine"})


def test_a_webhook_reaches_the_open_conversation_page(supervisor):
    from django.utils import timezone

    from conversations.ingest.canonical import format_instant
    from tests.webhooks import post_native

    now = format_instant(timezone.now())  # recent: an old message would also raise stale_session
    Conversation.objects.create(
        id="c-live", first_event_at=now, last_activity_at=now, versions={"event": [0, now, "evt-0"]}
    )

    def steps():
        post_native(
            Client(),
            {
                "id": "evt-live-1",
                "type": "message.created",
                "conversationId": "c-live",
                "occurredAt": now,
                "sequence": 1,
                "data": {"messageId": "m-1", "direction": "inbound", "text": "hi"},
            },
        )

    _scenario(
        "/ws/conversations/c-live/",
        _cookie_for(supervisor),
        steps,
        {
            "type": "timeline.event",
            "event": {
                "kind": "webhook",
                "source": "native",
                "eventId": "evt-live-1",
                "eventTypes": "message.created",
                "outcome": "applied",
            },
        },
    )


def test_a_webhook_rolled_back_with_its_transaction_never_reaches_the_open_conversation_page(supervisor):
    """Real ingest (receipt, mirror change, detector mark) inside a transaction that fails: the page
    hears nothing of it, only of the delivery committed after it (tests/reliability/test_rollback.py
    covers every other place that pushes or enqueues on commit)."""
    from django.utils import timezone

    from conversations.ingest.canonical import format_instant
    from conversations.models import WebhookReceipt
    from tests.webhooks import post_native

    now = format_instant(timezone.now())
    Conversation.objects.create(
        id="c-live", first_event_at=now, last_activity_at=now, versions={"event": [0, now, "evt-0"]}
    )

    def message(event_id: str, seq: int) -> dict:
        return {
            "id": event_id,
            "type": "message.created",
            "conversationId": "c-live",
            "occurredAt": now,
            "sequence": seq,
            "data": {"messageId": f"m-{seq}", "direction": "inbound", "text": "hi"},
        }

    def steps():
        try:
            with transaction.atomic():
                assert post_native(Client(), message("evt-rolled-back", 1)).json()["status"] == "applied"
                raise RuntimeError("the surrounding work failed")
        except RuntimeError:
            pass
        assert not WebhookReceipt.objects.filter(event_id="evt-rolled-back").exists()
        post_native(Client(), message("evt-committed", 2))

    _scenario(
        "/ws/conversations/c-live/",
        _cookie_for(supervisor),
        steps,
        {
            "type": "timeline.event",
            "event": {
                "kind": "webhook",
                "source": "native",
                "eventId": "evt-committed",
                "eventTypes": "message.created",
                "outcome": "applied",
            },
        },
    )
