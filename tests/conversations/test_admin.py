"""The admin shows the mirror, with handoff context history, at a constant query count."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.models import Participant, WebhookReceipt
from tests.conversations.test_ordering_property import native_stream
from tests.webhooks import post_native

pytestmark = pytest.mark.django_db


def _seed(client, count: int, prefix: str) -> None:
    for index in range(count):
        for payload in native_stream(f"{prefix}-{index}", f"cust-{prefix}-{index}")[:10]:
            post_native(client, payload)


@pytest.mark.parametrize(
    "url",
    [
        "admin:conversations_conversation_changelist",
        "admin:conversations_webhookreceipt_changelist",
    ],
)
def test_changelist_query_count_does_not_grow_with_rows(client, admin_user, django_assert_max_num_queries, url):
    _seed(client, 2, "few")
    client.force_login(admin_user)
    path = reverse(url)
    with django_assert_max_num_queries(50) as few:
        assert client.get(path).status_code == 200
    baseline = len(few)
    assert baseline > 0
    _seed(client, 30, "many")
    with django_assert_max_num_queries(baseline):
        response = client.get(path)
    assert response.status_code == 200


def test_conversation_page_shows_handoff_history_with_lost_keys(client, supervisor):
    for payload in native_stream("c-admin", "cust-1")[:10]:
        post_native(client, payload)
    client.force_login(supervisor)
    response = client.get(reverse("admin:conversations_conversation_change", args=["c-admin"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Handoff context history" in page
    assert "customAttributes.vip lost" in page
    assert "routingData.skillRequirements lost" in page
    assert 'class="csc-lost"' in page
    assert "c-admin-m1" in page  # latest messages listed
    # Read-only for everyone: no save button.
    assert 'name="_save"' not in page


def test_conversation_filters_and_search(client, supervisor):
    _seed(client, 3, "f")
    client.force_login(supervisor)
    path = reverse("admin:conversations_conversation_changelist")
    response = client.get(path, {"state": "active", "q": "cust-f-1"})
    assert response.status_code == 200
    assert [c.pk for c in response.context["cl"].result_list] == ["f-1"]
    response = client.get(path, {"state": "closed"})
    assert list(response.context["cl"].result_list) == []
    response = client.get(path, {"queue_id": "q2"})
    assert {c.pk for c in response.context["cl"].result_list} == {"f-0", "f-1", "f-2"}


def test_receipts_are_read_only_and_filter_by_outcome(client, admin_user):
    post_native(client, native_stream("c-r", "k")[0])
    post_native(client, native_stream("c-r", "k")[0])
    client.force_login(admin_user)
    path = reverse("admin:conversations_webhookreceipt_changelist")
    response = client.get(path, {"outcome": "duplicate"})
    assert [r.outcome for r in response.context["cl"].result_list] == ["duplicate"]
    receipt = WebhookReceipt.objects.get(outcome="applied")
    page = client.get(reverse("admin:conversations_webhookreceipt_change", args=[receipt.pk])).content.decode()
    assert "conversation.started" in page
    assert 'name="_save"' not in page


def test_outsiders_cannot_open_the_admin(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("admin:conversations_conversation_changelist"))
    assert response.status_code == 302


def test_participants_inline_shows_socket_health(client, supervisor):
    post_native(client, native_stream("c-p", "k")[1])
    Participant.objects.update(socket_state="silent", missed_pongs=4)
    client.force_login(supervisor)
    page = client.get(reverse("admin:conversations_conversation_change", args=["c-p"])).content.decode()
    assert "Silent (open, pongs missing)" in page
