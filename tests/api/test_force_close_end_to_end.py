"""Force-close through the API with the real action: platform first, mirror after, one audit row, no double call."""

from __future__ import annotations

import json

import pytest
import respx

from console.models import AuditEntry
from conversations.models import Conversation
from tests.conversations.lifecycle import start_conversation

pytestmark = pytest.mark.django_db

PLATFORM = "http://platform.test/sim"
CLOSE_URL = f"{PLATFORM}/api/conversations/c-e2e/close"


@pytest.fixture(autouse=True)
def native_platform(settings, monkeypatch):
    settings.NATIVE_PLATFORM_URL = PLATFORM
    settings.NATIVE_PLATFORM_TOKEN = "sim-token"
    monkeypatch.setattr("conversations.platforms.base.pause", lambda seconds: None)


def _force_close(client, authorization: str, key: str, reason: str = "ghost session: widget gone"):
    return client.post(
        "/api/v1/conversations/c-e2e/force-close/",
        data=json.dumps({"reason": reason}),
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization,
        HTTP_IDEMPOTENCY_KEY=f'"{key}"',
    )


@respx.mock
def test_a_client_force_closes_once_whatever_the_retries(client, api_client_token):
    start_conversation(client, "c-e2e", active=True)
    close = respx.post(CLOSE_URL).respond(200, json={"id": "c-e2e", "state": "closed"})
    token = api_client_token("force-close")
    first = _force_close(client, token, "k-1")
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["conversationId"], body["state"], body["status"]) == ("c-e2e", "closed", "closed")
    assert "close" in body["platformCall"] and body["auditId"]
    again = _force_close(client, token, "k-1")
    assert again.status_code == 200 and again.json() == body and again["Idempotent-Replayed"] == "true"
    assert close.call_count == 1
    conversation = Conversation.objects.get(pk="c-e2e")
    assert (conversation.state, conversation.close_reason) == ("closed", "force_closed")
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert (audit.id, audit.reason, audit.idempotency_key) == (body["auditId"], "ghost session: widget gone", "k-1")
    assert audit.actor.startswith("client:")
    mismatch = _force_close(client, token, "k-1", reason="another reason")
    assert mismatch.status_code == 422
    assert close.call_count == 1


@respx.mock
def test_a_platform_failure_leaves_the_mirror_open_and_answers_202(client, api_client_token):
    start_conversation(client, "c-e2e", active=True)
    respx.post(CLOSE_URL).respond(503, json={"error": "down"})
    response = _force_close(client, api_client_token("force-close"), "k-2")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert Conversation.objects.get(pk="c-e2e").state == "active"
    assert AuditEntry.objects.filter(action="conversation.force_close_failed").count() == 1


def test_a_read_only_client_is_refused(client, api_client_token):
    start_conversation(client, "c-e2e", active=True)
    assert _force_close(client, api_client_token("read"), "k-3").status_code == 403
    assert Conversation.objects.get(pk="c-e2e").state == "active"
