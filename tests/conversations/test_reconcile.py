"""reconcile_with_platform: the platform wins; drift becomes a correction (audited) and a finding."""

from __future__ import annotations

import io

import httpx
import pytest
import respx
from django.core.management import call_command

from console.models import AuditEntry
from conversations.actions import reconcile_with_platform
from conversations.models import Conversation
from conversations.tasks import reconcile_with_platform as reconcile_task
from diagnostics.models import Finding
from tests.conversations.lifecycle import start_conversation
from tests.conversations.mirror import snapshot
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db

PLATFORM = "http://platform.test/sim"
LIST_URL = f"{PLATFORM}/api/conversations"


@pytest.fixture(autouse=True)
def native_platform(settings, monkeypatch):
    settings.NATIVE_PLATFORM_URL = PLATFORM
    settings.NATIVE_PLATFORM_TOKEN = ""
    monkeypatch.setattr("conversations.platforms.base.pause", lambda seconds: None)


def listing(*conversations):
    return {"conversations": [{"id": cid, "state": state, "lastActivityAt": ""} for cid, state in conversations]}


@respx.mock
def test_a_conversation_the_platform_closed_is_closed_in_the_mirror_with_a_finding(
    client, django_capture_on_commit_callbacks
):
    start_conversation(client, "c-live", active=True)
    start_conversation(client, "c-ghost", active=True)
    start_conversation(client, "c-gone")
    respx.get(LIST_URL, params={"state": "active"}).respond(200, json=listing(("c-live", "active")))
    respx.get(f"{LIST_URL}/c-ghost").respond(200, json={"id": "c-ghost", "state": "closed", "participants": []})
    respx.get(f"{LIST_URL}/c-gone").respond(404)
    with django_capture_on_commit_callbacks(execute=True):  # the detectors run after the commit
        report = reconcile_with_platform()
    assert report["native"]["corrected"] == 2
    assert report["native"]["in_sync"] == 1
    assert report["native"]["lookups"] == 2
    states = dict(Conversation.objects.values_list("id", "state"))
    assert states == {"c-live": "active", "c-ghost": "closed", "c-gone": "closed"}
    reasons = dict(Conversation.objects.values_list("id", "close_reason"))
    assert (reasons["c-ghost"], reasons["c-gone"]) == ("platform_closed", "platform_not_found")
    audit = AuditEntry.objects.get(action="conversation.reconciled", target_id="c-ghost")
    assert audit.actor == "system:conversations.tasks.reconcile_with_platform"
    assert audit.reason == "native says closed while the mirror said active"
    assert (audit.before["state"], audit.after["state"], audit.after["platformState"]) == ("active", "closed", "closed")
    ghost = Finding.objects.get(conversation_id="c-ghost")
    assert (ghost.kind, ghost.status, ghost.severity) == ("ghost_session", "open", "critical")
    assert ghost.evidence["variant"] == "platform_closed_while_mirror_open"
    assert ghost.evidence["closeReason"] == "platform_closed"
    assert "Edge Case 1" in ghost.guide_section
    assert Finding.objects.filter(conversation_id="c-gone", kind="ghost_session").exists()


@respx.mock
def test_running_it_again_changes_nothing(client):
    start_conversation(client, "c-ghost", active=True)
    respx.get(LIST_URL, params={"state": "active"}).respond(200, json=listing())
    respx.get(f"{LIST_URL}/c-ghost").respond(200, json={"id": "c-ghost", "state": "closed"})
    reconcile_with_platform()
    before = (snapshot(), AuditEntry.objects.count(), list(Finding.objects.values("count", "status")))
    assert reconcile_task.apply().get()["native"].get("corrected", 0) == 0
    assert (snapshot(), AuditEntry.objects.count(), list(Finding.objects.values("count", "status"))) == before


@respx.mock
def test_a_pending_conversation_the_platform_holds_active_becomes_active(client):
    start_conversation(client, "c-queued")
    respx.get(LIST_URL, params={"state": "active"}).respond(200, json=listing(("c-queued", "active")))
    reconcile_with_platform()
    conversation = Conversation.objects.get(pk="c-queued")
    assert conversation.state == "active"
    assert AuditEntry.objects.get(action="conversation.reconciled").after["state"] == "active"
    assert not Finding.objects.exists()


@respx.mock
def test_the_correction_is_a_fact_a_late_webhook_does_not_undo_and_replay_rebuilds(client):
    start_conversation(client, "c-ghost", active=True)
    respx.get(LIST_URL, params={"state": "active"}).respond(200, json=listing())
    respx.get(f"{LIST_URL}/c-ghost").respond(200, json={"id": "c-ghost", "state": "closed"})
    reconcile_with_platform()
    post_native(client, event("late", "conversation.state_changed", "c-ghost", 30, {"state": "active"}, seconds=5000))
    assert Conversation.objects.get(pk="c-ghost").state == "closed"
    before = snapshot()
    call_command("replay_events", reset=True, noinput=True, stdout=io.StringIO())
    assert snapshot() == before


@respx.mock
def test_a_platform_outage_changes_nothing_and_is_reported(client):
    start_conversation(client, "c-1", active=True)
    respx.get(LIST_URL, params={"state": "active"}).mock(side_effect=httpx.ConnectError("refused"))
    report = reconcile_with_platform()
    assert "native GET /api/conversations failed: ConnectError: refused" in report["native"]["error"]
    assert Conversation.objects.get(pk="c-1").state == "active"
    assert not AuditEntry.objects.exists()


@respx.mock
def test_it_looks_up_at_most_the_configured_number_per_run(client, settings):
    settings.CONSOLE_RECONCILE_MAX_LOOKUPS = 1
    start_conversation(client, "c-1", active=True)
    start_conversation(client, "c-2", active=True, seq=50)
    respx.get(LIST_URL, params={"state": "active"}).respond(200, json=listing())
    one = respx.get(f"{LIST_URL}/c-1").respond(200, json={"id": "c-1", "state": "active"})
    two = respx.get(f"{LIST_URL}/c-2").respond(200, json={"id": "c-2", "state": "active"})
    report = reconcile_with_platform()
    assert (report["native"]["lookups"], report["native"]["not_checked"]) == (1, 1)
    assert (one.call_count, two.call_count) == (1, 0)  # the oldest activity is checked first


def test_without_configured_platforms_there_is_nothing_to_reconcile(client, settings):
    settings.NATIVE_PLATFORM_URL = ""
    start_conversation(client, "c-1")
    assert reconcile_with_platform() == {}
