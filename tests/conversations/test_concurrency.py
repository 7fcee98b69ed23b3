"""The same webhook delivered concurrently is applied once (PostgreSQL: real concurrent transactions)."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from conversations.models import Message, WebhookReceipt
from tests.webhooks import event, native_headers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_webhook_from_8_threads_is_applied_once():
    payload = event(
        "evt-race", "message.created", "c-race", 3, {"messageId": "m-race", "direction": "inbound", "text": "once"}
    )
    body = json.dumps(payload).encode()
    headers = native_headers(body, msg_id="evt-race")
    barrier = threading.Barrier(8)
    results: list[str] = []

    def deliver():
        try:
            barrier.wait()
            response = Client().post("/webhooks/native/", data=body, content_type="application/json", **headers)
            results.append(f"{response.status_code}:{response.json().get('status')}")
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == sorted(["200:applied"] + ["200:duplicate"] * 7)
    assert Message.objects.count() == 1
    assert WebhookReceipt.objects.filter(outcome="applied").count() == 1
    assert WebhookReceipt.objects.filter(outcome="duplicate").count() == 7


def test_different_events_of_one_conversation_from_8_threads_all_apply():
    bodies = []
    for seq in range(1, 9):
        payload = event(
            f"evt-{seq}",
            "message.created",
            "c-many",
            seq,
            {"messageId": f"m-{seq}", "direction": "inbound", "text": str(seq)},
        )
        body = json.dumps(payload).encode()
        bodies.append((body, native_headers(body, msg_id=payload["id"])))
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def deliver(body, headers):
        try:
            barrier.wait()
            statuses.append(
                Client().post("/webhooks/native/", data=body, content_type="application/json", **headers).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=item) for item in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 8
    assert Message.objects.filter(conversation_id="c-many").count() == 8
