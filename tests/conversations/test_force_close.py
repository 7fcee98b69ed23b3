"""Force-close: admin only, platform first then the mirror, one audit row, durable retries, no double calls."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import httpx
import pytest
import respx
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from console.events import conversation_group
from console.models import AuditEntry
from conversations.actions import attempt_force_close, expire_stale, force_close
from conversations.models import Conversation, ForceCloseRequest, WebhookReceipt
from conversations.tasks import force_close_retry
from diagnostics.models import Finding
from tests.conversations.lifecycle import at, receive, start_conversation
from tests.conversations.mirror import snapshot
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db

PLATFORM = "http://platform.test/sim"
CLOSE_URL = f"{PLATFORM}/api/conversations/c-ghost/close"
GET_URL = f"{PLATFORM}/api/conversations/c-ghost"


@pytest.fixture(autouse=True)
def native_platform(settings, monkeypatch):
    settings.NATIVE_PLATFORM_URL = PLATFORM
    settings.NATIVE_PLATFORM_TOKEN = "sim-token"
    settings.CONSOLE_FORCE_CLOSE_RETRY_SECONDS = 30
    waits: list[float] = []
    monkeypatch.setattr("conversations.platforms.base.pause", waits.append)
    return waits


@pytest.fixture
def ghost(client):
    return start_conversation(client, "c-ghost", active=True)


def finding(kind: str, conversation_id: str = "c-ghost") -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        kind=kind,
        severity="critical",
        subject=f"conversation:{conversation_id}",
        conversation_id=conversation_id,
        evidence={},
        remediation="r",
        guide_section="s",
        first_seen=now,
        last_seen=now,
    )


def close_as_ada(admin_user, **options):
    return force_close(
        "c-ghost", reason="widget shows a dead session", actor="user:ada-admin", actor_user=admin_user, **options
    )


# --- permissions -----------------------------------------------------------------------------------


def test_it_checks_permissions(client, ghost, supervisor, outsider, admin_user):
    url = reverse("admin:conversations_conversation_force_close", args=["c-ghost"])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 302  # no staff access at all
    client.force_login(supervisor)
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "try"}).status_code == 403
    change = client.get(reverse("admin:conversations_conversation_change", args=["c-ghost"])).content.decode()
    assert url not in change
    changelist = client.get(reverse("admin:conversations_conversation_changelist")).content.decode()
    assert "force_close_selected" not in changelist
    assert Conversation.objects.get(pk="c-ghost").state == "active"
    assert not ForceCloseRequest.objects.exists()
    client.force_login(admin_user)
    assert client.get(url).status_code == 200
    change = client.get(reverse("admin:conversations_conversation_change", args=["c-ghost"])).content.decode()
    assert url in change


# --- the action --------------------------------------------------------------------------------------


@respx.mock
def test_success_closes_on_the_platform_then_the_mirror_with_one_audit_row(ghost, admin_user):
    close = respx.post(CLOSE_URL).respond(200, json={"id": "c-ghost", "state": "closed"})
    ghost_finding, stale_finding, other = finding("ghost_session"), finding("stale_session"), finding("cursor_drift")
    outcome = close_as_ada(admin_user, idempotency_key="key-1", request_id="req-1")
    assert (outcome.status, outcome.state) == ("closed", "closed")
    assert outcome.platform_call == "native POST /api/conversations/c-ghost/close -> 200"
    assert json.loads(close.calls.last.request.content) == {"reason": "widget shows a dead session"}
    assert close.calls.last.request.headers["Authorization"] == "Bearer sim-token"
    conversation = Conversation.objects.get(pk="c-ghost")
    assert (conversation.state, conversation.close_reason) == ("closed", "force_closed")
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert outcome.audit_id == audit.pk
    assert (audit.actor, audit.actor_user, audit.reason) == (
        "user:ada-admin",
        admin_user,
        "widget shows a dead session",
    )
    assert (audit.idempotency_key, audit.request_id, audit.target_id) == ("key-1", "req-1", "c-ghost")
    assert audit.before == {"state": "active", "closedAt": None, "closeReason": ""}
    assert audit.after["state"] == "closed" and audit.after["closeReason"] == "force_closed"
    assert audit.after["platformCall"] == outcome.platform_call
    assert audit.after["resolvedFindings"] == 2
    statuses = dict(Finding.objects.values_list("pk", "status"))
    assert statuses == {ghost_finding.pk: "resolved", stale_finding.pk: "resolved", other.pk: "open"}
    assert AuditEntry.objects.filter(action="finding.resolved").count() == 2
    receipt = WebhookReceipt.objects.get(source="console")
    assert json.loads(receipt.body)["data"] == {"state": "closed", "reason": "force_closed"}
    request = ForceCloseRequest.objects.get()
    assert (request.status, request.attempts, request.audit_entry_id) == ("succeeded", 1, audit.pk)


@respx.mock
def test_a_platform_error_leaves_the_mirror_unchanged_and_audits_the_failure(ghost, admin_user, client):
    close = respx.post(CLOSE_URL).respond(503, json={"detail": "maintenance"})
    finding("ghost_session")
    with time_machine.travel(at(100), tick=False):
        outcome = close_as_ada(admin_user, idempotency_key="key-1")
    assert (outcome.status, outcome.state) == ("pending", "active")
    assert close.call_count == 2  # the interactive attempt retries a 5xx once
    assert "HTTP 503 (maintenance)" in outcome.detail and "retried in the background" in outcome.detail
    conversation = Conversation.objects.get(pk="c-ghost")
    assert (conversation.state, conversation.closed_at, conversation.close_reason) == ("active", None, "")
    assert not AuditEntry.objects.filter(action="conversation.force_closed").exists()
    failed = AuditEntry.objects.get(action="conversation.force_close_failed")
    assert outcome.audit_id == failed.pk
    assert failed.after["error"].startswith("native POST /api/conversations/c-ghost/close failed: HTTP 503")
    assert (failed.after["attempt"], failed.after["gaveUp"]) == (1, False)
    assert Finding.objects.get().status == "open"
    assert not WebhookReceipt.objects.filter(source="console").exists()
    request = ForceCloseRequest.objects.get()
    assert (request.status, request.next_attempt_at) == ("pending", at(130))
    # The admin sees the pending state on the conversation page.
    client.force_login(admin_user)
    page = client.get(reverse("admin:conversations_conversation_change", args=["c-ghost"])).content.decode()
    assert "Force-close requests" in page
    assert "Pending (waiting for an attempt)" in page
    assert "HTTP 503 (maintenance)" in page


@respx.mock
def test_a_repeat_with_the_same_key_makes_no_second_platform_call(ghost, admin_user):
    close = respx.post(CLOSE_URL).respond(200, json={"id": "c-ghost", "state": "closed"})
    first = close_as_ada(admin_user, idempotency_key="key-1")
    again = close_as_ada(admin_user, idempotency_key="key-1")
    assert close.call_count == 1
    assert (first.status, again.status, again.audit_id) == ("closed", "closed", None)
    assert "already requested with this idempotency key" in again.detail
    without_key = close_as_ada(admin_user)
    assert (without_key.status, close.call_count) == ("already_closed", 1)
    assert AuditEntry.objects.filter(action="conversation.force_closed").count() == 1
    assert ForceCloseRequest.objects.count() == 1


@respx.mock
def test_a_repeat_while_the_platform_fails_joins_the_pending_request(ghost, admin_user):
    close = respx.post(CLOSE_URL).respond(502)
    assert close_as_ada(admin_user, idempotency_key="key-1").status == "pending"
    calls = close.call_count
    again = close_as_ada(admin_user, idempotency_key="key-2")
    assert again.status == "pending" and "already under way" in again.detail
    assert close.call_count == calls
    assert ForceCloseRequest.objects.count() == 1


@respx.mock
def test_the_background_retry_asks_the_platform_first_then_closes_once(ghost, admin_user):
    close = respx.post(CLOSE_URL)
    close.side_effect = [httpx.Response(503), httpx.Response(503), httpx.Response(200, json={"state": "closed"})]
    get = respx.get(GET_URL).respond(200, json={"id": "c-ghost", "state": "active", "participants": []})
    with time_machine.travel(at(100), tick=False):
        close_as_ada(admin_user)
        assert force_close_retry.apply().get() == {}  # not due yet: nothing happens
    assert get.call_count == 0
    with time_machine.travel(at(131), tick=False):
        assert force_close_retry.apply().get() == {"closed": 1}
        assert force_close_retry.apply().get() == {}
    assert (get.call_count, close.call_count) == (1, 3)
    conversation = Conversation.objects.get(pk="c-ghost")
    assert (conversation.state, conversation.close_reason) == ("closed", "force_closed")
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert (audit.actor, audit.after["attempt"]) == ("user:ada-admin", 2)
    assert AuditEntry.objects.filter(action="conversation.force_close_failed").count() == 1


@respx.mock
def test_a_retry_finds_it_closed_on_the_platform_and_makes_no_close_call(ghost, admin_user):
    close = respx.post(CLOSE_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    respx.get(GET_URL).respond(200, json={"id": "c-ghost", "state": "closed", "participants": []})
    with time_machine.travel(at(100), tick=False):
        assert close_as_ada(admin_user).status == "pending"
    calls = close.call_count
    with time_machine.travel(at(200), tick=False):
        assert force_close_retry.apply().get() == {"closed": 1}
    assert close.call_count == calls
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert "closed on the platform already; no close call" in audit.after["platformCall"]
    assert Conversation.objects.get(pk="c-ghost").close_reason == "force_closed"


@respx.mock
def test_an_attempt_whose_worker_died_is_taken_over_after_its_lease(ghost, admin_user, settings):
    settings.CONSOLE_FORCE_CLOSE_LEASE_SECONDS = 60
    respx.get(GET_URL).respond(404)
    close = respx.post(CLOSE_URL).respond(200, json={"state": "closed"})
    with time_machine.travel(at(100), tick=False):
        request = ForceCloseRequest.objects.create(
            conversation=ghost, reason="dead", actor="user:ada-admin", status="in_flight", attempts=1
        )
        ForceCloseRequest.objects.filter(pk=request.pk).update(lease_expires_at=at(160), claim_token="dead-worker")
        assert attempt_force_close(request.pk).status == "pending"  # the lease still holds it
    with time_machine.travel(at(161), tick=False):
        outcome = attempt_force_close(request.pk)
    assert outcome.status == "closed"
    assert close.call_count == 0  # the platform does not know it any more: nothing to close there
    assert "not found" in outcome.platform_call
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 2)


@respx.mock
def test_it_gives_up_after_the_last_attempt(ghost, admin_user, settings):
    settings.CONSOLE_FORCE_CLOSE_MAX_ATTEMPTS = 2
    close = respx.post(CLOSE_URL).respond(403, json={"detail": "missing permission conversation:close"})
    respx.get(GET_URL).respond(200, json={"id": "c-ghost", "state": "active"})
    with time_machine.travel(at(100), tick=False):
        assert close_as_ada(admin_user).status == "pending"
    with time_machine.travel(at(200), tick=False):
        assert force_close_retry.apply().get() == {"failed": 1}
    with time_machine.travel(at(100_000), tick=False):
        assert force_close_retry.apply().get() == {}
    assert close.call_count == 2  # a 403 is not retried within an attempt
    last = AuditEntry.objects.filter(action="conversation.force_close_failed").order_by("pk").last()
    assert last.after["gaveUp"] is True and "missing permission" in last.after["error"]
    assert ForceCloseRequest.objects.get().status == "failed"
    assert Conversation.objects.get(pk="c-ghost").state == "active"


def test_without_a_configured_platform_it_closes_the_mirror_only_and_says_so(ghost, admin_user, settings):
    settings.NATIVE_PLATFORM_URL = ""
    outcome = close_as_ada(admin_user)
    assert outcome.status == "closed"
    assert outcome.platform_call.startswith("none: no platform configured for native (closed in the mirror only")
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert audit.after["platformCall"] == outcome.platform_call
    assert Conversation.objects.get(pk="c-ghost").state == "closed"


def test_it_refuses_an_empty_reason_and_an_unknown_conversation(ghost):
    with pytest.raises(ValueError, match="reason"):
        force_close("c-ghost", reason="  ", actor="user:ada")
    with pytest.raises(Conversation.DoesNotExist):
        force_close("c-nope", reason="x", actor="user:ada")


@respx.mock
def test_an_expired_conversation_is_already_closed_without_a_platform_call(client, admin_user):
    start_conversation(client, "c-ghost")
    close = respx.post(CLOSE_URL).respond(200)
    with time_machine.travel(at(1000), tick=False):
        expire_stale()
    outcome = close_as_ada(admin_user)
    assert (outcome.status, outcome.state, outcome.audit_id) == ("already_closed", "expired", None)
    assert close.call_count == 0


@respx.mock
def test_a_webhook_after_a_force_close_does_not_reopen_and_replay_rebuilds_it(client, ghost, admin_user):
    respx.post(CLOSE_URL).respond(200, json={"state": "closed"})
    close_as_ada(admin_user)
    reopen = event("after-fc", "conversation.state_changed", "c-ghost", 40, {"state": "active"}, seconds=4000)
    assert post_native(client, reopen).status_code == 200
    assert Conversation.objects.get(pk="c-ghost").state == "closed"
    before = snapshot()
    call_command("replay_events", reset=True, noinput=True, stdout=io.StringIO())
    assert snapshot() == before
    assert before["conversations"][0]["close_reason"] == "force_closed"


@respx.mock
def test_it_pushes_the_change_live_after_commit(ghost, admin_user, django_capture_on_commit_callbacks):
    respx.post(CLOSE_URL).respond(200, json={"state": "closed"})
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(conversation_group("c-ghost"), channel)
    with django_capture_on_commit_callbacks(execute=True):
        close_as_ada(admin_user)
    messages = [receive(layer, channel), receive(layer, channel)]
    by_type = {message["type"]: message for message in messages}
    assert by_type["conversation.updated"]["conversation"]["state"] == "closed"
    assert by_type["conversation.updated"]["conversation"]["forceClose"]["status"] == "succeeded"
    assert by_type["timeline.event"]["event"]["action"] == "conversation.force_closed"


# --- the admin ------------------------------------------------------------------------------------


@respx.mock
def test_an_admin_force_closes_from_the_conversation_page_with_a_reason(client, ghost, admin_user):
    close = respx.post(CLOSE_URL).respond(200, json={"state": "closed"})
    client.force_login(admin_user)
    url = reverse("admin:conversations_conversation_force_close", args=["c-ghost"])
    form = client.get(url).content.decode()
    assert "Handoff context history" in form and 'name="reason"' in form
    assert "closed on native first, then in the mirror" in form
    response = client.post(url, {"reason": "   "})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert close.call_count == 0
    response = client.post(url, {"reason": "ghost: widget silent for an hour"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:conversations_conversation_change", args=["c-ghost"])
    page = response.content.decode()
    assert "Conversation c-ghost: closed" in page
    assert "Handoff context history" in page  # the page keeps its history
    audit = AuditEntry.objects.get(action="conversation.force_closed")
    assert (audit.actor, audit.reason) == ("user:ada-admin", "ghost: widget silent for an hour")


@respx.mock
def test_an_admin_force_closes_selected_conversations_with_the_list_action(client, admin_user):
    start_conversation(client, "c-a", active=True)
    start_conversation(client, "c-b")
    close_a = respx.post(f"{PLATFORM}/api/conversations/c-a/close").respond(200, json={"state": "closed"})
    close_b = respx.post(f"{PLATFORM}/api/conversations/c-b/close").respond(500)
    client.force_login(admin_user)
    changelist = reverse("admin:conversations_conversation_changelist")
    selection = {"action": "force_close_selected", "_selected_action": ["c-a", "c-b"]}
    form = client.post(changelist, selection)
    assert form.status_code == 200
    assert "Force close 2 conversations" in form.content.decode()
    assert close_a.call_count == 0
    response = client.post(changelist, {**selection, "apply": "1", "reason": "both are ghosts"}, follow=True)
    page = response.content.decode()
    assert "Conversation c-a: closed — native POST /api/conversations/c-a/close -&gt; 200" in page
    assert "Conversation c-b: pending — the platform call failed (native POST" in page
    assert close_a.call_count == 1 and close_b.call_count == 2
    assert dict(Conversation.objects.values_list("id", "state")) == {"c-a": "closed", "c-b": "pending"}
    assert timezone.now() - ForceCloseRequest.objects.get(conversation_id="c-b").created_at < timedelta(minutes=1)


def test_a_retry_of_a_request_that_no_longer_exists_does_nothing():
    assert force_close_retry.apply(kwargs={"request_id": 12345}).get() == {}
