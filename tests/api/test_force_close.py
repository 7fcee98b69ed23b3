"""POST conversations/{id}/force-close/ with Idempotency-Key (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from console.models import AuditEntry, IdempotencyKey
from conversations.models import Conversation
from tests.api.conftest import make_conversation

URL = "/api/v1/conversations/{}/force-close/"


def _close(client, conversation_id="c-1", body=None, key='"key-1"', **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(
        URL.format(conversation_id),
        {"reason": "ghost session"} if body is None else body,
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_it_closes_and_returns_the_outcome_in_camel_case(admin_client, fake_force_close):
    make_conversation("c-1")
    response = _close(admin_client)
    assert response.status_code == 200
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert response.json() == {
        "conversationId": "c-1",
        "state": "closed",
        "status": "closed",
        "platformCall": "none: no platform configured for native (closed in the mirror only)",
        "auditId": audit.pk,
        "detail": "closed in the mirror",
    }
    assert fake_force_close.calls == [
        {"conversation_id": "c-1", "reason": "ghost session", "actor": "user:ada-admin", "key": "key-1"}
    ]
    assert audit.actor_user.username == "ada-admin"
    assert Conversation.objects.get(pk="c-1").state == "closed"


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", '""', '"un"terminated"', "x" * 256, '"caf\u00e9"'])
def test_it_requires_a_well_formed_idempotency_key(admin_client, fake_force_close, key):
    make_conversation("c-1")
    response = _close(admin_client, key=key)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert fake_force_close.calls == []
    assert Conversation.objects.get(pk="c-1").state == "active"


@pytest.mark.django_db
def test_it_lists_invalid_fields_and_keeps_the_key_free(admin_client, fake_force_close):
    make_conversation("c-1")
    response = _close(admin_client, body={"reason": "  "})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["reason"]
    assert not IdempotencyKey.objects.exists()
    assert _close(admin_client).status_code == 200


@pytest.mark.django_db
def test_it_replays_the_first_response_for_the_same_key_and_body(admin_client, fake_force_close):
    make_conversation("c-1")
    first = _close(admin_client)
    # A bare token and the sf-string form are the same key; key order in the body does not matter.
    again = _close(admin_client, key="key-1", body={"reason": "ghost session"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(fake_force_close.calls) == 1
    assert AuditEntry.objects.filter(action="conversation.force_closed").count() == 1


@pytest.mark.django_db
def test_it_refuses_the_same_key_with_another_body_or_conversation(admin_client, fake_force_close):
    make_conversation("c-1")
    make_conversation("c-2")
    assert _close(admin_client).status_code == 200
    other_body = _close(admin_client, body={"reason": "something else"})
    assert other_body.status_code == 422
    assert other_body["Content-Type"] == "application/problem+json"
    assert _close(admin_client, "c-2").status_code == 422
    assert len(fake_force_close.calls) == 1
    assert Conversation.objects.get(pk="c-2").state == "active"


@pytest.mark.django_db
def test_it_keeps_keys_apart_per_client(admin_client, fake_force_close, api_client_token):
    make_conversation("c-1")
    assert _close(admin_client).status_code == 200
    response = _close(Client(), HTTP_AUTHORIZATION=api_client_token("force-close"))
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert response.json()["status"] == "already_closed"
    assert len(fake_force_close.calls) == 2


@pytest.mark.django_db
def test_it_answers_202_when_the_platform_call_is_pending_and_replays_it(admin_client, fake_force_close):
    make_conversation("c-1")
    fake_force_close.platform_fails = True
    first = _close(admin_client)
    assert first.status_code == 202
    assert first.json()["status"] == "pending"
    again = _close(admin_client)
    assert (again.status_code, again.json()) == (202, first.json())
    assert len(fake_force_close.calls) == 1


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_conversation_and_frees_the_key(admin_client, fake_force_close):
    response = _close(admin_client, "c-later")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    make_conversation("c-later")
    assert _close(admin_client, "c-later").status_code == 200


@pytest.mark.django_db
def test_a_server_error_is_problem_json_without_trace_and_frees_the_key(admin_client, monkeypatch, fake_force_close):
    import conversations.actions

    make_conversation("c-1")

    def broken(*args, **kwargs):
        raise RuntimeError("platform client exploded")

    monkeypatch.setattr(conversations.actions, "force_close", broken)
    response = _close(admin_client)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert "exploded" not in response.content.decode() and "Traceback" not in response.content.decode()
    monkeypatch.setattr(conversations.actions, "force_close", fake_force_close)
    assert _close(admin_client).status_code == 200


@pytest.mark.django_db
def test_it_forgets_a_key_after_24_hours(admin_client, fake_force_close):
    make_conversation("c-1")
    start = timezone.now()
    assert _close(admin_client).json()["status"] == "closed"
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert _close(admin_client)["Idempotent-Replayed"] == "true"
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        later = _close(admin_client, body={"reason": "another close"})
    assert later.status_code == 200
    assert later.json()["status"] == "already_closed"
    assert len(fake_force_close.calls) == 2


@pytest.mark.django_db
def test_a_retry_takes_over_a_key_whose_request_died(admin_client, fake_force_close, settings):
    make_conversation("c-1")
    settings.IDEMPOTENCY_LEASE_SECONDS = 60
    from console import idempotency

    print_ = idempotency.fingerprint("POST", URL.format("c-1"), {"reason": "ghost session"})
    dead = idempotency.claim("user:ada-admin", "key-1", print_)
    assert dead.claimed
    assert _close(admin_client).status_code == 409
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        retry = _close(admin_client)
    assert retry.status_code == 200
    assert len(fake_force_close.calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_request_with_the_same_key_gets_409(admin_user, fake_force_close):
    make_conversation("c-1")
    fake_force_close.gate = threading.Event()
    results: dict[str, object] = {}

    def first():
        try:
            client = Client()
            client.force_login(admin_user)
            results["first"] = _close(client)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert fake_force_close.entered.wait(timeout=30)
    second_client = Client()
    second_client.force_login(admin_user)
    second = _close(second_client)
    fake_force_close.gate.set()
    thread.join(timeout=30)
    assert second.status_code == 409
    assert second["Content-Type"] == "application/problem+json"
    assert second["Retry-After"] == "1"
    assert results["first"].status_code == 200
    assert len(fake_force_close.calls) == 1
    # Once the first completed, the same request is a replay.
    third = _close(second_client)
    assert third.status_code == 200 and third["Idempotent-Replayed"] == "true"
