"""Wire formats: one module per platform, each turning platform ``Change`` records into signed webhooks.

A ``Delivery`` is one HTTP request as that platform would send it: the exact body bytes
and a function giving the authenticity headers for an attempt made at a given time
(Standard Webhooks signs the attempt's timestamp, so a retry is signed again).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Secrets:
    """What the console checks: CONSOLE_WEBHOOK_SECRETS[0], GENESYS_WEBHOOK_SECRET, CXONE_WEBHOOK_TOKEN."""

    native: str
    genesys: str
    cxone: str


@dataclass
class Delivery:
    source: str
    conversation_id: str
    event_id: str
    label: str
    body: bytes
    headers_for: Callable[[int], dict] = field(repr=False)
    # Healthy conversations' deliveries may be swapped with the next one (out-of-order delivery).
    reorderable: bool = True
    # The platform never delivers it (fault: a close webhook lost for good).
    lost: bool = False
    # A conversation whose queued deliveries go first (a returning customer's new conversation
    # follows the close of the previous one, seconds apart in the story; see simulator/delivery.py).
    after: str = ""

    @property
    def path(self) -> str:
        return f"/webhooks/{self.source}/"


def dump(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def epoch_ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def iso_offset(moment: datetime, *, millis: bool) -> str:
    """CXone style: ``2022-08-04T21:37:22+00:00`` (with ``.458`` when ``millis``)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "+00:00"


def render(conversation, changes, secrets: Secrets) -> list[Delivery]:
    """The deliveries the conversation's platform sends for these changes, in order."""
    from simulator.formats import cxone, genesys, native

    module = {"native": native, "genesys": genesys, "cxone": cxone}[conversation.source]
    return [delivery for change in changes for delivery in module.render(conversation, change, secrets)]
