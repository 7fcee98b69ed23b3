"""Platform clients: one module per platform API behind one interface (see base.py).

``client_for(source)`` answers the configured client of a conversation's source, or None when the
source has no credentials/URL configured (force-close then closes the mirror only and says so).
Nothing outside this package knows a platform's REST API.
"""

from __future__ import annotations

from conversations.platforms.base import CloseResult, PlatformConversation, PlatformError
from conversations.platforms.cxone import CxoneClient
from conversations.platforms.genesys import GenesysClient
from conversations.platforms.native import NativeClient

__all__ = ["CLIENTS", "CloseResult", "PlatformConversation", "PlatformError", "client_for", "configured_sources"]

CLIENTS = {"native": NativeClient, "genesys": GenesysClient, "cxone": CxoneClient}

# Which environment variables configure each source's client (for messages that tell an operator what to set).
CONFIGURATION = {
    "native": "NATIVE_PLATFORM_URL",
    "genesys": "GENESYS_REGION, GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET",
    "cxone": "CXONE_API_BASE, CXONE_TOKEN_URL, CXONE_CLIENT_ID and CXONE_CLIENT_SECRET",
}


def client_for(source: str, **options):
    """The client of ``source`` from settings, or None when it is not configured. Close it after use."""
    client_class = CLIENTS.get(source)
    return client_class.from_settings(**options) if client_class else None


def configured_sources() -> list[str]:
    configured = []
    for source in CLIENTS:
        client = client_for(source)
        if client is not None:
            client.close()
            configured.append(source)
    return configured
