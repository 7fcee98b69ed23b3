"""The native (simulator-shaped) platform client against a mocked API."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from conversations.platforms import client_for
from conversations.platforms.base import PlatformError
from conversations.platforms.native import NativeClient

BASE = "http://127.0.0.1:8765/platform"


def client(sleeps, token="", **options) -> NativeClient:
    return NativeClient(base_url=BASE, token=token, sleep=sleeps.append, **options)


@respx.mock
def test_it_reads_closes_and_lists_with_the_bearer_token(sleeps):
    get = respx.get(f"{BASE}/api/conversations/c-1").respond(
        200,
        json={
            "id": "c-1",
            "state": "active",
            "participants": [{"id": "p-1", "role": "customer", "state": "connected"}],
            "lastActivityAt": "2026-11-24T10:00:00Z",
        },
    )
    close = respx.post(f"{BASE}/api/conversations/c-1/close").respond(200, json={"id": "c-1", "state": "closed"})
    listing = respx.get(f"{BASE}/api/conversations", params={"state": "active"}).respond(
        200, json={"conversations": [{"id": "c-1", "state": "active", "lastActivityAt": "2026-11-24T10:00:00Z"}]}
    )
    native = client(sleeps, token="sim-token")
    conversation = native.get_conversation("c-1")
    assert (conversation.state, conversation.last_activity_at) == ("active", "2026-11-24T10:00:00Z")
    result = native.close_conversation("c-1", "ghost session")
    assert result.description == "native POST /api/conversations/c-1/close -> 200"
    assert json.loads(close.calls.last.request.content) == {"reason": "ghost session"}
    assert [c.id for c in native.list_active()] == ["c-1"]
    for route in (get, close, listing):
        assert route.calls.last.request.headers["Authorization"] == "Bearer sim-token"


@respx.mock
def test_without_a_token_no_authorization_header_is_sent(sleeps):
    get = respx.get(f"{BASE}/api/conversations/c-2").respond(404)
    assert client(sleeps).get_conversation("c-2") is None
    assert "Authorization" not in get.calls.last.request.headers


@respx.mock
def test_a_401_without_a_renewable_token_fails_at_once(sleeps):
    close = respx.post(f"{BASE}/api/conversations/c-1/close").respond(401, json={"detail": "bad token"})
    with pytest.raises(PlatformError, match=r"native POST /api/conversations/c-1/close failed: HTTP 401 \(bad token\)"):
        client(sleeps, token="wrong").close_conversation("c-1", "x")
    assert close.call_count == 1


@respx.mock
def test_a_refused_connection_is_retried_then_reported(sleeps):
    respx.post(f"{BASE}/api/conversations/c-1/close").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(PlatformError, match="ConnectError: connection refused after 3 attempts"):
        client(sleeps, max_attempts=3).close_conversation("c-1", "x")
    assert len(sleeps) == 2


@respx.mock
def test_a_malformed_listing_is_an_error(sleeps):
    respx.get(f"{BASE}/api/conversations").respond(200, json={"items": []})
    with pytest.raises(PlatformError, match="'conversations' is missing"):
        client(sleeps).list_active()


def test_it_is_configured_by_native_platform_url(settings):
    settings.NATIVE_PLATFORM_URL = ""
    assert client_for("native") is None
    settings.NATIVE_PLATFORM_URL, settings.NATIVE_PLATFORM_TOKEN = BASE, "t"
    native = client_for("native")
    assert (native.api_base, native.token) == (BASE, "t")
    native.close()
