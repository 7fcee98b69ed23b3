"""Build diagnostics scenarios through the real HTTP endpoints: signed webhooks and widget beacons.

Time is frozen with time_machine at ``BASE_TIME + seconds`` (tests.webhooks.BASE_TIME), so
webhook timestamps, beacon ``sentAt`` and the detectors' clock agree. Every POST runs the
on-commit callbacks it enqueued (the detectors run eagerly, as without a broker).
"""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine

from conversations.ingest.canonical import format_instant
from diagnostics.models import Finding, WidgetDeployment
from tests.webhooks import BASE_TIME, event, post_native

ORIGIN = "https://www.example.com"
APP_ORIGIN = "https://app.example.com"


class Scene:
    def __init__(self, client, capture, *, start: float = 0):
        self.client = client
        self.capture = capture
        self.traveller = time_machine.travel(BASE_TIME + timedelta(seconds=start), tick=False)
        self.clock = self.traveller.start()
        self.now = start
        self.beacon_number = 0
        self.sequence = {}

    def stop(self) -> None:
        self.traveller.stop()

    # --- time --------------------------------------------------------------------------------

    def at(self, seconds: float) -> None:
        self.now = seconds
        self.clock.move_to(BASE_TIME + timedelta(seconds=seconds))

    def _advance(self, seconds: float) -> None:
        """Things happen in real time: the clock never runs behind the latest event or beacon."""
        if seconds > self.now:
            self.at(seconds)

    @staticmethod
    def instant(seconds: float) -> str:
        return format_instant(BASE_TIME + timedelta(seconds=seconds))

    # --- platform side (signed native webhooks) ---------------------------------------------------

    def webhook(self, event_type: str, conversation_id: str, data: dict, *, seconds: float, seq: int | None = None):
        self._advance(seconds)
        if seq is None:
            seq = self.sequence.get(conversation_id, 0) + 1
        self.sequence[conversation_id] = max(seq, self.sequence.get(conversation_id, 0))
        event_id = f"evt-{conversation_id}-{seq}-{event_type}"
        payload = event(event_id, event_type, conversation_id, seq, data, seconds=seconds)
        with self.capture(execute=True):
            response = post_native(self.client, payload)
        assert response.status_code == 200, response.content
        return response

    def start(self, conversation_id: str, *, seconds: float, customer_key: str = "", **data):
        body = {
            "channel": "web-messaging",
            "tenant": "acme",
            "customerKey": customer_key,
            "routingData": {"queueId": "billing", "skillRequirements": ["billing"], "priority": 3},
            "customAttributes": {"tier": "gold"},
            **data,
        }
        return self.webhook("conversation.started", conversation_id, body, seconds=seconds)

    def join(self, conversation_id: str, participant_id: str, role: str, *, seconds: float, **data):
        body = {"participantId": participant_id, "role": role, **data}
        return self.webhook("participant.joined", conversation_id, body, seconds=seconds)

    def leave(self, conversation_id: str, participant_id: str, *, seconds: float, disconnect_type: str = "client"):
        body = {"participantId": participant_id, "disconnectType": disconnect_type}
        return self.webhook("participant.left", conversation_id, body, seconds=seconds)

    def state(self, conversation_id: str, state: str, *, seconds: float, reason: str = "", seq: int | None = None):
        body = {"state": state, "reason": reason}
        return self.webhook("conversation.state_changed", conversation_id, body, seconds=seconds, seq=seq)

    def message(
        self,
        conversation_id: str,
        message_id: str,
        *,
        seconds: float,
        participant_id="cust-1",
        direction="inbound",
        text="hello",
        idempotency_key="",
        seq: int | None = None,
    ):
        body = {
            "messageId": message_id,
            "participantId": participant_id,
            "direction": direction,
            "text": text,
            "idempotencyKey": idempotency_key or f"idem-{message_id}",
        }
        if idempotency_key is None:
            body.pop("idempotencyKey")
        return self.webhook("message.created", conversation_id, body, seconds=seconds, seq=seq)

    def transfer(self, conversation_id: str, *, seconds: float, **data):
        return self.webhook("conversation.transferred", conversation_id, data, seconds=seconds)

    # --- client side (widget telemetry) ----------------------------------------------------------

    def post_beacons(self, deployment: WidgetDeployment, beacons: list[dict], *, origin: str = ORIGIN):
        body = json.dumps({"beacons": beacons}).encode()
        headers = {"HTTP_X_DEPLOYMENT_KEY": deployment.key}
        if origin:
            headers["HTTP_ORIGIN"] = origin
        with self.capture(execute=True):
            return self.client.post("/telemetry/", data=body, content_type="application/json", **headers)

    def send(self, deployment: WidgetDeployment, *beacons: dict, origin: str = ORIGIN):
        response = self.post_beacons(deployment, list(beacons), origin=origin)
        assert response.status_code == 202, response.content
        assert response.json()["errors"] == [], response.json()
        return response

    def beacon(self, kind: str, session_key: str, *, seconds: float, **fields) -> dict:
        self._advance(seconds)
        self.beacon_number += 1
        return {
            "id": f"b-{self.beacon_number}",
            "kind": kind,
            "sessionKey": session_key,
            "sentAt": self.instant(seconds),
            **fields,
        }

    def init(self, session_key: str, *, seconds: float, conversation_id: str, **fields) -> dict:
        defaults = {"origin": ORIGIN, "storage": "local", "validated": True, "validationResult": "new"}
        return self.beacon(
            "session.init", session_key, seconds=seconds, conversationId=conversation_id, **{**defaults, **fields}
        )

    def socket(self, session_key: str, event_name: str, *, seconds: float, conversation_id: str, **fields) -> dict:
        defaults = {"participantId": "cust-1", "readyState": 1}
        return self.beacon(
            "socket.state",
            session_key,
            seconds=seconds,
            conversationId=conversation_id,
            event=event_name,
            **{**defaults, **fields},
        )


def open_findings(**filters) -> set[tuple[str, str]]:
    return set(Finding.objects.filter(status="open", **filters).values_list("kind", "conversation_id"))


def all_findings() -> set[tuple[str, str]]:
    return set(Finding.objects.values_list("kind", "conversation_id"))
