"""Live pushes of diagnostics (docs/architecture.md, "Live updates"): sent only after the commit."""

from __future__ import annotations

from console.events import HEALTH_GROUP, conversation_group, send_on_commit
from diagnostics.models import Finding


def finding_payload(finding: Finding) -> dict:
    return {
        "id": finding.pk,
        "kind": finding.kind,
        "severity": finding.severity,
        "status": finding.status,
        "subject": finding.subject,
        "conversationId": finding.conversation_id or None,
        "participantId": finding.participant_id or None,
        "sessionKey": finding.session_key or None,
        "evidence": finding.evidence,
        "remediation": finding.remediation,
        "guideSection": finding.guide_section,
        "firstSeen": finding.first_seen.isoformat(),
        "lastSeen": finding.last_seen.isoformat(),
        "count": finding.count,
    }


def finding_raised(finding: Finding) -> None:
    message = {"type": "finding.raised", "finding": finding_payload(finding)}
    send_on_commit(HEALTH_GROUP, message)
    if finding.conversation_id:
        send_on_commit(conversation_group(finding.conversation_id), message)
