"""``genesys`` source: Genesys Cloud conversation detail events.

Two envelopes carry the same ``{topicName, eventBody}``:

* the notification shape ``{"topicName", "version", "eventBody", "metadata"}``;
* the AWS EventBridge shape ``{"id", "detail-type", "source", ..., "detail": {"topicName",
  "eventBody", "metadata"}}`` (``detail-type`` holds the topic *pattern* with a literal
  ``{id}``; the concrete conversation id is in ``detail.topicName``).

Authenticity: ``X-Hub-Signature-256: sha256=<base64 HMAC-SHA256 of the body>`` with
``GENESYS_WEBHOOK_SECRET`` (hex digests are accepted too).

Event id: the EventBridge envelope's ``id``; for the bare notification shape a digest
of ``topicName`` and the canonical ``eventBody``, so an exact redelivery is a duplicate.
``eventTime`` is epoch milliseconds; enum values are compared case-insensitively.

Mapping (the SDK's ``*DetailEventTopic*Event`` models are the reference shapes):

* ``customer.start`` → conversation.started + participant.joined (customer)
* ``acd.start`` / ``acd.end`` → the queue (ACD) participant joins / leaves; acd.start also
  merges ``routingData`` {queueId, skillRequirements, priority}
* ``user.start`` / ``user.end`` → an agent joins (the conversation becomes active) / leaves
* ``flow.start`` / ``flow.end`` → a bot (Architect flow) participant joins / leaves
* ``customer.end`` → the customer leaves
* ``attributes`` → merged by key into customAttributes (later wins)
* anything else (acw, outbound, contact, voicemail, other topics) → ignored

A handoff is an agent's ``user.end`` with a transfer disconnect followed by another queue
or agent (derived from participants in conversations/actions.py), and the conversation
closes when its last participant ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re

from django.conf import settings

from conversations.ingest.canonical import (
    CONTEXT_MERGED,
    MAX_CHANNEL_LENGTH,
    MAX_ENVELOPE_ID_LENGTH,
    MAX_ID_LENGTH,
    CanonicalEvent,
    Delivery,
    EnvelopeError,
    SignatureError,
    instant_from_epoch_ms,
    parse_instant,
    read_str,
    require_object,
    validate_data,
)

SOURCE = "genesys"
SIGNATURE_HEADER = "X-Hub-Signature-256"
TOPIC = re.compile(r"^v2\.detail\.events\.conversation\.(?P<conversation>[^.]+)\.(?P<kind>[a-z.]+)$", re.IGNORECASE)


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def verify(headers, body: bytes, now) -> None:
    secret = settings.GENESYS_WEBHOOK_SECRET
    if not secret:
        raise SignatureError("no secret is configured for the genesys source (GENESYS_WEBHOOK_SECRET)")
    header = headers.get(SIGNATURE_HEADER, "")
    if not header:
        raise SignatureError(f"missing header {SIGNATURE_HEADER}")
    scheme, _, offered = header.partition("=")
    if scheme.strip().lower() != "sha256" or not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} must be sha256=<signature>")
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(_decode_signature(offered.strip()), digest):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def _decode_signature(offered: str) -> bytes:
    """The contract says base64; hex (GitHub style) and unpadded/URL-safe base64 are accepted too."""
    if len(offered) == 64 and all(char in "0123456789abcdefABCDEF" for char in offered):
        return bytes.fromhex(offered)
    try:
        return base64.urlsafe_b64decode(offered.replace("+", "-").replace("/", "_") + "=" * (-len(offered) % 4))
    except (binascii.Error, ValueError):
        return b""


def _notification(payload: dict) -> tuple[str, dict, str]:
    """(event id, eventBody, topicName) from either envelope."""
    if "detail" in payload or "detail-type" in payload:
        event_id = read_str(payload, "id", required=True, max_length=MAX_ENVELOPE_ID_LENGTH)
        detail = require_object(payload.get("detail"), "detail")
        topic = read_str(detail, "topicName", "detail.", required=True, max_length=300)
        body = require_object(detail.get("eventBody"), "detail.eventBody")
        return event_id, body, topic
    topic = read_str(payload, "topicName", required=True, max_length=300)
    body = require_object(payload.get("eventBody"), "eventBody")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{topic}\n{canonical}".encode()).hexdigest()
    return f"gen-{digest[:48]}", body, topic


def _event_time(body: dict, prefix: str):
    value = body.get("eventTime")
    if value is None:
        raise EnvelopeError(f"{prefix}eventTime", "is required")
    if isinstance(value, str):
        return parse_instant(value, f"{prefix}eventTime")
    return instant_from_epoch_ms(value, f"{prefix}eventTime")


def _lower(body: dict, key: str, prefix: str) -> str:
    return read_str(body, key, prefix, max_length=MAX_CHANNEL_LENGTH).lower()


def parse(payload) -> Delivery:
    payload = require_object(payload, "body")
    event_id, body, topic = _notification(payload)
    prefix = "detail.eventBody." if "detail" in payload else "eventBody."
    match = TOPIC.match(topic)
    if not match:
        return Delivery(event_id=event_id, events=[], platform_type=topic[:300])
    kind = match.group("kind").lower()
    builder = BUILDERS.get(kind)
    if builder is None:
        return Delivery(event_id=event_id, events=[], platform_type=f"genesys:{kind}")
    conversation_id = read_str(body, "conversationId", prefix) or match.group("conversation")
    if len(conversation_id) > MAX_ID_LENGTH:
        topic_field = "detail.topicName" if "detail" in payload else "topicName"
        raise EnvelopeError(topic_field, f"the conversation id must be at most {MAX_ID_LENGTH} characters")
    occurred_at = _event_time(body, prefix)
    events = [
        CanonicalEvent(
            id=event_id if index == 0 else f"{event_id}#{index}",
            type=event_type,
            occurred_at=occurred_at,
            conversation_id=conversation_id,
            sequence=None,
            data=data if event_type == CONTEXT_MERGED else validate_data(event_type, data),
        )
        for index, (event_type, data) in enumerate(builder(body, prefix))
    ]
    return Delivery(
        event_id=event_id,
        events=events,
        conversation_id=conversation_id,
        occurred_at=occurred_at,
        platform_type=f"genesys:{kind}",
    )


def _participant_id(body: dict, prefix: str) -> str:
    return read_str(body, "participantId", prefix, required=True)


def _customer_start(body: dict, prefix: str):
    channel = _lower(body, "messageType", prefix) or _lower(body, "mediaType", prefix)
    yield (
        "conversation.started",
        {
            "channel": channel,
            "tenant": read_str(body, "divisionId", prefix),
            "customerKey": read_str(body, "externalContactId", prefix),
        },
    )
    yield "participant.joined", {"participantId": _participant_id(body, prefix), "role": "customer"}


def _left(body: dict, prefix: str):
    yield (
        "participant.left",
        {
            "participantId": _participant_id(body, prefix),
            "disconnectType": _lower(body, "disconnectType", prefix),
        },
    )


def _acd_start(body: dict, prefix: str):
    queue_id = read_str(body, "queueId", prefix)
    yield "participant.joined", {"participantId": _participant_id(body, prefix), "role": "acd", "queueId": queue_id}
    routing = {}
    if queue_id:
        routing["queueId"] = queue_id
    skills = body.get("requestedRoutingSkillIds")
    if isinstance(skills, list):
        routing["skillRequirements"] = [str(skill) for skill in skills]
    priority = body.get("routingPriority")
    if isinstance(priority, int | float) and not isinstance(priority, bool):
        routing["priority"] = priority
    if routing:
        yield CONTEXT_MERGED, {"routingData": routing}


def _user_start(body: dict, prefix: str):
    yield (
        "participant.joined",
        {
            "participantId": _participant_id(body, prefix),
            "role": "agent",
            "userId": read_str(body, "userId", prefix),
            "queueId": read_str(body, "queueId", prefix),
        },
    )
    yield "conversation.state_changed", {"state": "active"}


def _flow_start(body: dict, prefix: str):
    yield "participant.joined", {"participantId": _participant_id(body, prefix), "role": "bot"}


def _attributes(body: dict, prefix: str):
    attributes = body.get("attributes")
    if attributes is None:
        return
    attributes = require_object(attributes, f"{prefix}attributes")
    yield CONTEXT_MERGED, {"customAttributes": {str(key): value for key, value in attributes.items()}}


BUILDERS = {
    "customer.start": _customer_start,
    "customer.end": _left,
    "acd.start": _acd_start,
    "acd.end": _left,
    "user.start": _user_start,
    "user.end": _left,
    "flow.start": _flow_start,
    "flow.end": _left,
    "attributes": _attributes,
}
