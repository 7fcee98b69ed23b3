"""Read paths of the mirror, shared by the API, the pages and the admin.

Every list here runs a fixed number of queries whatever the number of rows:
per-row facts (open findings, the customer's socket) are subqueries, not loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from conversations.models import OPEN_STATES, Conversation, Message, Participant, ParticipantRole, SocketState

ADMIN_MESSAGE_LIMIT = 100


def latest_messages(conversation: Conversation, limit: int) -> list[Message]:
    """The newest messages in cursor order (index message_cursor, no OFFSET)."""
    newest_first = conversation.messages.order_by("-sequence", "-message_id")[:limit]
    return list(reversed(newest_first))


def stale_q(now: datetime) -> Q:
    """Open conversations past their TTL: last_activity_at + TTL < now.

    TTLs differ per row only through their widget deployment, so there are few distinct
    values: one condition per value keeps the query index-friendly on every database.
    """
    default = settings.CONSOLE_SESSION_TTL_SECONDS
    condition = Q(ttl_seconds__isnull=True, last_activity_at__lt=now - timedelta(seconds=default))
    ttls = (
        Conversation.objects.filter(state__in=OPEN_STATES, ttl_seconds__isnull=False)
        .values_list("ttl_seconds", flat=True)
        .distinct()
    )
    for ttl in ttls:
        condition |= Q(ttl_seconds=ttl, last_activity_at__lt=now - timedelta(seconds=ttl))
    return Q(state__in=OPEN_STATES) & condition


def _open_findings_subquery():
    from diagnostics.models import Finding, FindingStatus

    return Coalesce(
        Subquery(
            Finding.objects.filter(conversation_id=OuterRef("pk"), status=FindingStatus.OPEN)
            .order_by()
            .values("conversation_id")
            .annotate(count=Count("pk"))
            .values("count")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _customer_socket_subquery():
    return Subquery(
        Participant.objects.filter(conversation_id=OuterRef("pk"), role=ParticipantRole.CUSTOMER)
        .order_by("-joined_at", "-pk")
        .values("socket_state")[:1]
    )


def annotated_conversations() -> QuerySet:
    return Conversation.objects.annotate(
        open_findings=_open_findings_subquery(), customer_socket=_customer_socket_subquery()
    )


@dataclass(frozen=True)
class ConversationFilters:
    state: str = ""
    queue: str = ""
    channel: str = ""
    source: str = ""
    tenant: str = ""
    has_open_findings: bool | None = None
    stale: bool | None = None


def filter_conversations(queryset: QuerySet, filters: ConversationFilters, now: datetime) -> QuerySet:
    for field, value in (
        ("state", filters.state),
        ("queue_id", filters.queue),
        ("channel", filters.channel),
        ("source", filters.source),
        ("tenant", filters.tenant),
    ):
        if value:
            queryset = queryset.filter(**{field: value})
    if filters.has_open_findings is not None:
        from diagnostics.models import Finding, FindingStatus

        has = Q(pk__in=Finding.objects.filter(status=FindingStatus.OPEN).values("conversation_id"))
        queryset = queryset.filter(has if filters.has_open_findings else ~has)
    if filters.stale is not None:
        stale = stale_q(now)
        queryset = queryset.filter(stale if filters.stale else ~stale)
    return queryset


def keyset_page(queryset: QuerySet, *, after: tuple[datetime, str] | None, size: int) -> tuple[list, bool]:
    """Newest activity first; the page after (last_activity_at, id) — no OFFSET, index conv_activity."""
    queryset = queryset.order_by("-last_activity_at", "-id")
    if after is not None:
        at, pk = after
        queryset = queryset.filter(Q(last_activity_at__lt=at) | Q(last_activity_at=at, id__lt=pk))
    rows = list(queryset[: size + 1])
    return rows[:size], len(rows) > size


def distinct_values(field: str, limit: int = 200) -> list[str]:
    """Choices for list filters (queue, channel, tenant), served by their indexes."""
    return list(
        Conversation.objects.exclude(**{field: ""}).order_by(field).values_list(field, flat=True).distinct()[:limit]
    )


def socket_health_counts() -> dict[str, int]:
    """Customer participants (the widgets) of open conversations by socket state, zero when none."""
    rows = (
        Participant.objects.filter(conversation__state__in=OPEN_STATES, role=ParticipantRole.CUSTOMER)
        .values("socket_state")
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = {state: 0 for state in SocketState.values}
    for row in rows:
        counts[row["socket_state"]] = row["count"]
    return counts


def socket_health_summary() -> dict:
    open_participants = Participant.objects.filter(conversation__state__in=OPEN_STATES, role=ParticipantRole.CUSTOMER)
    oldest = (
        open_participants.filter(last_heartbeat_at__isnull=False)
        .order_by("last_heartbeat_at")
        .values_list("last_heartbeat_at", flat=True)
        .first()
    )
    return {
        "counts": socket_health_counts(),
        "missed_pongs": open_participants.filter(missed_pongs__gt=0).count(),
        "oldest_heartbeat_at": oldest,
        "open_conversations": Conversation.objects.filter(state__in=OPEN_STATES).count(),
    }


def conversation_detail(conversation_id: str) -> Conversation:
    """One conversation with what its page shows, in a fixed number of queries."""
    return Conversation.objects.prefetch_related("participants", "handoffs").get(pk=conversation_id)
