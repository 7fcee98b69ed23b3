"""Duplicate storm (issue 10, item 1): the same 1,000 signed webhooks, each delivered 3 times by 8
concurrent clients in shuffled order to a real ASGI server (two uvicorn worker processes on
PostgreSQL, Redis as broker and channel layer) → every event accepted exactly once, no 5xx, and
the mirror equal, row by row, to the one an in-order delivery of the same events builds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
import time
from collections import Counter

import httpx
import pytest
from django.conf import settings

from console.models import AuditEntry
from conversations.ingest.native import sign
from conversations.models import ACCEPTED_OUTCOMES, Conversation, WebhookReceipt
from diagnostics.models import Finding, PendingDetection
from tests.conftest import require_service
from tests.conversations.mirror import snapshot
from tests.reliability.processes import ROOT, ConsoleServer, RedisServer, database_url_for_children
from tests.reliability.test_convergence import mirror_difference
from tests.webhooks import event

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONVERSATIONS = 20
EVENTS_PER_CONVERSATION = 50
COPIES = 3
CLIENTS = 8


def conversation_stream(number: int) -> list[dict]:
    """50 events of one conversation: start, joins, messages, a transfer that drops context, leaves, close.

    Every fourth conversation is still open at the end (no close), every fifth has a late expiry after
    its close (the earliest terminal fact must win whatever the arrival order).
    """
    cid = f"storm-{number:02d}"
    offset = number * 600  # seconds: the conversations overlap in time only a little
    events: list[dict] = []

    def add(kind: str, data: dict) -> None:
        seq = len(events) + 1
        events.append(event(f"{cid}-e{seq:02d}", kind, cid, seq, data, seconds=offset + seq * 2))

    customer, agent_1, agent_2 = f"{cid}-cust", f"{cid}-a1", f"{cid}-a2"
    add(
        "conversation.started",
        {
            "channel": "web",
            "tenant": "acme" if number % 2 else "globex",
            "customerKey": f"cust-{number % 7}",
            "routingData": {"queueId": "q-sales", "skillRequirements": ["en", "sales"], "priority": number % 3},
            "customAttributes": {"tier": "gold", "lang": "en", "cart": str(number)},
        },
    )
    add("participant.joined", {"participantId": customer, "role": "customer", "name": "Customer"})
    add("participant.joined", {"participantId": agent_1, "role": "agent", "name": "Ann", "queueId": "q-sales"})
    add("conversation.state_changed", {"state": "active"})
    closing = 4 if number % 4 != 3 else 0
    late_expiry = 1 if number % 5 == 0 else 0
    fixed_after = 8 + closing + late_expiry  # events after the messages besides the transfer block
    messages = EVENTS_PER_CONVERSATION - len(events) - fixed_after
    for index in range(messages):
        if index == messages // 2:
            add(
                "conversation.attributes_updated",
                {"customAttributes": {"tier": "gold", "lang": "en", "cart": str(number), "vip": "yes"}},
            )
            add(
                "conversation.transferred",
                {
                    "fromParticipantId": agent_1,
                    "toParticipantId": agent_2,
                    "fromQueueId": "q-sales",
                    "toQueueId": "q-billing",
                    "routingData": {"queueId": "q-billing", "priority": number % 3},
                    "customAttributes": {"tier": "gold", "lang": "en"},
                },
            )
            add("participant.left", {"participantId": agent_1, "disconnectType": "transfer"})
            add(
                "participant.joined",
                {"participantId": agent_2, "role": "agent", "name": "Bob", "queueId": "q-billing"},
            )
            add("participant.state_changed", {"participantId": agent_2, "state": "alerting"})
            add("participant.state_changed", {"participantId": agent_2, "state": "connected"})
        inbound = index % 2 == 0
        speaker = customer if inbound else (agent_1 if index < messages // 2 else agent_2)
        add(
            "message.created",
            {
                "messageId": f"{cid}-m{index:02d}",
                "participantId": speaker,
                "direction": "inbound" if inbound else "outbound",
                "text": f"message {index} of {cid}",
                "idempotencyKey": f"{cid}-k{index}",
            },
        )
    add("participant.state_changed", {"participantId": customer, "state": "connected"})
    add("conversation.attributes_updated", {"routingData": {"queueId": "q-billing", "priority": 1}})
    if closing:
        add("participant.left", {"participantId": customer, "disconnectType": "client"})
        add("participant.left", {"participantId": agent_2, "disconnectType": "peer"})
        add("conversation.state_changed", {"state": "closed", "reason": "resolved"})
        add(
            "message.created",
            {"messageId": f"{cid}-late", "participantId": agent_2, "direction": "outbound", "text": "after close"},
        )
    if late_expiry:
        add("conversation.state_changed", {"state": "expired", "reason": "ttl"})
    assert len(events) == EVENTS_PER_CONVERSATION, (cid, len(events))
    return events


EVENTS = [payload for number in range(CONVERSATIONS) for payload in conversation_stream(number)]


def _request(payload: dict) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    timestamp = int(time.time())  # signed at send time, as a platform's retry is
    return body, {
        "content-type": "application/json",
        "webhook-id": payload["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings.CONSOLE_WEBHOOK_SECRETS[0], payload["id"], timestamp, body),
    }


def _post(http: httpx.Client, payload: dict) -> tuple[int, str]:
    body, headers = _request(payload)
    response = http.post("/webhooks/native/", content=body, headers=headers)
    status = response.json().get("status", "") if response.status_code == 200 else response.text[:300]
    return response.status_code, status


def _deliver_in_order(base: str) -> Counter:
    answers: Counter = Counter()
    with httpx.Client(base_url=base, timeout=30) as http:
        for payload in EVENTS:
            answers[_post(http, payload)] += 1
    return answers


def _deliver_storm(base: str, deliveries: list[dict]) -> tuple[Counter, dict]:
    """8 clients take deliveries from one shuffled queue; answers per (status code, outcome) and per event."""
    lock = threading.Lock()
    queue = list(reversed(deliveries))
    answers: Counter = Counter()
    accepted_by_event: Counter = Counter()
    errors: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            start.wait(timeout=30)
            while True:
                with lock:
                    if not queue:
                        return
                    payload = queue.pop()
                try:
                    code, outcome = _post(http, payload)
                except httpx.HTTPError as error:  # a connection error is an answer too: it must not happen
                    code, outcome = 0, f"{type(error).__name__}: {error}"
                with lock:
                    answers[(code, outcome if code == 200 else "error")] += 1
                    if code == 200 and outcome in ACCEPTED_OUTCOMES:
                        accepted_by_event[payload["id"]] += 1
                    elif code != 200:
                        errors.append(f"{payload['id']}: {code} {outcome}")

    threads = [threading.Thread(target=client, name=f"storm-client-{n}") for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a storm client did not finish within 120 s"
    assert not errors, f"{len(errors)} deliveries not answered 200, first: {errors[:5]}"
    return answers, accepted_by_event


def _reset() -> None:
    Conversation.objects.all().delete()
    WebhookReceipt.objects.all().delete()
    PendingDetection.objects.all().delete()
    Finding.objects.all().delete()
    AuditEntry.objects.all().delete()


@pytest.fixture
def console_server(transactional_db, tmp_path):
    """Two uvicorn worker processes on the test database, with a private Redis as broker and channel layer."""
    require_service("redis-server", shutil.which("redis-server") is not None, "redis-server is not installed")
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url_for_children(),
        DATABASE_POOL_SIZE="4",  # the ASGI HTTP path needs the pool (docs/architecture.md, "Two ways to run")
        REDIS_URL=redis_server.url,
        WEBHOOK_RATE_LIMIT_PER_MINUTE="0",
        PYTHONUNBUFFERED="1",
    )
    log_path = ROOT / "test-output" / "duplicate-storm-uvicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    server = ConsoleServer(env, log_path, workers=2)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        redis_server.stop()
    assert "Traceback" not in server.output(), server.output()[-3000:]


def test_the_same_1000_webhooks_3_times_from_8_clients_apply_once_and_match_the_in_order_mirror(console_server):
    assert len({payload["id"] for payload in EVENTS}) == 1000

    in_order = _deliver_in_order(console_server.url)
    assert in_order == Counter({(200, "applied"): 1000})
    expected = snapshot()
    assert len(expected["conversations"]) == CONVERSATIONS
    _reset()

    deliveries = EVENTS * COPIES
    random.Random(10).shuffle(deliveries)
    started = time.monotonic()
    answers, accepted_by_event = _deliver_storm(console_server.url, deliveries)
    elapsed = time.monotonic() - started

    # Each event accepted (applied, or stale when a later event of its conversation arrived first) by
    # exactly one of its three deliveries; the two others answered 200 duplicate (a platform retries
    # anything else).
    assert set(accepted_by_event) == {payload["id"] for payload in EVENTS}
    assert set(accepted_by_event.values()) == {1}
    assert answers[(200, "duplicate")] == 2000
    assert answers[(200, "applied")] + answers[(200, "stale")] == 1000
    assert answers[(200, "stale")] > 0, "the shuffle produced no out-of-order arrival: the test proves too little"
    assert sum(answers.values()) == 3000

    receipts = Counter(WebhookReceipt.objects.values_list("outcome", flat=True))
    assert receipts["applied"] + receipts["stale"] == 1000
    assert receipts["duplicate"] == 2000
    assert sum(receipts.values()) == 3000
    assert WebhookReceipt.objects.filter(outcome__in=ACCEPTED_OUTCOMES).values("event_id").distinct().count() == 1000

    problems = mirror_difference(snapshot(), expected)
    assert not problems, "\n".join(problems)
    print(f"storm: 3000 deliveries in {elapsed:.1f} s ({3000 / elapsed:.0f}/s), {dict(answers)}")
