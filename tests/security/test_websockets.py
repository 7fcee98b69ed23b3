"""ws/health/ and ws/conversations/<id>/ through a real uvicorn process and a real websocket client.

Every refusal happens at the handshake: the client gets HTTP 403 and never an open socket (a socket
accepted and then closed would have received pushes meanwhile). Refused: no session, a foreign or
missing Origin, a user without a console role, an unknown conversation, any path that is not one
of the two routes. The in-process WebsocketCommunicator tests are tests/console/test_consumers.py;
these go through the server's HTTP parsing, the origin check and the session cookie as a browser's
socket does. On PostgreSQL the server uses the Redis channel layer.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from django.conf import settings
from django.test import Client
from websockets.exceptions import InvalidStatus

from tests.api.conftest import make_conversation
from tests.browser.conftest import live_asgi  # noqa: F401 - the uvicorn fixture

pytestmark = [pytest.mark.slow]


def _cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _handshake(base: str, path: str, *, cookie: str | None = None, origin: str | None = "same") -> int | dict:
    """101 → the first message (hello); refused → the HTTP status of the handshake answer."""
    host = urlsplit(base).netloc
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    if origin == "same":
        origin = f"http://{host}"

    async def run():
        try:
            async with websockets.connect(
                f"ws://{host}{path}", additional_headers=headers, origin=origin, open_timeout=10
            ) as socket:
                return json.loads(await asyncio.wait_for(socket.recv(), 10))
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(run())


@pytest.fixture
def server(live_asgi, supervisor, admin_user, outsider):  # noqa: F811
    make_conversation("c-1")
    return {
        "base": live_asgi,
        "supervisor": _cookie(supervisor),
        "admin": _cookie(admin_user),
        "outsider": _cookie(outsider),
    }


MALFORMED = [
    "/ws/",
    "/ws/health",
    "/ws/health/extra/",
    "/ws/conversations/",
    "/ws/conversations/c-1",
    "/ws/conversations/c-1/extra/",
    "/ws/conversations/c-1/../../health/",
    "/ws/conversations/%00/",
    "/ws/conversations/" + "x" * 3000 + "/",
    "/ws/nope/",
    "/",
    "/api/v1/conversations/",
]


def test_the_handshake_refuses_everyone_it_should_and_only_them(server):
    base = server["base"]
    # The allowed ones first: the refusals below are not a broken server.
    assert _handshake(base, "/ws/health/", cookie=server["supervisor"])["type"] == "hello"
    assert _handshake(base, "/ws/conversations/c-1/", cookie=server["admin"])["type"] == "hello"

    refusals = {
        "anonymous health": _handshake(base, "/ws/health/"),
        "anonymous conversation": _handshake(base, "/ws/conversations/c-1/"),
        "a forged session cookie": _handshake(base, "/ws/health/", cookie=f"{settings.SESSION_COOKIE_NAME}=forged"),
        "foreign origin": _handshake(base, "/ws/health/", cookie=server["supervisor"], origin="https://evil.example"),
        "foreign origin, conversation": _handshake(
            base, "/ws/conversations/c-1/", cookie=server["admin"], origin="https://evil.example"
        ),
        "look-alike origin": _handshake(
            base, "/ws/health/", cookie=server["supervisor"], origin="http://127.0.0.1.evil.example"
        ),
        "no origin": _handshake(base, "/ws/health/", cookie=server["supervisor"], origin=None),
        "null origin": _handshake(base, "/ws/health/", cookie=server["supervisor"], origin="null"),
        "no console role": _handshake(base, "/ws/health/", cookie=server["outsider"]),
        "no console role, conversation": _handshake(base, "/ws/conversations/c-1/", cookie=server["outsider"]),
        "unknown conversation": _handshake(base, "/ws/conversations/no-such/", cookie=server["supervisor"]),
        **{f"malformed {path[:40]}": _handshake(base, path, cookie=server["supervisor"]) for path in MALFORMED},
    }
    assert {name: status for name, status in refusals.items() if status != 403} == {}

    # The server is still serving after all of it (no crashed worker, no stuck connection).
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert _handshake(base, "/ws/health/", cookie=server["supervisor"])["type"] == "hello"


def test_a_session_that_ends_cannot_open_a_socket_any_more(server, supervisor):
    base = server["base"]
    client = Client()
    client.force_login(supervisor)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    assert _handshake(base, "/ws/health/", cookie=cookie)["type"] == "hello"
    client.post("/logout/")
    assert _handshake(base, "/ws/health/", cookie=cookie) == 403
    supervisor.groups.clear()  # and a user whose role is taken away, with a live session
    assert _handshake(base, "/ws/health/", cookie=server["supervisor"]) == 403
