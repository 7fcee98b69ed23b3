"""Detectors running at the same time for one conversation raise one finding (PostgreSQL: real transactions)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction

from diagnostics import actions
from diagnostics.models import Finding
from tests.webhooks import BASE_TIME, event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_six_concurrent_runs_raise_one_finding():
    from conversations.actions import apply_events
    from conversations.ingest.canonical import parse_canonical

    for seq, message_id in ((1, "m-1"), (2, "m-2")):
        data = {"messageId": message_id, "participantId": "cust-1", "direction": "inbound", "text": "help"}
        payload = event(f"e-{seq}", "message.created", "c-race", seq, {**data, "idempotencyKey": message_id})
        with transaction.atomic():
            apply_events(parse_canonical(payload).events, source="native")
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            actions.run_detectors(["c-race"])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    with time_machine.travel(BASE_TIME + timedelta(minutes=1), tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert list(Finding.objects.values_list("kind", "status")) == [("duplicate_message", "open")]
