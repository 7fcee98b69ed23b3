"""Genesys Cloud client against a mocked Platform API (shapes from the SDK models)."""

from __future__ import annotations

import json
from base64 import b64encode
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
import time_machine

from conversations.platforms import client_for
from conversations.platforms.base import PlatformError
from conversations.platforms.genesys import GenesysClient

LOGIN = "https://login.mypurecloud.ie"
API = "https://api.mypurecloud.ie"
CONVERSATION_ID = "5c1e4b1a-3e0f-4c1e-9a3c-0d6f1f0b2a11"
TOKEN = {"access_token": "tok-1", "token_type": "bearer", "expires_in": 86400}

CONVERSATION = {
    "id": CONVERSATION_ID,
    "startTime": "2025-12-12T15:00:50.107Z",
    "endTime": None,
    "participants": [
        {
            "id": "8a0b2c3d-1111-4222-8333-944455556666",
            "startTime": "2025-12-12T15:00:50.107Z",
            "purpose": "customer",
            "attributes": {"Intent": "billing"},
            "messages": [{"id": "c0ffee00", "state": "connected", "direction": "inbound", "type": "webmessaging"}],
        },
        {
            "id": "2d3e4f5a-9999-4aaa-8bbb-c22233334444",
            "purpose": "agent",
            "userId": "1c2d3e4f-8888-4999-8aaa-b11122223333",
            "queueId": "0a1b2c3d-7777-4888-8999-f00011112222",
            "messages": [{"id": "d00dfeed", "state": "connected", "direction": "inbound", "type": "webmessaging"}],
        },
    ],
    "recordingState": "NONE",
    "selfUri": f"/api/v2/conversations/{CONVERSATION_ID}",
}


def client(sleeps, **options) -> GenesysClient:
    return GenesysClient(
        api_base=API, login_base=LOGIN, client_id="cid", client_secret="secret", sleep=sleeps.append, **options
    )


@respx.mock
def test_it_fetches_a_token_with_client_credentials_and_reads_the_conversation(sleeps):
    token = respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    get = respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}").respond(200, json=CONVERSATION)
    conversation = client(sleeps).get_conversation(CONVERSATION_ID)
    assert (conversation.id, conversation.state) == (CONVERSATION_ID, "active")
    request = token.calls.last.request
    assert request.headers["Authorization"] == "Basic " + b64encode(b"cid:secret").decode()
    assert request.content == b"grant_type=client_credentials"
    assert get.calls.last.request.headers["Authorization"] == "Bearer tok-1"


@respx.mock
def test_it_reuses_the_token_until_it_expires_then_fetches_a_new_one(sleeps):
    token = respx.post(f"{LOGIN}/oauth/token")
    token.side_effect = [
        httpx.Response(200, json={**TOKEN, "expires_in": 3600}),
        httpx.Response(200, json={**TOKEN, "access_token": "tok-2"}),
    ]
    get = respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}").respond(200, json=CONVERSATION)
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        client(sleeps).get_conversation(CONVERSATION_ID)
    with time_machine.travel(start + timedelta(seconds=3000), tick=False):
        client(sleeps).get_conversation(CONVERSATION_ID)  # another client of the process: cached token
    assert token.call_count == 1
    with time_machine.travel(start + timedelta(seconds=3541), tick=False):  # within a minute of expiry
        client(sleeps).get_conversation(CONVERSATION_ID)
    assert token.call_count == 2
    assert get.calls.last.request.headers["Authorization"] == "Bearer tok-2"


@respx.mock
def test_a_401_gets_one_fresh_token_and_one_more_try(sleeps):
    token = respx.post(f"{LOGIN}/oauth/token")
    token.side_effect = [httpx.Response(200, json=TOKEN), httpx.Response(200, json={**TOKEN, "access_token": "tok-2"})]
    disconnect = respx.post(f"{API}/api/v2/conversations/{CONVERSATION_ID}/disconnect")
    disconnect.side_effect = [httpx.Response(401, json={"message": "token revoked"}), httpx.Response(202, text="")]
    result = client(sleeps).close_conversation(CONVERSATION_ID, "ghost")
    assert result.description == f"genesys POST /api/v2/conversations/{CONVERSATION_ID}/disconnect -> 202"
    assert token.call_count == 2
    assert [call.request.headers["Authorization"] for call in disconnect.calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert disconnect.calls.last.request.content == b""
    assert sleeps == []


@respx.mock
def test_a_second_401_is_an_error_that_names_the_call(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    disconnect = respx.post(f"{API}/api/v2/conversations/{CONVERSATION_ID}/disconnect").respond(
        401, json={"message": "Invalid login credentials."}
    )
    with pytest.raises(PlatformError) as raised:
        client(sleeps).close_conversation(CONVERSATION_ID, "ghost")
    assert disconnect.call_count == 2
    assert str(raised.value) == (
        f"genesys POST /api/v2/conversations/{CONVERSATION_ID}/disconnect failed: "
        "HTTP 401 (Invalid login credentials.) after re-authentication"
    )


@respx.mock
def test_a_429_waits_as_long_as_retry_after_says(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    get = respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}")
    get.side_effect = [
        httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "Rate limit exceeded the maximum"}),
        httpx.Response(200, json=CONVERSATION),
    ]
    assert client(sleeps).get_conversation(CONVERSATION_ID).state == "active"
    assert sleeps == [7.0]


@respx.mock
def test_a_retry_after_beyond_the_cap_fails_at_once_saying_so(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}").respond(429, headers={"Retry-After": "120"})
    with pytest.raises(PlatformError, match="retry after 120 s"):
        client(sleeps, max_retry_after=30).get_conversation(CONVERSATION_ID)
    assert sleeps == []


@respx.mock
def test_5xx_is_retried_with_backoff_then_reported(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    disconnect = respx.post(f"{API}/api/v2/conversations/{CONVERSATION_ID}/disconnect").respond(
        503, json={"message": "The service is currently unavailable"}
    )
    with pytest.raises(PlatformError) as raised:
        client(sleeps, max_attempts=3).close_conversation(CONVERSATION_ID, "ghost")
    assert disconnect.call_count == 3
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0
    assert raised.value.status == 503
    assert (
        "genesys POST" in str(raised.value)
        and "HTTP 503" in str(raised.value)
        and "after 3 attempts" in str(raised.value)
    )


@respx.mock
def test_a_5xx_then_success_is_a_success(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    disconnect = respx.post(f"{API}/api/v2/conversations/{CONVERSATION_ID}/disconnect")
    disconnect.side_effect = [httpx.Response(502), httpx.Response(202)]
    assert client(sleeps).close_conversation(CONVERSATION_ID, "ghost").status == 202
    assert len(sleeps) == 1


@respx.mock
def test_timeouts_are_retried_then_reported(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    get = respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}").mock(
        side_effect=httpx.ReadTimeout("read timed out")
    )
    with pytest.raises(PlatformError) as raised:
        client(sleeps, max_attempts=2).get_conversation(CONVERSATION_ID)
    assert get.call_count == 2
    assert str(raised.value) == (
        f"genesys GET /api/v2/conversations/{CONVERSATION_ID} failed: timed out (ReadTimeout) after 2 attempts"
    )


@respx.mock
def test_a_token_failure_says_which_call_failed(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(400, json={"error": "invalid_client"})
    with pytest.raises(PlatformError) as raised:
        client(sleeps).get_conversation(CONVERSATION_ID)
    assert str(raised.value).startswith("genesys token request (POST /oauth/token) failed: HTTP 400 (invalid_client)")


@respx.mock
def test_an_ended_conversation_is_closed_and_an_unknown_one_is_none(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    ended = {**CONVERSATION, "endTime": "2025-12-12T15:10:00.000Z"}
    respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}").respond(200, json=ended)
    respx.get(f"{API}/api/v2/conversations/unknown").respond(404, json={"message": "Not found", "status": 404})
    genesys = client(sleeps)
    assert genesys.get_conversation(CONVERSATION_ID).state == "closed"
    assert genesys.get_conversation("unknown") is None


@respx.mock
def test_a_conversation_still_in_queue_is_pending(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    queued = {**CONVERSATION, "participants": [CONVERSATION["participants"][0], {"id": "acd-1", "purpose": "acd"}]}
    respx.get(f"{API}/api/v2/conversations/{CONVERSATION_ID}").respond(200, json=queued)
    assert client(sleeps).get_conversation(CONVERSATION_ID).state == "pending"


@respx.mock
def test_it_lists_active_conversations_page_by_page_from_analytics(sleeps):
    respx.post(f"{LOGIN}/oauth/token").respond(200, json=TOKEN)
    query = respx.post(f"{API}/api/v2/analytics/conversations/details/query")

    def page(number, count, total):
        rows = [
            {
                "conversationId": f"c-{number}-{index}",
                "conversationStart": "2026-11-24T10:00:00.000Z",
                "participants": [{"purpose": "customer"}, {"purpose": "agent"}] if index % 2 else [{"purpose": "acd"}],
            }
            for index in range(count)
        ]
        return httpx.Response(200, json={"conversations": rows, "totalHits": total})

    query.side_effect = [page(1, 100, 130), page(2, 30, 130)]
    active = client(sleeps).list_active()
    assert len(active) == 130
    assert {conversation.state for conversation in active} == {"active", "pending"}
    first = json.loads(query.calls[0].request.content)
    assert first["paging"] == {"pageSize": 100, "pageNumber": 1}
    assert first["conversationFilters"][0]["predicates"] == [{"dimension": "conversationEnd", "operator": "notExists"}]
    assert json.loads(query.calls[1].request.content)["paging"]["pageNumber"] == 2


def test_it_is_configured_from_the_region_and_credentials(settings):
    settings.GENESYS_CLIENT_ID = ""
    assert client_for("genesys") is None
    settings.GENESYS_CLIENT_ID, settings.GENESYS_CLIENT_SECRET = "cid", "secret"
    settings.GENESYS_API_BASE, settings.GENESYS_LOGIN_BASE = API, LOGIN
    genesys = client_for("genesys")
    assert (genesys.api_base, genesys.token_url) == (API, f"{LOGIN}/oauth/token")
    genesys.close()
