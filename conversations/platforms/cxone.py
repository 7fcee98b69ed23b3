"""NICE CXone Digital First Omnichannel (DFO 3.0): contacts (cases) and their status.

* Token: ``POST CXONE_TOKEN_URL`` (Basic client id/secret, ``grant_type=client_credentials``), cached
  until it expires.
* ``GET /dfo/3.0/contacts/{id}``: a flat contact; its ``status`` maps like the webhooks' (new ->
  pending; open, pending, escalated -> active; resolved, closed, trashed -> closed).
* ``PUT /dfo/3.0/contacts/{id}/status`` with ``{"status": "closed"}`` closes it (200 or 204).
* ``GET /dfo/3.0/contacts?status[]=new&status[]=open&status[]=pending&status[]=escalated``: the open
  contacts, ``{"hits", "data": [...], "scrollToken"}``, followed with ``scrollToken`` page by page.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings

from conversations.ingest.cxone import STATUS_STATES
from conversations.platforms.base import (
    CloseResult,
    HttpPlatformClient,
    OAuthClientCredentials,
    PlatformConversation,
    PlatformError,
)

PLATFORM = "cxone"
OPEN_STATUSES = ("new", "open", "pending", "escalated")
MAX_PAGES = 100


class CxoneClient(OAuthClientCredentials, HttpPlatformClient):
    platform = PLATFORM

    def __init__(self, *, api_base: str, token_url: str, client_id: str, client_secret: str, **options):
        super().__init__(api_base, **options)
        self.token_url = token_url
        self.client_id, self.client_secret = client_id, client_secret

    @classmethod
    def from_settings(cls, **options) -> CxoneClient | None:
        if not settings.CXONE_CLIENT_ID:
            return None
        return cls(
            api_base=settings.CXONE_API_BASE,
            token_url=settings.CXONE_TOKEN_URL,
            client_id=settings.CXONE_CLIENT_ID,
            client_secret=settings.CXONE_CLIENT_SECRET,
            **options,
        )

    def get_conversation(self, conversation_id: str) -> PlatformConversation | None:
        path = f"/dfo/3.0/contacts/{quote(conversation_id, safe='')}"
        response = self.request("GET", path, not_found_ok=True)
        if response.status_code == 404:
            return None
        return _contact(self.json(response, self.describe("GET", path)), conversation_id)

    def close_conversation(self, conversation_id: str, reason: str) -> CloseResult:
        path = f"/dfo/3.0/contacts/{quote(conversation_id, safe='')}/status"
        response = self.request("PUT", path, json={"status": "closed"}, ok_statuses=(200, 202, 204), not_found_ok=True)
        return CloseResult(
            description=f"{PLATFORM} PUT {path} -> {response.status_code}",
            status=response.status_code,
            not_found=response.status_code == 404,
        )

    def list_active(self) -> list[PlatformConversation]:
        path = "/dfo/3.0/contacts"
        params: list[tuple[str, str]] = [("status[]", status) for status in OPEN_STATUSES]
        found: list[PlatformConversation] = []
        seen_tokens: set[str] = set()
        for _ in range(MAX_PAGES):
            response = self.request("GET", path, params=params)
            body = self.json(response, self.describe("GET", path))
            rows = body.get("data") or []
            if not isinstance(rows, list):
                raise PlatformError(PLATFORM, f"GET {path}", "'data' is not a list")
            found.extend(_contact(row, "") for row in rows if isinstance(row, dict) and row.get("id") is not None)
            token = body.get("scrollToken")
            if not rows or not isinstance(token, str) or not token or token in seen_tokens:
                break
            seen_tokens.add(token)
            params = [*[("status[]", status) for status in OPEN_STATUSES], ("scrollToken", token)]
        return [conversation for conversation in found if conversation.is_open]


def _contact(body: dict, fallback_id: str) -> PlatformConversation:
    status = str(body.get("status") or "").lower()
    return PlatformConversation(
        id=str(body.get("id") or fallback_id),
        state=STATUS_STATES.get(status, "active"),
        last_activity_at=str(body.get("statusUpdatedAt") or body.get("createdAt") or ""),
        raw=body,
    )
