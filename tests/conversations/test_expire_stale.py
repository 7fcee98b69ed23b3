"""Expiry of conversations idle past their TTL: boundary, per-deployment TTL, idempotence, set-based cost,
and that the console-made transition is a fact (no webhook reopens it, replay_events rebuilds it)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command

from console.events import conversation_group
from console.models import AuditEntry
from conversations.actions import console_event_id, expire_stale
from conversations.models import Conversation, Message, WebhookReceipt
from conversations.tasks import expire_stale_sessions
from tests.conversations.lifecycle import at, bulk_conversations, receive, start_conversation
from tests.conversations.mirror import snapshot
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db


TTL = 900  # the default, CONSOLE_SESSION_TTL_SECONDS


def test_it_keeps_a_conversation_idle_for_exactly_its_ttl_and_expires_it_just_after(client):
    conversation = start_conversation(client, "c-edge")
    assert conversation.last_activity_at == at(1)
    with time_machine.travel(at(1 + TTL), tick=False):
        assert expire_stale() == []
    assert Conversation.objects.get(pk="c-edge").state == "pending"
    with time_machine.travel(at(1 + TTL) + timedelta(microseconds=1), tick=False):
        expired = expire_stale()
    assert [item["conversationId"] for item in expired] == ["c-edge"]
    conversation.refresh_from_db()
    assert (conversation.state, conversation.close_reason) == ("expired", "inactivity_ttl")
    assert conversation.closed_at == at(1 + TTL) + timedelta(microseconds=1)
    audit = AuditEntry.objects.get(action="conversation.expired")
    assert (audit.target_type, audit.target_id, audit.actor) == (
        "conversation",
        "c-edge",
        "system:conversations.tasks.expire_stale_sessions",
    )
    assert audit.before == {"state": "pending", "lastActivityAt": "2026-11-24T10:00:01.000000Z"}
    assert audit.after["state"] == "expired"
    assert "900 s" in audit.reason
    receipt = WebhookReceipt.objects.get(source="console")
    assert receipt.event_id.startswith("expire-batch:2026-11-24T10:15:01.000001Z:ttl900:")
    assert receipt.outcome == "applied"
    [body] = json.loads(receipt.body)["events"]
    assert body == {
        "id": "expire:c-edge",
        "type": "conversation.state_changed",
        "occurredAt": "2026-11-24T10:15:01.000001Z",
        "conversationId": "c-edge",
        "sequence": 1,
        "data": {"state": "expired", "reason": "inactivity_ttl"},
    }


def test_it_expires_each_conversation_by_its_own_ttl(client):
    start_conversation(client, "c-default")
    short = start_conversation(client, "c-short", active=True)
    short.ttl_seconds = 60  # a widget deployment with a one-minute TTL
    short.save()
    with time_machine.travel(at(62), tick=False):
        assert [item["conversationId"] for item in expire_stale()] == ["c-short"]
    assert Conversation.objects.get(pk="c-default").state == "pending"
    assert AuditEntry.objects.get(target_id="c-short").before["state"] == "active"
    with time_machine.travel(at(TTL + 2), tick=False):
        assert [item["conversationId"] for item in expire_stale()] == ["c-default"]


def test_running_twice_expires_nothing_more_and_writes_no_second_audit_row(client):
    start_conversation(client, "c-1")
    start_conversation(client, "c-2", active=True)
    with time_machine.travel(at(TTL + 10), tick=False):
        assert len(expire_stale()) == 2
        assert expire_stale() == []
        assert expire_stale_sessions.apply().get() == {"dryRun": False, "expired": 0, "conversationIds": []}
    assert AuditEntry.objects.filter(action="conversation.expired").count() == 2
    assert len(console_events()) == 2


def console_events() -> list[dict]:
    """The canonical events of every console receipt (the sweep stores them in batches)."""
    return [
        event
        for body in WebhookReceipt.objects.filter(source="console").values_list("body", flat=True)
        for event in json.loads(body)["events"]
    ]


def test_the_sweep_query_count_does_not_grow_with_the_number_of_conversations(
    django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr("conversations.actions.EXPIRY_EVENTS_PER_RECEIPT", 50)
    now = at(10_000)
    bulk_conversations("few", 3, idle_seconds=TTL + 5, now=now)
    bulk_conversations("few-short", 2, idle_seconds=100, now=now, ttl_seconds=60)
    bulk_conversations("fresh", 5, idle_seconds=10, now=now)
    with time_machine.travel(now, tick=False), django_assert_max_num_queries(100) as few:
        assert len(expire_stale()) == 5
    bulk_conversations("many", 120, idle_seconds=TTL + 5, now=now)
    bulk_conversations("many-short", 80, idle_seconds=100, now=now, ttl_seconds=60)
    with time_machine.travel(now, tick=False), django_assert_max_num_queries(len(few)) as many:
        assert len(expire_stale()) == 200
    assert len(many) == len(few)
    assert AuditEntry.objects.filter(action="conversation.expired").count() == 205
    assert WebhookReceipt.objects.filter(source="console").count() == 2 + 3 + 2  # batches of at most 50
    assert len({event["conversationId"] for event in console_events()}) == 205
    assert Conversation.objects.filter(state="expired").count() == 205
    assert Conversation.objects.filter(id__startswith="fresh", state__in=["pending", "active"]).count() == 5


def test_dry_run_lists_what_would_expire_and_changes_nothing(client):
    start_conversation(client, "c-old")
    start_conversation(client, "c-new", seq=500)
    with time_machine.travel(at(TTL + 100), tick=False):
        listed = expire_stale(dry_run=True)
        out = io.StringIO()
        call_command("expire_stale", dry_run=True, stdout=out)
    assert [item["conversationId"] for item in listed] == ["c-old"]
    assert listed[0]["expiresAt"] == "2026-11-24T10:15:01.000000Z"
    text = out.getvalue()
    assert "would expire: c-old  pending" in text
    assert "c-new" not in text
    assert "1 conversation(s) would expire" in text and "dry run: nothing changed" in text
    assert Conversation.objects.get(pk="c-old").state == "pending"
    assert not AuditEntry.objects.exists()
    assert not WebhookReceipt.objects.filter(source="console").exists()


def test_the_command_expires_and_reports(client):
    start_conversation(client, "c-cmd")
    with time_machine.travel(at(TTL + 100), tick=False):
        out = io.StringIO()
        call_command("expire_stale", stdout=out)
    assert "expired: c-cmd" in out.getvalue()
    assert Conversation.objects.get(pk="c-cmd").state == "expired"


def test_a_webhook_after_expiry_does_not_reopen_the_conversation(client):
    start_conversation(client, "c-late", active=True)
    with time_machine.travel(at(TTL + 10), tick=False):
        expire_stale()
    closed_at = Conversation.objects.get(pk="c-late").closed_at
    with time_machine.travel(at(TTL + 20), tick=False):
        message = event(
            "late-m",
            "message.created",
            "c-late",
            9,
            {"messageId": "m-late", "direction": "inbound", "text": "still there?"},
            seconds=TTL + 15,
        )
        assert post_native(client, message).json()["status"] == "applied"
        reopen = event("late-active", "conversation.state_changed", "c-late", 10, {"state": "active"}, seconds=TTL + 16)
        assert post_native(client, reopen).status_code == 200
    conversation = Conversation.objects.get(pk="c-late")
    assert (conversation.state, conversation.closed_at, conversation.close_reason) == (
        "expired",
        closed_at,
        "inactivity_ttl",
    )
    assert conversation.versions["closed_key"][2] == "expire:c-late"
    assert Message.objects.filter(conversation_id="c-late", message_id="m-late").exists()


def test_an_earlier_close_delivered_late_still_wins_over_the_expiry(client):
    start_conversation(client, "c-was-closed")
    with time_machine.travel(at(TTL + 10), tick=False):
        expire_stale()
    with time_machine.travel(at(TTL + 20), tick=False):
        closed = event("early-close", "conversation.state_changed", "c-was-closed", 1, {"state": "closed"}, seconds=5)
        post_native(client, closed)
    conversation = Conversation.objects.get(pk="c-was-closed")
    assert (conversation.state, conversation.closed_at) == ("closed", at(5))


def test_replay_with_reset_reproduces_expired_conversations(client):
    start_conversation(client, "c-r1", active=True)
    start_conversation(client, "c-r2")
    start_conversation(client, "c-r3", seq=800)
    with time_machine.travel(at(TTL + 10), tick=False):
        expire_stale()
    with time_machine.travel(at(TTL + 30), tick=False):
        late = event(
            "r1-late", "message.created", "c-r1", 9, {"messageId": "r1-m", "direction": "inbound"}, seconds=TTL + 25
        )
        post_native(client, late)
    before = snapshot()
    assert [c["state"] for c in before["conversations"]] == ["expired", "expired", "pending"]
    call_command("replay_events", reset=True, noinput=True, stdout=io.StringIO())
    assert snapshot() == before


def test_it_pushes_each_expiry_live_after_commit(client, django_capture_on_commit_callbacks):
    start_conversation(client, "c-live")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(conversation_group("c-live"), channel)
    with time_machine.travel(at(TTL + 10), tick=False):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            expire_stale()
        assert callbacks, "nothing is sent before the commit"
        for callback in callbacks:
            callback()
        message = receive(layer, channel)
    assert message["type"] == "conversation.updated"
    assert message["conversation"]["conversationId"] == "c-live"
    assert message["conversation"]["state"] == "expired"


def test_a_long_id_without_sequences_gets_the_same_event_id_in_sql_and_in_python(client):
    long_id = "c-" + "x" * 196  # too long for "expire:<id>" within 200 characters
    post_native(client, event("long-start", "conversation.started", long_id, None, {"channel": "web"}, seconds=1))
    with time_machine.travel(at(TTL + 10), tick=False):
        expire_stale()
    [expiry] = console_events()
    assert expiry["id"] == console_event_id("expire", long_id)
    assert expiry["id"].startswith("expire:sha256:") and len(expiry["id"]) <= 200
    assert expiry.get("sequence") is None
    with time_machine.travel(at(TTL + 20), tick=False):
        late = event(
            "long-late", "message.created", long_id, None, {"messageId": "m", "direction": "inbound"}, seconds=TTL + 15
        )
        post_native(client, late)
    conversation = Conversation.objects.get(pk=long_id)
    assert conversation.state == "expired"
    assert conversation.versions["closed_key"] == [0, "2026-11-24T10:15:10.000000Z", expiry["id"]]
    before = snapshot()
    call_command("replay_events", reset=True, noinput=True, stdout=io.StringIO())
    assert snapshot() == before
