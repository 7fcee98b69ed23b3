"""A literal reading of docs/architecture.md "Findings" and "Definitions the detectors share", for tests.

It is not the console's detector (diagnostics/ owns that); it checks that what the
simulator produces carries the facts of each finding, and that healthy traffic carries
none of them, straight from the contract's words, over the mirror (after the webhooks
were applied) and the beacons the widgets sent.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from conversations.models import ACCEPTED_OUTCOMES, Conversation, Handoff, Message, Participant, WebhookReceipt

ROUTING_KEYS = {"queueId", "skillRequirements", "priority", "complianceFlags", "routingData"}
OPEN = ("pending", "active")
LIVE_EVENTS = ("open", "heartbeat", "reconnected")
RECONNECT_EVENTS = ("reconnect_attempt", "reconnected", "close", "open")
DUPLICATE_WINDOW = timedelta(seconds=10)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _open_at(conversation: Conversation, moment: datetime) -> bool:
    started = conversation.started_at or conversation.first_event_at
    return started <= moment and (conversation.closed_at is None or conversation.closed_at > moment)


def findings(beacons: list[dict], *, now: datetime, ttl: float, grace: float) -> set[tuple[str, str]]:
    conversations = {c.id: c for c in Conversation.objects.all()}
    beacons = sorted(beacons, key=lambda b: (_instant(b["sentAt"]), b["id"]))
    inits = [b for b in beacons if b["kind"] == "session.init"]
    sockets = defaultdict(list)
    for beacon in beacons:
        if beacon["kind"] == "socket.state":
            sockets[beacon["conversationId"]].append(beacon)
    flags: set[tuple[str, str]] = set()

    # duplicate_conversation: the same customerKey (or sessionKey) starts a second conversation while
    # the first is pending/active.
    by_customer = defaultdict(list)
    for conversation in conversations.values():
        if conversation.customer_key:
            by_customer[conversation.customer_key].append(conversation)
    for group in by_customer.values():
        for conversation in group:
            start = conversation.started_at or conversation.first_event_at
            if any(
                other.id != conversation.id and _open_at(other, start) and other.started_at < start for other in group
            ):
                flags.add(("duplicate_conversation", conversation.id))
    by_session = defaultdict(list)
    for init in inits:
        by_session[init["sessionKey"]].append(init)
    for session in by_session.values():
        for index, init in enumerate(session):
            for earlier in session[:index]:
                other = conversations.get(earlier["conversationId"])
                if (
                    other
                    and earlier["conversationId"] != init["conversationId"]
                    and _open_at(other, _instant(init["sentAt"]))
                ):
                    flags.add(("duplicate_conversation", init["conversationId"]))

    # unvalidated_resume: a stored id resumed without validation, or a closed/expired one resumed.
    for init in inits:
        stored, used = init.get("storedConversationId"), init.get("conversationId")
        if stored and stored == used:
            conversation = conversations.get(used)
            closed_then = conversation and conversation.closed_at and conversation.closed_at <= _instant(init["sentAt"])
            if not init.get("validated") or closed_then:
                flags.add(("unvalidated_resume", used))

    # cross_origin_reset: no stored id, another origin, while the customer's conversation is active.
    origin_of = {}
    for init in inits:
        origin_of.setdefault(init["conversationId"], init["origin"])
    for init in inits:
        conversation = conversations.get(init["conversationId"])
        if init.get("storedConversationId") or not conversation or not conversation.customer_key:
            continue
        moment = _instant(init["sentAt"])
        for other in by_customer[conversation.customer_key]:
            if (
                other.id != conversation.id
                and _open_at(other, moment)
                and origin_of.get(other.id)
                and origin_of[other.id] != init["origin"]
            ):
                flags.add(("cross_origin_reset", conversation.id))

    # stale_session: pending/active with no activity past the TTL.
    for conversation in conversations.values():
        if conversation.state in OPEN and conversation.last_activity_at + timedelta(seconds=ttl) < now:
            flags.add(("stale_session", conversation.id))

    # ghost_session: active, customer socket closed/silent past the grace period, no inbound since;
    # or closed on the platform while the widget keeps reporting the socket live.
    for conversation_id, events in sockets.items():
        conversation = conversations.get(conversation_id)
        if conversation is None:
            continue
        if conversation.state == "active":
            last = events[-1]
            heartbeats = [_instant(b["sentAt"]) for b in events if b["event"] in LIVE_EVENTS]
            quiet_since = _instant(last["sentAt"]) if last["event"] in ("close", "error") else None
            if quiet_since is None and heartbeats and heartbeats[-1] < now - timedelta(seconds=grace):
                quiet_since = heartbeats[-1]
            if (
                quiet_since
                and quiet_since < now - timedelta(seconds=grace)
                and (conversation.last_inbound_at is None or conversation.last_inbound_at <= quiet_since)
            ):
                flags.add(("ghost_session", conversation_id))
        elif conversation.closed_at and any(
            b["event"] in LIVE_EVENTS and _instant(b["sentAt"]) > conversation.closed_at for b in events
        ):
            flags.add(("ghost_session", conversation_id))

    # silent_socket: readyState open, >= 3 consecutive missed pongs, no reconnect after them.
    for conversation_id, events in sockets.items():
        for beacon in events:
            if beacon["event"] == "pong_missed" and beacon.get("readyState") == 1 and beacon.get("missedPongs", 0) >= 3:
                later = [b for b in events if _instant(b["sentAt"]) >= _instant(beacon["sentAt"]) and b is not beacon]
                if not any(b["event"] in RECONNECT_EVENTS for b in later):
                    flags.add(("silent_socket", conversation_id))

    # reconnect_storm: reconnect attempts whose delays do not grow.
    for conversation_id, events in sockets.items():
        episodes: list[list[int]] = []
        for beacon in events:
            if beacon["event"] == "reconnect_attempt":
                if beacon.get("attempt", 1) == 1 or not episodes:
                    episodes.append([])
                episodes[-1].append(beacon.get("delayMs") or 0)
        for delays in episodes:
            if len(delays) >= 2 and any(later <= earlier for earlier, later in zip(delays, delays[1:], strict=False)):
                flags.add(("reconnect_storm", conversation_id))

    # duplicate_message: equal text from one participant within 10 s with different/missing keys,
    # or a retry whose outcome was "new".
    by_author = defaultdict(list)
    for message in Message.objects.order_by("created_at"):
        by_author[(message.conversation_id, message.participant_id)].append(message)
    for (conversation_id, _), messages in by_author.items():
        for index, message in enumerate(messages):
            for other in messages[index + 1 :]:
                if other.created_at - message.created_at > DUPLICATE_WINDOW:
                    break
                keys_differ = not message.idempotency_key or message.idempotency_key != other.idempotency_key
                if other.text == message.text and keys_differ:
                    flags.add(("duplicate_message", conversation_id))
    for beacon in beacons:
        if beacon["kind"] == "message.retry" and beacon.get("outcome") == "new":
            flags.add(("duplicate_message", beacon["conversationId"]))

    # cursor_drift: a timestamp cursor, or a gap or repeat in the returned ids vs the mirror's order.
    for beacon in beacons:
        if beacon["kind"] != "history.fetch":
            continue
        conversation_id, returned = beacon["conversationId"], beacon.get("returnedIds") or []
        if beacon.get("since"):
            flags.add(("cursor_drift", conversation_id))
            continue
        if len(set(returned)) != len(returned) or (beacon.get("afterId") and beacon["afterId"] in returned):
            flags.add(("cursor_drift", conversation_id))
            continue
        ordered = list(
            Message.objects.filter(conversation_id=conversation_id)
            .order_by("sequence", "message_id")
            .values_list("message_id", "created_at")
        )
        positions = {message_id: index for index, (message_id, _) in enumerate(ordered)}
        held = [positions[m] for m in returned if m in positions]
        if len(held) >= 2:
            fetched = _instant(beacon["sentAt"])
            between = ordered[min(held) : max(held) + 1]
            if any(message_id not in returned and created <= fetched for message_id, created in between):
                flags.add(("cursor_drift", conversation_id))

    # context_lost_on_handoff and participant_scoped_context.
    for handoff in Handoff.objects.exclude(lost_keys=[]):
        flags.add(("context_lost_on_handoff", handoff.conversation_id))
    for participant in Participant.objects.all():
        if ROUTING_KEYS & set(participant.attributes or {}):
            flags.add(("participant_scoped_context", participant.conversation_id))

    # event_after_close: an accepted platform event later than the close.
    for conversation in conversations.values():
        if conversation.closed_at is None:
            continue
        late = WebhookReceipt.objects.filter(
            conversation_id=conversation.id, outcome__in=ACCEPTED_OUTCOMES, occurred_at__gt=conversation.closed_at
        ).exclude(source="console")
        if late.exists():
            flags.add(("event_after_close", conversation.id))
    return flags
