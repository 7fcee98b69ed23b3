"""``console`` source: transitions the console makes itself (expiry, force-close, reconciliation).

They are stored as receipts in canonical form, like native bodies, so that
``replay_events`` rebuilds them with everything else. They never arrive over
HTTP, so there is nothing to verify.

A body is one canonical event, or a batch ``{"id": "<receipt id>", "events": [<canonical event>, ...]}``
(the expiry sweep stores its events in batches); every event keeps its own id and order key.
"""

from __future__ import annotations

from conversations.ingest.canonical import (
    Delivery,
    EnvelopeError,
    SignatureError,
    parse_canonical,
    read_str,
    require_object,
)

SOURCE = "console"


def verify(headers, body: bytes, now) -> None:
    raise SignatureError("console events are not accepted over HTTP")


def parse(payload) -> Delivery:
    body = require_object(payload, "body")
    if "events" not in body:
        return parse_canonical(payload)
    batch_id = read_str(body, "id", required=True)
    items = body["events"]
    if not isinstance(items, list):
        raise EnvelopeError("events", "must be an array of canonical events")
    events = []
    for index, item in enumerate(items):
        try:
            events.extend(parse_canonical(item).events)
        except EnvelopeError as error:
            raise EnvelopeError(f"events[{index}].{error.field}", error.problem) from None
    types = sorted({event.type for event in events})
    return Delivery(event_id=batch_id, events=events, platform_type=",".join(types))
