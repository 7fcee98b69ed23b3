"""Client belief (widget telemetry) and the findings raised by joining it with the mirror."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q


def new_deployment_key() -> str:
    return "wd_" + secrets.token_urlsafe(24)


class WidgetDeployment(models.Model):
    """A chat widget installation: its public key, the origins it may report from, its TTL and thresholds."""

    key = models.CharField(max_length=64, unique=True, default=new_deployment_key, help_text="Public X-Deployment-Key")
    name = models.CharField(max_length=200)
    allowed_origins = models.JSONField(
        default=list, blank=True, help_text="Exact origins, e.g. https://www.example.com"
    )
    session_ttl_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Inactivity TTL of its conversations; empty means the default"
    )
    # Per-deployment threshold overrides; empty means the setting's default.
    ghost_grace_seconds = models.PositiveIntegerField(null=True, blank=True)
    pong_window_seconds = models.PositiveIntegerField(null=True, blank=True)
    missed_pongs_threshold = models.PositiveIntegerField(null=True, blank=True)
    duplicate_message_window_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Storage bound per key (docs/architecture.md, "Telemetry storage quota"): beacons stored per UTC day.
    daily_beacon_quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Beacons stored per UTC day; empty means TELEMETRY_DAILY_BEACON_QUOTA"
    )
    beacon_quota_day = models.DateField(null=True, blank=True, editable=False)
    beacon_quota_used = models.PositiveIntegerField(
        default=0, editable=False, help_text="Beacons counted against the quota on beacon_quota_day"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class PendingDetection(models.Model):
    """A conversation whose mirror changed since the detectors last examined it.

    Ingest marks it in the delivery's own transaction; the debounced
    ``diagnostics.tasks.run_pending_detectors`` claims the marks (DELETE) and examines the
    conversations in chunks, so a burst of webhooks costs one detector run, not one per webhook.
    """

    conversation_id = models.CharField(primary_key=True, max_length=200)
    queued_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.conversation_id


class BeaconKind(models.TextChoices):
    SESSION_INIT = "session.init", "session.init"
    SOCKET_STATE = "socket.state", "socket.state"
    MESSAGE_RETRY = "message.retry", "message.retry"
    HISTORY_FETCH = "history.fetch", "history.fetch"


class TelemetryBeacon(models.Model):
    """One beacon as the widget sent it (bounded retention: CONSOLE_BEACON_RETENTION_DAYS)."""

    deployment = models.ForeignKey(WidgetDeployment, on_delete=models.CASCADE, related_name="beacons")
    beacon_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=BeaconKind.choices)
    session_key = models.CharField(max_length=200)
    conversation_id = models.CharField(max_length=200, blank=True, default="")
    participant_id = models.CharField(max_length=200, blank=True, default="")
    origin = models.CharField(max_length=300, blank=True, default="")
    sent_at = models.DateTimeField(help_text="When it happened, as the widget says")
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "beacon_id"], name="beacon_unique_per_deployment"),
        ]
        indexes = [
            # Detectors and the timeline: a conversation's beacons in time order.
            models.Index(fields=["conversation_id", "sent_at"], name="beacon_conversation"),
            # duplicate_conversation / cross_origin_reset: a session's beacons in time order.
            models.Index(fields=["session_key", "sent_at"], name="beacon_session"),
            # purge_old_records: oldest first.
            models.Index(fields=["received_at"], name="beacon_received"),
        ]

    def __str__(self):
        return f"{self.kind} {self.beacon_id}"


class FindingKind(models.TextChoices):
    DUPLICATE_CONVERSATION = "duplicate_conversation", "Duplicate conversation"
    UNVALIDATED_RESUME = "unvalidated_resume", "Unvalidated resume"
    CROSS_ORIGIN_RESET = "cross_origin_reset", "Cross-origin reset"
    STALE_SESSION = "stale_session", "Stale session"
    GHOST_SESSION = "ghost_session", "Ghost session"
    SILENT_SOCKET = "silent_socket", "Silent socket"
    RECONNECT_STORM = "reconnect_storm", "Reconnect storm"
    DUPLICATE_MESSAGE = "duplicate_message", "Duplicate message"
    CURSOR_DRIFT = "cursor_drift", "Cursor drift"
    CONTEXT_LOST_ON_HANDOFF = "context_lost_on_handoff", "Context lost on handoff"
    PARTICIPANT_SCOPED_CONTEXT = "participant_scoped_context", "Participant-scoped context"
    EVENT_AFTER_CLOSE = "event_after_close", "Event after close"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class Finding(models.Model):
    """A diagnosed failure with the evidence that shows it and the guide's remediation.

    At most one open finding per (kind, subject), enforced by the database. The subject is
    ``conversation:<id>`` when the conversation is known, else ``session:<sessionKey>``.
    """

    kind = models.CharField(max_length=40, choices=FindingKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    subject = models.CharField(max_length=250)
    conversation_id = models.CharField(max_length=200, blank=True, default="")
    participant_id = models.CharField(max_length=200, blank=True, default="")
    session_key = models.CharField(max_length=200, blank=True, default="")
    evidence = models.JSONField(default=dict)
    remediation = models.TextField()
    guide_section = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True, default="")
    resolution_note = models.TextField(blank=True, default="")
    # Digest of the facts that raised it (diagnostics.detectors.Detection.fingerprint): a finding
    # someone closed is not raised again for the same facts, only when new facts appear.
    fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"], condition=Q(status="open"), name="finding_one_open_per_kind_subject"
            )
        ]
        indexes = [
            # Conversation list filter has_open_findings and the conversation page's findings.
            models.Index(fields=["conversation_id", "status"], name="finding_conversation"),
            # Findings list: open first, newest first, by kind.
            models.Index(fields=["status", "-last_seen"], name="finding_status_seen"),
            models.Index(fields=["kind", "status"], name="finding_kind_status"),
            # Detectors: the findings of one subject (open ones to update, closed ones not to re-raise).
            models.Index(fields=["subject", "kind"], name="finding_subject_kind"),
        ]

    def __str__(self):
        return f"{self.kind} {self.subject} ({self.status})"
