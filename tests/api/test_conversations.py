"""GET /api/v1/conversations/ (filters, cursor pages, constant queries) and the conversation detail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation
from diagnostics.models import Finding
from tests.api.conftest import make_conversation, make_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, supervisor):
    client.force_login(supervisor)
    return client


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["conversationId"] for row in response.json()["results"]}


def test_it_filters_by_state_tenant_queue_channel_and_source(reader):
    make_conversation("a", state="active", tenant="acme", queue_id="billing", channel="webchat", source="genesys")
    make_conversation("b", state="pending", tenant="acme", queue_id="returns", channel="sms", source="cxone")
    make_conversation("c", state="closed", tenant="globex", queue_id="billing", channel="webchat", source="native")
    assert _ids(reader.get("/api/v1/conversations/")) == {"a", "b", "c"}
    assert _ids(reader.get("/api/v1/conversations/?state=pending")) == {"b"}
    assert _ids(reader.get("/api/v1/conversations/?tenant=acme")) == {"a", "b"}
    assert _ids(reader.get("/api/v1/conversations/?queue=billing")) == {"a", "c"}
    assert _ids(reader.get("/api/v1/conversations/?channel=webchat&tenant=acme")) == {"a"}
    assert _ids(reader.get("/api/v1/conversations/?source=cxone")) == {"b"}


def test_it_filters_by_open_findings(reader):
    make_conversation("with-open")
    make_conversation("only-resolved")
    make_conversation("none")
    make_finding("with-open", kind="ghost_session")
    make_finding("with-open", kind="stale_session")
    make_finding("only-resolved", status="resolved")
    assert _ids(reader.get("/api/v1/conversations/?has_open_findings=true")) == {"with-open"}
    assert _ids(reader.get("/api/v1/conversations/?has_open_findings=false")) == {"only-resolved", "none"}
    counts = {r["conversationId"]: r["openFindings"] for r in reader.get("/api/v1/conversations/").json()["results"]}
    assert counts == {"with-open": 2, "only-resolved": 0, "none": 0}


def test_it_finds_stale_sessions_with_each_rows_own_ttl(reader, settings):
    settings.CONSOLE_SESSION_TTL_SECONDS = 900
    now = timezone.now()
    make_conversation("default-ttl-stale", last_activity_at=now - timedelta(minutes=20))
    make_conversation("long-ttl-fresh", last_activity_at=now - timedelta(minutes=20), ttl_seconds=3600)
    make_conversation("short-ttl-stale", last_activity_at=now - timedelta(minutes=2), ttl_seconds=60)
    make_conversation("default-ttl-fresh", last_activity_at=now - timedelta(minutes=5))
    make_conversation("closed-long-ago", state="closed", last_activity_at=now - timedelta(days=1))
    assert _ids(reader.get("/api/v1/conversations/?stale=true")) == {"default-ttl-stale", "short-ttl-stale"}
    assert _ids(reader.get("/api/v1/conversations/?stale=false")) == {
        "long-ttl-fresh",
        "default-ttl-fresh",
        "closed-long-ago",
    }
    # The filter and expiresAt/resumable agree row by row.
    for row in reader.get("/api/v1/conversations/").json()["results"]:
        stale = row["conversationId"] in {"default-ttl-stale", "short-ttl-stale"}
        assert row["resumable"] is (row["state"] in {"pending", "active"} and not stale)


def test_it_refuses_a_bad_filter_value_naming_the_parameter(reader):
    response = reader.get("/api/v1/conversations/?state=sleeping")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "state"
    assert reader.get("/api/v1/conversations/?limit=0").json()["errors"] == [
        {"field": "limit", "detail": "must be an integer from 1 to 500"}
    ]


def test_it_pages_with_a_cursor_covering_every_row_once(reader):
    now = timezone.now()
    for index in range(23):
        # Some rows share an activity time: the cursor must still neither repeat nor skip.
        make_conversation(f"c-{index:02d}", last_activity_at=now - timedelta(seconds=index // 3))
    seen, url = [], "/api/v1/conversations/?limit=5"
    for _page in range(10):
        body = reader.get(url).json()
        seen += [row["conversationId"] for row in body["results"]]
        if not body["next"]:
            break
        url = body["next"]
    assert sorted(seen) == sorted(f"c-{index:02d}" for index in range(23))
    assert len(seen) == 23


def _count_queries(reader, url) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = reader.get(url)
    assert response.status_code == 200
    return len(queries), len(response.json()["results"])


def test_it_lists_with_the_same_number_of_queries_for_1_and_500_rows(reader):
    make_conversation("c-0000")
    make_finding("c-0000")
    one, rows = _count_queries(reader, "/api/v1/conversations/?limit=500&has_open_findings=false")
    assert rows == 0
    one, rows = _count_queries(reader, "/api/v1/conversations/?limit=500")
    assert rows == 1
    now = timezone.now()
    Conversation.objects.bulk_create(
        [Conversation(id=f"c-{i:04d}", state="active", first_event_at=now, last_activity_at=now) for i in range(1, 500)]
    )
    Finding.objects.bulk_create(
        [
            Finding(
                kind="ghost_session",
                severity="critical",
                subject=f"conversation:c-{i:04d}",
                conversation_id=f"c-{i:04d}",
                evidence={},
                remediation="r",
                guide_section="s",
                first_seen=now,
                last_seen=now,
            )
            for i in range(1, 500, 2)
        ]
    )
    many, rows = _count_queries(reader, "/api/v1/conversations/?limit=500")
    assert rows == 500
    assert many == one
    filtered, rows = _count_queries(reader, "/api/v1/conversations/?limit=500&has_open_findings=true&stale=false")
    assert rows == 251
    assert filtered == one


def test_it_gives_the_validation_shape_a_widget_needs(reader, settings):
    settings.CONSOLE_SESSION_TTL_SECONDS = 900
    start = timezone.now().replace(microsecond=0)
    make_conversation("c-live", last_activity_at=start, ttl_seconds=600, routing_data={"queueId": "billing"})
    make_conversation("c-closed", state="closed", last_activity_at=start)
    body = reader.get("/api/v1/conversations/c-live/").json()
    assert body["conversationId"] == "c-live"
    assert body["state"] == "active"
    assert body["lastActivityAt"] == start.isoformat().replace("+00:00", "Z")
    assert body["expiresAt"] == (start + timedelta(seconds=600)).isoformat().replace("+00:00", "Z")
    assert body["resumable"] is True
    assert body["ttlSeconds"] == 600
    assert body["routingData"] == {"queueId": "billing"}
    with time_machine.travel(start + timedelta(seconds=601), tick=False):
        assert reader.get("/api/v1/conversations/c-live/").json()["resumable"] is False
    assert reader.get("/api/v1/conversations/c-closed/").json()["resumable"] is False


def test_it_answers_404_for_an_unknown_conversation(reader):
    response = reader.get("/api/v1/conversations/c-nope/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert "c-nope" in response.json()["detail"]
    for part in ("messages", "participants", "handoffs", "findings", "timeline"):
        assert reader.get(f"/api/v1/conversations/c-nope/{part}/").status_code == 404
