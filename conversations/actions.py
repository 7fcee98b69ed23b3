"""Every state change of the mirror, as plain functions.

The ordering rules (docs/architecture.md, "Ordering rules") live here:

* an event id seen before is a duplicate: recorded, not applied (database constraint);
* per conversation, a field changes only when the event's order key
  ``[sequence, occurredAt, id]`` is newer than the key that last set it; older
  events are recorded as ``stale`` and still feed history (messages, handoffs);
* ``closed``/``expired`` are terminal: the earliest terminal fact wins and no
  later event reopens the conversation;
* an event for an unknown conversation creates it.

Everything that depends on several events (routing context, handoffs, the
Genesys "last participant ended" close) is recomputed from stored facts, so
the mirror is the same whatever order the events arrived in.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from console.jobs import enqueue_on_commit
from console.models import AuditEntry
from conversations import events, platforms
from conversations.ingest import CanonicalEvent, Delivery, adapter_for
from conversations.ingest.canonical import format_instant, parse_instant
from conversations.models import (
    ACCEPTED_OUTCOMES,
    OPEN_FORCE_CLOSE_STATUSES,
    OPEN_STATES,
    PARTICIPANT_LEFT,
    RECONCILED_CLOSE_REASONS,
    TERMINAL_STATES,
    ContextChange,
    Conversation,
    ConversationState,
    Direction,
    ForceCloseRequest,
    ForceCloseStatus,
    Handoff,
    Message,
    Participant,
    ParticipantRole,
    ReceiptOutcome,
    Source,
    WebhookReceipt,
)
from conversations.platforms import PlatformError
from conversations.redaction import card_numbers, mask_card_numbers, mask_cards_in_body
from diagnostics.actions import detect_after_commit, resolve_findings

log = logging.getLogger(__name__)

RUN_DETECTORS = "diagnostics.tasks.run_detectors"
MESSAGE_CREATED = "message.created"
PCI_SCOPED = "pci-scoped"

# Close reason of a Genesys conversation whose last participant ended (the platform's endTime).
TEARDOWN_REASON = "ended"
# Sources whose handoffs are derived from participants (an agent leaving with a transfer
# disconnect, followed by another queue or agent); the others send explicit transfer events.
DERIVED_HANDOFF_SOURCES = {Source.GENESYS}
TEARDOWN_CLOSE_SOURCES = {Source.GENESYS}
ROUTING_ROLES = {ParticipantRole.AGENT, ParticipantRole.ACD}


# --- deliveries and receipts --------------------------------------------------------------


def record_delivery(
    *, source: str, delivery: Delivery, body: str, remote_addr: str | None = None, request_id: str = ""
) -> tuple[str, WebhookReceipt]:
    """Store the receipt of an authentic delivery and apply its events, in one transaction.

    The receipt insert comes first: the partial unique constraint on (source, event_id)
    makes a concurrent redelivery wait for this transaction and then lose, so an event is
    applied exactly once whatever the concurrency.
    """
    receipt = WebhookReceipt(
        source=source,
        event_id=delivery.event_id,
        signature_valid=True,
        outcome=ReceiptOutcome.APPLIED,
        status_code=200,
        conversation_id=delivery.conversation_id,
        event_types=delivery.event_types,
        sequence=delivery.sequence,
        occurred_at=delivery.occurred_at,
        body=body,
        remote_addr=remote_addr,
        request_id=request_id,
    )
    with transaction.atomic():
        if not _insert_first_receipt(receipt):
            receipt.outcome = ReceiptOutcome.DUPLICATE
            receipt.body = ""
            receipt.save(force_insert=True)
            return ReceiptOutcome.DUPLICATE, receipt
        outcome = apply_events(delivery.events, source=source)
        kept = pci_masked_body(delivery, body)
        if outcome != ReceiptOutcome.APPLIED or kept != body:
            # The raw body of a pci-scoped conversation's message never commits: same transaction.
            receipt.outcome, receipt.body = outcome, kept
            receipt.save(update_fields=["outcome", "body"])
        if outcome != ReceiptOutcome.IGNORED and source != Source.CONSOLE:
            # Console transitions push their audit row as the timeline item instead.
            events.delivery_applied(receipt)
        if source != Source.CONSOLE and delivery.events:
            # Findings follow the mirror: detectors examine what this delivery changed, shortly after
            # the commit (debounced: a burst of deliveries shares one run).
            detect_after_commit(event.conversation_id for event in delivery.events)
    return outcome, receipt


def _insert_first_receipt(receipt: WebhookReceipt) -> bool:
    """Insert an accepted receipt unless its (source, event id) was accepted before; True when inserted.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL; SQLite 3.35+) instead of an
    insert inside a savepoint that catches the IntegrityError: the same outcome — a concurrent
    redelivery waits for this transaction and then inserts nothing — in one round trip instead of
    three (docs/performance.md, ingest). The only conflict possible is the partial unique index
    receipt_event_once_per_source (the id is generated).
    """
    meta = WebhookReceipt._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(receipt, add=True), connection) for field in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    receipt.pk = row[0]
    receipt._state.adding = False
    return True


def record_refusal(
    *,
    source: str,
    outcome: str,
    status_code: int,
    error: str,
    signature_valid: bool | None = None,
    event_id: str = "",
    body: str = "",
    remote_addr: str | None = None,
    request_id: str = "",
    delivery: Delivery | None = None,
) -> WebhookReceipt:
    """Store a delivery that was not applied: rejected (4xx) or failed (accepted, retry expected).

    A failed delivery keeps its body (card numbers masked when its conversation is pci-scoped) and,
    when it was parsed, its conversation and event types, like an accepted one.
    """
    if delivery is not None:
        body = pci_masked_body(delivery, body)
    return WebhookReceipt.objects.create(
        source=source,
        conversation_id=delivery.conversation_id if delivery else "",
        event_types=delivery.event_types if delivery else "",
        event_id=event_id[:200],
        signature_valid=signature_valid,
        outcome=outcome,
        status_code=status_code,
        error=error[:2000],
        body=body,
        remote_addr=remote_addr,
        request_id=request_id,
    )


def pci_masked_body(delivery: Delivery, body: str) -> str:
    """``body`` with the card numbers of its message texts masked when their conversation is pci-scoped.

    Only deliveries whose message text holds a card number cost a query (ARCHITECTURE: message text
    of pci-scoped conversations is stored masked; the receipt body is a stored copy of it).
    """
    texts = [event.data.get("text") or "" for event in delivery.events if event.type == MESSAGE_CREATED]
    if not any(card_numbers(text) for text in texts):
        return body
    conversation_ids = {event.conversation_id for event in delivery.events}
    flagged = any(_flags_pci(event) for event in delivery.events) or any(
        conversation.is_pci_scoped
        for conversation in Conversation.objects.filter(pk__in=conversation_ids).only(
            "routing_data", "custom_attributes"
        )
    )
    return mask_cards_in_body(body, texts) if flagged else body


def _flags_pci(event: CanonicalEvent) -> bool:
    for section in ("routingData", "customAttributes"):
        value = event.data.get(section)
        flags = value.get("complianceFlags") if isinstance(value, dict) else None
        if isinstance(flags, list) and PCI_SCOPED in (str(flag) for flag in flags):
            return True
    return False


def apply_events(events: Iterable[CanonicalEvent], *, source: str) -> str:
    """Apply canonical events; the delivery's outcome is applied, stale, or ignored (no events)."""
    outcomes = [apply_event(event, source=source) for event in events]
    if not outcomes:
        return ReceiptOutcome.IGNORED
    if ReceiptOutcome.APPLIED in outcomes:
        return ReceiptOutcome.APPLIED
    return ReceiptOutcome.STALE


def replay_receipts(receipts: Iterable[WebhookReceipt], *, progress: Callable[[int], None] | None = None) -> Counter:
    """Re-apply stored deliveries in the order given (arrival order); idempotent on a populated mirror."""
    counts: Counter = Counter()
    for index, receipt in enumerate(receipts, start=1):
        if receipt.outcome not in ACCEPTED_OUTCOMES:
            counts["skipped"] += 1
            continue
        try:
            delivery = adapter_for(receipt.source).parse(json.loads(receipt.body))
        except Exception as error:  # noqa: BLE001 - one bad stored body must not stop a rebuild
            log.warning("replay: receipt %s cannot be parsed: %s", receipt.pk, error)
            counts["unparseable"] += 1
            continue
        with transaction.atomic():
            counts[apply_events(delivery.events, source=receipt.source)] += 1
        if progress:
            progress(index)
    return counts


class NotReplayable(ValueError):
    """Only accepted deliveries keep a body that can be re-applied."""


class UnparseableReceipt(ValueError):
    """The stored body cannot be parsed by the current adapter."""


def replay_receipt(receipt: WebhookReceipt, *, actor: str, actor_user=None, request_id: str = "") -> str:
    """Re-apply one stored accepted delivery (an admin's replay), audited in the same transaction.

    The ordering rules make a replay of an event the mirror already holds change nothing
    (outcome ``stale`` or ``applied`` with no visible change); a lost one is applied.
    """
    if receipt.outcome not in ACCEPTED_OUTCOMES:
        raise NotReplayable(
            f"receipt {receipt.pk} was {receipt.outcome}: only accepted deliveries "
            f"({', '.join(ACCEPTED_OUTCOMES)}) keep a body that can be replayed"
        )
    with transaction.atomic():
        counts = replay_receipts([receipt])
        if counts.get("unparseable"):
            raise UnparseableReceipt(
                f"receipt {receipt.pk}: the stored body cannot be parsed by the {receipt.source} adapter"
            )
        outcome = next(iter(counts))
        AuditEntry.objects.create(
            actor=actor,
            actor_user=actor_user,
            action="webhook_receipt.replayed",
            target_type="webhook_receipt",
            target_id=str(receipt.pk),
            after={"outcome": outcome, "conversationId": receipt.conversation_id, "eventId": receipt.event_id},
            request_id=request_id,
        )
    return outcome


# --- applying one event ---------------------------------------------------------------------


def apply_event(event: CanonicalEvent, *, source: str) -> str:
    conversation = _lock_conversation(event, source)
    as_locked = _field_values(conversation)
    _restore_expiry_fact(conversation)
    state_before = None if conversation.versions.get("event") is None else conversation.state
    key = event.order_key
    newest = conversation.versions.get("event")
    stale = newest is not None and key < newest
    HANDLERS[event.type](conversation, event, key)
    _note_event(conversation, event, key)
    _save_changes(conversation, as_locked)
    if conversation.state != state_before:
        # Console transitions push their own, richer conversation.updated (with the force-close state).
        events.conversation_state_changed(conversation, to_page=source != Source.CONSOLE)
    return ReceiptOutcome.STALE if stale else ReceiptOutcome.APPLIED


_CONVERSATION_COLUMNS = [field.attname for field in Conversation._meta.concrete_fields if not field.primary_key]


def _field_values(conversation: Conversation) -> dict:
    """The row's values as locked (JSON fields deep-copied: the handlers change them in place)."""
    values = {}
    for name in _CONVERSATION_COLUMNS:
        value = getattr(conversation, name)
        values[name] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return values


def _save_changes(conversation: Conversation, as_locked: dict) -> None:
    """UPDATE only the columns this event changed (and ``updated_at`` with them); nothing when none did.

    A message changes a handful of columns; writing all of them (JSON context included) cost
    each webhook more time than the statement itself (docs/performance.md, ingest).
    """
    changed = [name for name, value in as_locked.items() if getattr(conversation, name) != value]
    if changed:
        conversation.save(update_fields={*changed, "updated_at"})


def _lock_conversation(event: CanonicalEvent, source: str) -> Conversation:
    """The conversation row, locked for this transaction; created when the event is its first."""
    conversation = Conversation.objects.select_for_update().filter(pk=event.conversation_id).first()
    if conversation is not None:
        return conversation
    try:
        with transaction.atomic():
            return Conversation.objects.create(
                id=event.conversation_id,
                source=source if source != Source.CONSOLE else Source.NATIVE,
                first_event_at=event.occurred_at,
                last_activity_at=event.occurred_at,
            )
    except IntegrityError:
        return Conversation.objects.select_for_update().get(pk=event.conversation_id)


def _note_event(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    conversation.first_event_at = min(conversation.first_event_at, event.occurred_at)
    if event.sequence is not None:
        conversation.last_sequence = max(conversation.last_sequence or 0, event.sequence)
    newest = conversation.versions.get("event")
    if newest is None or key > newest:
        conversation.versions["event"] = key
    conversation.refresh_last_activity()


def _newer(versions: dict, name: str, key: list) -> bool:
    current = versions.get(name)
    return current is None or key > current


def _touch_activity(conversation: Conversation, at: datetime) -> None:
    """Activity is a message or a participant change on the platform (heartbeats are not)."""
    if conversation.activity_at is None or at > conversation.activity_at:
        conversation.activity_at = at


# --- conversation state ----------------------------------------------------------------------


def _set_open_state(conversation: Conversation, state: str, key: list) -> None:
    current = conversation.versions.get("open")
    if current is None or key > current["key"]:
        conversation.versions["open"] = {"key": key, "state": state}
    _resolve_state(conversation)


def _set_terminal(conversation: Conversation, state: str, key: list, at: datetime, reason: str) -> None:
    """Record an explicit terminal fact; the earliest one wins, so arrival order does not matter."""
    current = conversation.versions.get("terminal")
    if current is None or key < current["key"]:
        conversation.versions["terminal"] = {
            "key": key,
            "state": state,
            "reason": reason or state,
            "at": format_instant(at),
        }
    _resolve_state(conversation)


def _restore_expiry_fact(conversation: Conversation) -> None:
    """Give a conversation expired set-based (expire_stale) the terminal fact its console event carries.

    The sweep changes state, closed_at and close_reason with one UPDATE and stores the console
    receipt beside it, but leaves ``versions`` alone. Before any later event is applied, the fact is
    rebuilt from the row exactly as applying that receipt would have built it, so the event cannot
    reopen the conversation and ``replay_events`` gives the same mirror.
    """
    if conversation.state not in TERMINAL_STATES or "closed_key" in conversation.versions:
        return
    if conversation.closed_at is None:
        return
    at = format_instant(conversation.closed_at)
    key = [conversation.last_sequence or 0, at, console_event_id(EXPIRY_EVENT_PREFIX, conversation.id)]
    conversation.versions["terminal"] = {
        "key": key,
        "state": conversation.state,
        "reason": conversation.close_reason or conversation.state,
        "at": at,
    }
    newest = conversation.versions.get("event")
    if newest is None or key > newest:
        conversation.versions["event"] = key
    _resolve_state(conversation)


def _resolve_state(conversation: Conversation) -> None:
    """The state follows from the facts: the earliest terminal fact, else the newest open state."""
    candidates = [conversation.versions.get(name) for name in ("terminal", "teardown")]
    candidates = [candidate for candidate in candidates if candidate]
    if candidates:
        first = min(candidates, key=lambda candidate: candidate["key"])
        conversation.state = first["state"]
        conversation.closed_at = parse_instant(first["at"], "closed_at")
        conversation.close_reason = first["reason"]
        conversation.versions["closed_key"] = first["key"]
        return
    open_state = conversation.versions.get("open")
    conversation.state = open_state["state"] if open_state else ConversationState.PENDING
    conversation.closed_at = None
    conversation.close_reason = ""
    conversation.versions.pop("closed_key", None)


def _on_started(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    data = event.data
    if _newer(conversation.versions, "profile", key):
        conversation.versions["profile"] = key
        conversation.channel = data["channel"] or conversation.channel
        conversation.tenant = data["tenant"] or conversation.tenant
        conversation.customer_key = data["customerKey"] or conversation.customer_key
    if conversation.started_at is None or event.occurred_at < conversation.started_at:
        conversation.started_at = event.occurred_at
    _set_open_state(conversation, ConversationState.PENDING, key)
    _touch_activity(conversation, event.occurred_at)
    _record_context(conversation, event, key, ContextChange.REPLACE, data["routingData"], data["customAttributes"])


def _on_state_changed(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    state = event.data["state"]
    if state in TERMINAL_STATES:
        _set_terminal(conversation, state, key, event.occurred_at, event.data["reason"])
    else:
        _set_open_state(conversation, state, key)


def _on_attributes_updated(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    data = event.data
    _record_context(conversation, event, key, ContextChange.REPLACE, data["routingData"], data["customAttributes"])


def _on_context_merged(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    data = event.data
    _record_context(
        conversation, event, key, ContextChange.MERGE, data.get("routingData"), data.get("customAttributes")
    )


# --- participants ------------------------------------------------------------------------------


def _participant(conversation: Conversation, participant_id: str) -> Participant:
    participant, _ = Participant.objects.get_or_create(conversation=conversation, participant_id=participant_id)
    return participant


def _set_participant_state(participant: Participant, state: str, key: list) -> bool:
    """Last writer by order key wins: a 'left' older than a 'joined' does not undo the join."""
    if not _newer(participant.versions, "state", key):
        return False
    participant.versions["state"] = key
    participant.state = state
    return True


def _on_participant_joined(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    data = event.data
    participant = _participant(conversation, data["participantId"])
    if _newer(participant.versions, "profile", key):
        participant.versions["profile"] = key
        participant.role = data["role"]
        participant.name = data["name"]
        participant.user_id = data["userId"]
        participant.queue_id = data["queueId"]
        participant.attributes = data["attributes"]
    first_join = participant.versions.get("joined")
    if first_join is None or key < first_join:
        participant.versions["joined"] = key
        participant.joined_at = event.occurred_at
    _set_participant_state(participant, "connected", key)
    participant.save()
    _touch_activity(conversation, event.occurred_at)
    _after_participant_change(conversation, queue_changed=bool(data["queueId"]))


def _on_participant_state_changed(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    participant = _participant(conversation, event.data["participantId"])
    _set_participant_state(participant, event.data["state"], key)
    participant.save()
    _touch_activity(conversation, event.occurred_at)
    _after_participant_change(conversation)


def _on_participant_left(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    participant = _participant(conversation, event.data["participantId"])
    if _set_participant_state(participant, PARTICIPANT_LEFT, key):
        participant.left_at = event.occurred_at
        participant.disconnect_type = event.data["disconnectType"]
    participant.save()
    _touch_activity(conversation, event.occurred_at)
    _after_participant_change(conversation)


def _after_participant_change(conversation: Conversation, *, queue_changed: bool = False) -> None:
    if queue_changed:
        _refresh_queue(conversation)
    if conversation.source in DERIVED_HANDOFF_SOURCES:
        _derive_participant_handoffs(conversation)
    if conversation.source in TEARDOWN_CLOSE_SOURCES:
        _resolve_teardown(conversation)


def _resolve_teardown(conversation: Conversation) -> None:
    """Genesys: the conversation is closed when its last participant ends (the platform's endTime).

    The close point is the first moment, in event order, when every participant that had
    joined has left; a participant joining after it is an event after close.
    """
    points = []
    participants = list(conversation.participants.all())
    for participant in participants:
        points.append((participant.versions.get("joined") or [-1, "", ""], 1, participant))
        if participant.state == PARTICIPANT_LEFT:
            points.append((participant.versions["state"], -1, participant))
    points.sort(key=lambda point: (point[0], point[1]))
    present = 0
    teardown = None
    for point_key, delta, participant in points:
        present += delta
        if present == 0 and delta == -1:
            teardown = {
                "key": point_key,
                "state": ConversationState.CLOSED,
                "reason": TEARDOWN_REASON,
                "at": format_instant(participant.left_at),
            }
            break
    if teardown:
        conversation.versions["teardown"] = teardown
    else:
        conversation.versions.pop("teardown", None)
    _resolve_state(conversation)


def _is_transfer(disconnect_type: str) -> bool:
    return "transfer" in disconnect_type.lower()


def _derive_participant_handoffs(conversation: Conversation) -> None:
    """Genesys: an agent's end with a transfer disconnect, followed by another queue or agent, is a handoff."""
    participants = [p for p in conversation.participants.all() if p.versions.get("joined") or p.state]
    for source in participants:
        if source.role != ParticipantRole.AGENT or source.state != PARTICIPANT_LEFT:
            continue
        if not _is_transfer(source.disconnect_type):
            continue
        source_join = source.versions.get("joined") or [-1, "", ""]
        targets = [
            p
            for p in participants
            if p.pk != source.pk
            and p.versions.get("joined")
            and p.versions["joined"] > source_join
            and (
                (p.role == ParticipantRole.ACD and p.queue_id != source.queue_id)
                or (p.role == ParticipantRole.AGENT and (not p.user_id or p.user_id != source.user_id))
            )
        ]
        if not targets:
            continue
        target = min(targets, key=lambda p: p.versions["joined"])
        left_key = source.versions["state"]
        # Context before: what held before the agent left and before the target joined (an
        # acd.start and the user.end of a blind transfer often carry the same eventTime).
        before_key = min(left_key, target.versions["joined"])
        after_key = _including_siblings(max(left_key, target.versions["joined"]))
        Handoff.objects.update_or_create(
            conversation=conversation,
            key=f"participant:{source.participant_id}",
            defaults={
                "from_participant_id": source.participant_id,
                "to_participant_id": target.participant_id,
                "from_queue_id": source.queue_id,
                "to_queue_id": target.queue_id,
                "occurred_at": source.left_at,
                "order_key": before_key,
                "after_key": after_key,
                **_handoff_contexts(conversation, before_key, after_key),
            },
        )


def _including_siblings(key: list) -> list:
    """A key just after ``key`` and the other canonical events of the same delivery (``<id>#n``)."""
    return [key[0], key[1], f"{key[2]}\uffff"]


# --- messages ------------------------------------------------------------------------------------


def _message_sequence(event: CanonicalEvent) -> int:
    """The platform's sequence; without one, microseconds since the epoch keep time order."""
    if event.sequence is not None:
        return event.sequence
    return int(event.occurred_at.timestamp() * 1_000_000)


def _on_message_created(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    data = event.data
    text = data["text"]
    if conversation.is_pci_scoped:
        text = mask_card_numbers(text)
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                message_id=data["messageId"],
                sequence=_message_sequence(event),
                participant_id=data["participantId"],
                direction=data["direction"],
                text=text,
                idempotency_key=data["idempotencyKey"],
                created_at=event.occurred_at,
                event_id=event.id,
            )
        ],
        ignore_conflicts=True,
    )
    _touch_activity(conversation, event.occurred_at)
    if data["direction"] == Direction.INBOUND and (
        conversation.last_inbound_at is None or event.occurred_at > conversation.last_inbound_at
    ):
        conversation.last_inbound_at = event.occurred_at


# --- routing context and handoffs ---------------------------------------------------------------


def _on_transferred(conversation: Conversation, event: CanonicalEvent, key: list) -> None:
    data = event.data
    _record_context(conversation, event, key, ContextChange.REPLACE, data["routingData"], data["customAttributes"])
    Handoff.objects.update_or_create(
        conversation=conversation,
        key=event.id,
        defaults={
            "from_participant_id": data["fromParticipantId"],
            "to_participant_id": data["toParticipantId"],
            "from_queue_id": data["fromQueueId"],
            "to_queue_id": data["toQueueId"],
            "occurred_at": event.occurred_at,
            "order_key": key,
            "after_key": key,
            **_handoff_contexts(conversation, key, key),
        },
    )
    _touch_activity(conversation, event.occurred_at)
    _refresh_queue(conversation)


def _record_context(
    conversation: Conversation,
    event: CanonicalEvent,
    key: list,
    mode: str,
    routing: dict | None,
    custom: dict | None,
) -> None:
    if routing is None and custom is None:
        return
    _, created = ContextChange.objects.get_or_create(
        conversation=conversation,
        event_id=event.id,
        defaults={"order_key": key, "mode": mode, "routing_data": routing, "custom_attributes": custom},
    )
    if created:
        _refold_context(conversation, changed_at=key)


def _fold(changes: list[ContextChange], *, until: list | None = None, inclusive: bool = True) -> dict:
    """The routing context after the changes up to ``until`` (all when None), in event order."""
    context = {"routingData": {}, "customAttributes": {}}
    for change in changes:
        if until is not None and (change.order_key > until or (not inclusive and change.order_key == until)):
            break
        for section, value in (("routingData", change.routing_data), ("customAttributes", change.custom_attributes)):
            if value is None:
                continue
            if change.mode == ContextChange.MERGE:
                context[section] = {**context[section], **value}
            else:
                context[section] = dict(value)
    return context


def _sorted_changes(conversation: Conversation) -> list[ContextChange]:
    return sorted(conversation.context_changes.all(), key=lambda change: change.order_key)


def _handoff_contexts(conversation: Conversation, before_key: list, after_key: list) -> dict:
    changes = _sorted_changes(conversation)
    before = _fold(changes, until=before_key, inclusive=False)
    after = _fold(changes, until=after_key)
    return {"context_before": before, "context_after": after, "lost_keys": Handoff.compute_lost_keys(before, after)}


def _refold_context(conversation: Conversation, *, changed_at: list) -> None:
    was_pci = conversation.is_pci_scoped
    changes = _sorted_changes(conversation)
    context = _fold(changes)
    conversation.routing_data = context["routingData"]
    conversation.custom_attributes = context["customAttributes"]
    _refresh_queue(conversation)
    if conversation.is_pci_scoped and not was_pci:
        _mask_existing_messages(conversation)
    # A context change that arrived late can alter what earlier-recorded handoffs saw.
    for handoff in conversation.handoffs.all():
        if handoff.after_key and changed_at > handoff.after_key:
            continue
        before = _fold(changes, until=handoff.order_key, inclusive=False)
        after = _fold(changes, until=handoff.after_key or handoff.order_key)
        lost = Handoff.compute_lost_keys(before, after)
        if (before, after, lost) != (handoff.context_before, handoff.context_after, handoff.lost_keys):
            handoff.context_before, handoff.context_after, handoff.lost_keys = before, after, lost
            handoff.save(update_fields=["context_before", "context_after", "lost_keys"])


def _refresh_queue(conversation: Conversation) -> None:
    """Current queue: routingData.queueId, else the queue of the participant that joined last."""
    routed = conversation.routing_data.get("queueId") if isinstance(conversation.routing_data, dict) else None
    if isinstance(routed, str) and routed:
        conversation.queue_id = routed[:200]
        return
    queued = [p for p in conversation.participants.exclude(queue_id="") if p.versions.get("joined")]
    conversation.queue_id = max(queued, key=lambda p: p.versions["joined"]).queue_id if queued else ""


def _mask_existing_messages(conversation: Conversation) -> None:
    """A conversation that becomes pci-scoped gets its stored message text masked too: the messages and
    the receipt bodies that carried them (kept for replay; the failed ones too)."""
    for message in conversation.messages.only("pk", "text").iterator():
        masked = mask_card_numbers(message.text)
        if masked != message.text:
            Message.objects.filter(pk=message.pk).update(text=masked)
    receipts = WebhookReceipt.objects.filter(conversation_id=conversation.pk, event_types__contains=MESSAGE_CREATED)
    for receipt in receipts.exclude(body="").only("pk", "source", "body").iterator():
        try:
            delivery = adapter_for(receipt.source).parse(json.loads(receipt.body))
        except Exception:  # noqa: BLE001 - an unparseable stored body holds no message we can find
            log.warning("pci masking: receipt %s cannot be parsed", receipt.pk)
            continue
        texts = [event.data.get("text") or "" for event in delivery.events if event.type == MESSAGE_CREATED]
        masked = mask_cards_in_body(receipt.body, texts)
        if masked != receipt.body:
            WebhookReceipt.objects.filter(pk=receipt.pk).update(body=masked)


HANDLERS = {
    "conversation.started": _on_started,
    "conversation.state_changed": _on_state_changed,
    "conversation.attributes_updated": _on_attributes_updated,
    "conversation.context_merged": _on_context_merged,
    "participant.joined": _on_participant_joined,
    "participant.state_changed": _on_participant_state_changed,
    "participant.left": _on_participant_left,
    "message.created": _on_message_created,
    "conversation.transferred": _on_transferred,
}


# --- transitions the console makes (expiry, force-close, reconciliation) -------------------------
#
# Each is recorded as a fact the same way a platform's event is: a ``console`` receipt whose body is
# the canonical conversation.state_changed event (deterministic id, sequence = the conversation's
# last_sequence at that time, occurredAt = the transition time), applied through the normal path.
# So the next webhook cannot reopen the conversation, and replay_events rebuilds it.

EXPIRY_EVENT_PREFIX = "expire"
FORCE_CLOSE_EVENT_PREFIX = "force-close"
RECONCILE_EVENT_PREFIX = "reconcile"
EXPIRY_REASON = "inactivity_ttl"
FORCE_CLOSE_REASON = "force_closed"
STATE_CHANGED = "conversation.state_changed"
MAX_EVENT_ID_LENGTH = 200


def console_event_id(prefix: str, conversation_id: str, suffix: str = "") -> str:
    """``<prefix>:<conversation id>[:<suffix>]``; a digest of the id when that would be too long.

    expire_stale computes the same id in SQL (see _EXPIRE_SQL_POSTGRES): keep them in step.
    """
    tail = f":{suffix}" if suffix else ""
    plain = f"{prefix}:{conversation_id}{tail}"
    if len(plain) <= MAX_EVENT_ID_LENGTH:
        return plain
    return f"{prefix}:sha256:{hashlib.sha256(conversation_id.encode()).hexdigest()}{tail}"


def _lifecycle(conversation: Conversation) -> dict:
    return {
        "state": conversation.state,
        "closedAt": format_instant(conversation.closed_at) if conversation.closed_at else None,
        "closeReason": conversation.close_reason,
    }


def record_console_transition(
    conversation: Conversation, *, event_id: str, state: str, reason: str, at: datetime, request_id: str = ""
) -> str:
    """Store and apply a console-made state change; the caller holds the conversation's row lock.

    Answers the receipt outcome (applied/stale, or duplicate when this event id was recorded before).
    """
    event = CanonicalEvent(
        id=event_id,
        type=STATE_CHANGED,
        occurred_at=at,
        conversation_id=conversation.id,
        sequence=conversation.last_sequence,
        data={"state": state, "reason": reason},
    )
    body = json.dumps(event.as_json(), separators=(",", ":"))
    # Parsed back through the console adapter, as replay_events will read it.
    delivery = adapter_for(Source.CONSOLE).parse(json.loads(body))
    outcome, _ = record_delivery(source=Source.CONSOLE, delivery=delivery, body=body, request_id=request_id)
    conversation.refresh_from_db()
    return outcome


# --- expiry (set-based) -------------------------------------------------------------------------------


def _ttl_groups() -> list[int]:
    """The TTLs in use by open conversations (an empty or zero ttl_seconds means the default)."""
    default = settings.CONSOLE_SESSION_TTL_SECONDS
    values = Conversation.objects.filter(state__in=OPEN_STATES).values_list("ttl_seconds", flat=True).distinct()
    return sorted({value or default for value in values})


def _ttl_filter(ttl: int) -> Q:
    if ttl == settings.CONSOLE_SESSION_TTL_SECONDS:
        return Q(ttl_seconds__isnull=True) | Q(ttl_seconds=0) | Q(ttl_seconds=ttl)
    return Q(ttl_seconds=ttl)


def _stale(ttl: int, now: datetime):
    """Open conversations of this TTL idle for more than the TTL (guide, Core Concepts: the stored
    timestamp *exceeds* the inactivity timeout): expires_at < now; at exactly expires_at it is still alive."""
    return Conversation.objects.filter(
        _ttl_filter(ttl), state__in=OPEN_STATES, last_activity_at__lt=now - timedelta(seconds=ttl)
    )


def expire_stale(*, now: datetime | None = None, dry_run: bool = False, actor: str = "") -> list[dict]:
    """Expire every pending/active conversation idle past its TTL; answer what expired (or would).

    Set-based: per distinct TTL, conditional UPDATEs (``WHERE state = 'pending'|'active' AND
    last_activity_at < cutoff``, rechecked by PostgreSQL on rows a concurrent webhook changed) claim
    the rows, and the console receipts and audit rows are inserted in the same statement (PostgreSQL)
    or transaction (SQLite). The number of queries does not depend on the number of conversations;
    a second run finds nothing to expire.

    Each item (also the ``conversation.updated`` push of that conversation) has conversationId, state,
    previousState, lastActivityAt, expiresAt, closedAt, closeReason and ttlSeconds; instants are ISO strings.
    """
    now = now or timezone.now()
    actor = actor or "system:conversations.tasks.expire_stale_sessions"
    expired: list[dict] = []
    for ttl in _ttl_groups():
        if dry_run:
            rows = _stale(ttl, now).order_by("last_activity_at", "id").values_list("id", "state", "last_activity_at")
            expired.extend(_expiry_item(cid, state, format_instant(last), ttl, now) for cid, state, last in rows)
        elif connection.vendor == "postgresql":
            expired.extend(_expire_group_postgres(ttl, now, actor))
        else:
            expired.extend(_expire_group_batched(ttl, now, actor))
    if expired and not dry_run:
        log.info("expired %d conversations idle past their TTL", len(expired))
    return expired


def _expiry_item(
    conversation_id: str, previous_state: str, last_activity: str, ttl: int, now: datetime, expires: str = ""
) -> dict:
    return {
        "conversationId": conversation_id,
        "state": ConversationState.EXPIRED,
        "previousState": previous_state,
        "lastActivityAt": last_activity,
        "expiresAt": expires or format_instant(parse_instant(last_activity, "lastActivityAt") + timedelta(seconds=ttl)),
        "closedAt": format_instant(now),
        "closeReason": EXPIRY_REASON,
        "ttlSeconds": ttl,
    }


def _expiry_audit_reason(ttl: int) -> str:
    return f"no activity for more than the {ttl} s TTL"


# The console events of a sweep are stored in receipts of up to EXPIRY_EVENTS_PER_RECEIPT events each
# (body {"id", "events": [canonical state_changed events]}): one receipt row per conversation would
# make the sweep cost three times the UPDATE it records (bench/expire_stale.py). The bodies are built
# as text, in ``id`` order; every event keeps its own deterministic id and order key.
EXPIRY_EVENTS_PER_RECEIPT = 500
EXPIRY_BATCH_PREFIX = "expire-batch"

_EXPIRE_SQL_POSTGRES = """
WITH pending AS (
    UPDATE {conversation}
    SET state = 'expired', closed_at = %(now)s, close_reason = %(reason)s, updated_at = %(now)s
    WHERE state = 'pending' AND last_activity_at < %(cutoff)s AND ({ttl_condition})
    RETURNING id, 'pending' AS previous_state, last_activity_at, last_sequence
), active AS (
    UPDATE {conversation}
    SET state = 'expired', closed_at = %(now)s, close_reason = %(reason)s, updated_at = %(now)s
    WHERE state = 'active' AND last_activity_at < %(cutoff)s AND ({ttl_condition})
    RETURNING id, 'active' AS previous_state, last_activity_at, last_sequence
), expired AS (
    SELECT changed.*,
        CASE WHEN length(id) + {prefix_length} <= {max_id_length} THEN %(prefix)s || id
             ELSE %(prefix)s || 'sha256:' || encode(sha256(convert_to(id, 'UTF8')), 'hex') END AS event_id,
        to_char(last_activity_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_activity_text
    FROM (SELECT * FROM pending UNION ALL SELECT * FROM active) AS changed
), chunked AS (
    SELECT *, (row_number() OVER (ORDER BY id) - 1) / {per_receipt} AS chunk FROM expired
), receipts AS (
    INSERT INTO {receipt} (source, event_id, received_at, signature_valid, outcome, status_code, error,
        conversation_id, event_types, sequence, occurred_at, body, remote_addr, request_id)
    SELECT 'console', %(batch_prefix)s || chunk, %(now)s, true, 'applied', 200, '', '', %(event_type)s, NULL, %(now)s,
        '{{"id":' || to_json(%(batch_prefix)s || chunk)::text || ',"events":[' || string_agg(
            '{{"id":' || to_json(event_id)::text || ',"type":' || to_json(%(event_type)s::text)::text
            || ',"occurredAt":' || to_json(%(now_text)s::text)::text || ',"conversationId":' || to_json(id)::text
            || ',"sequence":' || coalesce(last_sequence::text, 'null')
            || ',"data":{{"state":"expired","reason":' || to_json(%(reason)s::text)::text || '}}}}',
            ',' ORDER BY id) || ']}}',
        NULL, ''
    FROM chunked GROUP BY chunk
), audits AS (
    INSERT INTO {audit} (at, actor, action, target_type, target_id, reason, before, after, idempotency_key, request_id)
    SELECT %(now)s, %(actor)s, 'conversation.expired', 'conversation', id, %(audit_reason)s,
        jsonb_build_object('state', previous_state, 'lastActivityAt', last_activity_text),
        jsonb_build_object('state', 'expired', 'closedAt', %(now_text)s, 'closeReason', %(reason)s),
        '', ''
    FROM expired
)
SELECT id, previous_state, last_activity_text,
    to_char((last_activity_at + %(ttl_interval)s) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM expired ORDER BY last_activity_at, id
"""


def _expiry_batch_prefix(ttl: int, now: datetime) -> str:
    """Receipt ids of one sweep's batches, ``expire-batch:<sweep time>:ttl<seconds>:<random>:<n>``: unique
    even for two sweeps at the same instant (the events inside keep their deterministic ids)."""
    return f"{EXPIRY_BATCH_PREFIX}:{format_instant(now)}:ttl{ttl}:{uuid.uuid4().hex[:12]}:"


def _expire_group_postgres(ttl: int, now: datetime, actor: str) -> list[dict]:
    if ttl == settings.CONSOLE_SESSION_TTL_SECONDS:
        ttl_condition = "ttl_seconds IS NULL OR ttl_seconds = 0 OR ttl_seconds = %(ttl)s"
    else:
        ttl_condition = "ttl_seconds = %(ttl)s"
    prefix = f"{EXPIRY_EVENT_PREFIX}:"
    sql = _EXPIRE_SQL_POSTGRES.format(
        conversation=Conversation._meta.db_table,
        receipt=WebhookReceipt._meta.db_table,
        audit=AuditEntry._meta.db_table,
        ttl_condition=ttl_condition,
        prefix_length=len(prefix),
        max_id_length=MAX_EVENT_ID_LENGTH,
        per_receipt=int(EXPIRY_EVENTS_PER_RECEIPT),
    )
    now_text = format_instant(now)
    params = {
        "cutoff": now - timedelta(seconds=ttl),
        "ttl": ttl,
        "ttl_interval": timedelta(seconds=ttl),
        "now": now,
        "now_text": now_text,
        "reason": EXPIRY_REASON,
        "prefix": prefix,
        "batch_prefix": _expiry_batch_prefix(ttl, now),
        "event_type": STATE_CHANGED,
        "actor": actor,
        "audit_reason": _expiry_audit_reason(ttl),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        items = [
            {
                "conversationId": conversation_id,
                "state": ConversationState.EXPIRED,
                "previousState": previous,
                "lastActivityAt": last,
                "expiresAt": expires,
                "closedAt": now_text,
                "closeReason": EXPIRY_REASON,
                "ttlSeconds": ttl,
            }
            for conversation_id, previous, last, expires in cursor.fetchall()
        ]
        events.lifecycle_changed(items)
    return items


def _expire_group_batched(ttl: int, now: datetime, actor: str) -> list[dict]:
    """SQLite: the transaction takes the write lock first (IMMEDIATE), so the rows read are the rows
    the UPDATE changes; receipts and audit rows go in with one executemany each."""
    stale = _stale(ttl, now)
    with transaction.atomic():
        rows = list(stale.order_by("id").values_list("id", "state", "last_activity_at", "last_sequence"))
        if not rows:
            return []
        stale.update(state=ConversationState.EXPIRED, closed_at=now, close_reason=EXPIRY_REASON, updated_at=now)
        expiry_events, audits, items = [], [], []
        for conversation_id, previous, last_activity, last_sequence in rows:
            expiry_events.append(
                CanonicalEvent(
                    id=console_event_id(EXPIRY_EVENT_PREFIX, conversation_id),
                    type=STATE_CHANGED,
                    occurred_at=now,
                    conversation_id=conversation_id,
                    sequence=last_sequence,
                    data={"state": ConversationState.EXPIRED, "reason": EXPIRY_REASON},
                ).as_json()
            )
            item = _expiry_item(conversation_id, previous, format_instant(last_activity), ttl, now)
            audits.append(
                AuditEntry(
                    at=now,
                    actor=actor,
                    action="conversation.expired",
                    target_type="conversation",
                    target_id=conversation_id,
                    reason=_expiry_audit_reason(ttl),
                    before={"state": previous, "lastActivityAt": item["lastActivityAt"]},
                    after={
                        "state": ConversationState.EXPIRED,
                        "closedAt": item["closedAt"],
                        "closeReason": EXPIRY_REASON,
                    },
                )
            )
            items.append(item)
        prefix = _expiry_batch_prefix(ttl, now)
        receipts = []
        for chunk, start in enumerate(range(0, len(expiry_events), EXPIRY_EVENTS_PER_RECEIPT)):
            batch_id = f"{prefix}{chunk}"
            body = {"id": batch_id, "events": expiry_events[start : start + EXPIRY_EVENTS_PER_RECEIPT]}
            receipts.append(
                WebhookReceipt(
                    source=Source.CONSOLE,
                    event_id=batch_id,
                    received_at=now,
                    signature_valid=True,
                    outcome=ReceiptOutcome.APPLIED,
                    status_code=200,
                    event_types=STATE_CHANGED,
                    occurred_at=now,
                    body=json.dumps(body, separators=(",", ":")),
                )
            )
        _insert_many(WebhookReceipt, receipts)
        _insert_many(AuditEntry, audits)
        items.sort(key=lambda item: (item["lastActivityAt"], item["conversationId"]))
        events.lifecycle_changed(items)
    return items


def _insert_many(model, objects: list) -> None:
    """One executemany INSERT (a single statement whatever the number of rows; SQLite path)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    rows = [[field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields] for obj in objects]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# --- force-close -------------------------------------------------------------------------------------

# Findings a force-close answers (docs/architecture.md, "Findings"): the session is over on both sides.
FORCE_CLOSE_ANSWERS = ("ghost_session", "stale_session")
FORCE_CLOSE_RETRY_TASK = "conversations.tasks.force_close_retry"
MAX_RETRY_DELAY_SECONDS = 30 * 60


@dataclass(frozen=True)
class ForceCloseOutcome:
    conversation_id: str
    status: str  # "closed" | "pending" | "already_closed" | "failed" (gave up after its attempts)
    state: str  # the mirror's state after the call
    platform_call: str  # e.g. "genesys POST /api/v2/conversations/<id>/disconnect -> 202"
    audit_id: int | None  # the AuditEntry written by this call
    detail: str


OUTCOME_STATUS = {
    ForceCloseStatus.SUCCEEDED: "closed",
    ForceCloseStatus.ALREADY_CLOSED: "already_closed",
    ForceCloseStatus.PENDING: "pending",
    ForceCloseStatus.IN_FLIGHT: "pending",
    ForceCloseStatus.FAILED: "failed",
}


def force_close(
    conversation_id: str,
    *,
    reason: str,
    actor: str,
    actor_user=None,
    idempotency_key: str = "",
    request_id: str = "",
) -> ForceCloseOutcome:
    """Close a conversation on its platform first, then in the mirror, audited (docs: "Force-close").

    Raises Conversation.DoesNotExist for an unknown id and ValueError for an empty reason. A platform
    failure leaves the mirror unchanged, writes a ``conversation.force_close_failed`` audit row and
    leaves the request pending: force_close_retry tries it again in the background. The platform is
    called at most once per idempotency key; a call while another request for the conversation is
    under way joins that one. Call it outside any transaction: no row lock is held during the call.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required to force-close a conversation")
    conversation = Conversation.objects.get(pk=conversation_id)
    key = (idempotency_key or "").strip()[:200]
    if key:
        earlier = ForceCloseRequest.objects.filter(conversation=conversation, idempotency_key=key).first()
        if earlier is not None:
            return _outcome(earlier, detail=f"already requested with this idempotency key (request {earlier.pk})")
    under_way = ForceCloseRequest.objects.filter(
        conversation=conversation, status__in=OPEN_FORCE_CLOSE_STATUSES
    ).first()
    if under_way is not None:
        return _outcome(
            under_way, detail=f"a force-close of this conversation is already under way (request {under_way.pk})"
        )
    if not conversation.is_open:
        return ForceCloseOutcome(
            conversation_id=conversation.id,
            status="already_closed",
            state=conversation.state,
            platform_call="none: the mirror already holds it " + conversation.state,
            audit_id=None,
            detail=f"the conversation is already {conversation.state} ({conversation.close_reason or 'no reason'})",
        )
    try:
        with transaction.atomic():
            request = ForceCloseRequest.objects.create(
                conversation=conversation,
                idempotency_key=key,
                reason=reason,
                actor=actor,
                actor_user=actor_user,
                request_id=request_id,
                status=ForceCloseStatus.PENDING,
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        # A concurrent call won the insert (same key, or another request for this conversation).
        winner = (
            ForceCloseRequest.objects.filter(conversation=conversation, idempotency_key=key).first() if key else None
        ) or ForceCloseRequest.objects.filter(conversation=conversation).order_by("-pk").first()
        return _outcome(winner, detail=f"a concurrent force-close of this conversation won (request {winner.pk})")
    return attempt_force_close(request.pk, interactive=True)


def attempt_force_close(
    request_pk: int, *, interactive: bool = False, now: datetime | None = None
) -> ForceCloseOutcome:
    """One attempt of a force-close request: claim it, call the platform (no lock held), finish it.

    Claimable are a pending request whose next attempt is due and an in-flight one whose lease has
    expired (its worker died mid-attempt). Only the holder of the claim token can finish the request,
    so a success audit row is written once even when an attempt outlives its lease.
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        ForceCloseRequest.objects.filter(pk=request_pk)
        .filter(
            Q(status=ForceCloseStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=ForceCloseStatus.IN_FLIGHT, lease_expires_at__lte=now)
        )
        .update(
            status=ForceCloseStatus.IN_FLIGHT,
            claim_token=token,
            lease_expires_at=now + timedelta(seconds=settings.CONSOLE_FORCE_CLOSE_LEASE_SECONDS),
            attempts=F("attempts") + 1,
        )
    )
    request = ForceCloseRequest.objects.get(pk=request_pk)
    if not claimed:
        return _outcome(request, detail="not due, or another attempt holds it")
    conversation = Conversation.objects.filter(pk=request.conversation_id).first()
    if conversation is None or not conversation.is_open:
        return _finish_already_closed(request, token, conversation)
    platform_call, error = _close_on_platform(conversation, request, interactive=interactive)
    if error is not None:
        return _record_force_close_failure(request, token, conversation, platform_call, error)
    return _finish_force_close(request, token, platform_call)


def _close_on_platform(conversation: Conversation, request: ForceCloseRequest, *, interactive: bool):
    """Answers (platform_call description, error or None)."""
    options = {"max_attempts": 2, "max_retry_after": 5} if interactive else {}
    client = platforms.client_for(conversation.source, **options)
    if client is None:
        return (
            f"none: no platform configured for {conversation.source} (closed in the mirror only; "
            f"set {platforms.CONFIGURATION.get(conversation.source, 'its client settings')})",
            None,
        )
    with client:
        try:
            if request.attempts > 1:
                # An earlier attempt may have closed it on the platform before failing or dying: ask first,
                # so the close call is not repeated.
                current = client.get_conversation(conversation.id)
                if current is None or not current.is_open:
                    seen = current.state if current else "not found"
                    return (
                        f"{conversation.source} get_conversation -> {seen} (closed on the platform already; "
                        "no close call)",
                        None,
                    )
            result = client.close_conversation(conversation.id, request.reason)
        except PlatformError as error:
            return str(error), error
    if result.not_found:
        return f"{result.description} (the platform does not know it; closed in the mirror)", None
    return result.description, None


def _finish_force_close(request: ForceCloseRequest, token: str, platform_call: str) -> ForceCloseOutcome:
    now = timezone.now()
    with transaction.atomic():
        finished = ForceCloseRequest.objects.filter(
            pk=request.pk, status=ForceCloseStatus.IN_FLIGHT, claim_token=token
        ).update(
            status=ForceCloseStatus.SUCCEEDED,
            completed_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            platform_call=platform_call,
            last_error="",
        )
        if not finished:
            return _outcome(ForceCloseRequest.objects.get(pk=request.pk), detail="another attempt finished it")
        conversation = Conversation.objects.select_for_update().get(pk=request.conversation_id)
        before = _lifecycle(conversation)
        if conversation.is_open:
            record_console_transition(
                conversation,
                event_id=console_event_id(FORCE_CLOSE_EVENT_PREFIX, conversation.id, str(request.pk)),
                state=ConversationState.CLOSED,
                reason=FORCE_CLOSE_REASON,
                at=now,
                request_id=request.request_id,
            )
        resolved = resolve_findings(
            conversation.id,
            FORCE_CLOSE_ANSWERS,
            actor=request.actor,
            note=f"force-closed: {request.reason}",
            actor_user=request.actor_user,
            request_id=request.request_id,
        )
        audit = AuditEntry.objects.create(
            actor=request.actor,
            actor_user=request.actor_user,
            action="conversation.force_closed",
            target_type="conversation",
            target_id=conversation.id,
            reason=request.reason,
            before=before,
            after={
                **_lifecycle(conversation),
                "platformCall": platform_call,
                "attempt": request.attempts,
                "resolvedFindings": resolved,
                "forceCloseRequest": request.pk,
            },
            idempotency_key=request.idempotency_key,
            request_id=request.request_id,
        )
        ForceCloseRequest.objects.filter(pk=request.pk).update(audit_entry=audit)
        request.refresh_from_db()
        events.conversation_updated(conversation, force_close=request)
        events.audit_recorded(audit)
    return ForceCloseOutcome(
        conversation_id=conversation.id,
        status="closed",
        state=conversation.state,
        platform_call=platform_call,
        audit_id=audit.pk,
        detail=f"closed on attempt {request.attempts}; {resolved} finding(s) resolved",
    )


def _finish_already_closed(request: ForceCloseRequest, token: str, conversation: Conversation | None):
    state = conversation.state if conversation else "unknown"
    ForceCloseRequest.objects.filter(pk=request.pk, status=ForceCloseStatus.IN_FLIGHT, claim_token=token).update(
        status=ForceCloseStatus.ALREADY_CLOSED,
        completed_at=timezone.now(),
        lease_expires_at=None,
        next_attempt_at=None,
        platform_call="none: the conversation was no longer open in the mirror",
    )
    request.refresh_from_db()
    return _outcome(request, detail=f"the conversation is already {state}; nothing to do")


def _retry_delay(attempts: int) -> int:
    return min(MAX_RETRY_DELAY_SECONDS, settings.CONSOLE_FORCE_CLOSE_RETRY_SECONDS * 2 ** max(0, attempts - 1))


def _record_force_close_failure(
    request: ForceCloseRequest, token: str, conversation: Conversation, platform_call: str, error: PlatformError
) -> ForceCloseOutcome:
    now = timezone.now()
    give_up = request.attempts >= settings.CONSOLE_FORCE_CLOSE_MAX_ATTEMPTS
    next_attempt = None if give_up else now + timedelta(seconds=_retry_delay(request.attempts))
    with transaction.atomic():
        recorded = ForceCloseRequest.objects.filter(
            pk=request.pk, status=ForceCloseStatus.IN_FLIGHT, claim_token=token
        ).update(
            status=ForceCloseStatus.FAILED if give_up else ForceCloseStatus.PENDING,
            next_attempt_at=next_attempt,
            lease_expires_at=None,
            completed_at=now if give_up else None,
            platform_call=platform_call,
            last_error=str(error),
        )
        if not recorded:
            return _outcome(ForceCloseRequest.objects.get(pk=request.pk), detail="another attempt finished it")
        audit = AuditEntry.objects.create(
            actor=request.actor,
            actor_user=request.actor_user,
            action="conversation.force_close_failed",
            target_type="conversation",
            target_id=conversation.id,
            reason=request.reason,
            before=_lifecycle(conversation),
            after={
                **_lifecycle(conversation),
                "error": str(error),
                "attempt": request.attempts,
                "nextAttemptAt": format_instant(next_attempt) if next_attempt else None,
                "gaveUp": give_up,
                "forceCloseRequest": request.pk,
            },
            idempotency_key=request.idempotency_key,
            request_id=request.request_id,
        )
        request.refresh_from_db()
        events.conversation_updated(conversation, force_close=request)
        events.audit_recorded(audit)
    if give_up:
        detail = f"the platform call failed {request.attempts} times; gave up: {error}"
    else:
        detail = f"the platform call failed ({error}); retried in the background from {format_instant(next_attempt)}"
    return ForceCloseOutcome(
        conversation_id=conversation.id,
        status=OUTCOME_STATUS[request.status],
        state=conversation.state,
        platform_call=platform_call,
        audit_id=audit.pk,
        detail=detail,
    )


def _outcome(request: ForceCloseRequest, *, detail: str = "") -> ForceCloseOutcome:
    """The outcome a request stands at (for calls that join or repeat it: no audit row written)."""
    state = Conversation.objects.filter(pk=request.conversation_id).values_list("state", flat=True).first()
    notes = [detail] if detail else []
    if request.is_open and request.last_error:
        notes.append(f"last error: {request.last_error}")
    if request.status == ForceCloseStatus.PENDING and request.next_attempt_at:
        notes.append(f"next attempt from {format_instant(request.next_attempt_at)}")
    return ForceCloseOutcome(
        conversation_id=request.conversation_id,
        status=OUTCOME_STATUS[request.status],
        state=state or "unknown",
        platform_call=request.platform_call,
        audit_id=None,
        detail="; ".join(notes),
    )


def due_force_close_requests(*, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Open requests whose next attempt is due or whose in-flight attempt lost its lease."""
    now = now or timezone.now()
    return list(
        ForceCloseRequest.objects.filter(
            Q(status=ForceCloseStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=ForceCloseStatus.IN_FLIGHT, lease_expires_at__lte=now)
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- reconciliation with the platforms ------------------------------------------------------------------

PLATFORM_CLOSED_REASON, PLATFORM_NOT_FOUND_REASON = RECONCILED_CLOSE_REASONS


def reconcile_with_platform(*, actor: str = "") -> dict:
    """Compare open mirrored conversations with their platform; the platform wins.

    Per configured source: the platform's active conversations are listed; an open mirrored
    conversation missing from that list is looked up on its own (at most CONSOLE_RECONCILE_MAX_LOOKUPS
    per run, oldest activity first). A conversation the platform holds closed (or does not know) is
    closed in the mirror (console receipt + ``conversation.reconciled`` audit row) and raises a
    ghost_session finding; one the platform holds active while the mirror says pending becomes active.
    A conversation the mirror holds closed or expired is never reopened (terminal states are terminal);
    those the platform still lists active are counted as ``terminal_but_active``.
    """
    actor = actor or "system:conversations.tasks.reconcile_with_platform"
    report: dict[str, dict] = {}
    for source in platforms.CLIENTS:
        client = platforms.client_for(source)
        if client is None:
            continue
        with client:
            report[source] = _reconcile_source(source, client, actor)
    return report


def _reconcile_source(source: str, client, actor: str) -> dict:
    counts: Counter = Counter()
    try:
        active = {conversation.id: conversation for conversation in client.list_active()}
    except PlatformError as error:
        log.warning("reconcile %s: %s", source, error)
        return {"error": str(error)}
    busy = set(
        ForceCloseRequest.objects.filter(status__in=OPEN_FORCE_CLOSE_STATUSES, conversation__source=source).values_list(
            "conversation_id", flat=True
        )
    )
    mirror_open = (
        Conversation.objects.filter(source=source, state__in=OPEN_STATES)
        .order_by("last_activity_at", "id")
        .values_list("id", "state")
    )
    lookups = 0
    for conversation_id, mirror_state in mirror_open.iterator(chunk_size=2000):
        if conversation_id in busy:
            counts["skipped_force_close"] += 1
            continue
        platform_state = active[conversation_id].state if conversation_id in active else None
        if platform_state is None:
            if lookups >= settings.CONSOLE_RECONCILE_MAX_LOOKUPS:
                counts["not_checked"] += 1
                continue
            lookups += 1
            try:
                found = client.get_conversation(conversation_id)
            except PlatformError as error:
                log.warning("reconcile %s %s: %s", source, conversation_id, error)
                counts["errors"] += 1
                continue
            platform_state = found.state if found is not None else "not_found"
        if platform_state == mirror_state:
            counts["in_sync"] += 1
            continue
        if _correct_drift(conversation_id, mirror_state, platform_state, source, actor):
            counts["corrected"] += 1
    counts["terminal_but_active"] = Conversation.objects.filter(
        source=source, pk__in=list(active), state__in=TERMINAL_STATES
    ).count()
    counts["platform_active"] = len(active)
    counts["lookups"] = lookups
    return dict(counts)


def _correct_drift(conversation_id: str, mirror_state: str, platform_state: str, source: str, actor: str) -> bool:
    """Make the mirror say what the platform says (never reopening a terminal conversation)."""
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None or not conversation.is_open or conversation.state != mirror_state:
            return False  # changed since it was read; the next run looks again
        before = _lifecycle(conversation)
        if platform_state in TERMINAL_STATES or platform_state == "not_found":
            state = platform_state if platform_state in TERMINAL_STATES else ConversationState.CLOSED
            reason = PLATFORM_CLOSED_REASON if platform_state in TERMINAL_STATES else PLATFORM_NOT_FOUND_REASON
            event_id = console_event_id(RECONCILE_EVENT_PREFIX, conversation.id, state)
        else:
            state, reason = platform_state, f"platform_{platform_state}"
            event_id = console_event_id(RECONCILE_EVENT_PREFIX, conversation.id, f"{state}@{format_instant(now)}")
        record_console_transition(conversation, event_id=event_id, state=state, reason=reason, at=now)
        audit = AuditEntry.objects.create(
            actor=actor,
            action="conversation.reconciled",
            target_type="conversation",
            target_id=conversation.id,
            reason=f"{source} says {platform_state.replace('_', ' ')} while the mirror said {mirror_state}",
            before=before,
            after={**_lifecycle(conversation), "platformState": platform_state, "platform": source},
        )
        if not conversation.is_open:
            # The mirror held open what the platform had closed: the ghost_session detector reads
            # that from the close reason and raises the finding with the guide's remediation.
            enqueue_on_commit(RUN_DETECTORS, conversation_ids=[conversation.id])
        events.conversation_updated(conversation)
        events.audit_recorded(audit)
    return True
