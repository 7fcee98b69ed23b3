"""Thin WebSocket consumers: authenticate, join the group, forward what the events modules send.

Refusals happen at the handshake (close before accept → HTTP 403): anonymous users,
users without a console role, foreign origins (AllowedHostsOriginValidator in asgi.py),
unknown conversations, and paths that are not a route (``refuse``).
"""

from __future__ import annotations

import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from console.events import HEALTH_GROUP, conversation_group
from console.roles import is_supervisor

log = logging.getLogger(__name__)

# What a channels_redis layer raises while Redis is unreachable.
CHANNEL_LAYER_ERRORS = (RedisError, OSError)
# RFC 6455 §7.4 / IANA registry: "Service Restart", the client should reconnect.
CLOSE_SERVICE_RESTART = 1012


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Forwards every group message (they all carry a dotted 'type') to the browser as JSON.

    When the channel layer (Redis) becomes unreachable, an open socket is closed with 1012 (service
    restart: live.js reconnects with backoff) and a new one is refused with 503 at the handshake, each
    logged in one line instead of a traceback per socket (docs/architecture.md, "Broker outage").
    """

    accepted = False

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except CHANNEL_LAYER_ERRORS as error:
            log.warning("live socket %s: channel layer unavailable (%s); closing it", scope.get("path"), error)
            with contextlib.suppress(Exception):  # the client may be gone already
                await self._close_for_outage(scope, send)

    async def _close_for_outage(self, scope, send) -> None:
        if self.accepted:
            await send({"type": "websocket.close", "code": CLOSE_SERVICE_RESTART})
        elif "websocket.http.response" in scope.get("extensions", {}):
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "detail": "live updates are unavailable for a moment; retry",
                }
            ).encode()
            headers = [(b"content-type", b"application/problem+json"), (b"retry-after", b"5")]
            await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close"})

    async def connect(self):
        if not await self.allowed():
            await self.close()
            return
        self.joined = self.group_names()
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.accepted = True
        await self.send_json({"type": "hello", "groups": len(self.joined)})

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except CHANNEL_LAYER_ERRORS:  # Redis is down: the membership expires with the layer's group_expiry
                log.info("live socket: could not leave group %s (channel layer unavailable)", group)

    async def allowed(self) -> bool:
        return await database_sync_to_async(is_supervisor)(self.scope.get("user"))

    def group_names(self) -> list[str]:
        raise NotImplementedError

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def forward(self, event):
        await self.send_json(event)

    # Message types sent by the events modules; each is forwarded unchanged.
    health_update = forward
    finding_raised = forward
    finding_changed = forward
    conversation_updated = forward
    timeline_event = forward


class HealthConsumer(LiveConsumer):
    def group_names(self) -> list[str]:
        return [HEALTH_GROUP]


class ConversationConsumer(LiveConsumer):
    async def allowed(self) -> bool:
        if not await super().allowed():
            return False
        return await database_sync_to_async(self._conversation_exists)()

    def _conversation_exists(self) -> bool:
        from conversations.models import Conversation

        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        if "\x00" in conversation_id:  # PostgreSQL text holds no NUL: no such conversation, not a 500
            return False
        return Conversation.objects.filter(pk=conversation_id).exists()

    def group_names(self) -> list[str]:
        return [conversation_group(self.scope["url_route"]["kwargs"]["conversation_id"])]


async def refuse(scope, receive, send):
    """A websocket path that is no route: close before accepting (the server answers HTTP 403).

    Without it, Channels' URLRouter raises for an unknown path and the server answers 500.
    """
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close"})
