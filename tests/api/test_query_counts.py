"""Every list endpoint reads a page of 1 or 500 rows with the same number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.models import AuditEntry
from conversations.models import Handoff, Message, Participant, WebhookReceipt
from diagnostics.models import Finding
from tests.api.conftest import make_conversation

pytestmark = pytest.mark.django_db


def _findings(start, count):
    now = timezone.now()
    return Finding.objects.bulk_create(
        [
            Finding(
                kind="ghost_session",
                severity="critical",
                subject=f"conversation:c-1#{index}",
                conversation_id="c-1",
                evidence={"n": index},
                remediation="r",
                guide_section="s",
                first_seen=now,
                last_seen=now,
            )
            for index in range(start, start + count)
        ]
    )


def _rows(kind, conversation, start, count):
    now = timezone.now()
    if kind == "findings":
        _findings(start, count)
    elif kind == "audit":
        AuditEntry.objects.bulk_create(
            [
                AuditEntry(actor="user:a", action="x.y", target_type="t", target_id=str(i))
                for i in range(start, start + count)
            ]
        )
    elif kind == "receipts":
        WebhookReceipt.objects.bulk_create(
            [
                WebhookReceipt(source="native", event_id=f"e{i}", outcome="rejected", status_code=401)
                for i in range(start, start + count)
            ]
        )
    elif kind == "participants":
        Participant.objects.bulk_create(
            [Participant(conversation=conversation, participant_id=f"p{i}") for i in range(start, start + count)]
        )
    elif kind == "handoffs":
        Handoff.objects.bulk_create(
            [Handoff(conversation=conversation, key=f"h{i}", occurred_at=now) for i in range(start, start + count)]
        )
    elif kind == "messages":
        Message.objects.bulk_create(
            [
                Message(
                    conversation=conversation,
                    message_id=f"m{i:04d}",
                    sequence=i,
                    direction="inbound",
                    created_at=now,
                    event_id=f"e{i}",
                )
                for i in range(start, start + count)
            ]
        )


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("findings", "/api/v1/findings/"),
        ("findings", "/api/v1/conversations/c-1/findings/"),
        ("audit", "/api/v1/audit/"),
        ("receipts", "/api/v1/webhook-receipts/"),
        ("participants", "/api/v1/conversations/c-1/participants/"),
        ("handoffs", "/api/v1/conversations/c-1/handoffs/"),
        ("messages", "/api/v1/conversations/c-1/messages/"),
    ],
)
def test_it_lists_1_or_500_rows_with_the_same_queries(kind, url, client, admin_user):
    client.force_login(admin_user)
    conversation = make_conversation("c-1")
    AuditEntry.objects.all().delete()
    _rows(kind, conversation, 0, 1)
    with CaptureQueriesContext(connection) as one:
        first = client.get(f"{url}?limit=500")
    assert len(first.json()["results"]) == 1
    _rows(kind, conversation, 1, 499)
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"{url}?limit=500")
    assert len(response.json()["results"]) == 500
    assert len(many) == len(one), [query["sql"] for query in many.captured_queries]
