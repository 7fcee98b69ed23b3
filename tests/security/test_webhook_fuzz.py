"""Fuzz the three webhook adapters through the real view (issue 10, item 9).

Every request is correctly signed, so it gets past authenticity and reaches JSON parsing, the
adapter, the mirror and the database. Whatever the body, the answer is below 500, a refusal is
problem+json, and each request leaves exactly one receipt. Bounded: a fixed number of examples
per source (a few seconds in all).
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import WebhookReceipt
from tests.security.deliveries import SOURCES, post_signed, valid_payloads

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=100,
    deadline=3000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

strings = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789-:TZ.+", max_size=32),  # timestamp- and id-like
    st.sampled_from(["", " ", "closed", "MESSAGE", "transfer", "2026-11-24T10:00:00Z", "x" * 201, "x" * 70_000]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)


# Names the adapters read, so that arbitrary objects reach past the first "is required".
KNOWN_KEYS = {
    "native": ["id", "type", "occurredAt", "conversationId", "sequence", "data"],
    "genesys": ["id", "topicName", "eventBody", "detail", "detail-type", "eventTime", "conversationId"],
    "cxone": ["eventId", "eventType", "createdAt", "createdAtWithMilliseconds", "data", "case", "message"],
}


def arbitrary_bodies(source: str):
    keys = st.one_of(st.sampled_from(KNOWN_KEYS[source]), st.text(max_size=12))
    return st.one_of(json_values, st.dictionaries(keys, json_values, max_size=7))


def _paths(value, prefix=()):
    """Every path into a JSON value (keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@st.composite
def mutated_payloads(draw, source: str):
    """A realistic delivery with one to three values replaced by arbitrary JSON, or removed."""
    payload = copy.deepcopy(draw(st.sampled_from(valid_payloads(source))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [path for path in _paths(payload) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return payload


def _deliver_and_check(client, source: str, payload) -> None:
    before = WebhookReceipt.objects.count()
    msg_id = payload.get("id") if isinstance(payload, dict) and isinstance(payload.get("id"), str) else ""
    response = post_signed(client, source, payload, msg_id=(msg_id or "fuzz")[:100])
    assert response.status_code < 500, (response.status_code, response.content[:300], json.dumps(payload)[:500])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["detail"]
    else:
        assert response.json()["status"] in ("applied", "duplicate", "stale", "ignored")
    assert WebhookReceipt.objects.count() == before + 1


@pytest.mark.parametrize("source", SOURCES)
def test_arbitrary_signed_json_never_gets_a_5xx(client, source):
    @FUZZ
    @given(payload=arbitrary_bodies(source))
    def deliver(payload):
        _deliver_and_check(client, source, payload)

    deliver()


@pytest.mark.parametrize("source", SOURCES)
def test_mutated_valid_deliveries_never_get_a_5xx(client, source):
    @FUZZ
    @given(payload=mutated_payloads(source))
    def deliver(payload):
        _deliver_and_check(client, source, payload)

    deliver()


# What an HTTP server hands Django as a header value: latin-1 text without control characters.
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120)
AUTH_HEADERS = {
    "native": ["HTTP_WEBHOOK_ID", "HTTP_WEBHOOK_TIMESTAMP", "HTTP_WEBHOOK_SIGNATURE"],
    "genesys": ["HTTP_X_HUB_SIGNATURE_256"],
    "cxone": ["HTTP_AUTHORIZATION", "HTTP_X_CXONE_TOKEN"],
}


@pytest.mark.parametrize("source", SOURCES)
def test_arbitrary_authenticity_headers_get_a_4xx_and_a_receipt(client, source):
    body = json.dumps(valid_payloads(source)[0]).encode()

    @FUZZ
    @given(headers=st.fixed_dictionaries({}, optional={name: header_values for name in AUTH_HEADERS[source]}))
    def deliver(headers):
        before = WebhookReceipt.objects.count()
        response = client.post(f"/webhooks/{source}/", data=body, content_type="application/json", **headers)
        assert 400 <= response.status_code < 500, (response.status_code, headers)
        assert response["Content-Type"] == "application/problem+json"
        assert WebhookReceipt.objects.count() == before + 1

    deliver()
