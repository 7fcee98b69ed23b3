"""Build and sign webhook deliveries the way each platform does."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings

from conversations.ingest import genesys
from conversations.ingest.canonical import format_instant
from conversations.ingest.native import sign

BASE_TIME = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return format_instant(BASE_TIME + timedelta(seconds=seconds))


def event(event_id: str, event_type: str, conversation_id: str, seq: int | None, data: dict, *, seconds=None) -> dict:
    body = {
        "id": event_id,
        "type": event_type,
        "occurredAt": at(seq if seconds is None else seconds),
        "conversationId": conversation_id,
        "data": data,
    }
    if seq is not None:
        body["sequence"] = seq
    return body


def native_headers(
    body: bytes, *, msg_id: str = "msg_1", timestamp: int | None = None, secret: str | None = None
) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    secret = secret or settings.CONSOLE_WEBHOOK_SECRETS[0]
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": sign(secret, msg_id, timestamp, body),
    }


def post_native(client, payload, **header_options):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg_id = header_options.pop("msg_id", None) or (payload.get("id", "msg") if isinstance(payload, dict) else "msg")
    headers = native_headers(body, msg_id=msg_id, **header_options)
    return client.post("/webhooks/native/", data=body, content_type="application/json", **headers)


def post_genesys(client, payload, *, secret: str | None = None):
    body = json.dumps(payload).encode()
    signature = genesys.sign(secret or settings.GENESYS_WEBHOOK_SECRET, body)
    return client.post(
        "/webhooks/genesys/", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )


def post_cxone(client, payload, *, token: str | None = None):
    body = json.dumps(payload).encode()
    return client.post(
        "/webhooks/cxone/",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token or settings.CXONE_WEBHOOK_TOKEN}",
    )
