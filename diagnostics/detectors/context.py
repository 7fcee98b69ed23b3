"""Routing context: context_lost_on_handoff and participant_scoped_context (guide, section 4)."""

from __future__ import annotations

from diagnostics.detectors import Clear, Detection, capped, instant
from diagnostics.detectors.facts import ConversationFacts
from diagnostics.models import FindingKind

KINDS = (FindingKind.CONTEXT_LOST_ON_HANDOFF, FindingKind.PARTICIPANT_SCOPED_CONTEXT)

# Routing keys (the routingData vocabulary of the canonical event) and the two context sections
# themselves: found in a participant's attributes they are context on the wrong level.
ROUTING_KEYS = ("queueId", "skillRequirements", "priority", "complianceFlags", "routingData", "customAttributes")


def _has_value(value) -> bool:
    """The same test as the mirror's lost keys: missing, null, "", [] and {} hold no value."""
    return value is not None and value != "" and value != [] and value != {}


def detect(facts: ConversationFacts) -> dict:
    return {
        FindingKind.CONTEXT_LOST_ON_HANDOFF: context_lost_on_handoff(facts),
        FindingKind.PARTICIPANT_SCOPED_CONTEXT: participant_scoped_context(facts),
    }


def _value_at(context: dict, path: str):
    section, _, key = path.partition(".")
    return ((context or {}).get(section) or {}).get(key)


def context_lost_on_handoff(facts: ConversationFacts):
    """Keys of routingData/customAttributes with a value before a transfer and none after it."""
    if facts.conversation is None:
        return Clear("the conversation is not in the mirror")
    if not facts.lost_handoffs:
        return Clear("every handoff kept its routing context")
    handoffs = [
        {
            "handoff": handoff.key,
            "occurredAt": instant(handoff.occurred_at),
            "fromQueueId": handoff.from_queue_id,
            "toQueueId": handoff.to_queue_id,
            "fromParticipantId": handoff.from_participant_id,
            "toParticipantId": handoff.to_participant_id,
            "lostKeys": list(handoff.lost_keys),
            "before": {path: _value_at(handoff.context_before, path) for path in handoff.lost_keys},
            "after": {path: _value_at(handoff.context_after, path) for path in handoff.lost_keys},
        }
        for handoff in facts.lost_handoffs
    ]
    lost = sorted({path for handoff in facts.lost_handoffs for path in handoff.lost_keys})
    return Detection(
        FindingKind.CONTEXT_LOST_ON_HANDOFF,
        {"lostKeys": lost, "handoffs": capped(handoffs)},
        [[handoff.key, sorted(handoff.lost_keys)] for handoff in facts.lost_handoffs],
        count=len(handoffs),
    )


def participant_scoped_context(facts: ConversationFacts):
    """Routing keys stored in a participant's attributes (they leave with the participant)."""
    if facts.conversation is None:
        return Clear("the conversation is not in the mirror")
    conversation = facts.conversation
    conversation_context = {
        "routingData": conversation.routing_data,
        "customAttributes": conversation.custom_attributes,
    }
    found = []
    for participant in facts.participants:
        attributes = participant.attributes if isinstance(participant.attributes, dict) else {}
        keys = {key: attributes[key] for key in ROUTING_KEYS if _has_value(attributes.get(key))}
        if not keys:
            continue
        found.append(
            {
                "participantId": participant.participant_id,
                "role": participant.role,
                "joinedAt": instant(participant.joined_at),
                "attributes": keys,
                "onConversation": {
                    key: any(_has_value((section or {}).get(key)) for section in conversation_context.values())
                    for key in keys
                },
            }
        )
    if not found:
        return Clear("no participant carries routing keys")
    return Detection(
        FindingKind.PARTICIPANT_SCOPED_CONTEXT,
        {"participants": capped(found)},
        [[item["participantId"], sorted(item["attributes"])] for item in found],
        count=len(found),
        participant_id=found[0]["participantId"],
    )
