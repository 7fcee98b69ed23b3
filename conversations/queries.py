"""Read paths of the mirror, shared by the API, the pages and the admin."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from console.models import AuditEntry
from conversations.models import (
    OPEN_STATES,
    PARTICIPANT_LEFT,
    Conversation,
    Message,
    Participant,
    ParticipantRole,
    SocketState,
    WebhookReceipt,
)
from diagnostics.models import Finding, FindingStatus, TelemetryBeacon

ADMIN_MESSAGE_LIMIT = 100


def latest_messages(conversation: Conversation, limit: int) -> list[Message]:
    """The newest messages in cursor order (index message_cursor, no OFFSET)."""
    newest_first = conversation.messages.order_by("-sequence", "-message_id")[:limit]
    return list(reversed(newest_first))


# --- conversations ----------------------------------------------------------------------------


def expiry_expression():
    """``last_activity_at + (ttl_seconds or CONSOLE_SESSION_TTL_SECONDS)`` in SQL, per row.

    The same rule as ``Conversation.expires_at``, so the ``stale`` filter and the
    ``expiresAt`` field agree for every row whatever its TTL.
    """
    ttl = Coalesce(F("ttl_seconds"), Value(settings.CONSOLE_SESSION_TTL_SECONDS), output_field=IntegerField())
    duration = ExpressionWrapper(ttl * Value(timedelta(seconds=1)), output_field=DurationField())
    return ExpressionWrapper(F("last_activity_at") + duration, output_field=DateTimeField())


def open_findings_of(outer: str = "pk"):
    return Finding.objects.filter(conversation_id=OuterRef(outer), status=FindingStatus.OPEN)


def conversations_for_api() -> QuerySet[Conversation]:
    """Conversations with their open-finding count and SQL expiry: one query per page, whatever its size."""
    open_count = open_findings_of().order_by().values("conversation_id").annotate(n=Count("pk")).values("n")[:1]
    return Conversation.objects.annotate(
        open_findings=Coalesce(Subquery(open_count, output_field=IntegerField()), Value(0)),
        expiry=expiry_expression(),
    )


def filter_has_open_findings(queryset: QuerySet, value: bool) -> QuerySet:
    exists = Exists(open_findings_of())
    return queryset.filter(exists if value else ~exists)


def filter_stale(queryset: QuerySet, value: bool, now: datetime | None = None) -> QuerySet:
    """Stale: pending/active with no activity for longer than the row's TTL (guide, Core Concepts)."""
    now = now or timezone.now()
    stale = Q(state__in=OPEN_STATES, expiry__lt=now)
    if "expiry" not in queryset.query.annotations:
        queryset = queryset.annotate(expiry=expiry_expression())
    return queryset.filter(stale if value else ~stale)


# --- messages ---------------------------------------------------------------------------------


def messages_after(conversation: Conversation, after: Message | None, limit: int) -> list[Message]:
    """Up to ``limit`` messages strictly after ``after`` in (sequence, message_id) order (index message_cursor)."""
    queryset = Message.objects.filter(conversation=conversation).order_by("sequence", "message_id")
    if after is not None:
        # "sequence >= s" is implied by the OR below; stated alone it becomes the index range start,
        # so the scan begins at afterId instead of filtering the conversation from its first message
        # (bench/history.py: 90 ms in the middle of 1,000,000 messages without it).
        queryset = queryset.filter(sequence__gte=after.sequence).filter(
            Q(sequence__gt=after.sequence) | Q(sequence=after.sequence, message_id__gt=after.message_id)
        )
    return list(queryset[:limit])


# --- socket health ----------------------------------------------------------------------------

MISSED_PONG_LIST_LIMIT = 100


def socket_health() -> dict:
    """Socket counters over the widgets (customer participants) still in open conversations (two queries).

    Only customers run the chat widget whose telemetry sets socket health; agents, bots and
    queue segments would only add "unknown" sockets.
    """
    live = Participant.objects.filter(conversation__state__in=OPEN_STATES, role=ParticipantRole.CUSTOMER).exclude(
        state=PARTICIPANT_LEFT
    )
    # One scan for the counters by state and the totals (they are sums over the same groups).
    groups = list(
        live.order_by()
        .values("socket_state")
        .annotate(n=Count("pk"), missed=Count("pk", filter=Q(missed_pongs__gt=0)), oldest=Min("last_heartbeat_at"))
    )
    by_state = {group["socket_state"]: group["n"] for group in groups}
    heartbeats = [group["oldest"] for group in groups if group["oldest"] is not None]
    totals = {
        "participants": sum(by_state.values()),
        "with_missed_pongs": sum(group["missed"] for group in groups),
        "oldest_heartbeat_at": min(heartbeats) if heartbeats else None,
    }
    # Index participant_missed_pongs: the few sockets missing pongs, worst first, without a scan.
    missing = list(
        live.filter(missed_pongs__gt=0)
        .order_by("-missed_pongs", "pk")
        .values(
            "conversation_id", "participant_id", "role", "socket_state", "missed_pongs", "last_heartbeat_at", "rtt_ms"
        )[:MISSED_PONG_LIST_LIMIT]
    )
    return {"by_state": by_state, "missing": missing, **totals}


# --- timeline ---------------------------------------------------------------------------------

# Tie-break order of entries at the same instant (and the cursor's second key).
TIMELINE_KINDS = ("audit", "finding", "telemetry", "webhook")


@dataclass(frozen=True)
class TimelinePosition:
    at: datetime
    kind: str
    ref: int

    def encode(self, reverse: bool = False) -> str:
        raw = json.dumps([self.at.isoformat(), self.kind, self.ref, int(reverse)], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> tuple[TimelinePosition, bool]:
        """Raises ValueError for anything that is not a cursor this code made."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, kind, ref, reverse = json.loads(raw)
            position = cls(datetime.fromisoformat(at), str(kind), int(ref))
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            raise ValueError("invalid cursor") from error
        if position.kind not in TIMELINE_KINDS or position.at.tzinfo is None:
            raise ValueError("invalid cursor")
        return position, bool(reverse)


def _timeline_sources(conversation_id: str) -> dict[str, QuerySet]:
    finding_ids = Finding.objects.filter(conversation_id=conversation_id).values(
        sid=Cast("pk", output_field=CharField())
    )
    return {
        "audit": (
            AuditEntry.objects.filter(
                Q(target_type="conversation", target_id=conversation_id)
                | Q(target_type="finding", target_id__in=finding_ids)
            ),
            "at",
        ),
        "finding": (Finding.objects.filter(conversation_id=conversation_id), "first_seen"),
        "telemetry": (TelemetryBeacon.objects.filter(conversation_id=conversation_id), "sent_at"),
        "webhook": (WebhookReceipt.objects.filter(conversation_id=conversation_id), "received_at"),
    }


def _beyond(kind: str, position: TimelinePosition | None, reverse: bool) -> Q | None:
    """Rows of ``kind`` after (before, when reverse) the position in (at, kind, ref) order; None: none."""
    if position is None:
        return Q()
    later, same = ("t_at__lt", "t_ref__lt") if reverse else ("t_at__gt", "t_ref__gt")
    condition = Q(**{later: position.at})
    kind_after = kind < position.kind if reverse else kind > position.kind
    if kind_after:
        condition |= Q(t_at=position.at)
    elif kind == position.kind:
        condition |= Q(t_at=position.at, **{same: position.ref})
    return condition


def timeline_page(
    conversation_id: str, position: TimelinePosition | None, limit: int, *, reverse: bool = False
) -> tuple[list[tuple[TimelinePosition, object]], bool]:
    """One page of the merged timeline and whether more lies beyond it.

    One UNION ALL query picks the page's (at, kind, id) keys by keyset, then one query per
    kind present loads its rows: at most five queries whatever the timeline's length.
    """
    keys = None
    sources = _timeline_sources(conversation_id)
    for kind, (queryset, at_field) in sources.items():
        selected = (
            queryset.annotate(t_at=F(at_field), t_kind=Value(kind, output_field=CharField()), t_ref=F("pk"))
            .filter(_beyond(kind, position, reverse))
            .order_by()
            .values_list("t_at", "t_kind", "t_ref")
        )
        keys = selected if keys is None else keys.union(selected, all=True)
    direction = "-" if reverse else ""
    rows = list(keys.order_by(f"{direction}t_at", f"{direction}t_kind", f"{direction}t_ref")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if reverse:
        rows.reverse()
    wanted: dict[str, list[int]] = {}
    for _at, kind, ref in rows:
        wanted.setdefault(kind, []).append(ref)
    loaded = {kind: sources[kind][0].model.objects.in_bulk(refs) for kind, refs in wanted.items()}
    page = [(TimelinePosition(at, kind, ref), loaded[kind][ref]) for at, kind, ref in rows]
    return page, more


def open_conversation_count() -> int:
    return Conversation.objects.filter(state__in=OPEN_STATES).count()


def socket_health_counts() -> dict[str, int]:
    """Every socket state with its count (zero when none): the dashboard counters and chart samples."""
    by_state = socket_health()["by_state"]
    return {state: by_state.get(state, 0) for state in SocketState.values}


# --- supervisor pages ---------------------------------------------------------------------------


def _customer_socket_subquery():
    return Subquery(
        Participant.objects.filter(conversation_id=OuterRef("pk"), role=ParticipantRole.CUSTOMER)
        .order_by("-joined_at", "-pk")
        .values("socket_state")[:1]
    )


def annotated_conversations() -> QuerySet:
    """The API's annotations plus the customer's socket state (one query per page)."""
    return conversations_for_api().annotate(customer_socket=_customer_socket_subquery())


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
        queryset = filter_has_open_findings(queryset, filters.has_open_findings)
    if filters.stale is not None:
        queryset = filter_stale(queryset, filters.stale, now)
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


def conversation_detail(conversation_id: str) -> Conversation:
    """One conversation with what its page shows, in a fixed number of queries."""
    return Conversation.objects.prefetch_related("participants", "handoffs").get(pk=conversation_id)


def open_force_close(conversation: Conversation):
    """The force-close request still being worked on (pending or in flight), if any."""
    from conversations.models import OPEN_FORCE_CLOSE_STATUSES, ForceCloseRequest

    return (
        ForceCloseRequest.objects.filter(conversation_id=conversation.pk, status__in=OPEN_FORCE_CLOSE_STATUSES)
        .order_by("-created_at")
        .first()
    )
