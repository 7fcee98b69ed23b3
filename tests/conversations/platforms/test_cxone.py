"""NICE CXone DFO client against a mocked API (shapes from NICE's SDK fixtures)."""

from __future__ import annotations

import json
from base64 import b64encode

import httpx
import pytest
import respx

from conversations.platforms.base import PlatformError
from conversations.platforms.cxone import CxoneClient

TOKEN_URL = "https://cxone.niceincontact.com/auth/token"
API = "https://api-de-na1.niceincontact.com"
CASE_ID = "195394484423"

CONTACT = {
    "id": CASE_ID,
    "threadId": "chat_51eafb4e-8829-4efe-b58c-3bc9febf18c4_7D17EA7C-412E-486B-AD42-58D85E83D4DE",
    "channelId": "chat_51eafb4e-8829-4efe-b58c-3bc9febf18c4",
    "interactionId": "767ad303-edd5-42dc-a8ea-aad0f51d055c",
    "contactId": "6bc5d6fa-3ca9-4e3a-8278-f064bf927084",
    "status": "open",
    "statusUpdatedAt": "2022-08-04T21:37:22+00:00",
    "routingQueueId": "6618c229-bc8c-497a-83cf-964343153627",
    "routingQueuePriority": 1,
    "inboxAssignee": 12328,
    "direction": "inbound",
    "createdAt": "2022-08-04T21:37:22+00:00",
    "customFields": [],
}
TOKEN = {"access_token": "cx-1", "token_type": "Bearer", "expires_in": 3600, "id_token": "x.y.z"}


def client(sleeps, **options) -> CxoneClient:
    return CxoneClient(
        api_base=API, token_url=TOKEN_URL, client_id="cx-id", client_secret="cx-secret", sleep=sleeps.append, **options
    )


@respx.mock
def test_it_reads_a_contact_with_a_client_credentials_token(sleeps):
    token = respx.post(TOKEN_URL).respond(200, json=TOKEN)
    get = respx.get(f"{API}/dfo/3.0/contacts/{CASE_ID}").respond(200, json=CONTACT)
    contact = client(sleeps).get_conversation(CASE_ID)
    assert (contact.id, contact.state) == (CASE_ID, "active")
    assert token.calls.last.request.headers["Authorization"] == "Basic " + b64encode(b"cx-id:cx-secret").decode()
    assert get.calls.last.request.headers["Authorization"] == "Bearer cx-1"


@pytest.mark.parametrize(("status", "state"), [("new", "pending"), ("escalated", "active"), ("resolved", "closed")])
@respx.mock
def test_it_maps_contact_statuses_like_the_webhooks(sleeps, status, state):
    respx.post(TOKEN_URL).respond(200, json=TOKEN)
    respx.get(f"{API}/dfo/3.0/contacts/{CASE_ID}").respond(200, json={**CONTACT, "status": status})
    assert client(sleeps).get_conversation(CASE_ID).state == state


@respx.mock
def test_it_closes_a_contact_by_setting_its_status(sleeps):
    respx.post(TOKEN_URL).respond(200, json=TOKEN)
    put = respx.put(f"{API}/dfo/3.0/contacts/{CASE_ID}/status").respond(204)
    result = client(sleeps).close_conversation(CASE_ID, "ghost")
    assert json.loads(put.calls.last.request.content) == {"status": "closed"}
    assert result.description == f"cxone PUT /dfo/3.0/contacts/{CASE_ID}/status -> 204"


@respx.mock
def test_a_401_reauthenticates_once(sleeps):
    token = respx.post(TOKEN_URL)
    token.side_effect = [httpx.Response(200, json=TOKEN), httpx.Response(200, json={**TOKEN, "access_token": "cx-2"})]
    put = respx.put(f"{API}/dfo/3.0/contacts/{CASE_ID}/status")
    put.side_effect = [httpx.Response(401, json={"error": "invalid_token"}), httpx.Response(200, json={})]
    client(sleeps).close_conversation(CASE_ID, "ghost")
    assert [call.request.headers["Authorization"] for call in put.calls] == ["Bearer cx-1", "Bearer cx-2"]


@respx.mock
def test_429_with_retry_after_then_success(sleeps):
    respx.post(TOKEN_URL).respond(200, json=TOKEN)
    put = respx.put(f"{API}/dfo/3.0/contacts/{CASE_ID}/status")
    put.side_effect = [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={})]
    assert client(sleeps).close_conversation(CASE_ID, "ghost").status == 200
    assert sleeps == [3.0]


@respx.mock
def test_5xx_until_the_last_attempt_is_an_error_naming_the_call(sleeps):
    respx.post(TOKEN_URL).respond(200, json=TOKEN)
    respx.put(f"{API}/dfo/3.0/contacts/{CASE_ID}/status").respond(500, json={"message": "Internal error"})
    with pytest.raises(PlatformError) as raised:
        client(sleeps, max_attempts=2).close_conversation(CASE_ID, "ghost")
    assert str(raised.value) == (
        f"cxone PUT /dfo/3.0/contacts/{CASE_ID}/status failed: HTTP 500 (Internal error) after 2 attempts"
    )


@respx.mock
def test_a_token_endpoint_timeout_is_reported(sleeps):
    respx.post(TOKEN_URL).mock(side_effect=httpx.ConnectTimeout("connect timed out"))
    with pytest.raises(PlatformError, match=r"cxone token request \(POST /auth/token\) failed: ConnectTimeout"):
        client(sleeps, max_attempts=2).get_conversation(CASE_ID)
    assert len(sleeps) == 1


@respx.mock
def test_it_lists_open_contacts_following_the_scroll_token(sleeps):
    respx.post(TOKEN_URL).respond(200, json=TOKEN)
    search = respx.get(f"{API}/dfo/3.0/contacts")
    search.side_effect = [
        httpx.Response(
            200, json={"hits": 3, "data": [CONTACT, {**CONTACT, "id": "2", "status": "new"}], "scrollToken": "s1"}
        ),
        httpx.Response(200, json={"hits": 3, "data": [{**CONTACT, "id": "3", "status": "pending"}], "scrollToken": ""}),
    ]
    active = client(sleeps).list_active()
    assert [(c.id, c.state) for c in active] == [(CASE_ID, "active"), ("2", "pending"), ("3", "active")]
    first, second = (call.request.url for call in search.calls)
    assert first.params.get_list("status[]") == ["new", "open", "pending", "escalated"]
    assert second.params["scrollToken"] == "s1"
