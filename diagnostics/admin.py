"""Admin for findings (read, resolve, dismiss), widget deployments and raw telemetry beacons."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.validators import MinValueValidator
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from diagnostics import actions
from diagnostics.beacons import normalize_origin
from diagnostics.models import Finding, FindingStatus, TelemetryBeacon, WidgetDeployment


def render_evidence(value, depth: int = 0):
    """Evidence as nested definition lists and tables: ids, timestamps and values a supervisor can check."""
    if isinstance(value, dict):
        if not value:
            return format_html('<span class="csc-empty">{}</span>', "(none)")
        return format_html(
            '<dl class="csc-evidence">{}</dl>',
            format_html_join(
                "",
                "<div><dt>{}</dt><dd>{}</dd></div>",
                ((key, render_evidence(item, depth + 1)) for key, item in value.items()),
            ),
        )
    if isinstance(value, list):
        if not value:
            return format_html('<span class="csc-empty">{}</span>', "(none)")
        if all(isinstance(item, dict) for item in value):
            columns = list(dict.fromkeys(key for item in value for key in item))
            return format_html(
                '<table class="csc-evidence-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
                format_html_join("", "<th>{}</th>", ((column,) for column in columns)),
                format_html_join(
                    "",
                    "<tr>{}</tr>",
                    (
                        (
                            format_html_join(
                                "",
                                "<td>{}</td>",
                                ((render_evidence(item.get(column), depth + 1),) for column in columns),
                            ),
                        )
                        for item in value
                    ),
                ),
            )
        return format_html_join(", ", "{}", ((render_evidence(item, depth + 1),) for item in value))
    if value is None or value == "":
        return format_html('<span class="csc-empty">{}</span>', "—")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format_html("<code>{}</code>", value) if isinstance(value, str) else str(value)


THRESHOLD_FIELDS = (
    "session_ttl_seconds",
    "ghost_grace_seconds",
    "pong_window_seconds",
    "missed_pongs_threshold",
    "duplicate_message_window_seconds",
    "daily_beacon_quota",
)


class CloseFindingsForm(forms.Form):
    note = forms.CharField(
        label="Why",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        help_text="Kept in the audit log",
    )


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("kind", "severity", "status", "subject_link", "count", "first_seen", "last_seen")
    list_filter = ("kind", "status", "severity")
    search_fields = ("=conversation_id", "=session_key", "=subject", "=participant_id")
    ordering = ("-last_seen", "-id")
    show_full_result_count = False
    list_per_page = 50
    actions = ("resolve_selected", "dismiss_selected")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "kind",
                    "severity",
                    "status",
                    "subject_link",
                    "participant_id",
                    "session_key",
                    "first_seen",
                    "last_seen",
                    "count",
                )
            },
        ),
        ("Evidence", {"fields": ("evidence_view", "evidence_json")}),
        ("Remediation (session persistence guide)", {"fields": ("guide_section", "remediation_view")}),
        ("Resolution", {"fields": ("resolved_at", "resolved_by", "resolution_note")}),
    )
    readonly_fields = (
        "kind",
        "severity",
        "status",
        "subject_link",
        "participant_id",
        "session_key",
        "first_seen",
        "last_seen",
        "count",
        "evidence_view",
        "evidence_json",
        "guide_section",
        "remediation_view",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    )

    class Media:
        css = {"all": ("console/admin.css",)}

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Findings change only through their actions (resolve, dismiss); a finding's page is read-only.
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="Subject", ordering="subject")
    def subject_link(self, finding: Finding):
        if finding.conversation_id:
            url = reverse("admin:conversations_conversation_change", args=[finding.conversation_id])
            return format_html('conversation <a href="{}">{}</a>', url, finding.conversation_id)
        return finding.subject

    @admin.display(description="Evidence")
    def evidence_view(self, finding: Finding):
        return render_evidence(finding.evidence)

    @admin.display(description="Evidence (JSON)")
    def evidence_json(self, finding: Finding):
        return format_html(
            '<details><summary>raw</summary><pre class="csc-body">{}</pre></details>',
            json.dumps(finding.evidence, indent=2, ensure_ascii=False),
        )

    @admin.display(description="Remediation")
    def remediation_view(self, finding: Finding):
        return format_html_join("", "<p>{}</p>", ((paragraph,) for paragraph in finding.remediation.split("\n\n")))

    @admin.action(description="Resolve selected findings", permissions=["change"])
    def resolve_selected(self, request, queryset):
        return self._close(request, queryset, FindingStatus.RESOLVED, "resolve_selected")

    @admin.action(description="Dismiss selected findings", permissions=["change"])
    def dismiss_selected(self, request, queryset):
        return self._close(request, queryset, FindingStatus.DISMISSED, "dismiss_selected")

    def _close(self, request, queryset, status: str, action: str):
        """Ask why, then close each open finding with its own audit row (actions.close_finding)."""
        findings = list(queryset.filter(status=FindingStatus.OPEN).order_by("id"))
        if not findings:
            self.message_user(request, "None of the selected findings is open.", messages.WARNING)
            return None
        form = CloseFindingsForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            closed = sum(
                actions.close_finding(
                    finding,
                    status=status,
                    actor=f"user:{request.user.get_username()}",
                    actor_user=request.user,
                    note=form.cleaned_data["note"],
                    request_id=getattr(request, "request_id", ""),
                )
                for finding in findings
            )
            self.message_user(request, f"{closed} finding(s) {status}.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/diagnostics/finding/close_findings.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{status.capitalize()} {len(findings)} finding(s)",
                "opts": self.model._meta,
                "findings": findings,
                "status": status,
                "action": action,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "selected": [finding.pk for finding in findings],
                "media": self.media,
            },
        )


class OriginsField(forms.CharField):
    """Allowed origins, one per line, each an exact origin (scheme://host[:port])."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value):
        origins = []
        for line in (value or "").splitlines():
            if not line.strip():
                continue
            origin = normalize_origin(line)
            if not origin:
                raise forms.ValidationError(f"{line.strip()!r} is not an origin such as https://www.example.com")
            if origin not in origins:
                origins.append(origin)
        return origins


class WidgetDeploymentForm(forms.ModelForm):
    allowed_origins = OriginsField(required=False, help_text="One origin per line, e.g. https://www.example.com")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in THRESHOLD_FIELDS:
            if name not in self.fields:
                continue  # read-only for this user
            # 0 would mean "no threshold"; empty means "the setting".
            self.fields[name].min_value = 1
            self.fields[name].validators.append(MinValueValidator(1))
            self.fields[name].widget.attrs["min"] = 1

    class Meta:
        model = WidgetDeployment
        fields = ("name", "allowed_origins", *THRESHOLD_FIELDS)


@admin.register(WidgetDeployment)
class WidgetDeploymentAdmin(admin.ModelAdmin):
    form = WidgetDeploymentForm
    list_display = ("name", "key", "origins", "session_ttl_seconds", "created_at")
    search_fields = ("name", "=key")
    readonly_fields = ("key", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "key", "allowed_origins", "session_ttl_seconds", "created_at")}),
        (
            "Threshold overrides (empty = the setting)",
            {
                "fields": (
                    "ghost_grace_seconds",
                    "pong_window_seconds",
                    "missed_pongs_threshold",
                    "duplicate_message_window_seconds",
                )
            },
        ),
    )

    @admin.display(description="Allowed origins")
    def origins(self, deployment: WidgetDeployment):
        return ", ".join(deployment.allowed_origins or []) or "(none: telemetry refused)"


@admin.register(TelemetryBeacon)
class TelemetryBeaconAdmin(admin.ModelAdmin):
    list_display = ("sent_at", "kind", "beacon_id", "session_key", "conversation_id", "participant_id", "origin")
    list_filter = ("kind", "deployment")
    search_fields = ("=beacon_id", "=session_key", "=conversation_id")
    ordering = ("-sent_at", "-id")
    show_full_result_count = False
    list_per_page = 100
    list_select_related = ("deployment",)
    fields = (
        "deployment",
        "beacon_id",
        "kind",
        "session_key",
        "conversation_id",
        "participant_id",
        "origin",
        "sent_at",
        "received_at",
        "pretty_payload",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("console/admin.css",)}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Payload")
    def pretty_payload(self, beacon: TelemetryBeacon):
        return format_html('<pre class="csc-body">{}</pre>', json.dumps(beacon.payload, indent=2, ensure_ascii=False))
