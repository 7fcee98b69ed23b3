"""The native platform API, shaped like the bundled simulator's (``NATIVE_PLATFORM_URL``).

* ``GET {base}/api/conversations/{id}`` -> ``{"id", "state", "participants", "lastActivityAt"}`` or 404;
* ``POST {base}/api/conversations/{id}/close`` with ``{"reason"}`` -> ``{"id", "state": "closed"}`` (idempotent);
* ``GET {base}/api/conversations?state=active`` -> ``{"conversations": [{"id", "state", "lastActivityAt"}]}``.

An optional bearer token (``NATIVE_PLATFORM_TOKEN``) is sent with every call.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings

from conversations.ingest.canonical import CONVERSATION_STATES
from conversations.platforms.base import CloseResult, HttpPlatformClient, PlatformConversation, PlatformError

PLATFORM = "native"


class NativeClient(HttpPlatformClient):
    platform = PLATFORM

    def __init__(self, *, base_url: str, token: str = "", **options):
        super().__init__(base_url, **options)
        self.token = token

    @classmethod
    def from_settings(cls, **options) -> NativeClient | None:
        if not settings.NATIVE_PLATFORM_URL:
            return None
        return cls(base_url=settings.NATIVE_PLATFORM_URL, token=settings.NATIVE_PLATFORM_TOKEN, **options)

    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get_conversation(self, conversation_id: str) -> PlatformConversation | None:
        path = f"/api/conversations/{quote(conversation_id, safe='')}"
        response = self.request("GET", path, not_found_ok=True)
        if response.status_code == 404:
            return None
        return _conversation(self.json(response, self.describe("GET", path)), conversation_id)

    def close_conversation(self, conversation_id: str, reason: str) -> CloseResult:
        path = f"/api/conversations/{quote(conversation_id, safe='')}/close"
        response = self.request("POST", path, json={"reason": reason}, ok_statuses=(200, 202, 204), not_found_ok=True)
        return CloseResult(
            description=f"{PLATFORM} POST {path} -> {response.status_code}",
            status=response.status_code,
            not_found=response.status_code == 404,
        )

    def list_active(self) -> list[PlatformConversation]:
        path = "/api/conversations"
        response = self.request("GET", path, params={"state": "active"})
        body = self.json(response, self.describe("GET", path))
        rows = body.get("conversations")
        if not isinstance(rows, list):
            raise PlatformError(PLATFORM, f"GET {path}", "'conversations' is missing or not a list")
        return [_conversation(row, "") for row in rows if isinstance(row, dict) and row.get("id")]


def _conversation(body: dict, fallback_id: str) -> PlatformConversation:
    state = str(body.get("state") or "").lower()
    return PlatformConversation(
        id=str(body.get("id") or fallback_id),
        state=state if state in CONVERSATION_STATES else "active",
        last_activity_at=str(body.get("lastActivityAt") or ""),
        raw=body,
    )
