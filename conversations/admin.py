"""Admin for the mirror: read-only (the platforms are the source of truth), fast at 100k rows."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from console.roles import is_admin
from conversations import actions, platforms, queries
from conversations.models import Conversation, ForceCloseRequest, Handoff, Participant, WebhookReceipt


class ReadOnlyAdminMixin:
    """The mirror changes only through actions; the admin shows it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def render_context(context: dict, lost: set[str] | None = None, *, mark: str = "lost"):
    """routingData and customAttributes as a readable list; keys in ``lost`` are marked."""
    lost = lost or set()
    rows = []
    for section in ("routingData", "customAttributes"):
        values = (context or {}).get(section) or {}
        for key in sorted(values):
            path = f"{section}.{key}"
            rows.append((path, json.dumps(values[key], ensure_ascii=False), path in lost))
    if not rows:
        return format_html('<span class="csc-empty">{}</span>', "(no context)")
    return format_html(
        '<dl class="csc-context">{}</dl>',
        format_html_join(
            "",
            '<div class="{}"><dt>{}</dt><dd>{}{}</dd></div>',
            (
                (
                    "csc-lost" if is_lost else "",
                    path,
                    value,
                    format_html(' <strong class="csc-lost-badge">{}</strong>', mark) if is_lost else "",
                )
                for path, value, is_lost in rows
            ),
        ),
    )


class ParticipantInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Participant
    extra = 0
    fields = (
        "participant_id",
        "role",
        "name",
        "state",
        "queue_id",
        "joined_at",
        "left_at",
        "disconnect_type",
        "socket_state",
        "last_heartbeat_at",
        "missed_pongs",
        "rtt_ms",
        "reconnects",
        "origin",
    )
    readonly_fields = fields


class HandoffInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Handoff
    extra = 0
    verbose_name = "handoff"
    verbose_name_plural = "Handoff context history"
    fields = ("occurred_at", "transfer", "before", "after", "lost")
    readonly_fields = fields

    @admin.display(description="From → to")
    def transfer(self, handoff: Handoff):
        origin = handoff.from_queue_id or "-"
        target = handoff.to_queue_id or "-"
        return format_html(
            "queue {} → {}<br>participant {} → {}",
            origin,
            target,
            handoff.from_participant_id or "-",
            handoff.to_participant_id or "-",
        )

    @admin.display(description="Context before")
    def before(self, handoff: Handoff):
        return render_context(handoff.context_before, set(handoff.lost_keys))

    @admin.display(description="Context after")
    def after(self, handoff: Handoff):
        return render_context(handoff.context_after)

    @admin.display(description="Lost keys")
    def lost(self, handoff: Handoff):
        if not handoff.lost_keys:
            return format_html('<span class="csc-ok">{}</span>', "none")
        return format_html_join(
            " ", '<strong class="csc-lost-badge">{} lost</strong>', ((key,) for key in handoff.lost_keys)
        )


class ForceCloseRequestInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Force-close requests of the conversation: a pending one shows its attempts and last error."""

    model = ForceCloseRequest
    extra = 0
    verbose_name = "force-close request"
    verbose_name_plural = "Force-close requests"
    fields = (
        "created_at",
        "actor",
        "reason",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "platform_call",
        "completed_at",
    )
    readonly_fields = fields
    ordering = ("-created_at",)


class ForceCloseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        help_text="Why the conversation must be closed; kept in the audit log.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


# An admin action calls each platform in turn within the request: keep the selection small.
FORCE_CLOSE_MAX_SELECTION = 20


class ForceCloseAdminMixin:
    """Force-close from the Django admin: an action on the list and a button on the conversation page.

    Admins only (a supervisor gets 403); each form asks for a reason. The platform is called first,
    then the mirror is closed and one audit row written (conversations.actions.force_close).
    """

    force_close_template = "admin/conversations/conversation/force_close.html"

    def has_force_close_permission(self, request) -> bool:
        return is_admin(request.user)

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/force-close/",
                self.admin_site.admin_view(self.force_close_view),
                name="conversations_conversation_force_close",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        conversation = Conversation.objects.filter(pk=unquote(object_id)).only("state").first()
        if conversation is not None and conversation.is_open and self.has_force_close_permission(request):
            extra_context["force_close_url"] = reverse(
                "admin:conversations_conversation_force_close", args=[conversation.pk]
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def force_close_view(self, request, object_id):
        if not self.has_force_close_permission(request):
            raise PermissionDenied("Only admins may force-close conversations.")
        conversation = get_object_or_404(Conversation, pk=unquote(object_id))
        change_url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
        form = ForceCloseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._force_close(request, [conversation], form.cleaned_data["reason"])
            return HttpResponseRedirect(change_url)
        return self._render_force_close(request, [conversation], form, cancel_url=change_url)

    @admin.action(
        description="Force close selected conversations (on the platform, then the mirror)", permissions=["force_close"]
    )
    def force_close_selected(self, request, queryset):
        conversations = list(queryset.order_by("id")[: FORCE_CLOSE_MAX_SELECTION + 1])
        if len(conversations) > FORCE_CLOSE_MAX_SELECTION:
            self.message_user(
                request,
                f"Select at most {FORCE_CLOSE_MAX_SELECTION} conversations to force-close at once.",
                messages.ERROR,
            )
            return None
        form = ForceCloseForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._force_close(request, conversations, form.cleaned_data["reason"])
            return None
        return self._render_force_close(
            request,
            conversations,
            form,
            cancel_url=reverse("admin:conversations_conversation_changelist"),
            selected=[conversation.pk for conversation in conversations],
        )

    def _render_force_close(self, request, conversations, form, *, cancel_url, selected=None):
        rows = []
        for conversation in conversations:
            handoffs = list(conversation.handoffs.all())
            rows.append(
                {
                    "conversation": conversation,
                    "platform": _platform_note(conversation.source),
                    "handoffs": handoffs,
                    "lost_keys": sorted({key for handoff in handoffs for key in handoff.lost_keys}),
                    "pending": conversation.force_close_requests.filter(status__in=["pending", "in_flight"]).first(),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Force close" if len(rows) == 1 else f"Force close {len(rows)} conversations",
            "opts": self.model._meta,
            "rows": rows,
            "form": form,
            "selected": selected,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": cancel_url,
        }
        return TemplateResponse(request, self.force_close_template, context)

    def _force_close(self, request, conversations, reason: str) -> None:
        user = request.user
        for conversation in conversations:
            outcome = actions.force_close(
                conversation.pk,
                reason=reason,
                actor=f"user:{user.get_username()}",
                actor_user=user,
                request_id=getattr(request, "request_id", ""),
            )
            level = {
                "closed": messages.SUCCESS,
                "already_closed": messages.INFO,
                "pending": messages.WARNING,
            }.get(outcome.status, messages.ERROR)
            summary = f"{outcome.platform_call} ({outcome.detail})" if outcome.status == "closed" else outcome.detail
            self.message_user(
                request, f"Conversation {conversation.pk}: {outcome.status.replace('_', ' ')} — {summary}", level
            )


def _platform_note(source: str) -> str:
    client = platforms.client_for(source)
    if client is None:
        return f"no platform configured for {source}: the conversation is closed in the mirror only"
    client.close()
    return f"closed on {source} first, then in the mirror"


@admin.register(Conversation)
class ConversationAdmin(ForceCloseAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "source", "state", "tenant", "queue_id", "channel", "customer_key", "last_activity_at")
    list_filter = ("state", "source", "queue_id", "channel")
    search_fields = ("id__exact", "customer_key__exact")  # exact: served by the pk and conv_customer_state
    ordering = ("-last_activity_at", "id")
    show_full_result_count = False
    list_per_page = 50
    inlines = (ParticipantInline, HandoffInline, ForceCloseRequestInline)
    actions = ("force_close_selected",)
    fieldsets = (
        (None, {"fields": ("id", "source", "state", "close_reason", "tenant", "channel", "queue_id", "customer_key")}),
        (
            "Lifecycle",
            {
                "fields": (
                    "started_at",
                    "first_event_at",
                    "last_activity_at",
                    "expires",
                    "last_inbound_at",
                    "closed_at",
                    "last_sequence",
                    "ttl_seconds",
                )
            },
        ),
        ("Routing context", {"fields": ("routing_context",)}),
        ("Messages", {"fields": ("recent_messages",)}),
    )
    readonly_fields = (
        "id",
        "source",
        "state",
        "close_reason",
        "tenant",
        "channel",
        "queue_id",
        "customer_key",
        "started_at",
        "first_event_at",
        "last_activity_at",
        "expires",
        "last_inbound_at",
        "closed_at",
        "last_sequence",
        "ttl_seconds",
        "routing_context",
        "recent_messages",
    )

    class Media:
        css = {"all": ("console/admin.css",)}

    @admin.display(description="Expires at (last activity + TTL)")
    def expires(self, conversation: Conversation):
        return date_format(localtime(conversation.expires_at), "DATETIME_FORMAT")

    @admin.display(description="Current routing context")
    def routing_context(self, conversation: Conversation):
        return render_context(
            {"routingData": conversation.routing_data, "customAttributes": conversation.custom_attributes}
        )

    @admin.display(description=f"Latest {queries.ADMIN_MESSAGE_LIMIT} messages")
    def recent_messages(self, conversation: Conversation):
        messages = queries.latest_messages(conversation, queries.ADMIN_MESSAGE_LIMIT)
        if not messages:
            return "(no messages)"
        return format_html(
            '<table class="csc-messages"><thead><tr><th>seq</th><th>message id</th><th>when</th><th>direction</th>'
            "<th>participant</th><th>idempotency key</th><th>text</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        m.sequence,
                        m.message_id,
                        m.created_at,
                        m.direction,
                        m.participant_id or "-",
                        m.idempotency_key or "-",
                        m.text,
                    )
                    for m in messages
                ),
            ),
        )


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "source", "event_id", "outcome", "status_code", "conversation_id", "event_types")
    list_filter = ("outcome", "source", "signature_valid")
    search_fields = ("event_id__exact", "conversation_id__exact")  # receipt_event_once_per_source, receipt_conversation
    ordering = ("-received_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    fields = (
        "received_at",
        "source",
        "event_id",
        "outcome",
        "status_code",
        "signature_valid",
        "error",
        "conversation_id",
        "event_types",
        "sequence",
        "occurred_at",
        "remote_addr",
        "request_id",
        "pretty_body",
    )
    readonly_fields = fields

    @admin.display(description="Body")
    def pretty_body(self, receipt: WebhookReceipt):
        if not receipt.body:
            return "(not kept: only accepted deliveries keep their body)"
        try:
            text = json.dumps(json.loads(receipt.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = receipt.body
        return format_html('<pre class="csc-body">{}</pre>', text)


@admin.register(ForceCloseRequest)
class ForceCloseRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every force-close request; pending ones are being retried in the background."""

    list_display = ("created_at", "conversation_id", "status", "attempts", "next_attempt_at", "actor", "last_error")
    list_filter = ("status",)
    search_fields = ("conversation__id__exact", "idempotency_key__exact")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    fields = (
        "conversation",
        "status",
        "reason",
        "actor",
        "idempotency_key",
        "request_id",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "platform_call",
        "last_error",
        "created_at",
        "completed_at",
        "audit_entry",
    )
    readonly_fields = fields
