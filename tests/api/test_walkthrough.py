"""The README's API walkthrough, step by step, as a new user runs it with curl."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from tests.api.conftest import make_finding
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db


def test_the_readme_walkthrough(fake_force_close, supervisor):
    # Traffic: two conversations, one with an open finding and five messages.
    web = Client()
    post_native(web, event("e-1", "conversation.started", "c-ghost", 1, {"channel": "webchat", "tenant": "acme"}))
    for number in range(1, 6):
        data = {"messageId": f"m-{number}", "direction": "inbound", "text": f"hello {number}"}
        post_native(web, event(f"e-m{number}", "message.created", "c-ghost", number + 1, data))
    post_native(web, event("e-2", "conversation.started", "c-healthy", 1, {"channel": "webchat"}))
    make_finding("c-ghost", kind="ghost_session")

    # 1. manage.py create_api_client ops-bot --scope read --scope force-close
    out = StringIO()
    call_command(
        "create_api_client", "ops-bot", "--scope", "read", "--scope", "force-close", stdout=out, stderr=StringIO()
    )
    credentials = json.loads(out.getvalue())

    # 2. curl -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials http://127.0.0.1:8000/o/token/
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
    api = Client(HTTP_AUTHORIZATION=f"Basic {basic}")
    token = api.post("/o/token/", {"grant_type": "client_credentials"}).json()
    assert token["scope"] == "read force-close"
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")

    # 3. Conversations with open findings.
    listed = api.get("/api/v1/conversations/?has_open_findings=true").json()
    assert [row["conversationId"] for row in listed["results"]] == ["c-ghost"]
    assert listed["results"][0]["openFindings"] == 1

    # 4. Page the messages with afterId, two at a time, then poll with If-None-Match.
    seen, after = [], None
    while True:
        query = "limit=2" + (f"&afterId={after}" if after else "")
        page = api.get(f"/api/v1/conversations/c-ghost/messages/?{query}")
        ids = [row["messageId"] for row in page.json()["results"]]
        if not ids:
            break
        seen += ids
        after = ids[-1]
    assert seen == ["m-1", "m-2", "m-3", "m-4", "m-5"]
    assert (
        api.get(f"/api/v1/conversations/c-ghost/messages/?afterId={after}", HTTP_IF_NONE_MATCH=page["ETag"]).status_code
        == 304
    )

    # 5. Force-close with an Idempotency-Key; the retry gets the same answer.
    def close():
        return api.post(
            "/api/v1/conversations/c-ghost/force-close/",
            {"reason": "ghost session"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY='"3f1c7a52-6d1e-4a59-9a7e-0c2f6f1d2b11"',
        )

    first, retry = close(), close()
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert first.json()["state"] == "closed"
    assert len(fake_force_close.calls) == 1
    assert api.get("/api/v1/conversations/c-ghost/").json()["resumable"] is False

    # 6. The docs page (a supervisor's browser) is served and its schema documents all of it.
    browser = Client()
    browser.force_login(supervisor)
    assert browser.get("/api/docs/").status_code == 200
    schema = browser.get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/conversations/",
        "/api/v1/conversations/{conversation_id}/messages/",
        "/api/v1/conversations/{conversation_id}/force-close/",
    ):
        assert path in schema["paths"]
    assert schema["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/o/token/"
