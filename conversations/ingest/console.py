"""``console`` source: transitions the console makes itself (expiry, force-close, reconciliation).

They are stored as receipts in canonical form, like native bodies, so that
``replay_events`` rebuilds them with everything else. They never arrive over
HTTP, so there is nothing to verify.
"""

from __future__ import annotations

from conversations.ingest.canonical import Delivery, SignatureError, parse_canonical

SOURCE = "console"


def verify(headers, body: bytes, now) -> None:
    raise SignatureError("console events are not accepted over HTTP")


def parse(payload) -> Delivery:
    return parse_canonical(payload)
