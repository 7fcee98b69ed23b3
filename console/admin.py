"""Admin for cross-cutting records."""

from django.contrib import admin

from console.models import ApiClient, AuditEntry, DeferredJob


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "target_type", "target_id", "reason")
    list_filter = ("action", "target_type")
    search_fields = ("=target_id", "actor")
    ordering = ("-at", "-id")
    show_full_result_count = False
    readonly_fields = (
        "at",
        "actor",
        "actor_user",
        "action",
        "target_type",
        "target_id",
        "reason",
        "before",
        "after",
        "idempotency_key",
        "request_id",
    )
    list_select_related = ("actor_user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Which scopes each OAuth2 client may be granted (created by ``manage.py create_api_client``).

    Deleting the OAuth2 application (Django OAuth Toolkit > Applications) revokes the client and its tokens.
    """

    list_display = ("application", "scopes", "created_at")
    list_select_related = ("application",)
    readonly_fields = ("application", "created_at")
    search_fields = ("application__name", "=application__client_id")

    def has_add_permission(self, request):
        return False


@admin.register(DeferredJob)
class DeferredJobAdmin(admin.ModelAdmin):
    """Jobs waiting for the broker (Redis was down when they were enqueued); normally empty."""

    list_display = ("created_at", "task_name", "attempts", "claimed_at", "last_error")
    list_filter = ("task_name",)
    ordering = ("pk",)
    readonly_fields = ("task_name", "args", "kwargs", "digest", "created_at", "claimed_at", "attempts", "last_error")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
