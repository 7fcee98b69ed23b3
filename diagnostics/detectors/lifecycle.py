"""Conversation lifecycle: stale_session and event_after_close (server truth only)."""

from __future__ import annotations

from conversations.models import OPEN_STATES, ConversationState
from diagnostics.detectors import Clear, Detection, capped, instant
from diagnostics.detectors.facts import ConversationFacts
from diagnostics.models import FindingKind

KINDS = (FindingKind.STALE_SESSION, FindingKind.EVENT_AFTER_CLOSE)


def detect(facts: ConversationFacts) -> dict:
    return {
        FindingKind.STALE_SESSION: stale_session(facts),
        FindingKind.EVENT_AFTER_CLOSE: event_after_close(facts),
    }


def stale_session(facts: ConversationFacts):
    """Pending/active with no activity past the TTL (guide, section 3: default 15 minutes).

    Activity is a message or a participant change; heartbeats are not. A conversation that was
    expired after its TTL had passed was a stale session until then: the finding is recorded
    and resolved at once, so the record does not depend on whether expiry or detection ran first.
    """
    conversation = facts.conversation
    if conversation is None:
        return Clear("the conversation is not in the mirror")
    expires_at = conversation.expires_at
    evidence = {
        "state": conversation.state,
        "lastActivityAt": instant(conversation.last_activity_at),
        "ttlSeconds": int(conversation.ttl.total_seconds()),
        "expiresAt": instant(expires_at),
    }
    facts_key = [instant(conversation.last_activity_at)]
    if conversation.state in OPEN_STATES:
        if facts.now > expires_at:
            return Detection(FindingKind.STALE_SESSION, evidence, facts_key)
        return Clear(
            f"activity at {instant(conversation.last_activity_at)}; the session expires at {instant(expires_at)}"
        )
    if (
        conversation.state == ConversationState.EXPIRED
        and conversation.closed_at
        and conversation.closed_at >= expires_at
    ):
        evidence["closedAt"] = instant(conversation.closed_at)
        return Detection(
            FindingKind.STALE_SESSION,
            evidence,
            facts_key,
            resolved_note=f"the conversation was expired at {instant(conversation.closed_at)}",
        )
    return Clear(f"the conversation is {conversation.state} since {instant(conversation.closed_at)}")


def event_after_close(facts: ConversationFacts):
    """A platform event whose order key [sequence, occurredAt, id] is later than the close's.

    A late delivery of an event from before the close is stale, not a finding; a participant
    leaving or a repeated terminal state agrees with the close and is not counted either.
    """
    conversation = facts.conversation
    if conversation is None or conversation.state in OPEN_STATES:
        return Clear("the conversation is open")
    if not facts.events_after_close:
        return Clear(f"no platform event after the close at {instant(conversation.closed_at)}")
    closed_key = conversation.versions.get("closed_key") or []
    events = [
        {
            "eventId": event.event_id,
            "type": event.type,
            "sequence": event.order_key[0],
            "occurredAt": event.order_key[1],
            "source": event.source,
            "receiptId": event.receipt_id,
            "receivedAt": instant(event.received_at),
        }
        for event in facts.events_after_close
    ]
    evidence = {
        "state": conversation.state,
        "closeReason": conversation.close_reason,
        "closedAt": instant(conversation.closed_at),
        "close": {
            "sequence": closed_key[0] if closed_key else None,
            "occurredAt": closed_key[1] if closed_key else None,
            "eventId": closed_key[2] if closed_key else None,
        },
        "eventsAfterClose": capped(events),
    }
    return Detection(
        FindingKind.EVENT_AFTER_CLOSE,
        evidence,
        sorted(event.event_id for event in facts.events_after_close),
        count=len(events),
    )
