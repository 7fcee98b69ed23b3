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
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import IntegrityError, connection, transaction

from console.models import AuditEntry
from conversations import events
from conversations.ingest import CanonicalEvent, Delivery, adapter_for
from conversations.ingest.canonical import format_instant, parse_instant
from conversations.models import (
    ACCEPTED_OUTCOMES,
    PARTICIPANT_LEFT,
    TERMINAL_STATES,
    ContextChange,
    Conversation,
    ConversationState,
    Direction,
    Handoff,
    Message,
    Participant,
    ParticipantRole,
    ReceiptOutcome,
    Source,
    WebhookReceipt,
)
from conversations.redaction import mask_card_numbers
from diagnostics.actions import detect_after_commit

log = logging.getLogger(__name__)

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
        if outcome != ReceiptOutcome.APPLIED:
            receipt.outcome = outcome
            receipt.save(update_fields=["outcome"])
        if outcome != ReceiptOutcome.IGNORED:
            events.delivery_applied(receipt)
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
) -> WebhookReceipt:
    """Store a delivery that was not applied: rejected (4xx) or failed (accepted, retry expected)."""
    return WebhookReceipt.objects.create(
        source=source,
        event_id=event_id[:200],
        signature_valid=signature_valid,
        outcome=outcome,
        status_code=status_code,
        error=error[:2000],
        body=body,
        remote_addr=remote_addr,
        request_id=request_id,
    )


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
    state_before = None if conversation.versions.get("event") is None else conversation.state
    key = event.order_key
    newest = conversation.versions.get("event")
    stale = newest is not None and key < newest
    HANDLERS[event.type](conversation, event, key)
    _note_event(conversation, event, key)
    _save_changes(conversation, as_locked)
    if conversation.state != state_before:
        events.conversation_state_changed(conversation)
    return ReceiptOutcome.STALE if stale else ReceiptOutcome.APPLIED


def _field_values(conversation: Conversation) -> dict:
    """The row's values as locked (JSON fields deep-copied: the handlers change them in place)."""
    return {
        field.attname: copy.deepcopy(getattr(conversation, field.attname))
        for field in Conversation._meta.concrete_fields
        if not field.primary_key
    }


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
    """A conversation that becomes pci-scoped gets its stored message text masked too."""
    for message in conversation.messages.only("pk", "text").iterator():
        masked = mask_card_numbers(message.text)
        if masked != message.text:
            Message.objects.filter(pk=message.pk).update(text=masked)


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
