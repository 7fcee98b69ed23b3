"""API representations of findings (camelCase)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from diagnostics.models import FindingKind, FindingStatus, Severity


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An open ghost session",
            value={
                "id": 17,
                "kind": "ghost_session",
                "severity": "critical",
                "status": "open",
                "subject": "conversation:c-42",
                "conversationId": "c-42",
                "participantId": "p-customer",
                "sessionKey": "",
                "evidence": {"socketState": "closed", "lastHeartbeatAt": "2026-11-24T09:40:00Z"},
                "remediation": "Validate the stored conversationId with the platform before resuming...",
                "guideSection": "Edge case 1",
                "firstSeen": "2026-11-24T09:46:00Z",
                "lastSeen": "2026-11-24T10:01:00Z",
                "count": 4,
                "resolvedAt": None,
                "resolvedBy": "",
                "resolutionNote": "",
            },
        )
    ]
)
class FindingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=FindingKind.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    status = serializers.ChoiceField(choices=FindingStatus.choices)
    subject = serializers.CharField(help_text="conversation:<id>, or session:<sessionKey> when no conversation")
    conversationId = serializers.CharField(source="conversation_id")
    participantId = serializers.CharField(source="participant_id")
    sessionKey = serializers.CharField(source="session_key")
    evidence = serializers.DictField()
    remediation = serializers.CharField(help_text="From the session persistence guide")
    guideSection = serializers.CharField(source="guide_section")
    firstSeen = serializers.DateTimeField(source="first_seen")
    lastSeen = serializers.DateTimeField(source="last_seen")
    count = serializers.IntegerField()
    resolvedAt = serializers.DateTimeField(source="resolved_at", allow_null=True)
    resolvedBy = serializers.CharField(source="resolved_by")
    resolutionNote = serializers.CharField(source="resolution_note")


class FindingCloseSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="Why; kept in the audit log"
    )
