"""Live pushes of diagnostics (docs/architecture.md, "Live updates"): sent only after the commit."""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from diagnostics.models import Finding

log = logging.getLogger(__name__)

HEALTH_GROUP = "health"


def conversation_group(conversation_id: str) -> str:
    """Group names allow only [A-Za-z0-9._-] and < 100 characters; platform ids may hold anything."""
    return "conversation." + hashlib.sha1(conversation_id.encode()).hexdigest()[:32]


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
    groups = [HEALTH_GROUP]
    if finding.conversation_id:
        groups.append(conversation_group(finding.conversation_id))
    transaction.on_commit(lambda: _send(groups, message))


def _send(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            log.exception("could not push %s to %s", message["type"], group)
