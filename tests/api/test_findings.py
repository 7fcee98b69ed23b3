"""GET findings/ and POST findings/{id}/resolve/ | dismiss/ (audited, claimed once)."""

from __future__ import annotations

import pytest

from console.models import AuditEntry
from diagnostics.models import Finding
from tests.api.conftest import make_conversation, make_finding

pytestmark = pytest.mark.django_db


def test_it_lists_findings_with_filters(client, supervisor):
    client.force_login(supervisor)
    ghost = make_finding("c-1", kind="ghost_session")
    make_finding("c-1", kind="stale_session", status="resolved", severity="warning")
    make_finding("c-2", kind="cursor_drift", severity="info")

    def ids(query=""):
        response = client.get(f"/api/v1/findings/{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert len(ids()) == 3
    assert ids("?status=open&conversation=c-1") == {ghost.pk}
    assert ids("?kind=cursor_drift") == {Finding.objects.get(kind="cursor_drift").pk}
    assert ids("?severity=warning") == {Finding.objects.get(kind="stale_session").pk}
    row = client.get(f"/api/v1/findings/{ghost.pk}/").json()
    assert row["conversationId"] == "c-1"
    assert row["guideSection"] == "Edge case 1"
    assert row["evidence"] == {"socketState": "closed"}
    assert client.get("/api/v1/findings/?kind=not_a_kind").status_code == 400


def test_it_lists_one_conversations_findings(client, supervisor):
    client.force_login(supervisor)
    make_conversation("c-1")
    mine = make_finding("c-1")
    make_finding("c-2")
    response = client.get("/api/v1/conversations/c-1/findings/")
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


@pytest.mark.parametrize(("verb", "status"), [("resolve", "resolved"), ("dismiss", "dismissed")])
def test_it_closes_a_finding_once_with_an_audit_entry(client, supervisor, verb, status):
    client.force_login(supervisor)
    finding = make_finding("c-1")
    response = client.post(
        f"/api/v1/findings/{finding.pk}/{verb}/", {"note": "checked"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert response.json()["resolvedBy"] == "user:sam-supervisor"
    assert response.json()["resolutionNote"] == "checked"
    again = client.post(f"/api/v1/findings/{finding.pk}/{verb}/", {}, content_type="application/json")
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    audit = AuditEntry.objects.get()
    assert (audit.action, audit.actor, audit.reason) == (f"finding.{status}", "user:sam-supervisor", "checked")


def test_it_accepts_an_empty_body_and_refuses_a_bad_note(client, supervisor, api_client_token):
    finding = make_finding("c-1")
    token = api_client_token("findings")
    bad = client.post(
        f"/api/v1/findings/{finding.pk}/resolve/",
        {"note": 5 * "x" * 500},
        content_type="application/json",
        HTTP_AUTHORIZATION=token,
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "note"
    # curl -X POST without a body sends no Content-Type at all.
    ok = client.generic(
        "POST", f"/api/v1/findings/{finding.pk}/resolve/", b"", content_type="", HTTP_AUTHORIZATION=token
    )
    assert ok.status_code == 200
    assert ok.json()["resolvedBy"].startswith("client:")
    missing = client.post(
        "/api/v1/findings/999999/resolve/", {}, content_type="application/json", HTTP_AUTHORIZATION=token
    )
    assert missing.status_code == 404
