"""The simulator's webhooks in all three formats are accepted by the console and mirror the platform exactly."""

from __future__ import annotations

import json

import pytest

from conversations.models import Conversation, Handoff, Message, WebhookReceipt
from simulator.formats import genesys as genesys_format
from simulator.plan import ScenarioSpec
from simulator.platform import QUEUES
from simulator.scenarios import HEALTHY, SOURCES
from tests.simulator.harness import RecordingSimulation, post_all, run_variant

pytestmark = pytest.mark.django_db

TERMINAL_BY_SOURCE = {"native": {"closed": "closed", "expired": "expired"}}


def expected_state(source: str, state: str) -> str:
    if state in ("closed", "expired"):
        # Genesys and CXone know no "expired": an inactivity end is a close there.
        return TERMINAL_BY_SOURCE.get(source, {}).get(state, "closed")
    return state


def assert_mirror_matches_platform(platform):
    for conversation in platform.conversations.values():
        mirror = Conversation.objects.get(pk=conversation.id)
        assert (mirror.source, mirror.customer_key, mirror.tenant) == (
            conversation.source,
            conversation.customer_key,
            conversation.tenant,
        )
        assert mirror.state == expected_state(conversation.source, conversation.state), conversation.id
        assert mirror.queue_id == QUEUES[conversation.queue_key].id_for(conversation.source)
        assert mirror.routing_data == conversation.routing
        assert {k: v for k, v in mirror.custom_attributes.items() if v != ""} == conversation.custom
        if conversation.source != "genesys":
            mirrored = dict(Message.objects.filter(conversation=mirror).values_list("message_id", "text"))
            assert set(mirrored) == {m.id for m in conversation.messages}
            for message in conversation.messages:
                if not mirror.is_pci_scoped:
                    assert mirrored[message.id] == message.text
        if conversation.source != "cxone":  # CXone reports no participant leaving, only assignments and status
            for participant in conversation.participants.values():
                if participant.role == "acd" and conversation.source == "native":
                    continue
                state = mirror.participants.get(participant_id=participant.id).state
                assert (state == "left") == (not participant.connected), (conversation.id, participant.role)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("seed", range(1, 7))
def test_it_mirrors_healthy_conversations_exactly(client, source, seed):
    recorded = RecordingSimulation().run(ScenarioSpec(seed, HEALTHY, source, 0), seed=seed)
    answers = post_all(client, recorded.deliveries)

    assert {a["status"] for a in answers} <= {"applied", "stale", "ignored"}
    assert not WebhookReceipt.objects.filter(outcome__in=["rejected", "failed"]).exists()
    assert_mirror_matches_platform(recorded.platform)


def test_genesys_deliveries_use_both_envelopes_with_the_contract_event_ids(client):
    shapes = set()
    for seed in range(1, 9):
        recorded = run_variant("healthy", source="genesys", seed=seed)
        for delivery in recorded.deliveries:
            payload = json.loads(delivery.body)
            shapes.add("eventbridge" if "detail" in payload else "notification")
            answer = post_all(client, [delivery])[0]
            assert answer["eventId"] == delivery.event_id
            body = payload["detail"]["eventBody"] if "detail" in payload else payload["eventBody"]
            assert isinstance(body["eventTime"], int)
    assert shapes == {"eventbridge", "notification"}


def test_cxone_deliveries_authenticate_with_either_token_header():
    headers = set()
    for seed in range(1, 9):
        for delivery in run_variant("healthy", source="cxone", seed=seed).deliveries:
            headers |= set(delivery.headers_for(0)) & {"Authorization", "X-CXone-Token"}
    assert headers == {"Authorization", "X-CXone-Token"}


def test_native_retries_are_signed_again_with_the_new_timestamp(client):
    delivery = run_variant("healthy", source="native", seed=2).deliveries[0]
    first, later = delivery.headers_for(1_700_000_000), delivery.headers_for(1_700_000_060)
    assert first["webhook-id"] == later["webhook-id"] == delivery.event_id
    assert first["webhook-signature"] != later["webhook-signature"]
    assert post_all(client, [delivery, delivery]) == [
        {"status": "applied", "eventId": delivery.event_id},
        {"status": "duplicate", "eventId": delivery.event_id},
    ]


@pytest.mark.parametrize("source", SOURCES)
def test_a_lossy_transfer_shows_the_lost_keys_in_the_handoff_history(client, source):
    recorded = run_variant("context_lost_on_handoff", source=source, seed=5)
    post_all(client, recorded.deliveries)
    ((_, conversation_id),) = recorded.faults
    lost = {key for h in Handoff.objects.filter(conversation_id=conversation_id) for key in h.lost_keys}
    expected = {
        "native": {"routingData.skillRequirements", "routingData.priority", "customAttributes.tier"},
        "genesys": {"routingData.skillRequirements"},
        "cxone": {"customAttributes.tier"},
    }[source]
    assert lost == expected


def test_genesys_session_ids_are_stable_per_participant():
    recorded = run_variant("healthy", source="genesys", seed=3)
    conversation = next(iter(recorded.platform.conversations.values()))
    customer = conversation.customer()
    assert genesys_format.session_id(customer) == genesys_format.session_id(customer)
    bodies = [json.loads(d.body) for d in recorded.deliveries]
    sessions = {
        (b.get("detail", b)["eventBody"].get("participantId"), b.get("detail", b)["eventBody"].get("sessionId"))
        for b in bodies
        if b.get("detail", b)["eventBody"].get("sessionId")
    }
    assert len({participant for participant, _ in sessions}) == len(sessions)
