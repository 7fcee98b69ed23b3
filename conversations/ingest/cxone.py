"""``cxone`` source: NICE CXone Digital First Omnichannel (DFO) events.

Envelope (the DFO push-update/event-hub shape): ``{"eventId", "eventObject", "eventType",
"createdAt", "createdAtWithMilliseconds", "context", "data"}``; ``data.case`` (or
``data.contact`` on newer streams, same shape) is the conversation, ``case.id`` its id.

Authenticity: a shared token (``CXONE_WEBHOOK_TOKEN``) compared in constant time, sent as
``Authorization: Bearer <token>`` or in the ``X-CXone-Token`` header (our reading of the
contract, which names no header: docs/architecture.md).

Mapping:

* every case event carries the whole case: its ``routingQueueId``/``routingQueuePriority``
  and ``customFields`` are a snapshot of the routing context at that moment;
* ``CaseCreated`` → conversation.started + the customer joins;
* ``CaseStatusChanged`` → state: new → pending; open, pending, escalated → active;
  resolved, closed, trashed → closed;
* ``CaseInboxAssigneeChanged`` → the new assignee (agent) joins, the previous one leaves;
  from one agent to another it is a handoff;
* ``CaseToRoutingQueueAssignmentChanged`` → the queue changes; from one queue to another
  it is a handoff;
* ``MessageCreated`` / ``MessageAddedIntoCase`` → message.created (the same message id in
  both is stored once);
* anything else → ignored.
"""

from __future__ import annotations

import hmac

from django.conf import settings

from conversations.ingest.canonical import (
    MAX_ENVELOPE_ID_LENGTH,
    CanonicalEvent,
    Delivery,
    EnvelopeError,
    SignatureError,
    parse_instant,
    read_str,
    require_object,
    validate_data,
)

SOURCE = "cxone"
TOKEN_HEADER = "X-CXone-Token"

STATUS_STATES = {
    "new": "pending",
    "open": "active",
    "pending": "active",
    "escalated": "active",
    "resolved": "closed",
    "closed": "closed",
    "trashed": "closed",
}


def verify(headers, body: bytes, now) -> None:
    expected = settings.CXONE_WEBHOOK_TOKEN
    if not expected:
        raise SignatureError("no token is configured for the cxone source (CXONE_WEBHOOK_TOKEN)")
    offered = headers.get(TOKEN_HEADER, "")
    authorization = headers.get("Authorization", "")
    if not offered and authorization.lower().startswith("bearer "):
        offered = authorization[7:].strip()
    if not offered:
        raise SignatureError(f"missing token: send Authorization: Bearer <token> or {TOKEN_HEADER}")
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        raise SignatureError("the token does not match CXONE_WEBHOOK_TOKEN")


def _id(value, name: str) -> str:
    """DFO ids are numeric strings (case.id) or integers (user ids)."""
    if isinstance(value, bool) or value is None:
        raise EnvelopeError(name, "is required")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value[:200]
    raise EnvelopeError(name, "must be a string or integer id")


def _case(data: dict) -> tuple[dict | None, str]:
    for key in ("case", "contact"):
        if data.get(key) is not None:
            return require_object(data[key], f"data.{key}"), f"data.{key}."
    return None, ""


def _context(case: dict, prefix: str) -> tuple[dict | None, dict | None]:
    """The routing context snapshot a case object carries."""
    routing = None
    if "routingQueueId" in case:
        routing = {"queueId": case.get("routingQueueId") or ""}
        priority = case.get("routingQueuePriority")
        if isinstance(priority, int | float) and not isinstance(priority, bool):
            routing["priority"] = priority
    custom = None
    fields = case.get("customFields")
    if fields is not None:
        if not isinstance(fields, list):
            raise EnvelopeError(f"{prefix}customFields", "must be an array")
        custom = {}
        for index, item in enumerate(fields):
            item = require_object(item, f"{prefix}customFields[{index}]")
            ident = read_str(item, "ident", f"{prefix}customFields[{index}].", required=True)
            custom[ident] = item.get("value")
    return routing, custom


def _user(value, name: str) -> dict | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return {"id": str(value), "name": ""}
    user = require_object(value, name)
    full_name = " ".join(
        part for part in (user.get("firstName"), user.get("surname")) if isinstance(part, str) and part
    )
    return {"id": _id(user.get("id"), f"{name}.id"), "name": full_name[:200]}


def _agent_participant(user: dict) -> str:
    return f"user:{user['id']}"


def _customer_participant(case: dict, case_id: str) -> str:
    identity = case.get("authorEndUserIdentity") or case.get("endUser")
    if isinstance(identity, dict) and isinstance(identity.get("id"), str) and identity["id"]:
        return identity["id"][:200]
    return f"customer:{case_id}"


def parse(payload) -> Delivery:
    payload = require_object(payload, "body")
    event_id = read_str(payload, "eventId", required=True, max_length=MAX_ENVELOPE_ID_LENGTH)
    event_type = read_str(payload, "eventType", required=True, max_length=100)
    builder = BUILDERS.get(event_type)
    if builder is None:
        return Delivery(event_id=event_id, events=[], platform_type=f"cxone:{event_type}")
    stamp = payload.get("createdAtWithMilliseconds") or payload.get("createdAt")
    if not isinstance(stamp, str):
        raise EnvelopeError("createdAt", "is required (ISO 8601 timestamp)")
    occurred_at = parse_instant(stamp, "createdAtWithMilliseconds")
    data = require_object(payload.get("data"), "data")
    case, case_prefix = _case(data)
    message = data.get("message")
    if case is not None:
        conversation_id = _id(case.get("id"), f"{case_prefix}id")
    elif isinstance(message, dict) and message.get("contactNumber") is not None:
        conversation_id = _id(message.get("contactNumber"), "data.message.contactNumber")
    else:
        raise EnvelopeError("data.case", "is required")
    context = {"case": case or {}, "case_prefix": case_prefix, "data": data, "conversation_id": conversation_id}
    events = [
        CanonicalEvent(
            id=event_id if index == 0 else f"{event_id}#{index}",
            type=canonical_type,
            occurred_at=occurred_at,
            conversation_id=conversation_id,
            sequence=None,
            data=validate_data(canonical_type, body),
        )
        for index, (canonical_type, body) in enumerate(builder(context))
    ]
    return Delivery(
        event_id=event_id,
        events=events,
        conversation_id=conversation_id,
        occurred_at=occurred_at,
        platform_type=f"cxone:{event_type}",
    )


def _snapshot(context: dict):
    routing, custom = _context(context["case"], context["case_prefix"])
    if routing is not None or custom is not None:
        yield "conversation.attributes_updated", {"routingData": routing, "customAttributes": custom}


def _status(context: dict):
    status = context["case"].get("status")
    if isinstance(status, str) and status.lower() in STATUS_STATES:
        yield (
            "conversation.state_changed",
            {"state": STATUS_STATES[status.lower()], "reason": f"cxone:{status.lower()}"},
        )


def _case_created(context: dict):
    case, data = context["case"], context["data"]
    routing, custom = _context(case, context["case_prefix"])
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else {}
    brand = data.get("brand") if isinstance(data.get("brand"), dict) else {}
    tenant = brand.get("tenantId") or (str(brand["id"]) if isinstance(brand.get("id"), int) else "")
    participant_id = _customer_participant(case, context["conversation_id"])
    yield (
        "conversation.started",
        {
            "channel": str(channel.get("realExternalPlatformId") or channel.get("integrationBoxIdentifier") or "")[
                :100
            ],
            "tenant": str(tenant)[:200],
            "customerKey": participant_id if not participant_id.startswith("customer:") else "",
            "routingData": routing,
            "customAttributes": custom,
        },
    )
    yield "participant.joined", {"participantId": participant_id, "role": "customer"}
    yield from _status(context)


def _status_changed(context: dict):
    yield from _snapshot(context)
    yield from _status(context)


def _assignee_changed(context: dict):
    data = context["data"]
    new = _user(data.get("inboxAssignee"), "data.inboxAssignee")
    previous = _user(data.get("previousInboxAssignee"), "data.previousInboxAssignee")
    routing, custom = _context(context["case"], context["case_prefix"])
    if previous and new and previous["id"] != new["id"]:
        queue_id = (routing or {}).get("queueId", "")
        yield (
            "conversation.transferred",
            {
                "fromParticipantId": _agent_participant(previous),
                "toParticipantId": _agent_participant(new),
                "fromQueueId": queue_id,
                "toQueueId": queue_id,
                "routingData": routing,
                "customAttributes": custom,
            },
        )
    else:
        yield from _snapshot(context)
    if previous and (not new or previous["id"] != new["id"]):
        yield (
            "participant.left",
            {
                "participantId": _agent_participant(previous),
                "disconnectType": "transfer" if new else "unassigned",
            },
        )
    if new and (not previous or previous["id"] != new["id"]):
        yield (
            "participant.joined",
            {
                "participantId": _agent_participant(new),
                "role": "agent",
                "name": new["name"],
                "userId": new["id"],
                "queueId": (routing or {}).get("queueId", ""),
            },
        )


def _queue_changed(context: dict):
    data = context["data"]
    routing, custom = _context(context["case"], context["case_prefix"])
    new = data.get("routingQueue") if isinstance(data.get("routingQueue"), dict) else None
    previous = data.get("previousRoutingQueue") if isinstance(data.get("previousRoutingQueue"), dict) else None
    new_id = str(new.get("id") or "") if new else ""
    previous_id = str(previous.get("id") or "") if previous else ""
    if routing is None and new_id:
        routing = {"queueId": new_id}
    if previous_id and new_id and previous_id != new_id:
        yield (
            "conversation.transferred",
            {
                "fromQueueId": previous_id[:200],
                "toQueueId": new_id[:200],
                "routingData": routing,
                "customAttributes": custom,
            },
        )
    elif routing is not None or custom is not None:
        yield "conversation.attributes_updated", {"routingData": routing, "customAttributes": custom}


def _message(context: dict):
    data = context["data"]
    message = require_object(data.get("message"), "data.message")
    content = message.get("messageContent") if isinstance(message.get("messageContent"), dict) else {}
    text = content.get("text") if isinstance(content.get("text"), str) else ""
    direction = read_str(message, "direction", "data.message.", required=True).lower()
    author = message.get("authorUser")
    identity = message.get("authorEndUserIdentity")
    if isinstance(author, dict) and author.get("id") is not None:
        participant_id = _agent_participant({"id": _id(author.get("id"), "data.message.authorUser.id")})
    elif isinstance(identity, dict) and isinstance(identity.get("id"), str):
        participant_id = identity["id"][:200]
    else:
        participant_id = ""
    yield (
        "message.created",
        {
            "messageId": _id(message.get("id"), "data.message.id"),
            "participantId": participant_id,
            "direction": direction,
            "text": text,
        },
    )


BUILDERS = {
    "CaseCreated": _case_created,
    "CaseStatusChanged": _status_changed,
    "CaseInboxAssigneeChanged": _assignee_changed,
    "CaseToRoutingQueueAssignmentChanged": _queue_changed,
    "MessageCreated": _message,
    "MessageAddedIntoCase": _message,
}
