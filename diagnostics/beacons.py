"""The beacon contract: validation of one telemetry beacon (docs/architecture.md, "Client telemetry contract").

A widget sends ``{"beacons": [...]}``; each beacon is validated on its own so a bad one is
reported by index and the good ones in the same batch are still stored. A missing field and
``null`` mean the same. ``sentAt`` is when it happened; more than 5 minutes ahead of the
console's clock or 24 hours behind it is refused per item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from conversations.ingest.canonical import EnvelopeError, json_type, read_instant, read_str
from diagnostics.models import BeaconKind

MAX_FUTURE = timedelta(minutes=5)
MAX_PAST = timedelta(hours=24)
MAX_RETURNED_IDS = 1000

STORAGES = ("local", "session", "cookie", "server", "none")
VALIDATION_RESULTS = ("resumed", "new", "error")
SOCKET_EVENTS = (
    "open",
    "close",
    "error",
    "heartbeat",
    "pong_missed",
    "reconnect_attempt",
    "reconnected",
    "polling_fallback",
)
RETRY_OUTCOMES = ("original", "duplicate", "new")
# WebSocket.readyState: CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3 (names accepted too).
READY_STATES = {"connecting": 0, "open": 1, "closing": 2, "closed": 3}
READY_STATE_OPEN = 1


@dataclass(frozen=True)
class Beacon:
    """A valid beacon, normalised: ``fields`` holds the kind's fields (camelCase, as sent)."""

    id: str
    kind: str
    sent_at: datetime
    session_key: str
    fields: dict

    @property
    def conversation_id(self) -> str:
        """The conversation the beacon is about; a session.init that resumed names its stored id."""
        conversation_id = self.fields.get("conversationId") or ""
        if (
            not conversation_id
            and self.kind == BeaconKind.SESSION_INIT
            and self.fields.get("validationResult") == ("resumed")
        ):
            conversation_id = self.fields.get("storedConversationId") or ""
        return conversation_id

    @property
    def participant_id(self) -> str:
        return self.fields.get("participantId") or ""


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]`` in lower case, without a default port or trailing slash ("" if not an origin)."""
    text = (value or "").strip()
    if not text or text == "null":
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return ""
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def parse_beacon(raw: Any, *, now: datetime) -> Beacon:
    """One beacon, validated; raises EnvelopeError naming the field."""
    if not isinstance(raw, dict):
        raise EnvelopeError("beacon", f"must be a JSON object, got {json_type(raw)}")
    beacon_id = read_str(raw, "id", required=True)
    kind = read_str(raw, "kind", required=True, max_length=40)
    if kind not in BeaconKind.values:
        raise EnvelopeError("kind", f"must be one of {', '.join(BeaconKind.values)}; got {kind!r}")
    session_key = read_str(raw, "sessionKey", required=True)
    sent_at = read_instant(raw, "sentAt")
    if sent_at > now + MAX_FUTURE:
        raise EnvelopeError("sentAt", "is more than 5 minutes in the future")
    if sent_at < now - MAX_PAST:
        raise EnvelopeError("sentAt", "is more than 24 hours in the past")
    fields = FIELD_READERS[kind](raw)
    return Beacon(
        id=beacon_id,
        kind=kind,
        sent_at=sent_at,
        session_key=session_key,
        fields={key: value for key, value in fields.items() if value is not None},
    )


# --- field readers (None for a missing or null field) ------------------------------------------


def _str(raw: dict, key: str, *, max_length: int = 200) -> str | None:
    return read_str(raw, key, max_length=max_length) or None


def _choice(raw: dict, key: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
    value = read_str(raw, key, required=required, max_length=40)
    if not value:
        return None
    if value.lower() not in choices:
        raise EnvelopeError(key, f"must be one of {', '.join(choices)}; got {value!r}")
    return value.lower()


def _number(raw: dict, key: str, *, integer: bool = False, minimum: float = 0, maximum: float = 2**53) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EnvelopeError(key, f"must be a number, got {json_type(value)}")
    if integer and isinstance(value, float) and not value.is_integer():
        raise EnvelopeError(key, "must be an integer")
    if not minimum <= value <= maximum:
        raise EnvelopeError(key, f"must be between {minimum:g} and {maximum:g}")
    return int(value) if integer or float(value).is_integer() else value


def _bool(raw: dict, key: str) -> bool | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise EnvelopeError(key, f"must be true or false, got {json_type(value)}")
    return value


def _ready_state(raw: dict) -> int | None:
    value = raw.get("readyState")
    if isinstance(value, str):
        if value.strip().lower() not in READY_STATES:
            raise EnvelopeError("readyState", f"must be 0-3 or one of {', '.join(READY_STATES)}; got {value[:20]!r}")
        return READY_STATES[value.strip().lower()]
    return _number(raw, "readyState", integer=True, maximum=3)


def _timestamp_cursor(raw: dict) -> str | None:
    """``since``: a timestamp cursor in whatever form the client used (ISO string or epoch number)."""
    value = raw.get("since")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EnvelopeError("since", f"must be a timestamp string or number, got {json_type(value)}")
    text = str(value)
    if not text.strip():
        return None
    if len(text) > 100:
        raise EnvelopeError("since", "must be at most 100 characters")
    return text


def _returned_ids(raw: dict) -> list[str] | None:
    value = raw.get("returnedIds")
    if value is None:
        return None
    if not isinstance(value, list):
        raise EnvelopeError("returnedIds", f"must be an array of message ids, got {json_type(value)}")
    if len(value) > MAX_RETURNED_IDS:
        raise EnvelopeError("returnedIds", f"must hold at most {MAX_RETURNED_IDS} ids")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > 200:
            raise EnvelopeError(f"returnedIds[{index}]", "must be a non-empty string of at most 200 characters")
    return list(value)


def _session_init(raw: dict) -> dict:
    origin = _str(raw, "origin", max_length=300)
    if origin is not None and not normalize_origin(origin):
        raise EnvelopeError("origin", f"must be an origin such as https://www.example.com; got {origin[:60]!r}")
    return {
        "origin": normalize_origin(origin) if origin else None,
        "storage": _choice(raw, "storage", STORAGES),
        "storedConversationId": _str(raw, "storedConversationId"),
        "storedAgeSeconds": _number(raw, "storedAgeSeconds"),
        "validated": _bool(raw, "validated"),
        "validationResult": _choice(raw, "validationResult", VALIDATION_RESULTS),
        "conversationId": _str(raw, "conversationId"),
    }


def _socket_state(raw: dict) -> dict:
    return {
        "conversationId": _str(raw, "conversationId"),
        "participantId": _str(raw, "participantId"),
        "event": _choice(raw, "event", SOCKET_EVENTS, required=True),
        "readyState": _ready_state(raw),
        "attempt": _number(raw, "attempt", integer=True, maximum=1_000_000),
        "delayMs": _number(raw, "delayMs", maximum=86_400_000),
        "closeCode": _number(raw, "closeCode", integer=True, maximum=65_535),
        "missedPongs": _number(raw, "missedPongs", integer=True, maximum=1_000_000),
        "rttMs": _number(raw, "rttMs", maximum=3_600_000),
    }


def _message_retry(raw: dict) -> dict:
    return {
        "conversationId": _str(raw, "conversationId"),
        "idempotencyKey": _str(raw, "idempotencyKey"),
        "attempt": _number(raw, "attempt", integer=True, maximum=1_000_000),
        "outcome": _choice(raw, "outcome", RETRY_OUTCOMES),
    }


def _history_fetch(raw: dict) -> dict:
    return {
        "conversationId": _str(raw, "conversationId"),
        "afterId": _str(raw, "afterId"),
        "since": _timestamp_cursor(raw),
        "returnedIds": _returned_ids(raw),
        "etag": _str(raw, "etag", max_length=300),
    }


FIELD_READERS = {
    BeaconKind.SESSION_INIT: _session_init,
    BeaconKind.SOCKET_STATE: _socket_state,
    BeaconKind.MESSAGE_RETRY: _message_retry,
    BeaconKind.HISTORY_FETCH: _history_fetch,
}
