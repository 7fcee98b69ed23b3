"""REST API of the mirror (``/api/v1/``): conversations, messages, participants, handoffs,
timeline, force-close, socket health and webhook receipts. docs/architecture.md, "REST API"."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from console import idempotency
from console.pagination import ListCursorPagination, page_size_from
from console.permissions import ADMIN, FORCE_CLOSE, READ, actor_of, actor_user_of
from console.problems import api_problem
from conversations import actions, queries
from conversations.filters import ConversationFilter, WebhookReceiptFilter
from conversations.models import Conversation, Handoff, Message, Participant, WebhookReceipt
from conversations.serializers import (
    ConversationDetailSerializer,
    ConversationSerializer,
    ForceCloseRequestSerializer,
    ForceCloseResultSerializer,
    HandoffSerializer,
    MessagePageSerializer,
    MessageSerializer,
    ParticipantSerializer,
    ReplayResultSerializer,
    SocketHealthSerializer,
    TimelineEntrySerializer,
    TimelinePageSerializer,
    WebhookReceiptDetailSerializer,
    WebhookReceiptSerializer,
    timeline_entry,
)

CONVERSATION_ID = OpenApiParameter(
    "conversation_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The platform conversationId",
    examples=[OpenApiExample("A conversation", value="c-42")],
)
RECEIPT_ID = OpenApiParameter(
    "receipt_id", OpenApiTypes.INT, OpenApiParameter.PATH, examples=[OpenApiExample("A receipt", value=9001)]
)


def conversation_or_404(conversation_id: str) -> Conversation:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound(f"conversation {conversation_id[:200]!r} is not in the mirror")
    return conversation


def cursor_pagination(*ordering: str) -> type[ListCursorPagination]:
    return type("CursorPagination", (ListCursorPagination,), {"ordering": ordering})


# --- conversations ----------------------------------------------------------------------------


@extend_schema(
    tags=["conversations"],
    summary="List conversations",
    description="Newest activity first. Filters combine; `has_open_findings` and `stale` take true/false.",
)
class ConversationList(generics.ListAPIView):
    required_scope = READ
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    pagination_class = cursor_pagination("-last_activity_at", "id")

    def get_queryset(self):
        return queries.conversations_for_api()


@extend_schema(
    tags=["conversations"],
    summary="One conversation, with the validation shape a widget needs",
    description=(
        "`conversationId, state, lastActivityAt, expiresAt, resumable` answer the widget's "
        '"may I resume this stored id?" (guide, Session Validation Pattern).'
    ),
    parameters=[CONVERSATION_ID],
)
class ConversationDetail(generics.RetrieveAPIView):
    required_scope = READ
    serializer_class = ConversationDetailSerializer
    lookup_url_kwarg = "conversation_id"

    def get_queryset(self):
        return queries.conversations_for_api()

    def get_object(self):
        conversation_id = self.kwargs["conversation_id"]
        conversation = self.get_queryset().filter(pk=conversation_id).first()
        if conversation is None:
            raise NotFound(f"conversation {conversation_id[:200]!r} is not in the mirror")
        return conversation


# --- messages ---------------------------------------------------------------------------------


def _etag(body: dict) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'"{digest[:40]}"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison; ``*`` matches any current representation."""
    candidates = [candidate.strip() for candidate in if_none_match.split(",")]
    return any(candidate == "*" or candidate.removeprefix("W/") == etag for candidate in candidates)


@extend_schema(
    tags=["conversations"],
    summary="Messages strictly after afterId",
    description=(
        "Messages in (sequence, messageId) order, strictly after the message named by `afterId` "
        "(the platform messageId; none: from the start). An unknown `afterId` is 404, never a silent "
        "restart. Each page has an `ETag`; send it back in `If-None-Match` to get 304 while nothing changed. "
        "Page on with `next` until it is null; poll with the last messageId you hold."
    ),
    parameters=[
        CONVERSATION_ID,
        OpenApiParameter(
            "afterId",
            OpenApiTypes.STR,
            description="A messageId of this conversation",
            examples=[OpenApiExample("A message", value="m-7")],
        ),
        OpenApiParameter(
            "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, description="Page size"
        ),
        OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="An ETag"),
        OpenApiParameter("ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304]),
    ],
    responses={
        200: MessagePageSerializer,
        304: OpenApiResponse(description="Not modified: the page is the one the ETag names"),
        404: OpenApiResponse(description="Unknown conversation, or afterId is not one of its messages"),
    },
    examples=[
        OpenApiExample(
            "A page",
            response_only=True,
            value={
                "results": [
                    {
                        "messageId": "m-8",
                        "sequence": 8,
                        "participantId": "p-agent",
                        "direction": "outbound",
                        "text": "Yes, it ships today.",
                        "idempotencyKey": "",
                        "createdAt": "2026-11-24T10:03:40Z",
                    }
                ],
                "next": None,
            },
        )
    ],
)
class MessageList(APIView):
    required_scope = READ

    def get(self, request, conversation_id: str):
        conversation = conversation_or_404(conversation_id)
        limit = page_size_from(request)
        after_id = request.query_params.get("afterId")
        after = None
        if after_id is not None:
            after = Message.objects.filter(conversation=conversation, message_id=after_id).first()
            if after is None:
                raise NotFound(f"afterId {after_id[:200]!r} is not a message of conversation {conversation.pk!r}")
        messages = queries.messages_after(conversation, after, limit + 1)
        more = len(messages) > limit
        messages = messages[:limit]
        next_link = None
        if more:
            query = urlencode({"afterId": messages[-1].message_id, "limit": limit})
            next_link = request.build_absolute_uri(f"{request.path}?{query}")
        body = {"results": MessageSerializer(messages, many=True).data, "next": next_link}
        etag = _etag(body)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}
        if _matches(request.headers.get("If-None-Match", ""), etag):
            return Response(status=304, headers=headers)
        return Response(body, headers=headers)


# --- participants, handoffs -------------------------------------------------------------------


class _OfConversation(generics.ListAPIView):
    required_scope = READ
    model = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        conversation = conversation_or_404(self.kwargs["conversation_id"])
        return self.model.objects.filter(conversation=conversation)


@extend_schema(tags=["conversations"], summary="Participants with socket health", parameters=[CONVERSATION_ID])
class ParticipantList(_OfConversation):
    model = Participant
    serializer_class = ParticipantSerializer
    pagination_class = cursor_pagination("id")


@extend_schema(
    tags=["conversations"],
    summary="Handoffs with the context before and after, and the keys lost",
    parameters=[CONVERSATION_ID],
)
class HandoffList(_OfConversation):
    model = Handoff
    serializer_class = HandoffSerializer
    pagination_class = cursor_pagination("occurred_at", "id")


# --- timeline ---------------------------------------------------------------------------------


@extend_schema(
    tags=["conversations"],
    summary="Timeline: webhooks, telemetry, findings and audit merged in time order",
    parameters=[
        CONVERSATION_ID,
        OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next` or `previous` of a page"),
        OpenApiParameter(
            "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, description="Page size"
        ),
    ],
    responses={200: TimelinePageSerializer},
    examples=[
        OpenApiExample(
            "A page",
            response_only=True,
            value={
                "results": [
                    {
                        "id": "webhook:9001",
                        "kind": "webhook",
                        "at": "2026-11-24T10:03:12Z",
                        "summary": "native message.created: applied",
                        "data": {"source": "native", "eventId": "evt_01", "outcome": "applied", "sequence": 7},
                    },
                    {
                        "id": "finding:17",
                        "kind": "finding",
                        "at": "2026-11-24T10:03:40Z",
                        "summary": "critical finding ghost_session (open)",
                        "data": {"findingId": 17, "findingKind": "ghost_session", "status": "open"},
                    },
                ],
                "next": "https://console.example.com/api/v1/conversations/c-42/timeline/?cursor=WyIyMDI2...",
                "previous": None,
            },
        )
    ],
)
class Timeline(APIView):
    required_scope = READ

    def get(self, request, conversation_id: str):
        conversation = conversation_or_404(conversation_id)
        limit = page_size_from(request)
        position, reverse = None, False
        if request.query_params.get("cursor"):
            try:
                position, reverse = queries.TimelinePosition.decode(request.query_params["cursor"])
            except ValueError:
                raise NotFound("invalid cursor") from None
        page, more = queries.timeline_page(conversation.pk, position, limit, reverse=reverse)
        if reverse:
            has_next, has_previous = True, more
        else:
            has_next, has_previous = more, position is not None
        body = {
            "results": TimelineEntrySerializer(
                [timeline_entry(key.kind, key.at, row) for key, row in page], many=True
            ).data,
            "next": self._link(request, page[-1][0].encode()) if page and has_next else None,
            "previous": self._link(request, page[0][0].encode(reverse=True)) if page and has_previous else None,
        }
        return Response(body)

    @staticmethod
    def _link(request, cursor: str) -> str:
        query = request.query_params.copy()
        query["cursor"] = cursor
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


# --- force-close ------------------------------------------------------------------------------

_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        'A unique key per intended close, as a structured-field string (`"8e03978e-..."`; a bare token is '
        "accepted too). The same key with the same body within 24 h returns the first response."
    ),
)


@extend_schema(
    tags=["actions"],
    summary="Force-close a conversation on the platform and in the mirror (idempotent)",
    description=(
        "Follows draft-ietf-httpapi-idempotency-key-header: `Idempotency-Key` is required (400 without); "
        "the same key and body returns the stored first response for 24 h (`Idempotent-Replayed: true`); "
        "the same key with another body is 422; a retry while the first request runs is 409. "
        "200 when closed (or already closed), 202 when the platform call failed and is retried in the "
        "background. Needs the `force-close` scope or the admins group."
    ),
    parameters=[
        CONVERSATION_ID,
        _IDEMPOTENCY_KEY,
        OpenApiParameter("Idempotent-Replayed", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 202]),
    ],
    request=ForceCloseRequestSerializer,
    responses={
        200: ForceCloseResultSerializer,
        202: OpenApiResponse(ForceCloseResultSerializer, description="Closed in the mirror; platform call pending"),
        409: OpenApiResponse(description="A request with this Idempotency-Key is still in flight"),
        422: OpenApiResponse(description="This Idempotency-Key was used with another request body"),
    },
    examples=[
        OpenApiExample("Request", request_only=True, value={"reason": "ghost session: widget gone for 2 h"}),
        OpenApiExample(
            "Closed",
            response_only=True,
            status_codes=["200"],
            value={
                "conversationId": "c-42",
                "state": "closed",
                "status": "closed",
                "platformCall": "genesys POST /api/v2/conversations/c-42/disconnect -> 202",
                "auditId": 812,
                "detail": "closed on the platform and in the mirror",
            },
        ),
        OpenApiExample(
            "Platform call pending",
            response_only=True,
            status_codes=["202"],
            value={
                "conversationId": "c-42",
                "state": "closed",
                "status": "pending",
                "platformCall": "genesys POST /api/v2/conversations/c-42/disconnect -> 503",
                "auditId": 813,
                "detail": "closed in the mirror; the platform call is retried in the background",
            },
        ),
    ],
)
class ForceClose(APIView):
    required_scope = FORCE_CLOSE

    def post(self, request, conversation_id: str):
        try:
            key = idempotency.parse_key(request.headers.get(idempotency.HEADER))
        except idempotency.InvalidKey as error:
            raise ValidationError({idempotency.HEADER: [str(error)]}) from None
        serializer = ForceCloseRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        owner = actor_of(request)
        claim = idempotency.claim(owner, key, idempotency.fingerprint("POST", request.path, request.data))
        if claim.kind == "replay":
            return Response(
                claim.record.response_body, status=claim.record.response_status, headers={"Idempotent-Replayed": "true"}
            )
        if claim.kind == "mismatch":
            return api_problem(422, f"Idempotency-Key {key[:80]!r} was already used with another request")
        if claim.kind == "in_flight":
            return api_problem(
                409, f"a request with Idempotency-Key {key[:80]!r} is still in flight", headers={"Retry-After": "1"}
            )
        try:
            status, body = self._close(request, conversation_id, serializer.validated_data["reason"], owner, key)
        except BaseException:
            idempotency.release(claim.record)
            raise
        if status >= 400:
            idempotency.release(claim.record)
            return api_problem(status, body["detail"])
        idempotency.complete(claim.record, status, body)
        return Response(body, status=status)

    @staticmethod
    def _close(request, conversation_id: str, reason: str, actor: str, key: str) -> tuple[int, dict]:
        # Imported here: the action lives with the platform clients; a missing one is an error, never a no-op.
        from conversations.actions import force_close

        try:
            outcome = force_close(
                conversation_id,
                reason=reason,
                actor=actor,
                actor_user=actor_user_of(request),
                idempotency_key=key,
                request_id=getattr(request, "request_id", ""),
            )
        except Conversation.DoesNotExist:
            return 404, {"detail": f"conversation {conversation_id[:200]!r} is not in the mirror"}
        except ValueError as error:
            return 400, {"detail": str(error)}
        body = {
            "conversationId": outcome.conversation_id,
            "state": outcome.state,
            "status": outcome.status,
            "platformCall": outcome.platform_call,
            "auditId": outcome.audit_id,
            "detail": outcome.detail,
        }
        if outcome.status == "failed":
            # The platform refused every attempt (CONSOLE_FORCE_CLOSE_MAX_ATTEMPTS): the mirror is unchanged.
            return 502, {"detail": f"force-close gave up: {outcome.detail} ({outcome.platform_call})"}
        return (202 if outcome.status == "pending" else 200), body


# --- socket health ----------------------------------------------------------------------------


@extend_schema(
    tags=["health"],
    summary="Socket health of participants in open conversations",
    responses={200: SocketHealthSerializer},
)
class SocketHealth(APIView):
    required_scope = READ

    def get(self, request):
        health = queries.socket_health()
        by_state = {state: 0 for state, _label in Participant._meta.get_field("socket_state").choices}
        by_state.update(health["by_state"])
        body = {
            "participants": health["participants"],
            "bySocketState": by_state,
            "withMissedPongs": health["with_missed_pongs"],
            "oldestHeartbeatAt": health["oldest_heartbeat_at"],
            "missedPongs": [
                {
                    "conversationId": row["conversation_id"],
                    "participantId": row["participant_id"],
                    "role": row["role"],
                    "socketState": row["socket_state"],
                    "missedPongs": row["missed_pongs"],
                    "lastHeartbeatAt": row["last_heartbeat_at"],
                    "rttMs": row["rtt_ms"],
                }
                for row in health["missing"]
            ],
        }
        return Response(SocketHealthSerializer(body).data)


# --- webhook receipts -------------------------------------------------------------------------


@extend_schema(tags=["admin"], summary="Webhook receipts, newest first (admin)")
class WebhookReceiptList(generics.ListAPIView):
    required_scope = ADMIN
    serializer_class = WebhookReceiptSerializer
    filterset_class = WebhookReceiptFilter
    pagination_class = cursor_pagination("-id")
    queryset = WebhookReceipt.objects.defer("body")


@extend_schema(tags=["admin"], summary="One webhook receipt with its raw body (admin)", parameters=[RECEIPT_ID])
class WebhookReceiptDetail(generics.RetrieveAPIView):
    required_scope = ADMIN
    serializer_class = WebhookReceiptDetailSerializer
    queryset = WebhookReceipt.objects.all()
    lookup_url_kwarg = "receipt_id"


@extend_schema(
    tags=["admin"],
    summary="Re-apply one stored delivery to the mirror (admin)",
    description=(
        "Only accepted deliveries (applied, stale, ignored) keep their body and can be replayed; the "
        "mirror's ordering rules make a replay of an event it already holds change nothing."
    ),
    request=None,
    parameters=[RECEIPT_ID],
    responses={
        200: ReplayResultSerializer,
        409: OpenApiResponse(description="The receipt is not an accepted delivery"),
        422: OpenApiResponse(description="The stored body cannot be parsed by the current adapter"),
    },
)
class WebhookReceiptReplay(APIView):
    required_scope = ADMIN

    def post(self, request, receipt_id: int):
        receipt = get_object_or_404(WebhookReceipt, pk=receipt_id)
        try:
            outcome = actions.replay_receipt(
                receipt,
                actor=actor_of(request),
                actor_user=actor_user_of(request),
                request_id=getattr(request, "request_id", ""),
            )
        except actions.NotReplayable as error:
            return api_problem(409, str(error))
        except actions.UnparseableReceipt as error:
            return api_problem(422, str(error))
        return Response({"receiptId": receipt.pk, "outcome": outcome, "conversationId": receipt.conversation_id})
