"""Supervisor pages: who may see what, what they show, and query counts that do not grow with rows."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEntry
from diagnostics.models import Finding
from tests.conversations.test_ordering_property import native_stream
from tests.webhooks import post_native

pytestmark = pytest.mark.django_db

SUPERVISOR_PAGES = ["dashboard", "conversations", "findings"]
ADMIN_PAGES = ["receipts", "audit"]


def _seed(client, count: int, prefix: str = "c") -> None:
    for index in range(count):
        for payload in native_stream(f"{prefix}-{index}", f"cust-{prefix}-{index}")[:10]:
            post_native(client, payload)
        _finding(f"{prefix}-{index}")
        AuditEntry.objects.create(
            actor="user:x", action="conversation.note", target_type="conversation", target_id=f"{prefix}-{index}"
        )


def _finding(conversation_id: str, kind: str = "ghost_session") -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        kind=kind,
        severity="critical",
        subject=f"conversation:{conversation_id}",
        conversation_id=conversation_id,
        evidence={"socketState": "closed", "lastInboundAt": "2026-11-24T10:00:05Z"},
        remediation="Validate stored state against the server of record before resuming.",
        guide_section="Edge Case 1",
        first_seen=now,
        last_seen=now,
    )


@pytest.mark.parametrize("name", SUPERVISOR_PAGES + ADMIN_PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("name", SUPERVISOR_PAGES + ADMIN_PAGES)
def test_users_without_a_role_are_refused(client, outsider, name):
    client.force_login(outsider)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", SUPERVISOR_PAGES)
def test_supervisors_see_the_console_pages(client, supervisor, name):
    client.force_login(supervisor)
    response = client.get(reverse(name))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Webhook receipts" not in page  # admin-only navigation is absent


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_are_refused_to_supervisors_and_open_to_admins(client, supervisor, admin_user, name):
    client.force_login(supervisor)
    assert client.get(reverse(name)).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse(name)).status_code == 200


def test_dashboard_links_to_every_page_for_admins(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    for name in SUPERVISOR_PAGES + ADMIN_PAGES:
        assert f'href="{reverse(name)}"' in page


@pytest.mark.parametrize("name", ["dashboard", "conversations", "findings", "receipts", "audit"])
def test_list_pages_run_a_constant_number_of_queries(client, admin_user, django_assert_max_num_queries, name):
    _seed(client, 2, "few")
    client.force_login(admin_user)
    with django_assert_max_num_queries(40) as few:
        assert client.get(reverse(name)).status_code == 200
    baseline = len(few)
    _seed(client, 25, "many")
    with django_assert_max_num_queries(baseline):
        assert client.get(reverse(name)).status_code == 200


def test_conversation_page_shows_state_context_handoffs_findings_and_timeline(client, supervisor):
    _seed(client, 1)
    client.force_login(supervisor)
    response = client.get(reverse("conversation", args=["c-0"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Handoff history" in page
    assert "4 keys lost" in page
    assert "routingData.skillRequirements" in page
    assert "Ghost session" in page and "Edge Case 1" in page
    assert 'data-testid="timeline"' in page and "native conversation.transferred" in page
    assert 'data-countdown="' in page  # TTL countdown for an open conversation
    assert "Force close" not in page  # supervisors never see it


def test_conversation_page_query_count_does_not_grow_with_rows(client, supervisor, django_assert_max_num_queries):
    _seed(client, 1)
    client.force_login(supervisor)
    with django_assert_max_num_queries(40) as few:
        client.get(reverse("conversation", args=["c-0"]))
    baseline = len(few)  # read now: the next request clears Django's query log
    for index in range(30):
        post_native(
            client,
            {
                "id": f"extra-{index}",
                "type": "message.created",
                "conversationId": "c-0",
                "occurredAt": "2026-11-24T10:05:00Z",
                "sequence": 100 + index,
                "data": {"messageId": f"x-{index}", "direction": "inbound", "text": "more"},
            },
        )
    with django_assert_max_num_queries(baseline):
        client.get(reverse("conversation", args=["c-0"]))


def test_unknown_conversation_is_404(client, supervisor):
    client.force_login(supervisor)
    assert client.get(reverse("conversation", args=["nope"])).status_code == 404


def test_conversation_list_filters(client, supervisor):
    _seed(client, 3)
    _finding("c-1", "cursor_drift").delete()
    Finding.objects.filter(conversation_id="c-2").delete()
    client.force_login(supervisor)
    response = client.get(reverse("conversations"), {"has_open_findings": "yes"})
    assert {row.pk for row in response.context["rows"]} == {"c-0", "c-1"}
    response = client.get(reverse("conversations"), {"state": "closed"})
    assert list(response.context["rows"]) == []
    response = client.get(reverse("conversations"), {"stale": "yes"})
    assert {row.pk for row in response.context["rows"]} == {"c-0", "c-1", "c-2"}  # events are from 2026-11-24


def test_conversation_list_pages_by_keyset(client, supervisor, monkeypatch):
    monkeypatch.setattr("console.views.PAGE_SIZE", 2)
    _seed(client, 5)
    client.force_login(supervisor)
    seen, url = [], reverse("conversations")
    for _ in range(5):
        response = client.get(url)
        seen += [row.pk for row in response.context["rows"]]
        if not response.context["next_cursor"]:
            break
        url = f"{reverse('conversations')}?{urlencode({'after': response.context['next_cursor']})}"
    assert sorted(seen) == [f"c-{i}" for i in range(5)]


def test_a_supervisor_resolves_a_finding_from_the_page_with_an_audit_row(client, supervisor):
    finding = _finding("c-9")
    client.force_login(supervisor)
    response = client.post(
        reverse("finding-resolve", args=[finding.pk]), {"note": "customer reloaded", "next": "/findings/"}
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_by) == ("resolved", "user:sam-supervisor")
    assert AuditEntry.objects.filter(action="finding.resolved", target_id=str(finding.pk)).count() == 1
    again = client.post(reverse("finding-dismiss", args=[finding.pk]), follow=True)
    assert "already resolved" in again.content.decode()


def test_resolving_needs_a_role_and_post(client, outsider):
    finding = _finding("c-9")
    assert client.get(reverse("finding-resolve", args=[finding.pk])).status_code == 405
    client.force_login(outsider)
    assert client.post(reverse("finding-resolve", args=[finding.pk])).status_code == 403
    assert Finding.objects.get(pk=finding.pk).status == "open"


def test_login_page_logs_a_supervisor_in(client, supervisor):
    response = client.post(reverse("login"), {"username": "sam-supervisor", "password": "pw-supervisor-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
