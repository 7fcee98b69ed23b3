"""POST /telemetry/ under abuse: look-alike origins, forged keys, floods, and the storage bound per key
(issue 10, item 10).

tests/diagnostics/test_telemetry.py covers the contract (a foreign origin, an unknown key, the
per-address rate limit); this file covers what an attacker varies and the daily beacon quota that
bounds what one public deployment key can store, whatever the number of addresses behind it.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings

from conversations.ingest.canonical import format_instant
from diagnostics.actions import create_deployment
from diagnostics.models import TelemetryBeacon, WidgetDeployment
from tests.conftest import require_service

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"
NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def deployment(db):
    return create_deployment(name="acme web", origins=[ORIGIN], actor="system:test")


def beacons(count: int, *, prefix: str = "b", start: int = 0) -> list[dict]:
    sent = format_instant(datetime.now(UTC))
    return [
        {
            "id": f"{prefix}-{start + number}",
            "kind": "socket.state",
            "sentAt": sent,
            "sessionKey": f"s-{prefix}",
            "conversationId": "c-1",
            "event": "heartbeat",
            "readyState": 1,
            "rttMs": 30,
        }
        for number in range(count)
    ]


def post(client, key: str | None, items: list[dict], *, origin: str | None = ORIGIN, address="203.0.113.7", **extra):
    headers = {"REMOTE_ADDR": address, **extra}
    if key is not None:
        headers["HTTP_X_DEPLOYMENT_KEY"] = key
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    body = json.dumps({"beacons": items}).encode()
    return client.post("/telemetry/", data=body, content_type="application/json", **headers)


# --- origins -----------------------------------------------------------------------------------------

LOOK_ALIKES = [
    "http://www.example.com",  # scheme downgrade
    "https://www.example.com:8443",  # another port
    "https://www.example.com.evil.net",  # suffix
    "https://evil.net",
    "https://evil-www.example.com",
    "https://www.example.com@evil.net",
    "null",  # sandboxed iframe, file://
    "https://www.example.com, https://evil.net",
    "https://www.example.co",
]


@pytest.mark.parametrize("origin", LOOK_ALIKES)
def test_a_look_alike_origin_is_refused_with_403_and_no_cors(client, deployment, origin):
    response = post(client, deployment.key, beacons(1), origin=origin)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "Access-Control-Allow-Origin" not in response
    preflight = client.options(
        "/telemetry/", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST", REMOTE_ADDR="203.0.113.7"
    )
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight
    assert not TelemetryBeacon.objects.exists()


# --- keys ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "   ",
        "wd_" + "A" * 62,  # longer than any key
        "wd_\u00e9t\u00e9",  # not ASCII
        "' OR '1'='1",
        "%",
        "wd_*",
        "wd_\x00key",  # NUL: PostgreSQL text cannot hold it (only the test client can send it)
    ],
)
def test_a_missing_or_forged_key_is_refused_with_401(client, deployment, key):
    response = post(client, key, beacons(1))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert not TelemetryBeacon.objects.exists()


def test_the_key_is_read_from_the_header_only(client, deployment):
    body = json.dumps({"beacons": beacons(1)}).encode()
    response = client.post(
        f"/telemetry/?key={deployment.key}", data=body, content_type="application/json", HTTP_ORIGIN=ORIGIN
    )
    assert response.status_code == 401
    assert not TelemetryBeacon.objects.exists()


def test_a_key_of_another_deployment_does_not_open_its_origins(client, deployment):
    other = create_deployment(name="other", origins=["https://other.example.org"], actor="system:test")
    response = post(client, other.key, beacons(1), origin=ORIGIN)
    assert response.status_code == 403
    assert not TelemetryBeacon.objects.exists()


# --- bodies no column can hold ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (rb'"s-\u0000"', "beacons[0].sessionKey"),
        (rb'"s-\udc00"', "beacons[0].sessionKey"),
    ],
)
def test_a_beacon_string_the_database_cannot_hold_is_a_400_not_a_5xx(client, deployment, raw, field):
    body = json.dumps({"beacons": beacons(1)}).encode().replace(b'"s-b"', raw)
    response = client.post(
        "/telemetry/",
        data=body,
        content_type="application/json",
        HTTP_X_DEPLOYMENT_KEY=deployment.key,
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert not TelemetryBeacon.objects.exists()


# --- floods: per address, then per key whatever the addresses ------------------------------------------


@override_settings(TELEMETRY_RATE_LIMIT_PER_MINUTE=5, TELEMETRY_DAILY_BEACON_QUOTA=0)
def test_a_flood_from_one_address_is_throttled_while_another_address_goes_on(client, deployment):
    statuses = [post(client, deployment.key, beacons(1, start=n)).status_code for n in range(8)]
    assert statuses == [202] * 5 + [429] * 3
    limited = post(client, deployment.key, beacons(1, start=99))
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert post(client, deployment.key, beacons(1, start=100), address="198.51.100.9").status_code == 202
    assert TelemetryBeacon.objects.count() == 6


@override_settings(TELEMETRY_DAILY_BEACON_QUOTA=250)
def test_storage_per_key_is_bounded_by_the_daily_quota_whatever_the_addresses(client, deployment):
    with time_machine.travel(NOON, tick=False):
        sent = [post(client, deployment.key, beacons(100, start=n * 100), address=f"198.51.100.{n}") for n in range(3)]
        assert [r.status_code for r in sent] == [202, 202, 429]
        refused = sent[2]
        assert refused["Content-Type"] == "application/problem+json"
        assert refused.json()["quota"] == 250
        assert "daily quota of 250 beacons" in refused.json()["detail"]
        assert int(refused["Retry-After"]) == 12 * 3600  # until 00:00 UTC
        assert refused["Access-Control-Allow-Origin"] == ORIGIN  # the widget can read it
        # What still fits is taken; then every request is refused before its body is read.
        assert post(client, deployment.key, beacons(50, start=300), address="198.51.100.50").status_code == 202
        assert post(client, deployment.key, beacons(1, start=400), address="198.51.100.51").status_code == 429
        assert TelemetryBeacon.objects.filter(deployment=deployment).count() == 250
        other = create_deployment(name="other", origins=[ORIGIN], actor="system:test")
        assert post(client, other.key, beacons(1, prefix="o")).status_code == 202  # its own quota
    with time_machine.travel(NOON + timedelta(hours=12), tick=False):  # the next UTC day
        assert post(client, deployment.key, beacons(100, start=500)).status_code == 202
    assert TelemetryBeacon.objects.filter(deployment=deployment).count() == 350


@override_settings(TELEMETRY_DAILY_BEACON_QUOTA=1_000)
def test_a_deployment_can_have_a_smaller_quota_of_its_own(client, deployment):
    WidgetDeployment.objects.filter(pk=deployment.pk).update(daily_beacon_quota=10)
    with time_machine.travel(datetime(2026, 11, 24, 23, 59, 30, tzinfo=UTC), tick=False):
        assert post(client, deployment.key, beacons(10)).status_code == 202
        refused = post(client, deployment.key, beacons(1, start=10))
    assert refused.status_code == 429
    assert refused.json()["quota"] == 10
    assert refused["Retry-After"] == "30"


@override_settings(TELEMETRY_DAILY_BEACON_QUOTA=5)
def test_invalid_beacons_do_not_use_the_quota(client, deployment):
    broken = [{"id": f"x-{n}", "kind": "socket.state"} for n in range(20)]
    response = post(client, deployment.key, broken)
    assert response.status_code == 202
    assert len(response.json()["errors"]) == 20
    assert post(client, deployment.key, beacons(5)).status_code == 202


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(TELEMETRY_DAILY_BEACON_QUOTA=500, TELEMETRY_RATE_LIMIT_PER_MINUTE=0)
def test_concurrent_batches_never_store_more_than_the_quota(deployment):
    """Eight clients race with batches of 100 against a quota of 500: exactly five batches are stored."""
    require_service("PostgreSQL", connection.vendor == "postgresql", "concurrent claims need real connections")
    statuses, start = [], threading.Barrier(8)

    def client_thread(number: int) -> None:
        try:
            start.wait(timeout=10)
            response = post(Client(), deployment.key, beacons(100, prefix=f"t{number}"), address=f"198.51.100.{number}")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [202] * 5 + [429] * 3
    assert TelemetryBeacon.objects.filter(deployment=deployment).count() == 500
    assert WidgetDeployment.objects.get(pk=deployment.pk).beacon_quota_used == 500


# --- fuzz: whatever the beacons hold, the answer is below 500 ------------------------------------------

BEACON_KEYS = [
    "id", "kind", "sentAt", "sessionKey", "conversationId", "participantId", "origin", "storage",
    "storedConversationId", "storedAgeSeconds", "validated", "validationResult", "event", "readyState",
    "attempt", "delayMs", "closeCode", "missedPongs", "rttMs", "idempotencyKey", "outcome", "afterId",
    "since", "returnedIds", "etag",
]  # fmt: skip


@override_settings(TELEMETRY_RATE_LIMIT_PER_MINUTE=0)
def test_arbitrary_beacons_never_get_a_5xx(client, deployment):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.security.test_webhook_fuzz import json_values

    kinds = st.sampled_from(["session.init", "socket.state", "message.retry", "history.fetch"])
    valid = beacons(1)[0]
    beacon = st.one_of(
        json_values,
        st.dictionaries(st.sampled_from(BEACON_KEYS), json_values, max_size=8),
        st.builds(
            lambda kind, extra: {**valid, "kind": kind, **extra},
            kinds,
            st.dictionaries(st.sampled_from(BEACON_KEYS), json_values, max_size=4),
        ),
    )

    @settings(max_examples=100, deadline=3000, database=None, suppress_health_check=list(HealthCheck))
    @given(items=st.lists(beacon, max_size=5))
    def send(items):
        response = post(client, deployment.key, items)
        assert response.status_code in (202, 400, 413), (response.status_code, response.content[:300])
        if response.status_code == 202:
            answer = response.json()
            assert answer["accepted"] + answer["duplicates"] + len(answer["errors"]) == len(items)

    send()
