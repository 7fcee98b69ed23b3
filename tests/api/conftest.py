"""Fixtures of the API tests: a clean rate-limit cache, mirror rows, and the force-close fake."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from console.models import AuditEntry
from conversations.models import OPEN_STATES, Conversation, Message
from diagnostics.models import Finding

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def make_conversation(conversation_id: str = "c-1", **fields) -> Conversation:
    at = fields.pop("last_activity_at", None) or timezone.now()
    defaults = {
        "source": "native",
        "tenant": "acme",
        "channel": "webchat",
        "state": "active",
        "first_event_at": at,
        "last_activity_at": at,
        "started_at": at,
    }
    return Conversation.objects.create(id=conversation_id, **{**defaults, **fields})


def make_message(conversation: Conversation, message_id: str, sequence: int, **fields) -> Message:
    defaults = {
        "direction": "inbound",
        "text": f"text {message_id}",
        "created_at": T0 + timedelta(seconds=sequence),
        "event_id": f"evt-{message_id}",
        "participant_id": "p-customer",
    }
    return Message.objects.create(
        conversation=conversation, message_id=message_id, sequence=sequence, **{**defaults, **fields}
    )


def make_finding(conversation_id: str = "c-1", kind: str = "ghost_session", status: str = "open", **fields) -> Finding:
    now = fields.pop("first_seen", None) or timezone.now()
    defaults = {
        "severity": "critical",
        "subject": f"conversation:{conversation_id}" if conversation_id else f"session:{fields.get('session_key')}",
        "evidence": {"socketState": "closed"},
        "remediation": "Validate before resuming",
        "guide_section": "Edge case 1",
        "first_seen": now,
        "last_seen": now,
    }
    return Finding.objects.create(conversation_id=conversation_id, kind=kind, status=status, **{**defaults, **fields})


@dataclass(frozen=True)
class FakeOutcome:
    """The fields of conversations.actions.ForceCloseOutcome (INTERFACES.md)."""

    conversation_id: str
    status: str
    state: str
    platform_call: str
    audit_id: int | None
    detail: str


class FakeForceClose:
    """Stands in for conversations.actions.force_close, following its contract in INTERFACES.md.

    Raises Conversation.DoesNotExist for an unknown id and ValueError for an empty reason; closes
    an open conversation in the mirror with its AuditEntry in one transaction; answers
    "already_closed" for a terminal one; ``platform_fails`` makes it answer "pending".
    ``gate`` (a threading.Event) holds the call until set, to keep a request in flight.
    """

    def __init__(self):
        self.calls: list[dict] = []
        self.platform_fails = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, conversation_id, *, reason, actor, actor_user=None, idempotency_key="", request_id=""):
        self.calls.append(
            {"conversation_id": conversation_id, "reason": reason, "actor": actor, "key": idempotency_key}
        )
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(timeout=30), "test gate never opened"
        if not reason or not reason.strip():
            raise ValueError("reason must not be empty")
        conversation = Conversation.objects.get(pk=conversation_id)
        if conversation.state not in OPEN_STATES:
            return FakeOutcome(conversation_id, "already_closed", conversation.state, "none: already closed", None, "")
        with transaction.atomic():
            state = "active" if self.platform_fails else "closed"
            if not self.platform_fails:
                Conversation.objects.filter(pk=conversation_id, state__in=OPEN_STATES).update(
                    state="closed", closed_at=timezone.now(), close_reason=reason
                )
            audit = AuditEntry.objects.create(
                actor=actor,
                actor_user=actor_user,
                action="conversation.force_close_failed" if self.platform_fails else "conversation.force_closed",
                target_type="conversation",
                target_id=conversation_id,
                reason=reason,
                idempotency_key=idempotency_key,
                request_id=request_id,
            )
        if self.platform_fails:
            return FakeOutcome(
                conversation_id, "pending", state, "native POST /api/conversations/x/close -> 503", audit.pk, "retrying"
            )
        return FakeOutcome(
            conversation_id,
            "closed",
            "closed",
            "none: no platform configured for native (closed in the mirror only)",
            audit.pk,
            "closed in the mirror",
        )


@pytest.fixture
def fake_force_close(monkeypatch):
    import conversations.actions

    fake = FakeForceClose()
    monkeypatch.setattr(conversations.actions, "force_close", fake, raising=False)
    return fake
