"""Admin: findings with readable evidence and the guide's remediation, bulk resolve/dismiss audited per
finding, widget deployments with their origins, raw beacons."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import AuditEntry
from diagnostics.models import Finding, WidgetDeployment
from tests.diagnostics.test_detectors import active

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:diagnostics_finding_changelist"


def two_findings(scene):
    active(scene, "c-1", customAttributes={"tier": "gold", "tenantId": "acme"})
    scene.transfer(
        "c-1",
        seconds=30,
        fromQueueId="billing",
        toQueueId="tech",
        routingData={"queueId": "tech"},
        customAttributes={"tier": "gold"},
    )
    scene.message("c-1", "m-1", seconds=40, text="help", idempotency_key="a")
    scene.message("c-1", "m-2", seconds=42, text="help", idempotency_key="b")
    return Finding.objects.get(kind="context_lost_on_handoff"), Finding.objects.get(kind="duplicate_message")


def test_it_shows_a_finding_with_its_evidence_and_remediation(client, supervisor, scene):
    lost, _ = two_findings(scene)
    client.force_login(supervisor)
    response = client.get(reverse("admin:diagnostics_finding_change", args=[lost.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "routingData.skillRequirements" in page and "customAttributes.tenantId" in page
    assert "<th>lostKeys</th>" in page  # evidence rendered as a table, not a JSON blob
    assert "4. Validating Routing Context Preservation Across Agent Handoffs" in page
    assert "Routing context must be attached to the conversation object" in page
    assert reverse("admin:conversations_conversation_change", args=["c-1"]) in page
    assert 'name="_save"' not in page


def results(client, query) -> str:
    """The changelist's result table only (the filter sidebar names every kind)."""
    page = client.get(reverse(CHANGELIST), query).content.decode()
    start = page.find('id="result_list"')
    return page[start : page.find("</table>", start)] if start >= 0 else ""


def test_it_filters_findings_by_kind_status_and_severity(client, supervisor, scene):
    two_findings(scene)
    client.force_login(supervisor)
    rows = results(client, {"kind__exact": "duplicate_message"})
    assert "Duplicate message" in rows and "Context lost on handoff" not in rows
    rows = results(client, {"severity__exact": "critical", "status__exact": "open"})
    assert "Context lost on handoff" in rows and "Duplicate message" not in rows
    assert "Context lost on handoff" not in results(client, {"status__exact": "resolved"})


def test_it_resolves_selected_findings_after_asking_why_with_one_audit_row_each(client, supervisor, scene):
    findings = two_findings(scene)
    client.force_login(supervisor)
    selection = {"action": "resolve_selected", "_selected_action": [f.pk for f in findings]}
    confirm = client.post(reverse(CHANGELIST), selection)
    assert confirm.status_code == 200
    assert "Kept in the audit log" in confirm.content.decode()
    assert Finding.objects.filter(status="open").count() == 2
    done = client.post(reverse(CHANGELIST), {**selection, "confirm": "yes", "note": "fixed the widget build"})
    assert done.status_code == 302
    assert Finding.objects.filter(status="resolved", resolved_by="user:sam-supervisor").count() == 2
    audits = AuditEntry.objects.filter(action="finding.resolved", actor="user:sam-supervisor")
    assert sorted(audits.values_list("target_id", flat=True)) == sorted(str(f.pk) for f in findings)
    assert set(audits.values_list("reason", flat=True)) == {"fixed the widget build"}


def test_it_dismisses_selected_findings(client, admin_user, scene):
    _, duplicate = two_findings(scene)
    client.force_login(admin_user)
    client.post(
        reverse(CHANGELIST),
        {"action": "dismiss_selected", "_selected_action": [duplicate.pk], "confirm": "yes", "note": "load test"},
    )
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.resolution_note) == ("dismissed", "load test")
    assert AuditEntry.objects.get(action="finding.dismissed").actor_user == admin_user


def test_it_checks_permissions(client, outsider, scene):
    lost, _ = two_findings(scene)
    assert client.get(reverse(CHANGELIST)).status_code == 302  # to the login page
    client.force_login(outsider)
    assert client.get(reverse(CHANGELIST)).status_code == 302  # not staff
    outsider.is_staff = True
    outsider.save()
    assert client.get(reverse(CHANGELIST)).status_code == 403
    client.post(
        reverse(CHANGELIST),
        {"action": "resolve_selected", "_selected_action": [lost.pk], "confirm": "yes", "note": "x"},
    )
    assert Finding.objects.filter(status="open").count() == 2


def test_it_creates_a_deployment_with_origins_one_per_line(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:diagnostics_widgetdeployment_add"),
        {
            "name": "Support site",
            "allowed_origins": "https://support.example.com\nHTTPS://Help.Example.com:443/\n",
            "session_ttl_seconds": "600",
        },
    )
    assert response.status_code == 302
    deployment = WidgetDeployment.objects.get()
    assert deployment.allowed_origins == ["https://support.example.com", "https://help.example.com"]
    assert deployment.key.startswith("wd_")
    bad = client.post(
        reverse("admin:diagnostics_widgetdeployment_add"), {"name": "x", "allowed_origins": "support.example.com"}
    )
    assert bad.status_code == 200
    assert "is not an origin" in bad.content.decode()
    zero = client.post(
        reverse("admin:diagnostics_widgetdeployment_add"),
        {"name": "x", "allowed_origins": "https://x.example.com", "ghost_grace_seconds": "0"},
    )
    assert zero.status_code == 200
    assert WidgetDeployment.objects.count() == 1


def test_supervisors_may_view_but_not_change_deployments(client, supervisor, deployment):
    client.force_login(supervisor)
    assert client.get(reverse("admin:diagnostics_widgetdeployment_change", args=[deployment.pk])).status_code == 200
    client.post(
        reverse("admin:diagnostics_widgetdeployment_change", args=[deployment.pk]),
        {"name": "renamed", "allowed_origins": "https://evil.example.net"},
    )
    deployment.refresh_from_db()
    assert deployment.name == "acme web"


def test_it_lists_raw_beacons_read_only(client, supervisor, scene, deployment):
    beacon = scene.init("s-1", seconds=1, conversation_id="c-1")
    scene.send(deployment, beacon)
    client.force_login(supervisor)
    page = client.get(reverse("admin:diagnostics_telemetrybeacon_changelist"), {"q": beacon["id"]}).content.decode()
    assert beacon["id"] in page
