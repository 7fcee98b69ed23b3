"""``manage.py simulate`` against a live console over HTTP, and its options."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conversations.models import Conversation, WebhookReceipt
from diagnostics.models import WidgetDeployment
from simulator.scenarios import FAULT_KINDS
from simulator.script import ORIGINS, STORAGES
from tests.simulator.harness import CaptureServer


def simulate(tmp_path, **options) -> tuple[dict, str]:
    out = StringIO()
    summary = tmp_path / "summary.json"
    defaults = {
        "conversations": 12,
        "seed": 21,
        "speed": 500,
        "rate": 4,
        "platform_port": 0,
        "summary": summary,
        "progress_interval": 0.5,
        "stdout": out,
    }
    call_command("simulate", **{**defaults, **options})
    return json.loads(summary.read_text()), out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_it_feeds_a_live_console_in_all_three_formats_and_writes_the_summary(live_server, tmp_path):
    with CaptureServer() as widgets:
        summary, output = simulate(
            tmp_path,
            target=live_server.url,
            conversations=15,
            telemetry_url=f"{widgets.url}/telemetry/",
            duplicate_rate=0.25,
            reorder_rate=0.4,
        )

    assert set(summary) == {"seed", "faults", "healthy"} and summary["seed"] == 21
    assert all(set(fault) == {"kind", "conversationId"} and fault["kind"] in FAULT_KINDS for fault in summary["faults"])
    named = [fault["conversationId"] for fault in summary["faults"]] + summary["healthy"]
    assert summary["faults"] and summary["healthy"]
    assert Conversation.objects.filter(pk__in=named).count() == len(set(named))
    assert set(Conversation.objects.values_list("source", flat=True)) == {"native", "genesys", "cxone"}
    outcomes = set(WebhookReceipt.objects.values_list("outcome", flat=True))
    assert "applied" in outcomes and "duplicate" in outcomes
    assert not outcomes & {"rejected", "failed"}

    deployment = WidgetDeployment.objects.get(name="Simulated widgets")
    assert set(deployment.allowed_origins) >= set(ORIGINS)
    requests = widgets.telemetry()
    assert {request.headers["X-Deployment-Key"] for request in requests} == {deployment.key}
    origins = {request.headers["Origin"] for request in requests}
    assert origins <= set(ORIGINS) and len(origins) >= 3
    beacons = [beacon for request in requests for beacon in request.json()["beacons"]]
    assert {beacon["kind"] for beacon in beacons} == {"session.init", "socket.state", "message.retry", "history.fetch"}
    inits = [beacon for beacon in beacons if beacon["kind"] == "session.init"]
    assert all(
        init["origin"] == request.headers["Origin"]
        for request in requests
        for init in request.json()["beacons"]
        if init["kind"] == "session.init"
    )
    assert len({init["storage"] for init in inits} & set(STORAGES)) >= 3

    assert output.startswith("Simulating 15 conversations")
    assert "] scenarios 15 (" in output and "Injected faults:" in output
    assert f"Injection summary written to {tmp_path / 'summary.json'}" in output


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_injection_summary(tmp_path):
    with CaptureServer() as console:
        first, _ = simulate(tmp_path, target=console.url, deployment_key="wd_test", faults="all", conversations=30)
        second, _ = simulate(tmp_path, target=console.url, deployment_key="wd_test", faults="all", conversations=30)
        other, _ = simulate(
            tmp_path, target=console.url, deployment_key="wd_test", faults="all", conversations=30, seed=22
        )
    assert first == second
    assert {fault["kind"] for fault in first["faults"]} == set(FAULT_KINDS)
    first_ids = {fault["conversationId"] for fault in first["faults"]} | set(first["healthy"])
    other_ids = {fault["conversationId"] for fault in other["faults"]} | set(other["healthy"])
    assert not first_ids & other_ids


@pytest.mark.django_db
def test_it_injects_only_the_faults_asked_for(tmp_path):
    with CaptureServer() as console:
        summary, _ = simulate(
            tmp_path,
            target=console.url,
            deployment_key="wd_test",
            faults="ghost_session,stale_session",
            conversations=9,
        )
        none, _ = simulate(tmp_path, target=console.url, deployment_key="wd_test", faults="none", conversations=3)
    assert {fault["kind"] for fault in summary["faults"]} == {"ghost_session", "stale_session"}
    assert len([f for f in summary["faults"] if f["kind"] == "ghost_session"]) >= 2  # both variants ran
    assert none["faults"] == [] and len(none["healthy"]) >= 3  # a returning customer has two


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"faults": "ghost_session,nonsense"}, "unknown fault kind nonsense"),
        ({"sources": "genesys", "faults": "participant_scoped_context"}, "needs one of the sources native"),
        ({"sources": "fax"}, "sources must be some of"),
        ({"conversations": -1}, "--conversations must be 0"),
        ({"speed": 0}, "--speed must be positive"),
        ({"reorder_rate": 2}, "--reorder-rate must be between 0 and 1"),
    ],
)
def test_it_refuses_bad_options(tmp_path, options, message):
    with pytest.raises(CommandError, match=message):
        simulate(tmp_path, target="http://127.0.0.1:9", deployment_key="wd_test", **options)


@pytest.mark.django_db
def test_it_stops_with_the_reason_when_the_console_refuses_every_webhook(tmp_path):
    refuse = lambda request, n: (401, {"detail": "webhook-signature does not match any configured secret"}, {})  # noqa: E731
    with CaptureServer(refuse) as console, pytest.raises(CommandError, match="does not match any configured secret"):
        simulate(tmp_path, target=console.url, deployment_key="wd_test", conversations=20, speed=50)


@pytest.mark.django_db
def test_duration_bounds_a_run_that_has_no_conversation_limit(tmp_path):
    with CaptureServer() as console:
        began = time.monotonic()
        summary, output = simulate(
            tmp_path,
            target=console.url,
            deployment_key="wd_test",
            faults="none",
            conversations=0,
            duration=1.5,
            speed=1,
            rate=2,
        )
    assert time.monotonic() - began < 15
    assert "Simulation finished (duration reached)" in output
    assert 1 <= len(summary["healthy"]) <= 4
