"""Webhook adapters: one module per source, each turning a platform's payload into canonical events.

Nothing outside this package knows a platform's webhook format. An adapter has
two methods:

* ``verify(headers, body, now)`` raises ``SignatureError`` unless the request is
  authentic (and fresh, where the scheme has a timestamp);
* ``parse(payload)`` returns a ``Delivery`` (the dedup id and the canonical
  events) or raises ``EnvelopeError`` naming the offending field. A payload of a
  type the console does not use gives a Delivery with no events ("ignored").
"""

from __future__ import annotations

from conversations.ingest.canonical import CanonicalEvent, Delivery, EnvelopeError, SignatureError

__all__ = ["ADAPTERS", "CanonicalEvent", "Delivery", "EnvelopeError", "SignatureError", "adapter_for"]


def _load_adapters():
    from conversations.ingest import console, cxone, genesys, native

    return {module.SOURCE: module for module in (native, genesys, cxone, console)}


ADAPTERS = _load_adapters()

# Sources that accept HTTP deliveries; "console" receipts are written by the console's own actions.
PUBLIC_SOURCES = ("native", "genesys", "cxone")


def adapter_for(source: str):
    return ADAPTERS[source]
