"""Supervisor pages. Reads go through each app's queries.py, changes through its actions.py."""

from __future__ import annotations

from datetime import datetime
from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from console import queries as console_queries
from console.roles import is_admin, is_supervisor
from console.templatetags.console_tags import context_rows
from conversations import queries as conversation_queries
from conversations.models import ConversationState, ReceiptOutcome, Source, WebhookReceipt
from diagnostics import actions as diagnostic_actions
from diagnostics import queries as diagnostic_queries
from diagnostics.models import Finding, FindingKind, FindingStatus, Severity

PAGE_SIZE = 50


def supervisor_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return HttpResponseRedirect(f"{reverse('login')}?next={request.get_full_path()}")
        if not is_supervisor(request.user):
            raise PermissionDenied("the console is for supervisors and admins")
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view):
    @wraps(view)
    @supervisor_required
    def wrapper(request, *args, **kwargs):
        if not is_admin(request.user):
            raise PermissionDenied("admins only")
        return view(request, *args, **kwargs)

    return wrapper


def actor_for(user) -> str:
    return f"user:{user.get_username()}"


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "login"


# --- dashboard ---------------------------------------------------------------------------------


def _health_context() -> dict:
    return {
        "health": console_queries.dashboard_health(),
        "finding_counts": diagnostic_queries.open_finding_counts(),
        "at_risk": diagnostic_queries.at_risk(),
        "newest_findings": diagnostic_queries.newest_open_findings(),
    }


@supervisor_required
def dashboard(request):
    context = _health_context()
    context["nav"] = "dashboard"
    context["chart"] = console_queries.socket_chart_series(timezone.now())
    return render(request, "console/dashboard.html", context)


@supervisor_required
def dashboard_live(request):
    """The parts of the dashboard a live push refreshes (htmx fragment)."""
    return render(request, "console/partials/dashboard_live.html", _health_context())


@supervisor_required
def socket_chart(request):
    return JsonResponse(console_queries.socket_chart_series(timezone.now()))


# --- conversations -------------------------------------------------------------------------------


def _tristate(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _cursor(value: str) -> tuple[datetime, str] | None:
    at, sep, pk = value.partition("|")
    moment = parse_datetime(at) if sep else None
    return (moment, pk) if moment else None


@supervisor_required
def conversation_list(request):
    params = request.GET
    filters = conversation_queries.ConversationFilters(
        state=params.get("state", "") if params.get("state", "") in ConversationState.values else "",
        queue=params.get("queue", "")[:200],
        channel=params.get("channel", "")[:100],
        source=params.get("source", "") if params.get("source", "") in Source.values else "",
        has_open_findings=_tristate(params.get("has_open_findings", "")),
        stale=_tristate(params.get("stale", "")),
    )
    now = timezone.now()
    queryset = conversation_queries.filter_conversations(conversation_queries.annotated_conversations(), filters, now)
    rows, has_more = conversation_queries.keyset_page(queryset, after=_cursor(params.get("after", "")), size=PAGE_SIZE)
    next_cursor = f"{rows[-1].last_activity_at.isoformat()}|{rows[-1].pk}" if has_more and rows else ""
    query = params.copy()
    query.pop("after", None)
    return render(
        request,
        "console/conversations.html",
        {
            "nav": "conversations",
            "rows": rows,
            "filters": filters,
            "now": now,
            "next_cursor": next_cursor,
            "base_query": query.urlencode(),
            "paged": bool(params.get("after")),
            "states": ConversationState.choices,
            "sources": [choice for choice in Source.choices if choice[0] != Source.CONSOLE],
            "queues": conversation_queries.distinct_values("queue_id"),
            "channels": conversation_queries.distinct_values("channel"),
        },
    )


def _conversation_context(request, conversation_id: str) -> dict:
    try:
        conversation = conversation_queries.conversation_detail(conversation_id)
    except conversation_queries.Conversation.DoesNotExist:
        raise Http404("no such conversation") from None
    return {
        "conversation": conversation,
        "participants": list(conversation.participants.all()),
        "handoffs": list(conversation.handoffs.all()),
        "message_rows": conversation_queries.latest_messages(conversation, 100),
        "findings": list(diagnostic_queries.filter_findings(conversation_id=conversation.pk)[:50]),
        "timeline": console_queries.conversation_timeline(conversation.pk, 100),
        "current_context": context_rows(
            {"routingData": conversation.routing_data, "customAttributes": conversation.custom_attributes}
        ),
        "can_force_close": is_admin(request.user),
        "force_close": conversation_queries.open_force_close(conversation),
        "nav": "conversations",
        "now": timezone.now(),
    }


@supervisor_required
def conversation_detail(request, conversation_id: str):
    return render(request, "console/conversation.html", _conversation_context(request, conversation_id))


@supervisor_required
def conversation_live(request, conversation_id: str):
    """Header, participants and timeline of one conversation (refreshed on live pushes)."""
    return render(request, "console/partials/conversation_live.html", _conversation_context(request, conversation_id))


def _newest_first_page(queryset, params) -> dict:
    """Newest first by id, the page before ``?before=<id>``: rows, the next cursor, the other filters."""
    before = params.get("before", "")
    queryset = queryset.order_by("-pk")
    if before.isdigit():
        queryset = queryset.filter(pk__lt=int(before))
    rows = list(queryset[: PAGE_SIZE + 1])
    query = params.copy()
    query.pop("before", None)
    return {
        "rows": rows[:PAGE_SIZE],
        "next_before": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else "",
        "base_query": query.urlencode(),
    }


# --- findings -------------------------------------------------------------------------------------


@supervisor_required
def finding_list(request):
    params = request.GET
    kind = params.get("kind", "") if params.get("kind", "") in FindingKind.values else ""
    status = params.get("status", FindingStatus.OPEN)
    status = status if status in FindingStatus.values or status == "all" else FindingStatus.OPEN
    severity = params.get("severity", "") if params.get("severity", "") in Severity.values else ""
    queryset = diagnostic_queries.filter_findings(
        kind=kind, status="" if status == "all" else status, severity=severity
    )
    return render(
        request,
        "console/findings.html",
        {
            "nav": "findings",
            **_newest_first_page(queryset, params),
            "kind": kind,
            "status": status,
            "severity": severity,
            "kinds": FindingKind.choices,
            "statuses": FindingStatus.choices,
            "severities": Severity.choices,
        },
    )


@require_POST
@supervisor_required
def finding_close(request, pk: int, status: str):
    finding = get_object_or_404(Finding, pk=pk)
    note = request.POST.get("note", "").strip()[:1000]
    if "\x00" in note:  # PostgreSQL text holds no NUL (the API's serializer refuses it the same way)
        return HttpResponseBadRequest("the note contains a NUL character")
    if diagnostic_actions.close_finding(
        finding,
        status=status,
        actor=actor_for(request.user),
        note=note,
        actor_user=request.user,
        request_id=getattr(request, "request_id", ""),
    ):
        messages.success(request, f"Finding #{finding.pk} {status}.")
    else:
        messages.warning(request, f"Finding #{finding.pk} was already {finding.status}.")
    target = request.POST.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("findings")
    return HttpResponseRedirect(target)


# --- admin-only pages -----------------------------------------------------------------------------


@admin_required
def receipt_list(request):
    params = request.GET
    outcome = params.get("outcome", "") if params.get("outcome", "") in ReceiptOutcome.values else ""
    source = params.get("source", "") if params.get("source", "") in Source.values else ""
    queryset = WebhookReceipt.objects.defer("body")
    if outcome:
        queryset = queryset.filter(outcome=outcome)
    if source:
        queryset = queryset.filter(source=source)
    event_id = params.get("event_id", "").strip()
    if event_id:
        queryset = queryset.filter(event_id=event_id)
    return render(
        request,
        "console/receipts.html",
        {
            "nav": "receipts",
            **_newest_first_page(queryset, params),
            "outcome": outcome,
            "source": source,
            "event_id": event_id,
            "outcomes": ReceiptOutcome.choices,
            "sources": Source.choices,
        },
    )


@admin_required
def audit_list(request):
    params = request.GET
    queryset = console_queries.audit_log(
        action=params.get("action", "")[:100], target_id=params.get("target", "")[:200]
    )
    return render(
        request,
        "console/audit.html",
        {
            "nav": "audit",
            **_newest_first_page(queryset, params),
            "action": params.get("action", ""),
            "target": params.get("target", ""),
        },
    )
