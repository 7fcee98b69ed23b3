"""Cross-cutting records: the audit log and the jobs deferred while the broker was down."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from oauth2_provider.settings import oauth2_settings


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


class ApiClient(models.Model):
    """The scopes an OAuth2 application was created with (``manage.py create_api_client``).

    ``/o/token/`` never grants a scope outside this list, whatever the client asks for.
    """

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="console_client"
    )
    scopes = models.JSONField(default=list, help_text="Allowed scopes: read, findings, force-close, admin")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API client"

    def __str__(self):
        return f"{self.application.name} ({' '.join(self.scopes)})"


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight", "In flight"
    COMPLETED = "completed", "Completed"


class IdempotencyKey(models.Model):
    """One Idempotency-Key of one client (draft-ietf-httpapi-idempotency-key-header).

    The unique (owner, key) constraint is the claim: the first insert wins on PostgreSQL and
    SQLite alike; a concurrent request with the same key finds the row in flight (409), a
    later one finds the stored first response (replayed) or another fingerprint (422).
    """

    owner = models.CharField(max_length=200, help_text="user:<name> or client:<client_id>")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and canonical JSON body")
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_FLIGHT)
    claim = models.CharField(max_length=32, help_text="Token of the request that holds the key")
    locked_until = models.DateTimeField(help_text="An in-flight claim older than this was abandoned")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_once_per_owner")]
        indexes = [
            # Purging expired keys: oldest first.
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self):
        return f"{self.owner} {self.key} ({self.state})"


class SocketHealthSample(models.Model):
    """Socket-health counters at one moment: the history behind the dashboard's chart."""

    at = models.DateTimeField(db_index=True)
    counts = models.JSONField(help_text="Participants of open conversations by socket state")

    class Meta:
        ordering = ["at"]

    def __str__(self):
        return f"{self.at:%H:%M:%S} {self.counts}"


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
