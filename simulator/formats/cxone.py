"""NICE CXone: Digital First Omnichannel (DFO) case events.

Envelope ``{eventId, eventObject, eventType, createdAt, createdAtWithMilliseconds, context,
data}`` with ``data.case`` the whole case (contact) as it is at that moment: its
``routingQueueId``/``routingQueuePriority`` and ``customFields`` are the routing context.
Shapes follow NICE's own SDK fixtures (research/platform-payloads.md). Authenticated by
the shared token, as ``Authorization: Bearer`` or ``X-CXone-Token`` (chosen per conversation).

The contact object is also what the platform API answers for ``GET /dfo/3.0/contacts/{id}``.
"""

from __future__ import annotations

from simulator.formats import Delivery, Secrets, dump, iso_offset
from simulator.platform import QUEUES, Agent, Change, SimConversation, random_uuid, stable_uuid

SOURCE = "cxone"
CHANNEL_UUID = stable_uuid("cxone-channel")
CHANNEL = {
    "id": f"chat_{CHANNEL_UUID}",
    "name": "Web chat",
    "idOnExternalPlatform": CHANNEL_UUID,
    "realExternalPlatformId": "chat",
    "integrationBoxIdentifier": "chat",
    "channelIntegrationId": stable_uuid("cxone-channel-integration"),
    "isPrivate": True,
    "studioScript": None,
    "mediaType": 3,
}
STATUSES = {"pending": "new", "active": "open", "closed": "closed", "expired": "closed"}


def brand(conversation: SimConversation) -> dict:
    # The tenant of a CXone conversation is its brand's tenantId (what the console mirrors).
    return {
        "id": 1386 + sum(map(ord, conversation.tenant)) % 100,
        "tenantId": conversation.tenant,
        "businessUnitId": 4597607,
    }


def user(agent: Agent | None) -> dict | None:
    if agent is None:
        return None
    login = f"{agent.first_name.lower()}.{agent.surname.lower()}@cxonedemo.example"
    return {
        "id": agent.cxone_id,
        "incontactId": stable_uuid(f"cxone-user:{agent.key}"),
        "emailAddress": login,
        "loginUsername": login,
        "firstName": agent.first_name,
        "surname": agent.surname,
        "nickname": agent.first_name,
        "imageUrl": "",
        "publicImageUrl": "",
        "isBotUser": False,
        "isSurveyUser": False,
    }


def identity(conversation: SimConversation) -> dict:
    first, _, last = conversation.customer_name.partition(" ")
    return {
        "idOnExternalPlatform": conversation.customer_id.removeprefix("chat_"),
        "firstName": first,
        "lastName": last,
        "nickname": first,
        "image": "",
        "externalPlatformId": "chat",
        "id": conversation.customer_id,
        "fullName": conversation.customer_name,
    }


def thread_id(conversation: SimConversation) -> str:
    return f"chat_{CHANNEL_UUID}_{stable_uuid(f'cxone-thread:{conversation.id}').upper()}"


def contact(conversation: SimConversation, *, status: str | None = None, at=None) -> dict:
    """The case (contact) object: the event snapshot and the REST ``GET /dfo/3.0/contacts/{id}`` body."""
    agent = conversation.current_agent()
    assignee = agent.agent.cxone_id if agent and agent.agent else None
    updated = iso_offset(
        at or conversation.closed_at or conversation.last_activity_at or conversation.started_at, millis=False
    )
    return {
        "id": conversation.id,
        "threadId": thread_id(conversation),
        "threadIdOnExternalPlatform": stable_uuid(f"cxone-thread:{conversation.id}").upper(),
        "channelId": CHANNEL["id"],
        "interactionId": stable_uuid(f"cxone-interaction:{conversation.id}"),
        "contactId": stable_uuid(f"cxone-contact:{conversation.id}"),
        "customerContactId": stable_uuid(f"cxone-customer:{conversation.customer_key}"),
        "status": status or STATUSES[conversation.state],
        "statusUpdatedAt": updated,
        "routingQueueId": QUEUES[conversation.queue_key].id_for(SOURCE),
        "routingQueuePriority": conversation.routing.get("priority", 1),
        "inboxAssignee": assignee,
        "ownerAssignee": assignee,
        "endUserRecipients": [],
        "recipients": [],
        "direction": "inbound",
        "createdAt": iso_offset(conversation.started_at, millis=False),
        "authorEndUserIdentity": identity(conversation),
        "customFields": [
            {"ident": key, "value": value, "updatedAt": iso_offset(conversation.started_at, millis=False)}
            for key, value in conversation.custom.items()
        ],
        "statistics": {"inboxAssigneeResponseTime": None},
    }


def routing_queue(key: str) -> dict:
    queue = QUEUES[key]
    return {"id": queue.id_for(SOURCE), "name": queue.name, "isSubqueue": False}


def render(conversation: SimConversation, change: Change, secrets: Secrets) -> list[Delivery]:
    return [
        _delivery(conversation, change, event_type, event_object, data, secrets)
        for event_type, event_object, data in _events(conversation, change)
    ]


def _events(conversation: SimConversation, change: Change):
    data = change.data
    at = change.at
    if change.kind == "started":
        yield (
            "CaseCreated",
            "Case",
            {"case": contact(conversation, status="new", at=at), "thread": _thread(conversation)},
        )
    elif change.kind == "joined" and data["participant"].role == "agent":
        previous = data.get("previous")
        yield (
            "CaseInboxAssigneeChanged",
            "Case",
            {
                "case": contact(conversation, at=at),
                "inboxAssignee": user(data["participant"].agent),
                "previousInboxAssignee": user(previous.agent) if previous else None,
                "routingQueue": routing_queue(conversation.queue_key),
                "acceptRejectFlow": None,
            },
        )
    elif change.kind == "state":
        yield (
            "CaseStatusChanged",
            "Case",
            {
                "case": contact(conversation, status=STATUSES[data["state"]], at=at),
                "routingQueue": None,
                "routingMode": "legacy",
                "preferredUserForNextAssign": None,
            },
        )
    elif change.kind == "message":
        yield "MessageCreated", "Message", _message(conversation, data["message"])
    elif change.kind == "transfer":
        yield (
            "CaseToRoutingQueueAssignmentChanged",
            "Case",
            {
                "case": contact(conversation, at=at),
                "routingQueue": routing_queue(data["to_queue"]),
                "previousRoutingQueue": routing_queue(data["from_queue"]),
            },
        )
    elif change.kind == "closed":
        yield (
            "CaseStatusChanged",
            "Case",
            {
                "case": contact(conversation, status="closed", at=at),
                "routingQueue": None,
                "routingMode": "legacy",
                "preferredUserForNextAssign": None,
            },
        )
    # A participant leaving is reported by the next assignee change or the close.


def _thread(conversation: SimConversation) -> dict:
    return {
        "id": thread_id(conversation),
        "idOnExternalPlatform": stable_uuid(f"cxone-thread:{conversation.id}"),
        "threadName": "",
    }


def _message(conversation: SimConversation, message) -> dict:
    participant = conversation.participants.get(message.participant_id)
    agent = participant.agent if participant and participant.role == "agent" else None
    return {
        "case": contact(conversation, at=message.created_at),
        "thread": _thread(conversation),
        "message": {
            "id": message.id,
            "idOnExternalPlatform": message.id.split("-")[0].upper(),
            "threadId": thread_id(conversation),
            "messageContent": {
                "text": message.text,
                "type": "TEXT",
                "payload": {"text": message.text, "postback": "", "elements": []},
                "fallbackText": "Unsupported message content",
                "isAutoTranslated": False,
            },
            "createdAt": iso_offset(message.created_at, millis=False),
            "direction": message.direction,
            "user": None,
            "authorUser": user(agent),
            "authorEndUserIdentity": None if agent else identity(conversation),
            "isRead": False,
            "attachments": [],
            "tags": [],
            "sentiment": "neutral",
            "contactNumber": conversation.id,
        },
        "agentContact": None,
    }


def _delivery(conversation, change, event_type, event_object, data, secrets: Secrets) -> Delivery:
    event_id = random_uuid(conversation.rng)
    payload = {
        "eventId": event_id,
        "eventObject": event_object,
        "eventType": event_type,
        "createdAt": iso_offset(change.at, millis=False),
        "createdAtWithMilliseconds": iso_offset(change.at, millis=True),
        "context": {"initiator": {"type": "system", "id": None}} if event_object == "Case" else [],
        "data": {"brand": brand(conversation), "channel": CHANNEL, **data},
    }
    body = dump(payload)
    use_bearer = conversation.token_header == "authorization"

    def headers_for(timestamp: int) -> dict:
        auth = {"Authorization": f"Bearer {secrets.cxone}"} if use_bearer else {"X-CXone-Token": secrets.cxone}
        return {"Content-Type": "application/json", **auth}

    return Delivery(SOURCE, conversation.id, event_id, f"cxone {event_type}", body, headers_for)
