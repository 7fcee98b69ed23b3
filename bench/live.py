"""5. Live push: a webhook's commit to the message on an authenticated ws/health/ socket.

Production layout: gunicorn (2 sync workers) takes the webhooks, uvicorn (console.asgi) serves
/ws/, channels_redis between them. A supervisor's session opens ws/health/; 1,000 webhooks that
each start a conversation (each pushes health.update after its commit) are sent at 50/s. The
latency counted is from sending the request to the push arriving: the commit lies between, so
it is an upper bound of commit → socket.

Baseline in the same run, interleaved: the bench process itself calls group_send on the same
channel layer at the same rate; its arrival on the same socket is the floor any push can reach
(Redis + ASGI server + socket).
"""

from __future__ import annotations

import asyncio
import json
import time

from bench import common, load
from bench.common import Result, check, say

DB = common.db_name("live")
EVENTS = 1000
WARMUP = 40
RATE = 50.0


def started_event(number: int) -> dict:
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "id": f"live-e{number}",
        "type": "conversation.started",
        "occurredAt": at,
        "conversationId": f"live-c{number}",
        "sequence": 1,
        "data": {"channel": "webchat", "tenant": "acme", "customerKey": f"cust-{number}"},
    }


def session_cookie() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    call_command("ensure_roles", verbosity=0)
    user = User.objects.create_user("bench-live-supervisor", password="not-used-" + "x" * 20)
    user.groups.add(Group.objects.get(name="supervisors"))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


async def drive(web_port: int, ws_port: int, cookie: str) -> dict:
    import websockets
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    arrived: dict[str, float] = {}
    statuses: dict[int, int] = {}
    headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{ws_port}"}
    async with websockets.connect(f"ws://127.0.0.1:{ws_port}/ws/health/", additional_headers=headers) as socket:
        hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert hello["type"] == "hello", hello

        async def listen():
            async for raw in socket:
                now = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") != "health.update":
                    continue
                key = message.get("bench") or message.get("conversation", {}).get("conversationId")
                if key and key not in arrived:
                    arrived[key] = now

        listener = asyncio.create_task(listen())
        loop = asyncio.get_running_loop()
        # Warm-up, not counted: the workers' first requests import and connect.
        for number in range(WARMUP):
            event = started_event(number) | {"id": f"warm-e{number}", "conversationId": f"warm-c{number}"}
            await load._one(web_port, load.http_request(web_port, *load.signed(event)))
        begin = loop.time() + 0.2

        async def webhook(number: int):
            await asyncio.sleep(max(0.0, begin + number / RATE - loop.time()))
            event = started_event(number)
            request = load.http_request(web_port, *load.signed(event))
            sent[event["conversationId"]] = time.perf_counter()
            try:
                status = await asyncio.wait_for(load._one(web_port, request), 30)
            except (OSError, TimeoutError):
                status = 0
            answered[event["conversationId"]] = time.perf_counter()
            statuses[status] = statuses.get(status, 0) + 1

        async def direct(number: int):
            # Half a period after each webhook: the baseline shares the machine's moments with it.
            await asyncio.sleep(max(0.0, begin + (number + 0.5) / RATE - loop.time()))
            key = f"direct-{number}"
            sent[key] = time.perf_counter()
            await layer.group_send("health", {"type": "health.update", "bench": key})

        await asyncio.gather(*(webhook(n) for n in range(EVENTS)), *(direct(n) for n in range(EVENTS)))
        deadline = loop.time() + 10
        while len(arrived) < 2 * EVENTS and loop.time() < deadline:
            await asyncio.sleep(0.05)
        listener.cancel()
    return {"sent": sent, "answered": answered, "arrived": arrived, "statuses": statuses}


def main() -> Result:
    started = time.monotonic()
    load_before = common.load_average()
    common.create_database(DB)
    common.flush_redis()
    servers = []
    try:
        common.migrate(DB)
        env = common.console_env(DB)
        servers.append(common.gunicorn("console.wsgi:application", env=env, name="live-gunicorn"))
        ws_port = common.free_port()
        uvicorn = [
            str(common.VENV_BIN / "uvicorn"),
            "console.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(ws_port),
            "--log-level",
            "warning",
        ]
        servers.append(common.start(uvicorn, env=env | {"DATABASE_POOL_SIZE": "4"}, name="live-uvicorn", port=ws_port))
        from bench import inproc

        inproc.setup(DB, redis=True)
        cookie = session_cookie()
        out = asyncio.run(drive(servers[0].port, ws_port, cookie))
    finally:
        for server in reversed(servers):
            server.stop()
        common.drop_database(DB)
    sent, arrived, answered = out["sent"], out["arrived"], out["answered"]
    webhook_keys = [key for key in sent if key.startswith("live-c")]
    direct_keys = [key for key in sent if key.startswith("direct-")]
    console = [(arrived[key] - sent[key]) * 1000 for key in webhook_keys if key in arrived]
    floor = [(arrived[key] - sent[key]) * 1000 for key in direct_keys if key in arrived]
    after_answer = [(arrived[key] - answered[key]) * 1000 for key in webhook_keys if key in arrived and key in answered]
    missing = len(webhook_keys) - len(console)
    http = [(answered[key] - sent[key]) * 1000 for key in webhook_keys if key in answered]
    say(
        f"  webhook answered p50 {common.percentile(http, 50):.1f} ms p99 {common.percentile(http, 99):.1f} ms; "
        f"push after the answer p50 {common.percentile(after_answer, 50):.1f} "
        f"p99 {common.percentile(after_answer, 99):.1f}"
    )
    p99, floor_p99 = common.percentile(console, 99), common.percentile(floor, 99)
    say(
        f"  webhook → socket p50 {common.percentile(console, 50):.1f} ms p99 {p99:.1f} ms; "
        f"group_send → socket p50 {common.percentile(floor, 50):.1f} ms p99 {floor_p99:.1f} ms; missing {missing}"
    )
    checks = {
        "p99_ms": check(round(p99, 1), "< 1000", p99 < 1000),
        "every_push_arrived": check(f"{len(console)}/{len(webhook_keys)}", "all", missing == 0),
        "webhooks_answered_200": check(out["statuses"], "all 200", out["statuses"] == {200: EVENTS}),
    }
    result = Result(
        name="live",
        figure="p99 webhook sent → health.update on ws/health/ (1,000 at 50/s)",
        value=round(p99, 1),
        unit="ms",
        baseline="p99 group_send from the bench → same socket",
        baseline_value=round(floor_p99, 1),
        ratio=round(p99 / floor_p99, 3) if floor_p99 else float("nan"),
        target="p99 < 1 s",
        passed=all(item["passed"] for item in checks.values()),
        checks=checks,
        details={
            "console_p50_ms": round(common.percentile(console, 50), 2),
            "console_max_ms": round(max(console), 2) if console else None,
            "floor_p50_ms": round(common.percentile(floor, 50), 2),
            "push_after_http_answer_p50_ms": round(common.percentile(after_answer, 50), 2),
            "push_after_http_answer_p99_ms": round(common.percentile(after_answer, 99), 2),
            "webhook_answered_p50_ms": round(common.percentile(http, 50), 2),
            "webhook_answered_p99_ms": round(common.percentile(http, 99), 2),
            "statuses": {str(k): v for k, v in out["statuses"].items()},
        },
        load_before=load_before,
        load_after=common.load_average(),
        seconds=round(time.monotonic() - started, 1),
    )
    result.write()
    return result


if __name__ == "__main__":
    main()
