"""Cross-cutting records: the audit log."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who changed what, why, from what to what (Zulip's RealmAuditLog).

    Written by the action that makes the change, in the same transaction, so an
    audit row exists exactly when the change does.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200, help_text="user:<name>, client:<client_id> or system:<task>")
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=100, help_text="Dotted name, e.g. conversation.force_closed")
    target_type = models.CharField(max_length=50)
    target_id = models.CharField(max_length=200)
    reason = models.TextField(blank=True, default="")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # Conversation timeline: audit rows of one target in time order.
            models.Index(fields=["target_type", "target_id", "at"], name="audit_target"),
            # Audit log filtered by action, newest first.
            models.Index(fields=["action", "-at"], name="audit_action"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_type}:{self.target_id}"


class SocketHealthSample(models.Model):
    """Socket-health counters at one moment: the history behind the dashboard's chart."""

    at = models.DateTimeField(db_index=True)
    counts = models.JSONField(help_text="Participants of open conversations by socket state")

    class Meta:
        ordering = ["at"]

    def __str__(self):
        return f"{self.at:%H:%M:%S} {self.counts}"
