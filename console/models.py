"""Cross-cutting records: the audit log and the jobs deferred while the broker was down."""

from django.conf import settings
from django.db import models
from django.db.models import Q


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


class DeferredJob(models.Model):
    """A follow-up job that could not be handed to the broker (Redis down) when its change committed.

    console/jobs.py writes it instead of losing the job; the flush_deferred_jobs sweep publishes it
    once the broker answers again. Identical pending jobs are stored once (the tasks are idempotent).
    """

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=64, help_text="sha256 of task name, args and kwargs")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="Set while a sweep publishes it")
    claim_token = models.CharField(max_length=32, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            # The same job deferred twice while waiting is kept once.
            models.UniqueConstraint(fields=["digest"], condition=Q(claimed_at=None), name="deferred_job_once"),
        ]

    def __str__(self):
        return f"{self.task_name} (deferred {self.created_at:%Y-%m-%d %H:%M:%S})"
