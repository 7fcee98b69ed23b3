"""Load what the detectors need for a chunk of subjects, with a fixed number of queries per chunk.

Detectors run after every webhook and beacon batch (one conversation) and over the whole
database (chunks of CHUNK_SIZE), so every read here is per chunk, not per conversation,
except the history-fetch positions of conversations that have history.fetch beacons.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from conversations.ingest import adapter_for
from conversations.ingest.canonical import format_instant
from conversations.models import (
    TERMINAL_STATES,
    Conversation,
    ConversationState,
    Handoff,
    Message,
    Participant,
    ReceiptOutcome,
    Source,
    WebhookReceipt,
)
from diagnostics.detectors import Thresholds
from diagnostics.models import BeaconKind, FindingKind, TelemetryBeacon, WidgetDeployment

log = logging.getLogger(__name__)

CHUNK_SIZE = 200
# Deliveries that count as platform events (the first accepted delivery of an event id).
EVENT_OUTCOMES = (ReceiptOutcome.APPLIED, ReceiptOutcome.STALE)


@dataclass(frozen=True)
class ConversationSummary:
    """When a conversation was open, as the mirror holds it."""

    id: str
    state: str
    customer_key: str
    start: datetime
    closed_at: datetime | None

    def open_at(self, moment: datetime) -> bool:
        return self.start <= moment and (self.closed_at is None or self.closed_at > moment)

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationSummary:
        start = conversation.started_at or conversation.first_event_at
        if conversation.first_event_at and conversation.first_event_at < start:
            start = conversation.first_event_at
        return cls(conversation.id, conversation.state, conversation.customer_key, start, conversation.closed_at)

    def as_evidence(self) -> dict:
        return {
            "conversationId": self.id,
            "state": self.state,
            "startedAt": format_instant(self.start),
            "closedAt": format_instant(self.closed_at) if self.closed_at else None,
        }


@dataclass(frozen=True)
class EventAfterClose:
    receipt_id: int
    source: str
    event_id: str
    type: str
    order_key: list
    received_at: datetime


@dataclass(frozen=True)
class SessionLink:
    """A session.init of one of this conversation's sessions that named another conversation."""

    session_key: str
    conversation_id: str
    first_named_at: datetime
    beacon_id: str


@dataclass
class ConversationFacts:
    conversation_id: str
    now: datetime
    conversation: Conversation | None
    deployment: WidgetDeployment | None
    thresholds: Thresholds
    beacons: list[TelemetryBeacon] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    lost_handoffs: list[Handoff] = field(default_factory=list)
    duplicate_groups: list[list[Message]] = field(default_factory=list)
    # history.fetch: mirror positions (sequence, message_id, created_at) of the ids fetches named,
    # and every mirror message between the lowest and highest of them, in cursor order.
    cursor_positions: dict[str, tuple] = field(default_factory=dict)
    cursor_range: list[tuple] = field(default_factory=list)
    events_after_close: list[EventAfterClose] = field(default_factory=list)
    customer_siblings: list[ConversationSummary] = field(default_factory=list)
    session_links: list[SessionLink] = field(default_factory=list)
    linked_summaries: dict[str, ConversationSummary] = field(default_factory=dict)
    # Origins each sibling conversation was used from: {conversation id: {(deployment id, origin)}}.
    sibling_origins: dict[str, set[tuple[int, str]]] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"conversation:{self.conversation_id}"

    @property
    def summary(self) -> ConversationSummary | None:
        return ConversationSummary.of(self.conversation) if self.conversation else None

    def beacons_of(self, kind: str) -> list[TelemetryBeacon]:
        return [beacon for beacon in self.beacons if beacon.kind == kind]


@dataclass
class SessionFacts:
    """Beacons of one session that name no conversation (subject ``session:<key>``)."""

    session_key: str
    now: datetime
    deployment: WidgetDeployment | None
    thresholds: Thresholds
    beacons: list[TelemetryBeacon] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"session:{self.session_key}"

    def beacons_of(self, kind: str) -> list[TelemetryBeacon]:
        return [beacon for beacon in self.beacons if beacon.kind == kind]


def _latest_deployment(beacons: list[TelemetryBeacon], deployments: dict) -> WidgetDeployment | None:
    """A conversation belongs to the deployment whose telemetry names it (the latest, if several)."""
    return deployments.get(beacons[-1].deployment_id) if beacons else None


def load_conversations(conversation_ids: list[str], now: datetime, kinds=None) -> list[ConversationFacts]:
    """Facts for these conversations; ``kinds`` (all when None) skips what no detector asked for needs."""
    wanted = set(kinds) if kinds is not None else None

    def needs(*names: str) -> bool:
        return wanted is None or bool(wanted.intersection(names))

    ids = list(dict.fromkeys(conversation_ids))
    conversations = Conversation.objects.in_bulk(ids)
    beacons_by_conversation: dict[str, list[TelemetryBeacon]] = defaultdict(list)
    for beacon in TelemetryBeacon.objects.filter(conversation_id__in=ids).order_by("sent_at", "id"):
        beacons_by_conversation[beacon.conversation_id].append(beacon)
    deployment_ids = {b.deployment_id for beacons in beacons_by_conversation.values() for b in beacons}
    deployments = WidgetDeployment.objects.in_bulk(deployment_ids)

    facts = {}
    for conversation_id in ids:
        beacons = beacons_by_conversation.get(conversation_id, [])
        deployment = _latest_deployment(beacons, deployments)
        facts[conversation_id] = ConversationFacts(
            conversation_id=conversation_id,
            now=now,
            conversation=conversations.get(conversation_id),
            deployment=deployment,
            thresholds=Thresholds.of(deployment),
            beacons=beacons,
        )
    mirrored = [conversation_id for conversation_id in ids if conversation_id in conversations]
    if mirrored:
        # Participants: participant_scoped_context, and the socket health the run refreshes.
        _load_participants(facts, mirrored)
        if needs(FindingKind.CONTEXT_LOST_ON_HANDOFF):
            _load_lost_handoffs(facts, mirrored)
        if needs(FindingKind.DUPLICATE_MESSAGE):
            _load_duplicate_groups(facts, mirrored)
        if needs(FindingKind.EVENT_AFTER_CLOSE):
            _load_events_after_close(facts, [conversations[c] for c in mirrored])
    if needs(FindingKind.CURSOR_DRIFT):
        _load_cursor_positions(facts)
    if needs(FindingKind.DUPLICATE_CONVERSATION, FindingKind.CROSS_ORIGIN_RESET):
        _load_siblings(facts)
    return [facts[conversation_id] for conversation_id in ids]


def load_sessions(session_keys: list[str], now: datetime) -> list[SessionFacts]:
    keys = list(dict.fromkeys(session_keys))
    by_session: dict[str, list[TelemetryBeacon]] = defaultdict(list)
    for beacon in TelemetryBeacon.objects.filter(session_key__in=keys, conversation_id="").order_by("sent_at", "id"):
        by_session[beacon.session_key].append(beacon)
    deployments = WidgetDeployment.objects.in_bulk({b.deployment_id for bs in by_session.values() for b in bs})
    result = []
    for key in keys:
        beacons = by_session.get(key, [])
        deployment = _latest_deployment(beacons, deployments)
        result.append(SessionFacts(key, now, deployment, Thresholds.of(deployment), beacons))
    return result


def _load_participants(facts: dict, ids: list[str]) -> None:
    for participant in Participant.objects.filter(conversation_id__in=ids).order_by("id"):
        facts[participant.conversation_id].participants.append(participant)


def _load_lost_handoffs(facts: dict, ids: list[str]) -> None:
    for handoff in Handoff.objects.filter(conversation_id__in=ids).order_by("occurred_at", "id"):
        if handoff.lost_keys:
            facts[handoff.conversation_id].lost_handoffs.append(handoff)


def _load_duplicate_groups(facts: dict, ids: list[str]) -> None:
    """Messages sharing (participant, direction, text) with at least one other: duplicate candidates."""
    groups = (
        Message.objects.filter(conversation_id__in=ids)
        .exclude(text="")
        .values("conversation_id", "participant_id", "direction", "text")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by()
    )
    condition = Q()
    for group in groups:
        condition |= Q(
            conversation_id=group["conversation_id"],
            participant_id=group["participant_id"],
            direction=group["direction"],
            text=group["text"],
        )
    if not condition:
        return
    grouped: dict[tuple, list[Message]] = defaultdict(list)
    for message in Message.objects.filter(condition).order_by("created_at", "sequence", "message_id"):
        grouped[(message.conversation_id, message.participant_id, message.direction, message.text)].append(message)
    for (conversation_id, *_), messages in grouped.items():
        facts[conversation_id].duplicate_groups.append(messages)


def _load_events_after_close(facts: dict, conversations: list[Conversation]) -> None:
    """Platform events whose order key is later than the close (Genesys teardown ends are not)."""
    closed = {c.id: c.versions["closed_key"] for c in conversations if c.versions.get("closed_key")}
    closed = {cid: key for cid, key in closed.items() if facts[cid].conversation.state in TERMINAL_STATES}
    if not closed:
        return
    candidates = []
    receipts = (
        WebhookReceipt.objects.filter(conversation_id__in=list(closed), outcome__in=EVENT_OUTCOMES)
        .exclude(source=Source.CONSOLE)
        .values_list("id", "conversation_id", "sequence", "occurred_at")
    )
    for receipt_id, conversation_id, sequence, occurred_at in receipts:
        if occurred_at is None:
            continue
        # Cheap pre-filter: the delivery with the highest possible event id (ties are decided per event below).
        if is_after_close([sequence or 0, format_instant(occurred_at), "\uffff"], closed[conversation_id]):
            candidates.append(receipt_id)
    if not candidates:
        return
    for receipt in WebhookReceipt.objects.filter(pk__in=candidates).order_by("id"):
        closed_key = closed[receipt.conversation_id]
        try:
            delivery = adapter_for(receipt.source).parse(json.loads(receipt.body))
        except Exception:  # noqa: BLE001 - an unparseable stored body is not evidence of anything
            log.warning("event_after_close: receipt %s cannot be parsed", receipt.pk)
            continue
        for event in delivery.events:
            if event.conversation_id != receipt.conversation_id or not is_after_close(event.order_key, closed_key):
                continue
            if _confirms_close(event):
                continue
            facts[receipt.conversation_id].events_after_close.append(
                EventAfterClose(receipt.pk, receipt.source, event.id, event.type, event.order_key, receipt.received_at)
            )


def is_after_close(key: list, closed_key: list) -> bool:
    """Later than the close by sequence when both carry one, else by occurredAt (docs: "Event after close").

    A close the console made (expiry, force-close) may carry no sequence while the platform's
    events do; comparing [0, ...] with [7, ...] would call every platform event "after" it.
    """
    if key[0] and closed_key[0]:
        return key > closed_key
    return key[1:] > closed_key[1:]


def _confirms_close(event) -> bool:
    """A later terminal state or a participant leaving agrees with the close; it is not an event after it.

    (The platform's own echo of a console force-close, or participants torn down after the close.)
    """
    if event.type == "participant.left":
        return True
    return event.type == "conversation.state_changed" and event.data.get("state") in (
        ConversationState.CLOSED,
        ConversationState.EXPIRED,
    )


def _load_cursor_positions(facts: dict) -> None:
    for item in facts.values():
        fetches = item.beacons_of(BeaconKind.HISTORY_FETCH)
        if not fetches or item.conversation is None:
            continue
        named = set()
        for beacon in fetches:
            named.update(beacon.payload.get("returnedIds") or [])
            if beacon.payload.get("afterId"):
                named.add(beacon.payload["afterId"])
        if not named:
            continue
        positions = {
            message_id: (sequence, message_id, created_at)
            for message_id, sequence, created_at in Message.objects.filter(
                conversation_id=item.conversation_id, message_id__in=named
            ).values_list("message_id", "sequence", "created_at")
        }
        item.cursor_positions = positions
        if len(positions) < 2:
            continue
        low, high = min(positions.values()), max(positions.values())
        rows = Message.objects.filter(
            conversation_id=item.conversation_id, sequence__gte=low[0], sequence__lte=high[0]
        ).values_list("sequence", "message_id", "created_at")
        item.cursor_range = sorted(row for row in rows if low[:2] <= row[:2] <= high[:2])


def _load_siblings(facts: dict) -> None:
    """Other conversations of the same customer (customerKey) or the same browser session (sessionKey)."""
    customer_keys = {
        f.conversation.customer_key for f in facts.values() if f.conversation and f.conversation.customer_key
    }
    by_customer: dict[str, list[ConversationSummary]] = defaultdict(list)
    if customer_keys:
        for conversation in Conversation.objects.filter(customer_key__in=customer_keys).only(
            "id", "state", "customer_key", "started_at", "first_event_at", "closed_at"
        ):
            by_customer[conversation.customer_key].append(ConversationSummary.of(conversation))

    session_keys = {b.session_key for f in facts.values() for b in f.beacons_of(BeaconKind.SESSION_INIT)}
    links_by_session: dict[str, dict[str, SessionLink]] = defaultdict(dict)
    if session_keys:
        inits = (
            TelemetryBeacon.objects.filter(kind=BeaconKind.SESSION_INIT, session_key__in=session_keys)
            .exclude(conversation_id="")
            .order_by("sent_at", "id")
            .values_list("session_key", "conversation_id", "sent_at", "beacon_id")
        )
        for session_key, conversation_id, sent_at, beacon_id in inits:
            links_by_session[session_key].setdefault(
                conversation_id, SessionLink(session_key, conversation_id, sent_at, beacon_id)
            )
    linked_ids = {link.conversation_id for links in links_by_session.values() for link in links.values()}
    summaries = {
        conversation.id: ConversationSummary.of(conversation)
        for conversation in Conversation.objects.filter(pk__in=linked_ids).only(
            "id", "state", "customer_key", "started_at", "first_event_at", "closed_at"
        )
    }

    origin_needed = set()
    for item in facts.values():
        if item.conversation and item.conversation.customer_key:
            item.customer_siblings = [
                s for s in by_customer[item.conversation.customer_key] if s.id != item.conversation_id
            ]
            if any(not b.payload.get("storedConversationId") for b in item.beacons_of(BeaconKind.SESSION_INIT)):
                origin_needed.update(s.id for s in item.customer_siblings)
        own_sessions = {b.session_key for b in item.beacons_of(BeaconKind.SESSION_INIT)}
        for session_key in sorted(own_sessions):
            for link in links_by_session[session_key].values():
                item.session_links.append(link)
                if link.conversation_id in summaries:
                    item.linked_summaries[link.conversation_id] = summaries[link.conversation_id]

    if origin_needed:
        origins: dict[str, set[tuple[int, str]]] = defaultdict(set)
        rows = (
            TelemetryBeacon.objects.filter(conversation_id__in=origin_needed)
            .exclude(origin="")
            .values_list("conversation_id", "deployment_id", "origin")
            .distinct()
        )
        for conversation_id, deployment_id, origin in rows:
            origins[conversation_id].add((deployment_id, origin))
        for item in facts.values():
            item.sibling_origins = {s.id: origins[s.id] for s in item.customer_siblings if s.id in origins}
