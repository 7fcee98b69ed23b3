"""Signed ``native`` webhook traffic: a realistic mix, a pre-signed request file for wrk, an open-loop client.

The mix: conversations that start, get a customer and an agent, exchange messages (most of the
traffic), sometimes change a participant's state, and end with the customer leaving; many
conversations interleaved; unique event ids; sequences increasing per conversation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import RESULTS, WEBHOOK_SECRET

WEBHOOK_PATH = "/webhooks/native/"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_requests.lua"


def build_events(count: int, *, prefix: str, seed: int = 7, active: int = 300) -> list[dict]:
    """``count`` canonical events from ``active`` interleaved conversations, in send order."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(minutes=5)
    events: list[dict] = []
    conversations: list[dict] = []
    started = 0

    def new_conversation() -> dict:
        nonlocal started
        started += 1
        return {"id": f"{prefix}-c{started}", "seq": 0, "left": rng.randint(12, 40), "messages": 0}

    def emit(conv: dict, kind: str, data: dict) -> None:
        conv["seq"] += 1
        at = start + timedelta(milliseconds=len(events) * 7)
        events.append(
            {
                "id": f"{prefix}-e{len(events)}",
                "type": kind,
                "occurredAt": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
                "conversationId": conv["id"],
                "sequence": conv["seq"],
                "data": data,
            }
        )

    while len(events) < count:
        if len(conversations) < active:
            conv = new_conversation()
            conversations.append(conv)
            emit(
                conv,
                "conversation.started",
                {
                    "channel": "webchat",
                    "tenant": "acme",
                    "customerKey": f"cust-{rng.randint(1, 10**9)}",
                    "routingData": {"queueId": "q-sales", "skillRequirements": ["en"], "priority": 5},
                    "customAttributes": {"page": "/pricing"},
                },
            )
            continue
        conv = rng.choice(conversations)
        if conv["seq"] == 1:
            emit(conv, "participant.joined", {"participantId": f"{conv['id']}-cust", "role": "customer"})
        elif conv["seq"] == 2:
            emit(conv, "participant.joined", {"participantId": f"{conv['id']}-agent", "role": "agent"})
        elif conv["left"] <= 0:
            emit(conv, "participant.left", {"participantId": f"{conv['id']}-cust", "disconnectType": "client"})
            conversations.remove(conv)
        elif rng.random() < 0.04:
            emit(conv, "participant.state_changed", {"participantId": f"{conv['id']}-agent", "state": "connected"})
        else:
            conv["left"] -= 1
            conv["messages"] += 1
            inbound = rng.random() < 0.5
            emit(
                conv,
                "message.created",
                {
                    "messageId": f"{conv['id']}-m{conv['messages']}",
                    "participantId": f"{conv['id']}-{'cust' if inbound else 'agent'}",
                    "direction": "inbound" if inbound else "outbound",
                    "text": f"message {conv['messages']} of {conv['id']}: " + "lorem ipsum " * rng.randint(1, 8),
                    "idempotencyKey": f"{conv['id']}-k{conv['messages']}",
                },
            )
    return events[:count]


def mix_of(events: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    return counts


def _secret() -> bytes:
    return base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))


def signed(event: dict, timestamp: int | None = None) -> tuple[str, str, str, bytes]:
    body = json.dumps(event, separators=(",", ":")).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(_secret(), f"{event['id']}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return event["id"], timestamp, "v1," + base64.b64encode(digest).decode(), body


def write_request_file(events: list[dict], path: Path) -> Path:
    """One request a line: id, timestamp, signature, body (JSON has no raw tabs or newlines)."""
    now = int(time.time())
    with open(path, "wb") as handle:
        for event in events:
            msg_id, timestamp, signature, body = signed(event, now)
            handle.write(b"\t".join([msg_id.encode(), timestamp.encode(), signature.encode(), body]) + b"\n")
    return path


def run_wrk(port: int, request_file: Path, *, seconds: float, connections: int = 8, threads: int = 1) -> dict:
    """Saturation: wrk cycles once through the file (threads take every n-th line), JSON summary back."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        "--",
        str(request_file),
        str(threads),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    marker = out.stdout.rfind("BENCH_JSON ")
    if out.returncode != 0 or marker < 0:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    summary = json.loads(out.stdout[marker + len("BENCH_JSON ") :].splitlines()[0])
    summary["rps"] = summary["requests"] / summary["seconds"] if summary["seconds"] else 0.0
    return summary


# --- open loop at a fixed rate ----------------------------------------------------------------


async def _one(port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        return int(status_line.split()[1])
    finally:
        writer.close()


def http_request(port: int, msg_id: str, timestamp: str, signature: str, body: bytes) -> bytes:
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nwebhook-id: {msg_id}\r\nwebhook-timestamp: {timestamp}\r\n"
        f"webhook-signature: {signature}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def fixed_rate(port: int, events: list[dict], *, rate: float) -> dict:
    """Send each event at its scheduled time (open loop: latency counts from the schedule, so a
    slow answer cannot hide the queue behind it); wait for every answer."""

    async def main():
        loop = asyncio.get_running_loop()
        requests = [http_request(port, *signed(event)) for event in events]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        begin = loop.time() + 0.05

        async def scheduled(index: int, request: bytes):
            due = begin + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                status = await asyncio.wait_for(_one(port, request), timeout=30)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                status = 0
            latencies.append((loop.time() - due) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(scheduled(i, request) for i, request in enumerate(requests)))
        return latencies, statuses, loop.time() - begin

    latencies, statuses, seconds = asyncio.run(main())
    return {"latencies_ms": latencies, "statuses": statuses, "seconds": seconds}


def request_file_path(name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}.requests"
