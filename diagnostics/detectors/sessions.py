"""Session recovery: duplicate_conversation, unvalidated_resume, cross_origin_reset.

These join client belief (session.init beacons: what the widget had stored and did with it)
with server truth (when each conversation was open). "Open at a moment" is judged from the
mirror's facts, so a close that arrives late changes the verdict the same way whatever the
arrival order.
"""

from __future__ import annotations

from diagnostics.detectors import Clear, Detection, capped, instant
from diagnostics.detectors.facts import ConversationFacts, ConversationSummary
from diagnostics.models import BeaconKind, FindingKind

KINDS = (FindingKind.DUPLICATE_CONVERSATION, FindingKind.UNVALIDATED_RESUME, FindingKind.CROSS_ORIGIN_RESET)


def detect(facts: ConversationFacts) -> dict:
    return {
        FindingKind.DUPLICATE_CONVERSATION: duplicate_conversation(facts),
        FindingKind.UNVALIDATED_RESUME: unvalidated_resume(facts),
        FindingKind.CROSS_ORIGIN_RESET: cross_origin_reset(facts),
    }


def _start_of(facts: ConversationFacts):
    """When this conversation started: the mirror's start, else when a session.init first named it."""
    if facts.summary is not None:
        return facts.summary.start
    named = [b.sent_at for b in facts.beacons_of(BeaconKind.SESSION_INIT)]
    return min(named) if named else None


def _earlier(first: ConversationSummary, start, second_id: str) -> bool:
    return (first.start, first.id) < (start, second_id)


def duplicate_conversation(facts: ConversationFacts):
    """This conversation started while another of the same customerKey or sessionKey was pending/active."""
    start = _start_of(facts)
    if start is None:
        return Clear("the conversation's start is not known")
    # The widget asked the platform about its stored id and was told to start anew (guide, Step 3):
    # that conversation was over for the platform, whatever the mirror has received of its close yet.
    validated_over = {
        b.payload.get("storedConversationId")
        for b in facts.beacons_of(BeaconKind.SESSION_INIT)
        if b.payload.get("validated") is True and b.payload.get("validationResult") == "new"
    }
    firsts = []
    for sibling in facts.customer_siblings:
        if sibling.id in validated_over:
            continue
        if _earlier(sibling, start, facts.conversation_id) and sibling.open_at(start):
            firsts.append(("customerKey", facts.conversation.customer_key, sibling))
    seen = {sibling.id for _, _, sibling in firsts} | validated_over
    for link in facts.session_links:
        sibling = facts.linked_summaries.get(link.conversation_id)
        if sibling is None or sibling.id == facts.conversation_id or sibling.id in seen:
            continue
        if _earlier(sibling, start, facts.conversation_id) and sibling.open_at(start):
            firsts.append(("sessionKey", link.session_key, sibling))
            seen.add(sibling.id)
    if not firsts:
        return Clear("no other conversation of this customer or session was open when it started")
    evidence = {
        "conversationStartedAt": instant(start),
        "openWhenItStarted": capped(
            [{"linkedBy": linked_by, "key": key, **sibling.as_evidence()} for linked_by, key, sibling in firsts]
        ),
    }
    return Detection(
        FindingKind.DUPLICATE_CONVERSATION,
        evidence,
        sorted([linked_by, sibling.id] for linked_by, _, sibling in firsts),
        count=len(firsts),
        session_key=next((key for linked_by, key, _ in firsts if linked_by == "sessionKey"), ""),
    )


def _is_resume(beacon, conversation_id: str) -> bool:
    payload = beacon.payload
    stored = payload.get("storedConversationId")
    return payload.get("validationResult") == "resumed" or (bool(stored) and stored == conversation_id)


def unvalidated_resume(facts: ConversationFacts):
    """A session.init resumed this conversation without validating it, or resumed it while it was closed/expired."""
    summary = facts.summary
    offending = []
    for beacon in facts.beacons_of(BeaconKind.SESSION_INIT):
        if not _is_resume(beacon, facts.conversation_id):
            continue
        payload = beacon.payload
        reasons = []
        if payload.get("validated") is not True:
            reasons.append("not_validated")
        if summary is not None and summary.closed_at is not None and summary.closed_at <= beacon.sent_at:
            reasons.append(f"resumed_{summary.state}")
        if reasons:
            offending.append((beacon, reasons))
    if not offending:
        return Clear("every resume of this conversation was validated while it was open")
    evidence = {
        "conversationState": summary.state if summary else None,
        "closedAt": instant(summary.closed_at) if summary else None,
        "resumes": capped(
            [
                {
                    "beaconId": beacon.beacon_id,
                    "sessionKey": beacon.session_key,
                    "sentAt": instant(beacon.sent_at),
                    "origin": beacon.payload.get("origin") or beacon.origin or None,
                    "storage": beacon.payload.get("storage"),
                    "storedConversationId": beacon.payload.get("storedConversationId"),
                    "storedAgeSeconds": beacon.payload.get("storedAgeSeconds"),
                    "validated": beacon.payload.get("validated"),
                    "validationResult": beacon.payload.get("validationResult"),
                    "reasons": reasons,
                }
                for beacon, reasons in offending
            ]
        ),
    }
    resumed_closed = any(reason.startswith("resumed_") for _, reasons in offending for reason in reasons)
    return Detection(
        FindingKind.UNVALIDATED_RESUME,
        evidence,
        [[beacon.beacon_id, reasons] for beacon, reasons in offending],
        count=len(offending),
        session_key=offending[0][0].session_key,
        severity="critical" if resumed_closed else "",
    )


def cross_origin_reset(facts: ConversationFacts):
    """Edge Case 2: a session.init with no stored id, from another origin of the same deployment,
    while the customer's conversation (same customerKey) was pending/active. Sits on the new one."""
    conversation = facts.conversation
    if conversation is None or not conversation.customer_key:
        return Clear("the conversation's customer is not known")
    resets = []
    for beacon in facts.beacons_of(BeaconKind.SESSION_INIT):
        if beacon.payload.get("storedConversationId"):
            continue
        origin = beacon.payload.get("origin") or beacon.origin
        if not origin:
            continue
        for sibling in facts.customer_siblings:
            if not sibling.open_at(beacon.sent_at):
                continue
            other_origins = sorted(
                used
                for deployment_id, used in facts.sibling_origins.get(sibling.id, ())
                if deployment_id == beacon.deployment_id and used != origin
            )
            if other_origins:
                resets.append((beacon, origin, sibling, other_origins))
    if not resets:
        return Clear("no session.init lost a conversation that was open on another origin of the deployment")
    evidence = {
        "customerKey": conversation.customer_key,
        "resets": capped(
            [
                {
                    "beaconId": beacon.beacon_id,
                    "sessionKey": beacon.session_key,
                    "sentAt": instant(beacon.sent_at),
                    "origin": origin,
                    "storage": beacon.payload.get("storage"),
                    "storedConversationId": None,
                    "activeConversation": {**sibling.as_evidence(), "origins": other_origins},
                }
                for beacon, origin, sibling, other_origins in resets
            ]
        ),
    }
    return Detection(
        FindingKind.CROSS_ORIGIN_RESET,
        evidence,
        sorted([beacon.beacon_id, sibling.id] for beacon, _, sibling, _ in resets),
        count=len(resets),
        session_key=resets[0][0].session_key,
    )
