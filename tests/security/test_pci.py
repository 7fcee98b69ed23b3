"""Card numbers in message text of pci-scoped conversations are masked in every stored copy and every
answer (issue 10, item 13; ARCHITECTURE.md, "Message": text redacted when the conversation is pci-scoped).

tests/conversations/test_redaction.py covers the Luhn masking itself and test_webhook_native.py the
message row; this file follows one card number everywhere it could be kept or shown: the message,
the webhook receipt body kept for replay (accepted and failed), the messages, timeline and receipt
API, the pages, the admin, finding evidence, and a replay of the stored receipts.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.test import Client

from conversations import actions as conversation_actions
from conversations.models import Conversation, Message, WebhookReceipt
from conversations.redaction import luhn_valid
from diagnostics.models import Finding
from tests.conversations.test_webhook_cxone import message as cxone_message
from tests.webhooks import event, post_cxone, post_native

pytestmark = pytest.mark.django_db


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the check digit that makes it a valid card number."""
    return next(prefix + digit for digit in "0123456789" if luhn_valid(prefix + digit))


CARD = luhn_complete("453914880343646")  # 16 digits
GROUPED = " ".join(CARD[i : i + 4] for i in range(0, 16, 4))
MASKED_GROUPED = "**** **** **** " + CARD[-4:]
CASE_ID = luhn_complete("601100099990001")
PCI = {"queueId": "payments", "complianceFlags": ["pci-scoped"]}


def started(conversation_id: str, routing: dict | None = None, seq: int = 1) -> dict:
    data = {"channel": "web", "tenant": "acme", "customerKey": f"k-{conversation_id}"}
    if routing is not None:
        data["routingData"] = routing
    return event(f"start-{conversation_id}-{seq}", "conversation.started", conversation_id, seq, data)


def said(conversation_id: str, seq: int, text: str, message_id: str | None = None) -> dict:
    return event(
        f"msg-{conversation_id}-{seq}",
        "message.created",
        conversation_id,
        seq,
        {"messageId": message_id or f"m-{seq}", "participantId": "cust", "direction": "inbound", "text": text},
    )


def holds_card(text: str) -> bool:
    """The card number in any grouping (spaces, dashes, none, JSON escapes between digits aside)."""
    return CARD in re.sub(r"[\s-]", "", text)


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_every_copy_and_answer_of_a_pci_conversation_is_masked(
    client, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_native(client, started("c-pci", PCI)).status_code == 200
        # Twice without an idempotency key: a duplicate_message finding whose evidence quotes the text.
        assert post_native(client, said("c-pci", 2, f"my card is {GROUPED}, exp 04/29")).status_code == 200
        assert post_native(client, said("c-pci", 3, f"my card is {GROUPED}, exp 04/29")).status_code == 200
        assert post_native(client, said("c-pci", 4, f"or {CARD} then")).status_code == 200
    assert list(Message.objects.order_by("sequence").values_list("text", flat=True)) == [
        f"my card is {MASKED_GROUPED}, exp 04/29",
        f"my card is {MASKED_GROUPED}, exp 04/29",
        f"or ************{CARD[-4:]} then",
    ]
    receipts = WebhookReceipt.objects.filter(conversation_id="c-pci").order_by("id")
    assert receipts.count() == 4
    for receipt in receipts:
        assert not holds_card(receipt.body), receipt.body
    # The masked body keeps everything else: it is the same event, masked.
    stored = json.loads(receipts[1].body)
    assert stored["data"]["text"] == f"my card is {MASKED_GROUPED}, exp 04/29"
    assert (stored["id"], stored["conversationId"], stored["sequence"]) == ("msg-c-pci-2", "c-pci", 2)

    finding = Finding.objects.get(kind="duplicate_message", conversation_id="c-pci")
    assert MASKED_GROUPED in json.dumps(finding.evidence, ensure_ascii=False)

    answers = {
        url: admin_client.get(url)
        for url in [
            "/api/v1/conversations/c-pci/messages/",
            "/api/v1/conversations/c-pci/timeline/",
            "/api/v1/conversations/c-pci/findings/",
            *(f"/api/v1/webhook-receipts/{receipt.pk}/" for receipt in receipts),
            "/conversations/c-pci/",
            "/findings/",
            "/admin/conversations/conversation/c-pci/change/",
            *(f"/admin/conversations/webhookreceipt/{receipt.pk}/change/" for receipt in receipts),
            f"/admin/diagnostics/finding/{finding.pk}/change/",
        ]
    }
    for url, answer in answers.items():
        assert answer.status_code == 200, url
        assert not holds_card(answer.content.decode()), url
    assert CARD[-4:] in answers["/api/v1/conversations/c-pci/messages/"].content.decode()  # last four kept


def test_a_conversation_flagged_late_masks_the_receipts_it_already_kept(client):
    assert post_native(client, started("c-late")).status_code == 200
    assert post_native(client, said("c-late", 2, f"card {GROUPED}")).status_code == 200
    raw = WebhookReceipt.objects.get(event_id="msg-c-late-2").body
    assert holds_card(raw)  # not pci-scoped yet: kept as sent
    flag = event(
        "attrs-c-late",
        "conversation.attributes_updated",
        "c-late",
        3,
        {"customAttributes": {"complianceFlags": ["pci-scoped"]}},
    )
    assert post_native(client, flag).status_code == 200
    assert Message.objects.get(conversation_id="c-late").text == f"card {MASKED_GROUPED}"
    for receipt in WebhookReceipt.objects.filter(conversation_id="c-late"):
        assert not holds_card(receipt.body), receipt.body


def test_cxone_copies_of_the_text_in_the_body_are_masked_and_the_ids_kept(client):
    case_created = {
        "eventId": "cx-created",
        "eventObject": "Case",
        "eventType": "CaseCreated",
        "createdAtWithMilliseconds": "2022-08-04T22:37:01.458+01:00",
        "data": {
            "case": {
                "id": CASE_ID,  # Luhn-valid digits, but not a number any message holds: kept
                "status": "new",
                "routingQueueId": "payments",
                "customFields": [{"ident": "complianceFlags", "value": ["pci-scoped"]}],
            }
        },
    }
    assert post_cxone(client, case_created).status_code == 200
    conversation = Conversation.objects.get()
    assert conversation.is_pci_scoped
    payload = cxone_message("cx-msg", 5, "m-cx", f"pay with {GROUPED}")
    payload["data"]["case"]["id"] = conversation.pk
    payload["data"]["message"]["contactNumber"] = conversation.pk
    assert post_cxone(client, payload).status_code == 200
    body = WebhookReceipt.objects.get(event_id="cx-msg").body
    assert not holds_card(body)
    stored = json.loads(body)
    content = stored["data"]["message"]["messageContent"]
    assert content["text"] == content["payload"]["text"] == f"pay with {MASKED_GROUPED}"
    assert stored["data"]["case"]["id"] == conversation.pk
    assert Message.objects.get().text == f"pay with {MASKED_GROUPED}"


def test_replaying_the_masked_receipts_rebuilds_the_same_mirror(client):
    post_native(client, started("c-replay", PCI))
    post_native(client, said("c-replay", 2, f"card {GROUPED}"))
    post_native(client, said("c-other", 2, f"not pci {GROUPED}"))  # another conversation, not pci-scoped
    before = list(Message.objects.order_by("conversation_id", "sequence").values_list("conversation_id", "text"))
    call_command("replay_events", "--reset", "--noinput", stdout=io.StringIO())
    after = list(Message.objects.order_by("conversation_id", "sequence").values_list("conversation_id", "text"))
    assert after == before
    assert ("c-other", f"not pci {GROUPED}") in after  # nothing masked outside pci-scoped conversations
    assert holds_card(WebhookReceipt.objects.get(event_id="msg-c-other-2").body)


def test_a_failed_delivery_keeps_its_body_masked(client, monkeypatch):
    post_native(client, started("c-fail", PCI))

    def explode(*args, **kwargs):
        raise RuntimeError("the mirror is broken")

    monkeypatch.setattr(conversation_actions, "apply_events", explode)
    response = post_native(client, said("c-fail", 2, f"card {GROUPED}"))
    assert response.status_code == 503
    failed = WebhookReceipt.objects.get(outcome="failed")
    assert (failed.conversation_id, failed.event_types) == ("c-fail", "message.created")
    assert failed.body and not holds_card(failed.body)
    assert json.loads(failed.body)["data"]["text"] == f"card {MASKED_GROUPED}"


def test_a_non_pci_body_is_kept_byte_for_byte(client):
    payload = said("c-plain", 2, f"card {GROUPED}")
    body = json.dumps(payload, indent=1).encode()
    post_native(client, body, msg_id=payload["id"])
    assert WebhookReceipt.objects.get(event_id="msg-c-plain-2").body == body.decode()
