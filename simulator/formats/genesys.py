"""Genesys Cloud: conversation detail events (``v2.detail.events.conversation.{id}.*``).

Shapes follow the SDK's ``*DetailEventTopic*Event`` models (research/platform-payloads.md):
``eventTime`` in epoch milliseconds, UPPERCASE enums, the notification envelope
``{topicName, version, eventBody, metadata}`` or the AWS EventBridge envelope around it
(chosen once per conversation). Signed with ``X-Hub-Signature-256: sha256=<base64>``.

Genesys has no message events in this stream, models the queue as an ACD participant,
and ends a conversation when its last participant ends: the close is the teardown.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from conversations.ingest.genesys import sign
from simulator.formats import Delivery, Secrets, dump, epoch_ms
from simulator.platform import QUEUES, Change, SimConversation, SimParticipant, random_uuid, stable_uuid

SOURCE = "genesys"
ORGANIZATION_ID = stable_uuid("genesys-organization")


def render(conversation: SimConversation, change: Change, secrets: Secrets) -> list[Delivery]:
    return [
        _delivery(conversation, kind, body, secrets, participant_id)
        for kind, body, participant_id in _events(conversation, change)
    ]


def session_id(participant: SimParticipant) -> str:
    return stable_uuid(f"genesys-session:{participant.id}")


def _base(conversation: SimConversation, participant: SimParticipant, at) -> dict:
    return {
        "eventTime": epoch_ms(at),
        "conversationId": conversation.id,
        "participantId": participant.id,
        "sessionId": session_id(participant),
        "mediaType": "MESSAGE",
        "provider": "PureCloud Messaging",
        "direction": "INBOUND",
        "messageType": "WEBMESSAGING",
        "divisionId": conversation.tenant,
        "conversationExternalContactIds": [conversation.customer_key],
        "conversationExternalOrganizationIds": [],
    }


def _attributes_event(conversation: SimConversation, at, attributes: dict) -> dict:
    customer = conversation.customer()
    return {
        "eventTime": epoch_ms(at),
        "conversationId": conversation.id,
        "participantId": customer.id,
        "attributes": {key: "" if value is None else str(value) for key, value in attributes.items()},
        "conversationExternalContactIds": [conversation.customer_key],
        "conversationExternalOrganizationIds": [],
        "communications": [{"id": session_id(customer), "mediaType": "MESSAGE"}],
    }


def _duration_ms(participant: SimParticipant) -> int:
    return max(0, epoch_ms(participant.left_at) - epoch_ms(participant.joined_at))


def _events(conversation: SimConversation, change: Change):
    """(topic kind, eventBody, participant id) for each detail event the change produces."""
    data = change.data
    at = change.at
    if change.kind == "joined":
        participant = data["participant"]
        body = _base(conversation, participant, at)
        if participant.role == "customer":
            body.update(
                externalContactId=conversation.customer_key,
                externalOrganizationId=None,
                addressFrom=conversation.customer_name,
                addressTo="Web messaging",
            )
            yield "customer.start", body, participant.id
            if conversation.custom:
                yield "attributes", _attributes_event(conversation, at, conversation.custom), participant.id
        elif participant.role == "acd":
            body.update(
                queueId=QUEUES[participant.queue_key].id_for(SOURCE),
                routingPriority=conversation.routing.get("priority", 0),
                requestedRoutingSkillIds=list(conversation.routing.get("skillRequirements") or []),
                skillExpressionApplied=False,
                utilizationLabel=None,
            )
            yield "acd.start", body, participant.id
        elif participant.role == "agent":
            body.update(userId=participant.agent.user_id, queueId=QUEUES[participant.queue_key].id_for(SOURCE))
            yield "user.start", body, participant.id
    elif change.kind == "left":
        participant = data["participant"]
        body = _base(conversation, participant, at)
        disconnect = participant.disconnect_type.upper()
        if participant.role == "customer":
            body.update(
                disconnectType=disconnect,
                externalContactId=conversation.customer_key,
                interactingDurationMs=_duration_ms(participant),
            )
            yield "customer.end", body, participant.id
        elif participant.role == "acd":
            answered_by = data.get("answered_by")
            body.update(
                queueId=QUEUES[participant.queue_key].id_for(SOURCE),
                disconnectType="TRANSFER" if answered_by else disconnect,
                acdOutcome="ANSWERED" if answered_by else "ABANDON",
                answeredUserId=answered_by.user_id if answered_by else None,
                requestedRoutings=["STANDARD"],
                usedRouting="STANDARD",
                routingPriority=conversation.routing.get("priority", 0),
                connectedDurationMs=_duration_ms(participant),
            )
            yield "acd.end", body, participant.id
        elif participant.role == "agent":
            body.update(
                userId=participant.agent.user_id,
                queueId=QUEUES[participant.queue_key].id_for(SOURCE),
                disconnectType=disconnect,
                interactingDurationMs=_duration_ms(participant),
                heldDurationMs=0,
                alertingDurationMs=4200,
            )
            yield "user.end", body, participant.id
    elif change.kind in ("transfer", "attributes"):
        # Attribute events merge by key: a removed key can only be blanked. Stamped just after
        # the transfer's own events (a blind transfer's user.end and acd.start share eventTime).
        before = data["before"]["custom"]
        diff = {key: value for key, value in conversation.custom.items() if before.get(key) != value}
        diff.update({key: "" for key in before if key not in conversation.custom})
        if diff:
            body = _attributes_event(conversation, at + timedelta(milliseconds=2), diff)
            yield "attributes", body, conversation.customer_id
    # "started", "message", "state" and "closed" have no detail event of their own.


def _delivery(conversation: SimConversation, kind: str, event_body: dict, secrets: Secrets, participant_id: str):
    topic = f"v2.detail.events.conversation.{conversation.id}.{kind}"
    notification = {
        "topicName": topic,
        "version": "2",
        "eventBody": event_body,
        "metadata": {"CorrelationId": random_uuid(conversation.rng)},
    }
    if conversation.envelope == "eventbridge":
        event_id = random_uuid(conversation.rng)
        payload = {
            "version": "0",
            "id": event_id,
            "detail-type": f"v2.detail.events.conversation.{{id}}.{kind}",
            "source": f"aws.partner/genesys.com/cloud/{ORGANIZATION_ID}/conversation-detail-events",
            "account": "123456789012",
            "time": _eventbridge_time(event_body["eventTime"]),
            "region": "us-east-1",
            "resources": [],
            "detail": notification,
        }
    else:
        payload = notification
        canonical = json.dumps(event_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        event_id = "gen-" + hashlib.sha256(f"{topic}\n{canonical}".encode()).hexdigest()[:48]
    body = dump(payload)

    def headers_for(timestamp: int) -> dict:
        return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secrets.genesys, body)}

    return Delivery(SOURCE, conversation.id, event_id, f"genesys {kind}", body, headers_for)


def _eventbridge_time(epoch_millis: int) -> str:
    return datetime.fromtimestamp(epoch_millis // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
