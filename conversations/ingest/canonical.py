"""The canonical event every adapter produces, and the validation of its shape.

The canonical event is also the body of ``native`` webhooks (docs/architecture.md,
"Webhook contract"). Validation names the offending field with a dotted path
(``data.participantId``) so a 400 tells the sender exactly what to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_ID_LENGTH = 200
# A platform envelope's id names its first canonical event; the others get ``<id>#<n>``, which
# must still fit the 200-character event id columns.
MAX_ENVELOPE_ID_LENGTH = MAX_ID_LENGTH - 8
MAX_TEXT_LENGTH = 64 * 1024
MAX_CHANNEL_LENGTH = 100

CONVERSATION_STATES = ("pending", "active", "closed", "expired")
ROLES = ("customer", "agent", "bot", "supervisor", "acd")
DIRECTIONS = ("inbound", "outbound")


class SignatureError(Exception):
    """The request is not authentic (or not fresh): answered 401."""


class EnvelopeError(Exception):
    """The payload is JSON but not a usable event: answered 400 naming the field."""

    def __init__(self, field_name: str, problem: str):
        self.field = field_name
        self.problem = problem
        super().__init__(f"{field_name}: {problem}")


def format_instant(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so order keys compare as strings in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CanonicalEvent:
    id: str
    type: str
    occurred_at: datetime
    conversation_id: str
    sequence: int | None
    data: dict = field(default_factory=dict)

    @property
    def order_key(self) -> list:
        """[sequence, occurredAt, id]: the platform's order, then time, then a deterministic tie-break.

        Lists, not tuples: they are stored in JSON and compared after a round trip.
        """
        return [self.sequence if self.sequence is not None else 0, format_instant(self.occurred_at), self.id]

    def as_json(self) -> dict:
        body = {
            "id": self.id,
            "type": self.type,
            "occurredAt": format_instant(self.occurred_at),
            "conversationId": self.conversation_id,
            "data": self.data,
        }
        if self.sequence is not None:
            body["sequence"] = self.sequence
        return body


@dataclass(frozen=True)
class Delivery:
    """What one webhook request carries: its dedup id and zero or more canonical events."""

    event_id: str
    events: list[CanonicalEvent]
    conversation_id: str = ""
    occurred_at: datetime | None = None
    sequence: int | None = None
    platform_type: str = ""

    @property
    def event_types(self) -> str:
        names = ",".join(event.type for event in self.events)
        return (names or self.platform_type)[:300]


# --- field readers -------------------------------------------------------------------------


def require_object(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise EnvelopeError(name, f"must be a JSON object, got {json_type(value)}")
    return value


def read_str(obj: dict, key: str, prefix: str = "", *, required: bool = False, max_length: int = MAX_ID_LENGTH) -> str:
    name = f"{prefix}{key}"
    value = obj.get(key)
    if value is None:
        if required:
            raise EnvelopeError(name, "is required")
        return ""
    if not isinstance(value, str):
        raise EnvelopeError(name, f"must be a string, got {json_type(value)}")
    if required and not value.strip():
        raise EnvelopeError(name, "must not be empty")
    if len(value) > max_length:
        raise EnvelopeError(name, f"must be at most {max_length} characters")
    return value


def read_choice(obj: dict, key: str, choices: tuple[str, ...], prefix: str = "", *, required: bool = False) -> str:
    value = read_str(obj, key, prefix, required=required)
    if value and value.lower() not in choices:
        raise EnvelopeError(f"{prefix}{key}", f"must be one of {', '.join(choices)}; got {value!r}")
    return value.lower()


def read_optional_object(obj: dict, key: str, prefix: str = "") -> dict | None:
    value = obj.get(key)
    if value is None:
        return None
    return require_object(value, f"{prefix}{key}")


def read_int(obj: dict, key: str, prefix: str = "", *, minimum: int = 0) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise EnvelopeError(f"{prefix}{key}", f"must be an integer, got {json_type(value)}")
    if value < minimum or value > 2**62:
        raise EnvelopeError(f"{prefix}{key}", f"must be between {minimum} and 2^62")
    return int(value)


def read_instant(obj: dict, key: str, prefix: str = "", *, required: bool = True) -> datetime | None:
    name = f"{prefix}{key}"
    value = obj.get(key)
    if value is None:
        if required:
            raise EnvelopeError(name, "is required")
        return None
    if not isinstance(value, str):
        raise EnvelopeError(name, f"must be an ISO 8601 timestamp string, got {json_type(value)}")
    return parse_instant(value, name)


def parse_instant(value: str, name: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise EnvelopeError(name, f"must be an ISO 8601 timestamp, got {value[:60]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise EnvelopeError(name, f"is out of range, got {value[:60]!r}") from None


def instant_from_epoch_ms(value: Any, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EnvelopeError(name, f"must be epoch milliseconds, got {json_type(value)}")
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise EnvelopeError(name, "is out of range") from None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- canonical validation ----------------------------------------------------------------


def _routing_data(obj: dict, key: str, prefix: str) -> dict | None:
    routing = read_optional_object(obj, key, prefix)
    if routing is None:
        return None
    name = f"{prefix}{key}."
    read_str(routing, "queueId", name)
    for list_key in ("skillRequirements", "complianceFlags"):
        values = routing.get(list_key)
        if values is not None and (not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
            raise EnvelopeError(f"{name}{list_key}", "must be an array of strings")
    priority = routing.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int | float | str)):
        raise EnvelopeError(f"{name}priority", f"must be a number or string, got {json_type(priority)}")
    return routing


def _validate_started(data: dict, p: str) -> dict:
    out = {
        "channel": read_str(data, "channel", p, max_length=MAX_CHANNEL_LENGTH),
        "tenant": read_str(data, "tenant", p),
        "customerKey": read_str(data, "customerKey", p),
    }
    out["routingData"] = _routing_data(data, "routingData", p)
    out["customAttributes"] = read_optional_object(data, "customAttributes", p)
    return out


def _validate_state_changed(data: dict, p: str) -> dict:
    return {
        "state": read_choice(data, "state", CONVERSATION_STATES, p, required=True),
        "reason": read_str(data, "reason", p),
    }


def _validate_attributes_updated(data: dict, p: str) -> dict:
    routing = _routing_data(data, "routingData", p)
    custom = read_optional_object(data, "customAttributes", p)
    if routing is None and custom is None:
        raise EnvelopeError(f"{p}routingData", "routingData or customAttributes is required")
    return {"routingData": routing, "customAttributes": custom}


def _validate_participant_joined(data: dict, p: str) -> dict:
    return {
        "participantId": read_str(data, "participantId", p, required=True),
        "role": read_choice(data, "role", ROLES, p, required=True),
        "name": read_str(data, "name", p),
        "queueId": read_str(data, "queueId", p),
        "userId": read_str(data, "userId", p),
        "attributes": read_optional_object(data, "attributes", p) or {},
    }


def _validate_participant_state_changed(data: dict, p: str) -> dict:
    return {
        "participantId": read_str(data, "participantId", p, required=True),
        "state": read_str(data, "state", p, required=True, max_length=40).lower(),
    }


def _validate_participant_left(data: dict, p: str) -> dict:
    return {
        "participantId": read_str(data, "participantId", p, required=True),
        "disconnectType": read_str(data, "disconnectType", p, max_length=60).lower(),
    }


def _validate_message_created(data: dict, p: str) -> dict:
    return {
        "messageId": read_str(data, "messageId", p, required=True),
        "participantId": read_str(data, "participantId", p),
        "direction": read_choice(data, "direction", DIRECTIONS, p, required=True),
        "text": read_str(data, "text", p, max_length=MAX_TEXT_LENGTH),
        "idempotencyKey": read_str(data, "idempotencyKey", p),
    }


def _validate_transferred(data: dict, p: str) -> dict:
    return {
        "fromParticipantId": read_str(data, "fromParticipantId", p),
        "toParticipantId": read_str(data, "toParticipantId", p),
        "fromQueueId": read_str(data, "fromQueueId", p),
        "toQueueId": read_str(data, "toQueueId", p),
        "routingData": _routing_data(data, "routingData", p),
        "customAttributes": read_optional_object(data, "customAttributes", p),
    }


VALIDATORS = {
    "conversation.started": _validate_started,
    "conversation.state_changed": _validate_state_changed,
    "conversation.attributes_updated": _validate_attributes_updated,
    "participant.joined": _validate_participant_joined,
    "participant.state_changed": _validate_participant_state_changed,
    "participant.left": _validate_participant_left,
    "message.created": _validate_message_created,
    "conversation.transferred": _validate_transferred,
}
EVENT_TYPES = tuple(VALIDATORS)
# Produced by adapters only (never accepted in a native body): a merge of routing context
# by key, as Genesys attribute events and queue segments carry it.
CONTEXT_MERGED = "conversation.context_merged"


def parse_canonical(payload: Any) -> Delivery:
    """Validate a canonical event body; an unknown ``type`` is a Delivery with no events."""
    body = require_object(payload, "body")
    event_id = read_str(body, "id", required=True)
    event_type = read_str(body, "type", required=True, max_length=100)
    validator = VALIDATORS.get(event_type)
    if validator is None:
        return Delivery(event_id=event_id, events=[], platform_type=event_type)
    occurred_at = read_instant(body, "occurredAt")
    conversation_id = read_str(body, "conversationId", required=True)
    sequence = read_int(body, "sequence")
    data = require_object(body.get("data", {}), "data")
    event = CanonicalEvent(
        id=event_id,
        type=event_type,
        occurred_at=occurred_at,
        conversation_id=conversation_id,
        sequence=sequence,
        data=validator(data, "data."),
    )
    return Delivery(
        event_id=event_id,
        events=[event],
        conversation_id=conversation_id,
        occurred_at=occurred_at,
        sequence=sequence,
        platform_type=event_type,
    )


def validate_data(event_type: str, data: dict) -> dict:
    """Normalise the data of an event an adapter built (same rules as native bodies)."""
    return VALIDATORS[event_type](data, "data.")
