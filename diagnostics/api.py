"""REST API of findings (``/api/v1/findings/`` and a conversation's findings): list, resolve, dismiss."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from console.pagination import ListCursorPagination
from console.permissions import FINDINGS, READ, actor_of, actor_user_of
from console.problems import api_problem
from conversations.api import CONVERSATION_ID, conversation_or_404
from diagnostics.actions import close_finding
from diagnostics.filters import FindingFilter
from diagnostics.models import Finding, FindingStatus
from diagnostics.serializers import FindingCloseSerializer, FindingSerializer

FINDING_ID = OpenApiParameter(
    "finding_id", OpenApiTypes.INT, OpenApiParameter.PATH, examples=[OpenApiExample("A finding", value=17)]
)


class FindingPagination(ListCursorPagination):
    # Index finding_status_seen serves the status filter with this order.
    ordering = ("-last_seen", "-id")


@extend_schema(tags=["findings"], summary="Findings, most recently seen first")
class FindingList(generics.ListAPIView):
    required_scope = READ
    serializer_class = FindingSerializer
    filterset_class = FindingFilter
    pagination_class = FindingPagination
    queryset = Finding.objects.all()


@extend_schema(
    tags=["conversations"],
    summary="Findings of one conversation",
    parameters=[CONVERSATION_ID],
)
class ConversationFindingList(FindingList):
    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Finding.objects.none()
        conversation = conversation_or_404(self.kwargs["conversation_id"])
        return Finding.objects.filter(conversation_id=conversation.pk)


@extend_schema(tags=["findings"], summary="One finding", parameters=[FINDING_ID])
class FindingDetail(generics.RetrieveAPIView):
    required_scope = READ
    serializer_class = FindingSerializer
    queryset = Finding.objects.all()
    lookup_url_kwarg = "finding_id"


class _Close(APIView):
    required_scope = FINDINGS
    status = None

    def post(self, request, finding_id: int):
        finding = Finding.objects.filter(pk=finding_id).first()
        if finding is None:
            return api_problem(404, f"finding {finding_id} does not exist")
        serializer = FindingCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        closed = close_finding(
            finding,
            status=self.status,
            actor=actor_of(request),
            actor_user=actor_user_of(request),
            note=serializer.validated_data["note"],
            request_id=getattr(request, "request_id", ""),
        )
        if not closed:
            finding.refresh_from_db()
            return api_problem(409, f"finding {finding.pk} is already {finding.status}")
        return Response(FindingSerializer(finding).data)


def _close_schema(verb: str, status: str):
    return extend_schema(
        tags=["findings"],
        summary=f"{verb} an open finding (audited)",
        request=FindingCloseSerializer,
        parameters=[FINDING_ID],
        responses={
            200: FindingSerializer,
            409: OpenApiResponse(description="The finding is no longer open"),
        },
        examples=[
            OpenApiExample("Request", request_only=True, value={"note": f"{status} after checking the widget"}),
            OpenApiExample(
                "The closed finding",
                response_only=True,
                value={
                    "id": 17,
                    "kind": "ghost_session",
                    "severity": "critical",
                    "status": status,
                    "subject": "conversation:c-42",
                    "conversationId": "c-42",
                    "participantId": "p-customer",
                    "sessionKey": "",
                    "evidence": {"socketState": "closed"},
                    "remediation": "Validate the stored conversationId with the platform before resuming...",
                    "guideSection": "Edge case 1",
                    "firstSeen": "2026-11-24T09:46:00Z",
                    "lastSeen": "2026-11-24T10:01:00Z",
                    "count": 4,
                    "resolvedAt": "2026-11-24T10:07:00Z",
                    "resolvedBy": "user:sam",
                    "resolutionNote": f"{status} after checking the widget",
                },
            ),
        ],
    )


@_close_schema("Resolve", "resolved")
class FindingResolve(_Close):
    status = FindingStatus.RESOLVED


@_close_schema("Dismiss", "dismissed")
class FindingDismiss(_Close):
    status = FindingStatus.DISMISSED
