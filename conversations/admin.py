"""Admin for the mirror: read-only (the platforms are the source of truth), fast at 100k rows."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from conversations import queries
from conversations.models import Conversation, Handoff, Participant, WebhookReceipt


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


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "source", "state", "tenant", "queue_id", "channel", "customer_key", "last_activity_at")
    list_filter = ("state", "source", "queue_id", "channel")
    search_fields = ("id__exact", "customer_key__exact")  # exact: served by the pk and conv_customer_state
    ordering = ("-last_activity_at", "id")
    show_full_result_count = False
    list_per_page = 50
    inlines = (ParticipantInline, HandoffInline)
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
