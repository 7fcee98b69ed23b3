"""The platform API the console calls, served from the simulator's own state (docs/architecture.md).

Three shapes on one small threaded HTTP server bound to 127.0.0.1:

* native (``NATIVE_PLATFORM_URL`` = ``<url>/platform``, optional bearer token):
  ``GET /api/conversations/{id}``, ``POST /api/conversations/{id}/close``,
  ``GET /api/conversations?state=active``;
* Genesys Cloud (``GENESYS_API_BASE`` = ``GENESYS_LOGIN_BASE`` = ``<url>/genesys``):
  ``POST /oauth/token`` (client credentials, Basic auth), ``GET /api/v2/conversations/{id}``,
  ``POST /api/v2/conversations/{id}/disconnect`` (202), ``POST
  /api/v2/analytics/conversations/details/query``;
* NICE CXone (``CXONE_TOKEN_URL`` = ``<url>/cxone/auth/token``, ``CXONE_API_BASE`` =
  ``<url>/cxone``): ``GET /dfo/3.0/contacts/{id}``, ``PUT /dfo/3.0/contacts/{id}/status``,
  ``GET /dfo/3.0/contacts?status[]=...``.

A close through any of them closes the conversation on the platform and makes the
platform send its own close webhooks, exactly as a scenario's close does; closing an
already closed conversation changes nothing (idempotent).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from conversations.ingest.canonical import EnvelopeError, format_instant, parse_instant
from simulator.formats import cxone as cxone_format
from simulator.formats import genesys as genesys_format
from simulator.platform import OPEN, QUEUES, Platform, SimConversation

log = logging.getLogger(__name__)

CXONE_CLOSING_STATUSES = {"closed", "resolved", "trashed"}
CXONE_STATUSES = ("new", "open", "pending", "escalated", "resolved", "closed", "trashed")


@dataclass(frozen=True)
class Credentials:
    """What the console's platform clients must present (GENESYS_/CXONE_CLIENT_ID/SECRET, NATIVE_PLATFORM_TOKEN)."""

    native_token: str = ""
    genesys_client_id: str = "simulator-genesys"
    genesys_client_secret: str = "simulator-genesys-secret"
    cxone_client_id: str = "simulator-cxone"
    cxone_client_secret: str = "simulator-cxone-secret"


class ApiError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class PlatformAPI:
    def __init__(
        self,
        platform: Platform,
        *,
        credentials: Credentials,
        on_changes: Callable[[SimConversation, list], None],
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.platform = platform
        self.credentials = credentials
        self.on_changes = on_changes
        self.calls: Counter = Counter()
        self._tokens: dict[str, str] = {}  # token -> "genesys" | "cxone"
        self._lock = threading.Lock()
        api = self

        class Handler(_Handler):
            owner = api

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-platform-api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def environment(self) -> dict[str, str]:
        """The console's settings that point its platform clients here."""
        env = {
            "NATIVE_PLATFORM_URL": f"{self.url}/platform",
            "GENESYS_API_BASE": f"{self.url}/genesys",
            "GENESYS_LOGIN_BASE": f"{self.url}/genesys",
            "GENESYS_CLIENT_ID": self.credentials.genesys_client_id,
            "GENESYS_CLIENT_SECRET": self.credentials.genesys_client_secret,
            "CXONE_API_BASE": f"{self.url}/cxone",
            "CXONE_TOKEN_URL": f"{self.url}/cxone/auth/token",
            "CXONE_CLIENT_ID": self.credentials.cxone_client_id,
            "CXONE_CLIENT_SECRET": self.credentials.cxone_client_secret,
        }
        if self.credentials.native_token:
            env["NATIVE_PLATFORM_TOKEN"] = self.credentials.native_token
        return env

    # --- shared ------------------------------------------------------------------------------------

    def _conversation(self, source: str, conversation_id: str, not_found: dict) -> SimConversation:
        conversation = self.platform.get(conversation_id)
        if conversation is None or conversation.source != source:
            raise ApiError(404, not_found)
        return conversation

    def _close(self, conversation: SimConversation, reason: str) -> None:
        with self.platform.lock:
            changes = self.platform.close(conversation.id, datetime.now(UTC), reason=reason, by="api")
            if changes:
                self.on_changes(conversation, changes)

    def _issue_token(self, platform: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = platform
        return token

    def _bearer(self, request: _Request, platform: str, error: dict) -> None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            valid = self._tokens.get(token) == platform
        if not valid:
            raise ApiError(401, error)

    # --- native ------------------------------------------------------------------------------------

    def native_auth(self, request: _Request) -> None:
        expected = self.credentials.native_token
        if expected and request.headers.get("Authorization", "") != f"Bearer {expected}":
            raise ApiError(401, {"error": "unauthorized", "detail": "Authorization: Bearer <NATIVE_PLATFORM_TOKEN>"})

    def native_view(self, conversation: SimConversation) -> dict:
        return {
            "id": conversation.id,
            "state": conversation.state,
            "participants": [
                {"id": p.id, "role": p.role, "state": p.state} for p in conversation.participants.values()
            ],
            "lastActivityAt": format_instant(conversation.last_activity_at or conversation.started_at),
        }

    def native_get(self, request: _Request, conversation_id: str):
        self.native_auth(request)
        conversation = self._conversation("native", conversation_id, {"error": "not_found", "id": conversation_id})
        with self.platform.lock:
            return 200, self.native_view(conversation)

    def native_close(self, request: _Request, conversation_id: str):
        self.native_auth(request)
        body = request.json(optional=True) or {}
        reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
        conversation = self._conversation("native", conversation_id, {"error": "not_found", "id": conversation_id})
        self._close(conversation, reason.strip()[:200] or "closed-by-api")
        with self.platform.lock:
            return 200, {"id": conversation.id, "state": conversation.state}

    def native_list(self, request: _Request):
        self.native_auth(request)
        wanted = request.query.get("state") or ["active"]
        # "active" lists every conversation still alive on the platform: pending ones too.
        states = {state for value in wanted for state in (OPEN if value == "active" else (value,))}
        with self.platform.lock:
            items = [
                {
                    "id": c.id,
                    "state": c.state,
                    "lastActivityAt": format_instant(c.last_activity_at or c.started_at),
                }
                for c in self.platform.by_source("native")
                if c.state in states
            ]
        return 200, {"conversations": items}

    # --- Genesys Cloud -----------------------------------------------------------------------------

    def genesys_token(self, request: _Request):
        form = request.form()
        client_id, client_secret = _basic_auth(request) or (form.get("client_id", ""), form.get("client_secret", ""))
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, {"error": "unsupported_grant_type", "description": "grant_type=client_credentials"})
        expected = (self.credentials.genesys_client_id, self.credentials.genesys_client_secret)
        if (client_id, client_secret) != expected:
            raise ApiError(401, {"error": "invalid_client", "description": "client authentication failed"})
        return 200, {"access_token": self._issue_token("genesys"), "token_type": "bearer", "expires_in": 86400}

    def genesys_auth(self, request: _Request) -> None:
        self._bearer(request, "genesys", {"message": "Authentication failed", "code": "bad.credentials", "status": 401})

    def genesys_missing(self, conversation_id: str) -> dict:
        return {"message": f"Conversation {conversation_id} not found", "code": "not.found", "status": 404}

    def genesys_view(self, conversation: SimConversation) -> dict:
        ended = not conversation.is_open
        participants = []
        for participant in conversation.participants.values():
            left = participant.left_at
            item = {
                "id": participant.id,
                "startTime": _iso(participant.joined_at),
                "endTime": _iso(left),
                "connectedTime": _iso(participant.joined_at),
                "name": participant.name or None,
                "purpose": participant.role,
                "participantType": "External" if participant.role == "customer" else "Internal",
                "queueId": QUEUES[participant.queue_key].id_for("genesys") if participant.queue_key else None,
                "queueName": QUEUES[participant.queue_key].name if participant.queue_key else None,
                "wrapupRequired": participant.role == "agent",
                "attributes": dict(conversation.custom) if participant.role == "customer" else {},
                "messages": [
                    {
                        "id": genesys_format.session_id(participant),
                        "state": "connected" if participant.connected else "disconnected",
                        "initialState": "connected",
                        "direction": "inbound",
                        "held": False,
                        "type": "webmessaging",
                        "provider": "PureCloud Messaging",
                        "connectedTime": _iso(participant.joined_at),
                        "disconnectType": participant.disconnect_type or None,
                        "disconnectedTime": _iso(left),
                    }
                ],
                "calls": [],
                "callbacks": [],
                "chats": [],
                "cobrowsesessions": [],
                "emails": [],
                "screenshares": [],
                "socialExpressions": [],
                "videos": [],
            }
            if participant.role == "customer":
                item["externalContactId"] = conversation.customer_key
            if participant.agent is not None:
                item["userId"] = participant.agent.user_id
            participants.append(item)
        return {
            "id": conversation.id,
            "name": None,
            "externalTag": None,
            "startTime": _iso(conversation.started_at),
            "endTime": _iso(conversation.closed_at) if ended else None,
            "address": "Web messaging",
            "participants": participants,
            "recordingState": "NONE",
            "state": "disconnected" if ended else "connected",
            "divisions": [
                {
                    "division": {
                        "id": conversation.tenant,
                        "selfUri": f"/api/v2/authorization/divisions/{conversation.tenant}",
                    },
                    "entities": [],
                }
            ],
            "recentTransfers": [],
            "securePause": False,
            "utilizationLabelId": None,
            "selfUri": f"/api/v2/conversations/{conversation.id}",
        }

    def genesys_get(self, request: _Request, conversation_id: str):
        self.genesys_auth(request)
        conversation = self._conversation("genesys", conversation_id, self.genesys_missing(conversation_id))
        with self.platform.lock:
            return 200, self.genesys_view(conversation)

    def genesys_disconnect(self, request: _Request, conversation_id: str):
        self.genesys_auth(request)
        conversation = self._conversation("genesys", conversation_id, self.genesys_missing(conversation_id))
        self._close(conversation, "disconnected-by-api")
        return 202, None

    def genesys_query(self, request: _Request):
        self.genesys_auth(request)
        query = request.json(optional=True) or {}
        if not isinstance(query, dict):
            raise ApiError(400, {"message": "body must be a ConversationQuery", "code": "bad.request", "status": 400})
        open_only = _asks_for_open(query)
        start, end = _interval(query.get("interval"))
        paging = query.get("paging") if isinstance(query.get("paging"), dict) else {}
        try:
            size = max(1, min(100, int(paging.get("pageSize") or 25)))
            number = max(1, int(paging.get("pageNumber") or 1))
        except (TypeError, ValueError):
            raise ApiError(
                400, {"message": "paging must hold integers", "code": "bad.request", "status": 400}
            ) from None
        with self.platform.lock:
            matching = [
                c
                for c in self.platform.by_source("genesys")
                if (not open_only or c.is_open)
                and (start is None or c.started_at >= start)
                and (end is None or c.started_at < end)
            ]
            matching.sort(key=lambda c: c.started_at, reverse=query.get("order") == "desc")
            page = matching[(number - 1) * size : number * size]
            items = [self.genesys_analytics_item(c) for c in page]
        return 200, {"conversations": items, "totalHits": len(matching)}

    def genesys_analytics_item(self, conversation: SimConversation) -> dict:
        item = {
            "conversationId": conversation.id,
            "conversationStart": _iso(conversation.started_at),
            "divisionIds": [conversation.tenant],
            "originatingDirection": "inbound",
            "participants": [
                {
                    "participantId": p.id,
                    "participantName": p.name or None,
                    "purpose": p.role,
                    **({"userId": p.agent.user_id} if p.agent else {}),
                    "sessions": [
                        {
                            "mediaType": "message",
                            "sessionId": genesys_format.session_id(p),
                            "direction": "inbound",
                            "messageType": "webmessaging",
                        }
                    ],
                }
                for p in conversation.participants.values()
            ],
        }
        if not conversation.is_open:
            item["conversationEnd"] = _iso(conversation.closed_at)
        return item

    # --- NICE CXone --------------------------------------------------------------------------------

    def cxone_token(self, request: _Request):
        form = request.form()
        client_id, client_secret = _basic_auth(request) or (
            form.get("client_id") or form.get("username", ""),
            form.get("client_secret") or form.get("password", ""),
        )
        if form.get("grant_type") not in ("client_credentials", "password"):
            raise ApiError(400, {"error": "unsupported_grant_type"})
        if (client_id, client_secret) != (self.credentials.cxone_client_id, self.credentials.cxone_client_secret):
            raise ApiError(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        token = self._issue_token("cxone")
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "id_token": token}

    def cxone_auth(self, request: _Request) -> None:
        self._bearer(request, "cxone", {"error": "invalid_token", "message": "Unauthorized"})

    def cxone_missing(self, conversation_id: str) -> dict:
        return {"error": "not_found", "message": f"Contact {conversation_id} not found"}

    def cxone_get(self, request: _Request, conversation_id: str):
        self.cxone_auth(request)
        conversation = self._conversation("cxone", conversation_id, self.cxone_missing(conversation_id))
        with self.platform.lock:
            return 200, cxone_format.contact(conversation)

    def cxone_status(self, request: _Request, conversation_id: str):
        self.cxone_auth(request)
        body = request.json(optional=False)
        status = body.get("status") if isinstance(body, dict) else None
        if status not in CXONE_STATUSES:
            raise ApiError(400, {"error": "invalid_status", "message": f"status must be one of {CXONE_STATUSES}"})
        conversation = self._conversation("cxone", conversation_id, self.cxone_missing(conversation_id))
        if status in CXONE_CLOSING_STATUSES:
            self._close(conversation, f"api:{status}")
        elif not conversation.is_open:
            raise ApiError(409, {"error": "conflict", "message": f"contact {conversation_id} is closed"})
        with self.platform.lock:
            return 200, cxone_format.contact(conversation)

    def cxone_list(self, request: _Request):
        self.cxone_auth(request)
        wanted = set(request.query.get("status[]", []) + request.query.get("status", [])) or set(CXONE_STATUSES)
        with self.platform.lock:
            data = [
                cxone_format.contact(c)
                for c in self.platform.by_source("cxone")
                if cxone_format.STATUSES[c.state] in wanted
            ]
        return 200, {"hits": len(data), "data": data, "scrollToken": ""}


def _asks_for_open(query: dict) -> bool:
    """True when a filter asks for conversations without an end (``conversationEnd notExists``)."""
    for group in query.get("conversationFilters") or []:
        for predicate in (group or {}).get("predicates") or []:
            if predicate.get("dimension") == "conversationEnd" and predicate.get("operator") == "notExists":
                return True
    return False


def _interval(value) -> tuple[datetime | None, datetime | None]:
    if not isinstance(value, str) or "/" not in value:
        return None, None
    start, _, end = value.partition("/")
    try:
        return parse_instant(start, "interval"), parse_instant(end, "interval")
    except EnvelopeError:
        raise ApiError(400, {"message": "interval must be <ISO start>/<ISO end>", "code": "bad.request"}) from None


def _basic_auth(request: _Request) -> tuple[str, str] | None:
    auth = request.headers.get("Authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict
    body: bytes

    def json(self, *, optional: bool):
        if not self.body.strip():
            if optional:
                return None
            raise ApiError(400, {"error": "bad_request", "message": "a JSON body is required"})
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, {"error": "bad_request", "message": "body is not valid JSON"}) from None

    def form(self) -> dict[str, str]:
        try:
            text = self.body.decode()
        except UnicodeDecodeError:
            raise ApiError(400, {"error": "invalid_request"}) from None
        return {key: values[-1] for key, values in parse_qs(text).items()}


ID = r"(?P<id>[^/]+)"
ROUTES = [
    ("GET", re.compile(r"^/platform/api/conversations$"), "native_list"),
    ("GET", re.compile(rf"^/platform/api/conversations/{ID}$"), "native_get"),
    ("POST", re.compile(rf"^/platform/api/conversations/{ID}/close$"), "native_close"),
    ("POST", re.compile(r"^/genesys/oauth/token$"), "genesys_token"),
    ("POST", re.compile(r"^/genesys/api/v2/analytics/conversations/details/query$"), "genesys_query"),
    ("GET", re.compile(rf"^/genesys/api/v2/conversations/{ID}$"), "genesys_get"),
    ("POST", re.compile(rf"^/genesys/api/v2/conversations/{ID}/disconnect$"), "genesys_disconnect"),
    ("POST", re.compile(r"^/cxone/auth/token$"), "cxone_token"),
    ("GET", re.compile(r"^/cxone/dfo/3\.0/contacts$"), "cxone_list"),
    ("GET", re.compile(rf"^/cxone/dfo/3\.0/contacts/{ID}$"), "cxone_get"),
    ("PUT", re.compile(rf"^/cxone/dfo/3\.0/contacts/{ID}/status$"), "cxone_status"),
]
MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    owner: PlatformAPI
    server_version = "SimulatedPlatform/1.0"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def log_message(self, format, *args):
        log.debug("platform API %s - %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self._answer(413, {"error": "too_large"})
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        if method == "GET" and path == "/healthz":
            self._answer(200, {"status": "ok"})
            return
        allowed = []
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            request = _Request(method, path, parse_qs(parts.query), self.headers, body)
            args = [unquote(match.group("id"))] if "id" in pattern.groupindex else []
            self.owner.calls[name] += 1
            try:
                status, payload = getattr(self.owner, name)(request, *args)
            except ApiError as error:
                status, payload = error.status, error.body
            except Exception:
                log.exception("platform API %s %s failed", method, path)
                status, payload = 500, {"error": "internal_error"}
            self._answer(status, payload)
            return
        if allowed:
            self._answer(405, {"error": "method_not_allowed"}, headers={"Allow": ", ".join(allowed)})
        else:
            self._answer(404, {"error": "not_found", "path": path})

    def _answer(self, status: int, payload, headers: dict | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)
