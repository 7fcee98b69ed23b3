"""The HTTP Idempotency-Key layer (draft-ietf-httpapi-idempotency-key-header).

* no key → 400; a key is claimed per owner (API client or user) by inserting a row:
  the unique constraint decides the winner on PostgreSQL and SQLite alike;
* the same key with the same request (method, path, canonical JSON body) → the stored
  first response, for IDEMPOTENCY_KEY_TTL_SECONDS (24 h);
* the same key with another request → 422; while the first is still running → 409;
* a failed first attempt (4xx other than a decision, 5xx) releases the key, so a retry runs.

A claim older than IDEMPOTENCY_LEASE_SECONDS whose request never completed (the process
died) may be taken over by a retry; the action behind it must itself be idempotent per key
(force_close never calls the platform twice for one key, INTERFACES.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.models import IdempotencyKey, IdempotencyState

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")


class InvalidKey(ValueError):
    """The Idempotency-Key header is missing or malformed (answered 400)."""


def parse_key(raw: str | None) -> str:
    """The key from the header: an RFC 8941 sf-string (``"abc"``), or, leniently, a bare token."""
    if raw is None or not raw.strip():
        raise InvalidKey(f"the {HEADER} header is required (draft-ietf-httpapi-idempotency-key-header)")
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        inner, value, index = raw[1:-1], [], 0
        while index < len(inner):
            char = inner[index]
            if char == "\\":
                if index + 1 >= len(inner) or inner[index + 1] not in '"\\':
                    raise InvalidKey(f"the {HEADER} header is not a valid structured-field string")
                value.append(inner[index + 1])
                index += 2
                continue
            if char == '"':
                raise InvalidKey(f"the {HEADER} header is not a valid structured-field string")
            value.append(char)
            index += 1
        raw = "".join(value)
    if not raw or len(raw) > MAX_KEY_LENGTH or not _PRINTABLE.match(raw):
        raise InvalidKey(f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return raw


def fingerprint(method: str, path: str, body) -> str:
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "body": body}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take a key."""

    kind: str  # "claimed" | "replay" | "mismatch" | "in_flight"
    record: IdempotencyKey

    @property
    def claimed(self) -> bool:
        return self.kind == "claimed"


def claim(owner: str, key: str, print_: str) -> Claim:
    """Take the key for this request, or say why not (replay, mismatch, in flight)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    record = IdempotencyKey(
        owner=owner,
        key=key,
        fingerprint=print_,
        state=IdempotencyState.IN_FLIGHT,
        claim=token,
        locked_until=now + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS),
        created_at=now,
    )
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record.save(force_insert=True)
            return Claim("claimed", record)
        except IntegrityError:
            record.pk = None
        existing = IdempotencyKey.objects.filter(owner=owner, key=key).first()
        if existing is None:
            continue  # released between our insert and our read: try the insert again
        expired = existing.created_at + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS) <= now
        abandoned = existing.state == IdempotencyState.IN_FLIGHT and existing.locked_until <= now
        if expired or (abandoned and existing.fingerprint == print_):
            # Take the row over with a conditional UPDATE: exactly one retry wins it.
            taken = IdempotencyKey.objects.filter(pk=existing.pk, claim=existing.claim).update(
                fingerprint=print_,
                state=IdempotencyState.IN_FLIGHT,
                claim=token,
                locked_until=record.locked_until,
                response_status=None,
                response_body=None,
                created_at=now,
                completed_at=None,
            )
            if taken:
                existing.refresh_from_db()
                return Claim("claimed", existing)
            continue
        if existing.fingerprint != print_:
            return Claim("mismatch", existing)
        if existing.state == IdempotencyState.IN_FLIGHT:
            return Claim("in_flight", existing)
        return Claim("replay", existing)
    # Three lost races in a row: report the key as busy rather than loop.
    return Claim("in_flight", record)


def complete(record: IdempotencyKey, status: int, body: dict) -> None:
    """Store the first response; a claim taken over meanwhile is not overwritten."""
    IdempotencyKey.objects.filter(pk=record.pk, claim=record.claim).update(
        state=IdempotencyState.COMPLETED, response_status=status, response_body=body, completed_at=timezone.now()
    )


def release(record: IdempotencyKey) -> None:
    """Forget a claim whose request failed, so that a retry with the same key runs again."""
    IdempotencyKey.objects.filter(pk=record.pk, claim=record.claim, state=IdempotencyState.IN_FLIGHT).delete()


def purge_expired(now=None) -> int:
    """Delete keys past their replay window (for console.tasks.purge_old_records)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)
    deleted, _ = (
        IdempotencyKey.objects.filter(created_at__lt=cutoff)
        .exclude(state=IdempotencyState.IN_FLIGHT, locked_until__gt=now)
        .delete()
    )
    return deleted
