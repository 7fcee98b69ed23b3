"""Cross-cutting read paths: the audit log and a conversation's unified timeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from console.models import AuditEntry

log = logging.getLogger(__name__)
DASHBOARD_HEALTH_KEY = "console:dashboard-health"


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # webhook | telemetry | finding | audit
    title: str
    detail: str
    ref: str

    def as_json(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "ref": self.ref,
        }


def audit_log(*, action: str = "", target_id: str = ""):
    queryset = AuditEntry.objects.select_related("actor_user").order_by("-at", "-pk")
    if action:
        queryset = queryset.filter(action=action)
    if target_id:
        queryset = queryset.filter(target_id=target_id)
    return queryset


def conversation_timeline(conversation_id: str, limit: int = 100) -> list[TimelineItem]:
    """Webhooks, telemetry, findings and audit of one conversation, newest first (four queries)."""
    from conversations.models import WebhookReceipt
    from diagnostics.models import Finding, TelemetryBeacon

    items: list[TimelineItem] = []
    for receipt in WebhookReceipt.objects.filter(conversation_id=conversation_id).order_by("-received_at")[:limit]:
        items.append(
            TimelineItem(
                receipt.occurred_at or receipt.received_at,
                "webhook",
                f"{receipt.source} {receipt.event_types or '-'}",
                f"{receipt.outcome} · event {receipt.event_id}",
                f"receipt:{receipt.pk}",
            )
        )
    for beacon in TelemetryBeacon.objects.filter(conversation_id=conversation_id).order_by("-sent_at")[:limit]:
        event = beacon.payload.get("event") if isinstance(beacon.payload, dict) else None
        items.append(
            TimelineItem(
                beacon.sent_at,
                "telemetry",
                f"{beacon.kind}{f' {event}' if event else ''}",
                f"session {beacon.session_key[:12]} · {beacon.origin or '-'}",
                f"beacon:{beacon.pk}",
            )
        )
    for finding in Finding.objects.filter(conversation_id=conversation_id).order_by("-first_seen")[:limit]:
        items.append(
            TimelineItem(
                finding.first_seen,
                "finding",
                f"{finding.get_kind_display()} ({finding.severity})",
                f"{finding.status}",
                f"finding:{finding.pk}",
            )
        )
    for entry in AuditEntry.objects.filter(target_type="conversation", target_id=conversation_id).order_by("-at")[
        :limit
    ]:
        items.append(
            TimelineItem(entry.at, "audit", entry.action, f"{entry.actor}: {entry.reason}", f"audit:{entry.pk}")
        )
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


CHART_WINDOW_SECONDS = 3600


def socket_chart_series(now: datetime) -> dict:
    """Samples of the last hour as uPlot columns: {"t": [unix seconds], "<state>": [count, ...]}."""
    from datetime import timedelta

    from console.models import SocketHealthSample
    from conversations.models import SocketState

    samples = list(SocketHealthSample.objects.filter(at__gte=now - timedelta(seconds=CHART_WINDOW_SECONDS)))
    series = {"t": [int(sample.at.timestamp()) for sample in samples]}
    for state in SocketState.values:
        series[state] = [int(sample.counts.get(state, 0)) for sample in samples]
    return series


def dashboard_health() -> dict:
    """The dashboard's socket counters and open-conversation count, shared for a moment by every dashboard.

    They aggregate every widget of every open conversation (about 110 ms at 80,000 open
    conversations, docs/performance.md), and each open dashboard re-reads them on every live
    push; so the answer is kept in the shared cache for CONSOLE_DASHBOARD_CACHE_SECONDS (0: never).
    """
    ttl = settings.CONSOLE_DASHBOARD_CACHE_SECONDS
    if ttl > 0:
        try:
            cached = cache.get(DASHBOARD_HEALTH_KEY)
        except Exception:  # noqa: BLE001 - without the cache, compute every time
            cached = None
        if cached is not None:
            return cached
    health = _dashboard_health()
    if ttl > 0:
        try:
            cache.set(DASHBOARD_HEALTH_KEY, health, ttl)
        except Exception:
            log.warning("could not cache the dashboard counters", exc_info=True)
    return health


def _dashboard_health() -> dict:
    from conversations import queries as conversation_queries
    from conversations.models import SocketState

    health = conversation_queries.socket_health()
    return {
        "counts": {state: health["by_state"].get(state, 0) for state in SocketState.values},
        "missed_pongs": health["with_missed_pongs"],
        "oldest_heartbeat_at": health["oldest_heartbeat_at"],
        "open_conversations": conversation_queries.open_conversation_count(),
    }
