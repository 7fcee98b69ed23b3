"""Closing findings: claimed once, audited beside the change."""

import pytest
from django.utils import timezone

from console.models import AuditEntry
from diagnostics.actions import close_finding, resolve_findings
from diagnostics.models import Finding

pytestmark = pytest.mark.django_db


def _finding(kind="ghost_session", conversation_id="c-1"):
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


def test_it_resolves_once_and_audits_once():
    finding = _finding()
    assert close_finding(finding, status="resolved", actor="user:ada", note="fixed")
    assert not close_finding(finding, status="dismissed", actor="user:bob")
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_by, finding.resolution_note) == ("resolved", "user:ada", "fixed")
    audit = AuditEntry.objects.get()
    assert (audit.action, audit.target_id, audit.after) == ("finding.resolved", str(finding.pk), {"status": "resolved"})


def test_it_resolves_only_the_named_kinds_of_one_conversation():
    ghost, stale, other = _finding(), _finding("stale_session"), _finding("cursor_drift")
    _finding(conversation_id="c-2")
    assert resolve_findings("c-1", ["ghost_session", "stale_session"], actor="user:ada", note="force-closed") == 2
    assert set(Finding.objects.filter(status="resolved").values_list("pk", flat=True)) == {ghost.pk, stale.pk}
    assert Finding.objects.get(pk=other.pk).status == "open"
    assert AuditEntry.objects.count() == 2
