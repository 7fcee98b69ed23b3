"""POST /telemetry/: deployment key, origin allowlist and CORS, batch limits, per-beacon errors, dedup, rate limit."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import override_settings

from conversations.models import Conversation, Participant
from diagnostics.actions import create_deployment
from diagnostics.models import TelemetryBeacon
from tests.diagnostics.scene import ORIGIN

pytestmark = pytest.mark.django_db

FOREIGN = "https://evil.example.net"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def init(scene, number=1, **fields):
    return scene.init(f"s-{number}", seconds=1, conversation_id=f"c-{number}", **fields)


def test_it_accepts_a_batch_and_answers_202_with_counts_and_cors_headers(scene, deployment):
    response = scene.post_beacons(deployment, [init(scene, 1), init(scene, 2)])
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0, "errors": []}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response["Vary"]
    stored = TelemetryBeacon.objects.get(conversation_id="c-1")
    assert (stored.kind, stored.session_key, stored.origin, stored.deployment_id) == (
        "session.init",
        "s-1",
        ORIGIN,
        deployment.pk,
    )
    assert stored.payload["validationResult"] == "new"


def test_it_refuses_a_wrong_or_missing_key_with_401(scene, deployment):
    deployment.key = "wd_not-the-key"
    response = scene.post_beacons(deployment, [init(scene)])
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert "names no deployment" in response.json()["detail"]
    # The widget's origin is allowed by a deployment, so it may read the answer.
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    response = scene.client.post(
        "/telemetry/", data=b'{"beacons": []}', content_type="application/json", HTTP_ORIGIN=ORIGIN
    )
    assert response.status_code == 401
    assert not TelemetryBeacon.objects.exists()


def test_it_refuses_a_foreign_or_missing_origin_with_403_and_no_cors(scene, deployment):
    for origin in (FOREIGN, ""):
        response = scene.post_beacons(deployment, [init(scene)], origin=origin)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert "Access-Control-Allow-Origin" not in response
    assert not TelemetryBeacon.objects.exists()


def test_it_refuses_an_origin_of_another_deployment(scene, deployment):
    other = create_deployment(name="other", origins=["https://shop.example.org"], actor="system:test")
    response = scene.post_beacons(other, [init(scene)], origin=ORIGIN)
    assert response.status_code == 403
    assert "https://www.example.com is not allowed" in response.json()["detail"]


def test_it_answers_the_preflight_only_for_allowed_origins(client, deployment):
    response = client.options(
        "/telemetry/",
        HTTP_ORIGIN="https://WWW.example.com:443",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-deployment-key",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {header.strip().lower() for header in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-deployment-key"} <= allowed
    refused = client.options("/telemetry/", HTTP_ORIGIN=FOREIGN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


def test_it_refuses_101_beacons_with_413_and_a_clear_message(scene, deployment):
    beacons = [init(scene, number) for number in range(101)]
    response = scene.post_beacons(deployment, beacons)
    assert response.status_code == 413
    assert response.json()["detail"] == "a batch holds at most 100 beacons; got 101"
    assert not TelemetryBeacon.objects.exists()
    assert scene.post_beacons(deployment, beacons[:100]).json()["accepted"] == 100


def test_it_lists_malformed_beacons_by_index_and_stores_the_rest(scene, deployment):
    good = [init(scene, 1), init(scene, 2)]
    bad_time = {**init(scene, 3), "sentAt": "yesterday"}
    future = {**init(scene, 4), "sentAt": scene.instant(302)}
    old = {**init(scene, 5), "sentAt": scene.instant(-86401)}
    no_kind = {key: value for key, value in init(scene, 6).items() if key != "kind"}
    bad_event = scene.socket("s-7", "exploded", seconds=1, conversation_id="c-7")
    bad_ids = scene.beacon("history.fetch", "s-8", seconds=1, conversationId="c-8", returnedIds="m-1,m-2")
    response = scene.post_beacons(
        deployment, [good[0], bad_time, future, old, no_kind, bad_event, "x", bad_ids, good[1]]
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [(error["index"], error["error"].split(":")[0]) for error in body["errors"]] == [
        (1, "sentAt"),
        (2, "sentAt"),
        (3, "sentAt"),
        (4, "kind"),
        (5, "event"),
        (6, "beacon"),
        (7, "returnedIds"),
    ]
    assert "more than 5 minutes in the future" in body["errors"][1]["error"]
    assert "more than 24 hours in the past" in body["errors"][2]["error"]
    assert set(TelemetryBeacon.objects.values_list("beacon_id", flat=True)) == {good[0]["id"], good[1]["id"]}


def test_it_counts_duplicates_by_beacon_id_in_and_across_batches(scene, deployment):
    first = init(scene, 1)
    assert scene.post_beacons(deployment, [first, first]).json() == {"accepted": 1, "duplicates": 1, "errors": []}
    again = scene.post_beacons(deployment, [first, init(scene, 2)]).json()
    assert again == {"accepted": 1, "duplicates": 1, "errors": []}
    assert TelemetryBeacon.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (b"beacons=1", "application/x-www-form-urlencoded", 415, "Content-Type must be application/json"),
        (b'{"beacons": [', "application/json", 400, "malformed JSON"),
        (b'{"beacon": []}', "application/json", 400, '{"beacons": [...]}'),
        (b"[]", "application/json", 400, '{"beacons": [...]}'),
        (b'{"beacons": [NaN]}', "application/json", 400, "malformed JSON"),
    ],
)
def test_it_refuses_an_unusable_body_as_a_whole(client, deployment, body, content_type, status, detail):
    response = client.post(
        "/telemetry/", data=body, content_type=content_type, HTTP_X_DEPLOYMENT_KEY=deployment.key, HTTP_ORIGIN=ORIGIN
    )
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]


def test_it_refuses_an_oversize_body_with_413(client, deployment):
    body = json.dumps({"beacons": [], "padding": "x" * (256 * 1024)}).encode()
    response = client.post(
        "/telemetry/",
        data=body,
        content_type="application/json",
        HTTP_X_DEPLOYMENT_KEY=deployment.key,
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 413


@override_settings(TELEMETRY_RATE_LIMIT_PER_MINUTE=2)
def test_it_rate_limits_per_key_and_address_with_429_and_retry_after(scene, deployment):
    other = create_deployment(name="other", origins=[ORIGIN], actor="system:test")
    assert scene.post_beacons(deployment, []).status_code == 202
    assert scene.post_beacons(deployment, []).status_code == 202
    limited = scene.post_beacons(deployment, [init(scene)])
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited["Access-Control-Allow-Origin"] == ORIGIN
    assert "Retry-After" in limited["Access-Control-Expose-Headers"]
    assert scene.post_beacons(other, []).status_code == 202  # another key has its own budget
    assert not TelemetryBeacon.objects.exists()


def test_it_answers_405_for_other_methods(client, deployment):
    response = client.get("/telemetry/", HTTP_X_DEPLOYMENT_KEY=deployment.key, HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 405
    assert "POST" in response["Allow"]


def test_it_updates_the_participants_socket_health(scene, deployment):
    scene.start("c-1", seconds=0)
    scene.join("c-1", "cust-1", "customer", seconds=1)
    scene.send(
        deployment,
        scene.socket("s-1", "open", seconds=2, conversation_id="c-1"),
        scene.socket("s-1", "heartbeat", seconds=30, conversation_id="c-1", rttMs=48.6),
        scene.socket("s-1", "pong_missed", seconds=60, conversation_id="c-1", missedPongs=1),
        scene.socket("s-1", "pong_missed", seconds=65, conversation_id="c-1", missedPongs=2),
    )
    customer = Participant.objects.get(participant_id="cust-1")
    assert (customer.socket_state, customer.missed_pongs, customer.rtt_ms, customer.origin) == ("open", 2, 49, ORIGIN)
    assert customer.last_heartbeat_at.isoformat() == "2026-11-24T10:00:30+00:00"
    scene.send(
        deployment,
        scene.socket("s-1", "pong_missed", seconds=70, conversation_id="c-1", missedPongs=3),
        scene.socket(
            "s-1", "reconnect_attempt", seconds=71, conversation_id="c-1", attempt=1, delayMs=1000, readyState=3
        ),
    )
    customer.refresh_from_db()
    assert (customer.socket_state, customer.missed_pongs, customer.reconnects) == ("reconnecting", 0, 1)


def test_it_gives_a_named_conversation_the_deployment_session_ttl(scene):
    kiosk = create_deployment(name="kiosk", origins=[ORIGIN], ttl_seconds=300, actor="system:test")
    scene.start("c-1", seconds=0)
    assert Conversation.objects.get(pk="c-1").ttl_seconds is None
    scene.send(kiosk, scene.socket("s-1", "open", seconds=2, conversation_id="c-1"))
    assert Conversation.objects.get(pk="c-1").ttl_seconds == 300
    # Telemetry may arrive before the platform's first event: the TTL is taken when the conversation appears.
    scene.send(kiosk, scene.socket("s-2", "open", seconds=3, conversation_id="c-2"))
    scene.start("c-2", seconds=4)
    assert Conversation.objects.get(pk="c-2").ttl_seconds == 300
