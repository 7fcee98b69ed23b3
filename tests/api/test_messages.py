"""GET conversations/{id}/messages/?afterId=: strictly after, 404 for an unknown afterId, ETag/304."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from tests.api.conftest import make_conversation, make_message
from tests.webhooks import event, post_native


@pytest.fixture
def reader(client, supervisor):
    client.force_login(supervisor)
    return client


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["messageId"] for row in response.json()["results"]]


@pytest.mark.django_db
def test_it_returns_only_messages_strictly_after_after_id(reader):
    conversation = make_conversation("c-1")
    for sequence, message_id in [(1, "m-a"), (2, "m-b"), (2, "m-c"), (3, "m-d"), (5, "m-e")]:
        make_message(conversation, message_id, sequence)
    assert _ids(reader.get("/api/v1/conversations/c-1/messages/")) == ["m-a", "m-b", "m-c", "m-d", "m-e"]
    assert _ids(reader.get("/api/v1/conversations/c-1/messages/?afterId=m-a")) == ["m-b", "m-c", "m-d", "m-e"]
    # Equal sequence: messageId breaks the tie, and the cursor message itself never comes back.
    assert _ids(reader.get("/api/v1/conversations/c-1/messages/?afterId=m-b")) == ["m-c", "m-d", "m-e"]
    assert _ids(reader.get("/api/v1/conversations/c-1/messages/?afterId=m-e")) == []
    first = reader.get("/api/v1/conversations/c-1/messages/?afterId=m-a&limit=2").json()
    assert [row["messageId"] for row in first["results"]] == ["m-b", "m-c"]
    assert first["next"].endswith("/api/v1/conversations/c-1/messages/?afterId=m-c&limit=2")
    assert first["results"][0] == {
        "messageId": "m-b",
        "sequence": 2,
        "participantId": "p-customer",
        "direction": "inbound",
        "text": "text m-b",
        "idempotencyKey": "",
        "createdAt": "2026-11-24T10:00:02Z",
    }


@pytest.mark.django_db
def test_it_answers_404_for_an_after_id_that_is_not_a_message_of_the_conversation(reader):
    one, other = make_conversation("c-1"), make_conversation("c-2")
    make_message(one, "m-1", 1)
    make_message(other, "m-other", 1)
    for after_id in ("m-unknown", "m-other", ""):
        response = reader.get("/api/v1/conversations/c-1/messages/", {"afterId": after_id})
        assert response.status_code == 404, after_id
        assert response["Content-Type"] == "application/problem+json"
        assert "afterId" in response.json()["detail"]


@pytest.mark.django_db
def test_it_answers_304_while_the_etag_still_names_the_page(reader):
    conversation = make_conversation("c-1")
    make_message(conversation, "m-1", 1)
    first = reader.get("/api/v1/conversations/c-1/messages/?afterId=m-1")
    etag = first["ETag"]
    assert _ids(first) == [] and etag.startswith('"')
    unchanged = reader.get("/api/v1/conversations/c-1/messages/?afterId=m-1", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged["ETag"] == etag
    assert unchanged.content == b""
    assert (
        reader.get(
            "/api/v1/conversations/c-1/messages/?afterId=m-1", HTTP_IF_NONE_MATCH=f'"other", W/{etag}'
        ).status_code
        == 304
    )
    make_message(conversation, "m-2", 2)
    changed = reader.get("/api/v1/conversations/c-1/messages/?afterId=m-1", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert _ids(changed) == ["m-2"]
    assert changed["ETag"] != etag
    # Another page has another ETag.
    assert reader.get("/api/v1/conversations/c-1/messages/")["ETag"] != changed["ETag"]


@pytest.mark.django_db
def test_it_validates_limit(reader):
    make_conversation("c-1")
    for bad in ("0", "501", "ten"):
        response = reader.get(f"/api/v1/conversations/c-1/messages/?limit={bad}")
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "limit"


@pytest.mark.django_db(transaction=True)
def test_pages_cover_every_message_exactly_once_while_messages_arrive(supervisor):
    """A platform delivers 30 messages (in order) while a client polls with afterId, 3 at a time."""
    total = 30
    post_native(Client(), event("evt-start", "conversation.started", "c-live", 1, {"channel": "webchat"}))
    done = threading.Event()
    errors: list[str] = []

    def deliver():
        try:
            client = Client()
            for number in range(1, total + 1):
                payload = event(
                    f"evt-m{number}",
                    "message.created",
                    "c-live",
                    number + 1,
                    {"messageId": f"m-{number:02d}", "direction": "inbound", "text": str(number)},
                )
                response = post_native(client, payload)
                if response.status_code != 200:
                    errors.append(response.content.decode())
        finally:
            done.set()
            connection.close()

    reader = Client()
    reader.force_login(supervisor)
    writer = threading.Thread(target=deliver)
    writer.start()
    seen: list[str] = []
    for _poll in range(2000):
        finished = done.is_set()
        url = "/api/v1/conversations/c-live/messages/?limit=3"
        if seen:
            url += f"&afterId={seen[-1]}"
        page = _ids(reader.get(url))
        seen += page
        if finished and not page:
            break
    writer.join(timeout=60)
    assert not errors
    assert seen == [f"m-{number:02d}" for number in range(1, total + 1)]
