"""The mirror: conversation, participant, message and handoff state as the platforms report it.

Every row here is derived from webhook events (server truth) by
conversations/actions.py; the socket-health fields of Participant come from
widget telemetry. The conversationId is the anchor (guide, "Anchoring State to
the Conversation Lifecycle"): it is the primary key, participantId never is.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.TextChoices):
    NATIVE = "native", "Native"
    GENESYS = "genesys", "Genesys Cloud"
    CXONE = "cxone", "NICE CXone"
    # Transitions the console itself makes (expiry, force-close, reconciliation).
    CONSOLE = "console", "Console"


class ConversationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"
    EXPIRED = "expired", "Expired"


OPEN_STATES = (ConversationState.PENDING, ConversationState.ACTIVE)
# Close reasons of reconcile_with_platform: the platform had closed (or no longer knew) a conversation
# the mirror still held open, which is a ghost session by definition (docs: ghost_session).
RECONCILED_CLOSE_REASONS = ("platform_closed", "platform_not_found")
TERMINAL_STATES = (ConversationState.CLOSED, ConversationState.EXPIRED)


class Conversation(models.Model):
    id = models.CharField(primary_key=True, max_length=200, help_text="Platform conversationId")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.NATIVE)
    tenant = models.CharField(max_length=200, blank=True, default="")
    channel = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=16, choices=ConversationState.choices, default=ConversationState.PENDING)
    queue_id = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Current queue: routingData.queueId, else the last queue joined",
    )
    routing_data = models.JSONField(default=dict, blank=True)
    custom_attributes = models.JSONField(default=dict, blank=True)
    customer_key = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    first_event_at = models.DateTimeField()
    activity_at = models.DateTimeField(
        null=True, blank=True, help_text="Newest message or participant change (heartbeats are not activity)"
    )
    last_activity_at = models.DateTimeField(help_text="activity_at, or the first event when there was no activity yet")
    last_inbound_at = models.DateTimeField(null=True, blank=True, help_text="Newest message from the customer")
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True, default="")
    last_sequence = models.BigIntegerField(null=True, blank=True)
    ttl_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Inactivity TTL of the widget deployment; empty means the default"
    )
    # Order keys [sequence, occurredAt, eventId] of the events that last set each field group,
    # plus "event", the newest event applied (the high-water mark that decides "stale").
    versions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # expire_stale_sessions: open conversations whose last activity is older than the TTL.
            models.Index(
                fields=["last_activity_at"],
                name="conv_open_by_activity",
                condition=Q(state__in=["pending", "active"]),
            ),
            # Conversation list: filter by state, newest activity first (cursor pagination).
            models.Index(fields=["state", "-last_activity_at", "id"], name="conv_state_activity"),
            # Conversation list ordered by activity without a state filter.
            models.Index(fields=["-last_activity_at", "id"], name="conv_activity"),
            # duplicate_conversation: other open conversations of the same customer.
            models.Index(fields=["customer_key", "state"], name="conv_customer_state"),
            # List filters by tenant and queue.
            models.Index(fields=["tenant", "state"], name="conv_tenant_state"),
            models.Index(fields=["queue_id", "state"], name="conv_queue_state"),
        ]

    def __str__(self):
        return self.id

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.ttl_seconds or settings.CONSOLE_SESSION_TTL_SECONDS)

    @property
    def expires_at(self):
        """When inactivity ends the session (guide, Core Concepts: TTL, default 15 minutes)."""
        return self.last_activity_at + self.ttl

    def refresh_last_activity(self) -> None:
        self.last_activity_at = self.activity_at or self.first_event_at

    def compliance_flags(self) -> set[str]:
        flags = set()
        for source in (self.routing_data, self.custom_attributes):
            value = source.get("complianceFlags") if isinstance(source, dict) else None
            if isinstance(value, list):
                flags.update(str(flag) for flag in value)
        return flags

    @property
    def is_pci_scoped(self) -> bool:
        return "pci-scoped" in self.compliance_flags()


class ParticipantRole(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"
    SUPERVISOR = "supervisor", "Supervisor"
    # The platform's queue (ACD) segment: Genesys "acd" participants, CXone routing queues.
    ACD = "acd", "Queue (ACD)"
    UNKNOWN = "unknown", "Unknown"


class SocketState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    OPEN = "open", "Open"
    SILENT = "silent", "Silent (open, pongs missing)"
    RECONNECTING = "reconnecting", "Reconnecting"
    POLLING = "polling", "HTTP polling fallback"
    CLOSED = "closed", "Closed"


PARTICIPANT_LEFT = "left"


class Participant(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    participant_id = models.CharField(max_length=200, help_text="Platform participantId (ephemeral, never an anchor)")
    role = models.CharField(max_length=16, choices=ParticipantRole.choices, default=ParticipantRole.UNKNOWN)
    name = models.CharField(max_length=200, blank=True, default="")
    user_id = models.CharField(max_length=200, blank=True, default="")
    queue_id = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=40, blank=True, default="")
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    disconnect_type = models.CharField(max_length=60, blank=True, default="")
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Participant-level attributes, kept to detect context on the wrong level"
    )
    versions = models.JSONField(default=dict, blank=True)
    # Socket health, from widget telemetry (diagnostics).
    socket_state = models.CharField(max_length=16, choices=SocketState.choices, default=SocketState.UNKNOWN)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    missed_pongs = models.PositiveIntegerField(default=0)
    rtt_ms = models.PositiveIntegerField(null=True, blank=True)
    reconnects = models.PositiveIntegerField(default=0)
    origin = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "participant_id"], name="participant_unique_per_conversation"
            )
        ]
        indexes = [
            # socket-health counters: participants grouped by socket state.
            models.Index(fields=["socket_state"], name="participant_socket_state"),
            # socket_health's list of widgets missing pongs, worst first (bench/listapi.py, dashboard).
            models.Index(
                models.F("missed_pongs").desc(),
                "id",
                name="participant_missed_pongs",
                condition=Q(missed_pongs__gt=0, role="customer") & ~Q(state="left"),
            ),
        ]

    def __str__(self):
        return f"{self.role} {self.participant_id}"

    @property
    def has_left(self) -> bool:
        return self.state == PARTICIPANT_LEFT


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound (from customer)"
    OUTBOUND = "outbound", "Outbound (to customer)"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=200, help_text="Platform messageId, the afterId cursor")
    sequence = models.BigIntegerField(help_text="Order within the conversation (the platform's event sequence)")
    participant_id = models.CharField(max_length=200, blank=True, default="")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    text = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(help_text="When the platform says the message was sent")
    received_at = models.DateTimeField(auto_now_add=True)
    event_id = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "message_id"], name="message_unique_per_conversation")
        ]
        indexes = [
            # GET messages/?afterId=: strictly after (sequence, message_id) in this conversation,
            # an index range scan whatever the conversation's size (no OFFSET).
            models.Index(fields=["conversation", "sequence", "message_id"], name="message_cursor"),
        ]

    def __str__(self):
        return self.message_id


class Handoff(models.Model):
    """One transfer of a conversation, with the routing context before and after it (guide, Step 5)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="handoffs")
    key = models.CharField(
        max_length=250,
        help_text="The transfer event id, or 'participant:<id>' for a transfer derived from participants",
    )
    from_participant_id = models.CharField(max_length=200, blank=True, default="")
    to_participant_id = models.CharField(max_length=200, blank=True, default="")
    from_queue_id = models.CharField(max_length=200, blank=True, default="")
    to_queue_id = models.CharField(max_length=200, blank=True, default="")
    context_before = models.JSONField(default=dict, blank=True)
    context_after = models.JSONField(default=dict, blank=True)
    lost_keys = models.JSONField(default=list, blank=True, help_text="Derived by Handoff.compute_lost_keys")
    occurred_at = models.DateTimeField()
    # Context is read just before order_key (context_before) and as of after_key (context_after).
    order_key = models.JSONField(default=list, blank=True)
    after_key = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [models.UniqueConstraint(fields=["conversation", "key"], name="handoff_unique_per_conversation")]

    def __str__(self):
        return f"{self.from_queue_id or self.from_participant_id} -> {self.to_queue_id or self.to_participant_id}"

    @staticmethod
    def compute_lost_keys(before: dict, after: dict) -> list[str]:
        """Keys of routingData/customAttributes that had a value before and none after.

        A key that is missing, null or emptied ("", [], {}) after the transfer is lost
        (guide, Step 5: context must survive participant changes and queue transitions).
        """
        lost = []
        for section in ("routingData", "customAttributes"):
            old = before.get(section) or {}
            new = after.get(section) or {}
            for key in sorted(old):
                if _has_value(old[key]) and not _has_value(new.get(key)):
                    lost.append(f"{section}.{key}")
        return lost


def _has_value(value) -> bool:
    return value is not None and value != "" and value != [] and value != {}


class ContextChange(models.Model):
    """A routing-context write, kept so context at any point is a fold in event order.

    Webhooks arrive in any order; the conversation's current context and each
    handoff's before/after are recomputed from these rows sorted by order key, so
    the mirror converges whatever the arrival order.
    """

    REPLACE = "replace"
    MERGE = "merge"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="context_changes")
    event_id = models.CharField(max_length=200)
    order_key = models.JSONField()
    mode = models.CharField(max_length=8, choices=[(REPLACE, "replace"), (MERGE, "merge")])
    routing_data = models.JSONField(null=True, blank=True)
    custom_attributes = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "event_id"], name="context_change_unique_event")]

    def __str__(self):
        return f"{self.mode} {self.event_id}"


class ReceiptOutcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    DUPLICATE = "duplicate", "Duplicate"
    STALE = "stale", "Stale (older than what the mirror holds; history kept)"
    IGNORED = "ignored", "Ignored (event type the console does not use)"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed (accepted but not applied; the platform retries)"


# Outcomes of a delivery the console accepted as the first with its event id.
ACCEPTED_OUTCOMES = (ReceiptOutcome.APPLIED, ReceiptOutcome.STALE, ReceiptOutcome.IGNORED)


class WebhookReceipt(models.Model):
    """Every POST to a webhook endpoint. The mirror can be rebuilt from the accepted ones."""

    source = models.CharField(max_length=16, choices=Source.choices)
    event_id = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    signature_valid = models.BooleanField(null=True, help_text="Empty when the request failed before the check")
    outcome = models.CharField(max_length=16, choices=ReceiptOutcome.choices)
    status_code = models.PositiveSmallIntegerField()
    error = models.TextField(blank=True, default="")
    conversation_id = models.CharField(max_length=200, blank=True, default="")
    event_types = models.CharField(
        max_length=300, blank=True, default="", help_text="Canonical event types, comma-separated"
    )
    sequence = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    body = models.TextField(blank=True, default="", help_text="Raw body, kept for accepted deliveries only")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        constraints = [
            # An event id is applied at most once per source, enforced by the database: a concurrent
            # redelivery loses the insert race and is recorded as a duplicate.
            # event_id leads so that the admin/API lookup by event id uses this index too.
            models.UniqueConstraint(
                fields=["event_id", "source"],
                condition=Q(outcome__in=["applied", "stale", "ignored"]),
                name="receipt_event_once_per_source",
            )
        ]
        indexes = [
            # Conversation timeline and event_after_close: a conversation's deliveries in order.
            models.Index(fields=["conversation_id", "received_at"], name="receipt_conversation"),
            # Admin and API filters by outcome, newest first.
            models.Index(fields=["outcome", "-received_at"], name="receipt_outcome"),
        ]

    def __str__(self):
        return f"{self.source}:{self.event_id or '-'} {self.outcome}"


class ForceCloseStatus(models.TextChoices):
    PENDING = "pending", "Pending (waiting for an attempt)"
    IN_FLIGHT = "in_flight", "In flight (an attempt holds it)"
    SUCCEEDED = "succeeded", "Closed"
    ALREADY_CLOSED = "already_closed", "Already closed"
    FAILED = "failed", "Failed (gave up)"


OPEN_FORCE_CLOSE_STATUSES = (ForceCloseStatus.PENDING, ForceCloseStatus.IN_FLIGHT)


class ForceCloseRequest(models.Model):
    """An admin's request to close a conversation on its platform and in the mirror.

    Durable so that a failed or interrupted attempt is retried in the background: an attempt
    claims the row with a conditional UPDATE (pending -> in_flight, with a lease and a token),
    makes the platform call without holding any row lock, and finishes with another conditional
    UPDATE that only the holder of the token can make. One request per idempotency key, so the
    platform is not called twice for one key.
    """

    # No database constraint: replay_events --reset may delete and rebuild the conversation.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.DO_NOTHING, db_constraint=False, related_name="force_close_requests"
    )
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    reason = models.TextField()
    actor = models.CharField(max_length=200, help_text="user:<name> or client:<client_id>")
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    request_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=ForceCloseStatus.choices, default=ForceCloseStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When a pending request is tried again")
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When an in-flight attempt is presumed lost"
    )
    claim_token = models.CharField(max_length=32, blank=True, default="")
    platform_call = models.TextField(blank=True, default="", help_text="The last platform call and its answer")
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    audit_entry = models.ForeignKey(
        "console.AuditEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # The platform is called at most once per idempotency key and conversation.
            models.UniqueConstraint(
                fields=["conversation", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="force_close_once_per_key",
            ),
            # At most one request per conversation is being worked on; later ones join it.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["pending", "in_flight"]),
                name="force_close_one_open_per_conversation",
            ),
        ]
        indexes = [
            # force_close_retry: the few open requests among the history of all of them.
            models.Index(fields=["status"], name="force_close_open", condition=Q(status__in=["pending", "in_flight"])),
        ]

    def __str__(self):
        return f"force-close {self.conversation_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_FORCE_CLOSE_STATUSES
