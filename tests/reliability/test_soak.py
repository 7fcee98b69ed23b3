"""Soak: steady traffic against real processes for SOAK_SECONDS, then what must still hold.

Processes: one uvicorn serving ``console.asgi`` (webhooks, telemetry, pages and /ws/; DEBUG off,
the psycopg pool as the ASGI path needs), a Celery worker, a private redis-server (broker, channel
layer, cache), the suite's PostgreSQL. Traffic, open loop at fixed rates from this process:

* signed ``native`` webhooks at SOAK_RATE per second: conversations that start, get a customer and
  an agent, exchange messages, change a participant's state, and close (customer leaves, then
  ``conversation.state_changed`` closed), many interleaved; 10 % go to the ten "pinned"
  conversations whose pages are open;
* telemetry batches (10 beacons: session.init and socket heartbeats) at SOAK_RATE / 10 per second;
* 20 authenticated websocket clients (10 on ws/health/, 10 on the pinned conversations'
  ws/conversations/<id>/), one more on a conversation without traffic (an idle socket must stay
  open: it did not with redis-py 8's default read timeout), and one page load a second.

Then: no error answer (every webhook 200, every batch 202, every page 200, no traceback in the
server log); every 2xx'd event has its stored receipt and every accepted beacon its row; the RSS of
the server, the worker (its whole process group) and redis flat (after warm-up, the last third's
max within the first third's max + ``RSS_TOLERANCE``); the queue (broker list + unacked + deferred
jobs + detection marks) bounded and drained at the end; every socket still receiving in the last
third and answering a ping at the end.

CI: 60 s at 20 webhooks/s (SOAK_SECONDS, SOAK_RATE). ``make soak``: 600 s at 100/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from console.models import DeferredJob
from conversations.ingest.canonical import format_instant
from conversations.ingest.native import sign
from conversations.models import WebhookReceipt
from diagnostics.actions import create_deployment
from diagnostics.models import PendingDetection, TelemetryBeacon
from tests.reliability.processes import (
    CeleryProcess,
    ConsoleServer,
    database_url_for_children,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
SOAK_RATE = float(os.environ.get("SOAK_RATE", "20"))
TELEMETRY_RATE = max(1.0, SOAK_RATE / 10)  # batches per second, 10 beacons each
PAGE_RATE = 1.0
PINNED = 10  # conversations with an open page (a ws/conversations/<id>/ socket each)
HEALTH_SOCKETS = 10
IDLE = "page-idle"
QUIET_SECONDS = 6.5
WARMUP_FRACTION = 0.2  # the first fifth: imports, pools, caches and allocator arenas fill up
# RSS flatness: CPython's RSS moves by a few MiB with garbage collection, allocator arenas and the
# size of the batch in flight (measured: ±3 MiB run to run at 20/s); 8 MiB plus 10 % of the first
# third absorbs that, and a leak of 1 KiB per webhook still trips it within 600 s at 100/s (60 MiB).
RSS_TOLERANCE_MIB = 8.0
RSS_TOLERANCE_FRACTION = 0.10
ORIGIN = "https://shop.soak.example"


# --- traffic ----------------------------------------------------------------------------------------


def _instant(at: datetime) -> str:
    return format_instant(at)


class Traffic:
    """The webhook stream, built lazily in send order (deterministic for a seed)."""

    def __init__(self, seed: int = 10):
        self.rng = random.Random(seed)
        self.start = datetime.now(UTC)
        self.count = 0
        self.open: list[dict] = []
        self.started = 0
        self.pinned = [{"id": f"soak-pinned-{n}", "seq": 2, "messages": 0} for n in range(PINNED)]
        self.idle = {"id": "soak-idle", "seq": 0, "messages": 0}
        self.mix: dict[str, int] = {}

    def _event(self, conv: dict, kind: str, data: dict) -> dict:
        conv["seq"] += 1
        self.count += 1
        self.mix[kind] = self.mix.get(kind, 0) + 1
        return {
            "id": f"soak-e{self.count}",
            "type": kind,
            "occurredAt": _instant(self.start + timedelta(milliseconds=self.count)),
            "conversationId": conv["id"],
            "sequence": conv["seq"],
            "data": data,
        }

    def _message(self, conv: dict) -> dict:
        conv["messages"] += 1
        inbound = self.rng.random() < 0.5
        return self._event(
            conv,
            "message.created",
            {
                "messageId": f"{conv['id']}-m{conv['messages']}",
                "participantId": f"{conv['id']}-{'cust' if inbound else 'agent'}",
                "direction": "inbound" if inbound else "outbound",
                "text": f"message {conv['messages']}: " + "lorem ipsum " * self.rng.randint(1, 6),
                "idempotencyKey": f"{conv['id']}-k{conv['messages']}",
            },
        )

    def pinned_start(self) -> list[dict]:
        events = []
        for conv in [*self.pinned, self.idle]:
            conv["seq"] = 0
            events.append(
                self._event(
                    conv, "conversation.started", {"channel": "webchat", "tenant": "acme", "customerKey": conv["id"]}
                )
            )
            events.append(
                self._event(conv, "participant.joined", {"participantId": f"{conv['id']}-cust", "role": "customer"})
            )
        return events

    def next(self) -> dict:
        if self.count % 10 == 0:
            return self._message(self.pinned[(self.count // 10) % PINNED])
        if len(self.open) < max(20, int(SOAK_RATE * 3)):
            self.started += 1
            conv = {"id": f"soak-c{self.started}", "seq": 0, "messages": 0, "left": self.rng.randint(4, 14)}
            self.open.append(conv)
            return self._event(
                conv,
                "conversation.started",
                {
                    "channel": "webchat",
                    "tenant": "acme",
                    "customerKey": f"cust-{self.started}",
                    "routingData": {"queueId": "q-sales", "skillRequirements": ["en"], "priority": 5},
                    "customAttributes": {"page": "/pricing"},
                },
            )
        conv = self.rng.choice(self.open)
        if conv["seq"] == 1:
            return self._event(conv, "participant.joined", {"participantId": f"{conv['id']}-cust", "role": "customer"})
        if conv["seq"] == 2:
            return self._event(conv, "participant.joined", {"participantId": f"{conv['id']}-agent", "role": "agent"})
        if conv["left"] == 0:
            conv["left"] = -1
            return self._event(
                conv, "participant.left", {"participantId": f"{conv['id']}-cust", "disconnectType": "client"}
            )
        if conv["left"] < 0:
            self.open.remove(conv)
            return self._event(conv, "conversation.state_changed", {"state": "closed", "reason": "customer left"})
        conv["left"] -= 1
        if self.rng.random() < 0.05:
            return self._event(
                conv, "participant.state_changed", {"participantId": f"{conv['id']}-agent", "state": "connected"}
            )
        return self._message(conv)

    def beacons(self, batch: int, deployment_key: str) -> list[dict]:
        now = datetime.now(UTC)
        out = []
        for n in range(10):
            conv = self.rng.choice(self.pinned + self.open) if self.open else self.pinned[n % PINNED]
            session = f"soak-session-{conv['id']}"
            common = {"id": f"soak-b{batch}-{n}", "sentAt": _instant(now), "sessionKey": session}
            if n == 0:
                out.append(
                    {
                        **common,
                        "kind": "session.init",
                        "origin": ORIGIN,
                        "storage": "local",
                        "storedConversationId": conv["id"],
                        "validated": True,
                        "validationResult": "resumed",
                        "conversationId": conv["id"],
                    }
                )
            else:
                out.append(
                    {
                        **common,
                        "kind": "socket.state",
                        "conversationId": conv["id"],
                        "participantId": f"{conv['id']}-cust",
                        "event": "heartbeat",
                        "readyState": 1,
                        "rttMs": self.rng.randint(20, 90),
                    }
                )
        return out


def signed_request(event: dict, secret: str) -> tuple[bytes, dict]:
    body = json.dumps(event, separators=(",", ":")).encode()
    timestamp = int(time.time())
    return body, {
        "Content-Type": "application/json",
        "webhook-id": event["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, event["id"], timestamp, body),
    }


# --- measurements ---------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 - /proc, read at once
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def group_rss_mib(pgid: int) -> float:
    """The worker: its main process and pool children (same process group)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += rss_mib(int(entry))
    return total


@dataclass
class Samples:
    times: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)
    depth: list[int] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)


class Sampler(threading.Thread):
    """Once a second: RSS per process, queue depth (broker list + unacked + deferred jobs), detection marks."""

    def __init__(self, pids: dict[str, tuple[int, bool]], broker: redis.Redis):
        super().__init__(daemon=True)
        self.pids, self.broker = pids, broker
        self.samples = Samples(rss={name: [] for name in pids})
        self.stop = threading.Event()
        self.began = time.monotonic()

    def depth(self) -> int:
        return int(self.broker.llen("celery")) + int(self.broker.hlen("unacked")) + DeferredJob.objects.count()

    def run(self):
        try:
            while not self.stop.is_set():
                self.samples.times.append(time.monotonic() - self.began)
                for name, (pid, group) in self.pids.items():
                    self.samples.rss[name].append(group_rss_mib(pid) if group else rss_mib(pid))
                self.samples.depth.append(self.depth())
                self.samples.marks.append(PendingDetection.objects.count())
                self.stop.wait(1.0)
        finally:
            connection.close()


def thirds(values: list[float], times: list[float], warmup: float) -> tuple[list[float], list[float]]:
    kept = [value for value, at in zip(values, times, strict=True) if at >= warmup]
    third = max(1, len(kept) // 3)
    return kept[:third], kept[-third:]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- processes -------------------------------------------------------------------------------------


def server_env(redis_url: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
    env.update(
        # The production settings with the test ones' static storage (no collectstatic manifest needed).
        DJANGO_SETTINGS_MODULE="tests.settings",
        DEBUG="0",
        SECRET_KEY=settings.SECRET_KEY,  # the session cookies made here must verify there
        CONSOLE_ENV_FILE="/nonexistent",
        DATABASE_URL=database_url_for_children(),
        DATABASE_POOL_SIZE="8",
        REDIS_URL=redis_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CONSOLE_WEBHOOK_SECRETS=",".join(settings.CONSOLE_WEBHOOK_SECRETS),
        TELEMETRY_RATE_LIMIT_PER_MINUTE="0",
        API_RATE_LIMIT_PER_MINUTE="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Outcome:
    webhooks: list[tuple[str, int, float]] = field(default_factory=list)  # event id, status, latency ms
    telemetry: list[tuple[int, int, float]] = field(default_factory=list)  # accepted, status, latency ms
    accepted_beacons: list[str] = field(default_factory=list)
    pages: list[tuple[str, int]] = field(default_factory=list)
    sockets: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # name -> (t, type)
    pongs: dict[str, bool] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def http(port: int, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
    """One request on its own connection (``Connection: close``), the answer read to EOF. Much cheaper
    for this process than an HTTP client library, which matters: it shares two cores with the server."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await reader.read(-1)
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    answer_head, _, answer = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in answer_head.lower():
        answer = b""  # only JSON answers are read here, and Django sends those with Content-Length
    return int(status_line.split()[1]), answer


async def paced(rate: float, count: int, send, slots: int = 64) -> None:
    """Open loop: request ``i`` is due at ``i / rate`` from now; at most ``slots`` in flight (a slow
    server makes requests wait for a slot, and their latency, counted from when they were due, shows
    it). Requests are made when due, so a long run holds no more than ``slots`` of them at once."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    free = asyncio.Semaphore(slots)
    running: set[asyncio.Task] = set()

    async def one(index: int, due: float):
        try:
            await send(index, due)
        finally:
            free.release()

    for index in range(count):
        due = begin + index / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        await free.acquire()
        task = asyncio.create_task(one(index, due))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*list(running))


async def soak(base: str, cookie: str, deployment_key: str, traffic: Traffic, secret: str) -> Outcome:
    import websockets

    outcome = Outcome()
    host = base.removeprefix("http://")
    port = int(host.rsplit(":", 1)[1])

    async def post_webhook(event: dict) -> int:
        body, headers = signed_request(event, secret)
        status, _answer = await asyncio.wait_for(http(port, "POST", "/webhooks/native/", headers, body), 30)
        return status

    # The pinned conversations exist before their pages open.
    for event in traffic.pinned_start():
        assert await post_webhook(event) == 200

    sockets = {}
    paths = {f"health-{n}": "/ws/health/" for n in range(HEALTH_SOCKETS)}
    paths |= {f"page-{conv['id']}": f"/ws/conversations/{conv['id']}/" for conv in traffic.pinned}
    # And one page left open on a conversation that gets no traffic: an idle socket must stay up.
    paths[IDLE] = f"/ws/conversations/{traffic.idle['id']}/"
    for name, path in paths.items():
        socket = await websockets.connect(
            f"ws://{host}{path}", additional_headers={"Cookie": cookie}, origin=base, open_timeout=10, max_queue=None
        )
        hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert hello["type"] == "hello", hello
        sockets[name] = socket
        outcome.sockets[name] = []

    loop = asyncio.get_running_loop()
    begin = loop.time()
    pongs: dict[str, asyncio.Event] = {name: asyncio.Event() for name in sockets}

    async def listen(name, socket):
        try:
            async for raw in socket:
                message = json.loads(raw)
                if message.get("type") == "pong":
                    pongs[name].set()
                else:
                    outcome.sockets[name].append((loop.time() - begin, message.get("type", "?")))
        except websockets.ConnectionClosed as closed:
            outcome.errors.append(f"socket {name} closed during the soak: {closed}")

    listeners = [asyncio.create_task(listen(name, socket)) for name, socket in sockets.items()]

    async def webhook(index: int, due: float):
        event = traffic.next()
        try:
            status = await post_webhook(event)
        except (OSError, TimeoutError, ValueError, IndexError) as error:
            status = 0
            outcome.errors.append(f"webhook {event['id']}: {error!r}")
        outcome.webhooks.append((event["id"], status, (loop.time() - due) * 1000))

    async def telemetry(index: int, due: float):
        beacons = traffic.beacons(index, deployment_key)
        headers = {"Content-Type": "application/json", "X-Deployment-Key": deployment_key, "Origin": ORIGIN}
        try:
            status, raw = await asyncio.wait_for(
                http(port, "POST", "/telemetry/", headers, json.dumps({"beacons": beacons}).encode()), 30
            )
            body = json.loads(raw) if status == 202 else {}
        except (OSError, TimeoutError, ValueError, IndexError) as error:
            status, body = 0, {}
            outcome.errors.append(f"telemetry batch {index}: {error!r}")
        accepted = body.get("accepted", 0)
        if status == 202 and not body.get("errors"):
            outcome.accepted_beacons.extend(beacon["id"] for beacon in beacons)
        elif status == 202:
            outcome.errors.append(f"telemetry batch {index} had item errors: {body['errors'][:3]}")
        outcome.telemetry.append((accepted, status, (loop.time() - due) * 1000))

    async def page(index: int, due: float):
        path = "/" if index % 2 == 0 else f"/conversations/{traffic.pinned[index % PINNED]['id']}/"
        try:
            status, _body = await asyncio.wait_for(http(port, "GET", path, {"Cookie": cookie}), 30)
        except (OSError, TimeoutError, ValueError, IndexError) as error:
            status = 0
            outcome.errors.append(f"page {path}: {error!r}")
        outcome.pages.append((path, status))

    await asyncio.gather(
        paced(SOAK_RATE, int(SOAK_SECONDS * SOAK_RATE), webhook),
        paced(TELEMETRY_RATE, int(SOAK_SECONDS * TELEMETRY_RATE), telemetry, slots=16),
        paced(PAGE_RATE, int(SOAK_SECONDS * PAGE_RATE), page, slots=4),
    )
    outcome.seconds = loop.time() - begin

    # Still alive at the end, after a quiet spell longer than the channel layer's blocking pop (5 s):
    # every socket answers a ping (with redis-py 8's default 5 s read timeout each consumer crashed).
    await asyncio.sleep(QUIET_SECONDS)
    for socket in sockets.values():
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.send(json.dumps({"type": "ping"}))
    for name in sockets:
        try:
            await asyncio.wait_for(pongs[name].wait(), 10)
            outcome.pongs[name] = True
        except TimeoutError:
            outcome.pongs[name] = False
    for listener in listeners:
        listener.cancel()
    for socket in sockets.values():
        await socket.close()
    return outcome


@pytest.mark.timeout(SOAK_SECONDS + 240)
def test_a_soak_leaves_no_errors_no_growth_and_no_backlog(transactional_db, redis_server, supervisor, tmp_path):
    secret = settings.CONSOLE_WEBHOOK_SECRETS[0]
    deployment = create_deployment(name="soak shop", origins=[ORIGIN], actor="system:soak")
    client = Client()
    client.force_login(supervisor)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    env = server_env(redis_server.url)
    marks = {"begin": time.monotonic()}
    server = ConsoleServer(
        env, tmp_path / "uvicorn.log", options=("--backlog", "1024", "--timeout-graceful-shutdown", "3")
    )
    server.wait_ready(30)
    worker = CeleryProcess(
        "worker",
        env,
        tmp_path / "worker.log",
        ["-P", "prefork", "-c", "2", "-n", "soak@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
    )
    broker = redis.Redis.from_url(redis_server.url)
    sampler = None
    try:
        worker.wait_for(" ready.")
        marks["ready"] = time.monotonic()
        sampler = Sampler(
            {
                "server": (server.process.pid, False),
                "worker": (worker.process.pid, True),
                "redis": (redis_server.process.pid, False),
            },
            broker,
        )
        sampler.start()
        traffic = Traffic()
        outcome = asyncio.run(soak(server.url, cookie, deployment.key, traffic, secret))
        marks["traffic"] = time.monotonic()
        # The backlog drains once the traffic stops (bounded wait).
        drained = wait_until(
            lambda: sampler.depth() == 0 and PendingDetection.objects.count() == 0, 60, "the queue to drain"
        )
        marks["drained"] = time.monotonic()
        sampler.stop.set()
        sampler.join(timeout=10)
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join(timeout=10)
        worker.stop()
        marks["worker-stop"] = time.monotonic()
        server.stop()
    marks["stopped"] = time.monotonic()
    samples = sampler.samples
    server_log = (tmp_path / "uvicorn.log").read_text()
    worker_log = worker.output()

    # --- summary ---
    latencies = [ms for _id, _status, ms in outcome.webhooks]
    beacon_latencies = [ms for _n, _status, ms in outcome.telemetry]
    warmup = SOAK_SECONDS * WARMUP_FRACTION
    rate = len(outcome.webhooks) / outcome.seconds
    lines = [
        f"soak: {outcome.seconds:.0f} s, {len(outcome.webhooks)} webhooks ({rate:.1f}/s, "
        f"mix {traffic.mix}), {len(outcome.telemetry)} telemetry batches "
        f"({sum(n for n, _s, _l in outcome.telemetry)} beacons), {len(outcome.pages)} page loads, "
        f"{len(outcome.sockets)} sockets ({sum(len(v) for v in outcome.sockets.values())} messages)",
        f"webhook latency p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
        f"max {max(latencies):.0f} ms; "
        f"telemetry p50 {pct(beacon_latencies, 50):.1f} ms, p99 {pct(beacon_latencies, 99):.1f} ms",
    ]
    for name, values in samples.rss.items():
        first, last = thirds(values, samples.times, warmup)
        lines.append(
            f"RSS {name}: start {values[0]:.1f} MiB, after warm-up first-third max {max(first):.1f}, "
            f"last-third max {max(last):.1f}, end {values[-1]:.1f} MiB"
        )
    lines.append(
        f"queue depth (broker + unacked + deferred): max {max(samples.depth)}, "
        f"median {statistics.median(samples.depth)}; "
        f"detection marks max {max(samples.marks)}; drained: {bool(drained)}"
    )
    phases = list(marks.items())
    lines.append("wall: " + ", ".join(f"{name} {at - phases[i][1]:.1f} s" for i, (name, at) in enumerate(phases[1:])))
    print("\n" + "\n".join(lines))

    # --- no error answers ---
    assert outcome.errors == []
    statuses = {}
    for _id, status, _ms in outcome.webhooks:
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses == {200: int(SOAK_SECONDS * SOAK_RATE)}
    assert {status for _n, status, _ms in outcome.telemetry} == {202}
    assert {status for _path, status in outcome.pages} == {200}
    for log, name in ((server_log, "server"), (worker_log, "worker")):
        assert "Traceback" not in log and " ERROR" not in log, f"{name} log:\n{log[-3000:]}"

    # --- every 2xx'd event stored, every accepted beacon stored ---
    ok_ids = [event_id for event_id, status, _ms in outcome.webhooks if status == 200]
    stored = set(
        WebhookReceipt.objects.filter(
            source="native", event_id__in=ok_ids, outcome__in=["applied", "stale"]
        ).values_list("event_id", flat=True)
    )
    assert len(stored) == len(ok_ids), f"{len(ok_ids) - len(stored)} answered 200 but not stored"
    assert (
        TelemetryBeacon.objects.filter(beacon_id__in=outcome.accepted_beacons).count()
        == len(outcome.accepted_beacons)
        == sum(n for n, _s, _l in outcome.telemetry)
    )

    # --- memory flat ---
    for name, values in samples.rss.items():
        first, last = thirds(values, samples.times, warmup)
        allowed = max(first) * (1 + RSS_TOLERANCE_FRACTION) + RSS_TOLERANCE_MIB
        assert max(last) <= allowed, f"RSS of {name} grew: {max(first):.1f} → {max(last):.1f} MiB"

    # --- queue bounded: never more than ~2 s of traffic waiting, and the last third no worse ---
    bound = max(50, int(2 * SOAK_RATE))
    assert max(samples.depth) <= bound, samples.depth
    first_depth, last_depth = thirds(samples.depth, samples.times, warmup)
    assert max(last_depth) <= max(first_depth) + bound // 2, samples.depth
    first_marks, last_marks = thirds(samples.marks, samples.times, warmup)
    assert max(last_marks) <= max(max(first_marks) * 2, 4 * SOAK_RATE), samples.marks

    # --- sockets still receiving at the end ---
    end_third = outcome.seconds * 2 / 3
    silent = [
        name for name, got in outcome.sockets.items() if name != IDLE and not any(t >= end_third for t, _type in got)
    ]
    assert silent == [], f"sockets that received nothing in the last third: {silent}"
    assert all(outcome.pongs.values()), outcome.pongs
    assert re.search(r"timeline\.event", json.dumps(outcome.sockets))
