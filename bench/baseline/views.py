"""Two minimal receivers of signed ``native`` webhooks: the ORM one and the same statements as raw SQL.

Both verify the Standard Webhooks signature exactly as the console does (HMAC-SHA256 of
"{id}.{timestamp}.{body}", any configured secret, ±300 s), insert the event ignoring a
conflict on its id, and move the conversation forward only when the sequence is newer.
"""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bench.baseline.models import Conversation, Event

SECRETS = [base64.b64decode(secret.removeprefix("whsec_")) for secret in settings.WEBHOOK_SECRETS]


def _verified(request, body: bytes) -> bool:
    msg_id = request.headers.get("webhook-id", "")
    timestamp = request.headers.get("webhook-timestamp", "")
    offered = [part.split(",", 1)[1] for part in request.headers.get("webhook-signature", "").split() if "," in part]
    if not (msg_id and timestamp.isdigit() and offered):
        return False
    if abs(time.time() - int(timestamp)) > settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for secret in SECRETS:
        expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return True
    return False


def _parse(request):
    body = request.body
    if not _verified(request, body):
        return None, None
    payload = json.loads(body)
    occurred = datetime.fromisoformat(payload["occurredAt"].replace("Z", "+00:00"))
    return body, payload | {"occurred": occurred}


@csrf_exempt
def orm_receiver(request):
    body, event = _parse(request)
    if body is None:
        return JsonResponse({"title": "bad signature"}, status=401)
    now = datetime.now(UTC)
    with transaction.atomic():
        Event.objects.bulk_create(
            [
                Event(
                    id=event["id"],
                    conversation_id=event["conversationId"],
                    type=event["type"],
                    sequence=event["sequence"],
                    occurred_at=event["occurred"],
                    body=body.decode(),
                    received_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        newer = dict(last_seq=event["sequence"], last_event_type=event["type"], last_activity_at=event["occurred"])
        if not Conversation.objects.filter(pk=event["conversationId"], last_seq__lt=event["sequence"]).update(**newer):
            Conversation.objects.bulk_create([Conversation(id=event["conversationId"], **newer)], ignore_conflicts=True)
    return JsonResponse({"status": "applied", "eventId": event["id"]})


INSERT_EVENT = """
INSERT INTO baseline_event (id, conversation_id, type, sequence, occurred_at, body, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
UPSERT_CONVERSATION = """
INSERT INTO baseline_conversation (id, last_seq, last_event_type, last_activity_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_event_type = excluded.last_event_type,
    last_activity_at = excluded.last_activity_at
WHERE baseline_conversation.last_seq < excluded.last_seq
"""


@csrf_exempt
def raw_receiver(request):
    body, event = _parse(request)
    if body is None:
        return JsonResponse({"title": "bad signature"}, status=401)
    now = datetime.now(UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        row = [event["id"], event["conversationId"], event["type"], event["sequence"], event["occurred"]]
        cursor.execute(INSERT_EVENT, [*row, body.decode(), now])
        cursor.execute(
            UPSERT_CONVERSATION, [event["conversationId"], event["sequence"], event["type"], event["occurred"]]
        )
    return JsonResponse({"status": "applied", "eventId": event["id"]})


def healthz(request):
    return HttpResponse("ok")


RECEIVERS = {"orm": orm_receiver, "raw": raw_receiver}
