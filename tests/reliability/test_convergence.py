"""Out-of-order convergence (issue 10, item 2): whatever the interleaving, duplication and delay of
several conversations' webhook streams, the mirror ends equal to the one an in-order delivery builds.

A hypothesis state machine plays the platform's delivery layer: it delivers the next event of one
conversation, redelivers an event it already delivered, holds an event back and releases it later.
Every delivery goes through the webhook endpoint (signature, receipt, ordering rules, detectors).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from conversations.models import ACCEPTED_OUTCOMES, Conversation, Participant, WebhookReceipt
from diagnostics.models import Finding, PendingDetection
from tests.conversations import test_webhook_genesys as genesys
from tests.conversations.mirror import snapshot
from tests.conversations.test_ordering_property import native_stream
from tests.webhooks import event, post_genesys, post_native

pytestmark = pytest.mark.django_db

# Three native conversations (start, joins, messages, a transfer, leaves, close, a late message and a
# late expiry) and one Genesys conversation (queue, blind transfer, teardown close by the last leave).
STREAMS: list[tuple] = [
    (post_native, native_stream("c-conv-1", "cust-1")),
    (post_native, native_stream("c-conv-2", "cust-2")),
    (post_native, native_stream("c-conv-3", "cust-1")),  # the same customer as c-conv-1
    (post_genesys, genesys.transfer_stream()),
]


def mirror_difference(actual: dict, expected: dict, *, limit: int = 5) -> list[str]:
    """The rows that differ between two mirror snapshots, table by table (empty when equal)."""
    problems = []
    for table in expected.keys() | actual.keys():
        mine, theirs = actual.get(table, []), expected.get(table, [])
        if len(mine) != len(theirs):
            problems.append(f"{table}: {len(mine)} rows, expected {len(theirs)}")
        wrong = [(row, want) for row, want in zip(mine, theirs, strict=False) if row != want]
        for row, want in wrong[:limit]:
            fields = sorted(name for name in want.keys() | row.keys() if row.get(name) != want.get(name))
            problems.append(
                f"{table} row {want.get('id') or want.get('message_id') or want.get('participant_id') or want}: "
                + ", ".join(f"{name}={row.get(name)!r}, expected {want.get(name)!r}" for name in fields)
            )
        if len(wrong) > limit:
            problems.append(f"{table}: {len(wrong) - limit} more rows differ")
    return problems


def _reset() -> None:
    Conversation.objects.all().delete()
    WebhookReceipt.objects.all().delete()
    Finding.objects.all().delete()
    PendingDetection.objects.all().delete()


def _deliver(client, post, payload) -> None:
    response = post(client, payload)
    assert response.status_code == 200, response.content
    assert response.json()["status"] in {"applied", "stale", "duplicate"}, response.json()


def _in_order_mirror(client) -> dict:
    _reset()
    for post, stream in STREAMS:
        for payload in stream:
            _deliver(client, post, payload)
    mirror = snapshot()
    _reset()
    return mirror


class Deliveries(RuleBasedStateMachine):
    """One example: the platform's deliveries in an order the rules choose. Set ``client``/``expected``."""

    client = None
    expected: dict = {}

    def __init__(self):
        super().__init__()
        _reset()
        self.position = [0] * len(STREAMS)  # next undelivered event of each stream
        self.delivered: list[tuple] = []  # (post, payload) in delivery order, without the repeats
        self.held: list[tuple] = []

    def _remaining(self, stream: int) -> bool:
        return self.position[stream] < len(STREAMS[stream][1])

    def _take(self, stream: int) -> tuple:
        post, events = STREAMS[stream]
        payload = events[self.position[stream]]
        self.position[stream] += 1
        return post, payload

    def _send(self, item: tuple) -> None:
        _deliver(self.client, *item)
        self.delivered.append(item)

    @rule(stream=st.integers(0, len(STREAMS) - 1))
    def deliver_next(self, stream):
        if self._remaining(stream):
            self._send(self._take(stream))

    @rule(stream=st.integers(0, len(STREAMS) - 1))
    def hold_back_next(self, stream):
        """The next event is delayed: the ones after it overtake it."""
        if self._remaining(stream):
            self.held.append(self._take(stream))

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def release_held(self, data):
        index = data.draw(st.integers(0, len(self.held) - 1), label="held")
        self._send(self.held.pop(index))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def redeliver(self, data):
        """A platform retry (lost acknowledgement) of something delivered before: recorded, not applied."""
        index = data.draw(st.integers(0, len(self.delivered) - 1), label="delivered")
        post, payload = self.delivered[index]
        _deliver(self.client, post, payload)

    @invariant()
    def each_delivered_event_is_accepted_exactly_once(self):
        accepted = WebhookReceipt.objects.filter(outcome__in=ACCEPTED_OUTCOMES)
        assert accepted.count() == len(self.delivered)
        assert accepted.values("source", "event_id").distinct().count() == len(self.delivered)

    def teardown(self):
        """The rest arrives (what is still queued, then what was held back); the mirror has converged."""
        for stream in range(len(STREAMS)):
            while self._remaining(stream):
                self._send(self._take(stream))
        while self.held:
            self._send(self.held.pop())
        problems = mirror_difference(snapshot(), self.expected)
        assert not problems, "\n".join(problems)


def test_any_interleaving_with_duplicates_and_delays_converges_to_the_in_order_mirror(client):
    Deliveries.client = client
    Deliveries.expected = _in_order_mirror(client)
    assert len(Deliveries.expected["conversations"]) == len(STREAMS)
    run_state_machine_as_test(
        Deliveries,
        settings=settings(
            max_examples=12,
            stateful_step_count=40,
            deadline=None,
            # No shrinking: a failing run prints its steps already, and shrinking a 40-step run of
            # webhooks takes minutes (past the test timeout).
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


def test_a_leave_delivered_before_the_join_ends_with_the_participant_left(client):
    joined = event(
        "evt-join", "participant.joined", "c-late-join", 3, {"participantId": "p-agent", "role": "agent", "name": "A"}
    )
    left = event(
        "evt-left", "participant.left", "c-late-join", 7, {"participantId": "p-agent", "disconnectType": "client"}
    )
    assert post_native(client, left).json()["status"] == "applied"
    assert post_native(client, joined).json()["status"] == "stale"  # older than what the mirror holds
    participant = Participant.objects.get(conversation_id="c-late-join", participant_id="p-agent")
    assert participant.state == "left"
    assert participant.disconnect_type == "client"
    assert participant.left_at.isoformat().startswith("2026-11-24T10:00:07")
    assert participant.joined_at.isoformat().startswith("2026-11-24T10:00:03")  # the join still feeds history
    assert (participant.role, participant.name) == ("agent", "A")
    # And the same two events in order give the same participant.
    left_first = snapshot()["participants"]
    _reset()
    post_native(client, joined)
    post_native(client, left)
    assert snapshot()["participants"] == left_first


def test_the_in_order_mirror_has_left_participants_and_closed_conversations(client):
    """The reference the machine converges to is not trivially empty: it holds what the streams say."""
    mirror = _in_order_mirror(client)
    states = {row["id"]: row["state"] for row in mirror["conversations"]}
    assert states == {"c-conv-1": "closed", "c-conv-2": "closed", "c-conv-3": "closed", genesys.CONV: "closed"}
    left = {(p["conversation_id"], p["participant_id"]) for p in mirror["participants"] if p["state"] == "left"}
    assert ("c-conv-1", "c-conv-1-a1") in left and ("c-conv-1", "c-conv-1-cust") in left
    assert len(mirror["messages"]) == 12
    assert {h["conversation_id"] for h in mirror["handoffs"]} == {"c-conv-1", "c-conv-2", "c-conv-3", genesys.CONV}
