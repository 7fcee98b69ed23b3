"""Thin WebSocket consumers: authenticate, join the group, forward what the events modules send.

Refusals happen at the handshake (close before accept → HTTP 403): anonymous users,
users without a console role, foreign origins (AllowedHostsOriginValidator in asgi.py),
unknown conversations, and paths that are not a route (``refuse``).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from console.events import HEALTH_GROUP, conversation_group
from console.roles import is_supervisor


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Forwards every group message (they all carry a dotted 'type') to the browser as JSON."""

    async def connect(self):
        if not await self.allowed():
            await self.close()
            return
        self.joined = self.group_names()
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "groups": len(self.joined)})

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

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
