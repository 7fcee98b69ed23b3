"""API representation of the audit log (camelCase)."""

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A force-close",
            value={
                "id": 812,
                "at": "2026-11-24T10:05:00Z",
                "actor": "client:Xy7...",
                "action": "conversation.force_closed",
                "targetType": "conversation",
                "targetId": "c-42",
                "reason": "ghost session: widget gone for 2 h",
                "before": {"state": "active"},
                "after": {"state": "closed"},
                "idempotencyKey": "8e03978e-40d5-43e8-bc93-6894a57f9324",
                "requestId": "3c0f9f0e9c7a4c1b",
            },
        )
    ]
)
class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="user:<name>, client:<client_id> or system:<task>")
    action = serializers.CharField(help_text="Dotted name, e.g. conversation.force_closed")
    targetType = serializers.CharField(source="target_type")
    targetId = serializers.CharField(source="target_id")
    reason = serializers.CharField()
    before = serializers.DictField()
    after = serializers.DictField()
    idempotencyKey = serializers.CharField(source="idempotency_key")
    requestId = serializers.CharField(source="request_id")
