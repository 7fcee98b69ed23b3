"""Redis stopped under traffic (issue 10, item 4), against real processes in the production shape.

A uvicorn server (webhooks and ``ws/health/`` on channels_redis), a celery worker and a beat use a
private redis-server and the test database. An authenticated supervisor's live socket is open; it stays
quiet for longer than redis-py's default socket timeout (5 s) and must still receive pushes. Then Redis
is stopped for ``RELIABILITY_REDIS_OUTAGE_SECONDS`` (default 30) while a platform keeps sending
webhooks. Promise: every webhook is answered 2xx at once and stored during the outage; the deferred
follow-up (the debounced detectors) runs after Redis is back; the live socket is closed with 1012
("service restart": the consumer's channel-layer read failed) and its reconnects are refused with 503 at
the handshake (joining the group needs Redis) while Redis is away; like the dashboard's live.js
(reconnect after a close, with backoff) it is live again afterwards: it receives the pushes of new
webhooks.

Observed: the worker reconnects with Celery's growing interval (2, 4, 6, ... s, at most 30 s), so the
deferred work runs up to ~14 s after a 30 s outage ends; the test takes 50-60 s.
RELIABILITY_REDIS_OUTAGE_SECONDS=10 makes a quicker local run.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pytest
from django.conf import settings

from console.models import DeferredJob
from conversations.models import WebhookReceipt
from diagnostics.models import PendingDetection
from tests.console.broker import celery_broker, install_detectors_task
from tests.reliability.processes import (
    CeleryServices,
    ConsoleServer,
    NativeSender,
    console_env,
    database_url_for_children,
    schedule_every_second,
    wait_until,
)
from tests.webhooks import event

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

OUTAGE_SECONDS = float(os.environ.get("RELIABILITY_REDIS_OUTAGE_SECONDS", "30"))
QUIET_SECONDS = 7  # longer than redis-py's default socket timeout (5 s) and channels_redis' BZPOPMIN (5 s)
WEBHOOK_EVERY = 0.5  # seconds between deliveries during the outage


class LiveSocket:
    """A supervisor's ``ws/health/`` socket, kept open from a thread the way live.js keeps it: after a close
    or a refused handshake it connects again (here every 0.5 s: the test needs no backoff). Records
    ``(monotonic time, kind, data)`` with kinds open, message, closed, refused."""

    def __init__(self, url: str, headers: dict):
        self.url, self.headers = url, headers
        self.records: list[tuple[float, str, object]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    def _record(self, kind: str, data: object = None) -> None:
        self.records.append((time.monotonic(), kind, data))

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        while not self.stopping.is_set():
            try:
                async with connect(self.url, additional_headers=self.headers, open_timeout=5, ping_interval=None) as ws:
                    self._record("open")
                    while not self.stopping.is_set():
                        try:
                            message = await asyncio.wait_for(ws.recv(), 0.25)
                        except TimeoutError:
                            continue
                        self._record("message", json.loads(message))
            except ConnectionClosed as closed:
                self._record("closed", closed.rcvd.code if closed.rcvd else None)
            except InvalidStatus as refused:
                self._record("refused", refused.response.status_code)
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self._record("refused", repr(error)[:200])
            await asyncio.sleep(0.5)

    def since(self, start: float, kind: str | None = None) -> list[tuple[float, str, object]]:
        return [record for record in self.records if record[0] >= start and (kind is None or record[1] == kind)]

    def pushed(self, start: float, conversation_id: str) -> bool:
        return any(
            isinstance(data, dict)
            and data.get("type") == "health.update"
            and data.get("conversation", {}).get("conversationId") == conversation_id
            for _, _, data in self.since(start, "message")
        )

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


def started(conversation_id: str) -> dict:
    return event(f"{conversation_id}-start", "conversation.started", conversation_id, 1, {"channel": "web"})


def message(conversation_id: str, seq: int) -> dict:
    data = {"messageId": f"m-{seq}", "participantId": "cu", "direction": "inbound", "text": f"line {seq}"}
    return event(f"{conversation_id}-{seq}", "message.created", conversation_id, seq, data)


def test_webhooks_are_stored_follow_ups_run_and_live_pages_reconnect_across_a_redis_outage(
    client, transactional_db, supervisor, redis_server, tmp_path
):
    install_detectors_task()
    schedule_every_second("console.tasks.flush_deferred_jobs")
    env = console_env(database_url_for_children(), redis_server.url, CONSOLE_DETECTOR_DEBOUNCE_SECONDS="1")
    server = ConsoleServer(env, tmp_path / "uvicorn.log")
    services = CeleryServices(env, tmp_path)
    sender = NativeSender(settings.CONSOLE_WEBHOOK_SECRETS[0], give_up_after=5)
    socket = None
    try:
        server.wait_ready()
        client.force_login(supervisor)
        socket = LiveSocket(
            f"ws://127.0.0.1:{server.port}/ws/health/",
            {"Origin": server.url, "Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        )
        wait_until(lambda: socket.since(0, "message"), 15, "the live socket's hello")
        opened = time.monotonic()

        with celery_broker(redis_server.url):
            services.worker()
            services.beat()

            # A quiet socket outlives redis-py's socket timeout and still hears pushes.
            time.sleep(max(0.0, QUIET_SECONDS - (time.monotonic() - opened)))
            assert sender.deliver(server.url, started("c-before")).status_code == 200
            wait_until(lambda: socket.pushed(opened, "c-before"), 10, "the push of c-before on the quiet socket")
            assert [kind for _, kind, _ in socket.since(0) if kind != "message"] == ["open"], socket.records

            # The outage: the platform keeps sending, every delivery is answered 2xx at once.
            stopping = time.monotonic()
            redis_server.stop()
            outage_started = time.monotonic()
            answers = []
            seq = 0
            while time.monotonic() - outage_started < OUTAGE_SECONDS:
                seq += 1
                payload = started(f"c-out-{seq}") if seq % 2 else message(f"c-out-{seq - 1}", seq)
                sent = time.monotonic()
                response = sender.deliver(server.url, payload)
                answers.append((response.status_code, response.json()["status"], time.monotonic() - sent))
                time.sleep(max(0.0, WEBHOOK_EVERY - (time.monotonic() - sent)))
            during_outage = socket.since(stopping)
            redis_server.start()
            back = time.monotonic()

            assert {(status, outcome) for status, outcome, _ in answers} == {(200, "applied")}, answers
            assert len(sender.attempts) == len(answers) + 1, "a delivery needed a retry during the outage"
            slowest = max(latency for _, _, latency in answers)
            assert slowest < 2, f"a webhook took {slowest:.1f} s during the outage"
            stored = WebhookReceipt.objects.filter(event_id__startswith="c-out-", outcome="applied").count()
            assert stored == len(answers) == seq
            assert DeferredJob.objects.filter(task_name="diagnostics.tasks.run_pending_detectors").exists()
            assert PendingDetection.objects.filter(conversation_id__startswith="c-out-").exists()
            # The live socket noticed: it was closed with 1012 (service restart: reconnect) and its reconnects
            # were refused with 503 at the handshake while Redis was away.
            assert [data for _, kind, data in during_outage if kind == "closed"] == [1012], during_outage
            assert {data for _, kind, data in during_outage if kind == "refused"} == {503}, during_outage
            assert not [data for _, kind, data in during_outage if kind == "message"], during_outage

            # After the outage: the deferred follow-up runs (published by flush_deferred_jobs) ...
            def follow_up_ran() -> bool:
                return any(
                    record["task"] == "diagnostics.tasks.run_pending_detectors" and record["state"] == "SUCCESS"
                    for record in services.probed()
                )

            wait_until(follow_up_ran, 60, "the deferred detectors to run after Redis came back")
            wait_until(lambda: not PendingDetection.objects.exists(), 20, "every marked conversation examined")
            wait_until(lambda: not DeferredJob.objects.exists(), 20, "the deferred jobs to be published")

            # ... and the live page is live again: a new webhook's push reaches it.
            after: list[str] = []

            def live_again() -> bool:
                after.append(f"c-after-{len(after)}")
                assert sender.deliver(server.url, started(after[-1])).status_code == 200
                return any(socket.pushed(back, conversation_id) for conversation_id in after)

            wait_until(live_again, 30, "a push to reach the live socket after the outage", interval=1)
    finally:
        if socket is not None:
            socket.stop()
        sender.close()
        services.stop_all()
        server.stop()
