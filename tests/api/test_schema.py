"""The OpenAPI schema: valid, complete, and true — Schemathesis calls every operation in process."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conversations.models import Handoff, Participant, WebhookReceipt
from tests.api.conftest import make_conversation, make_finding, make_message
from tests.base import issue_token
from tests.schemacases import check_every_operation


def _schema() -> dict:
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_it_generates_a_valid_schema_with_responses_and_examples_for_every_operation():
    schema = _schema()
    operations = [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]
    paths = {path for _m, path, _o in operations}
    assert {
        "/api/v1/conversations/",
        "/api/v1/conversations/{conversation_id}/",
        "/api/v1/conversations/{conversation_id}/messages/",
        "/api/v1/conversations/{conversation_id}/participants/",
        "/api/v1/conversations/{conversation_id}/handoffs/",
        "/api/v1/conversations/{conversation_id}/findings/",
        "/api/v1/conversations/{conversation_id}/timeline/",
        "/api/v1/conversations/{conversation_id}/force-close/",
        "/api/v1/findings/",
        "/api/v1/findings/{finding_id}/resolve/",
        "/api/v1/findings/{finding_id}/dismiss/",
        "/api/v1/socket-health/",
        "/api/v1/audit/",
        "/api/v1/webhook-receipts/",
        "/api/v1/webhook-receipts/{receipt_id}/replay/",
    } <= paths
    for method, path, operation in operations:
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, (method, path)
        for code in success:
            media = operation["responses"][code]["content"]["application/json"]
            assert media["schema"], (method, path, code)
            assert media.get("examples"), f"{method} {path} {code} has no example"
        for code in ("401", "403", "429"):
            assert "application/problem+json" in operation["responses"][code]["content"], (method, path, code)
        assert operation["security"], (method, path)
    force_close = schema["paths"]["/api/v1/conversations/{conversation_id}/force-close/"]["post"]
    assert {"200", "202", "400", "409", "422"} <= set(force_close["responses"])
    key = next(p for p in force_close["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header" and key["required"] is True
    flows = schema["components"]["securitySchemes"]["oauth2"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) == {"read", "findings", "force-close", "admin"}


@pytest.fixture
def api_schema(db, settings, fake_force_close):
    """The schema as the running app serves it, with data behind the documented example ids."""
    from django.core.wsgi import get_wsgi_application

    from console.actions import create_api_client

    settings.API_RATE_LIMIT_PER_MINUTE = 0
    conversation = make_conversation("c-42", routing_data={"queueId": "billing"})
    make_message(conversation, "m-7", 7)
    make_message(conversation, "m-8", 8)
    Participant.objects.create(conversation=conversation, participant_id="p-customer", role="customer", missed_pongs=2)
    Handoff.objects.create(
        conversation=conversation,
        key="evt-transfer",
        occurred_at=conversation.last_activity_at,
        context_before={"routingData": {"priority": 5}},
        context_after={"routingData": {}},
        lost_keys=["routingData.priority"],
    )
    make_finding("c-42", id=17)
    WebhookReceipt.objects.create(
        id=9001,
        source="native",
        event_id="evt-9001",
        signature_valid=True,
        outcome="applied",
        status_code=200,
        conversation_id="c-42",
        body=json.dumps(
            {
                "id": "evt-9001",
                "type": "message.created",
                "occurredAt": "2026-11-24T10:00:07Z",
                "conversationId": "c-42",
                "sequence": 7,
                "data": {"messageId": "m-7", "direction": "inbound", "text": "hi"},
            }
        ),
    )
    created = create_api_client("schemathesis", ["admin"])
    token = issue_token(created.client_id, created.client_secret)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    # In process, the WSGI handler must not close the test's connection after each request
    # (Django's test client does the same).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), headers=headers)
        loaded.test_headers = headers
        yield loaded
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 15


def test_every_operation_answers_as_documented(api_schema):
    """Schema examples, valid and invalid generated requests for every operation, as the admin client.

    No 5xx; status codes, content types, bodies and headers as the schema says. (One test over all
    operations rather than schemathesis' pytest plugin, whose lazy loader does not run on pytest 9.)
    """
    operations, failures = check_every_operation(
        api_schema,
        lambda case: case.call_and_validate(headers=api_schema.test_headers, checks=CHECKS),
        EXAMPLES_PER_OPERATION,
    )
    assert operations >= 17
    assert not failures, "\n\n".join(failures)
