"""A transaction that rolls back enqueues no task and pushes no socket event (issue 10, item 8).

For every place that defers work until the commit — webhook ingest (detector mark, debounced
detector run, timeline and dashboard pushes), telemetry intake (detector run), reconciliation
(detector run, pushes), an interactive force-close that fails on the platform, a force-close retry
that succeeds, the expiry sweep, a detector raising a finding, the socket-health sample — the real
work runs inside ``transaction.atomic()``, is seen to have happened, and an exception rolls it back.
Then nothing may reach the Celery broker (a real Redis: the queue's messages are read), nothing
may be stored as a DeferredJob (broker down), and nothing may arrive on the channel-layer groups
(channels_redis on the same Redis). Each case ends with the same work committed, which must
enqueue and push: the control that shows the probes see what they look for.

tests/console/test_consumers.py proves the same for a websocket client and ``send_on_commit``
itself; tests/console/test_jobs.py for ``enqueue_on_commit`` with captured callbacks.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
import respx
from channels.layers import channel_layers
from django.db import transaction
from django.test import Client
from django.utils import timezone

from console.actions import record_socket_health_sample
from console.events import HEALTH_GROUP, conversation_group
from console.models import AuditEntry, DeferredJob, SocketHealthSample
from conversations.actions import attempt_force_close, expire_stale, force_close, reconcile_with_platform
from conversations.models import Conversation, ForceCloseRequest, WebhookReceipt
from diagnostics.actions import create_deployment, run_detectors
from diagnostics.models import Finding, PendingDetection, TelemetryBeacon
from tests.conftest import require_service
from tests.console.broker import celery_broker, free_port
from tests.conversations.lifecycle import start_conversation
from tests.reliability.processes import RedisServer
from tests.webhooks import event, post_native

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

CONVERSATION = "c-rollback"
PLATFORM = "http://platform.test/sim"
ORIGIN = "https://www.example.com"
RUN_DETECTORS = "diagnostics.tasks.run_detectors"
RUN_PENDING_DETECTORS = "diagnostics.tasks.run_pending_detectors"


class RolledBack(Exception):
    pass


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    require_service("redis-server", shutil.which("redis-server") is not None, "redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("rollback-redis"))
    server.start()
    yield server
    server.stop()


@dataclass
class Probes:
    """What left the process after a commit: broker messages, deferred jobs, channel-layer messages."""

    broker: redis.Redis | None
    layer: object
    channel: str
    loop: asyncio.AbstractEventLoop  # channels_redis binds a channel's receive buffer to one loop

    def queued_tasks(self) -> list[str]:
        """Task names of the messages waiting in the broker's queues (kombu keeps each queue as a list)."""
        if self.broker is None:
            return []
        names = []
        for key in self.broker.scan_iter(count=1000):
            if self.broker.type(key) != b"list":
                continue
            for raw in self.broker.lrange(key, 0, -1):
                names.append(json.loads(raw)["headers"]["task"])
        return names

    def deferred_tasks(self) -> list[str]:
        return list(DeferredJob.objects.values_list("task_name", flat=True))

    def pushed(self, wait: float = 0.2) -> list[str]:
        """Message types received on the subscribed groups (the sends are done when the commit returns)."""

        async def drain():
            types = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=wait)
                except TimeoutError:
                    return types
                types.append(message["type"])

        return self.loop.run_until_complete(drain())

    def clear(self) -> None:
        if self.broker is not None:
            self.broker.flushdb()
        DeferredJob.objects.all().delete()
        self.pushed(wait=0.1)


GROUPS = (HEALTH_GROUP, conversation_group(CONVERSATION))


def _subscribed_layer(settings, redis_server, loop):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{redis_server.port}/1"], "prefix": "rollback"},
        }
    }
    channel_layers.backends.clear()
    layer = channel_layers["default"]
    channel = loop.run_until_complete(layer.new_channel())
    for group in GROUPS:
        loop.run_until_complete(layer.group_add(group, channel))
    return layer, channel


@pytest.fixture
def probes(request, settings, redis_server, monkeypatch):
    monkeypatch.setattr("conversations.platforms.base.pause", lambda seconds: None)
    settings.NATIVE_PLATFORM_URL = PLATFORM
    settings.NATIVE_PLATFORM_TOKEN = ""
    loop = asyncio.new_event_loop()
    layer, channel = _subscribed_layer(settings, redis_server, loop)
    up = request.param == "broker up"  # indirect parameter of each test
    broker_url = redis_server.url if up else f"redis://127.0.0.1:{free_port()}/0"
    broker = redis.Redis(port=redis_server.port, db=0) if up else None
    if broker is not None:
        broker.flushdb()
    with celery_broker(broker_url), respx.mock(assert_all_called=False) as platform:
        yield Probes(broker, layer, channel, loop), platform
    for group in GROUPS:
        loop.run_until_complete(layer.group_discard(group, channel))
    loop.close()
    channel_layers.backends.clear()


def _active_conversation() -> Conversation:
    return start_conversation(Client(), CONVERSATION, active=True)


def _listing(*conversations) -> dict:
    return {"conversations": [{"id": cid, "state": state, "lastActivityAt": ""} for cid, state in conversations]}


# --- the places that defer work until the commit: setup (committed), work, proof it happened -----


def setup_nothing(platform):
    return None


def ingest_work(platform, _):
    payload = event(
        "evt-rollback-message",
        "message.created",
        CONVERSATION,
        7,
        {"messageId": "m-rb", "direction": "inbound", "text": "hello"},
    )
    assert post_native(Client(), payload).json()["status"] == "applied"


def ingest_happened() -> bool:
    return WebhookReceipt.objects.filter(event_id="evt-rollback-message").exists() and PendingDetection.objects.exists()


def telemetry_setup(platform):
    return create_deployment(name="Widgets", origins=[ORIGIN], actor="test")


def telemetry_work(platform, deployment):
    beacon = {
        "id": "b-rollback",
        "kind": "socket.state",
        "sessionKey": "s-rollback",
        "sentAt": timezone.now().isoformat(),
        "conversationId": CONVERSATION,
        "participantId": "p-customer",
        "event": "heartbeat",
        "readyState": 1,
        "rttMs": 40,
    }
    response = Client().post(
        "/telemetry/",
        data=json.dumps({"beacons": [beacon]}),
        content_type="application/json",
        HTTP_X_DEPLOYMENT_KEY=deployment.key,
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 202 and response.json()["accepted"] == 1, response.content


def telemetry_happened() -> bool:
    return TelemetryBeacon.objects.filter(beacon_id="b-rollback").exists()


def reconcile_setup(platform):
    _active_conversation()
    platform.get(f"{PLATFORM}/api/conversations", params={"state": "active"}).respond(200, json=_listing())
    platform.get(f"{PLATFORM}/api/conversations/{CONVERSATION}").respond(
        200, json={"id": CONVERSATION, "state": "closed", "participants": []}
    )


def reconcile_work(platform, _):
    assert reconcile_with_platform()["native"]["corrected"] == 1


def reconcile_happened() -> bool:
    return Conversation.objects.get(pk=CONVERSATION).close_reason == "platform_closed"


def failing_force_close_setup(platform):
    _active_conversation()
    platform.post(f"{PLATFORM}/api/conversations/{CONVERSATION}/close").respond(503, json={"detail": "maintenance"})


def failing_force_close_work(platform, _):
    outcome = force_close(CONVERSATION, reason="ghost", actor="user:admin", idempotency_key="k-rollback")
    assert outcome.status == "pending", outcome


def failing_force_close_happened() -> bool:
    return AuditEntry.objects.filter(action="conversation.force_close_failed").exists()


def retry_setup(platform):
    """A force-close whose first attempt failed (committed); the retry (force_close_retry's step) succeeds."""
    failing_force_close_setup(platform)
    failing_force_close_work(platform, None)
    platform.routes.clear()
    platform.get(f"{PLATFORM}/api/conversations/{CONVERSATION}").respond(
        200, json={"id": CONVERSATION, "state": "active", "participants": []}
    )
    platform.post(f"{PLATFORM}/api/conversations/{CONVERSATION}/close").respond(
        200, json={"id": CONVERSATION, "state": "closed"}
    )
    return ForceCloseRequest.objects.get(conversation_id=CONVERSATION).pk


def retry_work(platform, request_pk):
    outcome = attempt_force_close(request_pk, now=timezone.now() + timedelta(hours=1))
    assert outcome.status == "closed", outcome


def retry_happened() -> bool:
    return Conversation.objects.get(pk=CONVERSATION).close_reason == "force_closed"


def expiry_setup(platform):
    _active_conversation()  # its events are days old: idle past the 15-minute TTL


def expiry_work(platform, _):
    assert [item["conversationId"] for item in expire_stale()] == [CONVERSATION]


def expiry_happened() -> bool:
    return Conversation.objects.get(pk=CONVERSATION).state == "expired"


def finding_work(platform, _):
    run_detectors([CONVERSATION])


def finding_happened() -> bool:
    return Finding.objects.filter(conversation_id=CONVERSATION, kind="stale_session").exists()


def sample_work(platform, _):
    record_socket_health_sample()


def sample_happened() -> bool:
    return SocketHealthSample.objects.exists()


@dataclass(frozen=True)
class Place:
    name: str
    setup: object
    work: object
    happened: object
    tasks: frozenset  # task names the committed work enqueues
    pushes: frozenset  # message types the committed work pushes to the health and conversation groups


PLACES = [
    Place(
        "webhook ingest",
        setup_nothing,
        ingest_work,
        ingest_happened,
        frozenset({RUN_PENDING_DETECTORS}),
        frozenset({"timeline.event", "health.update", "conversation.updated"}),
    ),
    Place(
        "telemetry intake", telemetry_setup, telemetry_work, telemetry_happened, frozenset({RUN_DETECTORS}), frozenset()
    ),
    Place(
        "reconciliation",
        reconcile_setup,
        reconcile_work,
        reconcile_happened,
        frozenset({RUN_DETECTORS}),
        frozenset({"conversation.updated", "timeline.event", "health.update"}),
    ),
    Place(
        "force-close failing on the platform",
        failing_force_close_setup,
        failing_force_close_work,
        failing_force_close_happened,
        frozenset(),
        frozenset({"conversation.updated", "timeline.event"}),
    ),
    Place(
        "force-close retry",
        retry_setup,
        retry_work,
        retry_happened,
        frozenset(),
        frozenset({"conversation.updated", "timeline.event", "health.update"}),
    ),
    Place("expiry sweep", expiry_setup, expiry_work, expiry_happened, frozenset(), frozenset({"conversation.updated"})),
    Place("detector finding", expiry_setup, finding_work, finding_happened, frozenset(), frozenset({"finding.raised"})),
    Place(
        "socket-health sample", setup_nothing, sample_work, sample_happened, frozenset(), frozenset({"health.update"})
    ),
]


# Broker down: the places that enqueue tasks, whose jobs would then be stored as DeferredJob rows.
CASES = [pytest.param(place, "broker up", id=f"{place.name}, broker up") for place in PLACES] + [
    pytest.param(place, "broker down", id=f"{place.name}, broker down") for place in PLACES if place.tasks
]


@pytest.mark.parametrize(("place", "probes"), CASES, indirect=["probes"])
def test_a_rolled_back_transaction_enqueues_no_task_and_pushes_nothing(place, probes):
    probe, platform = probes
    context = place.setup(platform)
    probe.clear()  # what the committed setup enqueued and pushed

    with pytest.raises(RolledBack), transaction.atomic():
        place.work(platform, context)
        assert place.happened(), f"{place.name}: the work did not happen inside the transaction"
        raise RolledBack

    assert not place.happened(), f"{place.name}: the rollback left the change behind"
    assert probe.queued_tasks() == []
    assert probe.deferred_tasks() == []
    assert probe.pushed() == []

    # Control: the same work committed reaches the broker (or, broker down, the deferred jobs) and the groups.
    with transaction.atomic():
        place.work(platform, context)
    assert place.happened()
    enqueued = probe.queued_tasks() if probe.broker is not None else probe.deferred_tasks()
    assert set(enqueued) == place.tasks
    if probe.broker is not None:
        assert probe.deferred_tasks() == []
    assert place.pushes <= set(probe.pushed())
