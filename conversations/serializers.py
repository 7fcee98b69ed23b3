"""API representations of the mirror: camelCase field names, as the platforms' own APIs."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from conversations.models import OPEN_STATES, ConversationState, Source

EXAMPLE_CONVERSATION = {
    "conversationId": "c-42",
    "source": "native",
    "tenant": "acme",
    "channel": "webchat",
    "state": "active",
    "queueId": "billing",
    "customerKey": "cust-7",
    "startedAt": "2026-11-24T10:00:00Z",
    "lastActivityAt": "2026-11-24T10:03:12Z",
    "expiresAt": "2026-11-24T10:18:12Z",
    "resumable": True,
    "closedAt": None,
    "closeReason": "",
    "lastSequence": 9,
    "openFindings": 1,
}


class ResumableMixin:
    def get_resumable(self, conversation) -> bool:
        """What a widget needs before resuming a stored id (guide, "Session Validation Pattern")."""
        return conversation.state in OPEN_STATES and timezone.now() < conversation.expires_at


@extend_schema_serializer(examples=[OpenApiExample("An active conversation", value=EXAMPLE_CONVERSATION)])
class ConversationSerializer(ResumableMixin, serializers.Serializer):
    conversationId = serializers.CharField(source="id")
    source = serializers.ChoiceField(choices=Source.choices)
    tenant = serializers.CharField()
    channel = serializers.CharField()
    state = serializers.ChoiceField(choices=ConversationState.choices)
    queueId = serializers.CharField(source="queue_id")
    customerKey = serializers.CharField(source="customer_key")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    lastActivityAt = serializers.DateTimeField(source="last_activity_at")
    expiresAt = serializers.DateTimeField(source="expires_at", help_text="lastActivityAt + the session TTL")
    resumable = serializers.SerializerMethodField(
        help_text="True while the conversation is pending/active and expiresAt is in the future"
    )
    closedAt = serializers.DateTimeField(source="closed_at", allow_null=True)
    closeReason = serializers.CharField(source="close_reason")
    lastSequence = serializers.IntegerField(source="last_sequence", allow_null=True)
    openFindings = serializers.IntegerField(source="open_findings", help_text="Open findings on this conversation")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Validation shape and details",
            value={
                **EXAMPLE_CONVERSATION,
                "routingData": {"queueId": "billing", "skillRequirements": ["english"], "priority": 5},
                "customAttributes": {"orderId": "A-1001"},
                "lastInboundAt": "2026-11-24T10:03:12Z",
                "ttlSeconds": 900,
            },
        )
    ]
)
class ConversationDetailSerializer(ConversationSerializer):
    routingData = serializers.DictField(source="routing_data")
    customAttributes = serializers.DictField(source="custom_attributes")
    lastInboundAt = serializers.DateTimeField(source="last_inbound_at", allow_null=True)
    ttlSeconds = serializers.SerializerMethodField(help_text="The inactivity TTL that expiresAt uses")

    def get_ttlSeconds(self, conversation) -> int:
        return int(conversation.ttl.total_seconds())


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A customer message",
            value={
                "messageId": "m-7",
                "sequence": 7,
                "participantId": "p-customer",
                "direction": "inbound",
                "text": "Is my order on its way?",
                "idempotencyKey": "widget-3f2a",
                "createdAt": "2026-11-24T10:03:12Z",
            },
        )
    ]
)
class MessageSerializer(serializers.Serializer):
    messageId = serializers.CharField(source="message_id", help_text="The platform messageId (the afterId cursor)")
    sequence = serializers.IntegerField()
    participantId = serializers.CharField(source="participant_id")
    direction = serializers.CharField()
    text = serializers.CharField(help_text="Card numbers are masked in pci-scoped conversations")
    idempotencyKey = serializers.CharField(source="idempotency_key")
    createdAt = serializers.DateTimeField(source="created_at")


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page (afterId = the last message here), or null")


class MessageQuerySerializer(serializers.Serializer):
    afterId = serializers.CharField(
        required=False, max_length=200, help_text="A messageId of this conversation: only messages after it"
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A customer with a silent socket",
            value={
                "participantId": "p-customer",
                "role": "customer",
                "name": "Dana",
                "userId": "",
                "queueId": "",
                "state": "connected",
                "joinedAt": "2026-11-24T10:00:00Z",
                "leftAt": None,
                "disconnectType": "",
                "attributes": {},
                "socketState": "silent",
                "lastHeartbeatAt": "2026-11-24T10:02:40Z",
                "missedPongs": 3,
                "rttMs": 84,
                "reconnects": 0,
                "origin": "https://shop.example.com",
            },
        )
    ]
)
class ParticipantSerializer(serializers.Serializer):
    participantId = serializers.CharField(source="participant_id")
    role = serializers.CharField()
    name = serializers.CharField()
    userId = serializers.CharField(source="user_id")
    queueId = serializers.CharField(source="queue_id")
    state = serializers.CharField()
    joinedAt = serializers.DateTimeField(source="joined_at", allow_null=True)
    leftAt = serializers.DateTimeField(source="left_at", allow_null=True)
    disconnectType = serializers.CharField(source="disconnect_type")
    attributes = serializers.DictField(help_text="Participant-level attributes (context on the wrong level)")
    socketState = serializers.CharField(source="socket_state")
    lastHeartbeatAt = serializers.DateTimeField(source="last_heartbeat_at", allow_null=True)
    missedPongs = serializers.IntegerField(source="missed_pongs")
    rttMs = serializers.IntegerField(source="rtt_ms", allow_null=True)
    reconnects = serializers.IntegerField()
    origin = serializers.CharField()


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A transfer that lost the priority",
            value={
                "id": 3,
                "fromParticipantId": "p-agent-1",
                "toParticipantId": "p-agent-2",
                "fromQueueId": "billing",
                "toQueueId": "returns",
                "occurredAt": "2026-11-24T10:05:00Z",
                "contextBefore": {"routingData": {"queueId": "billing", "priority": 5}, "customAttributes": {}},
                "contextAfter": {"routingData": {"queueId": "returns"}, "customAttributes": {}},
                "lostKeys": ["routingData.priority"],
            },
        )
    ]
)
class HandoffSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    fromParticipantId = serializers.CharField(source="from_participant_id")
    toParticipantId = serializers.CharField(source="to_participant_id")
    fromQueueId = serializers.CharField(source="from_queue_id")
    toQueueId = serializers.CharField(source="to_queue_id")
    occurredAt = serializers.DateTimeField(source="occurred_at")
    contextBefore = serializers.DictField(source="context_before", help_text="routingData and customAttributes before")
    contextAfter = serializers.DictField(source="context_after", help_text="routingData and customAttributes after")
    lostKeys = serializers.ListField(
        source="lost_keys", child=serializers.CharField(), help_text="Keys with a value before and none after"
    )


class ForceCloseRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, trim_whitespace=True, help_text="Why; kept in the audit log")


FORCE_CLOSE_STATUSES = ("closed", "pending", "already_closed")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Closed on the platform and in the mirror",
            value={
                "conversationId": "c-42",
                "state": "closed",
                "status": "closed",
                "platformCall": "genesys POST /api/v2/conversations/c-42/disconnect -> 202",
                "auditId": 812,
                "detail": "closed on the platform and in the mirror",
            },
        )
    ]
)
class ForceCloseResultSerializer(serializers.Serializer):
    conversationId = serializers.CharField()
    state = serializers.CharField(help_text="The mirror's state after the call")
    status = serializers.ChoiceField(
        choices=FORCE_CLOSE_STATUSES,
        help_text="closed; pending (the platform call failed and is retried in the background); already_closed",
    )
    platformCall = serializers.CharField(help_text="What was asked of the platform, and its answer")
    auditId = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Socket health",
            value={
                "participants": 120,
                "bySocketState": {"open": 97, "silent": 4, "reconnecting": 2, "polling": 1, "closed": 6, "unknown": 10},
                "withMissedPongs": 5,
                "oldestHeartbeatAt": "2026-11-24T09:41:02Z",
                "missedPongs": [
                    {
                        "conversationId": "c-42",
                        "participantId": "p-customer",
                        "role": "customer",
                        "socketState": "silent",
                        "missedPongs": 4,
                        "lastHeartbeatAt": "2026-11-24T10:02:40Z",
                        "rttMs": 84,
                    }
                ],
            },
        )
    ]
)
class SocketHealthSerializer(serializers.Serializer):
    participants = serializers.IntegerField(help_text="Participants still in pending/active conversations")
    bySocketState = serializers.DictField(child=serializers.IntegerField(), help_text="Count per socket state")
    withMissedPongs = serializers.IntegerField(help_text="Participants whose pongs are missing now")
    oldestHeartbeatAt = serializers.DateTimeField(allow_null=True, help_text="The oldest last heartbeat")
    missedPongs = serializers.ListField(child=serializers.DictField(), help_text="Worst first, at most 100")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A receipt",
            value={
                "id": 9001,
                "source": "genesys",
                "eventId": "6f1c...",
                "receivedAt": "2026-11-24T10:03:12Z",
                "signatureValid": True,
                "outcome": "applied",
                "statusCode": 200,
                "error": "",
                "conversationId": "c-42",
                "eventTypes": "message.created",
                "sequence": 7,
                "occurredAt": "2026-11-24T10:03:12Z",
                "requestId": "3c0f9f0e9c7a4c1b",
            },
        )
    ]
)
class WebhookReceiptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    eventId = serializers.CharField(source="event_id")
    receivedAt = serializers.DateTimeField(source="received_at")
    signatureValid = serializers.BooleanField(source="signature_valid", allow_null=True)
    outcome = serializers.CharField()
    statusCode = serializers.IntegerField(source="status_code")
    error = serializers.CharField()
    conversationId = serializers.CharField(source="conversation_id")
    eventTypes = serializers.CharField(source="event_types")
    sequence = serializers.IntegerField(allow_null=True)
    occurredAt = serializers.DateTimeField(source="occurred_at", allow_null=True)
    requestId = serializers.CharField(source="request_id")


class WebhookReceiptDetailSerializer(WebhookReceiptSerializer):
    body = serializers.CharField(help_text="The raw body (accepted deliveries only)")


@extend_schema_serializer(
    examples=[OpenApiExample("Replayed", value={"receiptId": 9001, "outcome": "applied", "conversationId": "c-42"})]
)
class ReplayResultSerializer(serializers.Serializer):
    receiptId = serializers.IntegerField()
    outcome = serializers.CharField(help_text="applied or stale (already in the mirror) or ignored")
    conversationId = serializers.CharField()


TIMELINE_KINDS = ("audit", "finding", "telemetry", "webhook")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A webhook delivery",
            value={
                "id": "webhook:9001",
                "kind": "webhook",
                "at": "2026-11-24T10:03:12Z",
                "summary": "genesys message.created: applied",
                "data": {"eventId": "6f1c...", "outcome": "applied", "sequence": 7},
            },
        )
    ]
)
class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="<kind>:<id of the row>")
    kind = serializers.ChoiceField(choices=TIMELINE_KINDS)
    at = serializers.DateTimeField(
        help_text="webhook: received; telemetry: sent (widget clock); finding: first seen; audit: written"
    )
    summary = serializers.CharField()
    data = serializers.DictField(help_text="The row's fields, camelCase")


def timeline_entry(kind: str, at, row) -> dict:
    """One row of any of the four sources as a timeline entry."""
    if kind == "webhook":
        summary = f"{row.source} {row.event_types or 'delivery'}: {row.outcome}"
        data = {
            "source": row.source,
            "eventId": row.event_id,
            "eventTypes": row.event_types,
            "outcome": row.outcome,
            "statusCode": row.status_code,
            "sequence": row.sequence,
            "occurredAt": _instant(row.occurred_at),
            "error": row.error,
        }
    elif kind == "telemetry":
        summary = f"{row.kind} from {row.session_key}"
        data = {
            "beaconId": row.beacon_id,
            "beaconKind": row.kind,
            "sessionKey": row.session_key,
            "participantId": row.participant_id,
            "origin": row.origin,
            "receivedAt": _instant(row.received_at),
            "payload": row.payload,
        }
    elif kind == "finding":
        summary = f"{row.severity} finding {row.kind} ({row.status})"
        data = {
            "findingId": row.pk,
            "findingKind": row.kind,
            "severity": row.severity,
            "status": row.status,
            "evidence": row.evidence,
            "lastSeen": _instant(row.last_seen),
            "count": row.count,
        }
    else:
        summary = f"{row.action} by {row.actor}"
        data = {
            "actor": row.actor,
            "action": row.action,
            "targetType": row.target_type,
            "targetId": row.target_id,
            "reason": row.reason,
            "before": row.before,
            "after": row.after,
            "requestId": row.request_id,
        }
    return {"id": f"{kind}:{row.pk}", "kind": kind, "at": at, "summary": summary, "data": data}


def _instant(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


class TimelinePageSerializer(serializers.Serializer):
    results = TimelineEntrySerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
