"""Genesys Cloud Platform API: OAuth client credentials per region, conversations, disconnect.

* Token: ``POST {GENESYS_LOGIN_BASE}/oauth/token`` (Basic client id/secret, ``grant_type=client_credentials``),
  cached until it expires.
* ``GET /api/v2/conversations/{id}``: a conversation has ended when it has an ``endTime`` or every
  participant has ended; it is active once an agent (purpose ``agent``/``user``) is connected, else
  pending (in queue or in a flow).
* ``POST /api/v2/conversations/{id}/disconnect``: a full teardown, answered 202 (no body).
* Active conversations: ``POST /api/v2/analytics/conversations/details/query`` for conversations
  without a ``conversationEnd`` in the last 7 days (``GET /api/v2/conversations`` only lists the
  logged-in user's, and a client-credentials token has no user).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.conf import settings

from conversations.platforms.base import (
    CloseResult,
    HttpPlatformClient,
    OAuthClientCredentials,
    PlatformConversation,
    PlatformError,
)

PLATFORM = "genesys"
AGENT_PURPOSES = {"agent", "user"}
ENDED_STATES = {"disconnected", "terminated"}
# Analytics queries cover at most this far back; web messaging conversations rarely stay open longer.
ACTIVE_LOOKBACK = timedelta(days=7)
PAGE_SIZE = 100
MAX_PAGES = 50


class GenesysClient(OAuthClientCredentials, HttpPlatformClient):
    platform = PLATFORM

    def __init__(self, *, api_base: str, login_base: str, client_id: str, client_secret: str, **options):
        super().__init__(api_base, **options)
        self.token_url = f"{login_base.rstrip('/')}/oauth/token"
        self.client_id, self.client_secret = client_id, client_secret

    @classmethod
    def from_settings(cls, **options) -> GenesysClient | None:
        if not settings.GENESYS_CLIENT_ID:
            return None
        return cls(
            api_base=settings.GENESYS_API_BASE,
            login_base=settings.GENESYS_LOGIN_BASE,
            client_id=settings.GENESYS_CLIENT_ID,
            client_secret=settings.GENESYS_CLIENT_SECRET,
            **options,
        )

    def get_conversation(self, conversation_id: str) -> PlatformConversation | None:
        path = f"/api/v2/conversations/{quote(conversation_id, safe='')}"
        response = self.request("GET", path, not_found_ok=True)
        if response.status_code == 404:
            return None
        body = self.json(response, self.describe("GET", path))
        return PlatformConversation(
            id=str(body.get("id") or conversation_id),
            state=conversation_state(body),
            last_activity_at=str(body.get("endTime") or body.get("startTime") or ""),
            raw=body,
        )

    def close_conversation(self, conversation_id: str, reason: str) -> CloseResult:
        # The disconnect endpoint takes no body: the reason stays in the console's audit log.
        path = f"/api/v2/conversations/{quote(conversation_id, safe='')}/disconnect"
        response = self.request("POST", path, ok_statuses=(200, 202, 204), not_found_ok=True)
        return CloseResult(
            description=f"{PLATFORM} POST {path} -> {response.status_code}",
            status=response.status_code,
            not_found=response.status_code == 404,
        )

    def list_active(self) -> list[PlatformConversation]:
        path = "/api/v2/analytics/conversations/details/query"
        now = datetime.now(UTC)
        interval = (
            f"{(now - ACTIVE_LOOKBACK).strftime('%Y-%m-%dT%H:%M:%S.000Z')}/{now.strftime('%Y-%m-%dT%H:%M:%S.000Z')}"
        )
        found: list[PlatformConversation] = []
        for page in range(1, MAX_PAGES + 1):
            query = {
                "interval": interval,
                "order": "asc",
                "orderBy": "conversationStart",
                "paging": {"pageSize": PAGE_SIZE, "pageNumber": page},
                "conversationFilters": [
                    {"type": "and", "predicates": [{"dimension": "conversationEnd", "operator": "notExists"}]}
                ],
            }
            response = self.request("POST", path, json=query)
            body = self.json(response, self.describe("POST", path))
            rows = body.get("conversations") or []
            if not isinstance(rows, list):
                raise PlatformError(PLATFORM, f"POST {path}", "'conversations' is not a list")
            for row in rows:
                if isinstance(row, dict) and row.get("conversationId") and not row.get("conversationEnd"):
                    found.append(
                        PlatformConversation(
                            id=str(row["conversationId"]),
                            state=analytics_state(row),
                            last_activity_at=str(row.get("conversationStart") or ""),
                            raw=row,
                        )
                    )
            total = body.get("totalHits")
            if len(rows) < PAGE_SIZE or (isinstance(total, int) and page * PAGE_SIZE >= total):
                break
        return found


def _ended(item: dict) -> bool:
    if item.get("endTime"):
        return True
    communications = [
        communication
        for kind in ("messages", "chats", "calls", "callbacks", "emails", "videos", "socialExpressions")
        for communication in item.get(kind) or []
        if isinstance(communication, dict)
    ]
    return bool(communications) and all(
        str(communication.get("state", "")).lower() in ENDED_STATES for communication in communications
    )


def conversation_state(body: dict) -> str:
    """The console's state of a REST ``Conversation`` (participants carry no state of their own)."""
    participants = [p for p in body.get("participants") or [] if isinstance(p, dict)]
    if body.get("endTime") or str(body.get("state", "")).lower() in ENDED_STATES:
        return "closed"
    if participants and all(_ended(participant) for participant in participants):
        return "closed"
    for participant in participants:
        if str(participant.get("purpose", "")).lower() in AGENT_PURPOSES and not _ended(participant):
            return "active"
    return "pending"


def analytics_state(row: dict) -> str:
    """An analytics conversation without an end: active when an agent segment is present."""
    for participant in row.get("participants") or []:
        if isinstance(participant, dict) and str(participant.get("purpose", "")).lower() in AGENT_PURPOSES:
            return "active"
    return "pending"
