"""POST /webhooks/cxone/: DFO events shaped like NICE's own SDK fixtures."""

from __future__ import annotations

import json

import pytest

from conversations.models import Conversation, Handoff, Message, Participant
from tests.webhooks import post_cxone

pytestmark = pytest.mark.django_db

CASE_ID = "195394484423"
BRAND = {"id": 1386, "tenantId": "11e885fb-cfb6-0c20-bb51-0242ac110002", "businessUnitId": 4597607}
CHANNEL = {
    "id": "chat_51eafb4e-8829-4efe-b58c-3bc9febf18c4",
    "name": "Web chat",
    "idOnExternalPlatform": "51eafb4e-8829-4efe-b58c-3bc9febf18c4",
    "realExternalPlatformId": "chat",
    "integrationBoxIdentifier": "chat",
    "isPrivate": True,
    "mediaType": 3,
}
QUEUE_A = "6618c229-bc8c-497a-83cf-964343153627"
QUEUE_B = "7729d33a-cd9d-4a8b-94d0-a75454264738"
IDENTITY = {
    "idOnExternalPlatform": "0ab700c6",
    "firstName": "Tyler",
    "lastName": "Hendrickson",
    "nickname": "Tyler",
    "image": "",
    "externalPlatformId": "chat",
    "id": "chat_0ab700c6",
    "fullName": "Tyler Hendrickson",
}


def user(user_id: int, first: str) -> dict:
    return {
        "id": user_id,
        "incontactId": f"11ec77e1-3608-18d0-9ca1-0242ac11{user_id:04d}",
        "emailAddress": f"{first.lower()}@cxonedemo.com",
        "loginUsername": f"{first.lower()}@cxonedemo.com",
        "firstName": first,
        "surname": "Agent",
        "nickname": first,
        "imageUrl": "",
        "publicImageUrl": "",
        "isBotUser": False,
        "isSurveyUser": False,
    }


def case(status="new", queue=QUEUE_A, assignee=None, custom=None) -> dict:
    return {
        "id": CASE_ID,
        "threadId": "chat_51eafb4e_7D17EA7C",
        "threadIdOnExternalPlatform": "7D17EA7C-412E-486B-AD42-58D85E83D4DE",
        "channelId": CHANNEL["id"],
        "interactionId": "767ad303-edd5-42dc-a8ea-aad0f51d055c",
        "contactId": "6bc5d6fa-3ca9-4e3a-8278-f064bf927084",
        "customerContactId": "a8a987a7-ea70-40e3-9c0a-8692f284f32d",
        "status": status,
        "statusUpdatedAt": "2022-08-04T21:37:22+00:00",
        "routingQueueId": queue,
        "routingQueuePriority": 1,
        "inboxAssignee": assignee,
        "ownerAssignee": assignee,
        "endUserRecipients": [],
        "recipients": [],
        "direction": "inbound",
        "createdAt": "2022-08-04T21:37:22+00:00",
        "authorEndUserIdentity": IDENTITY,
        "customFields": custom
        if custom is not None
        else [
            {"ident": "tier", "value": "gold", "updatedAt": "2022-06-07T21:10:49+01:00"},
            {"ident": "intent", "value": "billing", "updatedAt": "2022-06-07T21:10:49+01:00"},
        ],
        "statistics": {"inboxAssigneeResponseTime": None},
    }


def envelope(event_id: str, event_type: str, second: int, data: dict, event_object="Case") -> dict:
    return {
        "eventId": event_id,
        "eventObject": event_object,
        "eventType": event_type,
        "createdAt": f"2022-08-04T22:37:{second:02d}+01:00",
        "createdAtWithMilliseconds": f"2022-08-04T22:37:{second:02d}.458+01:00",
        "context": [],
        "data": {"brand": BRAND, "channel": CHANNEL, **data},
    }


def message(event_id: str, second: int, message_id: str, text: str, *, agent: dict | None = None) -> dict:
    return envelope(
        event_id,
        "MessageCreated",
        second,
        {
            "case": case(status="open"),
            "thread": {"id": "chat_51eafb4e_7D17EA7C", "idOnExternalPlatform": "7D17EA7C", "threadName": ""},
            "message": {
                "id": message_id,
                "idOnExternalPlatform": "126FDE8F",
                "threadId": "chat_51eafb4e_7D17EA7C",
                "messageContent": {
                    "text": text,
                    "type": "TEXT",
                    "payload": {"text": text, "postback": "", "elements": []},
                    "fallbackText": "Unsupported message content",
                    "isAutoTranslated": False,
                },
                "createdAt": f"2022-08-04T21:37:{second:02d}+00:00",
                "direction": "outbound" if agent else "inbound",
                "user": None,
                "authorUser": agent,
                "authorEndUserIdentity": None if agent else IDENTITY,
                "isRead": False,
                "attachments": [],
                "tags": [],
                "sentiment": "neutral",
                "contactNumber": CASE_ID,
            },
            "agentContact": None,
        },
        event_object="Message",
    )


def stream() -> list[dict]:
    tyler, maria = user(12328, "Tyler"), user(12329, "Maria")
    return [
        envelope("e-created", "CaseCreated", 1, {"case": case(), "thread": {"id": "t"}}),
        envelope(
            "e-assign-1",
            "CaseInboxAssigneeChanged",
            5,
            {
                "case": case(status="open", assignee=12328),
                "inboxAssignee": tyler,
                "previousInboxAssignee": None,
                "routingQueue": {"id": QUEUE_A, "name": "General", "isSubqueue": False},
                "acceptRejectFlow": None,
            },
        ),
        message("e-msg-1", 6, "f1a654aa-a2fd-4863-bc99-f26cb12fd0f8", "I need to update my payment method."),
        message("e-msg-2", 7, "f1a654aa-a2fd-4863-bc99-f26cb12fd0f9", "Sure", agent=tyler),
        envelope(
            "e-queue",
            "CaseToRoutingQueueAssignmentChanged",
            9,
            {
                "case": case(
                    status="open",
                    queue=QUEUE_B,
                    assignee=12328,
                    custom=[{"ident": "tier", "value": "gold", "updatedAt": "2022-06-07T21:10:49+01:00"}],
                ),
                "routingQueue": {"id": QUEUE_B, "name": "Billing", "isSubqueue": False},
                "previousRoutingQueue": {"id": QUEUE_A, "name": "General", "isSubqueue": False},
            },
        ),
        envelope(
            "e-assign-2",
            "CaseInboxAssigneeChanged",
            10,
            {
                "case": case(
                    status="open",
                    queue=QUEUE_B,
                    assignee=12329,
                    custom=[{"ident": "tier", "value": "gold", "updatedAt": "2022-06-07T21:10:49+01:00"}],
                ),
                "inboxAssignee": maria,
                "previousInboxAssignee": tyler,
                "routingQueue": None,
                "acceptRejectFlow": None,
            },
        ),
        envelope(
            "e-closed",
            "CaseStatusChanged",
            20,
            {
                "case": case(
                    status="closed",
                    queue=QUEUE_B,
                    assignee=12329,
                    custom=[{"ident": "tier", "value": "gold", "updatedAt": "2022-06-07T21:10:49+01:00"}],
                ),
                "routingQueue": None,
                "routingMode": "legacy",
                "preferredUserForNextAssign": None,
            },
        ),
    ]


def test_it_mirrors_a_case_with_messages_transfers_and_close(client):
    for payload in stream():
        response = post_cxone(client, payload)
        assert response.status_code == 200, response.content
    conversation = Conversation.objects.get(pk=CASE_ID)
    assert (conversation.source, conversation.channel, conversation.tenant) == (
        "cxone",
        "chat",
        "11e885fb-cfb6-0c20-bb51-0242ac110002",
    )
    assert conversation.customer_key == "chat_0ab700c6"
    assert conversation.state == "closed"
    assert conversation.close_reason == "cxone:closed"
    assert conversation.queue_id == QUEUE_B
    assert list(Message.objects.order_by("sequence").values_list("direction", "participant_id")) == [
        ("inbound", "chat_0ab700c6"),
        ("outbound", "user:12328"),
    ]
    handoffs = list(Handoff.objects.order_by("occurred_at"))
    assert [(h.from_queue_id, h.to_queue_id) for h in handoffs] == [(QUEUE_A, QUEUE_B), (QUEUE_B, QUEUE_B)]
    assert handoffs[0].lost_keys == ["customAttributes.intent"]
    assert (handoffs[1].from_participant_id, handoffs[1].to_participant_id) == ("user:12328", "user:12329")
    tyler = Participant.objects.get(participant_id="user:12328")
    assert (tyler.state, tyler.disconnect_type, tyler.name) == ("left", "transfer", "Tyler Agent")


def test_messagecreated_and_messageaddedintocase_store_one_message(client):
    created = message("e-1", 6, "m-uuid", "hello")
    added = {**message("e-2", 6, "m-uuid", "hello"), "eventType": "MessageAddedIntoCase", "eventObject": "Case"}
    post_cxone(client, created)
    assert post_cxone(client, added).status_code == 200
    assert Message.objects.count() == 1


def test_unknown_event_types_are_ignored(client):
    payload = envelope("e-typing", "SenderTypingStarted", 1, {"case": case()})
    assert post_cxone(client, payload).json() == {"status": "ignored", "eventId": "e-typing"}


def test_it_refuses_a_wrong_or_missing_token(client):
    payload = stream()[0]
    assert post_cxone(client, payload, token="wrong").status_code == 401
    response = client.post("/webhooks/cxone/", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_it_accepts_the_token_header(client):
    response = client.post(
        "/webhooks/cxone/",
        data=json.dumps(stream()[0]),
        content_type="application/json",
        HTTP_X_CXONE_TOKEN="test-cxone-token",
    )
    assert response.status_code == 200


def test_it_names_missing_case(client):
    payload = envelope("e-x", "CaseCreated", 1, {})
    response = post_cxone(client, payload)
    assert response.status_code == 400
    assert response.json()["field"] == "data.case"
