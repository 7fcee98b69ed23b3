"""``native`` source: canonical events signed with Standard Webhooks v1.

Headers ``webhook-id``, ``webhook-timestamp`` (unix seconds, within the
tolerance either way) and ``webhook-signature``: space-separated ``v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">``. Secrets are ``whsec_<base64>``;
any configured secret may match, so keys can be rotated without downtime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from django.conf import settings

from conversations.ingest.canonical import Delivery, SignatureError, parse_canonical

SOURCE = "native"
SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("a configured CONSOLE_WEBHOOK_SECRETS entry is not whsec_<base64>") from None


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` value for one secret (used by senders, the simulator and tests)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(headers, body: bytes, now: datetime) -> None:
    secrets = settings.CONSOLE_WEBHOOK_SECRETS
    if not secrets:
        raise SignatureError("no secret is configured for the native source (CONSOLE_WEBHOOK_SECRETS)")
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signature_header = headers.get("webhook-signature", "")
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature_header),
        )
        if not value
    ]
    if missing:
        raise SignatureError(f"missing header {', '.join(missing)}")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp must be unix seconds") from None
    tolerance = settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS
    if abs(now.timestamp() - sent) > tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance} s from the console's clock")
    offered = [part.split(",", 1)[1] for part in signature_header.split() if part.startswith("v1,")]
    if not offered:
        raise SignatureError("webhook-signature has no v1 signature")
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered):
            return
    raise SignatureError("webhook-signature does not match any configured secret")


def parse(payload) -> Delivery:
    return parse_canonical(payload)
