"""Read paths of findings and telemetry, shared by the API, the pages and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from diagnostics.models import Finding, FindingKind, FindingStatus

AT_RISK_KINDS = ("stale_session", "ghost_session", "silent_socket")


def filter_findings(*, kind: str = "", status: str = "", severity: str = "", conversation_id: str = "") -> QuerySet:
    queryset = Finding.objects.all()
    for field, value in (
        ("kind", kind),
        ("status", status),
        ("severity", severity),
        ("conversation_id", conversation_id),
    ):
        if value:
            queryset = queryset.filter(**{field: value})
    return queryset.order_by("-last_seen", "-pk")


def newest_open_findings(limit: int = 15) -> list[Finding]:
    return list(Finding.objects.filter(status=FindingStatus.OPEN).order_by("-last_seen", "-pk")[:limit])


def at_risk(limit: int = 8) -> list[tuple[str, str, list[Finding]]]:
    """(kind, label, newest open findings) for the kinds that put a live session at risk (one query each)."""
    return [
        (
            kind,
            FindingKind(kind).label,
            list(Finding.objects.filter(kind=kind, status=FindingStatus.OPEN).order_by("-last_seen", "-pk")[:limit]),
        )
        for kind in AT_RISK_KINDS
    ]


def open_finding_counts() -> dict[str, int]:
    from django.db.models import Count

    rows = Finding.objects.filter(status=FindingStatus.OPEN).values("kind").annotate(count=Count("pk")).order_by()
    return {row["kind"]: row["count"] for row in rows}
