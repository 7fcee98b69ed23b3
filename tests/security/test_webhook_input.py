"""Hostile webhook deliveries on all three sources: refused with a 4xx problem naming the problem, a
rejected receipt recorded, nothing applied, never a 5xx (issue 10, item 9).

tests/conversations/test_webhook_*.py cover each adapter's happy paths and a few refusals on one
source; this file covers every source and the inputs that used to reach the database.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
import time_machine

from conversations.models import Conversation, Message, WebhookReceipt
from tests.security.deliveries import SOURCES, encode, post, post_signed, signed_headers, valid_payloads

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_refused(response, status: int, *, signature_valid: bool | None, field: str | None = None, words=()):
    """A problem+json refusal, and the receipt the request left says the same."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    for word in words:
        assert word in problem["detail"], problem
    if field is not None:
        assert problem.get("field") == field, problem
        assert field in problem["detail"]
    receipt = WebhookReceipt.objects.order_by("-id").first()
    assert receipt is not None, "no receipt recorded"
    assert (receipt.outcome, receipt.status_code, receipt.signature_valid) == ("rejected", status, signature_valid)
    assert receipt.error == problem["detail"]
    assert receipt.body == ""
    return problem


# --- authenticity --------------------------------------------------------------------------------


def _tamper(source: str, body: bytes, headers: dict, how: str) -> tuple[bytes, dict]:
    headers = dict(headers)
    if how == "body":
        return body.replace(b'"', b' "', 1), headers
    name = {"native": "HTTP_WEBHOOK_SIGNATURE", "genesys": "HTTP_X_HUB_SIGNATURE_256", "cxone": "HTTP_AUTHORIZATION"}[
        source
    ]
    value = headers[name]
    flipped = "A" if value[-2] != "A" else "B"
    headers[name] = value[:-2] + flipped + value[-1]
    return body, headers


# A CXone token does not sign the body (the contract's shared token), so only the token is tampered.
@pytest.mark.parametrize(
    ("source", "how"),
    [("native", "signature"), ("native", "body"), ("genesys", "signature"), ("genesys", "body"), ("cxone", "token")],
)
def test_it_refuses_a_tampered_signature_with_401(client, source, how):
    body = encode(valid_payloads(source)[0])
    body, headers = _tamper(source, body, signed_headers(source, body), how)
    response = post(client, source, body, headers)
    assert_refused(response, 401, signature_valid=False, words=("match",))
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("native", "webhook-id, webhook-timestamp, webhook-signature"),
        ("genesys", "X-Hub-Signature-256"),
        ("cxone", "Authorization: Bearer"),
    ],
)
def test_it_refuses_missing_authenticity_headers_naming_them(client, source, named):
    response = post(client, source, encode(valid_payloads(source)[0]), {})
    assert_refused(response, 401, signature_valid=False, words=(named,))
    assert not Conversation.objects.exists()


def test_a_native_delivery_replayed_after_the_tolerance_is_refused(client):
    """Standard Webhooks' timestamp is the replay defence: the same signed request 301 s later is a 401."""
    body = encode(valid_payloads("native")[0])
    sent = int(time.time())
    headers = signed_headers("native", body, msg_id="e-start", timestamp=sent)
    with time_machine.travel(sent, tick=False):
        assert post(client, "native", body, headers).json()["status"] == "applied"
    with time_machine.travel(sent + 299, tick=False):
        assert post(client, "native", body, headers).json()["status"] == "duplicate"
    with time_machine.travel(sent + 301, tick=False):
        response = post(client, "native", body, headers)
    assert_refused(response, 401, signature_valid=False, words=("webhook-timestamp", "300 s"))
    assert list(WebhookReceipt.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied",
        "duplicate",
        "rejected",
    ]


@pytest.mark.parametrize("source", ["genesys", "cxone"])
def test_a_replayed_genesys_or_cxone_delivery_is_a_duplicate_never_applied_twice(client, source):
    """These schemes carry no timestamp: a captured delivery replayed later is recognised by its event id."""
    payloads = valid_payloads(source)
    for payload in payloads:
        assert post_signed(client, source, payload).status_code == 200
    mirror = (
        list(Conversation.objects.values("id", "state", "last_activity_at", "routing_data", "custom_attributes")),
        Message.objects.count(),
    )
    accepted = WebhookReceipt.objects.exclude(outcome="duplicate").count()
    for payload in payloads:
        response = post_signed(client, source, payload)
        assert response.json()["status"] == "duplicate"
    assert mirror == (
        list(Conversation.objects.values("id", "state", "last_activity_at", "routing_data", "custom_attributes")),
        Message.objects.count(),
    )
    assert WebhookReceipt.objects.exclude(outcome="duplicate").count() == accepted
    assert WebhookReceipt.objects.filter(outcome="duplicate", body="").count() == len(payloads)


# --- body shape ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_it_refuses_an_oversize_body_with_413_before_reading_the_signature(client, source):
    payload = copy.deepcopy(valid_payloads(source)[0])
    payload["padding"] = "x" * (256 * 1024)
    response = post_signed(client, source, payload)
    assert_refused(response, 413, signature_valid=None, words=("262144 bytes",))


@pytest.mark.parametrize("source", SOURCES)
def test_it_refuses_invalid_utf8_with_400(client, source):
    body = encode(valid_payloads(source)[0]).replace(b"}", b', "x": "\xc3\x28"}', 1)
    response = post(client, source, body, signed_headers(source, body))
    assert_refused(response, 400, signature_valid=True, words=("UTF-8",))


def _nest(depth: int) -> dict:
    value: dict = {"leaf": True}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize("source", SOURCES)
def test_it_refuses_deep_nesting_with_400_naming_where(client, source):
    payload = copy.deepcopy(valid_payloads(source)[0])
    payload["extra"] = _nest(64)  # 65 levels with the body itself
    response = post_signed(client, source, payload)
    problem = assert_refused(response, 400, signature_valid=True, words=("nested deeper than 64",))
    assert problem["field"].startswith("extra.n.n.n")
    # Far deeper than the interpreter's recursion limit, still under 256 KiB.
    body = b"[" * 100_000 + b"]" * 100_000
    response = post(client, source, body, signed_headers(source, body))
    assert_refused(response, 400, signature_valid=True, words=("malformed JSON",))


@pytest.mark.parametrize("source", SOURCES)
def test_it_accepts_nesting_up_to_the_limit(client, source):
    payload = copy.deepcopy(valid_payloads(source)[0])
    payload["extra"] = _nest(63)
    assert post_signed(client, source, payload).status_code == 200


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (rb'"nul \u0000 inside"', "NUL"),
        (rb'"lone \ud800 surrogate"', "unpaired UTF-16 surrogate"),
        (rb'"low \udfff first"', "unpaired UTF-16 surrogate"),
    ],
)
@pytest.mark.parametrize("source", SOURCES)
def test_it_refuses_nul_and_lone_surrogates_in_strings_with_400(client, source, raw, what):
    body = encode(valid_payloads(source)[0])
    body = body[:-1] + b', "note": {"deep": [' + raw + b"]}}"
    response = post(client, source, body, signed_headers(source, body))
    assert_refused(response, 400, signature_valid=True, field="note.deep[0]", words=(what,))
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("source", SOURCES)
def test_it_refuses_a_nul_in_a_key_without_echoing_it(client, source):
    body = encode(valid_payloads(source)[0])[:-1] + rb', "a\u0000b": 1}'
    response = post(client, source, body, signed_headers(source, body))
    problem = assert_refused(response, 400, signature_valid=True, words=("NUL",))
    assert "\x00" not in json.dumps(problem, ensure_ascii=False)


def test_a_valid_surrogate_pair_is_a_character_not_a_problem(client):
    payload = valid_payloads("native")[5]
    body = encode(payload).replace(b'"hello"', rb'"smile \ud83d\ude00"')
    response = post(client, "native", body, signed_headers("native", body, msg_id=payload["id"]))
    assert response.status_code == 200
    assert Message.objects.get().text == "smile \U0001f600"


# --- wrong types and values in every field of the canonical event ------------------------------------

STR, REQUIRED, CHOICE, OBJECT, ROUTING, STRINGS, PRIORITY = "str", "req", "choice", "obj", "routing", "strs", "prio"
WRONG = {
    STR: [42, True, [], {}],
    REQUIRED: [None, "  ", 42, [], {}],
    CHOICE: [None, 42, "bogus"],
    OBJECT: ["x", 1, []],
    ROUTING: ["x", 1, []],
    STRINGS: ["x", [1], [None]],
    PRIORITY: [True, [], {}],
}
TOP_LEVEL = [
    ("id", REQUIRED),
    ("conversationId", REQUIRED),
    ("data", OBJECT),
]
ROUTING_FIELDS = [
    ("queueId", STR),
    ("skillRequirements", STRINGS),
    ("complianceFlags", STRINGS),
    ("priority", PRIORITY),
]
DATA_FIELDS = {
    "conversation.started": [
        ("channel", STR),
        ("tenant", STR),
        ("customerKey", STR),
        ("routingData", ROUTING),
        ("customAttributes", OBJECT),
    ],
    "conversation.state_changed": [("state", CHOICE), ("reason", STR)],
    "conversation.attributes_updated": [("routingData", ROUTING), ("customAttributes", OBJECT)],
    "participant.joined": [
        ("participantId", REQUIRED),
        ("role", CHOICE),
        ("name", STR),
        ("queueId", STR),
        ("userId", STR),
        ("attributes", OBJECT),
    ],
    "participant.state_changed": [("participantId", REQUIRED), ("state", REQUIRED)],
    "participant.left": [("participantId", REQUIRED), ("disconnectType", STR)],
    "message.created": [
        ("messageId", REQUIRED),
        ("participantId", STR),
        ("direction", CHOICE),
        ("text", STR),
        ("idempotencyKey", STR),
    ],
    "conversation.transferred": [
        ("fromParticipantId", STR),
        ("toParticipantId", STR),
        ("fromQueueId", STR),
        ("toQueueId", STR),
        ("routingData", ROUTING),
        ("customAttributes", OBJECT),
    ],
}
# The longest value each string field may hold (the mirror's column), one character more is a 400.
MAX_LENGTHS = {
    "id": 200,
    "conversationId": 200,
    "data.channel": 100,
    "data.tenant": 200,
    "data.customerKey": 200,
    "data.reason": 200,
    "data.participantId": 200,
    "data.name": 200,
    "data.queueId": 200,
    "data.userId": 200,
    "data.state": 40,
    "data.disconnectType": 60,
    "data.messageId": 200,
    "data.idempotencyKey": 200,
    "data.fromParticipantId": 200,
    "data.toParticipantId": 200,
    "data.fromQueueId": 200,
    "data.toQueueId": 200,
    "data.routingData.queueId": 200,
}


def _wrong_cases():
    by_type = {payload["type"]: payload for payload in valid_payloads("native")}
    for event_type, payload in by_type.items():
        fields = [*TOP_LEVEL, ("occurredAt", "instant"), ("sequence", "int")]
        fields += [(f"data.{name}", kind) for name, kind in DATA_FIELDS[event_type]]
        if "routingData" in payload["data"]:
            fields += [(f"data.routingData.{name}", kind) for name, kind in ROUTING_FIELDS]
        for path, kind in fields:
            values = (
                WRONG.get(kind)
                or {
                    "instant": [1764000000, "yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00"],
                    "int": ["7", 1.5, True, -1, 2**63],
                }[kind]
            )
            for value in values:
                yield event_type, payload, path, value
        for path, longest in MAX_LENGTHS.items():
            if _applies(event_type, payload, path):
                yield event_type, payload, path, "x" * (longest + 1)


def _applies(event_type: str, payload: dict, path: str) -> bool:
    if not path.startswith("data."):
        return True
    if path.startswith("data.routingData."):
        return "routingData" in payload["data"]
    return path.removeprefix("data.") in {name for name, _ in DATA_FIELDS[event_type]}


def _get(payload: dict, path: str):
    value = payload
    for part in path.split(".") if path else []:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _set(payload: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    target = payload
    for part in parents:
        target = target[part]
    target[leaf] = value


def test_every_wrong_type_or_overlong_value_in_the_canonical_event_is_a_400_naming_the_field(client):
    failures, count = [], 0
    for index, (event_type, payload, path, value) in enumerate(_wrong_cases()):
        count += 1
        mutated = copy.deepcopy(payload)
        _set(mutated, path, value)
        response = post_signed(client, "native", mutated, msg_id=f"wrong-{index}")
        problem = response.json() if response["Content-Type"] in (PROBLEM, "application/json") else {}
        receipt = WebhookReceipt.objects.order_by("-id").first()
        expected_field = "data" if path == "data" else path
        shown = repr(value)[:40]
        if response.status_code != 400 or response["Content-Type"] != PROBLEM:
            failures.append(f"{event_type} {path}={shown}: {response.status_code} {problem}")
        elif problem.get("field") != expected_field:
            failures.append(f"{event_type} {path}={shown}: names {problem.get('field')!r}")
        elif (receipt.outcome, receipt.status_code, receipt.event_id) != ("rejected", 400, f"wrong-{index}"):
            failures.append(f"{event_type} {path}={shown}: receipt {receipt.outcome} {receipt.status_code}")
    assert count > 150
    assert not failures, "\n".join(failures)
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("source", "mutate", "field"),
    [
        ("genesys", lambda p: p["eventBody"].update(eventTime=1e20), "eventBody.eventTime"),
        ("genesys", lambda p: p["eventBody"].update(eventTime="0001-01-01T00:30:00+01:00"), "eventBody.eventTime"),
        (
            "genesys",
            lambda p: (
                p.update(topicName=f"v2.detail.events.conversation.{'c' * 201}.customer.start")
                or p["eventBody"].pop("conversationId")
            ),
            "topicName",
        ),
        ("genesys", lambda p: p["eventBody"].update(conversationId="c" * 201), "eventBody.conversationId"),
        ("genesys", lambda p: p["eventBody"].update(participantId=7), "eventBody.participantId"),
        ("genesys", lambda p: p["eventBody"].update(messageType="m" * 101), "eventBody.messageType"),
        ("cxone", lambda p: p.update(createdAtWithMilliseconds="9999-12-31T23:59-01:00"), "createdAtWithMilliseconds"),
        ("cxone", lambda p: p["data"]["case"].update(id=["1"]), "data.case.id"),
        ("cxone", lambda p: p["data"]["case"].update(customFields=[{"ident": 5}]), "data.case.customFields[0].ident"),
        ("cxone", lambda p: p.update(eventId="e" * 193), "eventId"),
    ],
)
def test_platform_envelopes_with_bad_values_are_a_400_naming_the_field(client, source, mutate, field):
    payload = copy.deepcopy(valid_payloads(source)[0])
    mutate(payload)
    response = post_signed(client, source, payload)
    assert_refused(response, 400, signature_valid=True, field=field)


@pytest.mark.parametrize("source", ["genesys", "cxone"])
def test_the_longest_platform_event_id_is_stored_with_its_derived_events(client, source):
    """Adapters derive ``<id>#<n>`` ids for the second and later events of a delivery: they must fit too."""
    if source == "genesys":  # acd.start: the queue joins (<id>) and the routing context merges (<id>#1)
        payload = {"id": "g" * 192, "detail-type": "x", "detail": valid_payloads(source)[2]}
    else:  # CaseCreated: started, the customer joins, the status
        payload = {**valid_payloads(source)[0], "eventId": "e" * 192}
    response = post_signed(client, source, payload)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "applied"
