"""Message delivery: duplicate_message (guide, section 2) and cursor_drift (guide, Edge Case 3)."""

from __future__ import annotations

from diagnostics.detectors import Clear, Detection, capped, instant
from diagnostics.detectors.facts import ConversationFacts
from diagnostics.models import BeaconKind, FindingKind

KINDS = (FindingKind.DUPLICATE_MESSAGE, FindingKind.CURSOR_DRIFT)
TEXT_EXCERPT = 80


def detect(facts: ConversationFacts) -> dict:
    return {
        FindingKind.DUPLICATE_MESSAGE: duplicate_message(facts),
        FindingKind.CURSOR_DRIFT: cursor_drift(facts),
    }


def _message(message) -> dict:
    return {
        "messageId": message.message_id,
        "sequence": message.sequence,
        "createdAt": instant(message.created_at),
        "idempotencyKey": message.idempotency_key or None,
    }


def _shares_key(first, second) -> bool:
    return bool(first.idempotency_key) and first.idempotency_key == second.idempotency_key


def duplicate_message(facts: ConversationFacts):
    """Equal text from one participant within the window without one shared idempotency key,
    or a message.retry the platform answered as a new message."""
    window = facts.thresholds.duplicate_message_window_seconds
    pairs = []
    for group in facts.duplicate_groups:
        for first, second in zip(group, group[1:], strict=False):
            apart = (second.created_at - first.created_at).total_seconds()
            if apart <= window and not _shares_key(first, second):
                pairs.append((first, second, apart))
    retries = [
        beacon for beacon in facts.beacons_of(BeaconKind.MESSAGE_RETRY) if beacon.payload.get("outcome") == "new"
    ]
    if not pairs and not retries:
        return Clear(f"no equal messages within {window} s without a shared idempotency key, and no retry became new")
    evidence = {
        "windowSeconds": window,
        "duplicates": capped(
            [
                {
                    "participantId": first.participant_id or None,
                    "direction": first.direction,
                    "text": first.text[:TEXT_EXCERPT],
                    "secondsApart": round(apart, 3),
                    "first": _message(first),
                    "second": _message(second),
                }
                for first, second, apart in pairs
            ]
        ),
        "retriesProcessedAsNew": capped(
            [
                {
                    "beaconId": beacon.beacon_id,
                    "sessionKey": beacon.session_key,
                    "sentAt": instant(beacon.sent_at),
                    "idempotencyKey": beacon.payload.get("idempotencyKey"),
                    "attempt": beacon.payload.get("attempt"),
                    "outcome": "new",
                }
                for beacon in retries
            ]
        ),
    }
    facts_key = [[first.message_id, second.message_id] for first, second, _ in pairs] + [
        beacon.beacon_id for beacon in retries
    ]
    participant = pairs[0][0].participant_id if pairs else ""
    return Detection(
        FindingKind.DUPLICATE_MESSAGE,
        evidence,
        facts_key,
        count=len(pairs) + len(retries),
        participant_id=participant,
        session_key=retries[0].session_key if retries and not pairs else "",
    )


def _fetch_problems(beacon, facts: ConversationFacts) -> dict:
    """What is wrong with one history.fetch: a timestamp cursor, repeats, or gaps (docs: "Cursor gap")."""
    payload = beacon.payload
    problems = {}
    if payload.get("since") is not None:
        problems["timestampCursor"] = payload["since"]
    returned = payload.get("returnedIds") or []
    seen, repeated = set(), []
    for message_id in returned:
        if message_id in seen and message_id not in repeated:
            repeated.append(message_id)
        seen.add(message_id)
    if repeated:
        problems["repeatedIds"] = repeated
    positions = facts.cursor_positions
    after = positions.get(payload.get("afterId") or "")
    if after is not None:
        not_after = [m for m in dict.fromkeys(returned) if m in positions and positions[m][:2] <= after[:2]]
        if not_after:
            problems["notAfterCursor"] = not_after
    known = sorted(positions[m] for m in seen if m in positions)
    if len(known) >= 2:
        low, high = known[0][:2], known[-1][:2]
        missing = [
            {"messageId": message_id, "sequence": sequence, "createdAt": instant(created_at)}
            for sequence, message_id, created_at in facts.cursor_range
            if low < (sequence, message_id) < high and message_id not in seen and created_at < beacon.sent_at
        ]
        if missing:
            problems["missing"] = capped(missing)
            problems["missingCount"] = len(missing)
    return problems


def cursor_drift(facts: ConversationFacts):
    """A history fetch with a timestamp cursor, or a gap or repeat in its ids against the mirror's order.

    A gap is a message the mirror holds between two returned ids (in cursor order), created
    before the fetch and not returned; a repeat is an id returned twice, or one not strictly
    after the afterId cursor.
    """
    fetches = []
    for beacon in facts.beacons_of(BeaconKind.HISTORY_FETCH):
        problems = _fetch_problems(beacon, facts)
        if problems:
            fetches.append(
                {
                    "beaconId": beacon.beacon_id,
                    "sessionKey": beacon.session_key,
                    "sentAt": instant(beacon.sent_at),
                    "afterId": beacon.payload.get("afterId"),
                    "since": beacon.payload.get("since"),
                    "returnedIds": capped(beacon.payload.get("returnedIds") or []),
                    "returnedCount": len(beacon.payload.get("returnedIds") or []),
                    **problems,
                }
            )
    if not fetches:
        return Clear("every history fetch used an afterId cursor and returned contiguous ids")
    keys = ("timestampCursor", "repeatedIds", "notAfterCursor", "missing")
    return Detection(
        FindingKind.CURSOR_DRIFT,
        {"fetches": capped(fetches)},
        [[fetch["beaconId"], sorted(key for key in keys if key in fetch)] for fetch in fetches],
        count=len(fetches),
        session_key=fetches[0]["sessionKey"],
    )
