"""State changes of findings, each audited in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from console.models import AuditEntry
from diagnostics.models import Finding, FindingStatus

CLOSING_STATUSES = (FindingStatus.RESOLVED, FindingStatus.DISMISSED)


def close_finding(
    finding: Finding, *, status: str, actor: str, note: str = "", actor_user=None, request_id: str = ""
) -> bool:
    """Resolve or dismiss one open finding; False when it was no longer open (someone else closed it)."""
    if status not in CLOSING_STATUSES:
        raise ValueError(f"status must be one of {CLOSING_STATUSES}")
    now = timezone.now()
    with transaction.atomic():
        # Claim with a conditional UPDATE: exactly one caller moves it out of "open".
        claimed = Finding.objects.filter(pk=finding.pk, status=FindingStatus.OPEN).update(
            status=status, resolved_at=now, resolved_by=actor, resolution_note=note
        )
        if not claimed:
            return False
        AuditEntry.objects.create(
            actor=actor,
            actor_user=actor_user,
            action=f"finding.{status}",
            target_type="finding",
            target_id=str(finding.pk),
            reason=note,
            before={"status": FindingStatus.OPEN, "kind": finding.kind, "subject": finding.subject},
            after={"status": status},
            request_id=request_id,
        )
    finding.status, finding.resolved_at, finding.resolved_by, finding.resolution_note = status, now, actor, note
    return True


def resolve_findings(
    conversation_id: str, kinds: Iterable[str], *, actor: str, note: str, actor_user=None, request_id: str = ""
) -> int:
    """Resolve the open findings of these kinds on a conversation (e.g. those a force-close answers)."""
    count = 0
    for finding in Finding.objects.filter(
        conversation_id=conversation_id, kind__in=list(kinds), status=FindingStatus.OPEN
    ):
        count += close_finding(
            finding, status=FindingStatus.RESOLVED, actor=actor, note=note, actor_user=actor_user, request_id=request_id
        )
    return count


def raise_finding(
    kind: str,
    *,
    severity: str,
    evidence: dict,
    remediation: str,
    guide_section: str,
    conversation_id: str = "",
    session_key: str = "",
    participant_id: str = "",
    at=None,
) -> tuple[Finding, bool]:
    """Open a finding, or refresh the open one of the same kind and subject; answers (finding, created).

    At most one open finding per (kind, subject), enforced by the database: a concurrent raise that
    loses the insert refreshes the winner's row instead.
    """
    at = at or timezone.now()
    subject = f"conversation:{conversation_id}" if conversation_id else f"session:{session_key}"
    open_findings = Finding.objects.filter(kind=kind, subject=subject, status=FindingStatus.OPEN)
    with transaction.atomic():
        if open_findings.update(last_seen=at, evidence=evidence, count=F("count") + 1):
            return open_findings.get(), False
        try:
            with transaction.atomic():
                finding = Finding.objects.create(
                    kind=kind,
                    severity=severity,
                    subject=subject,
                    conversation_id=conversation_id,
                    participant_id=participant_id,
                    session_key=session_key,
                    evidence=evidence,
                    remediation=remediation,
                    guide_section=guide_section,
                    first_seen=at,
                    last_seen=at,
                )
            return finding, True
        except IntegrityError:
            open_findings.update(last_seen=at, evidence=evidence, count=F("count") + 1)
            return open_findings.get(), False
