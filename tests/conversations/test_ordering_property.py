"""Property: any permutation of an event stream, with any events duplicated, gives the same mirror."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Conversation, WebhookReceipt
from tests.conversations import test_webhook_genesys as genesys_stream
from tests.conversations.mirror import snapshot
from tests.webhooks import event, post_genesys, post_native

pytestmark = pytest.mark.django_db


def native_stream(conversation_id: str, customer: str) -> list[dict]:
    def e(seq, kind, data):
        return event(f"{conversation_id}-{seq}", kind, conversation_id, seq, data)

    return [
        e(
            1,
            "conversation.started",
            {
                "channel": "web",
                "tenant": "acme",
                "customerKey": customer,
                "routingData": {"queueId": "q1", "skillRequirements": ["a"], "priority": 2},
                "customAttributes": {"tier": "gold", "lang": "en"},
            },
        ),
        e(2, "participant.joined", {"participantId": f"{conversation_id}-cust", "role": "customer", "name": "C"}),
        e(
            3,
            "participant.joined",
            {
                "participantId": f"{conversation_id}-a1",
                "role": "agent",
                "queueId": "q1",
                "attributes": {"skillRequirements": ["a"]},
            },
        ),
        e(4, "conversation.state_changed", {"state": "active"}),
        e(
            5,
            "message.created",
            {
                "messageId": f"{conversation_id}-m1",
                "participantId": f"{conversation_id}-cust",
                "direction": "inbound",
                "text": "hi",
                "idempotencyKey": "k1",
            },
        ),
        e(6, "conversation.attributes_updated", {"customAttributes": {"tier": "gold", "lang": "en", "vip": "y"}}),
        e(
            7,
            "message.created",
            {
                "messageId": f"{conversation_id}-m2",
                "participantId": f"{conversation_id}-a1",
                "direction": "outbound",
                "text": "hello",
            },
        ),
        e(
            8,
            "conversation.transferred",
            {
                "fromParticipantId": f"{conversation_id}-a1",
                "toParticipantId": f"{conversation_id}-a2",
                "fromQueueId": "q1",
                "toQueueId": "q2",
                "routingData": {"queueId": "q2"},
                "customAttributes": {"tier": "gold"},
            },
        ),
        e(9, "participant.left", {"participantId": f"{conversation_id}-a1", "disconnectType": "transfer"}),
        e(10, "participant.joined", {"participantId": f"{conversation_id}-a2", "role": "agent", "queueId": "q2"}),
        e(11, "participant.state_changed", {"participantId": f"{conversation_id}-a2", "state": "alerting"}),
        e(
            12,
            "message.created",
            {
                "messageId": f"{conversation_id}-m3",
                "participantId": f"{conversation_id}-a2",
                "direction": "outbound",
                "text": "card 4111 1111 1111 1111",
            },
        ),
        e(13, "participant.left", {"participantId": f"{conversation_id}-cust", "disconnectType": "client"}),
        e(14, "conversation.state_changed", {"state": "closed", "reason": "done"}),
        e(
            15,
            "message.created",
            {
                "messageId": f"{conversation_id}-m4",
                "participantId": f"{conversation_id}-a2",
                "direction": "outbound",
                "text": "late",
            },
        ),
        e(16, "conversation.state_changed", {"state": "expired", "reason": "ttl"}),
    ]


STREAM = native_stream("c-a", "cust-1") + native_stream("c-b", "cust-2")
GENESYS = genesys_stream.transfer_stream()


def _reset():
    Conversation.objects.all().delete()
    WebhookReceipt.objects.all().delete()


def _deliver(client, stream, post):
    for payload in stream:
        response = post(client, payload)
        assert response.status_code == 200, response.content


def _in_order(client, stream, post) -> dict:
    _reset()
    _deliver(client, stream, post)
    return snapshot()


def shuffled_with_duplicates(stream):
    return (
        st.permutations(stream)
        .flatmap(lambda order: st.lists(st.sampled_from(order), max_size=6).map(lambda extra: order + extra))
        .flatmap(st.permutations)
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_native_mirror_is_independent_of_arrival_order(client, data):
    expected = _in_order(client, STREAM, post_native)
    _reset()
    _deliver(client, data.draw(shuffled_with_duplicates(STREAM)), post_native)
    assert snapshot() == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_genesys_mirror_is_independent_of_arrival_order(client, data):
    expected = _in_order(client, GENESYS, post_genesys)
    _reset()
    _deliver(client, data.draw(shuffled_with_duplicates(GENESYS)), post_genesys)
    assert snapshot() == expected


def test_the_in_order_mirror_is_what_the_events_say(client):
    mirror = _in_order(client, STREAM, post_native)
    conversation = next(c for c in mirror["conversations"] if c["id"] == "c-a")
    assert conversation["state"] == "closed"  # the earliest terminal fact wins over the later expiry
    assert conversation["close_reason"] == "done"
    assert conversation["queue_id"] == "q2"
    messages = [m for m in mirror["messages"] if m["conversation_id"] == "c-a"]
    assert [m["message_id"] for m in messages] == ["c-a-m1", "c-a-m2", "c-a-m3", "c-a-m4"]
    assert messages[2]["text"] == "card 4111 1111 1111 1111"  # not pci-scoped: kept as sent
    handoff = next(h for h in mirror["handoffs"] if h["conversation_id"] == "c-a")
    assert handoff["lost_keys"] == [
        "routingData.priority",
        "routingData.skillRequirements",
        "customAttributes.lang",
        "customAttributes.vip",
    ]
