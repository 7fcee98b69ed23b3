"""``POST /webhooks/<source>/``: authenticate, parse, record, apply (docs/architecture.md, "Webhook contract")."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from console import jsonbody, ratelimit
from console.problems import ProblemResponse
from conversations import actions
from conversations.ingest import PUBLIC_SOURCES, EnvelopeError, SignatureError, adapter_for
from conversations.models import ReceiptOutcome

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)


class Refusal(Exception):
    """A delivery answered with a 4xx; recorded as a rejected receipt."""

    def __init__(self, status: int, detail: str, *, signature_valid: bool | None = None, headers=None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.signature_valid = status, detail, signature_valid
        self.headers, self.extra = headers, extra


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in JSON_TYPES or (media_type.startswith("application/") and media_type.endswith("+json"))


def _read(request, source: str) -> tuple[bytes, object]:
    """The checks in contract order: rate, size, media type, signature, JSON."""
    retry_after = ratelimit.check(
        f"webhook:{source}", _client_ip(request) or "-", settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    )
    if retry_after:
        raise Refusal(429, "too many deliveries; retry later", headers={"Retry-After": str(retry_after)})
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise Refusal(413, f"body is larger than {limit} bytes")
    body = request.body
    if len(body) > limit:
        raise Refusal(413, f"body is larger than {limit} bytes")
    if not _is_json(request.content_type or request.META.get("CONTENT_TYPE", "")):
        raise Refusal(415, "Content-Type must be application/json")
    adapter = adapter_for(source)
    try:
        adapter.verify(request.headers, body, timezone.now())
    except SignatureError as error:
        raise Refusal(401, str(error), signature_valid=False) from None
    try:
        payload = jsonbody.loads(body)
    except jsonbody.JsonBodyError as error:
        extra = {"field": error.field} if error.field else {}
        raise Refusal(400, error.detail, signature_valid=True, **extra) from None
    return body, payload


@csrf_exempt
def webhook(request, source: str):
    if source not in PUBLIC_SOURCES:
        return ProblemResponse(404, f"unknown webhook source {source[:40]!r}; use one of {', '.join(PUBLIC_SOURCES)}")
    if request.method != "POST":
        return ProblemResponse(405, "webhooks are delivered with POST", headers={"Allow": "POST"})
    remote_addr, request_id = _client_ip(request), getattr(request, "request_id", "")
    delivery = None
    try:
        body, payload = _read(request, source)
        try:
            delivery = adapter_for(source).parse(payload)
        except EnvelopeError as error:
            raise Refusal(400, str(error), signature_valid=True, field=error.field) from None
        outcome, _ = actions.record_delivery(
            source=source,
            delivery=delivery,
            body=body.decode("utf-8"),
            remote_addr=remote_addr,
            request_id=request_id,
        )
    except Refusal as refusal:
        _store_refusal(
            source,
            ReceiptOutcome.REJECTED,
            refusal.status,
            refusal.detail,
            signature_valid=refusal.signature_valid,
            event_id=request.headers.get("webhook-id", ""),
            remote_addr=remote_addr,
            request_id=request_id,
        )
        return ProblemResponse(refusal.status, refusal.detail, headers=refusal.headers, **refusal.extra)
    except DataError as error:
        # A value the columns cannot hold that validation let through: the sender's data, not an outage,
        # so a 400 the platform will not retry forever (the adapters' length checks should make it rare).
        log.warning("webhook %s: a value cannot be stored: %s", source, str(error).splitlines()[0][:200])
        detail = "the delivery holds a value the console cannot store"
        _store_refusal(
            source,
            ReceiptOutcome.REJECTED,
            400,
            detail,
            signature_valid=True,
            event_id=delivery.event_id if delivery else "",
            remote_addr=remote_addr,
            request_id=request_id,
        )
        return ProblemResponse(400, detail)
    except DatabaseError:
        log.exception("webhook %s: database unavailable", source)
        return ProblemResponse(
            503, "the console cannot store deliveries right now; retry", headers={"Retry-After": "5"}
        )
    except Exception as error:
        log.exception("webhook %s: event could not be applied", source)
        _store_refusal(
            source,
            ReceiptOutcome.FAILED,
            503,
            f"{type(error).__name__}: {error}",
            signature_valid=True,
            event_id=delivery.event_id if delivery else "",
            body=request.body.decode("utf-8", "replace"),
            delivery=delivery,
            remote_addr=remote_addr,
            request_id=request_id,
        )
        return ProblemResponse(
            503, "the event could not be applied; it was kept and the platform may retry", headers={"Retry-After": "5"}
        )
    return JsonResponse({"status": outcome, "eventId": delivery.event_id})


def _store_refusal(source: str, outcome: str, status: int, error: str, **fields) -> None:
    try:
        actions.record_refusal(source=source, outcome=outcome, status_code=status, error=error, **fields)
    except DatabaseError:
        log.exception("webhook %s: could not record a %s receipt", source, outcome)
