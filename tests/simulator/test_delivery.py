"""Webhook and telemetry delivery over real HTTP: retries, refusals, duplicates, reordering, batching."""

from __future__ import annotations

import json

import pytest

from simulator.delivery import DeliveryStats, Perturbation, TelemetrySender, WebhookSender
from tests.simulator.harness import CaptureServer, run_variant

NO_PERTURBATION = Perturbation(duplicate_rate=0, lost_ack_rate=0, reorder_rate=0)


def sender(url: str, stats: DeliveryStats, perturbation: Perturbation = NO_PERTURBATION, **options) -> WebhookSender:
    return WebhookSender(
        url, stats=stats, perturbation=perturbation, backoff_seconds=0.01, resend_delay=0.01, **options
    )


def deliveries(source="native", seed=4):
    return run_variant("healthy", source=source, seed=seed).deliveries


def deliver(url, items, perturbation=NO_PERTURBATION, **options) -> DeliveryStats:
    stats = DeliveryStats()
    webhooks = sender(url, stats, perturbation, **options)
    try:
        webhooks.submit(items)
        assert webhooks.drain(20)
    finally:
        webhooks.close()
    return stats


def test_it_retries_server_errors_with_backoff_until_accepted():
    with CaptureServer(lambda request, n: (503, {"detail": "busy"}, {}) if n <= 2 else None) as console:
        stats = deliver(console.url, deliveries()[:1])
    counts, outcomes, _ = stats.snapshot()
    assert len(console.webhooks()) == 3
    assert len({request.body for request in console.webhooks()}) == 1
    assert (counts["webhooks_delivered"], counts["webhook_attempts_retried"], counts["webhooks_failed"]) == (1, 2, 0)
    assert outcomes["applied"] == 1


def test_it_honours_retry_after_on_429():
    with CaptureServer(lambda request, n: (429, {}, {"Retry-After": "0"}) if n == 1 else None) as console:
        stats = deliver(console.url, deliveries()[:1])
    assert len(console.webhooks()) == 2
    assert stats.snapshot()[0]["webhooks_delivered"] == 1


def test_it_does_not_retry_a_refusal_and_reports_the_console_s_reason():
    refuse = lambda request, n: (401, {"detail": "webhook-signature does not match any configured secret"}, {})  # noqa: E731
    with CaptureServer(refuse) as console:
        stats = deliver(console.url, deliveries()[:2])
    counts, _, problems = stats.snapshot()
    assert len(console.webhooks()) == 2
    assert counts["webhooks_refused"] == 2 and counts["webhooks_delivered"] == 0
    assert any("HTTP 401 webhook-signature does not match" in problem for problem in problems)


def test_it_gives_up_on_an_unreachable_console_after_its_attempts():
    with CaptureServer() as closed:
        url = closed.url
    stats = deliver(url, deliveries()[:1], max_attempts=3)
    counts, _, problems = stats.snapshot()
    assert counts["webhooks_failed"] == 1 and counts["webhook_attempts_retried"] == 2
    assert any("gave up" in problem and "after 3 attempts" in problem for problem in problems)


def test_duplicates_and_lost_acknowledgements_resend_the_same_event():
    items = deliveries()[:3]
    with CaptureServer() as console:
        stats = deliver(console.url, items, Perturbation(duplicate_rate=1, lost_ack_rate=1, reorder_rate=0))
    ids = [request.headers["webhook-id"] for request in console.webhooks()]
    assert ids == [item.event_id for item in items for _ in range(3)]
    counts = stats.snapshot()[0]
    assert (counts["webhooks_duplicated"], counts["webhooks_retried"]) == (3, 3)


def test_a_conversation_is_delivered_in_order_unless_an_event_is_overtaken():
    items = deliveries(seed=6)
    with CaptureServer() as console:
        deliver(console.url, items)
    assert [json.loads(r.body)["sequence"] for r in console.webhooks()] == list(range(1, len(items) + 1))

    with CaptureServer() as console:
        stats = deliver(console.url, items[:2], Perturbation(duplicate_rate=0, lost_ack_rate=0, reorder_rate=1))
    assert [json.loads(r.body)["sequence"] for r in console.webhooks()] == [2, 1]
    assert stats.snapshot()[0]["webhooks_reordered"] == 1


def test_fault_deliveries_are_never_reordered_and_lost_ones_never_sent():
    recorded = run_variant("silent-after-lost-close", source="native", seed=2)
    items = recorded.deliveries
    for item in items:
        item.reorderable = False
    lost = items[-1]
    lost.lost = True
    with CaptureServer() as console:
        stats = deliver(console.url, items, Perturbation(duplicate_rate=0, lost_ack_rate=0, reorder_rate=1))
    sent = [r.headers["webhook-id"] for r in console.webhooks()]
    assert sent == [item.event_id for item in items[:-1]]
    assert stats.snapshot()[0]["webhooks_lost"] == 1


def beacon(number: int, sent_at: str) -> dict:
    return {"id": f"b-{number}", "kind": "socket.state", "sentAt": sent_at, "sessionKey": "sk-1", "event": "heartbeat"}


def test_telemetry_is_batched_per_origin_with_the_deployment_key():
    with CaptureServer() as console:
        stats = DeliveryStats()
        telemetry = TelemetrySender(f"{console.url}/telemetry/", "wd_key", stats=stats, flush_interval=0.05)
        try:
            telemetry.submit(
                "https://www.acme.example", [beacon(n, f"2026-01-01T00:00:{59 - n:02d}Z") for n in range(150)]
            )
            telemetry.submit("https://app.acme.example", [beacon(999, "2026-01-01T00:00:00Z")])
            assert telemetry.drain(10)
        finally:
            telemetry.close()
    requests = console.telemetry()
    by_origin = {}
    for request in requests:
        assert request.headers["X-Deployment-Key"] == "wd_key"
        assert len(request.json()["beacons"]) <= 100
        by_origin.setdefault(request.headers["Origin"], []).extend(request.json()["beacons"])
    assert sorted(len(beacons) for beacons in by_origin.values()) == [1, 150]
    acme = by_origin["https://www.acme.example"]
    assert [b["sentAt"] for b in acme] == sorted(b["sentAt"] for b in acme)
    counts = stats.snapshot()[0]
    assert (counts["beacons_sent"], counts["beacons_accepted"], counts["beacons_failed"]) == (151, 151, 0)


def test_refused_telemetry_is_counted_and_explained():
    refuse = lambda request, n: (403, {"detail": "Origin https://evil.example is not allowed"}, {})  # noqa: E731
    with CaptureServer(refuse) as console:
        stats = DeliveryStats()
        telemetry = TelemetrySender(f"{console.url}/telemetry/", "wd_key", stats=stats, flush_interval=0.05)
        try:
            telemetry.submit("https://evil.example", [beacon(1, "2026-01-01T00:00:00Z")])
            assert telemetry.drain(10)
        finally:
            telemetry.close()
    counts, _, problems = stats.snapshot()
    assert len(console.telemetry()) == 1  # a 403 is not retried
    assert counts["beacons_failed"] == 1
    assert any("HTTP 403 Origin https://evil.example is not allowed" in problem for problem in problems)


@pytest.mark.parametrize("source", ["genesys", "cxone"])
def test_platform_formats_go_to_their_own_endpoint(source):
    items = deliveries(source=source)[:2]
    with CaptureServer() as console:
        deliver(console.url, items)
    assert {request.path for request in console.webhooks()} == {f"/webhooks/{source}/"}
